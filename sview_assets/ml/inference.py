"""A model's inference as one compiled call, shared by feature extraction and training; it returns NumPy.

An eager Keras call runs the layers one by one from Python: for VGG16 every call would trace again
(seconds), and for the small ordinal network an eager call cost more than a training step. Calls
that share a model in one process compile once: a ``tf.function`` on TensorFlow, Keras'
``predict_on_batch`` (jit-compiled per input shape) on JAX and PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .backend import uses_tensorflow

KEPT_MODELS = 2
_compiled: dict[int, tuple[object, Callable]] = {}


def _compile(model) -> Callable[[np.ndarray], np.ndarray]:
    if not uses_tensorflow():
        return lambda x: np.asarray(model.predict_on_batch(x))
    import tensorflow as tf

    traced = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: traced(x).numpy()


def compiled_inference(model) -> Callable[[np.ndarray], np.ndarray]:
    """``model(x, training=False)`` as NumPy, compiled, kept for the last ``KEPT_MODELS`` models asked for."""
    entry = _compiled.get(id(model))
    if entry is None or entry[0] is not model:
        while len(_compiled) >= KEPT_MODELS:
            _compiled.pop(next(iter(_compiled)))
        entry = _compiled[id(model)] = (model, _compile(model))
    return entry[1]
