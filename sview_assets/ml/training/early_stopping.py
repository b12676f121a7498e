"""Early stopping on held-out LSOAs with one forward pass per epoch (the ``default`` preset's selection).

Keras' own validation builds an evaluation loop and its input pipeline again in every epoch; for the
small folds of a city-sized set on a 2-core CPU that cost more than the epoch's training steps.
This callback scores the held-out locations with the model in inference mode, computes the same
ordinal loss in NumPy and behaves like ``keras.callbacks.EarlyStopping(monitor="val_loss",
patience=..., restore_best_weights=True)``: it stops after ``patience`` epochs without a lower loss
and leaves the model with the weights of its best epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from sview_assets.ml.training.ordinal import class_log_probabilities_np


def ordinal_loss_np(scores: np.ndarray, deciles: np.ndarray) -> float:
    """Mean cross-entropy of the true deciles (1..10) under Binomial(9, sigmoid(score)), as the training loss."""
    log_probabilities = class_log_probabilities_np(scores)
    return float(-np.mean(log_probabilities[np.arange(len(deciles)), np.asarray(deciles, dtype=np.int64) - 1]))


class HeldOutEarlyStopping(keras.callbacks.Callback):
    """Stop when the held-out loss has not improved for ``patience`` epochs; restore the best epoch's weights."""

    def __init__(self, held_out_scores: Callable[[keras.Model], np.ndarray], deciles: np.ndarray, patience: int):
        super().__init__()
        self.held_out_scores = held_out_scores
        self.deciles = np.asarray(deciles)
        self.patience = patience
        self.losses: list[float] = []
        self.best_epoch = 0
        self._best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch, logs=None):
        loss = ordinal_loss_np(self.held_out_scores(self.model), self.deciles)
        self.losses.append(loss)
        if logs is not None:
            logs["val_loss"] = loss
        if loss <= min(self.losses):
            self.best_epoch, self._best_weights = epoch + 1, self.model.get_weights()
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
