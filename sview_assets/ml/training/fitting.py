"""Fit one ordinal model (the training loop, early stopping or last-epoch selection) and score rows with it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sview_assets.ml.training.batches import fits_in_memory, in_memory_batches, noise_scale, streamed_batches
from sview_assets.ml.training.early_stopping import HeldOutEarlyStopping
from sview_assets.ml.training.ordinal_network import shared_network
from sview_assets.ml.training.presets import EARLY_STOPPING, TrainSettings
from sview_assets.ml.training.streaming import feature_moments, ordered_batches, read_rows

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
                from sview_assets.ml.inference import compiled_inference

                score = compiled_inference(model)
                return np.concatenate([np.asarray(score(held_out[i : i + PREDICT_BATCH])).reshape(-1) for i in range(0, len(held_out), PREDICT_BATCH)])

        else:

            def scores(model):
                return predict_scores(model, path, val_rows[order], cfg.chunk_rows)

        return [HeldOutEarlyStopping(scores, val_deciles[order], cfg.patience)]
    from sview_assets.ml.training.selection import LastEpochSelection, balanced_sample

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
    from sview_assets.ml.inference import compiled_inference

    score = compiled_inference(model)
    out = []
    for x in ordered_batches(path, rows[order], batch_size=PREDICT_BATCH, chunk_rows=chunk_rows):
        out.append(np.asarray(score(x)).reshape(-1))
    scores[order] = np.concatenate(out) if out else np.zeros(0)
    return scores
