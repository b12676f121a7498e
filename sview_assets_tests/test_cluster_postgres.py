"""The Dagster instance on PostgreSQL: a throwaway server on 127.0.0.1, runs and materializations stored there."""

import os
import subprocess
import sys
import time

import dagster as dg
import pytest

from sview_assets.cluster.postgres import URL_ENV, LocalPostgres
from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.defs.watchdog import fail_dead_runs

from .helpers import definitions_for_city

pytestmark = pytest.mark.cluster


@pytest.fixture
def postgres():
    server = LocalPostgres().start()
    try:
        yield server
    finally:
        server.remove()


def test_runs_and_materializations_go_to_postgres_and_the_server_is_stopped_by_pid(postgres, tiny_city, tmp_path, monkeypatch):
    import psycopg2

    home = postgres.dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv(URL_ENV, postgres.url)
    defs = definitions_for_city(tiny_city)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("tiny__labels_job").execute_in_process(instance=instance)
        assert result.success
        outcomes = instance.get_dynamic_partitions("tiny__outcome")
    with psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="dagster") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs")
        assert cursor.fetchall() == [(result.run_id, "SUCCESS")]
        cursor.execute("SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        keys = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'tiny__outcome'")
        registered = cursor.fetchone()[0]
    assert keys == {dg.AssetKey(["tiny", "postcode_locations"]).to_string(), dg.AssetKey(["tiny", "lsoa_labels"]).to_string()}
    assert registered == len(outcomes) == 14
    pid = postgres.pid()
    postgres.stop()
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)


def pipeline(settings, home, url: str) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home), URL_ENV: url, "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": settings.city}
    command = [sys.executable, "-m", "sview_assets.cli.pipeline", "--outcomes", "income", "--epochs", "40", "--patience", "40", "--folds", "2"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def with_password(url: str) -> str:
    """The server trusts 127.0.0.1, so any password connects; the messages must never show it."""
    return url.replace("postgres@", "postgres:s3cret-pw@")


def test_a_database_down_at_start_is_named_without_its_password(postgres, tiny_city, tmp_path):
    home = postgres.dagster_home(tmp_path / "dagster_home")
    postgres.stop()
    done = pipeline(tiny_city, home, with_password(postgres.url))
    stderr = done.communicate(timeout=300)[1]
    assert done.returncode != 0
    assert f"SVIEW_POSTGRES_URL=postgresql+psycopg2://postgres:***@127.0.0.1:{postgres.port}/dagster) does not answer" in stderr, stderr[-2000:]
    assert "s3cret-pw" not in stderr and "Traceback" not in stderr


def extracting(instance) -> bool:
    """Whether a run extracting VGG16 features (several seconds long) has started."""
    started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return any(key.path[-1] == "vgg16_features" for run in started for key in run.asset_selection or ())


def test_a_database_lost_mid_run_fails_clearly_and_leaves_no_run_to_block_the_queue(postgres, tiny_city, tmp_path):
    home = postgres.dagster_home(tmp_path / "dagster_home")
    url = with_password(postgres.url)
    running = pipeline(tiny_city, home, url)
    os.environ[URL_ENV] = url
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not extracting(instance):
                time.sleep(0.2)
        postgres.stop()
        stderr = running.communicate(timeout=300)[1]
        assert running.returncode != 0
        assert "SVIEW_POSTGRES_URL=postgresql+psycopg2://postgres:***@" in stderr and "s3cret-pw" not in stderr, stderr[-3000:]
        postgres.serve()
        with dg.DagsterInstance.from_config(str(home)) as instance:
            failed = fail_dead_runs(instance)
            unfinished = instance.get_runs(
                filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING])
            )
        assert failed and unfinished == [], "the run the lost database left STARTED is marked failed"
    finally:
        os.environ.pop(URL_ENV, None)
        if running.poll() is None:
            running.kill()
