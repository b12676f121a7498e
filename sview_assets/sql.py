"""SQL over a city's warehouse: ``connect()`` from Python, ``make sql`` / ``sview-sql`` for a DuckDB shell.

    from sview_assets.sql import connect
    connect().sql("SELECT * FROM metrics_summary").show()

Both open an in-memory DuckDB that reads the Delta tables' current snapshots, so they never hold a
lock that a running pipeline would wait for. The city comes from ``SVIEW_CITY`` (default ``demo``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .settings import SviewSettings
from .warehouse.duckdb_views import attach_warehouse, warehouse_statements


def connect(settings: SviewSettings | None = None):
    """An in-memory DuckDB connection with every warehouse table and view of the city defined."""
    import duckdb

    settings = settings or SviewSettings.from_env()
    connection = duckdb.connect()
    attach_warehouse(connection, settings.warehouse)
    return connection


def shell_setup(settings: SviewSettings) -> str:
    """The statements the DuckDB shell runs before the user's, as one script."""
    return ";\n".join(warehouse_statements(settings.warehouse)) + ";"


def duckdb_cli() -> Path:
    """The DuckDB command-line tool installed beside this Python (the ``duckdb-cli`` package, same version as the library)."""
    cli = Path(sys.executable).parent / "duckdb"
    if not cli.is_file():
        raise FileNotFoundError(f"{cli} not found; install the project (make install) to get the DuckDB command-line tool.")
    return cli


def main(argv: list[str] | None = None) -> None:
    """Replace this process with the DuckDB shell on the city's warehouse; extra arguments go to the shell (e.g. ``-c 'SELECT 1'``)."""
    settings = SviewSettings.from_env()
    if not settings.warehouse.is_dir():
        sys.exit(f"No warehouse at {settings.warehouse} yet: run the pipeline for city {settings.city!r} first (make demo).")
    cli = duckdb_cli()
    args = sys.argv[1:] if argv is None else argv
    os.execv(cli, [str(cli), "-cmd", shell_setup(settings), *args])


if __name__ == "__main__":
    main()
