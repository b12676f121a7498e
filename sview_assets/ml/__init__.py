"""The method in plain Keras and NumPy, with no Dagster: ``features`` (VGG16 fc6), ``training`` (ordinal
models, cross-validation) and ``evaluation`` (metrics, aggregation, transfer), over the runtime helpers at
this level (backend, device, threads, compiled inference, a quiet TensorFlow start)."""

from sview_assets.ml.quiet_start import install as _quiet_tensorflow_start

_quiet_tensorflow_start()
