"""Slow end-to-end cases: the real webserver driven over GraphQL, and concurrent runs on one DuckDB file."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from sview_assets.settings import PROJECT_ROOT
from sview_assets.sql import connect

from .conftest import make_city

pytestmark = pytest.mark.slow
TINY_TRAIN = {"epochs": 2, "batch_size": 16, "patience": 2, "folds": 3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def city_environment(settings, dagster_home: Path) -> dict:
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "instance" / "dagster.yaml", dagster_home / "dagster.yaml")
    return {**os.environ, "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": settings.city, "DAGSTER_HOME": str(dagster_home), "SVIEW_TF_THREADS": "1"}


def wait_for_server(port: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the Dagster webserver did not come up")


def guard_refusals(port: int) -> dict[str, int]:
    """Status codes the guarded UI gives to requests another web page or a rebound name could send."""

    def status(url, headers=None, data=None):
        request = urllib.request.Request(url, headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    base = f"http://127.0.0.1:{port}"
    mutation = urllib.parse.quote("mutation { launchPipelineExecution(executionParams: {}) { __typename } }")
    body = json.dumps({"query": "{ version }"}).encode()
    return {
        "ui_page": status(base + "/"),
        "post_query_local": status(base + "/graphql", {"Content-Type": "application/json", "Origin": base}, body),
        "get_mutation": status(f"{base}/graphql?query={mutation}"),
        "post_from_other_site": status(base + "/graphql", {"Content-Type": "application/json", "Origin": "https://evil.example"}, body),
        "rebound_host": status(base + "/graphql", {"Content-Type": "application/json", "Host": f"evil.example:{port}"}, body),
    }


def websocket_acknowledged(port: int, origin: str) -> bool:
    """Whether the UI's GraphQL websocket accepts a browser connection from ``origin`` and answers its init."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    try:
        with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-ws"], origin=origin, open_timeout=10) as socket_:
            socket_.send(json.dumps({"type": "connection_init", "payload": {}}))
            return json.loads(socket_.recv(timeout=10))["type"] == "connection_ack"
    except InvalidStatus:
        return False


def wait_for_run_end(client, run_id: str, timeout: float):
    """The run's final status, or its status when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            break
        time.sleep(2)
    return status


def killed_run_unblocks_the_queue(client, dagster_home: str) -> None:
    """kill -9 a running run's process: the watchdog fails it and the run queued behind it completes."""
    from sview_assets.watchdog import WATCH_INTERVAL_SECONDS, run_worker_pid

    victim = client.submit_job_execution("image_features_job", tags={"dagster/partition": "batch_000"})
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        deadline = time.monotonic() + 120
        while (worker := run_worker_pid(instance, victim)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker is not None, "the run to kill never started"
        waiting = client.submit_job_execution("labels_job")
        os.kill(worker[0], signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_for_run_end(client, victim, 120) == dg.DagsterRunStatus.FAILURE
        assert time.monotonic() - killed_at < 4 * WATCH_INTERVAL_SECONDS + 30
        assert wait_for_run_end(client, waiting, 180) == dg.DagsterRunStatus.SUCCESS


def test_whole_pipeline_through_graphql_behind_the_guard(tmp_path):
    from dagster_graphql import DagsterGraphQLClient

    settings = make_city(tmp_path / "data", city="e2e")
    env = city_environment(settings, tmp_path / "dagster_home")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "sview_assets.ui", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=open(tmp_path / "dagster_dev.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_server(port, server)
        assert guard_refusals(port) == {"ui_page": 200, "post_query_local": 200, "get_mutation": 405, "post_from_other_site": 403, "rebound_host": 403}
        assert websocket_acknowledged(port, f"http://127.0.0.1:{port}")
        assert not websocket_acknowledged(port, "https://evil.example")
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_config = {"ops": {"materialize_city": {"config": {"outcomes": ["income", "control"], "train": TINY_TRAIN}}}}
        run_id = client.submit_job_execution("whole_pipeline", run_config=run_config)
        assert wait_for_run_end(client, run_id, 480) == dg.DagsterRunStatus.SUCCESS, (tmp_path / "dagster_dev.log").read_text()[-4000:]
        killed_run_unblocks_the_queue(client, env["DAGSTER_HOME"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    with connect(settings) as connection:
        summary = connection.execute("SELECT outcome, method, n_lsoas FROM metrics_summary ORDER BY outcome, method").fetchall()
        locations = connection.execute("SELECT outcome, count(*) FROM location_predictions GROUP BY outcome ORDER BY outcome").fetchall()
        labels = connection.execute("SELECT count(DISTINCT outcome), count(*) FROM lsoa_labels").fetchone()
    assert summary == [("control", "decile_mean", 20), ("control", "score_mean", 20), ("income", "decile_mean", 20), ("income", "score_mean", 20)]
    assert locations == [("control", 60), ("income", 60)]
    assert labels == (14, 14 * 20)


def test_concurrent_outcome_runs_share_the_warehouse_without_lock_errors(built_city, tmp_path):
    settings, _, _ = built_city
    env = city_environment(settings, tmp_path / "dagster_home")
    outcomes = ["health", "unemployment", "mean_income"]
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        # Create the instance's databases once, before three processes open them, with the city's
        # outcome partitions (lsoa_labels registers them in a normal run).
        instance.add_dynamic_partitions("outcome", outcomes)
    code = "import sys; from sview_assets_tests.helpers import run_outcome_with_multiprocess_executor as run; run(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, outcome], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for outcome in outcomes
    ]
    outputs = [p.communicate(timeout=540)[0] for p in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
    with connect(settings) as connection:
        rows = dict(connection.execute("SELECT outcome, count(*) FROM model_metrics GROUP BY outcome").fetchall())
    assert all(rows.get(o) == 2 for o in outcomes)


def test_cli_trains_exactly_the_outcomes_a_city_without_income_and_extras_has(tmp_path):
    from sview_assets.outcomes import CENSUS, IOD, OUTCOMES
    from sview_assets.sources.files import DEFAULT_SOURCE_FILES

    settings = make_city(tmp_path / "data", city="plain")
    for source in ("income", "extra"):
        (settings.paths.raw / DEFAULT_SOURCE_FILES[source]).unlink()
    env = city_environment(settings, tmp_path / "dagster_home")
    command = [sys.executable, "-m", "sview_assets.pipeline", "--epochs", "2", "--patience", "2", "--folds", "3"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = {o.key for o in OUTCOMES if o.source in (IOD, CENSUS)}
    with connect(settings) as connection:
        trained = {row[0] for row in connection.execute("SELECT DISTINCT outcome FROM model_metrics").fetchall()}
        wide_columns = [row[0] for row in connection.execute("DESCRIBE lsoa_predictions_wide").fetchall()]
    assert trained == expected and len(expected) == 11
    assert set(wide_columns) == expected | {"lsoa11"}
    assert all(f"(`{key}`)" in done.stdout for key in expected) and "`mean_income`" not in done.stdout
