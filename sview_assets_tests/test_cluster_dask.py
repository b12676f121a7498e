"""Steps of one run executed by two Dask worker processes, with the instance on PostgreSQL: the labels of two
cities in one run, both workers running steps at the same time, and tables equal to a single-machine run's."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from sview_assets.cluster.dask_cluster import LocalDaskCluster
from sview_assets.cluster.placements import step_spans
from sview_assets.cluster.postgres import URL_ENV, LocalPostgres
from sview_assets.config.settings import PROJECT_ROOT, SviewSettings
from sview_assets.defs.executors import DASK_SCHEDULER_ENV, EXECUTOR_ENV
from sview_assets.sql import connect
from sview_assets.util.ports import free_port

from . import helpers
from .helpers import definitions_for_city

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


def test_a_worker_killed_mid_step_fails_the_run_naming_both_and_a_rerun_succeeds(tmp_path, monkeypatch):
    postgres = LocalPostgres().start()
    home = postgres.dagster_home(tmp_path / "dagster_home")
    marker = tmp_path / "wait" / "running_on"
    marker.parent.mkdir()
    shared = {URL_ENV: postgres.url, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_ROOT), helpers.WAIT_FILE_ENV: str(marker)}
    cluster = LocalDaskCluster(tmp_path / "dask", WORKERS, shared)
    try:
        cluster.start()
        for key, value in {**shared, EXECUTOR_ENV: "dask", DASK_SCHEDULER_ENV: cluster.address}.items():
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(home)) as instance, ThreadPoolExecutor(1) as pool:
            job = dg.reconstructable(helpers.a_step_that_waits_from_environment)
            pending = pool.submit(dg.execute_job, job, instance=instance, raise_on_error=False)
            deadline = time.monotonic() + 120
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            victim = marker.read_text()
            cluster.processes[victim].kill()
            failed = pending.result(timeout=120)
            assert not failed.success
            failures = [e.dagster_event.event_specific_data for e in instance.all_logs(failed.run_id) if e.dagster_event and e.dagster_event.is_run_failure]
            message = " ".join(str(f) for f in failures)
            assert f"Step wait_on_a_worker was running on Dask worker '{victim}'" in message, message
            (marker.parent / "go").touch()
            assert dg.execute_job(job, instance=instance).success, "the surviving worker runs the step again"
    finally:
        cluster.stop()
        postgres.remove()


def test_a_scheduler_that_does_not_answer_fails_the_run_quickly_naming_its_address(tmp_path, monkeypatch):
    address = f"tcp://127.0.0.1:{free_port()}"
    postgres = LocalPostgres().start()
    try:
        home = postgres.dagster_home(tmp_path / "dagster_home")
        for key, value in {URL_ENV: postgres.url, "DAGSTER_HOME": str(home), EXECUTOR_ENV: "dask", DASK_SCHEDULER_ENV: address}.items():
            monkeypatch.setenv(key, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            result = dg.execute_job(dg.reconstructable(helpers.a_step_for_another_scheduler_from_environment), instance=instance, raise_on_error=False)
            failures = [
                str(e.dagster_event.event_specific_data) for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.is_run_failure
            ]
        assert not result.success and any(f"The Dask scheduler at {address} (SVIEW_DASK_SCHEDULER) did not answer within 10 s" in f for f in failures), failures
    finally:
        postgres.remove()
