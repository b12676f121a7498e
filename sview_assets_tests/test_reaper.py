"""Servers end with the process that started them, even when it is killed with SIGKILL (real processes, real UI)."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.util.ports import free_port

from .conftest import make_city
from .helpers import E2E_CITY, city_environment

STOPPED_WITHIN_SECONDS = 30

# The launcher restores the default of the two first signals, as a launcher started from a terminal has them.
# Ignored dispositions are inherited, and a test worker started in a shell's background ignores SIGINT; after
# an in-process Dagster run it ignores SIGTERM too (Dagster gives SIGTERM SIGINT's handler and leaves it so).
# The launcher's children would then outlive their first signal, and only the SIGKILL after the grace be tested.
LAUNCHER = """
import json, signal, subprocess, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
from sview_assets.util.reaper import release, watch_group, watch_process
group = subprocess.Popen(["bash", "-c", "sleep 300 & sleep 300; wait"], start_new_session=True)
daemon = subprocess.Popen(["sleep", "300"], start_new_session=True)
kept = subprocess.Popen(["sleep", "300"], start_new_session=True)
watch_group(group.pid)
watch_process(daemon.pid, signal.SIGINT)
watch_group(kept.pid)
release(kept.pid)
time.sleep(1)
print(json.dumps({"group": group.pid, "daemon": daemon.pid, "kept": kept.pid}), flush=True)
time.sleep(300)
"""


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_stopped(pids: list[int], timeout: float = STOPPED_WITHIN_SECONDS) -> list[int]:
    """The processes of ``pids`` still running after ``timeout`` seconds (none, if all stopped in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(running(pid) for pid in pids):
        time.sleep(0.5)
    return [pid for pid in pids if running(pid)]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` again (with SO_REUSEADDR, as servers bind; only a live listener refuses it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_a_launcher_killed_outright_takes_its_groups_and_daemons_with_it_but_not_what_it_released():
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    started = json.loads(launcher.stdout.readline())
    group = [started["group"], *(child.pid for child in psutil.Process(started["group"]).children())]
    assert len(group) == 3 and all(running(pid) for pid in [*group, started["daemon"], started["kept"]])
    launcher.kill()
    launcher.wait()
    try:
        assert wait_until_stopped([*group, started["daemon"]]) == []
        assert running(started["kept"]), "a released process is its launcher's to stop, not the reaper's"
    finally:
        os.killpg(started["kept"], signal.SIGKILL)


@pytest.mark.slow
def test_make_ui_killed_outright_leaves_no_dagster_process_and_frees_both_ports(tmp_path):
    settings = make_city(tmp_path / "data", E2E_CITY, city="killed")
    (tmp_path / "data" / "cities.toml").write_text('cities = ["killed"]\n')
    env = city_environment(settings, tmp_path / "dagster_home")
    env.pop("SVIEW_CITY")
    port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "sview_assets.ui", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        serving = None
        for line in launcher.stdout:  # dagster dev's own lines come first, on the same stream
            serving = re.search(r"behind it on 127\.0\.0\.1:(\d+)", line)
            if serving:
                break
        assert serving, "the launcher ended before serving"
        internal = int(serving.group(1))
        children = [child.pid for child in psutil.Process(launcher.pid).children(recursive=True)]
        commands = [" ".join(psutil.Process(pid).cmdline()[1:4]) for pid in children]
        for part in ("bin/dagster dev", "-m dagster_webserver", "-m dagster._daemon", "-m sview_assets.util.reaper"):
            assert any(command.startswith(part) or f"/{part}" in command for command in commands), (part, commands)
    finally:
        launcher.kill()
        launcher.wait()
    assert wait_until_stopped(children) == [], [psutil.Process(pid).cmdline() for pid in children if running(pid)]
    assert port_is_free(port) and port_is_free(internal)


CLUSTER_LAUNCHER = """
import json, sys, time
from pathlib import Path
from sview_assets.cluster.dask_cluster import LocalDaskCluster
from sview_assets.cluster.postgres import LocalPostgres
postgres = LocalPostgres().start()
cluster = LocalDaskCluster(Path(sys.argv[1]), ("worker_a",)).start()
pids = [process.pid for process in cluster.processes.values()] + [postgres.pid()]
print(json.dumps({"pids": pids, "ports": [postgres.port, int(cluster.address.rsplit(":", 1)[1])]}), flush=True)
time.sleep(300)
"""


@pytest.mark.cluster
def test_the_local_dask_and_postgres_servers_end_with_a_launcher_killed_outright(tmp_path):
    launcher = subprocess.Popen([sys.executable, "-c", CLUSTER_LAUNCHER, str(tmp_path / "dask")], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(launcher.stdout.readline())
        assert len(started["pids"]) == 3 and all(running(pid) for pid in started["pids"])
    finally:
        launcher.kill()
        launcher.wait()
    assert wait_until_stopped(started["pids"]) == []
    assert all(port_is_free(port) for port in started["ports"])
