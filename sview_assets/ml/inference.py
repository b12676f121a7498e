"""A model's inference as one traced TensorFlow function, shared by feature extraction and training.

An eager Keras call runs the layers one by one from Python: for VGG16 every call would trace again
(seconds), and for the small ordinal network an eager call cost more than a training step. Calls
that share a model in one process trace once.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

KEPT_MODELS = 2
_compiled: dict[int, tuple[object, Callable]] = {}


def compiled_inference(model) -> Callable:
    """``model(x, training=False)`` as a ``tf.function``, kept for the last ``KEPT_MODELS`` models asked for."""
    entry = _compiled.get(id(model))
    if entry is None or entry[0] is not model:
        while len(_compiled) >= KEPT_MODELS:
            _compiled.pop(next(iter(_compiled)))
        entry = _compiled[id(model)] = (model, tf.function(lambda x: model(x, training=False), reduce_retracing=True))
    return entry[1]
