"""What needs re-running: new, changed or stale image batches, and outputs older than their inputs."""

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from .ml.feature_store import ExtractorRecipe, FeatureProvenance, stale_reasons
from .settings import SviewSettings
from .sources.images import BatchSource, find_batches

FEATURES_KEY = dg.AssetKey("vgg16_features")
TRAINING_SET_KEY = dg.AssetKey("training_set")
MODEL_KEY = dg.AssetKey("ordinal_model")
METRICS_KEY = dg.AssetKey("model_metrics")


@dataclass
class FeatureInventory:
    """The state of every batch's features against the batch's files, weights, preprocessing and precision now."""

    fresh: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stale: dict[str, list[str]] = field(default_factory=dict)
    current: dict[str, FeatureProvenance] = field(default_factory=dict)

    def to_extract(self) -> dict[str, list[str]]:
        """Every batch that needs (new) features, with the reasons."""
        return {**{key: ["no feature file yet"] for key in self.missing}, **self.stale}


def inventory_features(settings: SviewSettings, batches: list[BatchSource], recipe: ExtractorRecipe) -> FeatureInventory:
    """Which of ``batches`` have valid features, and why the others do not (missing file, changed inputs)."""
    inventory = FeatureInventory()
    for batch in batches:
        current = FeatureProvenance.of(batch.fingerprint(), recipe)
        inventory.current[batch.key] = current
        path = settings.paths.feature_file(batch.key)
        if not path.is_file():
            inventory.missing.append(batch.key)
        elif reasons := stale_reasons(path, current):
            inventory.stale[batch.key] = reasons
        else:
            inventory.fresh[batch.key] = path
    return inventory


@dataclass(frozen=True)
class BatchPlan:
    """Batches found on disk: which to register, which need features (and why), which vanished."""

    to_register: list[str]
    to_extract: dict[str, FeatureProvenance]
    reasons: dict[str, list[str]]
    removed: list[str]


def latest_materialization(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None):
    """The newest materialization record of an asset (partition), or None."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None), limit=1).records
    return records[0] if records else None


def plan_image_batches(instance: dg.DagsterInstance, settings: SviewSettings, partitions_name: str, recipe: ExtractorRecipe) -> BatchPlan:
    """New batches to register; batches whose features are missing or stale (other files, weights,
    preprocessing or precision than now); registered batches no longer under ``raw/images/``."""
    registered = set(instance.get_dynamic_partitions(partitions_name))
    batches = find_batches(settings.paths.raw_images)
    inventory = inventory_features(settings, batches, recipe)
    on_disk = {b.key for b in batches}
    reasons = inventory.to_extract()
    return BatchPlan(
        to_register=sorted(on_disk - registered),
        to_extract={key: inventory.current[key] for key in sorted(reasons)},
        reasons=reasons,
        removed=sorted(registered - on_disk),
    )


def _timestamp(record) -> float:
    return record.timestamp if record is not None else float("-inf")


def training_set_is_stale(instance: dg.DagsterInstance, batches: list[str]) -> bool:
    """True when some batch's features are newer than the training set (or it was never built)."""
    built = _timestamp(latest_materialization(instance, TRAINING_SET_KEY))
    newest = max((_timestamp(latest_materialization(instance, FEATURES_KEY, b)) for b in batches), default=float("-inf"))
    return newest > built


def stale_outcomes(instance: dg.DagsterInstance, outcomes: list[str]) -> list[str]:
    """Of ``outcomes``, those whose model is older than the training set, or whose metrics are older than the model."""
    built = _timestamp(latest_materialization(instance, TRAINING_SET_KEY))
    if built == float("-inf"):
        return []
    stale = []
    for outcome in outcomes:
        model = _timestamp(latest_materialization(instance, MODEL_KEY, outcome))
        metrics = _timestamp(latest_materialization(instance, METRICS_KEY, outcome))
        if model < built or metrics < model:
            stale.append(outcome)
    return stale
