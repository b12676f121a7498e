"""The original code's model selection, as a Keras callback (used by the ``paper`` preset).

In the last epoch, after 90% of its steps, the loss on a fixed class-balanced
sample of training locations is computed after every step (in inference mode,
no input noise) and the weights with the lowest value are kept.
"""

from __future__ import annotations

import keras
import numpy as np

from sview_assets.ml.inference import compiled_inference
from sview_assets.ml.training.ordinal import ordinal_loss

LAST_FRACTION = 0.9


def balanced_sample(deciles: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of up to ``size // classes`` rows of each class present, sorted."""
    classes = np.unique(deciles)
    per_class = max(1, size // len(classes))
    picked = [rng.permutation(np.flatnonzero(deciles == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(picked))


class LastEpochSelection(keras.callbacks.Callback):
    """Keep the weights with the lowest loss on ``(features, deciles)`` during the last 10% of the last epoch."""

    def __init__(self, features: np.ndarray, deciles: np.ndarray, epochs: int, steps_per_epoch: int):
        super().__init__()
        self.features = features
        self.deciles = deciles.astype(np.int32)
        self.last_epoch = epochs - 1
        self.first_step = LAST_FRACTION * steps_per_epoch
        self.epoch = 0
        self.best_loss = float("inf")
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.last_epoch and batch > self.first_step:
            loss = float(ordinal_loss(self.deciles, compiled_inference(self.model)(self.features)))
            if loss < self.best_loss:
                self.best_loss, self.best_weights = loss, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
