"""Targets that Dagster can re-import in child processes (the multiprocess executor needs them)."""

import dagster as dg


def retrain_outcome_job():
    """The ``retrain_outcome`` job of the city named by the environment (SVIEW_DATA_ROOT, SVIEW_CITY)."""
    from sview_assets.definitions import defs

    return defs.resolve_job_def("retrain_outcome")


def run_outcome_with_multiprocess_executor(outcome: str) -> None:
    """Run one outcome's chain with the multiprocess executor against $DAGSTER_HOME; exit 1 on failure."""
    run_config = {
        "ops": {"ordinal_model": {"config": {"epochs": 2, "batch_size": 16, "patience": 2, "folds": 3}}},
        "execution": {"config": {"multiprocess": {"max_concurrent": 2}}},
    }
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(retrain_outcome_job), instance=instance, run_config=run_config, tags={"dagster/partition": outcome})
        if not result.success:
            raise SystemExit(f"run for {outcome} failed")
