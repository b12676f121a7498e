"""Per-batch feature files: ``features [n, 4, 4096]`` float32 and ``img_id [n]``, written atomically.

Each file carries its provenance as attributes: the fingerprint of the batch's
image files, how its views were made (photos as given, or the cut of its
panoramas), the checksum of the VGG16 weights, the preprocessing version and
the arithmetic precision. A file is valid only while all five match what the
pipeline would use now.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sview_assets.ml.features.vgg16 import PREPROCESSING_VERSION
from sview_assets.sources.panoramas import PHOTOS
from sview_assets.util.files import atomic_path

FEATURES = "features"
IMG_ID = "img_id"
REBUILD_FEATURES = "Delete it and extract the batch again (the image sensor or the CLI does; or materialize image_features_job)."
REBUILD_TRAINING_SET = "Materialize training_set again."


@dataclass(frozen=True)
class ExtractorRecipe:
    """How features are made now, apart from the images: weights, preprocessing and arithmetic precision."""

    weights_sha256: str
    precision: str
    preprocessing: str = PREPROCESSING_VERSION


@dataclass(frozen=True)
class FeatureProvenance:
    """What a batch's features were made from; any difference makes them stale."""

    source_fingerprint: str
    weights_sha256: str
    preprocessing: str
    precision: str
    views: str = PHOTOS

    @classmethod
    def of(cls, source_fingerprint: str, recipe: ExtractorRecipe, views: str = PHOTOS) -> FeatureProvenance:
        """The provenance of features made now from a batch with ``source_fingerprint`` whose views are ``views``."""
        return cls(source_fingerprint, recipe.weights_sha256, recipe.preprocessing, recipe.precision, views)

    def as_attrs(self) -> dict[str, str]:
        return {
            "source_fingerprint": self.source_fingerprint,
            "views": self.views,
            "weights_sha256": self.weights_sha256,
            "preprocessing": self.preprocessing,
            "precision": self.precision,
        }

    def digest(self) -> str:
        """A short stable id of this provenance (run keys, logs)."""
        return hashlib.sha256("|".join(self.as_attrs().values()).encode()).hexdigest()[:16]

    def differences(self, current: FeatureProvenance) -> list[str]:
        """Why features of this provenance are not valid for ``current`` (empty when they are)."""
        reasons = []
        if self.source_fingerprint != current.source_fingerprint:
            reasons.append(f"image files changed (fingerprint {self.source_fingerprint} -> {current.source_fingerprint})")
        if self.views != current.views:
            reasons.append(f"the views are made differently ({self.views!r} -> {current.views!r})")
        if self.weights_sha256 != current.weights_sha256:
            reasons.append(f"VGG16 weights changed (sha256 {self.weights_sha256[:12]} -> {current.weights_sha256[:12]})")
        if self.preprocessing != current.preprocessing:
            reasons.append(f"preprocessing changed ({self.preprocessing!r} -> {current.preprocessing!r})")
        if self.precision != current.precision:
            reasons.append(f"precision changed ({self.precision or 'unrecorded'} -> {current.precision})")
        return reasons


@dataclass(frozen=True)
class FeatureFileInfo:
    path: Path
    rows: int
    sha256: str
    size_bytes: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_feature_file(path: Path, img_ids: np.ndarray, features: np.ndarray, attrs: dict[str, str | int]) -> FeatureFileInfo:
    """Write one batch's features; readers see either the old file or the complete new one."""
    if features.ndim != 3 or features.shape[0] != len(img_ids):
        raise ValueError(f"features shape {features.shape} does not match {len(img_ids)} img_ids")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            rows = max(1, min(64, len(img_ids)))
            shape = features.shape[1:]
            handle.create_dataset(FEATURES, data=features.astype(np.float32), chunks=(rows, *shape), maxshape=(None, *shape))
            handle.create_dataset(IMG_ID, data=np.asarray(img_ids, dtype=np.int64))
            for key, value in attrs.items():
                handle.attrs[key] = value
    return FeatureFileInfo(path, len(img_ids), file_sha256(path), path.stat().st_size)


class UnreadableFileError(OSError):
    """An HDF5 file the pipeline wrote cannot be read (truncated by a crash or a full disk, or replaced)."""


def open_hdf5(path: Path, what: str, remedy: str) -> h5py.File:
    """Open ``path`` for reading, or raise an error naming the file, what it is and how to rebuild it."""
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise UnreadableFileError(f"{path}: this {what} cannot be read ({exc}); it may be truncated or damaged. {remedy}") from None


def read_feature_ids(path: Path) -> np.ndarray:
    with open_hdf5(path, "feature file", REBUILD_FEATURES) as handle:
        return handle[IMG_ID][()]


def read_feature_attrs(path: Path) -> dict[str, str]:
    with open_hdf5(path, "HDF5 file", "Materialize the asset that writes it again.") as handle:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in handle.attrs.items()}


def read_provenance(path: Path) -> FeatureProvenance:
    """The provenance recorded in a feature file (empty strings for what an older file lacks; files from before
    panoramas were photos)."""
    attrs = read_feature_attrs(path)
    recorded = {key: str(attrs.get(key, "")) for key in ("source_fingerprint", "weights_sha256", "preprocessing", "precision")}
    return FeatureProvenance(**recorded, views=str(attrs.get("views", PHOTOS)))


def stale_reasons(path: Path, current: FeatureProvenance) -> list[str]:
    """Why the existing feature file at ``path`` cannot be used with ``current`` inputs (empty when it can)."""
    try:
        recorded = read_provenance(path)
    except OSError as exc:
        return [f"feature file unreadable ({exc})"]
    return recorded.differences(current)
