"""``python -m sview_assets.cli.cluster_demo`` (what ``make cluster-demo`` runs): the demo city through a
multi-machine setup on this machine.

It starts a PostgreSQL server (the Dagster instance), a Dask scheduler and two worker processes, each
in a folder of its own and sharing only the data root and the database; then runs the pipeline CLI with
``SVIEW_EXECUTOR=dask``, so every step of every run executes on a worker and the partitions of a stage
run at the same time. It prints the metrics and which worker ran which step, then stops everything it
started, by PID. The city's raw files are copied into a fresh data root (``data/cluster_demo``), so
every asset is computed again there and ``make demo``'s results are left as they are.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg

from sview_assets.cluster.dask_cluster import LocalDaskCluster
from sview_assets.cluster.placements import StepSpan, step_spans
from sview_assets.cluster.postgres import LocalPostgres
from sview_assets.config.settings import PROJECT_ROOT, SviewSettings
from sview_assets.defs.executors import DASK_SCHEDULER_ENV, EXECUTOR_ENV

WORKERS = ("worker_a", "worker_b")
DEMO_CITY = "demo"


def print_placements(spans: list[StepSpan]) -> None:
    print("\nwhich worker ran what (in start order):")
    if not spans:
        print("  no step succeeded")
        return
    width = max(len(span.step) for span in spans)
    for span in spans:
        print(f"  {span.worker:<10} {span.step:<{width}}  {span.partition:<22} {span.seconds:7.1f} s")
    for worker in sorted({span.worker for span in spans}):
        mine = [span.seconds for span in spans if span.worker == worker]
        print(f"  {worker}: {len(mine)} steps, {sum(mine):.0f} s of work")


def fresh_data_root(source: SviewSettings, data_root: Path) -> SviewSettings:
    """A new data root holding a copy of ``source``'s inputs only (raw files and outcome declarations)."""
    if not (source.paths.raw / "area_boundaries.geojson").is_file():
        raise SystemExit(f"{source.paths.raw} has no demo city; run `make demo-city` first.")
    shutil.rmtree(data_root, ignore_errors=True)
    copy = SviewSettings(data_root=str(data_root), city=source.city)
    source.paths.copy_inputs_to(copy.paths)
    return copy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the demo city through PostgreSQL, a Dask scheduler and two workers on this machine.")
    parser.add_argument("--data-root", default=str(PROJECT_ROOT / "data"), help="where the demo city's raw files are (default: data)")
    parser.add_argument("--outcomes", nargs="*", help="outcomes to train (default: every outcome of the demo city)")
    parser.add_argument("pipeline_args", nargs=argparse.REMAINDER, help="further arguments for the pipeline CLI, after --")
    args = parser.parse_args(argv)

    # A SIGTERM (from `timeout`, or a closed terminal) unwinds like Ctrl-C, so the servers are still stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    settings = fresh_data_root(SviewSettings(data_root=args.data_root, city=DEMO_CITY), Path(args.data_root).resolve() / "cluster_demo")
    folder = Path(tempfile.mkdtemp(prefix="sview-cluster-demo-"))
    postgres = LocalPostgres().start()
    home = postgres.dagster_home(folder / "dagster_home")
    print(f"PostgreSQL (Dagster instance) on 127.0.0.1:{postgres.port}, pid {postgres.pid()}")
    shared = {**postgres.environment(), "DAGSTER_HOME": str(home), "SVIEW_DATA_ROOT": settings.data_root, "SVIEW_CITY": DEMO_CITY}
    cluster = LocalDaskCluster(folder / "dask", WORKERS, shared)
    try:
        cluster.start()
        print(f"Dask scheduler at {cluster.address}; workers " + ", ".join(f"{name} (pid {pid})" for pid, name in cluster.worker_pids().items()))
        os.environ.update(shared)
        command = [sys.executable, "-m", "sview_assets.cli.pipeline", "--city", DEMO_CITY]
        if args.outcomes:
            command += ["--outcomes", *args.outcomes]
        command += [a for a in args.pipeline_args if a != "--"]
        done = subprocess.run(command, env={**os.environ, EXECUTOR_ENV: "dask", DASK_SCHEDULER_ENV: cluster.address})
        with dg.DagsterInstance.from_config(str(home)) as instance:
            print_placements(step_spans(instance, [run.run_id for run in instance.get_runs()], cluster.worker_pids()))
    finally:
        cluster.stop()
        postgres.remove()
        print(f"stopped the workers, the scheduler and PostgreSQL; worker logs are in {folder / 'dask'}")
    print(f"the outputs are under {settings.paths.root}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
