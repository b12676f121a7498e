"""SQL over the cities' warehouses: ``connect()`` from Python, ``make sql`` / ``sview-sql`` for a DuckDB shell.

    from sview_assets.sql import connect
    connect().sql("SELECT * FROM metrics_summary").show()             -- the default city
    connect().sql("SELECT * FROM demo_north.metrics_summary").show()  -- any city, by its schema

Both open an in-memory DuckDB that reads the Delta tables' current snapshots, so they never hold a
lock that a running pipeline would wait for. Every city of the deployment (``data/cities.toml``) is a
schema; the default city (``SVIEW_CITY``, else the first listed) is the current schema, so its tables
also answer to their plain names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sview_assets.config.cities import read_deployment
from sview_assets.config.settings import SviewSettings
from sview_assets.warehouse.duckdb_views import attach_warehouses, warehouse_statements


def deployment_warehouses(settings: SviewSettings) -> dict[str, Path]:
    """The warehouse folder of every city deployed beside ``settings``' city (that city included)."""
    storage = settings.storage()
    cities = list(read_deployment(Path(settings.data_root)).cities)
    if settings.city not in cities:
        cities.insert(0, settings.city)
    return {city: storage.for_city(city).warehouse for city in cities}


def connect(settings: SviewSettings | None = None):
    """An in-memory DuckDB connection with every city's warehouse tables and views defined, ``settings``' city current."""
    import duckdb

    settings = settings or SviewSettings.from_env()
    connection = duckdb.connect()
    attach_warehouses(connection, deployment_warehouses(settings), settings.city)
    return connection


def shell_setup(settings: SviewSettings) -> str:
    """The statements the DuckDB shell runs before the user's, as one script."""
    return ";\n".join(warehouse_statements(deployment_warehouses(settings), settings.city)) + ";"


def duckdb_cli() -> Path:
    """The DuckDB command-line tool installed beside this Python (the ``duckdb-cli`` package, same version as the library)."""
    cli = Path(sys.executable).parent / "duckdb"
    if not cli.is_file():
        raise FileNotFoundError(f"{cli} not found; install the project (make install) to get the DuckDB command-line tool.")
    return cli


def main(argv: list[str] | None = None) -> None:
    """Replace this process with the DuckDB shell on the cities' warehouses; extra arguments go to the shell (e.g. ``-c 'SELECT 1'``)."""
    settings = SviewSettings.from_env()
    if not settings.warehouse.is_dir():
        sys.exit(f"No warehouse at {settings.warehouse} yet: run the pipeline for city {settings.city!r} first (make demo).")
    cli = duckdb_cli()
    args = sys.argv[1:] if argv is None else argv
    os.execv(cli, [str(cli), "-cmd", shell_setup(settings), *args])


if __name__ == "__main__":
    main()
