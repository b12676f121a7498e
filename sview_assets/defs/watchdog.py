"""Runs whose process died (kill -9, out of memory, a closed terminal) are marked failed, so the queue moves on.

Dagster's run monitoring can only check a run worker's health through run
launchers that support it, and the default local launcher does not: a run
whose process died stays STARTED forever, and with one run at a time every
later run waits in QUEUED. The ``run_watchdog`` sensor (on by default) looks
at this machine's STARTED runs every ``WATCH_INTERVAL_SECONDS`` and marks
failed each one whose worker process is gone, naming the process. Runs still
starting are covered by run monitoring's start timeout (``instance/dagster.yaml``).
"""

from __future__ import annotations

import dagster as dg
import psutil

WATCH_INTERVAL_SECONDS = 15
PROCESS_START_SLACK_SECONDS = 5.0


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process id that started run ``run_id`` and when, from its RUN_START event (None before it)."""
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_START)
    if not events or events[-1].dagster_event is None or events[-1].dagster_event.pid is None:
        return None
    return int(events[-1].dagster_event.pid), float(events[-1].timestamp)


def worker_is_alive(pid: int, started_at: float) -> bool:
    """Whether process ``pid`` exists and is the one that started the run (not a later process reusing the id)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= started_at + PROCESS_START_SLACK_SECONDS
    except psutil.NoSuchProcess:
        return False


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every STARTED run whose worker process is gone; return their ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        worker = run_worker_pid(instance, run.run_id)
        if worker is None or worker_is_alive(*worker):
            continue
        instance.report_run_failed(
            run, message=f"The run's process (pid {worker[0]}) is gone: killed, out of memory or its terminal closed. Marked failed so queued runs can start."
        )
        failed.append(run.run_id)
    return failed


@dg.sensor(minimum_interval_seconds=WATCH_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING)
def run_watchdog(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Marks failed the runs whose process died, so queued runs (from the UI, sensors, schedules) start."""
    failed = fail_dead_runs(context.instance)
    if failed:
        context.log.warning(f"marked {len(failed)} run(s) failed whose process was gone: {failed}")
    return dg.SkipReason(f"{len(failed)} dead run(s) marked failed" if failed else "every started run's process is alive")
