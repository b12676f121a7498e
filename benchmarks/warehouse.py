"""Write and read throughput of `location_predictions` at London size: the Delta warehouse against the former DuckDB file.

London has 156,581 image locations and 14 outcomes. Both layers are written through their Dagster I/O
manager, one outcome partition per materialization (as the pipeline does), in the same process one
after the other: the former stock DuckDB pandas I/O manager into one `.duckdb` file, and sview's
Delta Lake I/O manager (each write also keeps the previous model versions). Then every outcome is
written again (a retrain: for Delta a second kept version), and the whole table is read back with
one SQL aggregate in DuckDB (opening the connection timed apart from the query). Prints JSON with seconds, rows per second and the ratios delta/duckdb.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_rss_mb  # noqa: E402

LONDON_LOCATIONS = 156_581
LONDON_OUTCOMES = 14
READ_SQL = "SELECT outcome, count(*), avg(score), avg(abs(predicted_decile - true_decile)) FROM location_predictions GROUP BY outcome"


def predictions(locations: int, outcome: str, version: int) -> pd.DataFrame:
    """One outcome's rows with the real table's columns and types."""
    rng = np.random.default_rng(version * 100 + len(outcome))
    lsoa = rng.integers(0, 4_835, locations)
    return pd.DataFrame(
        {
            "outcome": outcome,
            "img_id": np.arange(locations, dtype="int64"),
            "pcd": [f"E{i % 99:02d} {i % 9}AB" for i in range(locations)],
            "lsoa11": [f"E0100{v:04d}" for v in lsoa],
            "fold": rng.integers(0, 5, locations),
            "score": rng.normal(size=locations),
            "predicted_decile": rng.integers(1, 11, locations),
            "true_decile": rng.integers(1, 11, locations),
            "model_version": f"2026010{version}T000000Z-0000000{version}",
        }
    )


def timed_writes(io_manager, outcomes: list[str], locations: int, version: int) -> float:
    """Seconds to materialize every outcome partition once through ``io_manager``."""
    partitions = dg.StaticPartitionsDefinition(outcomes)
    from sview_assets.warehouse.tables import VERSION_COLUMN, VERSIONED_METADATA_KEY

    @dg.asset(partitions_def=partitions, metadata={"partition_expr": "outcome", VERSIONED_METADATA_KEY: VERSION_COLUMN})
    def location_predictions(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return frames[context.partition_key]

    frames = {o: predictions(locations, o, version) for o in outcomes}
    instance = dg.DagsterInstance.ephemeral()
    start = time.perf_counter()
    for outcome in outcomes:
        assert dg.materialize([location_predictions], partition_key=outcome, resources={"io_manager": io_manager}, instance=instance).success
    return time.perf_counter() - start


def timed_read(connect) -> tuple[float, float, int]:
    """Seconds to open a connection (for Delta: load the extension, define the views), seconds of one full-table aggregate, rows it saw."""
    start = time.perf_counter()
    connection = connect()
    opened = time.perf_counter()
    rows = connection.execute(READ_SQL).fetchall()
    seconds = time.perf_counter() - opened
    connection.close()
    return opened - start, seconds, sum(r[1] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=LONDON_LOCATIONS)
    parser.add_argument("--outcomes", type=int, default=LONDON_OUTCOMES)
    args = parser.parse_args()

    import duckdb
    from dagster_deltalake import LocalConfig
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    from sview_assets.warehouse.delta_io import WarehouseIOManager
    from sview_assets.warehouse.duckdb_views import attach_warehouses
    from sview_assets.warehouse.tables import SCHEMA

    outcomes = [f"outcome_{i:02d}" for i in range(args.outcomes)]
    rows = args.locations * args.outcomes
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "warehouse.duckdb"
        warehouse = Path(tmp) / "warehouse"
        duck = DuckDBPandasIOManager(database=str(database), schema=SCHEMA)
        delta = WarehouseIOManager(root_uri=str(warehouse), storage_options=LocalConfig(), schema=SCHEMA, versions_kept=3)
        seconds = {
            "duckdb_write": timed_writes(duck, outcomes, args.locations, 1),
            "delta_write": timed_writes(delta, outcomes, args.locations, 1),
            "duckdb_rewrite": timed_writes(duck, outcomes, args.locations, 2),
            "delta_rewrite": timed_writes(delta, outcomes, args.locations, 2),
        }

        def delta_connection():
            connection = duckdb.connect()
            attach_warehouses(connection, {"bench": warehouse}, "bench")
            return connection

        seconds["duckdb_connect"], seconds["duckdb_read"], duck_rows = timed_read(lambda: duckdb.connect(str(database), read_only=True))
        seconds["delta_connect"], seconds["delta_read"], delta_rows = timed_read(delta_connection)
        assert duck_rows == delta_rows == rows, (duck_rows, delta_rows, rows)
        disk = {
            "duckdb_file_mb": round(database.stat().st_size / 2**20, 1),
            "delta_folder_mb": round(sum(f.stat().st_size for f in warehouse.rglob("*") if f.is_file()) / 2**20, 1),
        }
    emit(
        {
            "benchmark": "warehouse_location_predictions",
            "locations": args.locations,
            "outcomes": args.outcomes,
            "rows": rows,
            "seconds": {k: round(v, 2) for k, v in seconds.items()},
            "rows_per_second": {k: round(rows / v) for k, v in seconds.items() if not k.endswith("connect")},
            "ratio_delta_over_duckdb": {
                "write": round(seconds["delta_write"] / seconds["duckdb_write"], 2),
                "rewrite": round(seconds["delta_rewrite"] / seconds["duckdb_rewrite"], 2),
                "read_query": round(seconds["delta_read"] / seconds["duckdb_read"], 2),
            },
            "target": "write ratio <= 1.5",
            "disk": disk,
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
