"""What needs re-running: new or changed image batches, and outputs older than their inputs."""

from dataclasses import dataclass

import dagster as dg

from .outcomes import OUTCOME_KEYS
from .settings import SviewSettings
from .sources.images import find_batches

FEATURES_KEY = dg.AssetKey("vgg16_features")
TRAINING_SET_KEY = dg.AssetKey("training_set")
MODEL_KEY = dg.AssetKey("ordinal_model")
METRICS_KEY = dg.AssetKey("model_metrics")


@dataclass(frozen=True)
class BatchPlan:
    """Batches found on disk: which to register, and which need features (with their fingerprint)."""

    to_register: list[str]
    to_extract: dict[str, str]


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The newest materialization record of an asset (partition), or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0] if records else None


def plan_image_batches(instance: dg.DagsterInstance, settings: SviewSettings, partitions_name: str) -> BatchPlan:
    """New batches to register, and batches whose features are missing or were made from other files."""
    registered = set(instance.get_dynamic_partitions(partitions_name))
    to_register, to_extract = [], {}
    for batch in find_batches(settings.paths.raw_images):
        if batch.key not in registered:
            to_register.append(batch.key)
        fingerprint = batch.fingerprint()
        record = latest_materialization(instance, FEATURES_KEY, batch.key) if batch.key in registered else None
        done = record is not None and record.asset_materialization.metadata.get("source_fingerprint") == dg.TextMetadataValue(fingerprint)
        if not done or not settings.paths.feature_file(batch.key).is_file():
            to_extract[batch.key] = fingerprint
    return BatchPlan(to_register, to_extract)


def _timestamp(record) -> float:
    return record.timestamp if record is not None else float("-inf")


def training_set_is_stale(instance: dg.DagsterInstance, batches: list[str]) -> bool:
    """True when some batch's features are newer than the training set (or it was never built)."""
    built = _timestamp(latest_materialization(instance, TRAINING_SET_KEY))
    newest = max((_timestamp(latest_materialization(instance, FEATURES_KEY, b)) for b in batches), default=float("-inf"))
    return newest > built


def stale_outcomes(instance: dg.DagsterInstance) -> list[str]:
    """Outcomes whose model is older than the training set, or whose metrics are older than the model."""
    built = _timestamp(latest_materialization(instance, TRAINING_SET_KEY))
    if built == float("-inf"):
        return []
    stale = []
    for outcome in OUTCOME_KEYS:
        model = _timestamp(latest_materialization(instance, MODEL_KEY, outcome))
        metrics = _timestamp(latest_materialization(instance, METRICS_KEY, outcome))
        if model < built or metrics < model:
            stale.append(outcome)
    return stale
