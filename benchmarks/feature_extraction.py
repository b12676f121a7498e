"""Feature-extraction throughput, measured side by side in one run, and what a study of London would take.

Steady state (every figure after a warm-up with the same batch shapes it times):
(a) the tf.data pipeline from PNG files on disk (parallel decode/resize, prefetch, batched model calls);
(b) the model alone on batches already decoded and preprocessed (the compute ceiling);
(c) a sequential baseline like the original code: decode and resize one location's four images
    with PIL, then one model call per location.

Per batch: a real materialization of one demo-sized image batch (manifest and features, in a fresh
process, timed end to end); what it costs beyond (a)'s steady rate is the fixed cost a batch pays
when it runs alone (process start, imports, model build, first call). The same process then
materializes a second batch, as the pipeline CLI runs every batch in one process: what that run
costs beyond its own feature extraction (timed by the asset) is the marginal fixed cost of one more
batch (the run's bookkeeping, the manifest; the model is built once). London's projection adds both up for its 626,324 images in batches of the
recommended size, run in one process.

Prints JSON: images/s of a, b, c and of the asset, ``ratio_a_over_b`` (target >= 0.9),
``batch_fixed_seconds``, ``marginal_batch_fixed_seconds`` (target < 1), ``london_projection_hours``,
peak RSS, and the model alone in bfloat16 on the same decoded images: its speed relative to float32
(``bf16_over_fp32``), the smallest cosine similarity of its fc6 vectors to the float32 ones, and
``bf16_advice``: whether to switch on this host.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import emit, peak_rss_mb  # noqa: E402
from PIL import Image  # noqa: E402

LONDON_IMAGES = 626_324
LONDON_LOCATIONS = 156_581
RECOMMENDED_BATCH_LOCATIONS = 2_500
DEMO_BATCH_LOCATIONS = 100
LOCATIONS_PER_CALL = 8


def write_images(folder: Path, locations: int, width: int, height: int) -> list[list[str]]:
    from sview_assets.demo.render import render_scene
    from sview_assets.sources.images import HEADINGS

    paths = []
    for img_id in range(locations):
        row = []
        for k, heading in enumerate(HEADINGS):
            rng = np.random.default_rng([img_id, k])
            pixels = render_scene(affluence=rng.normal(), greenery=rng.normal(), density=rng.normal(), style_seed=img_id, rng=rng, width=width, height=height)
            path = folder / f"{img_id}_{heading}.png"
            Image.fromarray(pixels).save(path)
            row.append(str(path))
        paths.append(row)
    return paths


def sequential_location(model, paths: list[str]) -> np.ndarray:
    """The original code's way: PIL decode, resize shorter side to 224, centre crop, one call per location."""
    batch = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        scale = 224 / min(image.size)
        image = image.resize((max(224, round(image.width * scale)), max(224, round(image.height * scale))), Image.BILINEAR)
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        array = np.asarray(image.crop((left, top, left + 224, top + 224)), dtype=np.float32)
        batch.append(array[..., ::-1] - np.array([103.939, 116.779, 123.68], np.float32))
    return model(np.stack(batch), training=False).numpy()


def materialize_batches(data_root: str, city: str, *batches: str) -> None:
    """Materialize each batch's manifest and features in this (fresh) process, one run per batch as the pipeline CLI
    does; print, per run, its seconds and the seconds its feature extraction took (from the asset's metadata)."""
    import json

    import dagster as dg

    from sview_assets.config.settings import SviewSettings
    from sview_assets.definitions import build_city, city_assets, city_resources
    from sview_assets.defs.resources import Vgg16Resource
    from sview_assets.defs.scope import CityScope

    settings = SviewSettings(data_root=data_root, city=city)
    scope = CityScope(city)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(scope.image_batches.name, list(batches))
    assets = city_assets(build_city(city), city, "image_manifest", "vgg16_features")
    timings = []
    for batch in batches:
        start = time.perf_counter()
        result = dg.materialize(assets, partition_key=batch, instance=instance, resources=city_resources(settings, Vgg16Resource()))
        assert result.success
        metadata = result.asset_materializations_for_node(scope.op_name("vgg16_features"))[0].metadata
        extraction = 4 * metadata["locations"].value / metadata["images_per_second"].value
        timings.append({"run_seconds": time.perf_counter() - start, "extraction_seconds": extraction})
    print(json.dumps(timings))


def timed_asset_runs(root: Path) -> tuple[int, float, float]:
    """(images per batch, seconds of the first batch end to end in a new process, and what the second batch's run in that
    process took beyond its own feature extraction: its marginal fixed cost, measured inside one run)."""
    import json

    for batch in ("batch_000", "batch_001"):
        folder = root / "bench" / "raw" / "images" / batch
        folder.mkdir(parents=True)
        write_images(folder, DEMO_BATCH_LOCATIONS, 320, 240)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--materialize", str(root), "bench", "batch_000", "batch_001"], check=True, capture_output=True, text=True)
    total = time.perf_counter() - start
    first, second = json.loads(done.stdout.strip().splitlines()[-1])
    return 4 * DEMO_BATCH_LOCATIONS, total - second["run_seconds"], second["run_seconds"] - second["extraction_seconds"]


def bf16_advice(ratio: float, cosine: float) -> str:
    """Whether bfloat16 is worth switching to on this host, from the speed ratio and agreement measured here."""
    if ratio >= 1.2:
        return (
            f"bfloat16 ran {ratio:.2f}x as fast as float32 here (smallest cosine to float32 {cosine:.6f}): set SVIEW_VGG16_PRECISION=bfloat16 to extract faster; "
            "its features are not interchangeable with float32 ones (the batches are extracted again)"
        )
    return f"bfloat16 ran {ratio:.2f}x as fast as float32 here: keep the default float32 on this host"


def model_rate(model, decoded, batch: int = 4 * LOCATIONS_PER_CALL) -> tuple[float, np.ndarray]:
    """Images/s of ``model`` alone on decoded images (after one warm-up call of the same shape), and its float32 outputs."""
    import tensorflow as tf

    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    infer(decoded[:batch])
    outputs = []
    start = time.perf_counter()
    for first in range(0, len(decoded), batch):
        outputs.append(np.asarray(infer(decoded[first : first + batch])).astype(np.float32))
    return len(decoded) / (time.perf_counter() - start), np.concatenate(outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=48, help=f"locations (x4 images) per measurement, a multiple of {LOCATIONS_PER_CALL}")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--materialize", nargs="+", metavar="DATA_ROOT CITY BATCH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.materialize:
        materialize_batches(*args.materialize)
        return
    if args.locations % LOCATIONS_PER_CALL:
        parser.error(f"--locations must be a multiple of {LOCATIONS_PER_CALL} (the batches timed are the batches warmed up)")

    import tensorflow as tf

    from sview_assets.ml.features.extract import extract_features
    from sview_assets.ml.features.preprocess import load_and_preprocess
    from sview_assets.ml.features.vgg16 import build_fc6_extractor
    from sview_assets.ml.threads import configure_threads

    cores = configure_threads()
    model, weights = build_fc6_extractor(None, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_images(Path(tmp), args.locations, args.width, args.height)
        images = 4 * args.locations
        ids = list(range(args.locations))
        # Warm-up with the shapes timed below: full batches of LOCATIONS_PER_CALL locations (the count is a multiple of it).
        extract_features(model, ids[:LOCATIONS_PER_CALL], paths[:LOCATIONS_PER_CALL], locations_per_batch=LOCATIONS_PER_CALL)

        start = time.perf_counter()
        result = extract_features(model, ids, paths, locations_per_batch=LOCATIONS_PER_CALL)
        pipeline = images / (time.perf_counter() - start)
        assert result.failed == []

        decoded = tf.stack([load_and_preprocess(tf.constant(p)) for row in paths for p in row])
        model_only, fp32_features = model_rate(model, decoded)
        bf16_model, _ = build_fc6_extractor(None, seed=0, precision="bfloat16")
        bf16_only, bf16_features = model_rate(bf16_model, decoded)
        cosine = (fp32_features * bf16_features).sum(axis=1) / np.linalg.norm(fp32_features, axis=1) / np.linalg.norm(bf16_features, axis=1)

        sequential_location(model, paths[0])
        start = time.perf_counter()
        for row in paths:
            sequential_location(model, row)
        sequential = images / (time.perf_counter() - start)

        asset_images, asset_seconds, marginal = timed_asset_runs(Path(tmp))

    fixed = max(0.0, asset_seconds - asset_images / pipeline)
    batches = math.ceil(LONDON_LOCATIONS / RECOMMENDED_BATCH_LOCATIONS)
    london_hours = (LONDON_IMAGES / pipeline + fixed + (batches - 1) * marginal) / 3600
    emit(
        {
            "benchmark": "feature_extraction",
            "images": images,
            "image_size": f"{args.width}x{args.height}",
            "tensorflow_threads": cores,
            "weights": weights.source,
            "images_per_second": {
                "a_pipeline_from_files": round(pipeline, 2),
                "b_model_on_decoded_batches": round(model_only, 2),
                "c_sequential_per_location": round(sequential, 2),
            },
            "ratio_a_over_b": round(pipeline / model_only, 3),
            "asset_images_per_second": round(asset_images / asset_seconds, 2),
            "asset_batch": f"{DEMO_BATCH_LOCATIONS} locations, {asset_images} images, {asset_seconds:.1f} s end to end",
            "batch_fixed_seconds": round(fixed, 1),
            "marginal_batch_fixed_seconds": round(marginal, 2),
            "london_projection_hours": round(london_hours, 1),
            "london_projection": (
                f"{LONDON_IMAGES} images at (a), one batch_fixed_seconds, and {batches - 1} more batches of "
                f"{RECOMMENDED_BATCH_LOCATIONS} locations x marginal_batch_fixed_seconds (one process, as the pipeline CLI runs them)"
            ),
            "bf16_model_images_per_second": round(bf16_only, 2),
            "bf16_over_fp32": round(bf16_only / model_only, 3),
            "bf16_min_cosine": round(float(cosine.min()), 6),
            "bf16_advice": bf16_advice(bf16_only / model_only, float(cosine.min())),
            "targets": {"a_over_b": 0.9, "marginal_batch_fixed_seconds": 1.0},
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
