"""Features are valid only for the image files, weights and preprocessing that made them."""

import os
import shutil

import dagster as dg
import h5py
import numpy as np
import pytest

from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import plan_image_batches
from sview_assets.ml.features.feature_store import read_feature_attrs, read_feature_ids
from sview_assets.ml.training.training_set import build_training_set, read_training_table

from .helpers import definitions_for_city, narrow_vgg16
from .test_assets import query

BATCHES = ["batch_000", "batch_001"]


def read_feature_file(path):
    with h5py.File(path, "r") as handle:
        return handle["img_id"][()], handle["features"][()]


def plan(settings, instance, vgg16):
    return plan_image_batches(instance, settings, CityScope(settings.city).image_batches.name, vgg16.recipe())


def step_error(result) -> str:
    return "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure)


def run_training_set(settings, instance, vgg16):
    defs = definitions_for_city(settings, vgg16)
    return defs.resolve_job_def(f"{settings.city}__training_set_job").execute_in_process(instance=instance, raise_on_error=False)


def test_new_weights_make_every_batch_stale_until_re_extracted(city_copy, random_vgg16):
    settings, instance = city_copy
    other_weights = narrow_vgg16(seed=1, locations_per_batch=8)
    assert plan(settings, instance, random_vgg16).to_extract == {}
    stale = plan(settings, instance, other_weights)
    assert sorted(stale.to_extract) == BATCHES
    assert all("VGG16 weights changed" in reasons[0] for reasons in stale.reasons.values())

    refused = run_training_set(settings, instance, other_weights)
    assert not refused.success
    assert "Stale features in 2 batch(es)" in step_error(refused) and "batch_001: VGG16 weights changed" in step_error(refused)

    before = settings.paths.feature_file("batch_000").read_bytes()
    defs = definitions_for_city(settings, other_weights)
    assert defs.resolve_job_def(f"{settings.city}__image_features_job").execute_in_process(instance=instance, partition_key="batch_000").success
    assert settings.paths.feature_file("batch_000").read_bytes() != before
    assert read_feature_attrs(settings.paths.feature_file("batch_000"))["weights_sha256"] == other_weights.weights().sha256
    assert sorted(plan(settings, instance, other_weights).to_extract) == ["batch_001"]
    assert "batch_000" not in step_error(run_training_set(settings, instance, other_weights))

    files = [settings.paths.feature_file(b) for b in BATCHES]
    locations = query(settings, "SELECT * FROM postcode_locations")
    labels = query(settings, "SELECT * FROM lsoa_labels")
    with pytest.raises(ValueError, match="different weights, preprocessing or precision.*batch_000.*batch_001"):
        build_training_set(settings.paths.root / "mixed.h5", files, locations, labels)
    assert not (settings.paths.root / "mixed.h5").exists()


def test_a_changed_image_archive_makes_only_its_batch_stale(city_copy, random_vgg16):
    settings, instance = city_copy
    archive = settings.paths.raw_images / "batch_001.zip"
    stat = archive.stat()
    os.utime(archive, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    result = plan(settings, instance, random_vgg16)
    assert list(result.to_extract) == ["batch_001"]
    assert result.reasons["batch_001"][0].startswith("image files changed")
    error = step_error(run_training_set(settings, instance, random_vgg16))
    assert "Stale features in 1 batch(es)" in error and "batch_001: image files changed" in error


def test_a_batch_removed_from_raw_leaves_the_training_set(city_copy, random_vgg16):
    settings, instance = city_copy
    (settings.paths.raw_images / "batch_001.zip").unlink()
    assert plan(settings, instance, random_vgg16).removed == ["batch_001"]
    result = run_training_set(settings, instance, random_vgg16)
    assert result.success
    kept = sorted(read_training_table(settings.paths.training_set).locations["img_id"])
    assert kept == sorted(read_feature_ids(settings.paths.feature_file("batch_000")).tolist()) and len(kept) == 30
    metadata = result.asset_materializations_for_node("copy__training_set")[0].metadata
    assert metadata["batches_removed_from_raw"].value == ["batch_001"] and metadata["batches"].value == 1


def test_an_img_id_in_two_batches_is_an_error_naming_both(city_copy):
    settings, _ = city_copy
    duplicate = settings.paths.feature_file("batch_dup")
    shutil.copy(settings.paths.feature_file("batch_001"), duplicate)
    first = int(read_feature_ids(duplicate)[0])
    locations = query(settings, "SELECT * FROM postcode_locations")
    labels = query(settings, "SELECT * FROM lsoa_labels")
    files = [settings.paths.feature_file("batch_000"), settings.paths.feature_file("batch_001"), duplicate]
    with pytest.raises(ValueError, match=f"img_id {first} has features in two batches, 'batch_001' and 'batch_dup'"):
        build_training_set(settings.paths.root / "dup.h5", files, locations, labels)
    assert np.array_equal(read_feature_ids(duplicate), read_feature_ids(settings.paths.feature_file("batch_001")))


def test_truncated_feature_and_training_files_are_named_with_the_remedy(city_copy, random_vgg16, tmp_path):
    from sview_assets.ml.features.feature_store import UnreadableFileError
    from sview_assets.ml.training.cross_validation import train_outcome
    from sview_assets.ml.training.presets import TrainSettings

    settings, instance = city_copy
    feature_file = settings.paths.feature_file("batch_001")
    feature_file.write_bytes(feature_file.read_bytes()[:5000])
    result = plan(settings, instance, random_vgg16)
    assert list(result.to_extract) == ["batch_001"]
    assert "batch_001.h5: this HDF5 file cannot be read" in result.reasons["batch_001"][0]

    training = settings.paths.training_set
    training.write_bytes(training.read_bytes()[:5000])
    with pytest.raises(UnreadableFileError, match=r"training_set.h5: this training set cannot be read .* Materialize training_set again"):
        train_outcome(training, "income", TrainSettings(epochs=1, folds=2), tmp_path, log=lambda _: None)


def test_a_change_of_precision_makes_every_batch_stale(city_copy, random_vgg16):
    settings, instance = city_copy
    assert read_feature_attrs(settings.paths.feature_file("batch_000"))["precision"] == "float32"
    bf16 = narrow_vgg16(precision="bfloat16")
    result = plan(settings, instance, bf16)
    assert sorted(result.to_extract) == BATCHES
    assert result.reasons["batch_000"] == ["precision changed (float32 -> bfloat16)"]


def materialize_batch_range(settings, instance, vgg16, first: str, last: str):
    from sview_assets.definitions import build_city, city_assets, city_resources

    built = build_city(settings.city)
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.materialize(
        city_assets(built, settings.city, "vgg16_features"), instance=instance, resources=city_resources(settings, vgg16), tags=tags, raise_on_error=False
    )


def partition_materializations(result) -> dict[str, dict]:
    return {
        e.event_specific_data.materialization.partition: e.event_specific_data.materialization.metadata
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION" and e.event_specific_data.materialization.metadata.get("path")
    }


def test_a_multi_batch_run_gives_each_batch_what_a_run_of_its_own_would(city_copy, random_vgg16):
    settings, instance = city_copy
    alone = {b: read_feature_file(settings.paths.feature_file(b)) for b in BATCHES}
    for batch in BATCHES:
        settings.paths.feature_file(batch).unlink()
    result = materialize_batch_range(settings, instance, random_vgg16, "batch_000", "batch_001")
    assert result.success
    materialized = partition_materializations(result)
    assert sorted(materialized) == BATCHES
    everything = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    assert len(everything) == len(BATCHES), "each batch's own materialization, and no closing one that would hide it"
    for batch in BATCHES:
        ids, features = read_feature_file(settings.paths.feature_file(batch))
        np.testing.assert_array_equal(ids, alone[batch][0])
        np.testing.assert_allclose(features, alone[batch][1], rtol=1e-5, atol=1e-4)
        assert materialized[batch]["locations"].value == len(ids) and materialized[batch]["path"].value.endswith(f"{batch}.h5")


def test_a_failing_batch_in_a_multi_batch_run_leaves_the_others_materialized(city_copy, random_vgg16):
    settings, instance = city_copy
    for batch in BATCHES:
        settings.paths.feature_file(batch).unlink()
    archive = settings.paths.raw_images / "batch_001.zip"
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))  # its manifest is now out of date
    result = materialize_batch_range(settings, instance, random_vgg16, "batch_000", "batch_001")
    assert not result.success
    assert "1 of 2 batches failed (the others are materialized): batch_001: Image batch 'batch_001' changed" in step_error(result)
    assert list(partition_materializations(result)) == ["batch_000"]
    assert settings.paths.feature_file("batch_000").is_file() and not settings.paths.feature_file("batch_001").exists()
