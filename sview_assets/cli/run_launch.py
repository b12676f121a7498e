"""How the pipeline CLI carries out its runs: one after another in this process (the default), or each
through the deployment's executor with several runs in flight (``SVIEW_EXECUTOR=dask``), so that the
partitions of one stage (image batches, outcomes) run on different workers at the same time.

Either way every run is recorded in the Dagster instance, with its partition and the CLI's tag.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg

from sview_assets.defs.executors import EXECUTOR_ENV, LOCAL_EXECUTORS, executor_kind

PARALLEL_RUNS_ENV = "SVIEW_PARALLEL_RUNS"
DEFAULT_PARALLEL_RUNS = 4
CLI_TAGS = {"sview/launched_by": "cli"}
# Imported by name in run processes and on workers (``__name__`` is "__main__" in a run process).
MODULE = "sview_assets.cli.run_launch"


@dataclass(frozen=True)
class RunSpec:
    """One run: these assets, for this partition (None when unpartitioned), with this run config."""

    label: str
    assets: tuple[dg.AssetKey, ...]
    partition_key: str | None
    run_config: dict


@dataclass(frozen=True)
class RunOutcome:
    spec: RunSpec
    run_id: str
    success: bool


class InProcessRunner:
    """Each run in this process, one after another (``execute_in_process``): steps share one process."""

    def __init__(self, job: dg.JobDefinition):
        self.job = job

    def run(self, instance: dg.DagsterInstance, specs: list[RunSpec], log: Callable[[str], None]) -> list[RunOutcome]:
        outcomes = []
        for i, spec in enumerate(specs, start=1):
            if spec.partition_key is not None:
                log(f"  {spec.partition_key} ({i}/{len(specs)})")
            result = self.job.execute_in_process(
                instance=instance,
                asset_selection=list(spec.assets),
                partition_key=spec.partition_key,
                run_config=spec.run_config,
                raise_on_error=False,
                tags=CLI_TAGS,
            )
            outcomes.append(RunOutcome(spec, result.run_id, result.success))
        return outcomes


class EngineRunner:
    """Each run in a process of its own through the deployment's executor (``execute_job`` on a job of the
    stage's assets, which the workers rebuild from its asset keys), up to ``parallel_runs`` runs at once; the
    instance must be persistent (``DAGSTER_HOME``) and reachable from the workers.

    A process per run, not a thread: ``execute_job`` reconfigures Python's logging for each run, which
    deadlocks when two runs of one process do it at once.
    """

    def __init__(self, parallel_runs: int):
        if parallel_runs < 1:
            raise ValueError(f"{PARALLEL_RUNS_ENV} must be at least 1, not {parallel_runs}")
        self.parallel_runs = parallel_runs
        self._lock = threading.Lock()

    def _log(self, log: Callable[[str], None], line: str) -> None:
        with self._lock:
            log(line)

    def _one(self, spec: RunSpec, log: Callable[[str], None]) -> RunOutcome:
        request = {"partition_key": spec.partition_key, "assets": [key.to_user_string() for key in spec.assets], "run_config": spec.run_config}
        self._log(log, f"  started {spec.label}")
        done = subprocess.run([sys.executable, "-m", MODULE, json.dumps(request)], stdout=subprocess.PIPE, text=True)
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else {}
        success = bool(answer.get("success"))
        self._log(log, f"  {'finished' if success else 'FAILED'} {spec.label}")
        return RunOutcome(spec, answer.get("run_id", f"not started: the run process exited with {done.returncode}"), success)

    def run(self, instance: dg.DagsterInstance, specs: list[RunSpec], log: Callable[[str], None]) -> list[RunOutcome]:
        with ThreadPoolExecutor(max_workers=min(self.parallel_runs, max(len(specs), 1))) as pool:
            return list(pool.map(lambda spec: self._one(spec, log), specs))


def stage_job(*asset_keys: str) -> dg.JobDefinition:
    """A job of these assets (keys as ``city/asset``, all with one partitions definition), from the
    definitions the environment configures: what the engine's workers rebuild to run a stage's steps."""
    from sview_assets.definitions import defs

    keys = [dg.AssetKey.from_user_string(key) for key in asset_keys]
    job = dg.define_asset_job(f"stage__{keys[0].to_python_identifier()}", selection=keys)
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)


def runner_from_env(defs: dg.Definitions) -> InProcessRunner | EngineRunner:
    """In-process runs, or engine runs when ``$SVIEW_EXECUTOR`` names a distributed executor."""
    if executor_kind() in LOCAL_EXECUTORS:
        return InProcessRunner(defs.resolve_implicit_global_asset_job_def())
    if not os.environ.get("DAGSTER_HOME"):
        raise ValueError(
            f"{EXECUTOR_ENV}={os.environ[EXECUTOR_ENV]} needs DAGSTER_HOME set to an instance every worker reaches (instance/dagster-postgres.yaml)."
        )
    raw = os.environ.get(PARALLEL_RUNS_ENV) or str(DEFAULT_PARALLEL_RUNS)
    try:
        parallel = int(raw)
    except ValueError:
        raise ValueError(f"{PARALLEL_RUNS_ENV}={raw!r} is not a whole number of runs") from None
    return EngineRunner(parallel)


def execute_requested_run(request: dict) -> dict:
    """Carry out one run that ``EngineRunner`` requested, in this process; its id and whether it succeeded."""
    tags = dict(CLI_TAGS) if request["partition_key"] is None else {**CLI_TAGS, "dagster/partition": request["partition_key"]}
    job = dg.build_reconstructable_job(MODULE, stage_job.__name__, reconstructable_args=tuple(request["assets"]))
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(job, instance, run_config=request["run_config"], tags=tags, raise_on_error=False)
    return {"run_id": result.run_id, "success": result.success}


if __name__ == "__main__":
    print(json.dumps(execute_requested_run(json.loads(sys.argv[1]))), flush=True)
