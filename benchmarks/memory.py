"""Peak memory: one demo batch's feature extraction, and a 40-location city's whole pipeline.

(a) Extraction, in a fresh child process per setting: build VGG16 (seeded random weights), then
    extract the features of one demo-sized batch through ``extract_features`` with
    ``--per-call`` locations (x4 images) per model call, side by side. Reports the child's peak
    resident memory (``VmHWM``) after the build and after the extraction, and images/s.
(b) The pipeline CLI on a generated 40-location city (every asset, two quick outcomes), its process
    tree sampled every 0.1 s: the largest single process and the sum of the tree at its peak.

Prints JSON with ``peak_rss_mb`` keys; the figures are this machine's (see ``cpu``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from _common import cpu_model, emit  # noqa: E402

from sview_assets.config.settings import SviewSettings  # noqa: E402
from sview_assets.demo.generator import generate_city  # noqa: E402
from sview_assets.demo.geography import CitySpec  # noqa: E402

EXTRACT = """
import json, sys, time
from pathlib import Path

def high_water_mb():
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM"))
    return round(int(line.split()[1]) / 1024, 1)

from sview_assets.ml.features.extract import extract_features
from sview_assets.ml.features.vgg16 import build_fc6_extractor
import pandas as pd

batch, per_call = Path(sys.argv[1]), int(sys.argv[2])
manifest = pd.read_csv(batch / "manifest.csv")
imported = high_water_mb()
model, _ = build_fc6_extractor(None, 0)
built = high_water_mb()
start = time.perf_counter()
result = extract_features(model, manifest["img_id"].tolist(), manifest[["a", "b", "c", "d"]].values.tolist(), locations_per_batch=per_call)
seconds = time.perf_counter() - start
print(json.dumps({"locations": len(result.img_ids), "after_imports_mb": imported, "after_build_mb": built,
                  "peak_rss_mb": high_water_mb(), "images_per_second": round(4 * len(result.img_ids) / seconds, 2)}))
"""


def unpacked_batch(settings: SviewSettings, folder: Path) -> Path:
    """The city's first image batch unpacked into ``folder``, with a manifest of each location's four files."""
    import zipfile

    import pandas as pd

    archive = sorted(settings.paths.raw_images.glob("*.zip"))[0]
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    files = sorted(folder.rglob("*_a.png"))
    rows = [{"img_id": int(f.name.split("_")[0]), **{h: str(f.with_name(f.name.replace("_a.", f"_{h}."))) for h in "abcd"}} for f in files]
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return folder


def extraction(batch: Path, per_call: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", EXTRACT, str(batch), str(per_call)], capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return {"locations_per_call": per_call, **json.loads(done.stdout.strip().splitlines()[-1])}


def pipeline_peak(data_root: Path, city: str) -> dict:
    """Run the pipeline CLI on ``city`` and sample its process tree's memory until it ends."""
    env = {**os.environ, "SVIEW_DATA_ROOT": str(data_root), "SVIEW_CITY": city, "DAGSTER_HOME": str(data_root / ".dagster")}
    (data_root / ".dagster").mkdir(exist_ok=True)
    command = [sys.executable, "-m", "sview_assets.cli.pipeline", "--outcomes", "income", "crime", "--epochs", "3", "--folds", "2", "--patience", "2"]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    root, largest, total = psutil.Process(process.pid), 0, 0
    while process.poll() is None:
        try:
            sizes = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
        except psutil.NoSuchProcess:
            continue
        largest, total = max(largest, max(sizes)), max(total, sum(sizes))
        time.sleep(0.1)
    stderr = process.stderr.read()
    if process.returncode != 0:
        raise RuntimeError(stderr[-3000:])
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(largest / 2**20, 1),
        "peak_tree_rss_mb": round(total / 2**20, 1),
        "stderr_lines": len([line for line in stderr.splitlines() if line.strip()]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-call", type=int, nargs="+", default=[1, 2, 8])
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        demo = SviewSettings(data_root=str(root / "data"), city="memory_demo")
        generate_city(demo.paths.raw, CitySpec(n_lsoas=20, n_locations=40, seed=5, batch_size=40), progress=lambda _: None)
        batch = unpacked_batch(demo, root / "batch")
        result = {"cpu": cpu_model(), "extraction": [extraction(batch, n) for n in args.per_call]}
        if not args.skip_pipeline:
            result["pipeline_40_locations"] = pipeline_peak(root / "data", "memory_demo")
    emit(result)


if __name__ == "__main__":
    main()
