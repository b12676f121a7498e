"""The city's warehouse: Delta Lake tables written by Dagster's Delta I/O manager, read through DuckDB.

Every write is one Delta commit (old rows or new rows, never none or a mix); readers work on a
snapshot and hold no lock; prediction tables keep the last few model versions side by side.
"""
