"""The city's HDF5 training set, built by streaming per-batch feature files.

Layout: ``features [N, 4, 4096]`` float32 chunked by rows; ``img_id``,
``pcd``, ``oa11``, ``lsoa11``, ``msoa11`` [N]; ``deciles [N, K]`` int8 with
attribute ``outcomes`` naming the K columns (0 = no label for that outcome).
Memory is bounded by ``rows_per_chunk`` rows of features, not by N.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from sview_assets.ml.features.feature_store import FEATURES, IMG_ID, REBUILD_FEATURES, REBUILD_TRAINING_SET, open_hdf5, read_feature_ids, read_provenance
from sview_assets.util.files import atomic_path

LOCATION_COLUMNS = ("img_id", "pcd", "oa11", "lsoa11", "msoa11")
DECILES = "deciles"
ROW_CHUNK = 16


@dataclass
class TrainingSetSummary:
    path: Path
    rows: int
    lsoas: int
    outcomes: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0
    provenance: dict[str, str] = field(default_factory=dict)


def common_provenance(feature_files: list[Path]) -> dict[str, str]:
    """The weights checksum, preprocessing and precision shared by every file; an error naming the batches if they differ."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for path in feature_files:
        provenance = read_provenance(path)
        groups.setdefault((provenance.weights_sha256, provenance.preprocessing, provenance.precision), []).append(path.stem)
    if len(groups) > 1:
        listing = "; ".join(f"weights {w[:12] or '?'} / preprocessing {p or '?'} / precision {q or '?'}: {', '.join(b)}" for (w, p, q), b in groups.items())
        raise ValueError(
            f"Feature files were made with different weights, preprocessing or precision and cannot be combined ({listing}). Extract the odd batches again."
        )
    (weights, preprocessing, precision), _ = next(iter(groups.items()))
    return {"weights_sha256": weights, "preprocessing": preprocessing, "precision": precision}


def check_unique_img_ids(feature_files: list[Path]) -> None:
    """Raise if an img_id has features in two batches, naming both (never pick one silently)."""
    first_seen: dict[int, str] = {}
    for path in feature_files:
        for img_id in read_feature_ids(path).tolist():
            other = first_seen.setdefault(img_id, path.stem)
            if other != path.stem:
                raise ValueError(
                    f"img_id {img_id} has features in two batches, {other!r} and {path.stem!r} ({path}). "
                    "Each location must be in exactly one batch: remove it from one of them."
                )


def wide_deciles(lsoa_labels: pd.DataFrame) -> pd.DataFrame:
    """LSOA x outcome decile table from the long label table (0 where an outcome has no label)."""
    wide = lsoa_labels.pivot(index="lsoa11", columns="outcome", values="decile")
    return wide.fillna(0).astype("int8")


def build_training_set(
    path: Path,
    feature_files: list[Path],
    locations: pd.DataFrame,
    lsoa_labels: pd.DataFrame,
    rows_per_chunk: int = 512,
) -> TrainingSetSummary:
    """Join features with locations and deciles, writing rows batch file by batch file.

    Refuses files of different weights or preprocessing, and img_ids found in two files.
    """
    provenance = common_provenance(feature_files)
    check_unique_img_ids(feature_files)
    deciles = wide_deciles(lsoa_labels)
    outcomes = list(deciles.columns)
    table = locations.set_index("img_id")
    seen_ids: set[int] = set()
    dropped = {"not_in_postcode_directory": 0, "lsoa_without_labels": 0}
    string = h5py.string_dtype("utf-8")
    total = 0
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        feats = out.create_dataset(FEATURES, shape=(0, 4, 4096), maxshape=(None, 4, 4096), dtype="float32", chunks=(ROW_CHUNK, 4, 4096))
        columns = {name: out.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.int64 if name == "img_id" else string) for name in LOCATION_COLUMNS}
        labels = out.create_dataset(DECILES, shape=(0, len(outcomes)), maxshape=(None, len(outcomes)), dtype="int8")
        labels.attrs["outcomes"] = outcomes
        for key, value in provenance.items():
            out.attrs[key] = value
        for feature_file in feature_files:
            with open_hdf5(feature_file, "feature file", REBUILD_FEATURES) as src:
                ids = src[IMG_ID][()]
                for start in range(0, len(ids), rows_per_chunk):
                    chunk_ids = ids[start : start + rows_per_chunk]
                    keep = np.zeros(len(chunk_ids), dtype=bool)
                    for i, img_id in enumerate(chunk_ids.tolist()):
                        if img_id not in table.index:
                            dropped["not_in_postcode_directory"] += 1
                        elif table.at[img_id, "lsoa11"] not in deciles.index:
                            dropped["lsoa_without_labels"] += 1
                        else:
                            keep[i] = True
                            seen_ids.add(img_id)
                    if not keep.any():
                        continue
                    block = src[FEATURES][start : start + len(chunk_ids)][keep]
                    kept_ids = chunk_ids[keep]
                    rows = table.loc[kept_ids]
                    n = len(kept_ids)
                    for dataset in (feats, labels, *columns.values()):
                        dataset.resize(total + n, axis=0)
                    feats[total : total + n] = block
                    columns["img_id"][total : total + n] = kept_ids
                    for name in LOCATION_COLUMNS[1:]:
                        columns[name][total : total + n] = rows[name].astype(str).to_numpy(dtype=object)
                    labels[total : total + n] = deciles.loc[rows["lsoa11"]].to_numpy()
                    total += n
        lsoas = len(set(columns["lsoa11"].asstr()[()])) if total else 0
    dropped["no_features"] = int(len(set(table.index) - seen_ids))
    return TrainingSetSummary(path, total, lsoas, outcomes, dropped, path.stat().st_size, provenance)


@dataclass(frozen=True)
class TrainingTable:
    """The training set's location and label columns (not the features)."""

    locations: pd.DataFrame
    outcomes: list[str]

    def deciles(self, outcome: str) -> np.ndarray:
        return self.locations[f"decile_{outcome}"].to_numpy()

    def labelled(self, outcome: str, path: Path) -> np.ndarray:
        """The rows that have a decile of ``outcome`` (a clear error if none has, or the outcome is absent)."""
        if outcome not in self.outcomes:
            raise KeyError(f"Outcome {outcome!r} has no labels in {path} (outcomes there: {', '.join(self.outcomes)}).")
        rows = np.flatnonzero(self.deciles(outcome) > 0)
        if len(rows) == 0:
            raise ValueError(f"No location in {path} has a label for {outcome!r}.")
        return rows


def read_training_table(path: Path) -> TrainingTable:
    """Location columns and deciles of a training set, row-aligned with its features."""
    with open_hdf5(path, "training set", REBUILD_TRAINING_SET) as handle:
        frame = pd.DataFrame({name: handle[name].asstr()[()] if name != "img_id" else handle[name][()] for name in LOCATION_COLUMNS})
        outcomes = [o.decode() if isinstance(o, bytes) else str(o) for o in handle[DECILES].attrs["outcomes"]]
        deciles = handle[DECILES][()]
    for k, outcome in enumerate(outcomes):
        frame[f"decile_{outcome}"] = deciles[:, k].astype(np.int64)
    return TrainingTable(frame, outcomes)
