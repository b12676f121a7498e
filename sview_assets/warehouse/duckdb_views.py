"""DuckDB over the warehouse: the delta extension loaded from its package, and one view per table.

Nothing is stored in a DuckDB file: each connection is in memory and reads the Delta tables' current
snapshots, so any number of readers (the DuckDB shell, Python, the views asset) run beside the writers
without a lock. The plain name of a versioned table shows each outcome's newest model version; its
``_history`` view shows every kept version.
"""

from __future__ import annotations

from pathlib import Path

from .tables import HISTORY_SUFFIX, PLAIN_TABLES, TABLES, VERSION_COLUMN, table_folder

VIEWS_FILE = "views.sql"

MODEL_VERSIONS_VIEW = f"""CREATE OR REPLACE VIEW model_versions AS
SELECT outcome, {VERSION_COLUMN}, trained_at, preset, feature_preprocessing, feature_weights_sha256, feature_precision,
    {VERSION_COLUMN} = max({VERSION_COLUMN}) OVER (PARTITION BY outcome) AS is_current
FROM (SELECT DISTINCT outcome, {VERSION_COLUMN}, trained_at, preset, feature_preprocessing, feature_weights_sha256, feature_precision
      FROM model_metrics{HISTORY_SUFFIX})
ORDER BY outcome, {VERSION_COLUMN} DESC"""


def sql_string(value: str) -> str:
    """``value`` as a single-quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def delta_extension_file() -> Path:
    """The DuckDB delta extension that the ``duckdb-extension-delta`` package ships (``INSTALL`` would download it)."""
    import duckdb
    import duckdb_extension_delta

    folder = Path(duckdb_extension_delta.__path__[0]) / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.glob("delta.duckdb_extension"))
    if not found:
        raise FileNotFoundError(
            f"The DuckDB delta extension for DuckDB {duckdb.__version__} is not in {folder}; "
            "install duckdb-extension-delta of the same version as duckdb (make install does)."
        )
    return found[0]


def present_tables(warehouse: Path) -> list[str]:
    """Warehouse tables written at least once (their Delta log exists)."""
    return [name for name in TABLES if (table_folder(warehouse, name) / "_delta_log").is_dir()]


def table_view_statements(warehouse: Path) -> list[str]:
    """CREATE VIEW statements for every table present: plain tables as they are, versioned ones current and history."""
    statements = []
    present = present_tables(warehouse)
    for name in present:
        scan = f"SELECT * FROM delta_scan({sql_string(table_folder(warehouse, name))})"
        if name in PLAIN_TABLES:
            statements.append(f"CREATE OR REPLACE VIEW {name} AS {scan}")
            continue
        history = name + HISTORY_SUFFIX
        statements.append(f"CREATE OR REPLACE VIEW {history} AS {scan}")
        statements.append(
            f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {history} "
            f"WHERE (outcome, {VERSION_COLUMN}) IN (SELECT outcome, max({VERSION_COLUMN}) FROM {history} GROUP BY outcome)"
        )
    if "model_metrics" in present:
        statements.append(MODEL_VERSIONS_VIEW)
    return statements


def warehouse_statements(warehouse: Path) -> list[str]:
    """Everything a connection runs to see the warehouse: load the extension, define the tables' views, then the summary views."""
    warehouse = Path(warehouse)
    statements = [f"LOAD {sql_string(delta_extension_file())}", *table_view_statements(warehouse)]
    views_file = warehouse / VIEWS_FILE
    if views_file.is_file():
        statements.append(views_file.read_text().strip().rstrip(";"))
    return statements


def attach_warehouse(connection, warehouse: Path) -> None:
    """Load the delta extension into ``connection`` and define the warehouse's views."""
    for statement in warehouse_statements(warehouse):
        connection.execute(statement)
