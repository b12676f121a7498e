"""The image-batch sensor and the stale-outcome schedule, evaluated against a real instance."""

import datetime
import os
import shutil

import dagster as dg

from sview_assets.automation import image_batch_sensor, stale_outcomes_schedule
from sview_assets.demo.geography import CitySpec
from sview_assets.outcomes import OUTCOME_KEYS
from sview_assets.resources import Vgg16Resource
from sview_assets.staleness import stale_outcomes

RANDOM_SEED_0 = Vgg16Resource(weights_file="", random_seed=0)


def evaluate_sensor(instance, settings, vgg16=RANDOM_SEED_0):
    context = dg.build_sensor_context(instance=instance, resources={"settings": settings, "vgg16": vgg16})
    return image_batch_sensor(context)


def test_sensor_registers_new_batches_and_requests_their_features(tiny_city):
    instance = dg.DagsterInstance.ephemeral()
    result = evaluate_sensor(instance, tiny_city)
    assert [r.partition_key for r in result.run_requests] == ["batch_000", "batch_001"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["batch_000", "batch_001"]
    keys = {r.run_key for r in result.run_requests}
    instance.add_dynamic_partitions("image_batch", ["batch_000", "batch_001"])
    again = evaluate_sensor(instance, tiny_city)
    assert not again.dynamic_partitions_requests
    assert {r.run_key for r in again.run_requests} == keys  # same run keys: Dagster launches each only once

    archive = tiny_city.paths.raw_images / "batch_001.zip"
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    changed = evaluate_sensor(instance, tiny_city)
    new_keys = {r.run_key for r in changed.run_requests} - keys
    assert len(new_keys) == 1 and next(iter(new_keys)).startswith("batch_001:")

    shutil.copy(archive, tiny_city.paths.raw_images / "batch_002.zip")
    assert evaluate_sensor(instance, tiny_city).dynamic_partitions_requests[0].partition_keys == ["batch_002"]


def test_batches_with_current_features_are_not_requested_until_the_weights_change(built_city):
    settings, _, instance = built_city
    assert evaluate_sensor(instance, settings).run_requests == []
    other_weights = Vgg16Resource(weights_file="", random_seed=1)
    requests = evaluate_sensor(instance, settings, other_weights).run_requests
    assert [r.partition_key for r in requests] == ["batch_000", "batch_001"]
    assert len({r.run_key for r in requests}) == 2


def test_schedule_requests_stale_outcomes_only(built_city):
    settings, defs, instance = built_city
    outcomes = instance.get_dynamic_partitions("outcome")
    assert sorted(outcomes) == sorted(OUTCOME_KEYS), "the demo city's files provide every registered outcome"
    stale_before = set(stale_outcomes(instance, outcomes))
    run_config = {"ops": {"ordinal_model": {"config": {"epochs": 1, "folds": 2, "patience": 1}}}}
    assert defs.resolve_job_def("retrain_outcome").execute_in_process(instance=instance, partition_key="crime", run_config=run_config).success
    assert "crime" in stale_before and "crime" not in stale_outcomes(instance, outcomes)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime.datetime(2026, 11, 22, 3, 0))
    requested = {r.partition_key for r in stale_outcomes_schedule(context)}
    assert "crime" not in requested and requested <= set(OUTCOME_KEYS) and "housing_services" in requested


def test_declarative_automation_moves_one_stage_at_a_time(tmp_path, random_vgg16):
    """New features request one training-set run; once it exists, each outcome's chain once; nothing twice."""
    from sview_assets.definitions import build_definitions

    from .conftest import TINY_CITY, make_city

    settings = make_city(tmp_path, CitySpec(**{**TINY_CITY.__dict__, "batch_size": 60}), city="auto")
    defs = build_definitions(settings, random_vgg16)
    instance = dg.DagsterInstance.ephemeral()

    def evaluate(cursor):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        requested = {key: result.get_num_requested(dg.AssetKey(key)) for key in ASSET_NAMES}
        return result, {k: v for k, v in requested.items() if v}

    result, requested = evaluate(None)
    assert requested == {}
    assert defs.resolve_job_def("labels_job").execute_in_process(instance=instance).success
    instance.add_dynamic_partitions("image_batch", ["batch_000"])
    assert defs.resolve_job_def("image_features_job").execute_in_process(instance=instance, partition_key="batch_000").success

    result, requested = evaluate(result.cursor)
    assert requested == {"training_set": 1}
    result, requested = evaluate(result.cursor)
    assert requested == {}

    assert defs.resolve_job_def("training_set_job").execute_in_process(instance=instance).success
    result, requested = evaluate(result.cursor)
    # Each outcome's chain is requested together (one run per outcome partition); the views wait
    # until the metrics exist.
    chain = ("ordinal_model", "location_predictions", "lsoa_predictions", "model_metrics")
    assert requested == {key: len(OUTCOME_KEYS) for key in chain}
    assert evaluate(result.cursor)[1] == {}


ASSET_NAMES = (
    "postcode_locations",
    "lsoa_labels",
    "image_manifest",
    "vgg16_features",
    "training_set",
    "ordinal_model",
    "location_predictions",
    "lsoa_predictions",
    "model_metrics",
    "warehouse_views",
)
