"""The paper's transfer experiment: a model of one city applied to another, as it is and fine-tuned, against
models trained on the target city alone.

For each fraction, whole target LSOAs are sampled until they hold that share of the target's labelled
locations (the *adaptation* LSOAs); the rest are the *evaluation* LSOAs. Three regimes are scored on
the same evaluation LSOAs, so they are compared fairly:

* ``zero_shot``: the source city's final model, unchanged (also scored on every target LSOA, with
  fraction 0);
* ``fine_tune``: that model trained further on the adaptation locations;
* ``target_only``: a new model trained on the same adaptation locations only.

Location scores are aggregated to LSOAs by both methods of :mod:`.aggregate`, and the LSOA deciles are
cut across the evaluation LSOAs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sview_assets.ml.evaluation.aggregate import aggregate_lsoas
from sview_assets.ml.evaluation.intervals import IntervalSettings, paired_difference
from sview_assets.ml.evaluation.metrics import decile_metrics

ZERO_SHOT = "zero_shot"
FINE_TUNE = "fine_tune"
TARGET_ONLY = "target_only"
REGIMES = (ZERO_SHOT, FINE_TUNE, TARGET_ONLY)
MIN_EVALUATION_LSOAS = 10


def sample_adaptation_lsoas(lsoa: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A mask of the locations in whole LSOAs sampled until they hold at least ``fraction`` of all locations.

    At least one LSOA is taken, and at least :data:`MIN_EVALUATION_LSOAS` are left for evaluation;
    a fraction that leaves fewer is an error naming it.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"transfer fraction {fraction} must be between 0 and 1 (exclusive)")
    lsoa = np.asarray(lsoa)
    names, counts = np.unique(lsoa, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    locations_before = np.concatenate([[0], np.cumsum(counts[order])[:-1]])
    chosen = set(names[order][locations_before < fraction * len(lsoa)])
    if len(names) - len(chosen) < MIN_EVALUATION_LSOAS:
        raise ValueError(
            f"transfer fraction {fraction} leaves {len(names) - len(chosen)} of {len(names)} target LSOAs for evaluation, "
            f"fewer than {MIN_EVALUATION_LSOAS}; use a smaller fraction."
        )
    return np.isin(lsoa, list(chosen))


def lsoa_deciles(img_id: np.ndarray, lsoa: np.ndarray, true_decile: np.ndarray, score: np.ndarray) -> dict[str, pd.DataFrame]:
    """Per aggregation method, the LSOAs (sorted by code) with predicted and true deciles, cut across these LSOAs."""
    locations = pd.DataFrame({"img_id": img_id, "lsoa11": lsoa, "true_decile": true_decile, "score": score})
    return {method: part.reset_index(drop=True) for method, part in aggregate_lsoas(locations).groupby("method", sort=False)}


def evaluate_scores(deciles: dict[str, pd.DataFrame], intervals: IntervalSettings = IntervalSettings()) -> list[dict]:
    """LSOA-level metrics, with their intervals, of each method's deciles (from :func:`lsoa_deciles`)."""
    return [
        {"method": method, **decile_metrics(part["predicted_decile"].to_numpy(), part["true_decile"].to_numpy(), intervals)} for method, part in deciles.items()
    ]


COMPARISONS = ((FINE_TUNE, ZERO_SHOT), (FINE_TUNE, TARGET_ONLY))
"""The paired differences of tau-b each fine-tuning row carries: does it beat the source model as it is, and a model of the target alone?"""


def paired_comparisons(by_regime: dict[str, dict[str, pd.DataFrame]], intervals: IntervalSettings = IntervalSettings()) -> dict[str, dict]:
    """Per method, tau-b of fine-tuning minus each other regime on the same LSOAs, with the paired bootstrap interval:
    columns ``tau_b_minus_<regime>``, ``…_low``, ``…_high``."""
    columns: dict[str, dict] = {}
    for method, tuned in by_regime[FINE_TUNE].items():
        for first, second in COMPARISONS:
            other = by_regime[second][method]
            if not tuned["lsoa11"].equals(other["lsoa11"]):
                raise ValueError(f"{first} and {second} were scored on different LSOAs; they cannot be compared pairwise")
            found = paired_difference(
                tuned["predicted_decile"].to_numpy(), other["predicted_decile"].to_numpy(), tuned["true_decile"].to_numpy(), settings=intervals
            )
            name = f"tau_b_minus_{second}"
            columns.setdefault(method, {}).update({name: found["difference"], f"{name}_low": found["low"], f"{name}_high": found["high"]})
    return columns


@dataclass(frozen=True)
class TransferInputs:
    """The target city's labelled locations of one outcome, and how to train and score on them."""

    training_set: Path
    rows: np.ndarray
    img_id: np.ndarray
    lsoa: np.ndarray
    deciles: np.ndarray


def load_target(training_set: Path, outcome: str) -> TransferInputs:
    """The labelled locations of ``outcome`` in the target city's training set."""
    from sview_assets.ml.training.training_set import read_training_table

    table = read_training_table(training_set)
    rows = table.labelled(outcome, training_set)
    frame = table.locations
    return TransferInputs(Path(training_set), rows, frame["img_id"].to_numpy()[rows], frame["lsoa11"].to_numpy()[rows], table.deciles(outcome)[rows])


def run_transfer(
    source_model_file: Path,
    target: TransferInputs,
    fractions: list[float],
    settings,
    seed: int,
    fine_tune_learning_rate: float,
    log: Callable[[str], None] = print,
    intervals: IntervalSettings = IntervalSettings(),
) -> pd.DataFrame:
    """Metrics of every regime and fraction (see the module docstring): one row per regime, fraction and method,
    with ``adaptation_lsoas`` and ``evaluation_lsoas`` (the LSOAs each row was fitted on and scored on).

    ``settings`` train the target-only model; fine-tuning uses the same settings at
    ``fine_tune_learning_rate``, usually lower, so that a few LSOAs adjust the source model rather than
    overwrite it. Every row carries its metrics' bootstrap intervals over the evaluated LSOAs, and each fine-tuning row
    the paired differences of :data:`COMPARISONS`."""
    import keras

    from sview_assets.ml.training.fitting import fit_model, predict_scores

    source = keras.saving.load_model(source_model_file, compile=False)
    fine_tuning = replace(settings, learning_rate=fine_tune_learning_rate)
    zero_shot = predict_scores(source, target.training_set, target.rows, settings.chunk_rows)
    out = [
        {"regime": ZERO_SHOT, "fraction": 0.0, "adaptation_lsoas": 0, "evaluation_lsoas": len(set(target.lsoa)), **row}
        for row in evaluate_scores(lsoa_deciles(target.img_id, target.lsoa, target.deciles, zero_shot), intervals)
    ]
    no_rows = np.zeros(0, dtype=np.int64)
    for number, fraction in enumerate(fractions):
        adapt = sample_adaptation_lsoas(target.lsoa, fraction, seed + number)
        held = ~adapt
        counts = {"adaptation_lsoas": len(set(target.lsoa[adapt])), "evaluation_lsoas": len(set(target.lsoa[held]))}
        scores = {ZERO_SHOT: zero_shot[held]}
        train_rows, train_deciles = target.rows[adapt], target.deciles[adapt]
        tuned, _ = fit_model(target.training_set, train_rows, train_deciles, no_rows, no_rows, fine_tuning, seed + 100 + number, -1, start_from=source)
        scores[FINE_TUNE] = predict_scores(tuned, target.training_set, target.rows[held], settings.chunk_rows)
        fresh, _ = fit_model(target.training_set, train_rows, train_deciles, no_rows, no_rows, settings, seed + 100 + number, -1)
        scores[TARGET_ONLY] = predict_scores(fresh, target.training_set, target.rows[held], settings.chunk_rows)
        by_regime = {regime: lsoa_deciles(target.img_id[held], target.lsoa[held], target.deciles[held], scores[regime]) for regime in REGIMES}
        compared = paired_comparisons(by_regime, intervals)
        for regime in REGIMES:
            for row in evaluate_scores(by_regime[regime], intervals):
                paired = compared[row["method"]] if regime == FINE_TUNE else {}
                out.append({"regime": regime, "fraction": float(fraction), **counts, **row, **paired})
        log(f"fraction {fraction:g}: {counts['adaptation_lsoas']} LSOAs to adapt on, {counts['evaluation_lsoas']} to evaluate on")
    return pd.DataFrame(out)
