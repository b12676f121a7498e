"""Keep TensorFlow to the cores this process may use."""

from __future__ import annotations

import os

THREADS_ENV = "SVIEW_TF_THREADS"


def available_cores() -> int:
    """Cores this process may run on, or ``$SVIEW_TF_THREADS`` when set (a positive whole number)."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(
                f"{THREADS_ENV}={value!r} is not a positive whole number of threads; set it to 1 or more, or unset it to use every core of this process."
            )
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """Limit TensorFlow's op thread pools to the available cores; return that number.

    TensorFlow only accepts this before its runtime starts; later calls in the
    same process keep the first setting, which was made by this function too.
    On the other Keras backends only the input pipeline's threads follow it.
    """
    from sview_assets.ml.backend import uses_tensorflow

    cores = available_cores()
    if not uses_tensorflow():
        return cores
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, cores))
    except RuntimeError:
        pass
    return cores
