"""Steps of one run executed by two Dask worker processes, with the instance on PostgreSQL: the labels of two
cities in one run, both workers running steps at the same time, and tables equal to a single-machine run's."""

from pathlib import Path

import dagster as dg
import pytest

from sview_assets.cluster.dask_cluster import LocalDaskCluster
from sview_assets.cluster.placements import step_spans
from sview_assets.cluster.postgres import URL_ENV, LocalPostgres
from sview_assets.definitions import definitions_for_city
from sview_assets.executors import DASK_SCHEDULER_ENV, EXECUTOR_ENV
from sview_assets.settings import PROJECT_ROOT, SviewSettings
from sview_assets.sql import connect

from . import helpers

pytestmark = pytest.mark.cluster
WORKERS = ("worker_a", "worker_b")
CITIES = ("tiny", "tiny_b")


def tables(settings):
    with connect(settings) as connection:
        return {name: connection.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchdf() for name in ("postcode_locations", "lsoa_labels")}


def test_steps_of_one_run_run_on_two_dask_workers_at_once_and_equal_a_single_machine_run(tiny_city, tmp_path, monkeypatch):
    tiny_city.paths.copy_inputs_to(tiny_city.storage().for_city("tiny_b").paths)
    (Path(tiny_city.data_root) / "cities.toml").write_text('cities = ["tiny", "tiny_b"]\n')
    monkeypatch.delenv("SVIEW_CITY", raising=False)
    postgres = LocalPostgres().start()
    home = postgres.dagster_home(tmp_path / "dagster_home")
    shared = {URL_ENV: postgres.url, "DAGSTER_HOME": str(home), "SVIEW_DATA_ROOT": tiny_city.data_root, "PYTHONPATH": str(PROJECT_ROOT)}
    cluster = LocalDaskCluster(tmp_path / "dask", WORKERS, shared)
    try:
        cluster.start()
        pids, address = cluster.worker_pids(), cluster.address
        for key, value in {**shared, EXECUTOR_ENV: "dask", DASK_SCHEDULER_ENV: address}.items():
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            result = dg.execute_job(dg.reconstructable(helpers.labels_of_every_city_from_environment), instance=instance)
            assert result.success
            spans = step_spans(instance, [result.run_id], pids)
        assert spans and {span.worker for span in spans} == set(WORKERS), f"every step runs on a worker, and both workers run steps: {spans}"
        # The two cities' steps are independent chains, so the two workers have work at the same time.
        overlapping = [(a, b) for a in spans for b in spans if a.worker < b.worker and a.start < b.end and b.start < a.end]
        assert overlapping, f"steps on different workers ran at the same time: {spans}"
    finally:
        cluster.stop()
        postgres.remove()

    monkeypatch.delenv(EXECUTOR_ENV)
    for city in CITIES:
        alone = SviewSettings(data_root=str(tmp_path / "single"), city=city)
        tiny_city.paths.copy_inputs_to(alone.paths)
        assert definitions_for_city(alone).resolve_job_def(f"{city}__labels_job").execute_in_process(instance=dg.DagsterInstance.ephemeral()).success
        distributed, single = tables(tiny_city.storage().for_city(city)), tables(alone)
        for name in single:
            assert len(single[name]) and distributed[name].equals(single[name]), f"{city}/{name}"
