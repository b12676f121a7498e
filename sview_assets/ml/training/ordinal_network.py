"""The Keras side of the ordinal model: layers, and one compiled network reused across fits.

Tracing Keras' train and test functions costs seconds per new model, more
than training a fold of a city-sized set. :class:`OrdinalNetwork` therefore
builds and compiles the network once per process and *resets* it before each
fit: fresh seeded initial weights, the fold's standardisation statistics and a
zeroed optimizer state. A reset network is indistinguishable from a newly built
one with the same seed.

The training noise (Gaussian, on the standardised features) is not a layer: the
mini-batch streams add it (:mod:`.cross_validation`), because TensorFlow's
normal sampler cost as much per step as the network itself on a 2-core CPU.
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from sview_assets.ml.backend import uses_tensorflow
from sview_assets.ml.training.ordinal import HIDDEN_AFTER_MEAN, HIDDEN_PER_HEADING, ordinal_loss


@keras.saving.register_keras_serializable(package="sview")
class FeatureStandardization(keras.layers.Layer):
    """(x - mean) / sqrt(variance) per feature, clipped to +-``z_limit`` (0: no clip); the statistics are non-trainable weights.

    The clip keeps a rare value on an unseen image from dominating the score.
    """

    def __init__(self, dim: int, z_limit: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.z_limit = float(z_limit)

    def build(self, input_shape):
        self.mean = self.add_weight(shape=(self.dim,), initializer="zeros", trainable=False, name="mean")
        self.variance = self.add_weight(shape=(self.dim,), initializer="ones", trainable=False, name="variance")

    def call(self, inputs):
        standardised = (inputs - self.mean) * keras.ops.rsqrt(self.variance)
        if self.z_limit > 0:
            return keras.ops.clip(standardised, -self.z_limit, self.z_limit)
        return standardised

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "z_limit": self.z_limit}


def build_ordinal_model(dim: int, *, learning_rate: float, z_limit: float = 0.0, n_headings: int = 4) -> keras.Model:
    """Compiled model [B, headings, dim] -> score [B, 1]: shared per-heading MLP, mean over headings, head."""
    inputs = keras.Input((n_headings, dim), name="features")
    x = FeatureStandardization(dim, z_limit, name="standardise")(inputs)
    for units in HIDDEN_PER_HEADING:
        x = keras.layers.Dense(units, name=f"heading_dense_{units}")(x)
        x = keras.layers.BatchNormalization(name=f"heading_bn_{units}")(x)
        x = keras.layers.ReLU(name=f"heading_relu_{units}")(x)
    x = keras.layers.GlobalAveragePooling1D(name="mean_over_headings")(x)
    x = keras.layers.Dense(HIDDEN_AFTER_MEAN, name="dense_64")(x)
    x = keras.layers.BatchNormalization(name="bn_64")(x)
    x = keras.layers.ReLU(name="relu_64")(x)
    score = keras.layers.Dense(1, name="score")(x)
    model = keras.Model(inputs, score, name="ordinal_decile_model")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=ordinal_loss, jit_compile=False)
    return model


def initial_weights(model: keras.Model, seed: int) -> list[np.ndarray]:
    """Glorot-uniform kernels, zero biases, identity batch norm, as Keras initialises them, from ``seed``."""
    rng = np.random.default_rng(seed)
    arrays = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        name = variable.path.rsplit("/", 1)[-1]
        if name == "kernel":
            limit = np.sqrt(6.0 / (shape[0] + shape[1]))
            arrays.append(rng.uniform(-limit, limit, size=shape).astype(np.float32))
        elif name in ("gamma", "moving_variance", "variance"):
            arrays.append(np.ones(shape, np.float32))
        else:
            arrays.append(np.zeros(shape, np.float32))
    return arrays


class OrdinalNetwork:
    """One compiled network, reset to a fresh state before every fit."""

    def __init__(self, dim: int, learning_rate: float, z_limit: float):
        self.model = build_ordinal_model(dim, learning_rate=learning_rate, z_limit=z_limit)
        self.train_step = _tensorflow_train_step(self.model, dim) if uses_tensorflow() else self._keras_train_step

    def _keras_train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One optimisation step through Keras' compiled ``train_on_batch`` (JAX, PyTorch); returns its loss."""
        return float(self.model.train_on_batch(x, y))

    def reset(self, mean: np.ndarray, variance: np.ndarray, seed: int) -> keras.Model:
        """Return the model as if newly built with ``seed`` and standardised by ``mean``/``variance``."""
        self.model.set_weights(initial_weights(self.model, seed))
        standardise = self.model.get_layer("standardise")
        standardise.mean.assign(mean.astype(np.float32))
        standardise.variance.assign(variance.astype(np.float32))
        optimizer = self.model.optimizer
        for variable in optimizer.variables:
            if not variable.path.endswith("learning_rate"):
                variable.assign(np.zeros(tuple(variable.shape), variable.dtype))
        return self.model


def _tensorflow_train_step(model: keras.Model, dim: int):
    """One traced optimisation step (features [B, headings, dim], deciles [B]) returning its loss: on TensorFlow
    a plain ``tf.function`` with a gradient tape is faster than ``train_on_batch`` on small batches."""
    import tensorflow as tf

    optimizer = model.optimizer
    signature = [tf.TensorSpec((None, None, dim), tf.float32), tf.TensorSpec((None,), tf.int32)]

    @tf.function(input_signature=signature)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = ordinal_loss(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    return train_step


@functools.lru_cache(maxsize=2)
def shared_network(dim: int, learning_rate: float, z_limit: float) -> OrdinalNetwork:
    """The process-wide network for these hyper-parameters (built on first use)."""
    return OrdinalNetwork(dim, learning_rate, z_limit)
