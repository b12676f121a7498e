"""Train one outcome: k LSOA-grouped folds for out-of-fold scores, then a final model on all rows."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .backend import make_deterministic
from .early_stopping import HeldOutEarlyStopping
from .fold_checkpoints import FoldCheckpoints
from .folds import lsoa_folds, validation_split
from .model_folder import FINAL_MODEL_FILE, OUT_OF_FOLD_FILE, TRAINING_FILE, fold_model_file
from .ordinal_network import shared_network
from .presets import EARLY_STOPPING, TrainSettings
from .streaming import balanced_multiplicity, feature_moments, ordered_batches, read_rows, training_batches
from .training_set import read_training_table

FINAL = -1
PREDICT_BATCH = 256


@dataclass
class ModelRun:
    """History and throughput of one trained model (a fold, or the final model)."""

    fold: int
    train_rows: int
    epochs_run: int
    best_epoch: int
    seconds: float
    samples_per_second: float
    in_memory: bool = False
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


@dataclass
class OutcomeTraining:
    """Out-of-fold scores for every labelled location, and how each model trained."""

    out_of_fold: pd.DataFrame
    runs: list[ModelRun]


def fits_in_memory(n_rows: int, budget_mb: float, dim: int = 4096) -> bool:
    """Whether ``n_rows`` locations of features fit the in-memory budget."""
    return n_rows * 4 * dim * 4 <= budget_mb * 2**20


def noise_scale(variance: np.ndarray, noise_std: float) -> np.ndarray | None:
    """Per raw feature, the std of noise that is ``noise_std`` in standardised units (None: no noise)."""
    return (noise_std * np.sqrt(variance)).astype(np.float32) if noise_std > 0 else None


def with_noise(batches, scale: np.ndarray | None, rng: np.random.Generator):
    """The (features, labels) batches with Gaussian noise of std ``scale`` per feature added to the features.

    ``scale = noise_std * sqrt(variance)`` makes it noise of std ``noise_std`` on the standardised
    features the network sees. It is drawn in NumPy: inside the graph, TensorFlow's normal sampler
    cost about as much as the rest of the training step on a 2-core CPU.
    """
    for x, y in batches:
        if scale is not None:
            x = x + rng.standard_normal(x.shape, dtype=np.float32) * scale
        yield x, y


def in_memory_batches(path: Path, rows: np.ndarray, deciles: np.ndarray, cfg: TrainSettings, rng: np.random.Generator, scale: np.ndarray | None):
    """Endless class-balanced, shuffled mini-batches of features held in RAM, with training noise.

    Each pass samples every row Poisson(balanced rate) times, in a new random order; batches run on
    from one pass into the next, so a set smaller than a batch still fills whole batches.
    """
    order = np.argsort(rows)
    features = read_rows(path, rows[order], cfg.chunk_rows)
    labels = deciles[order].astype(np.int32)
    noise_rng = np.random.default_rng(rng.integers(2**63))

    def batches():
        pending = np.zeros(0, dtype=np.int64)
        while True:
            while len(pending) < cfg.batch_size:
                pending = np.concatenate([pending, rng.permutation(np.repeat(np.arange(len(rows)), balanced_multiplicity(labels, rng)))])
            picked, pending = pending[: cfg.batch_size], pending[cfg.batch_size :]
            yield features[picked], labels[picked]

    return with_noise(batches(), scale, noise_rng)


def streamed_batches(path: Path, rows: np.ndarray, deciles: np.ndarray, cfg: TrainSettings, rng: np.random.Generator, scale: np.ndarray | None):
    """Endless class-balanced mini-batches read from disk slab by slab, with training noise."""
    noise_rng = np.random.default_rng(rng.integers(2**63))

    def batches():
        while True:
            yield from training_batches(path, rows, deciles, batch_size=cfg.batch_size, rng=rng, chunk_rows=cfg.chunk_rows)

    return with_noise(batches(), scale, noise_rng)


def train_epochs(network, batches, steps_per_epoch: int, epochs: int, callbacks: list) -> list[float]:
    """Run up to ``epochs`` epochs of the network's compiled train step over ``batches``; the mean loss of each.

    A plain loop instead of ``keras.Model.fit``: on a 2-core AMD EPYC host fit trained a 144-location
    fold at about 400 samples/s and this loop at 650-700, with the same epochs. ``callbacks`` (Keras
    callbacks) see the calls fit would make: after each step and epoch, and at the end; one may stop
    training early.
    """
    model = network.model
    model.stop_training = False
    for callback in callbacks:
        callback.set_model(model)
    losses = []
    for epoch in range(epochs):
        for callback in callbacks:
            callback.on_epoch_begin(epoch)
        total = 0.0
        for step in range(steps_per_epoch):
            x, y = next(batches)
            total += network.train_step(x, y)
            for callback in callbacks:
                callback.on_train_batch_end(step)
        losses.append(float(total) / steps_per_epoch)
        logs = {"loss": losses[-1]}
        for callback in callbacks:
            callback.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for callback in callbacks:
        callback.on_train_end()
    return losses


def _callbacks(path: Path, rows: np.ndarray, deciles: np.ndarray, val_rows, val_deciles, cfg: TrainSettings, rng, steps: int, in_memory: bool) -> list:
    """Early stopping on the held-out LSOAs, or the original code's last-epoch selection on training rows."""
    if cfg.selection == EARLY_STOPPING:
        if len(val_rows) == 0:
            return []
        order = np.argsort(val_rows)
        if in_memory:
            held_out = read_rows(path, val_rows[order], cfg.chunk_rows)

            def scores(model):
                from .inference import compiled_inference

                score = compiled_inference(model)
                return np.concatenate([np.asarray(score(held_out[i : i + PREDICT_BATCH])).reshape(-1) for i in range(0, len(held_out), PREDICT_BATCH)])

        else:

            def scores(model):
                return predict_scores(model, path, val_rows[order], cfg.chunk_rows)

        return [HeldOutEarlyStopping(scores, val_deciles[order], cfg.patience)]
    from .selection import LastEpochSelection, balanced_sample

    picked = balanced_sample(deciles, cfg.selection_rows, rng)
    order = np.argsort(rows[picked])
    return [LastEpochSelection(read_rows(path, rows[picked][order], cfg.chunk_rows), deciles[picked][order], cfg.epochs, steps)]


def fit_model(
    path: Path,
    rows: np.ndarray,
    deciles: np.ndarray,
    val_rows: np.ndarray,
    val_deciles: np.ndarray,
    cfg: TrainSettings,
    seed: int,
    fold: int,
    start_from=None,
):
    """Train one model on ``rows``, selecting weights as ``cfg.selection`` says; return it and its run record.

    With early stopping, ``val_rows`` (held-out LSOAs) decide when to stop and which epoch's weights
    are kept (none: every epoch runs); the ``paper`` selection uses none. ``start_from`` (a trained
    model of the same shape) gives the initial weights and standardisation instead of fresh ones:
    fine-tuning. The returned model is the process's shared network: save or use it before the next fit.
    """
    import keras

    keras.utils.set_random_seed(seed)
    mean, variance = feature_moments(path, rows, cfg.chunk_rows * 4, cfg.variance_floor_fraction)
    dim = int(mean.shape[0])
    network = shared_network(dim, cfg.learning_rate, cfg.z_limit)
    model = network.reset(mean, variance, seed)
    if start_from is not None:
        model.set_weights(start_from.get_weights())
    rng = np.random.default_rng(seed)
    in_memory = fits_in_memory(len(rows) + len(val_rows), cfg.memory_budget_mb, dim)
    scale = noise_scale(variance, cfg.noise_std)
    train = (in_memory_batches if in_memory else streamed_batches)(path, rows, deciles, cfg, rng, scale)
    steps = max(1, int(np.ceil(len(rows) / cfg.batch_size)))
    callbacks = _callbacks(path, rows, deciles, val_rows, val_deciles, cfg, rng, steps, in_memory)
    start = time.perf_counter()
    losses = train_epochs(network, train, steps, cfg.epochs, callbacks)
    seconds = time.perf_counter() - start
    val_losses = next((c.losses for c in callbacks if isinstance(c, HeldOutEarlyStopping)), [])
    run = ModelRun(
        fold=fold,
        train_rows=len(rows),
        epochs_run=len(losses),
        best_epoch=int(np.argmin(val_losses)) + 1 if val_losses and cfg.selection == EARLY_STOPPING else len(losses),
        seconds=round(seconds, 3),
        samples_per_second=round(steps * cfg.batch_size * len(losses) / max(seconds, 1e-9), 1),
        in_memory=in_memory,
        loss=losses,
        val_loss=val_losses,
    )
    return model, run


def predict_scores(model, path: Path, rows: np.ndarray, chunk_rows: int = 256) -> np.ndarray:
    """Model scores for ``rows`` (any order), streamed in row order."""
    order = np.argsort(rows)
    scores = np.empty(len(rows), dtype=np.float64)
    from .inference import compiled_inference

    score = compiled_inference(model)
    out = []
    for x in ordered_batches(path, rows[order], batch_size=PREDICT_BATCH, chunk_rows=chunk_rows):
        out.append(np.asarray(score(x)).reshape(-1))
    scores[order] = np.concatenate(out) if out else np.zeros(0)
    return scores


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
