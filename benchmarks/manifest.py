"""How long `image_manifest` takes per image, and what London's 626,324 images would take, on generated JPEG files.

Writes ``--locations`` x 4 street-photo-sized JPEGs (640x640, drawn scenes), then times, on the same
files and in one run: the manifest as the asset builds it (file names, headers and stored-data
checks, no pixel decoding), and a full decode of every image (what the manifest used to do). Prints
JSON: images per second of each, their ratio, and London's projected minutes for the manifest.
The files are read once before timing, so both figures are from the page cache.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import emit  # noqa: E402
from PIL import Image  # noqa: E402

LONDON_IMAGES = 626_324


def write_jpegs(folder: Path, locations: int, size: int) -> list[Path]:
    from sview_assets.demo.render import render_scene
    from sview_assets.sources.images import HEADINGS

    paths = []
    for img_id in range(locations):
        for k, heading in enumerate(HEADINGS):
            rng = np.random.default_rng([img_id, k])
            pixels = render_scene(affluence=rng.normal(), greenery=rng.normal(), density=rng.normal(), style_seed=img_id, rng=rng, width=size, height=size)
            path = folder / f"{img_id}_{heading}.jpg"
            Image.fromarray(pixels).save(path, quality=90)
            paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=1_000)
    parser.add_argument("--size", type=int, default=640)
    args = parser.parse_args()

    from sview_assets.sources.images import batch_manifest

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "batch_000"
        folder.mkdir()
        paths = write_jpegs(folder, args.locations, args.size)
        mean_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        for path in paths:
            path.read_bytes()

        start = time.perf_counter()
        manifest = batch_manifest(folder, "batch_000")
        manifest_seconds = time.perf_counter() - start
        assert manifest["usable"].all() and len(manifest) == args.locations

        start = time.perf_counter()
        for path in paths:
            with Image.open(path) as image:
                image.convert("RGB").load()
        decode_seconds = time.perf_counter() - start

    images = len(paths)
    manifest_rate = images / manifest_seconds
    emit(
        {
            "benchmark": "image_manifest",
            "images": images,
            "image": f"{args.size}x{args.size} JPEG, {mean_kb:.0f} KiB on average",
            "images_per_second": {"manifest_headers_only": round(manifest_rate), "full_decode": round(images / decode_seconds)},
            "manifest_over_decode_speed": round(decode_seconds / manifest_seconds, 1),
            "london_manifest_minutes": round(LONDON_IMAGES / manifest_rate / 60, 1),
            "london_full_decode_minutes": round(LONDON_IMAGES / (images / decode_seconds) / 60, 1),
        }
    )


if __name__ == "__main__":
    main()
