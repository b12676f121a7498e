"""Slow end-to-end cases: the real webserver and daemon driven over GraphQL, and the CLI on a city of its own."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from sview_assets.sql import connect
from sview_assets.util.ports import free_port

from .conftest import make_city
from .helpers import ALL_ASSETS, E2E_CITY, city_environment, expected_once, materializations_by_run

pytestmark = pytest.mark.slow
TINY_TRAIN = {"epochs": 2, "batch_size": 16, "patience": 2, "folds": 3}
"""The served city's training.toml: the daemon's runs take no config, so the city's file keeps them short."""


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
    from sview_assets.defs.watchdog import WATCH_INTERVAL_SECONDS, run_worker_pid

    victim = client.submit_job_execution("served__image_features_job", tags={"dagster/partition": "batch_000"})
    with dg.DagsterInstance.from_config(dagster_home) as instance:
        deadline = time.monotonic() + 120
        while (worker := run_worker_pid(instance, victim)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker is not None, "the run to kill never started"
        waiting = client.submit_job_execution("served__views_job")
        os.kill(worker[0], signal.SIGKILL)
        killed_at = time.monotonic()
        assert wait_for_run_end(client, victim, 120) == dg.DagsterRunStatus.FAILURE
        assert time.monotonic() - killed_at < 4 * WATCH_INTERVAL_SECONDS + 30
        assert wait_for_run_end(client, waiting, 180) == dg.DagsterRunStatus.SUCCESS


E2E_OUTCOMES = ["mean_income", "median_income"]
LOCATION = {"repositoryLocationName": "sview", "repositoryName": "__repository__"}
FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def graphql(port: int, query: str, **variables) -> dict:
    """POST one GraphQL request to the guarded UI, as the UI's own page does; the ``data`` of the answer."""
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]


def partition_keys_by_run(instance, run_ids: set[str], city: str = "served", names=ALL_ASSETS) -> list[set[str]]:
    """For each of the runs ``run_ids``, the partition keys of the city's assets ``names`` it materialized."""
    keys: dict[str, set[str]] = {run_id: set() for run_id in run_ids}
    for name in names:
        for record in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey([city, name])), limit=10_000).records:
            if record.run_id in run_ids and record.partition_key is not None:
                keys[record.run_id].add(record.partition_key)
    return list(keys.values())


def one_run_per_partition(instance, run_ids: set[str], partitions: list[str]) -> bool:
    """Whether every partition of ``partitions`` was materialized by exactly one of the runs, and no run mixed two partitions.

    The unpartitioned assets are left out: the daemon groups them by when their inputs finish, which is a race.
    So is ``vgg16_features``, whose backfills extract several batches per run (its ``BackfillPolicy``).
    """
    names = [name for name in ALL_ASSETS if name != "vgg16_features"]
    by_run = [keys for keys in partition_keys_by_run(instance, run_ids, names=names) if keys]
    return all(len(keys) == 1 for keys in by_run) and sorted(key for keys in by_run for key in keys) == sorted(partitions)


def wait_for_views_and_idle(instance, timeout: float, since_run_ids: set[str]) -> None:
    """Wait until a run started after ``since_run_ids`` refreshed the views and no run is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in instance.get_runs() if r.run_id not in since_run_ids]
        views = materializations_by_run(instance, {r.run_id for r in runs}).get(("warehouse_views", None), 0)
        if views and all(r.status in FINISHED for r in runs):
            return
        time.sleep(3)
    raise TimeoutError(f"the views were not refreshed within {timeout:.0f} s: {[(r.job_name, r.status) for r in instance.get_runs()][:10]}")


@pytest.fixture(scope="module")
def served_city(tmp_path_factory):
    """A tiny city with two outcomes behind the guarded UI and daemon, materialized by a "Materialize all" backfill.

    Its third image batch is held back, for the automation test to drop in.
    """
    from dagster_graphql import DagsterGraphQLClient

    root = tmp_path_factory.mktemp("served")
    settings = make_city(root / "data", E2E_CITY, city="served")
    (settings.paths.root / "outcomes.toml").write_text('standard = ["london_income_2012_13"]\n')
    (settings.paths.root / "training.toml").write_text("".join(f"{key} = {value}\n" for key, value in TINY_TRAIN.items()))
    held = root / "batch_002.zip"
    shutil.move(settings.paths.raw_images / "batch_002.zip", held)
    # The deployment's cities come from data/cities.toml, as a user's would (not SVIEW_CITY).
    (root / "data" / "cities.toml").write_text('cities = ["served"]\n')
    # Every step of a run in the run's process: the daemon's path is under test here, not the step processes
    # (test_executors.py runs those), and each step process costs 5 to 8 s of the two cores.
    env = {**city_environment(settings, root / "dagster_home"), "SVIEW_SENSOR_INTERVAL_SECONDS": "5", "SVIEW_EXECUTOR": "in_process"}
    env.pop("SVIEW_CITY")
    port = free_port()
    log = root / "dagster_dev.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "sview_assets.ui", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_server(port, server)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        labels = client.submit_job_execution("served__labels_job")
        assert wait_for_run_end(client, labels, 180) == dg.DagsterRunStatus.SUCCESS, log.read_text()[-4000:]
        for batch in ("batch_000", "batch_001"):
            added = graphql(
                port,
                'mutation($r: RepositorySelector!, $k: String!) { addDynamicPartition(repositorySelector: $r, partitionsDefName: "served__image_batch", partitionKey: $k) { __typename } }',
                r=LOCATION,
                k=batch,
            )
            assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess"
        launched = graphql(
            port,
            "mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) { __typename ... on LaunchBackfillSuccess { backfillId } } }",
            p={"assetSelection": [{"path": ["served", name]} for name in ALL_ASSETS], "allPartitions": True, "title": "Materialize all"},
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill_id = launched["backfillId"]
        deadline, status = time.monotonic() + 900, None
        while time.monotonic() < deadline:
            status = graphql(port, "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }", id=backfill_id)
            status = status["partitionBackfillOrError"]["status"]
            if status not in ("REQUESTED", "CANCELING", "FAILING"):
                break
            time.sleep(3)
        yield {"settings": settings, "env": env, "port": port, "client": client, "held": held, "log": log, "backfill": (backfill_id, status)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_materialize_all_through_graphql_behind_the_guard_materializes_every_asset_and_partition_once(served_city):
    port, settings = served_city["port"], served_city["settings"]
    assert guard_refusals(port) == {"ui_page": 200, "post_query_local": 200, "get_mutation": 405, "post_from_other_site": 403, "rebound_host": 403}
    assert websocket_acknowledged(port, f"http://127.0.0.1:{port}")
    assert not websocket_acknowledged(port, "https://evil.example")
    backfill_id, status = served_city["backfill"]
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), served_city["log"].read_text()[-4000:]
    with dg.DagsterInstance.from_config(served_city["env"]["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        assert runs and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert one_run_per_partition(instance, {r.run_id for r in runs}, ["batch_000", "batch_001", *E2E_OUTCOMES])
        feature_runs = [keys for keys in partition_keys_by_run(instance, {r.run_id for r in runs}, names=["vgg16_features"]) if keys]
        # The daemon asks for a batch's features once its manifest is done, so whether both batches share a run
        # depends on which manifest run finishes first; either way each batch is extracted once.
        assert sorted(key for keys in feature_runs for key in keys) == ["batch_000", "batch_001"], feature_runs
        assert materializations_by_run(instance, {r.run_id for r in runs}) == expected_once(["batch_000", "batch_001"], E2E_OUTCOMES)
        models = instance.fetch_materializations(dg.AssetKey(["served", "ordinal_model"]), limit=10).records
        trained = [record.asset_materialization.metadata for record in models]
        assert len(trained) == 2 and all(m["preset"].value == "default" for m in trained)
        assert all({key: m["hyperparameters"].value[key] for key in TINY_TRAIN} == TINY_TRAIN for m in trained)
        assert all(len(m["epochs_per_model"].value) == TINY_TRAIN["folds"] + 1 for m in trained)
    with connect(settings) as connection:
        summary = connection.execute("SELECT outcome, method, n_lsoas FROM metrics_summary ORDER BY outcome, method").fetchall()
        lsoas = connection.execute("SELECT count(DISTINCT lsoa11) FROM location_predictions").fetchone()[0]
    assert summary == [(o, m, lsoas) for o in E2E_OUTCOMES for m in ("decile_mean", "score_mean")] and lsoas >= 10


def test_automation_with_the_real_daemon_carries_a_new_batch_to_the_views_once(served_city):
    port, client, settings = served_city["port"], served_city["client"], served_city["settings"]
    dagster_home = served_city["env"]["DAGSTER_HOME"]
    sensors = {}
    for name in ("served__image_batch_sensor", "sview_automation"):
        started = graphql(
            port,
            "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename ... on Sensor { sensorState { status } } } }",
            s={**LOCATION, "sensorName": name},
        )["startSensor"]
        assert started["__typename"] == "Sensor" and started["sensorState"]["status"] == "RUNNING", started
        sensors[name] = {**LOCATION, "sensorName": name}

    def ticks(name: str) -> int:
        query = "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor { sensorState { ticks(limit: 100) { status } } } } }"
        return len(graphql(port, query, s=sensors[name])["sensorOrError"]["sensorState"]["ticks"])

    def wait_for_ticks(count: int) -> None:
        """Wait until each sensor has ticked ``count`` more times than now."""
        wanted = {name: ticks(name) + count for name in sensors}
        deadline = time.monotonic() + 120
        while any(ticks(name) < target for name, target in wanted.items()):
            assert time.monotonic() < deadline, "the sensors did not tick"
            time.sleep(1)

    with dg.DagsterInstance.from_config(dagster_home) as instance:
        wait_for_ticks(2)
        before = {r.run_id for r in instance.get_runs()}
        wait_for_ticks(1)
        assert {r.run_id for r in instance.get_runs()} == before, "switching automation on must not re-run a city that is up to date"

        shutil.move(served_city["held"], settings.paths.raw_images / "batch_002.zip")
        wait_for_views_and_idle(instance, 480, before)
        wait_for_ticks(2)  # nothing else may start
        new_runs = [r for r in instance.get_runs() if r.run_id not in before]
        assert {r.status for r in new_runs} == {dg.DagsterRunStatus.SUCCESS}, [(r.job_name, r.status) for r in new_runs]
        assert "batch_002" in instance.get_dynamic_partitions("served__image_batch")
        after_batch = expected_once(["batch_002"], E2E_OUTCOMES, [n for n in ALL_ASSETS if n not in ("postcode_locations", "lsoa_labels")])
        assert materializations_by_run(instance, {r.run_id for r in new_runs}) == after_batch
        assert one_run_per_partition(instance, {r.run_id for r in new_runs}, ["batch_002", *E2E_OUTCOMES])
    with connect(settings) as connection:
        rows = connection.execute("SELECT outcome, count(*) FROM location_predictions GROUP BY outcome ORDER BY outcome").fetchall()
    assert rows == [(o, E2E_CITY.n_locations) for o in E2E_OUTCOMES]
    killed_run_unblocks_the_queue(client, dagster_home)


def test_a_city_added_to_the_cities_file_appears_in_the_ui_after_a_reload(served_city):
    port, settings = served_city["port"], served_city["settings"]
    node = "query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { __typename ... on AssetNode { groupName partitionDefinition { name } } } }"
    assert graphql(port, node, k={"path": ["added", "vgg16_features"]})["assetNodeOrError"]["__typename"] == "AssetNotFoundError"
    (Path(settings.data_root) / "cities.toml").write_text('cities = ["served", "added"]\n')
    reloaded = graphql(
        port,
        "mutation($n: String!) { reloadRepositoryLocation(repositoryLocationName: $n) { __typename } }",
        n=LOCATION["repositoryLocationName"],
    )["reloadRepositoryLocation"]
    assert reloaded["__typename"] == "WorkspaceLocationEntry", reloaded
    deadline = time.monotonic() + 120
    while (found := graphql(port, node, k={"path": ["added", "vgg16_features"]})["assetNodeOrError"])["__typename"] != "AssetNode":
        assert time.monotonic() < deadline, f"the new city's assets did not appear after the reload: {found}"
        time.sleep(2)
    assert found["groupName"] == "added" and found["partitionDefinition"]["name"] == "added__image_batch"
    still = graphql(port, node, k={"path": ["served", "vgg16_features"]})["assetNodeOrError"]
    assert still["__typename"] == "AssetNode" and still["groupName"] == "served"
