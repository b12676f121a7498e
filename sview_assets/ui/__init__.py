"""The Dagster UI for sview, served behind a guard that admits only this machine (see :mod:`.guard`)."""
