"""Per-batch feature files: ``features [n, 4, 4096]`` float32 and ``img_id [n]``, written atomically."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..files import atomic_path

FEATURES = "features"
IMG_ID = "img_id"


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
            handle.create_dataset(FEATURES, data=features.astype(np.float32), chunks=(rows, *features.shape[1:]))
            handle.create_dataset(IMG_ID, data=np.asarray(img_ids, dtype=np.int64))
            for key, value in attrs.items():
                handle.attrs[key] = value
    return FeatureFileInfo(path, len(img_ids), file_sha256(path), path.stat().st_size)


def read_feature_ids(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle[IMG_ID][()]


def read_feature_attrs(path: Path) -> dict[str, str]:
    with h5py.File(path, "r") as handle:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in handle.attrs.items()}
