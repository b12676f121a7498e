"""Which Keras backend computes (``KERAS_BACKEND``: ``tensorflow``, the default, ``jax`` or ``torch``), and the few
things that differ between them: a compiled inference call, the device, thread pools and determinism.

The model code is Keras 3 layers and ``keras.ops``, the same on every backend. TensorFlow keeps its
``tf.data`` input pipeline and traced functions (as before); the others get a Pillow input pipeline
(:mod:`.pillow_input`) and Keras' own compiled ``predict_on_batch``/``train_on_batch``. The backend is
recorded in the features' and models' metadata.
"""

from __future__ import annotations

TENSORFLOW = "tensorflow"


def keras_backend() -> str:
    """The backend Keras computes with in this process."""
    import keras

    return keras.backend.backend()


def uses_tensorflow() -> bool:
    """Whether Keras runs on TensorFlow (then sview uses tf.data and tf.function as before)."""
    return keras_backend() == TENSORFLOW


def make_deterministic() -> None:
    """Ask the backend for reproducible kernels (TensorFlow's op determinism; JAX and PyTorch's CPU kernels already are)."""
    if uses_tensorflow():
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
