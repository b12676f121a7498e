"""The image-batch sensor and the assets' automation conditions, evaluated against a real instance."""

import datetime
import os
import shutil
import zipfile

import dagster as dg
import pytest

from sview_assets.config.declarations import read_declarations
from sview_assets.definitions import build_city
from sview_assets.defs.staleness import BatchScan, scan_batches
from sview_assets.demo.geography import CitySpec
from sview_assets.sources.images import find_batches

from .helpers import narrow_vgg16

RANDOM_SEED_0 = narrow_vgg16()


def evaluate_sensor(instance, settings, vgg16=RANDOM_SEED_0, cursor=None):
    [image_batch_sensor] = build_city(settings.city).sensors
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": settings.storage(), "vgg16": vgg16})
    return image_batch_sensor(context)


def test_sensor_registers_new_batches_and_requests_their_features(tiny_city):
    instance = dg.DagsterInstance.ephemeral()
    result = evaluate_sensor(instance, tiny_city)
    assert [r.partition_key for r in result.run_requests] == ["batch_000", "batch_001"]
    assert result.dynamic_partitions_requests[0].partition_keys == ["batch_000", "batch_001"]
    keys = {r.run_key for r in result.run_requests}
    instance.add_dynamic_partitions("tiny__image_batch", ["batch_000", "batch_001"])
    again = evaluate_sensor(instance, tiny_city, cursor=result.cursor)
    assert not again.dynamic_partitions_requests
    assert {r.run_key for r in again.run_requests} == keys  # same run keys: Dagster launches each only once

    archive = tiny_city.paths.raw_images / "batch_001.zip"
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    changed = evaluate_sensor(instance, tiny_city, cursor=again.cursor)
    new_keys = {r.run_key for r in changed.run_requests} - keys
    assert len(new_keys) == 1 and next(iter(new_keys)).startswith("batch_001:")

    shutil.copy(archive, tiny_city.paths.raw_images / "batch_002.zip")
    assert evaluate_sensor(instance, tiny_city, cursor=changed.cursor).dynamic_partitions_requests[0].partition_keys == ["batch_002"]


def test_a_removed_batch_is_unregistered_and_the_training_set_rebuilt_once(tiny_city):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tiny__image_batch", ["batch_000", "batch_001"])
    first = evaluate_sensor(instance, tiny_city)
    (tiny_city.paths.raw_images / "batch_001.zip").unlink()
    removed = evaluate_sensor(instance, tiny_city, cursor=first.cursor)
    [delete] = removed.dynamic_partitions_requests
    assert isinstance(delete, dg.DeleteDynamicPartitionsRequest) and delete.partition_keys == ["batch_001"]
    assert [(r.job_name, r.partition_key) for r in removed.run_requests] == [("tiny__image_features_job", "batch_000"), ("tiny__training_set_job", None)]
    instance.delete_dynamic_partition("tiny__image_batch", "batch_001")
    after = evaluate_sensor(instance, tiny_city, cursor=removed.cursor)
    assert not after.dynamic_partitions_requests and [r.job_name for r in after.run_requests] == ["tiny__image_features_job"]


def folder_batch(settings, name: str):
    """Unpack batch_000's archive into a folder batch ``name`` under raw/images/."""
    folder = settings.paths.raw_images / name
    with zipfile.ZipFile(settings.paths.raw_images / "batch_000.zip") as archive:
        archive.extractall(folder)
    return folder


def test_a_scan_fingerprints_only_what_moved_and_finds_an_in_place_edit_in_turn(tiny_city):
    folders = [folder_batch(tiny_city, f"folder_{i}") for i in range(3)]
    first = scan_batches(find_batches(tiny_city.paths.raw_images))
    assert set(first.fingerprinted) == {"batch_000", "batch_001", "folder_0", "folder_1", "folder_2"}

    quiet = scan_batches(find_batches(tiny_city.paths.raw_images), first, full_check_seconds=0)
    assert quiet.fingerprints == first.fingerprints and quiet.fingerprinted == ()

    (folders[1] / "extra_note.txt").write_text("added")
    added = scan_batches(find_batches(tiny_city.paths.raw_images), quiet, full_check_seconds=0)
    assert added.fingerprinted == ("folder_1",) and added.fingerprints["folder_1"] != quiet.fingerprints["folder_1"]

    image = sorted(folders[2].glob("*_a.png"))[0]
    folder_time = folders[2].stat().st_mtime_ns
    image.write_bytes(image.read_bytes() + b"\0")
    os.utime(folders[2], ns=(folder_time, folder_time))
    scan, ticks = added, 0
    while scan.fingerprints["folder_2"] == added.fingerprints["folder_2"]:
        scan, ticks = scan_batches(find_batches(tiny_city.paths.raw_images), scan, full_check_seconds=0), ticks + 1
        assert ticks <= 5, "one unchanged batch is fingerprinted per tick: five batches, five ticks at most"
    assert scan.fingerprinted == ("folder_2",)
    assert BatchScan.from_cursor(scan.to_cursor()) == BatchScan(scan.fingerprints, scan.signatures, scan.rotation)
    assert BatchScan.from_cursor("not json") is None


def test_batches_with_current_features_are_not_requested_until_the_weights_change(built_city):
    settings, _, instance = built_city
    assert evaluate_sensor(instance, settings).run_requests == []
    other_weights = narrow_vgg16(seed=1)
    requests = evaluate_sensor(instance, settings, other_weights).run_requests
    assert [r.partition_key for r in requests] == ["batch_000", "batch_001"]
    assert len({r.run_key for r in requests}) == 2


@pytest.mark.slow
def test_declarative_automation_moves_one_stage_at_a_time_and_retries_a_failure_at_night(tmp_path, random_vgg16):
    """Labels first; new features request one training-set run; then each outcome's chain once; the views
    once some metrics exist; nothing twice; a failed outcome once more after the nightly tick."""
    from .conftest import TINY_CITY, make_city
    from .helpers import definitions_for_city

    settings = make_city(tmp_path, CitySpec(**{**TINY_CITY.__dict__, "batch_size": 60}), city="auto")
    defs = definitions_for_city(settings, random_vgg16)
    instance = dg.DagsterInstance.ephemeral()
    day = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)

    def evaluate(cursor, at=day):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor, evaluation_time=at)
        requested = {key: result.get_num_requested(dg.AssetKey(["auto", key])) for key in ASSET_NAMES}
        return result, {k: v for k, v in requested.items() if v}

    result, requested = evaluate(None)
    assert requested == {"postcode_locations": 1, "lsoa_labels": 1}
    assert evaluate(result.cursor)[1] == {}
    assert defs.resolve_job_def("auto__labels_job").execute_in_process(instance=instance).success
    instance.add_dynamic_partitions("auto__image_batch", ["batch_000"])
    assert defs.resolve_job_def("auto__image_features_job").execute_in_process(instance=instance, partition_key="batch_000").success

    result, requested = evaluate(result.cursor)
    assert requested == {"training_set": 1}
    result, requested = evaluate(result.cursor)
    assert requested == {}

    assert defs.resolve_job_def("auto__training_set_job").execute_in_process(instance=instance).success
    result, requested = evaluate(result.cursor)
    # Each outcome's chain is requested together (one run per outcome partition); the views wait
    # until some metrics exist.
    chain = ("ordinal_model", "location_predictions", "lsoa_predictions", "model_metrics")
    declared = len(read_declarations(settings.paths.root / "outcomes.toml").keys)
    assert requested == {key: declared for key in chain} and declared == 14
    assert evaluate(result.cursor)[1] == {}

    tiny = {"epochs": 1, "folds": 2, "patience": 1, "batch_size": 16}
    retrain = defs.resolve_job_def("auto__retrain_outcome")
    assert retrain.execute_in_process(instance=instance, partition_key="income", run_config={"ops": {"auto__ordinal_model": {"config": tiny}}}).success
    broken = {"ops": {"auto__ordinal_model": {"config": {**tiny, "learning_rate": 1e30}}}}
    assert not retrain.execute_in_process(instance=instance, partition_key="crime", run_config=broken, raise_on_error=False).success
    result, requested = evaluate(result.cursor)
    assert requested == {"warehouse_views": 1, "lsoa_geopackage": 1}, "the views and GIS layers refresh although crime failed and the other outcomes never ran"
    assert evaluate(result.cursor)[1] == {}

    result, requested = evaluate(result.cursor, at=day + datetime.timedelta(hours=15))
    assert requested == {key: 1 for key in chain}, "after 02:00 the failed outcome, and only it, is retried"
    assert evaluate(result.cursor, at=day + datetime.timedelta(hours=15, minutes=1))[1] == {}


ASSET_NAMES = tuple(key.path[-1] for asset in build_city("auto").assets for key in asset.keys)
