"""Which engine executes the steps of a run: Dagster's multiprocess executor on this machine (the default), every
step in the run's own process (``SVIEW_EXECUTOR=in_process``: no process start per step, for small machines), or
Dask workers on other processes or machines (``SVIEW_EXECUTOR=dask``, ``SVIEW_DASK_SCHEDULER=tcp://host:port``),
or a Kubernetes job per step (``SVIEW_EXECUTOR=k8s``, under the Dagster Helm chart; see ``deploy/``).

With Dask, every step runs in a worker process that loads the code location itself and reports to the
shared Dagster instance (which must then be persistent and reachable from the workers: PostgreSQL, see
``instance/dagster-postgres.yaml``); workers share only the data root and that database.
"""

from __future__ import annotations

import json
import os

import dagster as dg

from sview_assets.config.settings import DASK_SCHEDULER_ENV, EXECUTOR_ENV
from sview_assets.defs.names import TENSORFLOW_TAG_KEY

GPU_NODE_SELECTOR_ENV = "SVIEW_K8S_GPU_NODE_SELECTOR"
K8S_CONFIG_TAG = "dagster-k8s/config"
TENSORFLOW_STEPS_AT_ONCE = 1
LOCAL_EXECUTORS = ("multiprocess", "in_process")
"""The executors whose steps all run on this machine, under the run's own process."""


def executor_kind() -> str:
    """The executor ``$SVIEW_EXECUTOR`` names, ``multiprocess`` when it is unset or empty."""
    return os.environ.get(EXECUTOR_ENV) or "multiprocess"


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor ``$SVIEW_EXECUTOR`` names: ``multiprocess`` (default), ``in_process``, ``dask`` or ``k8s``."""
    kind = executor_kind()
    if kind == "in_process":
        # One process per run: each step saves the 5 to 8 s a step process takes to start on a 2-core host, and
        # TensorFlow is imported once per run; a step that kills the process fails the whole run (the watchdog says so).
        return dg.in_process_executor
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {
                "max_concurrent": 2,
                "tag_concurrency_limits": [{"key": TENSORFLOW_TAG_KEY, "value": "true", "limit": TENSORFLOW_STEPS_AT_ONCE}],
                # Each step forks from a server that has imported Dagster and the code location once per run, instead
                # of a fresh interpreter importing them per step (about 5 s each on a 2-core host). TensorFlow is
                # imported by the steps only, after the fork.
                "start_method": {"forkserver": {}},
            }
        )
    if kind == "dask":
        address = os.environ.get(DASK_SCHEDULER_ENV)
        if not address:
            raise ValueError(f"{EXECUTOR_ENV}=dask needs {DASK_SCHEDULER_ENV}, the address of the Dask scheduler (e.g. tcp://10.0.0.5:8786).")
        from sview_assets.cluster.dask_steps import existing_scheduler_dask_executor

        return existing_scheduler_dask_executor.configured({"address": address})
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        # A Kubernetes job per step, with the image, volumes and variables of the run launcher (deploy/helm).
        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: expected 'multiprocess', 'in_process', 'dask' or 'k8s'.")


def feature_step_tags() -> dict[str, object]:
    """Tags for the VGG16 feature step: on Kubernetes, the node selector in ``$SVIEW_K8S_GPU_NODE_SELECTOR``
    (a JSON object, e.g. ``{"nvidia.com/gpu.present": "true"}``) and one GPU, so that step lands on a GPU node."""
    raw = os.environ.get(GPU_NODE_SELECTOR_ENV)
    if not raw:
        return {}
    try:
        selector = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{GPU_NODE_SELECTOR_ENV} is not JSON ({exc}); expected an object such as {{"nvidia.com/gpu.present": "true"}}') from None
    if not isinstance(selector, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in selector.items()):
        raise ValueError(f"{GPU_NODE_SELECTOR_ENV} must be a JSON object of label names to label values (strings), not {raw!r}")
    return {
        K8S_CONFIG_TAG: {
            "pod_spec_config": {"node_selector": selector},
            "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        }
    }
