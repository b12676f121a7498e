"""The Dagster wiring: assets, asset checks, jobs, sensors, automation conditions, partitions, resources and each city's scope."""
