"""A Dask scheduler and named worker processes on 127.0.0.1, for tests and the local multi-machine demo.

Each worker is its own process with its own working folder, as a worker on another machine would be;
what they share is what the caller puts in ``environment`` (the data root and the Dagster instance).
Every process is started in a session of its own and stopped by its PID, never by name; if the
process that started them is killed outright, its reaper stops them (:mod:`sview_assets.util.reaper`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sview_assets.config.settings import WORKER_NAME_ENV
from sview_assets.util.ports import free_port
from sview_assets.util.reaper import release, watch_group

START_TIMEOUT_SECONDS = 120


def dask_command() -> str:
    """The ``dask`` command of the Python environment running this code."""
    command = Path(sys.executable).parent / "dask"
    if not command.is_file():
        raise FileNotFoundError(f"{command} not found: install the cluster extra (pip install -e '.[cluster]').")
    return str(command)


@dataclass
class LocalDaskCluster:
    """A scheduler and one single-threaded worker per name of ``workers``, each working in ``folder/<name>``."""

    folder: Path
    workers: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    address: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self) -> LocalDaskCluster:
        """Start the scheduler and the workers and wait until every worker has joined; returns self."""
        from distributed import Client

        self.folder = Path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        env = {**os.environ, **self.environment}
        try:
            # A step whose worker dies fails its run at once, naming the worker, instead of being run again elsewhere.
            scheduler_env = {**env, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
            self._launch("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"], scheduler_env, self.folder)
            for name in self.workers:
                workdir = self.folder / name
                workdir.mkdir(exist_ok=True)
                command = [
                    "worker",
                    self.address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--dashboard-address",
                    ":0",
                    "--local-directory",
                    str(workdir),
                ]
                self._launch(name, command, {**env, WORKER_NAME_ENV: name}, workdir)
            with Client(self.address, timeout=START_TIMEOUT_SECONDS) as client:
                client.wait_for_workers(len(self.workers), timeout=START_TIMEOUT_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, name: str, arguments: list[str], env: dict[str, str], cwd: Path) -> None:
        log = open(self.folder / f"{name}.log", "w")
        self.processes[name] = subprocess.Popen([dask_command(), *arguments], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        watch_group(self.processes[name].pid)
        log.close()

    def worker_pids(self) -> dict[int, str]:
        """PID -> worker name, to tell which worker a step's events came from."""
        return {process.pid: name for name, process in self.processes.items() if name in self.workers}

    def stop(self, timeout: float = 30) -> None:
        """Stop the workers, then the scheduler, by PID: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            release(process.pid)
        self.processes.clear()
