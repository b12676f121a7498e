"""A synthetic demo city written in the real input formats, with a known ground truth."""
