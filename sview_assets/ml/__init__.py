"""Plain NumPy/TensorFlow code of the method: no Dagster imports here."""
