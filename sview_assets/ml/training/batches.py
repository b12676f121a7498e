"""Class-balanced training mini-batches of a training set's rows, from RAM or streamed from disk, with training noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sview_assets.ml.training.presets import TrainSettings
from sview_assets.ml.training.streaming import balanced_multiplicity, read_rows, training_batches


def fits_in_memory(n_rows: int, budget_mb: float, dim: int = 4096) -> bool:
    """Whether ``n_rows`` locations of features fit the in-memory budget."""
    return n_rows * 4 * dim * 4 <= budget_mb * 2**20


def noise_scale(variance: np.ndarray, noise_std: float) -> np.ndarray | None:
    """Per raw feature, the std of noise that is ``noise_std`` in standardised units (None: no noise)."""
    return (noise_std * np.sqrt(variance)).astype(np.float32) if noise_std > 0 else None


def with_noise(batches, scale: np.ndarray | None, rng: np.random.Generator):
    """The (features, labels) batches with Gaussian noise of std ``scale`` per feature added to the features.

    ``scale = noise_std * sqrt(variance)`` makes it noise of std ``noise_std`` on the standardised
    features the network sees. It is drawn in NumPy: inside the graph, TensorFlow's normal sampler
    cost about as much as the rest of the training step on a 2-core CPU.
    """
    for x, y in batches:
        if scale is not None:
            x = x + rng.standard_normal(x.shape, dtype=np.float32) * scale
        yield x, y


def in_memory_batches(path: Path, rows: np.ndarray, deciles: np.ndarray, cfg: TrainSettings, rng: np.random.Generator, scale: np.ndarray | None):
    """Endless class-balanced, shuffled mini-batches of features held in RAM, with training noise.

    Each pass samples every row Poisson(balanced rate) times, in a new random order; batches run on
    from one pass into the next, so a set smaller than a batch still fills whole batches.
    """
    order = np.argsort(rows)
    features = read_rows(path, rows[order], cfg.chunk_rows)
    labels = deciles[order].astype(np.int32)
    noise_rng = np.random.default_rng(rng.integers(2**63))

    def batches():
        pending = np.zeros(0, dtype=np.int64)
        while True:
            while len(pending) < cfg.batch_size:
                pending = np.concatenate([pending, rng.permutation(np.repeat(np.arange(len(rows)), balanced_multiplicity(labels, rng)))])
            picked, pending = pending[: cfg.batch_size], pending[cfg.batch_size :]
            yield features[picked], labels[picked]

    return with_noise(batches(), scale, noise_rng)


def streamed_batches(path: Path, rows: np.ndarray, deciles: np.ndarray, cfg: TrainSettings, rng: np.random.Generator, scale: np.ndarray | None):
    """Endless class-balanced mini-batches read from disk slab by slab, with training noise."""
    noise_rng = np.random.default_rng(rng.integers(2**63))

    def batches():
        while True:
            yield from training_batches(path, rows, deciles, batch_size=cfg.batch_size, rng=rng, chunk_rows=cfg.chunk_rows)

    return with_noise(batches(), scale, noise_rng)
