"""Dagster's Delta Lake pandas I/O manager, with bounded commit retries and kept model versions.

Every write is one Delta commit, as with the stock handler: a plain table is overwritten whole, a
partitioned one partition by partition (an overwrite with the partition as predicate). Assets whose
metadata names a version column (``sview/versioned_by``) keep older versions: the table is
partitioned by the asset's partition and the version, and a write is a single commit that adds the
new version and removes the same version (a re-run) plus versions beyond the newest ``versions_kept``.
Loading such an input gives the newest version only. After each write, data files that writes
replaced more than ``vacuum_retention_hours`` ago are deleted (Delta's VACUUM), so the warehouse
stops growing once the kept versions are there. A whole table whose rows are the same as its last
write (a checksum kept in the commit) is not written again. The stock handler's write is not reused: its
row statistics fail with deltalake 1.6 (a warning on every write), so this handler writes and
reports rows, table version and columns itself.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
from dagster import InputContext, OutputContext
from dagster_deltalake.io_manager import DbTypeHandler, TableConnection, TableSlice
from dagster_deltalake_pandas import DeltaLakePandasIOManager
from dagster_deltalake_pandas.deltalake_pandas_type_handler import DeltaLakePandasTypeHandler
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from pydantic import Field

from sview_assets.config.settings import ensure_writable_folder
from sview_assets.ml.training.model_version import check_model_version
from sview_assets.warehouse.tables import VERSIONED_METADATA_KEY, table_folder

COMMIT_ATTEMPTS = 6
CONTENT_KEY = "sview.content_sha256"
HISTORY_LOOKBACK = 10
DEFAULT_VACUUM_RETENTION_HOURS = 1
FIRST_RETRY_SECONDS = 0.2


def read_whole_table(warehouse: Path, table: str, columns: list[str]) -> pd.DataFrame:
    """``columns`` of every partition of a warehouse table (empty when it is not written yet).

    For an asset that needs all of a partitioned table: the I/O manager loads one partition per input.
    """
    folder = table_folder(warehouse, table)
    if not (folder / "_delta_log").is_dir():
        return pd.DataFrame(columns=columns)
    return DeltaTable(str(folder)).to_pandas(columns=columns)


def read_partition(warehouse: Path, table: str, column: str, value: str) -> pd.DataFrame:
    """The rows of one partition of a warehouse table (empty when it is not written yet), for an asset that reads it
    for several partitions in one run (the I/O manager loads one partition range per input, and only a single one)."""
    folder = table_folder(warehouse, table)
    if not (folder / "_delta_log").is_dir():
        return pd.DataFrame()
    return DeltaTable(str(folder)).to_pandas(filters=[(column, "=", value)])


def commit_with_retries(write: Callable[[], None], table: str, log) -> int:
    """Run ``write`` (one Delta commit), retrying a lost commit race a few times; returns the retries used.

    Delta writers never lock: a writer that finds another commit took its version number re-reads the
    log and tries again. delta-rs already does this for compatible commits; what reaches here is a race
    it will not settle alone (two writers creating the same table). Each wait is logged with its cause.
    """
    retries = 0
    while True:
        try:
            write()
            return retries
        except CommitFailedError as exc:
            if retries == COMMIT_ATTEMPTS - 1:
                raise CommitFailedError(f"{table}: gave up after {COMMIT_ATTEMPTS} commit attempts, each lost to another writer: {exc}") from exc
            wait = FIRST_RETRY_SECONDS * 2**retries
            retries += 1
            log.warning(f"{table}: another writer committed first ({exc}); retry {retries} of {COMMIT_ATTEMPTS - 1} in {wait:.1f} s")
            time.sleep(wait)


def content_sha256(table: pa.Table) -> str:
    """A checksum of ``table``'s schema and rows (its Arrow stream), to tell an unchanged rewrite."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue()).hexdigest()


def last_written_content(table_uri: str, storage_options: dict) -> str | None:
    """The content checksum the table's latest data write recorded (None for a new table or an older write)."""
    try:
        history = DeltaTable(table_uri, storage_options=storage_options).history(HISTORY_LOOKBACK)
    except TableNotFoundError:
        return None
    writes = [commit for commit in history if commit.get("operation") == "WRITE"]
    return writes[0].get(CONTENT_KEY) if writes else None


def vacuum_replaced_files(table_uri: str, storage_options: dict, retention_hours: int, log) -> dict[str, int]:
    """Delete the data files that writes replaced at least ``retention_hours`` ago; returns the files and bytes removed.

    The retention is what keeps a reader safe: a query that opened the table's snapshot before a write
    reads files that the write removed from the table, and they stay on disk that long. It also covers
    a writer whose new files are not committed yet (vacuum would see them as unreferenced). A failed
    vacuum is logged and left for the next write: the data written is already committed.
    """
    try:
        table = DeltaTable(table_uri, storage_options=storage_options)
        stale = table.vacuum(retention_hours=retention_hours, dry_run=True, enforce_retention_duration=False)
        sizes = []
        if "://" not in table_uri:  # the list repeats files an earlier vacuum deleted: count those still here
            stale = [name for name in stale if Path(table_uri, name).is_file()]
            sizes = [Path(table_uri, name).stat().st_size for name in stale]
        if stale:
            table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    except Exception as exc:  # noqa: BLE001 -- anything vacuum raises leaves the committed data as it is
        log.warning(f"{table_uri}: vacuum failed ({type(exc).__name__}: {exc}); the replaced files stay until the next write")
        return {"vacuumed_files": 0, "vacuumed_bytes": 0}
    return {"vacuumed_files": len(stale), "vacuumed_bytes": sum(sizes)}


def _sql_string(value: str) -> str:
    """``value`` inside a single-quoted SQL literal (quotes doubled)."""
    return str(value).replace("'", "''")


def _single_partition(table_slice: TableSlice) -> tuple[str, str]:
    """The (column, value) of the one static partition a partitioned table is written by."""
    dimensions = table_slice.partition_dimensions or []
    if len(dimensions) != 1 or len(dimensions[0].partitions) != 1:
        raise ValueError(f"{table_slice.table}: a partitioned table is written one partition (one batch or outcome) at a time")
    return dimensions[0].partition_expr, str(dimensions[0].partitions[0])


def partition_versions(table_uri: str, storage_options: dict, column: str, value: str, version_column: str) -> list[str]:
    """The versions a partition of a versioned table holds now (sorted oldest first); none for a new table."""
    try:
        table = DeltaTable(table_uri, storage_options=storage_options)
    except TableNotFoundError:
        return []
    return sorted({partition[version_column] for partition in table.partitions() if partition.get(column) == value})


def _single_version(frame: pd.DataFrame, version_column: str, table: str, partition: str) -> str:
    versions = frame[version_column].unique().tolist()
    if len(versions) != 1:
        raise ValueError(f"{table}[{partition}]: rows must share one {version_column}, got {versions}")
    return check_model_version(versions[0])


def _partition_scope(partition: tuple[str, str] | None) -> tuple[list[str] | None, str | None]:
    """(partition columns, overwrite predicate) of a plain write: the whole table, or one partition."""
    if partition is None:
        return None, None
    column, value = partition
    return [column], f"{column} = '{_sql_string(value)}'"


def _version_scope(uri: str, options: dict, partition: tuple[str, str], version_column: str, new: str, kept: int) -> tuple[list[str], str]:
    """(partition columns, overwrite predicate) of a versioned write, from the versions the partition holds now."""
    column, value = partition
    existing = partition_versions(uri, options, column, value, version_column)
    replaced = sorted(set(replaced_versions(existing, new, kept)) | {new})
    listed = ", ".join(f"'{_sql_string(v)}'" for v in replaced)
    return [column, version_column], f"{column} = '{_sql_string(value)}' AND {version_column} IN ({listed})"


def replaced_versions(existing: list[str], new: str, kept: int) -> list[str]:
    """Versions one write removes: ``new`` itself (a re-run replaces it) and all but the newest ``kept - 1`` others."""
    others = sorted(v for v in existing if v != new)
    survivors = set(others[-(kept - 1) :]) if kept > 1 else set()
    return [v for v in existing if v not in survivors]


def without_null_columns(table: pa.Table) -> pa.Table:
    """``table`` with every column of Arrow's null type (no value at all, e.g. postcodes in a city without any)
    as a string column of nulls: Delta has no type for it, and readers refuse a table that has one."""
    for index, field in enumerate(table.schema):
        if pa.types.is_null(field.type):
            table = table.set_column(index, pa.field(field.name, pa.string()), pa.nulls(table.num_rows, pa.string()))
    return table


class WarehouseTypeHandler(DeltaLakePandasTypeHandler):
    """pandas frames to Delta tables: one commit per write, bounded retries, kept versions, metadata for the UI."""

    def handle_output(self, context: OutputContext, table_slice: TableSlice, obj: pd.DataFrame, connection: TableConnection):
        data = without_null_columns(pa.Table.from_pandas(obj, preserve_index=False))
        version_column = (context.definition_metadata or {}).get(VERSIONED_METADATA_KEY)
        partition = _single_partition(table_slice) if table_slice.partition_dimensions else None
        uri, options = connection.table_uri, connection.storage_options
        extra = {}
        if version_column is None:
            scope = functools.partial(_partition_scope, partition)
        else:
            if partition is None:
                raise ValueError(f"{table_slice.table}: a versioned table must be partitioned (by outcome)")
            new = _single_version(obj, version_column, table_slice.table, partition[1])
            kept = int((context.resource_config or {}).get("versions_kept", 3))
            scope = functools.partial(_version_scope, uri, options, partition, version_column, new, kept)
            extra = {version_column: new}

        # A whole table is compared with what its last write stored; an unchanged one is not written again.
        content = content_sha256(data) if partition is None else None
        if content is not None and last_written_content(uri, options) == content:
            context.log.info(f"{table_slice.table}: the same rows as its last write; not rewritten")
            context.add_output_metadata(
                {
                    "rows_written": 0,
                    "unchanged": True,
                    "rows": data.num_rows,
                    "delta_table_version": DeltaTable(uri, storage_options=options).version(),
                    "table_uri": dg.MetadataValue.path(uri),
                }
            )
            return
        custom = {"sview.asset": table_slice.table, **({"sview.partition": partition[1]} if partition else {}), **({CONTENT_KEY: content} if content else {})}

        def write():
            partition_by, predicate = scope()
            write_deltalake(
                uri,
                data,
                mode="overwrite",
                partition_by=partition_by,
                predicate=predicate,
                # A whole-table write may change the columns; a partition write may add some (older partitions read null there).
                schema_mode="overwrite" if partition_by is None else "merge",
                storage_options=options,
                commit_properties=CommitProperties(custom_metadata=custom),
            )

        retries = commit_with_retries(write, table_slice.table, context.log)
        retention = int((context.resource_config or {}).get("vacuum_retention_hours", DEFAULT_VACUUM_RETENTION_HOURS))
        extra.update(vacuum_replaced_files(uri, options, retention, context.log))
        if version_column is not None:
            extra["versions_kept"] = ", ".join(partition_versions(uri, options, partition[0], partition[1], version_column))
        columns = dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=str(f.type)) for f in data.schema])
        context.add_output_metadata(
            {
                "rows_written": data.num_rows,
                "delta_table_version": DeltaTable(uri, storage_options=options).version(),
                "commit_retries": retries,
                "table_uri": dg.MetadataValue.path(uri),
                "dagster/column_schema": columns,
                **extra,
            }
        )

    def load_input(self, context: InputContext, table_slice: TableSlice, connection: TableConnection) -> pd.DataFrame:
        frame = super().load_input(context, table_slice, connection)
        upstream = context.upstream_output.definition_metadata if context.upstream_output else {}
        version_column = (upstream or {}).get(VERSIONED_METADATA_KEY)
        if version_column is None or frame.empty:
            return frame
        newest = frame[version_column].max()
        return frame[frame[version_column] == newest].reset_index(drop=True)


class WarehouseIOManager(DeltaLakePandasIOManager):
    """Dagster's Delta Lake pandas I/O manager for the city's warehouse (see the module docstring)."""

    versions_kept: int = Field(default=3, ge=1, description="Model versions kept per outcome in the prediction and metric tables (the newest first).")
    vacuum_retention_hours: int = Field(
        default=DEFAULT_VACUUM_RETENTION_HOURS,
        ge=0,
        description="Hours a replaced data file stays on disk before a later write deletes it: longer than any query or write "
        "runs. 0 is only for a warehouse with one writer and no reader at a time.",
    )

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [WarehouseTypeHandler()]

    def create_io_manager(self, context):
        if "://" not in self.root_uri:
            ensure_writable_folder(Path(self.root_uri))
        return super().create_io_manager(context)
