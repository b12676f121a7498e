"""Writers and a reader of warehouse tables, run as separate processes by the warehouse tests.

Each write goes through the real I/O manager and stores ``ROWS`` rows that share one ``generation``
(and, for the versioned table, one model version), so a reader can tell a complete write from a
partial or mixed one.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from sview_assets.warehouse.delta_io import WarehouseIOManager
from sview_assets.warehouse.tables import SCHEMA, VERSION_COLUMN, VERSIONED_METADATA_KEY

ROWS = 400_000
OUTCOMES = ("a", "b", "c", "d")
outcome_partitions = dg.StaticPartitionsDefinition(list(OUTCOMES))


class WriteConfig(dg.Config):
    generation: int


def rows(generation: int, outcome: str | None = None) -> pd.DataFrame:
    """``ROWS`` rows of one generation; the versioned table's model version encodes the generation."""
    frame = pd.DataFrame({"img_id": np.arange(ROWS, dtype="int64"), "score": np.random.default_rng(generation).random(ROWS), "generation": generation})
    if outcome is not None:
        frame.insert(0, "outcome", outcome)
        start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=generation)
        frame[VERSION_COLUMN] = f"{start:%Y%m%dT%H%M%SZ}-{generation:08x}"
    return frame


@dg.asset
def postcode_locations(config: WriteConfig) -> pd.DataFrame:
    return rows(config.generation)


@dg.asset(partitions_def=outcome_partitions, metadata={"partition_expr": "outcome", VERSIONED_METADATA_KEY: VERSION_COLUMN})
def location_predictions(context: dg.AssetExecutionContext, config: WriteConfig) -> pd.DataFrame:
    return rows(config.generation, context.partition_key)


@dg.asset(partitions_def=outcome_partitions, metadata={"partition_expr": "outcome", VERSIONED_METADATA_KEY: VERSION_COLUMN})
def lsoa_predictions(context: dg.AssetExecutionContext, config: WriteConfig) -> pd.DataFrame:
    return rows(config.generation, context.partition_key).head(1000)


@dg.asset(partitions_def=outcome_partitions, metadata={"partition_expr": "outcome", VERSIONED_METADATA_KEY: VERSION_COLUMN})
def model_metrics(context: dg.AssetExecutionContext, config: WriteConfig) -> pd.DataFrame:
    described = {
        "trained_at": "2026-01-01T00:00:00Z",
        "preset": "default",
        "feature_preprocessing": "caffe",
        "feature_weights_sha256": "0" * 64,
        "feature_precision": "float32",
    }
    return rows(config.generation, context.partition_key).head(2).assign(**described)


ASSETS = {
    "postcode_locations": postcode_locations,
    "location_predictions": location_predictions,
    "lsoa_predictions": lsoa_predictions,
    "model_metrics": model_metrics,
}
CHAIN = ("location_predictions", "lsoa_predictions", "model_metrics")


def write(warehouse: str, table: str, generation: int, outcome: str | None = None, versions_kept: int = 2, vacuum_retention_hours: int = 1) -> dict:
    """One materialization of ``table`` (one outcome of the versioned one) with the given generation; returns its metadata."""
    asset = ASSETS[table]
    io_manager = WarehouseIOManager(
        root_uri=warehouse, storage_options={"local": {}}, schema=SCHEMA, versions_kept=versions_kept, vacuum_retention_hours=vacuum_retention_hours
    )
    result = dg.materialize(
        [asset],
        partition_key=outcome,
        resources={"io_manager": io_manager},
        run_config={"ops": {table: {"config": {"generation": generation}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    if not result.success:
        raise SystemExit(f"write of {table} generation {generation} failed")
    return {key: value.value for key, value in result.asset_materializations_for_node(table)[0].metadata.items()}


def write_generations(warehouse: str, table: str, first: int, count: int, outcome: str | None = None) -> None:
    """Write ``count`` generations in a row, printing when each write starts and ends (tests kill this midway)."""
    for generation in range(first, first + count):
        print(f"writing {generation}", flush=True)
        write(warehouse, table, generation, outcome)
        print(f"wrote {generation}", flush=True)


def write_chain_then_wait(warehouse: str, generation: int, outcome: str, tables: int) -> None:
    """Write the first ``tables`` tables of a model's chain (predictions, then metrics), say so, and wait to be killed."""
    for table in CHAIN[:tables]:
        write(warehouse, table, generation, outcome, versions_kept=3)
    print("written", flush=True)
    time.sleep(600)


def hold_and_query(warehouse: str, stop_file: str) -> None:
    """Keep one connection open and query the current predictions until ``stop_file`` exists; print a JSON summary.

    Every query must see each outcome's rows from one model version only (the old rows or the new ones).
    """
    import duckdb

    from sview_assets.warehouse.duckdb_views import attach_warehouses

    connection = duckdb.connect()
    attach_warehouses(connection, {"held": Path(warehouse)}, "held")
    print("connected", flush=True)
    queries, mixed, errors, seen = 0, 0, [], set()
    while not Path(stop_file).exists():
        try:
            groups = connection.execute(
                "SELECT outcome, count(DISTINCT model_version), any_value(model_version) FROM location_predictions GROUP BY outcome"
            ).fetchall()
            queries += 1
            mixed += sum(1 for _, versions, _ in groups if versions != 1)
            seen.update(f"{outcome}:{version}" for outcome, _, version in groups)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    print(json.dumps({"queries": queries, "mixed": mixed, "errors": errors, "versions_seen": sorted(seen)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write_generations(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6] if len(sys.argv) > 6 else None)
    elif sys.argv[1] == "chain":
        write_chain_then_wait(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    else:
        hold_and_query(sys.argv[2], sys.argv[3])
