"""Stream rows of the HDF5 training set in bounded memory.

Rows are read in contiguous slabs of ``chunk_rows`` (one HDF5 read each),
so memory holds a few slabs, never the whole feature matrix. Training order
is a block shuffle: slabs in random order, rows shuffled within a window of
``window_chunks`` slabs. Class balance comes from Poisson resampling: each
row appears ``Poisson(target / count of its class)`` times per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from sview_assets.ml.features.feature_store import REBUILD_TRAINING_SET, open_hdf5
from sview_assets.ml.training.training_set import FEATURES


def feature_moments(path, rows: np.ndarray, chunk_rows: int = 1024, floor_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and variance over ``rows`` (all headings pooled), streamed in float64.

    A feature that is (nearly) constant on the training rows would turn one unusual value
    on a held-out image into a huge z-score; the variance is therefore floored at
    ``floor_fraction`` of the median feature variance (and at 1e-6 in any case).
    """
    rows = np.sort(np.asarray(rows))
    with open_hdf5(path, "training set", REBUILD_TRAINING_SET) as handle:
        data = handle[FEATURES]
        dim = data.shape[-1]
        total = np.zeros(dim)
        squares = np.zeros(dim)
        count = 0
        for start, block_rows in _slabs(rows, chunk_rows):
            block = data[start : start + chunk_rows][block_rows - start].astype(np.float64).reshape(-1, dim)
            total += block.sum(axis=0)
            squares += np.square(block).sum(axis=0)
            count += len(block)
    mean = total / count
    variance = np.maximum(squares / count - mean**2, 0.0)
    floor = max(floor_fraction * float(np.median(variance)), 1e-6)
    return mean.astype(np.float32), np.maximum(variance, floor).astype(np.float32)


def _slabs(rows: np.ndarray, chunk_rows: int):
    """(slab start, sorted rows inside it) for each slab that holds any of ``rows``."""
    slab_of = rows // chunk_rows
    for slab in np.unique(slab_of):
        yield int(slab * chunk_rows), rows[slab_of == slab]


def balanced_multiplicity(classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """How often each row appears this epoch so that every class contributes equally in expectation."""
    values, counts = np.unique(classes, return_counts=True)
    target = len(classes) / len(values)
    rate = dict(zip(values.tolist(), (target / counts).tolist()))
    return rng.poisson([rate[c] for c in classes.tolist()])


def training_batches(
    path,
    rows: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    rng: np.random.Generator,
    chunk_rows: int = 256,
    window_chunks: int = 8,
    balance: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of shuffled (features, labels) mini-batches read slab by slab from disk."""
    order = np.argsort(rows)
    rows, labels = np.asarray(rows)[order], np.asarray(labels)[order]
    repeats = balanced_multiplicity(labels, rng) if balance else np.ones(len(rows), dtype=np.int64)
    slab_of = rows // chunk_rows
    slabs = np.unique(slab_of)
    rng.shuffle(slabs)
    with open_hdf5(path, "training set", REBUILD_TRAINING_SET) as handle:
        data = handle[FEATURES]
        carry_x = np.zeros((0, *data.shape[1:]), dtype=np.float32)
        carry_y = np.zeros(0, dtype=np.int32)
        for w in range(0, len(slabs), window_chunks):
            xs, ys = [carry_x], [carry_y]
            for slab in slabs[w : w + window_chunks]:
                inside = slab_of == slab
                counts = repeats[inside]
                if counts.sum() == 0:
                    continue
                start = int(slab) * chunk_rows
                block = data[start : start + chunk_rows][rows[inside] - start]
                xs.append(np.repeat(block, counts, axis=0))
                ys.append(np.repeat(labels[inside].astype(np.int32), counts))
            x, y = np.concatenate(xs), np.concatenate(ys)
            shuffle = rng.permutation(len(x))
            x, y = x[shuffle], y[shuffle]
            end = len(x) if w + window_chunks >= len(slabs) else len(x) // batch_size * batch_size
            for b in range(0, end, batch_size):
                yield x[b : b + batch_size], y[b : b + batch_size]
            carry_x, carry_y = x[end:], y[end:]


def read_rows(path, rows: np.ndarray, chunk_rows: int = 256) -> np.ndarray:
    """Features of ``rows`` (increasing) as one array; only for row sets that fit the memory budget."""
    parts = list(ordered_batches(path, np.asarray(rows), batch_size=max(len(rows), 1), chunk_rows=chunk_rows))
    return np.concatenate(parts) if parts else np.zeros((0, 4, 4096), np.float32)


def ordered_batches(path, rows: np.ndarray, *, batch_size: int, chunk_rows: int = 256) -> Iterator[np.ndarray]:
    """Features of ``rows`` in the given (sorted) order, for prediction and validation."""
    rows = np.asarray(rows)
    if np.any(np.diff(rows) < 0):
        raise ValueError("ordered_batches needs rows in increasing order")
    buffer: list[np.ndarray] = []
    held = 0
    with open_hdf5(path, "training set", REBUILD_TRAINING_SET) as handle:
        data = handle[FEATURES]
        for start, slab_rows in _slabs(rows, chunk_rows):
            buffer.append(data[start : start + chunk_rows][slab_rows - start])
            held += len(slab_rows)
            while held >= batch_size:
                x = np.concatenate(buffer)
                yield x[:batch_size]
                buffer, held = [x[batch_size:]], len(x) - batch_size
    if held:
        yield np.concatenate(buffer)
