"""Agreement between predicted and true LSOA deciles."""

from __future__ import annotations

import numpy as np

from sview_assets.ml.evaluation.intervals import IntervalSettings, metric_intervals

N_DECILES = 10


def decile_metrics(predicted: np.ndarray, true: np.ndarray, intervals: IntervalSettings | None = None) -> dict[str, float]:
    """Kendall's tau-b, exact and within-one-decile accuracy, mean absolute decile error, count.

    With ``intervals``, also each of the first three's bootstrap interval (``<metric>_low``,
    ``<metric>_high``) and tau-b's permutation p-value (``kendall_tau_b_p_value``); see :mod:`.intervals`.
    """
    predicted = np.asarray(predicted, dtype=np.int64)
    true = np.asarray(true, dtype=np.int64)
    if len(predicted) != len(true) or len(true) == 0:
        raise ValueError("need equally long, non-empty decile arrays")
    error = np.abs(predicted - true)
    from scipy.stats import kendalltau  # imported here: scipy.stats costs 1.4 s, and every process that loads the code location imports this module

    tau = kendalltau(predicted, true, variant="b").statistic if len(true) > 1 else float("nan")
    metrics = {
        "kendall_tau_b": float(tau),
        "accuracy": float(np.mean(error == 0)),
        "within_one_accuracy": float(np.mean(error <= 1)),
        "mean_absolute_error": float(np.mean(error)),
        "n_lsoas": int(len(true)),
    }
    if intervals is not None and len(true) > 1:
        metrics.update(metric_intervals(predicted, true, intervals))
    return metrics


def confusion_matrix(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Counts ``[true - 1, predicted - 1]`` over deciles 1..10."""
    matrix = np.zeros((N_DECILES, N_DECILES), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true) - 1, np.asarray(predicted) - 1), 1)
    return matrix
