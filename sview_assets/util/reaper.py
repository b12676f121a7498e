"""Servers this process starts end with it, however it ends (Ctrl-C, SIGTERM, or SIGKILL that runs no cleanup).

A launcher such as ``make ui`` stops its children in a ``finally``; a SIGKILL skips that and would leave
``dagster dev``, its webserver (unguarded, on its private port), the daemon and code servers running.
So the first server a process starts also starts a reaper: a small process in a session of its own
that reads what to watch from a pipe. The launcher holds the pipe's only write end; when the launcher
dies for any reason the kernel closes it, the reaper reads end-of-file and stops every process group
and process still watched: its first signal, then SIGKILL after :data:`GRACE_SECONDS`. A launcher that
stops a server itself releases it first, so a reused process id is never signalled.

Linux's parent-death signal (``PR_SET_PDEATHSIG``) was not enough: it reaches only the direct child,
while ``dagster dev``'s webserver, daemon and code servers are grandchildren.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.2

_reaper: subprocess.Popen | None = None
_lock = threading.Lock()


def _send(line: str) -> None:
    """Tell this process's reaper ``line``, starting the reaper on first use."""
    global _reaper
    with _lock:
        if _reaper is None or _reaper.poll() is not None:
            _reaper = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                text=True,
            )
        _reaper.stdin.write(line + "\n")
        _reaper.stdin.flush()


def watch_group(pgid: int, first_signal: int = signal.SIGTERM) -> None:
    """Stop process group ``pgid`` (a child started with ``start_new_session=True``) when this process dies."""
    _send(f"watch group {pgid} {int(first_signal)}")


def watch_process(pid: int, first_signal: int = signal.SIGTERM) -> None:
    """Stop process ``pid`` (a daemon that left this process's groups, like PostgreSQL's postmaster) when this process dies."""
    _send(f"watch process {pid} {int(first_signal)}")


def release(pid: int) -> None:
    """Forget ``pid`` (a group or a process), which its launcher is stopping or has stopped itself."""
    _send(f"release {pid}")


def _alive(kind: str, target: int) -> bool:
    try:
        (os.killpg if kind == "group" else os.kill)(target, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _signal(kind: str, target: int, number: int) -> None:
    try:
        (os.killpg if kind == "group" else os.kill)(target, number)
    except (ProcessLookupError, PermissionError):
        pass


def stop_all(watched: dict[int, tuple[str, int]], grace: float = GRACE_SECONDS) -> None:
    """Send each watched target its first signal, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for target, (kind, first_signal) in watched.items():
        _signal(kind, target, first_signal)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(kind, target) for target, (kind, _) in watched.items()):
        time.sleep(POLL_SECONDS)
    for target, (kind, _) in watched.items():
        _signal(kind, target, signal.SIGKILL)


def reap(lines) -> None:
    """Collect what to watch from ``lines`` until they end (or this process is told to stop), then stop whatever is still watched."""
    watched: dict[int, tuple[str, int]] = {}
    try:
        for line in lines:
            words = line.split()
            if words[:1] == ["watch"] and len(words) == 4:
                watched[int(words[2])] = (words[1], int(words[3]))
            elif words[:1] == ["release"] and len(words) == 2:
                watched.pop(int(words[1]), None)
    finally:
        stop_all(watched)


def main() -> None:
    # The launcher's terminal may signal its whole session; the reaper has its own. A SIGTERM sent to the
    # reaper itself ends its reading, and it still stops what it watches.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    reap(sys.stdin)


if __name__ == "__main__":
    main()
