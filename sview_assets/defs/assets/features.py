"""Feature stage: VGG16 fc6 features per image batch, and the city's HDF5 training set."""

import os
import time
import warnings

import dagster as dg
import pandas as pd

from sview_assets.config.settings import Storage, SviewSettings
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.executors import feature_step_tags
from sview_assets.defs.metadata import worker_label
from sview_assets.defs.names import TENSORFLOW_TAG, AssetName
from sview_assets.defs.resources import Vgg16Resource
from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import current_views, inventory_features
from sview_assets.ml.features.feature_store import ExtractorRecipe, FeatureProvenance, write_feature_file
from sview_assets.ml.features.vgg16 import MODEL_DESCRIPTION, PREPROCESSING_VERSION
from sview_assets.ml.training.training_set import build_training_set
from sview_assets.sources.images import find_batch, find_batches
from sview_assets.sources.panoramas import PHOTOS
from sview_assets.warehouse.delta_io import read_partition

FEATURES_COMPLETE = "all_locations_extracted"
TRAINING_SET_ALIGNED = "rows_match_label_table"
BATCHES_PER_RUN_ENV = "SVIEW_BATCHES_PER_RUN"


def build_feature_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``vgg16_features`` (one partition per image batch) and ``training_set``."""

    with warnings.catch_warnings():  # Dagster marks backfill_policy beta; its warning on every import is not the user's business
        warnings.simplefilter("ignore", dg.BetaWarning)

        @dg.asset(
            **scope.asset_args(AssetName.VGG16_FEATURES),
            partitions_def=scope.image_batches,
            deps=[scope.key(AssetName.IMAGE_MANIFEST)],
            backfill_policy=_backfill_policy(),
            # A run of several batches logs one materialization per batch itself, and no closing one for all.
            output_required=False,
            kinds={"tensorflow", "hdf5"},
            op_tags={**TENSORFLOW_TAG, **feature_step_tags()},
            check_specs=[
                dg.AssetCheckSpec(
                    FEATURES_COMPLETE,
                    asset=scope.key(AssetName.VGG16_FEATURES),
                    description="Every location of the batch has features; lists those skipped (missing heading, unreadable image).",
                )
            ],
        )
        def vgg16_features(context: dg.AssetExecutionContext, storage: Storage, vgg16: Vgg16Resource):
            """VGG16 fc6 features (before its ReLU, as the paper) of the four headings of every usable location in one batch.

            Written to `data/<city>/features/<batch>.h5` (`features [n, 4, 4096]` float32, `img_id [n]`,
            attributes naming the weights, their checksum, the preprocessing, the fingerprint of the image
            files and how the views were made: `photos`, or the cut of the batch's panoramas) by write-then-rename.
            The features are valid only while those match: a change of any of them makes the batch stale, and
            the sensor and the CLI extract it again. A backfill runs up to `SVIEW_BATCHES_PER_RUN` (8) batches in
            one run, building VGG16 once: each batch gets its own materialization (logged as it finishes) and file,
            and a batch that fails is reported while the others keep theirs.
            Without a weights file the extractor uses seeded RANDOM weights: fine for the demo, never
            comparable with ImageNet features; the metadata and the file say so.
            """
            from sview_assets.ml.threads import configure_threads

            settings = storage.for_city(scope.city)
            extractor = _BatchExtractor.start(context, vgg16, configure_threads())
            keys = context.partition_keys
            if len(keys) == 1:
                metadata, check = extractor.extract(settings, keys[0])
                yield dg.MaterializeResult(metadata=metadata)
                yield check
                return
            failed, checks = {}, []
            for batch in keys:
                try:
                    metadata, check = extractor.extract(settings, batch)
                except (OSError, ValueError) as exc:
                    failed[batch] = str(exc)
                    context.log.error(f"batch {batch} failed, the run goes on with the others: {exc}")
                    continue
                yield dg.AssetMaterialization(asset_key=scope.key(AssetName.VGG16_FEATURES), partition=batch, metadata=metadata)
                checks.append((batch, check))
            if failed:
                raise dg.Failure(
                    description=f"{len(failed)} of {len(keys)} batches failed (the others are materialized): "
                    + "; ".join(f"{b}: {e}" for b, e in failed.items())
                )
            incomplete = [b for b, c in checks if not c.passed]
            yield dg.AssetCheckResult(
                check_name=FEATURES_COMPLETE,
                passed=not incomplete,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"batches": len(checks), "batches_with_skipped_locations": dg.MetadataValue.json(incomplete)},
            )

    @dg.asset(
        **scope.asset_args(AssetName.TRAINING_SET),
        deps=[scope.key(AssetName.VGG16_FEATURES)],
        ins={"postcode_locations": scope.table_in(AssetName.POSTCODE_LOCATIONS), "lsoa_labels": scope.table_in(AssetName.LSOA_LABELS)},
        kinds={"hdf5"},
        automation_condition=keep_up_to_date(),
        check_specs=[
            dg.AssetCheckSpec(
                TRAINING_SET_ALIGNED,
                asset=scope.key(AssetName.TRAINING_SET),
                blocking=True,
                description="Rows are unique img_ids whose LSOA and deciles match lsoa_labels.",
            )
        ],
    )
    def training_set(
        context: dg.AssetExecutionContext,
        storage: Storage,
        vgg16: Vgg16Resource,
        postcode_locations: pd.DataFrame,
        lsoa_labels: pd.DataFrame,
    ):
        """One HDF5 file of the city's features aligned row by row with locations and outcome deciles.

        `data/<city>/training_set.h5`: `features [N, 4, 4096]` (chunked by rows), `img_id`, `pcd`, `oa11`,
        `lsoa11`, `msoa11` and `deciles [N, K]` (0 = no label). Built by streaming the feature file of every
        registered batch that is still under `raw/images/`, so memory does not grow with N. Refuses stale
        features (made from other image files, views, weights, preprocessing or precision than now) and an img_id found in
        two batches, naming the batches. Batches not extracted yet are left out and listed.
        """
        settings = storage.for_city(scope.city)
        registered = set(context.instance.get_dynamic_partitions(scope.image_batches.name))
        on_disk = [b for b in find_batches(settings.paths.raw_images) if b.key in registered]
        removed = sorted(registered - {b.key for b in on_disk})
        if removed:
            context.log.warning(f"{len(removed)} registered batch(es) are no longer under {settings.paths.raw_images} and are left out: {removed[:10]}")
        views = current_views(settings, [b.key for b in on_disk if b.holds_panoramas()])
        inventory = inventory_features(settings, {b.key: b.fingerprint() for b in on_disk}, vgg16.recipe(), views)
        missing = inventory.missing
        if inventory.stale:
            listing = "; ".join(f"{b}: {', '.join(r)}" for b, r in sorted(inventory.stale.items()))
            raise ValueError(
                f"Stale features in {len(inventory.stale)} batch(es), refusing to build the training set from them: {listing}. "
                "Extract them again (the image sensor or `python -m sview_assets.cli.pipeline` does; or materialize "
                f"{scope.name('image_features_job')} for those partitions)."
            )
        if missing:
            context.log.warning(f"{len(missing)} registered batch(es) have no feature file yet and are left out: {missing[:10]}")
        present = [inventory.fresh[b] for b in sorted(inventory.fresh)]
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
                "batches_removed_from_raw": dg.MetadataValue.json(removed),
                "weights_sha256": summary.provenance.get("weights_sha256", ""),
                "preprocessing": summary.provenance.get("preprocessing", ""),
                "precision": summary.provenance.get("precision", ""),
                "locations_dropped": dg.MetadataValue.json(summary.dropped),
                "size_mb": round(summary.size_bytes / 2**20, 1),
            }
        )
        yield _check_alignment(summary.path, lsoa_labels)

    return [vgg16_features, training_set]


def _backfill_policy() -> dg.BackfillPolicy:
    """Backfills of ``vgg16_features`` in runs of :func:`batches_per_run` batches."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=batches_per_run())


def batches_per_run() -> int:
    """Most image batches one backfill run of ``vgg16_features`` extracts: ``$SVIEW_BATCHES_PER_RUN`` or 8."""
    value = os.environ.get(BATCHES_PER_RUN_ENV) or "8"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{BATCHES_PER_RUN_ENV}={value!r}: expected a whole number of batches, at least 1.")
    return int(value)


class _BatchExtractor:
    """VGG16 built once for a run, and the extraction of one batch at a time with it."""

    def __init__(self, context, vgg16: Vgg16Resource, cores: int, device: str, per_call: int):
        self.context, self.vgg16, self.cores, self.device, self.per_call = context, vgg16, cores, device, per_call
        self.model, self.weights = vgg16.build()

    @classmethod
    def start(cls, context, vgg16: Vgg16Resource, cores: int) -> "_BatchExtractor":
        from sview_assets.ml.devices import locations_per_call, select_device

        device = select_device()
        extractor = cls(context, vgg16, cores, device, locations_per_call(device, vgg16.locations_per_batch))
        if extractor.weights.is_random:
            context.log.warning(f"VGG16 weights: {extractor.weights.source}. These are NOT ImageNet features; set SVIEW_VGG16_WEIGHTS for real ones.")
        return extractor

    def extract(self, settings: SviewSettings, batch: str) -> tuple[dict, dg.AssetCheckResult]:
        """Extract and write one batch's features; its materialization metadata and check result."""
        from sview_assets.ml.backend import keras_backend
        from sview_assets.ml.features.extract import extract_features

        manifest = read_partition(settings.warehouse, "image_manifest", "batch", batch)
        if manifest.empty:
            raise ValueError(f"Image batch {batch!r} has no manifest yet; materialize {settings.city}/image_manifest for it first.")
        fingerprint = _manifest_fingerprint(settings, batch, manifest)
        views = _manifest_views(settings, batch, manifest)
        usable = manifest[manifest["usable"]]
        skipped = manifest[~manifest["usable"] & (manifest["img_id"] >= 0)]
        start = last_report = time.perf_counter()

        def progress(done: int, total: int) -> None:
            nonlocal last_report
            if time.perf_counter() - last_report > 15 or done == total:
                last_report = time.perf_counter()
                self.context.log.info(f"batch {batch}: {done}/{total} locations extracted")

        paths = usable[["path_a", "path_b", "path_c", "path_d"]].to_numpy().tolist()
        result = extract_features(self.model, usable["img_id"].tolist(), paths, locations_per_batch=self.per_call, progress=progress)
        seconds = time.perf_counter() - start
        provenance = FeatureProvenance.of(fingerprint, ExtractorRecipe(self.weights.sha256, self.vgg16.precision), views)
        attrs = {**provenance.as_attrs(), "weights": self.weights.source, "model": MODEL_DESCRIPTION, "batch": batch, "backend": keras_backend()}
        info = write_feature_file(settings.paths.feature_file(batch), result.img_ids, result.features, attrs)
        skipped_ids = sorted(skipped["img_id"].tolist()) + result.failed
        metadata = {
            "path": dg.MetadataValue.path(str(info.path)),
            "locations": info.rows,
            "shape": str(tuple(result.features.shape)),
            "sha256": info.sha256,
            "size_mb": round(info.size_bytes / 2**20, 2),
            "weights": self.weights.source,
            "weights_sha256": self.weights.sha256,
            "preprocessing": PREPROCESSING_VERSION,
            "precision": self.vgg16.precision,
            "skipped_locations": len(skipped_ids),
            "images_per_second": round(4 * info.rows / max(seconds, 1e-9), 2),
            "threads": self.cores,
            "backend": keras_backend(),
            "device": self.device,
            "worker": worker_label(),
            "locations_per_call": self.per_call,
            "source_fingerprint": fingerprint,
            "views": views,
        }
        reasons = dict(zip(skipped["img_id"].tolist(), skipped["problems"].tolist()))
        reasons.update({i: "image failed to decode in the pipeline" for i in result.failed})
        if info.rows == 0:
            self.context.log.warning(
                f"batch {batch}: no usable location ({len(skipped_ids)} skipped); its feature file is empty and adds nothing to the training set"
            )
        check = dg.AssetCheckResult(
            check_name=FEATURES_COMPLETE,
            passed=not skipped_ids and info.rows > 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=None if info.rows else f"Batch {batch} has no usable location.",
            metadata={
                "extracted": info.rows,
                "skipped": len(skipped_ids),
                "reasons": dg.MetadataValue.json({str(k): v for k, v in list(reasons.items())[:50]}),
            },
        )
        return metadata, check


def _manifest_fingerprint(settings: SviewSettings, batch: str, manifest: pd.DataFrame) -> str:
    """The fingerprint of the files the manifest lists, after checking the batch still has them."""
    now = find_batch(settings.paths.raw_images, batch).fingerprint()
    recorded = set(manifest["source_fingerprint"]) if "source_fingerprint" in manifest else set()
    if recorded and recorded != {now}:
        raise ValueError(
            f"Image batch {batch!r} changed since its manifest was made (fingerprint {sorted(recorded)} -> {now}). "
            f"Materialize {settings.city}/image_manifest and {settings.city}/vgg16_features for {batch!r} together ({settings.city}__image_features_job does)."
        )
    return now


def _manifest_views(settings: SviewSettings, batch: str, manifest: pd.DataFrame) -> str:
    """How the manifest's views were made, after checking that is how they would be made now."""
    recorded = set(manifest["views"]) if "views" in manifest else {PHOTOS}
    source = find_batch(settings.paths.raw_images, batch)
    now = current_views(settings, [batch] if source.holds_panoramas() else []).get(batch, PHOTOS)
    if recorded != {now}:
        raise ValueError(
            f"Image batch {batch!r}: its manifest's views were made as {sorted(recorded)}, but now they would be {now!r} "
            f"(the city's [panoramas] options changed). Materialize {settings.city}/image_manifest and {settings.city}/vgg16_features "
            f"for {batch!r} together ({settings.city}__image_features_job does)."
        )
    return now


def _check_alignment(path, lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
    from sview_assets.ml.training.training_set import read_training_table, wide_deciles

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
