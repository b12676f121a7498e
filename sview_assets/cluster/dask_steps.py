"""Steps of a run submitted to an existing Dask scheduler: dagster-dask's executor, with each step's
arguments handed to Dask as one opaque object and each task named after its run.

Two things in dagster-dask 0.29's own submission break with the versions installed here, and this
module changes only the submission (the worker still runs dagster-dask's ``query_on_dask_worker``):

- Dask (2024.12 and later) walks tuple arguments of ``Client.submit`` looking for futures. The run
  of a dynamic partition (an image batch, an outcome) carries a ``KeyRangesPartitionsSubset``, a
  Dagster record that refuses iteration, so every such run failed before its first step.
- Tasks were named ``<job>.<step>``; two runs of one job at once (two batches) would share task
  names, and Dask treats tasks of one name as one task. Here they are ``<run id>.<step>``.

A scheduler that does not answer fails the run within ``CONNECT_SECONDS``, naming the address; a step
whose worker dies fails the run naming the step and the worker (a scheduler that allows no failed
attempts, as :class:`~sview_assets.cluster.dask_cluster.LocalDaskCluster` starts it, reports at the
first death; one that allows retries runs the step again elsewhere first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker
from distributed.scheduler import KilledWorker

from sview_assets.config.settings import DASK_SCHEDULER_ENV, EXECUTOR_ENV
from sview_assets.util.dagster_private import iterate_with_context, raise_execution_interrupts

CONNECT_SECONDS = 10


@dataclass(frozen=True)
class StepRequest:
    """Everything a worker needs to run one step; not a tuple, so Dask passes it through untouched."""

    recon_job: Any
    dagster_run: Any
    run_config: Any
    step_key: str
    instance_ref: Any
    known_state: Any


def run_step_on_worker(dependencies: list, request: StepRequest) -> list:
    """Run one step on the worker this task landed on; ``dependencies`` only orders the tasks."""
    return query_on_dask_worker(
        dependencies, request.recon_job, request.dagster_run, request.run_config, [request.step_key], request.instance_ref, request.known_state
    )


class ExistingSchedulerDaskExecutor(DaskExecutor):
    """dagster-dask's executor on the scheduler at ``address``, submitting steps as described above."""

    def __init__(self, address: str):
        super().__init__("existing", {"address": address})

    def execute(self, plan_context, execution_plan):
        import dask.distributed

        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError("Dask execution needs a persistent Dagster instance (DAGSTER_HOME), which every worker reaches.")
        run = plan_context.dagster_run
        with connect_to_scheduler(self.cluster_configuration["address"]) as client:
            futures = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    dependencies = [futures[key] for step_input in step.step_inputs for key in step_input.dependency_keys]
                    request = StepRequest(
                        plan_context.reconstructable_job,
                        run,
                        plan_context.run_config,
                        step.key,
                        plan_context.instance.get_ref(),
                        execution_plan.known_state,
                    )
                    futures[step.key] = client.submit(
                        run_step_on_worker,
                        dependencies,
                        request,
                        key=f"{run.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                    )
            finished = dask.distributed.as_completed(list(futures.values()), with_results=True)
            try:
                for _, events in iterate_with_context(raise_execution_interrupts, finished):
                    yield from events
            except KilledWorker as exc:
                step = str(exc.task).split(".", 1)[-1]
                raise dg.Failure(
                    f"Step {step} was running on Dask worker {exc.last_worker.name!r} ({exc.last_worker.address}) when that worker died. "
                    "Its outputs are written atomically, so nothing half-written is left: re-execute the run (or its failed steps)."
                ) from None


def connect_to_scheduler(address: str):
    """A Dask client of the scheduler at ``address``, or a clear error within ``CONNECT_SECONDS`` when it does not answer."""
    import dask.distributed

    try:
        return dask.distributed.Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise dg.Failure(
            f"The Dask scheduler at {address} ({DASK_SCHEDULER_ENV}) did not answer within {CONNECT_SECONDS} s ({exc}). "
            f"Start it there, correct {DASK_SCHEDULER_ENV}, or unset {EXECUTOR_ENV} to run the steps on this machine."
        ) from None


@dg.executor(name="sview_dask", config_schema={"address": str}, requirements=dg.multiple_process_executor_requirements())
def existing_scheduler_dask_executor(init_context) -> ExistingSchedulerDaskExecutor:
    """Steps on the Dask workers of the scheduler at ``address`` (``tcp://host:port``)."""
    return ExistingSchedulerDaskExecutor(init_context.executor_config["address"])
