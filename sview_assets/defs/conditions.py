"""Declarative automation conditions of the assets, composed from Dagster's built-ins.

Every derived asset reacts to its inputs with ``eager`` (run once the inputs
changed and nothing upstream is missing or still running), and each night
retries what failed since: ``eager`` counts a failed run as handled, so
without the nightly retry a partition that failed once would wait for the
next change upstream. Image batches have no condition: the image-batch sensor
registers them and requests their features.
"""

import os

import dagster as dg

NIGHTLY_CRON_ENV = "SVIEW_NIGHTLY_CRON"
DEFAULT_NIGHTLY_CRON = "0 2 * * *"


def nightly_cron() -> str:
    """The cron schedule (UTC) of the nightly retry: ``$SVIEW_NIGHTLY_CRON`` or 02:00."""
    return os.environ.get(NIGHTLY_CRON_ENV) or DEFAULT_NIGHTLY_CRON


def nightly_retry(cron: str) -> dg.AutomationCondition:
    """Once per cron tick, re-run a target whose latest run failed, when its inputs are ready."""
    return (
        dg.AutomationCondition.cron_tick_passed(cron).since_last_handled()
        & dg.AutomationCondition.execution_failed()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"nightly_retry_of_failures({cron})")


def start_a_new_city() -> dg.AutomationCondition:
    """The conditions of the label assets (no inputs): ``eager``, plus a first run when automation is
    switched on while they are missing (``eager`` only runs what becomes missing later), so automation
    alone can carry a new city from its raw files to the views."""
    first_evaluation_of_missing = (dg.AutomationCondition.initial_evaluation() & dg.AutomationCondition.missing()).with_label("missing when switched on")
    return (keep_up_to_date() | first_evaluation_of_missing).with_label("eager, missing when switched on, or nightly retry of a failure")


def keep_up_to_date(*, wait_for_every_input: bool = True, ignore: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """``eager``, or the nightly retry of a failure.

    With ``wait_for_every_input=False`` a missing input partition (an outcome whose model failed) does
    not hold the asset back, inputs still running do, and the asset runs only after an input updated
    (not merely because it is missing, when its inputs may not exist yet). Updates of the inputs in
    ``ignore`` do not trigger a run (an input that a change reaches again further upstream would run
    it twice).
    """
    eager = dg.AutomationCondition.eager()
    if not wait_for_every_input:
        eager = (
            dg.AutomationCondition.in_latest_time_window()
            & dg.AutomationCondition.any_deps_updated().since_last_handled()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()
        ).with_label("eager, not waiting for missing inputs")
    retry = nightly_retry(nightly_cron())
    if ignore is not None:
        eager, retry = eager.ignore(ignore), retry.ignore(ignore)
    return (eager | retry).with_label("eager, or nightly retry of a failure")
