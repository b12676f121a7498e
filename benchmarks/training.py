"""Training throughput streamed from HDF5 vs in memory, on a London-size synthetic feature set.

Writes ``--rows`` locations (default 156,581, London: 10.3 GB of float32 features) with a planted
ordinal signal straight to HDF5 (no images), then measures, in one run:

- one epoch of one outcome streamed from disk (bounded memory), samples/s and peak RSS;
- the same model trained from in-memory arrays of a ``--subset`` of rows, samples/s.

Prints JSON with the ratio streamed / in-memory (target >= 0.8) and peak RSS of the streamed
epoch (target < 3 GB). The file is deleted afterwards unless ``--keep``.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from _common import emit, peak_rss_mb  # noqa: E402

LONDON_LOCATIONS = 156_581
LONDON_LSOAS = 4_835


def write_synthetic(path: Path, rows: int, seed: int, block: int = 2048) -> np.ndarray:
    """Features whose first 64 dimensions carry a latent decile; returns the deciles (1..10)."""
    from sview_assets.ml.training_set import ROW_CHUNK

    rng = np.random.default_rng(seed)
    lsoa = np.sort(rng.integers(0, LONDON_LSOAS, rows))
    latent = rng.standard_normal(LONDON_LSOAS)
    deciles = (np.argsort(np.argsort(latent)) * 10 // LONDON_LSOAS + 1)[lsoa]
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset("features", shape=(rows, 4, 4096), dtype="float32", chunks=(ROW_CHUNK, 4, 4096))
        for start in range(0, rows, block):
            n = min(block, rows - start)
            x = np.abs(rng.standard_normal((n, 4, 4096), dtype=np.float32))
            x[:, :, :64] += latent[lsoa[start : start + n], None, None].astype(np.float32)
            data[start : start + n] = x
    return deciles.astype(np.int32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=LONDON_LOCATIONS)
    parser.add_argument("--subset", type=int, default=20_000, help="rows trained in memory for the comparison")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dir", default=None, help="folder for the synthetic file (default: a temp folder)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import tensorflow as tf

    from sview_assets.ml.cross_validation import in_memory_dataset, streamed_dataset
    from sview_assets.ml.ordinal_network import shared_network
    from sview_assets.ml.presets import TrainSettings
    from sview_assets.ml.streaming import feature_moments
    from sview_assets.ml.threads import configure_tensorflow_threads

    cores = configure_tensorflow_threads()
    folder = Path(args.dir or tempfile.mkdtemp())
    path = folder / "synthetic_training_set.h5"
    start = time.perf_counter()
    deciles = write_synthetic(path, args.rows, seed=0)
    write_seconds = time.perf_counter() - start
    cfg = TrainSettings(batch_size=args.batch_size)
    rng = np.random.default_rng(0)
    rows = np.arange(args.rows)
    moments_rows = rng.choice(rows, size=min(args.rows, 20_000), replace=False)
    mean, variance = feature_moments(path, np.sort(moments_rows), floor_fraction=cfg.variance_floor_fraction)
    network = shared_network(4096, cfg.noise_std, cfg.learning_rate, cfg.z_limit)

    def measure(dataset, n_rows: int) -> float:
        model = network.reset(mean, variance, seed=0)
        steps = int(np.ceil(n_rows / cfg.batch_size))
        model.fit(dataset, epochs=1, steps_per_epoch=min(steps, 20), shuffle=False, verbose=0)
        begin = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        return steps * cfg.batch_size / (time.perf_counter() - begin)

    streamed = measure(streamed_dataset(path, rows, deciles, cfg, rng, 4096), args.rows)
    streamed_peak = peak_rss_mb()
    subset = np.sort(rng.choice(rows, size=min(args.subset, args.rows), replace=False))
    in_memory = measure(in_memory_dataset(path, subset, deciles[subset], cfg, rng, epochs=2), len(subset))
    size_gb = path.stat().st_size / 1e9
    if not args.keep:
        path.unlink()
    emit(
        {
            "benchmark": "training",
            "rows": args.rows,
            "features_gb": round(size_gb, 2),
            "write_seconds": round(write_seconds, 1),
            "tensorflow_threads": cores,
            "batch_size": cfg.batch_size,
            "samples_per_second": {"streamed_from_hdf5": round(streamed, 1), "in_memory_subset": round(in_memory, 1)},
            "in_memory_subset_rows": int(len(subset)),
            "ratio_streamed_over_in_memory": round(streamed / in_memory, 3),
            "peak_rss_mb_after_streamed_epoch": streamed_peak,
            "peak_rss_mb_total": peak_rss_mb(),
            "targets": {"ratio": 0.8, "streamed_peak_rss_mb": 3072},
            "tensorflow": tf.__version__,
        }
    )


if __name__ == "__main__":
    main()
