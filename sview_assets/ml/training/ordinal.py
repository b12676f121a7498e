"""The paper's ordinal network: shared per-heading MLP, mean over headings, one score.

The score s gives p = sigmoid(s), and the probability of decile k+1 is the
Binomial(9, p) probability of k, k = 0..9. The loss is the cross-entropy of
the true decile under those probabilities, computed in log space
(log sigmoid(s) = -softplus(-s)) so it stays finite for any |s|.
"""

from __future__ import annotations

import math

import numpy as np

N_CLASSES = 10
N_TRIALS = N_CLASSES - 1
LOG_BINOMIAL_COEFFICIENTS = np.array([math.log(math.comb(N_TRIALS, k)) for k in range(N_CLASSES)], dtype=np.float64)
HIDDEN_PER_HEADING = (512, 256, 128)
HIDDEN_AFTER_MEAN = 64


def class_log_probabilities_np(score: np.ndarray) -> np.ndarray:
    """log P(decile = k + 1 | score) for k = 0..9, shape [n, 10] (NumPy, float64)."""
    s = np.asarray(score, dtype=np.float64).reshape(-1, 1)
    k = np.arange(N_CLASSES, dtype=np.float64)
    log_p = -np.logaddexp(0.0, -s)
    log_q = -np.logaddexp(0.0, s)
    return LOG_BINOMIAL_COEFFICIENTS + k * log_p + (N_TRIALS - k) * log_q


def predicted_decile(score: np.ndarray) -> np.ndarray:
    """Most probable decile (1..10) for each score."""
    return np.argmax(class_log_probabilities_np(score), axis=1) + 1


def ordinal_loss(y_true, y_pred):
    """Mean cross-entropy of the true decile (1..10) under Binomial(9, sigmoid(score)), in Keras ops (any backend)."""
    from keras import ops

    score = ops.reshape(ops.cast(y_pred, "float32"), (-1, 1))
    k = ops.arange(N_CLASSES, dtype="float32")
    log_p = -ops.softplus(-score)
    log_q = -ops.softplus(score)
    log_probs = ops.convert_to_tensor(LOG_BINOMIAL_COEFFICIENTS.astype(np.float32)) + k * log_p + (N_TRIALS - k) * log_q
    target = ops.reshape(ops.cast(y_true, "int32"), (-1, 1)) - 1
    return -ops.mean(ops.take_along_axis(log_probs, target, axis=1))
