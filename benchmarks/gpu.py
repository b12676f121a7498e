"""One command for the first GPU: VGG16 and training rates on an NVIDIA card, and London's projections.

Runs where TensorFlow is not installed: only Keras (3), NumPy, h5py, pandas and Pillow besides PyTorch
or JAX built for CUDA, with sview's source on the path (``PYTHONPATH=. python benchmarks/gpu.py``, what
``make bench-gpu`` does). The backend is ``$KERAS_BACKEND`` or, unset, the first of PyTorch and JAX
that sees a GPU. With no GPU it stops within seconds, saying so (``--allow-cpu`` runs it on the CPU at
a small size, to check the script itself).

Prints one JSON object: VGG16 images/s on the model alone in float32 and in mixed precision (bfloat16
where the card computes it natively, compute capability 8.0 or more, else float16) with the smallest
cosine of mixed-precision fc6 vectors to float32 ones; images/s of the whole pipeline from JPEG files
on disk (Pillow decoding on every core, then the model) and the decode rate of one core; training
samples/s of the ordinal network streamed from an HDF5 training set of London's row count
(generated features); the GPU memory peak; and the projections for London: its 626,324 images, and
one outcome's 5 folds and final model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LONDON_IMAGES = 626_324
LONDON_LOCATIONS = 156_581
DEFAULT_EPOCHS = 30
FOLD_TRAINING_SHARE = 0.8
FOLDS = 5


class NoGpu(RuntimeError):
    """No GPU is visible to PyTorch or JAX."""


def choose_backend(allow_cpu: bool) -> tuple[str, str]:
    """(backend, device name), set in ``KERAS_BACKEND`` before Keras is imported; :class:`NoGpu` when none sees a GPU."""
    wanted = os.environ.get("KERAS_BACKEND")
    candidates = [wanted] if wanted else ["torch", "jax"]
    for backend in candidates:
        name = _gpu_name(backend)
        if name:
            os.environ["KERAS_BACKEND"] = backend
            return backend, name
    if allow_cpu:
        backend = wanted or next((b for b in ("torch", "jax", "tensorflow") if _installed(b)), "tensorflow")
        os.environ["KERAS_BACKEND"] = backend
        return backend, "CPU"
    found = ", ".join(b for b in ("torch", "jax") if _installed(b)) or "neither PyTorch nor JAX"
    raise NoGpu(
        f"no GPU visible to {' or '.join(candidates)} (installed: {found}). This benchmark is for an NVIDIA GPU with PyTorch or JAX "
        "built for CUDA: check nvidia-smi and that the CUDA build is installed; --allow-cpu runs it on the CPU at a small size."
    )


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _gpu_name(backend: str) -> str | None:
    if backend == "torch" and _installed("torch"):
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if backend == "jax" and _installed("jax"):
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    return None


def mixed_precision(backend: str, device: str) -> str:
    """bfloat16 on cards that compute it natively (compute capability >= 8.0: A100, H100, H200, L4 ...), else float16."""
    if device == "CPU":
        return "bfloat16"
    if backend == "torch":
        import torch

        return "bfloat16" if torch.cuda.get_device_capability(0)[0] >= 8 else "float16"
    import jax

    capability = getattr(jax.devices("gpu")[0], "compute_capability", "8.0")
    return "bfloat16" if float(capability) >= 8.0 else "float16"


def gpu_memory_peak_mb(backend: str, device: str) -> float | None:
    if device == "CPU":
        return None
    if backend == "torch":
        import torch

        return round(torch.cuda.max_memory_allocated(0) / 2**20, 1)
    import jax

    stats = jax.devices("gpu")[0].memory_stats() or {}
    return round(stats.get("peak_bytes_in_use", 0) / 2**20, 1)


def model_rate(model, images, batch: int, repeats: int) -> tuple[float, object]:
    """Images/s of the model alone on preprocessed images (after a warm-up call), and its outputs as float32."""
    import numpy as np

    from sview_assets.ml.inference import compiled_inference

    infer = compiled_inference(model)
    infer(images[:batch])
    start = time.perf_counter()
    outputs = [infer(images[first : first + batch]) for _ in range(repeats) for first in range(0, len(images), batch)]
    rate = repeats * len(images) / (time.perf_counter() - start)
    return rate, np.concatenate(outputs[: -(-len(images) // batch)]).astype(np.float32)


def write_jpegs(folder: Path, locations: int) -> list[list[str]]:
    """Street-photo-sized JPEGs (640x640, as Street View serves them) of drawn scenes, four per location."""
    import numpy as np
    from PIL import Image

    from sview_assets.demo.render import render_scene

    paths = []
    for img_id in range(locations):
        row = []
        for k, heading in enumerate("abcd"):
            rng = np.random.default_rng([img_id, k])
            pixels = render_scene(affluence=rng.normal(), greenery=rng.normal(), density=rng.normal(), style_seed=img_id, rng=rng, width=640, height=640)
            path = folder / f"{img_id}_{heading}.jpg"
            Image.fromarray(pixels).save(path, quality=90)
            row.append(str(path))
        paths.append(row)
    return paths


def decode_rate_per_core(paths: list[list[str]]) -> float:
    from sview_assets.ml.features.pillow_input import load_and_preprocess

    flat = [p for row in paths for p in row][:64]
    start = time.perf_counter()
    for path in flat:
        load_and_preprocess(path)
    return len(flat) / (time.perf_counter() - start)


def pipeline_rate(model, paths: list[list[str]], locations_per_batch: int) -> float:
    from sview_assets.ml.features.extract import extract_features

    ids = list(range(len(paths)))
    extract_features(model, ids[:locations_per_batch], paths[:locations_per_batch], locations_per_batch=locations_per_batch)
    start = time.perf_counter()
    result = extract_features(model, ids, paths, locations_per_batch=locations_per_batch)
    assert not result.failed, f"{len(result.failed)} generated images failed to decode"
    return 4 * len(paths) / (time.perf_counter() - start)


def training_rate(folder: Path, rows: int, timed_rows: int, batch: int) -> tuple[float, float]:
    """(seconds to write the generated training set, samples/s of the ordinal network streamed from it over ``timed_rows`` rows)."""
    import h5py
    import numpy as np

    from sview_assets.ml.features.vgg16 import FEATURE_DIM
    from sview_assets.ml.training.ordinal_network import OrdinalNetwork
    from sview_assets.ml.training.streaming import training_batches
    from sview_assets.ml.training.training_set import FEATURES

    path = folder / "training_set.h5"
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with h5py.File(path, "w") as handle:
        data = handle.create_dataset(FEATURES, shape=(rows, 4, FEATURE_DIM), dtype=np.float32, chunks=(64, 4, FEATURE_DIM))
        for first in range(0, rows, 4096):
            block = min(4096, rows - first)
            data[first : first + block] = rng.standard_normal((block, 4, FEATURE_DIM), dtype=np.float32)
    written = time.perf_counter() - start
    labels = rng.integers(1, 11, size=rows).astype(np.int32)
    network = OrdinalNetwork(FEATURE_DIM, 1e-3, 0.0)
    network.reset(np.zeros(FEATURE_DIM, np.float32), np.ones(FEATURE_DIM, np.float32), seed=0)
    chosen = np.sort(rng.choice(rows, size=min(timed_rows, rows), replace=False))
    batches = training_batches(path, chosen, labels[chosen], batch_size=batch, rng=rng, balance=False)
    x, y = next(batches)
    network.train_step(x, y)
    samples, start = 0, time.perf_counter()
    for x, y in batches:
        network.train_step(x, y)
        samples += len(x)
    return written, samples / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=512, help="locations (x4 JPEGs) for the pipeline rate")
    parser.add_argument("--model-images", type=int, default=512, help="preprocessed images for the model-only rates")
    parser.add_argument("--batch", type=int, default=128, help="images per VGG16 call")
    parser.add_argument("--rows", type=int, default=LONDON_LOCATIONS, help="rows of the generated training set (London's by default)")
    parser.add_argument("--timed-rows", type=int, default=40_000, help="rows streamed while timing training")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (to check this script; use small sizes)")
    parser.add_argument(
        "--width-divisor",
        type=int,
        default=1,
        help="narrow VGG16's convolutions by this factor (2 to 64) to check this script quickly; the VGG16 figures are then not VGG16's",
    )
    args = parser.parse_args(argv)
    try:
        backend, device = choose_backend(args.allow_cpu)
    except NoGpu as exc:
        print(json.dumps({"benchmark": "gpu", "error": str(exc)}))
        sys.exit(2)

    import numpy as np

    from sview_assets.ml.features.pillow_input import load_and_preprocess
    from sview_assets.ml.features.vgg16 import FLOAT32, build_fc6_extractor

    started = time.perf_counter()
    mixed = mixed_precision(backend, device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = write_jpegs(folder, max(args.locations, -(-args.model_images // 4)))
        flat = [p for row in paths for p in row][: args.model_images]
        images = np.stack([load_and_preprocess(p) for p in flat])
        fp32_model, weights = build_fc6_extractor(None, 0, FLOAT32, args.width_divisor)
        fp32_rate, fp32_features = model_rate(fp32_model, images, args.batch, repeats=3)
        mixed_model, _ = build_fc6_extractor(None, 0, mixed, args.width_divisor)
        mixed_rate, mixed_features = model_rate(mixed_model, images, args.batch, repeats=3)
        cosine = (fp32_features * mixed_features).sum(1) / np.linalg.norm(fp32_features, axis=1) / np.linalg.norm(mixed_features, axis=1)
        per_call = max(1, args.batch // 4)
        pipeline = pipeline_rate(mixed_model, paths[: args.locations], per_call)
        decode = decode_rate_per_core(paths)
        written, samples_per_second = training_rate(folder, args.rows, args.timed_rows, 64)
    outcome_samples = DEFAULT_EPOCHS * LONDON_LOCATIONS * (FOLDS * FOLD_TRAINING_SHARE + 1)
    print(
        json.dumps(
            {
                "benchmark": "gpu",
                "backend": backend,
                "device": device,
                "cpu_cores": len(os.sched_getaffinity(0)),
                "weights": weights.source,
                "vgg16_images_per_second": {"float32": round(fp32_rate, 1), mixed: round(mixed_rate, 1)},
                "mixed_precision": mixed,
                "mixed_over_float32": round(mixed_rate / fp32_rate, 2),
                "mixed_min_cosine_to_float32": round(float(cosine.min()), 6),
                "pipeline_images_per_second_from_jpeg": round(pipeline, 1),
                "pipeline_precision": mixed,
                "decode_images_per_second_per_core": round(decode, 1),
                "training_rows": args.rows,
                "training_set_write_seconds": round(written, 1),
                "training_samples_per_second_streamed": round(samples_per_second, 1),
                "gpu_memory_peak_mb": gpu_memory_peak_mb(backend, device),
                "london_features_minutes": round(LONDON_IMAGES / pipeline / 60, 1),
                "london_one_outcome_5_folds_and_final_minutes": round(outcome_samples / samples_per_second / 60, 1),
                "london_outcome_assumes": f"{DEFAULT_EPOCHS} epochs (the default preset's most), every row once per epoch",
                "wall_seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
