"""Feature stage: VGG16 fc6 features per image batch, and the city's HDF5 training set."""

import time

import dagster as dg
import pandas as pd

from ..ml.feature_store import write_feature_file
from ..ml.preprocess import PREPROCESSING_VERSION
from ..ml.training_set import build_training_set
from ..ml.vgg16 import MODEL_DESCRIPTION
from ..partitions import image_batch_partitions
from ..resources import Vgg16Resource
from ..settings import SviewSettings
from .images import batch_fingerprint

GROUP = "features"
FEATURES_COMPLETE = "all_locations_extracted"
TRAINING_SET_ALIGNED = "rows_match_label_table"
TENSORFLOW_TAG = {"sview/tensorflow": "true"}


@dg.asset(
    group_name=GROUP,
    partitions_def=image_batch_partitions,
    kinds={"tensorflow", "hdf5"},
    op_tags=TENSORFLOW_TAG,
    check_specs=[dg.AssetCheckSpec(FEATURES_COMPLETE, asset="vgg16_features", description="Every location of the batch has features; lists those skipped (missing heading, unreadable image).")],
)
def vgg16_features(
    context: dg.AssetExecutionContext,
    settings: SviewSettings,
    vgg16: Vgg16Resource,
    image_manifest: pd.DataFrame,
):
    """VGG16 fc6 (`fc1`) features of the four headings of every usable location in one batch.

    Written to `data/<city>/features/<batch>.h5` (`features [n, 4, 4096]` float32, `img_id [n]`,
    attributes naming the weights, their checksum and the preprocessing) by write-then-rename.
    Without a weights file the extractor uses seeded RANDOM weights: fine for the demo, never
    comparable with ImageNet features; the metadata and the file say so.
    """
    from ..ml.extract import extract_features
    from ..ml.threads import configure_tensorflow_threads

    cores = configure_tensorflow_threads()
    batch = context.partition_key
    usable = image_manifest[image_manifest["usable"]]
    skipped = image_manifest[~image_manifest["usable"] & (image_manifest["img_id"] >= 0)]
    model, weights = vgg16.build()
    if weights.is_random:
        context.log.warning(f"VGG16 weights: {weights.source}. These are NOT ImageNet features; set SVIEW_VGG16_WEIGHTS for real ones.")
    start = time.perf_counter()
    last_report = [start]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last_report[0] > 15 or done == total:
            last_report[0] = time.perf_counter()
            context.log.info(f"batch {batch}: {done}/{total} locations extracted")

    result = extract_features(
        model,
        usable["img_id"].tolist(),
        usable[["path_a", "path_b", "path_c", "path_d"]].to_numpy().tolist(),
        locations_per_batch=vgg16.locations_per_batch,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    info = write_feature_file(
        settings.paths.feature_file(batch),
        result.img_ids,
        result.features,
        {
            "weights": weights.source,
            "weights_sha256": weights.sha256,
            "preprocessing": PREPROCESSING_VERSION,
            "model": MODEL_DESCRIPTION,
            "batch": batch,
        },
    )
    skipped_ids = sorted(skipped["img_id"].tolist()) + result.failed
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(info.path)),
            "locations": info.rows,
            "shape": str(tuple(result.features.shape)),
            "sha256": info.sha256,
            "size_mb": round(info.size_bytes / 2**20, 2),
            "weights": weights.source,
            "weights_sha256": weights.sha256,
            "preprocessing": PREPROCESSING_VERSION,
            "skipped_locations": len(skipped_ids),
            "images_per_second": round(4 * info.rows / max(seconds, 1e-9), 2),
            "tensorflow_threads": cores,
            "source_fingerprint": batch_fingerprint(settings, batch),
        }
    )
    reasons = dict(zip(skipped["img_id"].tolist(), skipped["problems"].tolist()))
    reasons.update({i: "image failed to decode in the pipeline" for i in result.failed})
    yield dg.AssetCheckResult(
        check_name=FEATURES_COMPLETE,
        passed=not skipped_ids,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"skipped": len(skipped_ids), "reasons": dg.MetadataValue.json({str(k): v for k, v in list(reasons.items())[:50]})},
    )


@dg.asset(
    group_name=GROUP,
    deps=[vgg16_features],
    kinds={"hdf5"},
    automation_condition=dg.AutomationCondition.eager(),
    check_specs=[dg.AssetCheckSpec(TRAINING_SET_ALIGNED, asset="training_set", blocking=True, description="Rows are unique img_ids whose LSOA and deciles match lsoa_labels.")],
)
def training_set(
    context: dg.AssetExecutionContext,
    settings: SviewSettings,
    postcode_locations: pd.DataFrame,
    lsoa_labels: pd.DataFrame,
):
    """One HDF5 file of the city's features aligned row by row with locations and outcome deciles.

    `data/<city>/training_set.h5`: `features [N, 4, 4096]` (chunked by rows), `img_id`, `pcd`, `oa11`,
    `lsoa11`, `msoa11` and `deciles [N, K]` (0 = no label). Built by streaming every registered batch's
    feature file, so memory does not grow with N. Locations without labels are left out and counted.
    """
    batches = sorted(context.instance.get_dynamic_partitions(image_batch_partitions.name))
    files = [settings.paths.feature_file(b) for b in batches]
    missing = [b for b, f in zip(batches, files) if not f.is_file()]
    if missing:
        context.log.warning(f"{len(missing)} registered batch(es) have no feature file yet and are left out: {missing[:10]}")
    present = [f for f in files if f.is_file()]
    if not present:
        raise FileNotFoundError(f"No feature files under {settings.paths.features}; materialize vgg16_features first.")
    summary = build_training_set(settings.paths.training_set, present, postcode_locations, lsoa_labels)
    if summary.rows == 0:
        raise ValueError(f"The training set would be empty: no location has both features and labels ({summary.dropped}).")
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(summary.path)),
            "rows": summary.rows,
            "lsoas": summary.lsoas,
            "outcomes": dg.MetadataValue.json(summary.outcomes),
            "batches": len(present),
            "batches_without_features": dg.MetadataValue.json(missing),
            "locations_dropped": dg.MetadataValue.json(summary.dropped),
            "size_mb": round(summary.size_bytes / 2**20, 1),
        }
    )
    yield _check_alignment(summary.path, lsoa_labels)


def _check_alignment(path, lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
    from ..ml.training_set import read_training_table, wide_deciles

    table = read_training_table(path)
    frame = table.locations
    expected = wide_deciles(lsoa_labels).loc[frame["lsoa11"]]
    mismatched = sum(int((frame[f"decile_{o}"].to_numpy() != expected[o].to_numpy()).sum()) for o in table.outcomes)
    duplicates = int(frame["img_id"].duplicated().sum())
    return dg.AssetCheckResult(
        check_name=TRAINING_SET_ALIGNED,
        passed=mismatched == 0 and duplicates == 0,
        metadata={"rows": len(frame), "mismatched_deciles": mismatched, "duplicate_img_ids": duplicates},
    )
