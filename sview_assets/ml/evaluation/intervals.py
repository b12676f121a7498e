"""How sure a decile metric is: bootstrap intervals over areas, permutation p-values, paired differences.

Every metric sview reports compares two decile arrays over the same areas (LSOAs), so it is a function
of their 10 x 10 table of counts. A bootstrap resample of the areas (drawn with replacement, whole areas)
gives another table, and so does a permutation of the true deciles; Kendall's tau-b, the accuracy and
the within-one accuracy of a table take a few array operations, so a thousand resamples and a thousand
permutations of London's 4,835 LSOAs are one vectorised pass of a fraction of a second, all three metrics
together (``benchmarks/metric_intervals.py`` times it beside SciPy's ``kendalltau`` in a loop).

* Interval: the percentile interval (2.5% and 97.5% by default) of the metric over ``resamples``
  bootstrap resamples of the areas, seeded. The predicted deciles of each area are kept as they were
  cut; the interval says how much the figure depends on which areas the city happens to have.
* p-value of tau-b: the share of ``permutations`` shuffles of the true deciles (seeded) whose tau-b is at
  least as far from 0 as the observed one, counting the observed one (two-sided; never 0).
* Paired difference: the same resampled areas for both arrays, so what they share cancels; an array
  compared with itself differs by exactly 0 with an interval of zero width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_DECILES = 10
RESAMPLES = 1000
PERMUTATIONS = 1000
CONFIDENCE = 0.95
SEED = 0
METRICS = ("kendall_tau_b", "accuracy", "within_one_accuracy")
INTERVAL_COLUMNS = (*(f"{metric}_{end}" for metric in METRICS for end in ("low", "high")), "kendall_tau_b_p_value")


@dataclass(frozen=True)
class IntervalSettings:
    """The bootstrap and permutation parameters, recorded with every interval."""

    resamples: int = RESAMPLES
    permutations: int = PERMUTATIONS
    confidence: float = CONFIDENCE
    seed: int = SEED

    def describe(self) -> str:
        return (
            f"{self.confidence:.0%} percentile bootstrap over areas ({self.resamples} resamples, seed {self.seed}); "
            f"two-sided permutation p-value of tau-b ({self.permutations} shuffles of the true deciles)"
        )


def _tables(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Count tables ``[k, true - 1, predicted - 1]``, one per row of the ``[k, n]`` decile arrays."""
    k = predicted.shape[0]
    cell = (true - 1) * N_DECILES + (predicted - 1) + np.arange(k)[:, None] * N_DECILES * N_DECILES
    return np.bincount(cell.ravel(), minlength=k * N_DECILES * N_DECILES).reshape(k, N_DECILES, N_DECILES)


def _tail_sums(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (i, j): the count of cells strictly below and right (k > i, l > j), and below and left (k > i, l < j)."""
    below_right = np.flip(np.cumsum(np.cumsum(np.flip(tables, (-2, -1)), -2), -1), (-2, -1))
    below_left = np.flip(np.cumsum(np.flip(tables, -2), -2), -2).cumsum(-1)
    k = tables.shape[:-2]
    zero_row = np.zeros((*k, 1, N_DECILES), dtype=tables.dtype)
    zero_col = np.zeros((*k, N_DECILES, 1), dtype=tables.dtype)
    below_right = np.concatenate([below_right[..., 1:, :], zero_row], -2)
    below_right = np.concatenate([below_right[..., :, 1:], zero_col], -1)
    below_left = np.concatenate([below_left[..., 1:, :], zero_row], -2)
    below_left = np.concatenate([zero_col, below_left[..., :, :-1]], -1)
    return below_right, below_left


def table_metrics(tables: np.ndarray) -> dict[str, np.ndarray]:
    """Kendall's tau-b, accuracy and within-one accuracy of each ``[..., 10, 10]`` table of counts.

    Tau-b is (concordant - discordant) pairs over the square root of the pairs not tied on each side, as
    scipy's ``kendalltau(variant="b")`` computes it; NaN where one side is constant.
    """
    tables = np.asarray(tables, dtype=np.float64)
    n = tables.sum((-2, -1))
    below_right, below_left = _tail_sums(tables)
    concordant = (tables * below_right).sum((-2, -1))
    discordant = (tables * below_left).sum((-2, -1))
    pairs = n * (n - 1) / 2
    tied_true = (tables.sum(-1) * (tables.sum(-1) - 1) / 2).sum(-1)
    tied_predicted = (tables.sum(-2) * (tables.sum(-2) - 1) / 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = (concordant - discordant) / np.sqrt((pairs - tied_true) * (pairs - tied_predicted))
        distance = np.abs(np.arange(N_DECILES)[:, None] - np.arange(N_DECILES)[None, :])
        accuracy = (tables * (distance == 0)).sum((-2, -1)) / n
        within_one = (tables * (distance <= 1)).sum((-2, -1)) / n
    return {"kendall_tau_b": tau, "accuracy": accuracy, "within_one_accuracy": within_one}


def _check(predicted: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted, true = np.asarray(predicted, dtype=np.int64), np.asarray(true, dtype=np.int64)
    if predicted.shape != true.shape or predicted.ndim != 1 or len(true) < 2:
        raise ValueError("need two equally long decile arrays of at least 2 areas")
    if predicted.min() < 1 or true.min() < 1 or predicted.max() > N_DECILES or true.max() > N_DECILES:
        raise ValueError("deciles must lie in 1..10")
    return predicted, true


def _resampled_rows(n: int, settings: IntervalSettings) -> np.ndarray:
    return np.random.default_rng(settings.seed).integers(0, n, size=(settings.resamples, n))


def _percentiles(values: np.ndarray, settings: IntervalSettings) -> tuple[float, float]:
    tail = (1 - settings.confidence) / 2 * 100
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def metric_intervals(predicted: np.ndarray, true: np.ndarray, settings: IntervalSettings = IntervalSettings()) -> dict[str, float]:
    """``<metric>_low`` and ``<metric>_high`` of each of :data:`METRICS`, and ``kendall_tau_b_p_value``."""
    predicted, true = _check(predicted, true)
    rows = _resampled_rows(len(true), settings)
    resampled = table_metrics(_tables(predicted[rows], true[rows]))
    result = {}
    for metric in METRICS:
        result[f"{metric}_low"], result[f"{metric}_high"] = _percentiles(resampled[metric], settings)
    result["kendall_tau_b_p_value"] = permutation_p_value(predicted, true, settings)
    return result


def permutation_p_value(predicted: np.ndarray, true: np.ndarray, settings: IntervalSettings = IntervalSettings()) -> float:
    """Two-sided p-value of tau-b against no association, from shuffles of the true deciles."""
    predicted, true = _check(predicted, true)
    observed = table_metrics(_tables(predicted[None], true[None]))["kendall_tau_b"][0]
    if not np.isfinite(observed):
        return float("nan")
    shape = (settings.permutations, len(true))
    shuffled_true = np.random.default_rng(settings.seed + 1).permuted(np.broadcast_to(true, shape), axis=1)
    null = table_metrics(_tables(np.broadcast_to(predicted, shape), shuffled_true))["kendall_tau_b"]
    extreme = int(np.sum(np.abs(null) >= abs(observed) - 1e-12))
    return (extreme + 1) / (settings.permutations + 1)


def paired_difference(
    first: np.ndarray, second: np.ndarray, true: np.ndarray, metric: str = "kendall_tau_b", settings: IntervalSettings = IntervalSettings()
) -> dict[str, float]:
    """``metric(first) - metric(second)`` on the same areas, with its paired bootstrap interval."""
    first, true = _check(first, true)
    second, _ = _check(second, true)
    rows = _resampled_rows(len(true), settings)
    difference = table_metrics(_tables(first[None], true[None]))[metric][0] - table_metrics(_tables(second[None], true[None]))[metric][0]
    resampled = table_metrics(_tables(first[rows], true[rows]))[metric] - table_metrics(_tables(second[rows], true[rows]))[metric]
    low, high = _percentiles(resampled, settings)
    return {"difference": float(difference), "low": low, "high": high}


def excludes_zero(low: float, high: float) -> bool:
    """Whether an interval lies wholly on one side of 0 (a difference or association its data support)."""
    return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
