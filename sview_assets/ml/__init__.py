"""Plain NumPy/TensorFlow code of the method: no Dagster imports here."""

from .quiet_start import install as _quiet_tensorflow_start

_quiet_tensorflow_start()
