"""Configuration a user writes or sets: environment settings, the cities list, and outcome declarations (with the standard ones)."""
