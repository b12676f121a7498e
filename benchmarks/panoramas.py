"""Cutting 360° panoramas into the four views: time per panorama and memory, for 8192x4096 JPEG and PNG inputs.

Writes ``--panoramas`` equirectangular 8192x4096 panoramas (noise over a gradient, so neither format
compresses them to nothing) as JPEG and as PNG, then, for each format in a fresh child process, cuts
them as ``image_manifest`` does (one thread: decode at reduced scale, four 224x224 views, PNG encode)
and reports seconds per panorama and the child's peak resident memory (``VmHWM``), also above its memory after imports.
Side by side, the same cut with the panorama decoded at full size shows what the reduced decode saves.
Prints JSON; the figures are this machine's (see ``cpu``).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import cpu_model, emit  # noqa: E402
from PIL import Image  # noqa: E402

WIDTH = 8192
CHILD = """
import json, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from sview_assets.sources.panoramas import PanoramaCut, cut_panorama_batch, cut_views

def high_water_kb():
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak across fork and exec
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    return int(line.split()[1])

folder, mode = Path(sys.argv[1]), sys.argv[2]
before = high_water_kb()
start = time.perf_counter()
if mode == "sview":
    result = cut_panorama_batch(folder / "panoramas.csv", folder.parent / (folder.name + "_views"), PanoramaCut(), "bench", workers=1)
    count = len(result.table) - len(result.problems)
else:
    count = 0
    for path in sorted(folder.glob("*.*g")):
        with Image.open(path) as image:
            full = np.asarray(image.convert("RGB"), dtype=np.float32)
        cut_views(full, 0.0, PanoramaCut())
        count += 1
seconds = time.perf_counter() - start
peak = high_water_kb()
result = {"panoramas": count, "seconds_per_panorama": round(seconds / count, 3), "peak_rss_mb": round(peak / 1024, 1)}
print(json.dumps({**result, "peak_rss_above_imports_mb": round((peak - before) / 1024, 1)}))
"""


def write_panoramas(folder: Path, count: int, suffix: str) -> None:
    folder.mkdir(parents=True)
    rows = ["id,lat,long,heading"]
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 200, WIDTH // 2, dtype=np.float32)[:, None, None]
    for img_id in range(count):
        pixels = np.clip(gradient + rng.normal(0, 20, size=(WIDTH // 2, WIDTH, 3)), 0, 255).astype(np.uint8)
        options = {"quality": 90} if suffix == ".jpg" else {"compress_level": 1}
        Image.fromarray(pixels).save(folder / f"{img_id}{suffix}", **options)
        rows.append(f"{img_id},51.5,-0.1,{rng.uniform(0, 360):.1f}")
    (folder / "panoramas.csv").write_text("\n".join(rows) + "\n")


def run_child(folder: Path, mode: str) -> dict:
    output = subprocess.run([sys.executable, "-c", CHILD, str(folder), mode], check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panoramas", type=int, default=3)
    args = parser.parse_args()
    result = {"cpu": cpu_model(), "panorama_size": f"{WIDTH}x{WIDTH // 2}", "view_size": 224, "threads": 1}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".jpg", ".png"):
            folder = Path(tmp) / suffix.strip(".")
            write_panoramas(folder, args.panoramas, suffix)
            result[suffix.strip(".")] = {"sview": run_child(folder, "sview"), "full_size_decode": run_child(folder, "full")}
    emit(result)


if __name__ == "__main__":
    main()
