"""Which worker ran which step: read back from the Dagster instance, by the PID on each step's start event."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class StepSpan:
    """One successful step: its run's partition ("-" when unpartitioned), the worker, and when it ran."""

    run_id: str
    partition: str
    step: str
    worker: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def step_spans(instance: dg.DagsterInstance, run_ids: list[str], worker_pids: dict[int, str]) -> list[StepSpan]:
    """Every successful step of the runs ``run_ids``, in start order; a PID not in ``worker_pids`` is named as such."""
    spans = []
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        partition = run.tags.get("dagster/partition", "-")
        starts = {e.step_key: e for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
        for end in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
            start = starts[end.step_key]
            worker = worker_pids.get(start.dagster_event.pid, f"pid {start.dagster_event.pid} (not a worker)")
            spans.append(StepSpan(run_id, partition, end.step_key, worker, start.timestamp, end.timestamp))
    return sorted(spans, key=lambda span: span.start)
