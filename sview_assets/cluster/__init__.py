"""Running sview beyond one process: a PostgreSQL-backed Dagster instance (and, later, distributed executors)."""
