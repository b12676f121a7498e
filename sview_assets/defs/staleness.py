"""Which image batches need features (new, changed or stale ones), found at a cost that follows the change.

The image-batch sensor runs every 30 s. Fingerprinting a batch means a stat of
every image file (London: 626k files, 30 s), so a tick compares each batch's
cheap *signature* instead (an archive's size and time; a folder's own time,
which moves when a file is added, removed or renamed) with the one in its
cursor, and fingerprints again only the batches whose signature moved. A file
edited in place leaves its folder's time alone, so each tick also fingerprints
a few unchanged batches in turn, within a time budget, so every batch is
checked in full every few ticks; ``vgg16_features`` checks the full
fingerprint again before it extracts.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from sview_assets.config.declarations import DECLARATION_FILE
from sview_assets.config.settings import SviewSettings
from sview_assets.ml.features.feature_store import ExtractorRecipe, FeatureProvenance, stale_reasons
from sview_assets.sources.city_options import panorama_cut
from sview_assets.sources.images import BatchSource, find_batches
from sview_assets.sources.panoramas import PHOTOS, views_of

FULL_CHECK_SECONDS = 0.5


@dataclass
class FeatureInventory:
    """The state of every batch's features against the batch's files, views, weights, preprocessing and precision now."""

    fresh: dict[str, Path] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    stale: dict[str, list[str]] = field(default_factory=dict)
    current: dict[str, FeatureProvenance] = field(default_factory=dict)

    def to_extract(self) -> dict[str, list[str]]:
        """Every batch that needs (new) features, with the reasons."""
        return {**{key: ["no feature file yet"] for key in self.missing}, **self.stale}


def inventory_features(settings: SviewSettings, fingerprints: dict[str, str], recipe: ExtractorRecipe, views: dict[str, str] | None = None) -> FeatureInventory:
    """Which batches (key -> fingerprint of its files) have valid features, and why the others do not.

    ``views``: how each batch's views are made now (:func:`current_views`); a batch not in it holds photos.
    """
    inventory = FeatureInventory()
    views = views or {}
    for key, fingerprint in sorted(fingerprints.items()):
        current = FeatureProvenance.of(fingerprint, recipe, views.get(key, PHOTOS))
        inventory.current[key] = current
        path = settings.paths.feature_file(key)
        if not path.is_file():
            inventory.missing.append(key)
        elif reasons := stale_reasons(path, current):
            inventory.stale[key] = reasons
        else:
            inventory.fresh[key] = path
    return inventory


def current_views(settings: SviewSettings, panorama_batches: set[str] | list[str]) -> dict[str, str]:
    """How the views of each of ``panorama_batches`` are made now: the city's panorama cut (read only when there are some)."""
    if not panorama_batches:
        return {}
    cut = panorama_cut(settings.paths.city_file(DECLARATION_FILE))
    return {key: views_of(True, cut) for key in panorama_batches}


@dataclass(frozen=True)
class BatchScan:
    """Fingerprint and signature of every batch found, which hold panoramas, and where the rotating full check goes on next."""

    fingerprints: dict[str, str]
    signatures: dict[str, str]
    rotation: int = 0
    fingerprinted: tuple[str, ...] = ()
    panoramas: frozenset[str] = frozenset()

    def to_cursor(self) -> str:
        return json.dumps(
            {"fingerprints": self.fingerprints, "signatures": self.signatures, "rotation": self.rotation, "panoramas": sorted(self.panoramas)},
            sort_keys=True,
        )

    @classmethod
    def from_cursor(cls, cursor: str | None) -> BatchScan | None:
        """The scan a sensor cursor holds; None for no cursor or one written by another version."""
        try:
            data = json.loads(cursor or "")
            return cls(dict(data["fingerprints"]), dict(data["signatures"]), int(data["rotation"]), panoramas=frozenset(data["panoramas"]))
        except (ValueError, KeyError, TypeError):
            return None


def scan_batches(batches: list[BatchSource], previous: BatchScan | None = None, full_check_seconds: float = FULL_CHECK_SECONDS) -> BatchScan:
    """Fingerprints of ``batches``: taken again where the signature moved (or without ``previous``), reused elsewhere.

    Unchanged batches are fingerprinted in turn, starting where the previous scan stopped, until
    ``full_check_seconds`` have passed (at least one per scan). Whether a batch holds panoramas is looked
    up again only when its fingerprint moved.
    """
    fingerprints, signatures, fingerprinted, unchanged = {}, {}, [], []
    for batch in batches:
        signature = batch.signature()
        signatures[batch.key] = signature
        if previous is not None and previous.signatures.get(batch.key) == signature and batch.key in previous.fingerprints:
            fingerprints[batch.key] = previous.fingerprints[batch.key]
            unchanged.append(batch)
        else:
            fingerprints[batch.key] = batch.fingerprint()
            fingerprinted.append(batch.key)
    rotation = previous.rotation if previous else 0
    deadline = time.perf_counter() + full_check_seconds
    for checked in range(len(unchanged)):
        if checked and time.perf_counter() > deadline:
            break
        batch = unchanged[(rotation + checked) % len(unchanged)]
        now = batch.fingerprint()
        if now != fingerprints[batch.key]:
            fingerprinted.append(batch.key)
        fingerprints[batch.key] = now
        rotation += 1
    known = previous.panoramas if previous else frozenset()
    panoramas = frozenset(b.key for b in batches if (b.key in fingerprinted and b.holds_panoramas()) or (b.key not in fingerprinted and b.key in known))
    return BatchScan(fingerprints, signatures, rotation % max(len(unchanged), 1), tuple(fingerprinted), panoramas)


@dataclass(frozen=True)
class BatchPlan:
    """Batches found on disk: which to register, which need features (and why), which vanished; and the scan."""

    to_register: list[str]
    to_extract: dict[str, FeatureProvenance]
    reasons: dict[str, list[str]]
    removed: list[str]
    scan: BatchScan


def plan_image_batches(
    instance: dg.DagsterInstance,
    settings: SviewSettings,
    partitions_name: str,
    recipe: ExtractorRecipe,
    previous: BatchScan | None = None,
) -> BatchPlan:
    """New batches to register; batches whose features are missing or stale (other files, views, weights,
    preprocessing or precision than now); registered batches no longer under ``raw/images/``.

    Without ``previous`` every batch is fingerprinted; with it, see :func:`scan_batches`.
    """
    registered = set(instance.get_dynamic_partitions(partitions_name))
    batches = find_batches(settings.paths.raw_images)
    scan = scan_batches(batches, previous)
    inventory = inventory_features(settings, scan.fingerprints, recipe, current_views(settings, scan.panoramas))
    on_disk = set(scan.fingerprints)
    reasons = inventory.to_extract()
    return BatchPlan(
        to_register=sorted(on_disk - registered),
        to_extract={key: inventory.current[key] for key in sorted(reasons)},
        reasons=reasons,
        removed=sorted(registered - on_disk),
        scan=scan,
    )
