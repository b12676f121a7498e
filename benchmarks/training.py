"""Training throughput streamed from HDF5 vs in memory, on a London-size synthetic feature set.

Writes ``--rows`` locations (default 156,581, London: 10.3 GB of float32 features) with a planted
ordinal signal straight to HDF5 (no images), then measures, in one run:

- one epoch of one outcome streamed from disk (bounded memory), samples/s and peak RSS;
- the same model trained from in-memory arrays of a ``--subset`` of rows, samples/s.

Prints JSON with the ratio streamed / in-memory (target >= 0.5) and peak RSS of the streamed
epoch (target < 3 GB); this machine's float32 matrix-multiply rate measured in the same run and the
training rates as a fraction of it (the model's dense layers cost ``6 x multiply-adds`` FLOP per
sample: forward, and twice that backward); and the projected hours of one outcome at London size
(5 folds on 4/5 of the rows, less the validation LSOAs, and a final model on all) with the `default`
and `paper` presets, each at every epoch it may run, from the streamed rate measured at the
preset's batch size. The file is deleted afterwards unless ``--keep``.
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
PROJECTION_STEPS = 400


def gemm_gflops(size: int = 2048, repeats: int = 10) -> float:
    """This machine's float32 matrix-multiply rate in GFLOP/s (TensorFlow, after one warm-up product)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    tf.matmul(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.matmul(a, b)
    c.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def training_flops_per_sample(model) -> float:
    """FLOP to train on one sample: 2 per multiply-add of every dense layer (applied to each heading), x3 for the backward pass."""
    import keras

    forward = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            shape = layer.input.shape
            applications = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
            forward += 2 * applications * int(shape[-1]) * layer.units
    return 3.0 * forward


def outcome_hours(preset, samples_per_second: float, rows: int) -> float:
    """Hours for one outcome's folds and final model at ``rows`` locations, every epoch run, at ``samples_per_second``."""
    fold_rows = rows * (preset.folds - 1) / preset.folds
    if preset.selection == "early_stopping":
        fold_rows *= 1 - preset.validation_fraction
        final_rows = rows * (1 - preset.validation_fraction)
    else:
        final_rows = rows
    samples = preset.epochs * (preset.folds * fold_rows + final_rows)
    return samples / samples_per_second / 3600


def write_synthetic(path: Path, rows: int, seed: int, block: int = 2048) -> np.ndarray:
    """Features whose first 64 dimensions carry a latent decile; returns the deciles (1..10)."""
    from sview_assets.ml.training.training_set import ROW_CHUNK

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

    from sview_assets.ml.threads import configure_threads
    from sview_assets.ml.training.batches import in_memory_batches, noise_scale, streamed_batches
    from sview_assets.ml.training.fitting import train_epochs
    from sview_assets.ml.training.ordinal_network import shared_network
    from sview_assets.ml.training.presets import PRESETS, TrainSettings
    from sview_assets.ml.training.streaming import feature_moments

    cores = configure_threads()
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
    network = shared_network(4096, cfg.learning_rate, cfg.z_limit)
    scale = noise_scale(variance, cfg.noise_std)

    def measure(batches, n_rows: int, batch_size: int = cfg.batch_size, most_steps: int | None = None) -> float:
        network.reset(mean, variance, seed=0)
        steps = int(np.ceil(n_rows / batch_size))
        if most_steps:
            steps = min(steps, most_steps)
        train_epochs(network, batches, min(steps, 20), 1, [])
        begin = time.perf_counter()
        train_epochs(network, batches, steps, 1, [])
        return steps * batch_size / (time.perf_counter() - begin)

    gemm = gemm_gflops()
    streamed = measure(streamed_batches(path, rows, deciles, cfg, rng, scale), args.rows)
    streamed_peak = peak_rss_mb()
    subset = np.sort(rng.choice(rows, size=min(args.subset, args.rows), replace=False))
    in_memory = measure(in_memory_batches(path, subset, deciles[subset], cfg, rng, scale), len(subset))
    flops = training_flops_per_sample(network.reset(mean, variance, seed=0))
    projection = {}
    for name, preset in PRESETS.items():
        rate = streamed
        if preset.batch_size != cfg.batch_size:
            preset_cfg = TrainSettings(batch_size=preset.batch_size)
            rate = measure(streamed_batches(path, rows, deciles, preset_cfg, rng, scale), args.rows, preset.batch_size, PROJECTION_STEPS)
        projection[name] = {
            "batch_size": preset.batch_size,
            "streamed_samples_per_second": round(rate, 1),
            "epochs": preset.epochs,
            "hours_per_outcome": round(outcome_hours(preset, rate, LONDON_LOCATIONS), 1),
        }
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
            "fp32_gemm_gflops": round(gemm, 1),
            "training_gflop_per_sample": round(flops / 1e9, 4),
            "fraction_of_gemm_rate": {
                "streamed_from_hdf5": round(streamed * flops / 1e9 / gemm, 3),
                "in_memory_subset": round(in_memory * flops / 1e9 / gemm, 3),
            },
            "london_outcome_projection": projection,
            "peak_rss_mb_after_streamed_epoch": streamed_peak,
            "peak_rss_mb_total": peak_rss_mb(),
            "targets": {"ratio": 0.5, "streamed_peak_rss_mb": 3072},
            "tensorflow": tf.__version__,
        }
    )


if __name__ == "__main__":
    main()
