"""A throwaway PostgreSQL server in a folder of its own, on a free port of 127.0.0.1, for tests and local demos.

It uses the server binaries already on the machine (``initdb``, ``pg_ctl``; ``SVIEW_PG_BIN`` or
``/usr/lib/postgresql/15/bin``), trusts connections from 127.0.0.1 only, keeps its socket in its own
folder, and is stopped by the PID it wrote (by the starting process's reaper if that process is
killed outright: :mod:`sview_assets.util.reaper`). PostgreSQL refuses to run as root, so under root the
server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sview_assets.config.settings import POSTGRES_URL_ENV, PROJECT_ROOT
from sview_assets.util.ports import free_port
from sview_assets.util.reaper import release, watch_process

BIN_ENV = "SVIEW_PG_BIN"
DEFAULT_BIN = "/usr/lib/postgresql/15/bin"
SERVICE_USER = "postgres"
DATABASE = "dagster"
URL_ENV = POSTGRES_URL_ENV


@dataclass
class LocalPostgres:
    """A PostgreSQL server whose data, socket and log live under ``folder`` (default: a new folder in the
    system's temporary folder, which the ``postgres`` user can reach when the server must run as it)."""

    folder: Path | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{SERVICE_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def environment(self) -> dict[str, str]:
        """The variable ``instance/dagster-postgres.yaml`` reads."""
        return {URL_ENV: self.url}

    def dagster_home(self, folder: Path) -> Path:
        """Make ``folder`` a ``DAGSTER_HOME`` whose instance lives in this server (``instance/dagster-postgres.yaml``,
        which reads the URL from ``environment()``); returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "instance" / "dagster-postgres.yaml", folder / "dagster.yaml")
        return folder

    def _command(self, *args: str) -> list[str]:
        binary = Path(os.environ.get(BIN_ENV) or DEFAULT_BIN) / args[0]
        if not binary.is_file():
            raise FileNotFoundError(f"{binary} not found: install the PostgreSQL server binaries or point {BIN_ENV} at their folder.")
        command = [str(binary), *args[1:]]
        return ["runuser", "-u", SERVICE_USER, "--", *command] if os.geteuid() == 0 else command

    def start(self) -> LocalPostgres:
        """initdb, then start the server and create the database; returns self."""
        self.folder = Path(self.folder or tempfile.mkdtemp(prefix="sview-postgres-"))
        data = self.folder / "data"
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        self.port = self.port or free_port()
        self._run("initdb", "-D", str(data), "-U", SERVICE_USER, "--auth=trust", "-E", "UTF8")
        self.serve()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SERVICE_USER, DATABASE)
        return self

    def serve(self) -> None:
        """Start the server on its data folder and port (again, after :meth:`stop`); returns once it accepts connections."""
        options = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} -c max_connections=100"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")
        watch_process(self.pid(), signal.SIGINT)

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}) for the server in {self.folder}: {(done.stderr or done.stdout).strip()[-2000:]}")

    def pid(self) -> int | None:
        pid_file = self.folder / "data" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.is_file() else None

    def stop(self, timeout: float = 30) -> None:
        """Stop the server by the PID it wrote (fast shutdown), waiting until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
        release(pid)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
