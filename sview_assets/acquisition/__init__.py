"""Acquisition of a city's images from a street-level imagery service (opt-in per city)."""
