"""A model's inference as one compiled call, shared by feature extraction and training; it returns NumPy.

An eager Keras call runs the layers one by one from Python: for VGG16 every call would trace again
(seconds), and for the small ordinal network an eager call cost more than a training step. Calls
that share a model in one process compile once: a ``tf.function`` on TensorFlow, Keras'
``predict_on_batch`` (jit-compiled per input shape) on JAX and PyTorch. On TensorFlow, small models of
one architecture (the ordinal network's folds, outcomes and transfer regimes) share a single traced
function that takes their weights as arguments, so a new model costs no new trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from sview_assets.ml.backend import uses_tensorflow

KEPT_MODELS = 2
SHARED_TRACE_MAX_PARAMETERS = 10_000_000
_compiled: dict[int, tuple[object, Callable]] = {}
_traced_by_architecture: dict[str, Callable] = {}


def architecture_key(model) -> str:
    """What makes two models compute the same function of their weights: layer types and configs, variable shapes."""
    layers = [(type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"}) for layer in model.layers]
    shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    return json.dumps([layers, shapes], sort_keys=True, default=str)


def _shared_trace(model):
    """One ``tf.function`` for every model of ``model``'s architecture, taking the weights as arguments.

    A process that fits and scores many small models (folds, outcomes, transfer regimes) would otherwise
    trace the same graph once per model, which TensorFlow reports as excessive retracing and which costs
    time on every model.
    """
    import tensorflow as tf

    key = architecture_key(model)
    traced = _traced_by_architecture.get(key)
    if traced is None:
        while len(_traced_by_architecture) >= KEPT_MODELS:
            _traced_by_architecture.pop(next(iter(_traced_by_architecture)))
        template = model

        def stateless_inference(trainable, non_trainable, x):
            return template.stateless_call(trainable, non_trainable, x, training=False)[0]

        traced = _traced_by_architecture[key] = tf.function(stateless_inference, reduce_retracing=True)
    return traced


def _compile(model) -> Callable[[np.ndarray], np.ndarray]:
    if not uses_tensorflow():
        return lambda x: np.asarray(model.predict_on_batch(x))
    import tensorflow as tf

    if model.count_params() > SHARED_TRACE_MAX_PARAMETERS:  # VGG16: one per process, reading its own variables
        traced = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return lambda x: traced(x).numpy()
    shared = _shared_trace(model)
    return lambda x: shared([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], x).numpy()


def compiled_inference(model) -> Callable[[np.ndarray], np.ndarray]:
    """``model(x, training=False)`` as NumPy, compiled, kept for the last ``KEPT_MODELS`` models asked for."""
    entry = _compiled.get(id(model))
    if entry is None or entry[0] is not model:
        while len(_compiled) >= KEPT_MODELS:
            _compiled.pop(next(iter(_compiled)))
        entry = _compiled[id(model)] = (model, _compile(model))
    return entry[1]
