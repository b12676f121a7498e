"""Train one outcome: k LSOA-grouped folds for out-of-fold scores, then a final model on all rows, and the model folder's files."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sview_assets.ml.backend import make_deterministic
from sview_assets.ml.training.fitting import ModelRun, fit_model, predict_scores
from sview_assets.ml.training.fold_checkpoints import FoldCheckpoints
from sview_assets.ml.training.folds import lsoa_folds, validation_split
from sview_assets.ml.training.model_folder import FINAL_MODEL_FILE, OUT_OF_FOLD_FILE, TRAINING_FILE, fold_model_file
from sview_assets.ml.training.presets import EARLY_STOPPING, TrainSettings
from sview_assets.ml.training.training_set import read_training_table

FINAL = -1


@dataclass
class OutcomeTraining:
    """Out-of-fold scores for every labelled location, and how each model trained."""

    out_of_fold: pd.DataFrame
    runs: list[ModelRun]


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a second name of ``source`` (no second write of a model), or a copy across file systems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _held_out(lsoa: np.ndarray, cfg: TrainSettings, seed: int) -> np.ndarray:
    """Locations held out for early stopping (whole LSOAs); none when the selection needs none."""
    if cfg.selection != EARLY_STOPPING:
        return np.zeros(len(lsoa), dtype=bool)
    return validation_split(lsoa, cfg.validation_fraction, seed)


def train_outcome(
    path: Path,
    outcome: str,
    cfg: TrainSettings,
    out_dir: Path,
    log: Callable[[str], None] = print,
    checkpoints: FoldCheckpoints | None = None,
) -> OutcomeTraining:
    """Cross-validate and train ``outcome`` from the training set at ``path``; save models into ``out_dir``.

    Writes ``fold_<k>.keras`` for each fold, ``final.keras`` trained on every
    labelled location, ``out_of_fold.csv`` (img_id, pcd, lsoa11, fold, score,
    true decile) and ``training.json`` (settings and histories). With ``checkpoints``,
    folds finished by an earlier, interrupted call are taken from there instead of
    trained again, and each newly finished fold is added to them.
    """
    make_deterministic()
    table = read_training_table(path)
    frame = table.locations
    labelled = table.labelled(outcome, path)
    lsoa = frame["lsoa11"].to_numpy()[labelled]
    deciles = table.deciles(outcome)[labelled]
    folds = lsoa_folds(lsoa, deciles, cfg.folds, cfg.seed)
    scores = np.full(len(labelled), np.nan)
    runs = []
    for fold in range(cfg.folds):
        train_mask = folds != fold
        val_mask = _held_out(lsoa[train_mask], cfg, cfg.seed + 1000 + fold)
        finished = checkpoints.load(fold) if checkpoints else None
        if finished:
            record, scores[~train_mask] = finished
            run = ModelRun(**record)
            _link_or_copy(checkpoints.model_file(fold), out_dir / fold_model_file(fold))
            runs.append(run)
            log(f"{outcome}: fold {fold + 1}/{cfg.folds} resumed (trained by an earlier, interrupted run)")
            continue
        train_rows, val_rows = labelled[train_mask][~val_mask], labelled[train_mask][val_mask]
        model, run = fit_model(path, train_rows, deciles[train_mask][~val_mask], val_rows, deciles[train_mask][val_mask], cfg, cfg.seed + fold, fold)
        scores[~train_mask] = predict_scores(model, path, labelled[~train_mask], cfg.chunk_rows)
        if checkpoints:
            checkpoints.save(fold, model, run, scores[~train_mask])
            _link_or_copy(checkpoints.model_file(fold), out_dir / fold_model_file(fold))
        else:
            model.save(out_dir / fold_model_file(fold))
        runs.append(run)
        log(f"{outcome}: fold {fold + 1}/{cfg.folds} trained on {run.train_rows} locations, {run.epochs_run} epochs, {run.samples_per_second:.0f} samples/s")
    val_mask = _held_out(lsoa, cfg, cfg.seed + 999)
    final, run = fit_model(path, labelled[~val_mask], deciles[~val_mask], labelled[val_mask], deciles[val_mask], cfg, cfg.seed + 10_000, FINAL)
    final.save(out_dir / FINAL_MODEL_FILE)
    runs.append(run)
    log(f"{outcome}: final model trained on {run.train_rows} locations, {run.epochs_run} epochs")
    out_of_fold = pd.DataFrame(
        {
            "img_id": frame["img_id"].to_numpy()[labelled],
            "pcd": frame["pcd"].to_numpy()[labelled],
            "lsoa11": lsoa,
            "fold": folds,
            "score": scores,
            "true_decile": deciles,
        }
    )
    out_of_fold.to_csv(out_dir / OUT_OF_FOLD_FILE, index=False)
    (out_dir / TRAINING_FILE).write_text(json.dumps({"outcome": outcome, "settings": asdict(cfg), "runs": [asdict(r) for r in runs]}, indent=1))
    return OutcomeTraining(out_of_fold, runs)
