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


def sleep_in_a_run(seconds: float) -> None:
    """Run a one-op job that sleeps, in this process, against $DAGSTER_HOME (tests kill it midway)."""

    @dg.op
    def sleep_op():
        import time

        time.sleep(seconds)

    @dg.job
    def sleepy_job():
        sleep_op()

    with dg.DagsterInstance.get() as instance:
        sleepy_job.execute_in_process(instance=instance)


def materialize_batch(settings, vgg16, batch: str):
    """Register ``batch`` in a fresh instance and materialize its manifest and features; return the result."""
    from sview_assets.assets.features import vgg16_features
    from sview_assets.assets.images import image_manifest
    from sview_assets.partitions import image_batch_partitions
    from sview_assets.resources import warehouse_resources

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(image_batch_partitions.name, [batch])
    resources = {"settings": settings, "vgg16": vgg16, **warehouse_resources(settings)}
    return dg.materialize([image_manifest, vgg16_features], partition_key=batch, instance=instance, resources=resources)


def extract_batch_and_print_peak_rss(data_root: str, city: str, batch: str) -> None:
    """Materialize one batch's manifest and features in this process; print the peak RSS in MiB."""
    import resource

    from sview_assets.resources import Vgg16Resource
    from sview_assets.settings import SviewSettings

    settings = SviewSettings(data_root=data_root, city=city)
    assert materialize_batch(settings, Vgg16Resource(weights_file="", random_seed=0), batch).success
    print(f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


def train_outcome_in_this_process(data_root: str, city: str, outcome: str, config_json: str) -> None:
    """Materialize ``ordinal_model[outcome]`` of a built city in this process (tests kill it between folds)."""
    import json

    from sview_assets.assets.training import ordinal_model
    from sview_assets.partitions import outcome_partitions
    from sview_assets.settings import SviewSettings

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(outcome_partitions.name, [outcome])
    settings = SviewSettings(data_root=data_root, city=city)
    run_config = {"ops": {"ordinal_model": {"config": json.loads(config_json)}}}
    assert dg.materialize([ordinal_model], partition_key=outcome, instance=instance, resources={"settings": settings}, run_config=run_config).success
