"""The warehouse under concurrent readers and writers, killed writers, and its SQL entry points (real Delta tables, real processes)."""

import os
import subprocess
import sys
import time

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from sview_assets.config.settings import PROJECT_ROOT, SviewSettings
from sview_assets.defs.assets.views import incomplete_versions
from sview_assets.warehouse.delta_io import WarehouseIOManager, replaced_versions
from sview_assets.warehouse.duckdb_views import attach_warehouses
from sview_assets.warehouse.tables import SCHEMA

from .warehouse_writers import CHAIN, OUTCOMES, ROWS, write

WRITER = [sys.executable, "-m", "sview_assets_tests.warehouse_writers"]


def groups(warehouse, sql):
    connection = duckdb.connect()
    attach_warehouses(connection, {"test": warehouse}, "test")
    return connection.execute(sql).fetchall()


def plain_generations(warehouse):
    """(generation, rows) of the plain table."""
    return groups(warehouse, "SELECT generation, count(*) FROM postcode_locations GROUP BY 1")


def version_groups(warehouse):
    """(outcome, model_version, rows, generations) of every kept version."""
    return groups(warehouse, "SELECT outcome, model_version, count(*), count(DISTINCT generation) FROM location_predictions_history GROUP BY ALL ORDER BY ALL")


def test_a_write_removes_the_rerun_version_and_all_but_the_newest_kept():
    assert replaced_versions(["v1", "v2", "v3"], "v4", kept=3) == ["v1"]
    assert replaced_versions(["v1", "v2", "v3"], "v3", kept=3) == ["v3"]
    assert replaced_versions(["v1", "v2"], "v3", kept=1) == ["v1", "v2"]
    assert replaced_versions([], "v1", kept=2) == []


class Messages:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


def test_a_lost_commit_race_is_retried_a_bounded_number_of_times_and_logged(monkeypatch):
    from deltalake.exceptions import CommitFailedError

    from sview_assets.warehouse import delta_io

    monkeypatch.setattr(delta_io, "FIRST_RETRY_SECONDS", 0.001)
    outcomes = iter([CommitFailedError("Metadata changed since last commit."), CommitFailedError("again"), None])

    def write():
        failure = next(outcomes)
        if failure:
            raise failure

    log = Messages()
    assert delta_io.commit_with_retries(write, "lsoa_labels", log) == 2
    assert len(log.warnings) == 2 and "lsoa_labels: another writer committed first (Metadata changed" in log.warnings[0]

    def always_lose():
        raise CommitFailedError("lost")

    log = Messages()
    with pytest.raises(CommitFailedError, match="gave up after 6 commit attempts"):
        delta_io.commit_with_retries(always_lose, "lsoa_labels", log)
    assert len(log.warnings) == delta_io.COMMIT_ATTEMPTS - 1


def test_versioned_table_keeps_the_newest_versions_and_shows_the_newest(tmp_path):
    warehouse = tmp_path / "warehouse"
    for generation in (1, 2, 3):
        write(str(warehouse), "location_predictions", generation, "a", versions_kept=2)
    write(str(warehouse), "location_predictions", 7, "b", versions_kept=2)
    kept = version_groups(warehouse)
    assert [(o, v[-1], n, g) for o, v, n, g in kept] == [("a", "2", ROWS, 1), ("a", "3", ROWS, 1), ("b", "7", ROWS, 1)]
    assert groups(warehouse, "SELECT outcome, min(generation), max(generation) FROM location_predictions GROUP BY 1 ORDER BY 1") == [("a", 3, 3), ("b", 7, 7)]
    write(str(warehouse), "location_predictions", 3, "a", versions_kept=2)
    assert version_groups(warehouse) == kept


def data_files(warehouse) -> list:
    return [path for path in warehouse.rglob("*.parquet") if "_delta_log" not in path.parts]


def test_retrains_beyond_the_kept_versions_stop_growing_the_warehouse_while_a_held_connection_reads(tmp_path):
    warehouse = tmp_path / "warehouse"
    write(str(warehouse), "location_predictions", 1, "a", versions_kept=2, vacuum_retention_hours=0)
    reader = duckdb.connect()
    attach_warehouses(reader, {"test": warehouse}, "test")
    files, sizes, vacuumed = [], [], []
    for generation in range(2, 8):
        metadata = write(str(warehouse), "location_predictions", generation, "a", versions_kept=2, vacuum_retention_hours=0)
        vacuumed.append((metadata["vacuumed_files"], metadata["vacuumed_bytes"] > 0))
        assert reader.execute("SELECT min(generation), max(generation), count(*) FROM location_predictions").fetchone() == (generation, generation, ROWS)
        files.append(len(data_files(warehouse)))
        sizes.append(sum(path.stat().st_size for path in data_files(warehouse)))
    assert files == [2] * 6, "two kept versions, one file each: the replaced versions' files are gone"
    assert vacuumed == [(0, False)] + [(1, True)] * 5, "the second write replaces nothing; each later one the oldest version"
    assert max(sizes) < 1.1 * min(sizes), sizes


def test_without_vacuum_every_retrain_leaves_its_files(tmp_path):
    warehouse = tmp_path / "warehouse"
    for generation in range(1, 5):
        write(str(warehouse), "location_predictions", generation, "a", versions_kept=2, vacuum_retention_hours=1)
    assert len(data_files(warehouse)) == 4 and len(version_groups(warehouse)) == 2


def test_a_whole_table_with_the_same_rows_as_its_last_write_is_not_written_again(tmp_path):
    warehouse = str(tmp_path / "warehouse")
    first = write(warehouse, "postcode_locations", 1)
    again = write(warehouse, "postcode_locations", 1)
    changed = write(warehouse, "postcode_locations", 2)
    assert (first["rows_written"], again["rows_written"], again.get("unchanged"), changed["rows_written"]) == (ROWS, 0, True, ROWS)
    assert again["delta_table_version"] == first["delta_table_version"] and changed["delta_table_version"] == first["delta_table_version"] + 1
    assert plain_generations(tmp_path / "warehouse") == [(2, ROWS)]


def current_generations(warehouse) -> dict[str, tuple]:
    """Per versioned table, the (outcome, generation) pairs its plain view shows."""
    return {
        table: groups(warehouse, f"SELECT DISTINCT outcome, generation FROM {table} ORDER BY ALL")
        for table in ("location_predictions", "lsoa_predictions", "model_metrics")
    }


@pytest.mark.slow
def test_a_run_killed_between_its_writes_leaves_the_views_on_the_last_model_in_all_three_tables(tmp_path):
    warehouse = tmp_path / "warehouse"
    for outcome in ("a", "b"):
        for table in CHAIN:
            write(str(warehouse), table, 1, outcome, versions_kept=3)
    writer = subprocess.Popen([*WRITER, "chain", str(warehouse), "2", "a", "2"], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "written"
    writer.kill()
    writer.wait()
    assert groups(warehouse, "SELECT DISTINCT outcome, generation FROM location_predictions_history WHERE outcome = 'a' ORDER BY 2") == [("a", 1), ("a", 2)]
    assert current_generations(warehouse) == {table: [("a", 1), ("b", 1)] for table in CHAIN}, "each table on the model all three hold"
    status = groups(
        warehouse, "SELECT outcome, model_version, in_location_predictions, in_lsoa_predictions, in_model_metrics, complete FROM model_version_tables"
    )
    assert [row[2:] for row in status] == [(True, True, True, True), (True, True, False, False), (True, True, True, True)], status
    current = groups(warehouse, "SELECT outcome, model_version FROM model_versions WHERE is_current ORDER BY 1")
    assert current == [(o, v) for o, v, *_, complete in status if complete]
    assert reported_incomplete(warehouse) == [{"outcome": "a", "model_version": status[1][1], "in": ["location_predictions", "lsoa_predictions"]}]
    write(str(warehouse), "model_metrics", 2, "a", versions_kept=3)
    assert current_generations(warehouse) == {table: [("a", 2), ("b", 1)] for table in CHAIN}, "the re-run's last write completes version 2"
    assert reported_incomplete(warehouse) == []


def reported_incomplete(warehouse) -> list[dict]:
    connection = duckdb.connect()
    attach_warehouses(connection, {"test": warehouse}, "test")
    return incomplete_versions(connection)


def _kill_during_writes(warehouse, table, outcome, rng, first):
    """Start a writer looping over generations from ``first``, kill it after a random delay; return (last started, last finished)."""
    command = [*WRITER, "write", str(warehouse), table, str(first), "1000", *([outcome] if outcome else [])]
    writer = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert writer.stdout.readline().startswith("writing")
    time.sleep(rng.uniform(0.3, 2.0))
    writer.kill()
    writer.wait()
    lines = [line.split() for line in writer.stdout.read().splitlines()]
    started = max([first] + [int(n) for word, n in lines if word == "writing"])
    finished = max([first - 1] + [int(n) for word, n in lines if word == "wrote"])
    return started, finished


@pytest.mark.slow
@pytest.mark.parametrize("table, outcome", [("postcode_locations", None), ("location_predictions", "a")])
def test_a_writer_killed_at_any_moment_leaves_the_old_rows_or_the_new(tmp_path, table, outcome):
    warehouse = tmp_path / "warehouse"
    write(str(warehouse), table, 0, outcome)
    rng = np.random.default_rng(7)
    first, mid_write, previous = 1, 0, 0
    for _ in range(8):
        started, finished = _kill_during_writes(warehouse, table, outcome, rng, first)
        if table == "postcode_locations":
            (generation, rows), *others = plain_generations(warehouse)
            current = generation
            assert not others and rows == ROWS
        else:
            kept = version_groups(warehouse)
            assert all(n == ROWS and g == 1 for _, _, n, g in kept) and 1 <= len(kept) <= 2
            current = int(kept[-1][1][-8:], 16)
        # Killed inside write `started`: its rows are there completely, or those of the last write before it.
        last_complete = finished if finished >= first else previous
        assert current in (started, last_complete), (current, started, last_complete)
        mid_write += started > finished
        first, previous = started + 1, current
    assert mid_write >= 4


@pytest.mark.slow
def test_four_writers_and_a_reader_at_once_lose_nothing_and_never_lock(tmp_path):
    warehouse = tmp_path / "warehouse"
    writers = [
        subprocess.Popen(
            [*WRITER, "write", str(warehouse), "location_predictions", str(10 * (i + 1)), "4", outcome],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i, outcome in enumerate(OUTCOMES)
    ]
    queries, errors, seen = 0, [], set()
    while any(w.poll() is None for w in writers):
        try:
            if queries % 2 == 0:
                for outcome, _, rows, generations in version_groups(warehouse):
                    assert rows == ROWS and generations == 1, (outcome, rows, generations)
            else:  # the view of the newest versions: an outcome once there stays there, with one version's rows
                newest = dict(groups(warehouse, "SELECT outcome, count(*) FROM location_predictions GROUP BY 1"))
                assert seen <= set(newest) and all(n == ROWS for n in newest.values()), (seen, newest)
                seen |= set(newest)
            queries += 1
        except duckdb.Error as exc:
            if "location_predictions_history" not in str(exc):  # before the first commit the table does not exist yet
                errors.append(str(exc))
    outputs = [w.communicate()[0] for w in writers]
    assert [w.returncode for w in writers] == [0] * 4, [o[-2000:] for o in outputs]
    assert not errors and queries > 5
    assert not any("lock" in o.lower() for o in outputs)
    expected = [(outcome, g, ROWS, 1) for i, outcome in enumerate(OUTCOMES) for g in (10 * (i + 1) + 2, 10 * (i + 1) + 3)]
    assert [(o, int(v[-8:], 16), n, g) for o, v, n, g in version_groups(warehouse)] == expected


def test_sql_shell_runs_the_readme_queries_on_a_city_warehouse(built_city, tmp_path):
    settings, _, _ = built_city
    env = {**os.environ, "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": settings.city}
    done = subprocess.run(
        [sys.executable, "-m", "sview_assets.sql", "-csv", "-c", "SELECT count(*) AS n, count(DISTINCT outcome) AS outcomes FROM lsoa_labels"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["n,outcomes", f"{14 * 20},14"]


def test_sql_shell_explains_a_city_without_warehouse(tmp_path):
    env = {**os.environ, "SVIEW_DATA_ROOT": str(tmp_path), "SVIEW_CITY": "nowhere"}
    done = subprocess.run([sys.executable, "-m", "sview_assets.sql", "-c", "SELECT 1"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "No warehouse at" in done.stderr and "nowhere" in done.stderr


def test_a_column_without_any_value_is_stored_as_text_that_duckdb_reads(tmp_path):
    @dg.asset
    def postcode_locations() -> pd.DataFrame:
        return pd.DataFrame({"img_id": [1, 2], "pcd": [None, None]})

    io_manager = WarehouseIOManager(root_uri=str(tmp_path), storage_options={"local": {}}, schema=SCHEMA)
    assert dg.materialize([postcode_locations], resources={"io_manager": io_manager}).success
    assert groups(tmp_path, "SELECT img_id, pcd FROM postcode_locations ORDER BY img_id") == [(1, None), (2, None)]
    assert groups(tmp_path, "SELECT data_type FROM information_schema.columns WHERE column_name = 'pcd'") == [("VARCHAR",)]


def test_warehouse_root_setting_moves_the_tables(tmp_path):
    settings = SviewSettings(data_root=str(tmp_path / "data"), city="leeds", warehouse_root=str(tmp_path / "shared"))
    assert settings.warehouse == (tmp_path / "shared" / "leeds").resolve()
    assert SviewSettings(data_root=str(tmp_path / "data"), city="leeds").warehouse == (tmp_path / "data" / "leeds" / "warehouse").resolve()
