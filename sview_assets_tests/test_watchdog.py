"""A run whose process was killed is marked failed by the watchdog; live runs are left alone."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.defs.watchdog import fail_dead_runs, run_worker_pid


def start_sleeping_run(dagster_home):
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    code = "from sview_assets_tests.helpers import sleep_in_a_run; sleep_in_a_run(120)"
    return subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_started_run(instance, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        if runs and run_worker_pid(instance, runs[0].run_id):
            return runs[0]
        time.sleep(0.5)
    raise TimeoutError("the sleeping run did not start")


def test_a_killed_run_is_marked_failed_and_a_live_one_is_not(tmp_path):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        live_process = start_sleeping_run(tmp_path)
        try:
            live = wait_for_started_run(instance)
            assert run_worker_pid(instance, live.run_id)[0] == live_process.pid
            assert fail_dead_runs(instance) == []

            live_process.send_signal(signal.SIGKILL)
            live_process.wait(timeout=30)
            assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.STARTED
            assert fail_dead_runs(instance) == [live.run_id]
            assert instance.get_run_by_id(live.run_id).status == dg.DagsterRunStatus.FAILURE
            messages = [e.message for e in instance.all_logs(live.run_id) if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
            assert any(f"pid {live_process.pid}" in m for m in messages)
            assert fail_dead_runs(instance) == []
        finally:
            if live_process.poll() is None:
                live_process.kill()
