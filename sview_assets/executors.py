"""Which engine executes the steps of a run: Dagster's multiprocess executor on this machine (the default), or
Dask workers on other processes or machines (``SVIEW_EXECUTOR=dask``, ``SVIEW_DASK_SCHEDULER=tcp://host:port``).

With Dask, every step runs in a worker process that loads the code location itself and reports to the
shared Dagster instance (which must then be persistent and reachable from the workers: PostgreSQL, see
``instance/dagster-postgres.yaml``); workers share only the data root and that database.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTOR_ENV = "SVIEW_EXECUTOR"
DASK_SCHEDULER_ENV = "SVIEW_DASK_SCHEDULER"
TENSORFLOW_STEPS_AT_ONCE = 1


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor ``$SVIEW_EXECUTOR`` names: ``multiprocess`` (default) or ``dask``."""
    kind = os.environ.get(EXECUTOR_ENV) or "multiprocess"
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": 2,
                "tag_concurrency_limits": [{"key": "sview/tensorflow", "value": "true", "limit": TENSORFLOW_STEPS_AT_ONCE}],
            }
        )
    if kind == "dask":
        address = os.environ.get(DASK_SCHEDULER_ENV)
        if not address:
            raise ValueError(f"{EXECUTOR_ENV}=dask needs {DASK_SCHEDULER_ENV}, the address of the Dask scheduler (e.g. tcp://10.0.0.5:8786).")
        from .cluster.dask_steps import existing_scheduler_dask_executor

        return existing_scheduler_dask_executor.configured({"address": address})
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected 'multiprocess' or 'dask'.")
