"""``python -m sview_assets.ui`` (what ``make ui`` runs): the Dagster UI and daemon, guarded, on 127.0.0.1.

Starts ``dagster dev`` (webserver and daemon: schedules, sensors, automation) on a
private port of 127.0.0.1 and serves the guard on ``--port``; stopping this
process stops both, and if it is killed outright its reaper stops ``dagster dev``'s
whole process group (:mod:`sview_assets.util.reaper`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.util.ports import free_port
from sview_assets.util.reaper import release, watch_group

STARTUP_SECONDS = 180
STOP_SECONDS = 20


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = STARTUP_SECONDS) -> None:
    """Return once ``url`` answers 200; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with code {process.returncode} before serving; see its output above.")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"dagster dev did not answer at {url} within {timeout:.0f} s.")


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from sview_assets.ui.guard import WebserverGuard

    parser = argparse.ArgumentParser(description="Serve the sview Dagster UI and daemon on 127.0.0.1, refusing other sites and hosts.")
    parser.add_argument("--port", type=int, default=3000, help="port of the UI on 127.0.0.1 (default %(default)s)")
    parser.add_argument("--workspace", default=str(PROJECT_ROOT / "workspace.yaml"), help="Dagster workspace file")
    args = parser.parse_args(argv)
    internal = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "--host", "127.0.0.1", "--port", str(internal), "--workspace", args.workspace]
    process = subprocess.Popen(command, start_new_session=True)
    watch_group(process.pid)

    def stop_dagster() -> None:
        """Ask dagster dev and its services to stop; kill them after STOP_SECONDS (its webserver may ignore SIGTERM)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        release(process.pid)

    class GuardServer(uvicorn.Server):
        """Stops dagster dev as soon as a signal asks this server to exit (uvicorn then re-raises it)."""

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            stop_dagster()

    try:
        wait_until_serving(f"http://127.0.0.1:{internal}/server_info", process)
        print(f"sview UI: http://127.0.0.1:{args.port}/ (Dagster webserver and daemon behind it on 127.0.0.1:{internal})", flush=True)
        guard = WebserverGuard(f"http://127.0.0.1:{internal}", args.port)
        GuardServer(uvicorn.Config(guard, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets")).run()
    finally:
        stop_dagster()


if __name__ == "__main__":
    main()
