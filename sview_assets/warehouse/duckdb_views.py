"""DuckDB over the warehouses: the delta extension loaded from its package, a schema per city, a view per table.

Nothing is stored in a DuckDB file: each connection is in memory and reads the Delta tables' current
snapshots, so any number of readers (the DuckDB shell, Python, the views asset) run beside the writers
without a lock. Each city's tables and views are in a schema named after the city (``demo.model_metrics``);
the default city's schema is the current one, so its tables also answer to their plain names. The plain
name of a versioned table shows each outcome's newest model version; its ``_history`` view shows every
kept version.
"""

from __future__ import annotations

from pathlib import Path

from ..settings import validate_city
from .tables import HISTORY_SUFFIX, PLAIN_TABLES, TABLES, TRANSFER_TABLE, VERSION_COLUMN, table_folder, transfer_table_folders

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


def newest_version_query(history: str) -> str:
    """Each outcome's newest model version of the view ``history``, read in one scan.

    One scan matters: a query that scanned the table twice (once for the newest version, once for the
    rows) could see a writer's commit in one scan and not the other, and lose that outcome's rows.
    """
    return f"SELECT * FROM {history} QUALIFY {VERSION_COLUMN} = max({VERSION_COLUMN}) OVER (PARTITION BY outcome)"


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
        statements.append(f"CREATE OR REPLACE VIEW {name} AS {newest_version_query(history)}")
    if "model_metrics" in present:
        statements.append(MODEL_VERSIONS_VIEW)
    transfers = transfer_table_folders(warehouse)
    if transfers:
        scans = " UNION ALL BY NAME ".join(f"SELECT * FROM delta_scan({sql_string(folder)})" for folder in transfers)
        statements.append(f"CREATE OR REPLACE VIEW {TRANSFER_TABLE} AS {scans}")
    return statements


def use_schema_statement(city: str) -> str:
    """The statement that makes ``city``'s schema the current one (unqualified names then mean its tables)."""
    return f"SET schema = {sql_string(validate_city(city))}"


def use_schema(connection, city: str) -> None:
    """Make ``city``'s schema the current one on ``connection``."""
    connection.execute(use_schema_statement(city))


def schema_views(connection, city: str) -> set[str]:
    """The tables and views defined in ``city``'s schema on ``connection`` (a table not written yet has none)."""
    return {row[0] for row in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = ?", [city]).fetchall()}


def city_statements(city: str, warehouse: Path) -> list[str]:
    """A city's schema, the views of its tables, then its summary views (``views.sql``), all in that schema."""
    warehouse = Path(warehouse)
    statements = [f'CREATE SCHEMA IF NOT EXISTS "{validate_city(city)}"', use_schema_statement(city), *table_view_statements(warehouse)]
    views_file = warehouse / VIEWS_FILE
    if views_file.is_file():
        statements.append(views_file.read_text().strip().rstrip(";"))
    return statements


def warehouse_statements(warehouses: dict[str, Path], default_city: str) -> list[str]:
    """Everything a connection runs to see the warehouses: load the extension, each city's schema, then the default city's schema as current."""
    if default_city not in warehouses:
        raise ValueError(f"default city {default_city!r} is not one of the warehouses' cities {sorted(warehouses)}")
    statements = [f"LOAD {sql_string(delta_extension_file())}"]
    for city, warehouse in warehouses.items():
        statements += city_statements(city, warehouse)
    return [*statements, use_schema_statement(default_city)]


def attach_warehouses(connection, warehouses: dict[str, Path], default_city: str) -> None:
    """Load the delta extension into ``connection`` and define every city's views, each in its schema."""
    for statement in warehouse_statements(warehouses, default_city):
        connection.execute(statement)
