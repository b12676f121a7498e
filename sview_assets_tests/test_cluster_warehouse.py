"""Four runs, each writing a different outcome's warehouse partitions, executed at once by four Dask worker
processes (the instance on PostgreSQL, the data root shared), while a person's connection runs the
README's example queries in a loop: no error, no lost or doubled rows, and the tables end as the runs left them."""

import json
import subprocess
import sys

import dagster as dg
import pytest

from sview_assets.cli.run_launch import EngineRunner, RunSpec
from sview_assets.cluster.dask_cluster import LocalDaskCluster
from sview_assets.cluster.placements import step_spans
from sview_assets.cluster.postgres import LocalPostgres
from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.defs.executors import DASK_SCHEDULER_ENV, EXECUTOR_ENV
from sview_assets.defs.scope import CityScope
from sview_assets.sql import connect

from .helpers import definitions_for_city

pytestmark = pytest.mark.cluster
WORKERS = ("worker_1", "worker_2", "worker_3", "worker_4")
# The README's queries name income and living environment, so both are among the four.
OUTCOMES = ("income", "living_environment", "crime", "health")
CHAIN = ("ordinal_model", "location_predictions", "lsoa_predictions", "model_metrics")
QUICK = {"epochs": 1, "patience": 1, "folds": 2, "batch_size": 16}


def current_versions(settings) -> dict[str, str]:
    with connect(settings) as connection:
        return dict(connection.execute("SELECT outcome, model_version FROM model_versions WHERE is_current").fetchall())


def test_four_writers_on_dask_workers_and_a_reader_of_the_readme_queries(city_copy, tmp_path, monkeypatch):
    settings, _ = city_copy
    scope = CityScope(settings.city)
    config = {"ops": {scope.op_name("ordinal_model"): {"config": QUICK}}}
    # Before: every outcome trained once on this machine, and the summary views written.
    defs = definitions_for_city(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    local = dg.DagsterInstance.ephemeral()
    local.add_dynamic_partitions(scope.outcomes.name, list(OUTCOMES))
    for outcome in OUTCOMES:
        assert job.execute_in_process(instance=local, asset_selection=[scope.key(a) for a in CHAIN], partition_key=outcome, run_config=config).success
    assert job.execute_in_process(instance=local, asset_selection=[scope.key("warehouse_views")]).success
    before = current_versions(settings)
    with connect(settings) as connection:
        rows_before = connection.execute("SELECT outcome, count(*) FROM location_predictions GROUP BY outcome ORDER BY outcome").fetchall()
    # The copied city may hold other outcomes' predictions from earlier tests; they must stay as they are too.
    assert set(OUTCOMES) <= {outcome for outcome, _ in rows_before} and all(n > 0 for _, n in rows_before)

    postgres = LocalPostgres().start()
    home = postgres.dagster_home(tmp_path / "dagster_home")
    shared = {**postgres.environment(), "DAGSTER_HOME": str(home), "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": settings.city}
    cluster = LocalDaskCluster(tmp_path / "dask", WORKERS, shared)
    stop_file = tmp_path / "stop"
    reader = None
    try:
        cluster.start()
        for key, value in {**shared, EXECUTOR_ENV: "dask", DASK_SCHEDULER_ENV: cluster.address}.items():
            monkeypatch.setenv(key, value)
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from sview_assets_tests.helpers import query_readme_until; query_readme_until({settings.data_root!r}, {settings.city!r}, {str(stop_file)!r})",
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout.readline().strip() == "connected"
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(scope.outcomes.name, list(OUTCOMES))
            specs = [RunSpec(f"retrain {o}", tuple(scope.key(a) for a in CHAIN), o, config) for o in OUTCOMES]
            runs = EngineRunner(parallel_runs=len(OUTCOMES)).run(instance, specs, log=print)
            assert [run.success for run in runs] == [True] * len(OUTCOMES), [(run.spec.label, run.run_id) for run in runs]
            spans = step_spans(instance, [run.run_id for run in runs], cluster.worker_pids())
    finally:
        stop_file.touch()
        summary = json.loads(reader.communicate(timeout=120)[0].strip().splitlines()[-1]) if reader else None
        cluster.stop()
        postgres.remove()

    assert len(spans) == len(OUTCOMES) * len(CHAIN) and {span.worker for span in spans} <= set(WORKERS)
    overlapping = [(a, b) for a in spans for b in spans if a.partition < b.partition and a.worker != b.worker and a.start < b.end and b.start < a.end]
    assert len({span.worker for span in spans}) >= 2 and overlapping, f"steps of different outcomes on different workers at once: {spans}"

    assert summary["errors"] == [] and summary["loops"] >= 5, summary
    assert summary["counts"] == [json.dumps([list(row) for row in rows_before])], "every query saw each outcome's rows exactly once, old or new"
    after = current_versions(settings)
    assert all(after[o] > before[o] for o in OUTCOMES), (before, after)
    with connect(settings) as connection:
        kept = set(connection.execute("SELECT DISTINCT outcome, model_version FROM location_predictions_history").fetchall())
    assert all((o, before[o]) in kept and (o, after[o]) in kept for o in OUTCOMES), "the new version and the one before are both kept"
