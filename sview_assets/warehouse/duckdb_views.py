"""DuckDB over the warehouses: the delta extension loaded from its package, a schema per city, a view per table.

Nothing is stored in a DuckDB file: each connection is in memory and reads the Delta tables' current
snapshots, so any number of readers (the DuckDB shell, Python, the views asset) run beside the writers
without a lock. Each city's tables and views are in a schema named after the city (``demo.model_metrics``);
the default city's schema is the current one, so its tables also answer to their plain names. The plain
name of a versioned table shows each outcome's newest model version that all three versioned tables
hold; its ``_history`` view shows every kept version, and ``model_version_tables`` which table holds which.
"""

from __future__ import annotations

from pathlib import Path

from sview_assets.config.settings import validate_city
from sview_assets.warehouse.tables import (
    HISTORY_SUFFIX,
    PLAIN_TABLES,
    TABLES,
    TRANSFER_TABLE,
    VERSION_COLUMN,
    VERSIONED_TABLES,
    table_folder,
    transfer_table_folders,
)

VIEWS_FILE = "views.sql"

VERSION_TABLES_VIEW = "model_version_tables"
CURRENT_VERSIONS = f"SELECT outcome, max({VERSION_COLUMN}) AS {VERSION_COLUMN} FROM {VERSION_TABLES_VIEW} WHERE complete GROUP BY outcome"

MODEL_VERSIONS_VIEW = f"""CREATE OR REPLACE VIEW model_versions AS
SELECT m.outcome, m.{VERSION_COLUMN}, trained_at, preset, feature_preprocessing, feature_weights_sha256, feature_precision,
    (m.outcome, m.{VERSION_COLUMN}) IN ({CURRENT_VERSIONS}) AS is_current
FROM (SELECT DISTINCT outcome, {VERSION_COLUMN}, trained_at, preset, feature_preprocessing, feature_weights_sha256, feature_precision
      FROM model_metrics{HISTORY_SUFFIX}) AS m
ORDER BY m.outcome, m.{VERSION_COLUMN} DESC"""


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


def version_tables_view() -> str:
    """``model_version_tables``: per outcome and kept model version, which of the versioned tables hold it.

    A version is ``complete`` when all three do. A run stopped between its writes (killed after the
    predictions, before the metrics) leaves a version that is not.
    """
    seen = " UNION ALL ".join(f"SELECT DISTINCT outcome, {VERSION_COLUMN}, '{name}' AS table_name FROM {name}{HISTORY_SUFFIX}" for name in VERSIONED_TABLES)
    flags = ", ".join(f"bool_or(table_name = '{name}') AS in_{name}" for name in VERSIONED_TABLES)
    return (
        f"CREATE OR REPLACE VIEW {VERSION_TABLES_VIEW} AS SELECT outcome, {VERSION_COLUMN}, {flags}, "
        f"count(DISTINCT table_name) = {len(VERSIONED_TABLES)} AS complete FROM ({seen}) GROUP BY ALL ORDER BY ALL"
    )


def table_view_statements(warehouse: Path) -> list[str]:
    """CREATE VIEW statements for every table present: plain tables as they are, versioned ones current and history.

    With all three versioned tables present, their plain names show each outcome's newest *complete*
    version (in all three), so predictions and metrics always describe one model; ``model_version_tables``
    lists the versions a stopped run left incomplete. Before that, each shows its own newest version.
    """
    statements = []
    present = present_tables(warehouse)
    every_versioned = all(name in present for name in VERSIONED_TABLES)
    for name in present:
        scan = f"SELECT * FROM delta_scan({sql_string(table_folder(warehouse, name))})"
        if name in PLAIN_TABLES:
            statements.append(f"CREATE OR REPLACE VIEW {name} AS {scan}")
            continue
        statements.append(f"CREATE OR REPLACE VIEW {name}{HISTORY_SUFFIX} AS {scan}")
    if every_versioned:
        statements.append(version_tables_view())
    for name in [t for t in VERSIONED_TABLES if t in present]:
        history = name + HISTORY_SUFFIX
        current = (
            f"SELECT * FROM {history} SEMI JOIN ({CURRENT_VERSIONS}) USING (outcome, {VERSION_COLUMN})" if every_versioned else newest_version_query(history)
        )
        statements.append(f"CREATE OR REPLACE VIEW {name} AS {current}")
    if every_versioned:
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
