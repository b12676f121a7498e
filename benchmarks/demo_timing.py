"""How long ``make demo`` takes from a fresh clone, and where the time goes.

Clones the checkout's committed HEAD into a temporary folder (nothing installed there), runs
``make demo`` in it, stamps every output line with the time it arrived and splits the wall time at
the pipeline's own markers: install (until the demo city generator starts), the demo cities, the
VGG16 features stages, the training stages (models, predictions and metrics of every outcome), the
transfer stage and the rest (labels, training sets, views, GIS layers, results tables). Prints JSON with the CPU model, then the
README's table. Not part of ``make bench``: it takes as long as the demo.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_flags, cpu_model, emit  # noqa: E402

STAGE = re.compile(r"^stage (\d+)/(\d+): (.*)$")


def split_phases(stamped: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Seconds per phase, from the times of the generator's first line and of each stage line."""
    city_start = next(t for t, line in stamped if line.startswith("wrote label files"))
    stages = [(t, m.group(3)) for t, line in stamped if (m := STAGE.match(line))]
    bounds = [t for t, _ in stages] + [total]
    phases = {"install": city_start, "demo_city": stages[0][0] - city_start, "features": 0.0, "training": 0.0, "transfer": 0.0, "rest": 0.0}
    for (start, label), end in zip(stages, bounds[1:]):
        phase = "features" if "vgg16_features" in label else "training" if "ordinal_model" in label else "transfer" if "transfer_metrics" in label else "rest"
        phases[phase] += end - start
    return {k: round(v, 1) for k, v in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="the git checkout to clone")
    parser.add_argument("--log", help="also write the stamped output of make demo here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "sview"
        subprocess.run(["git", "clone", "--quiet", args.root, str(clone)], check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()
        start = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(["make", "demo"], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        stamped = [(time.monotonic() - start, line.rstrip("\n")) for line in process.stdout]
        process.wait()
        total = time.monotonic() - start
    if args.log:
        Path(args.log).write_text("".join(f"{t:8.1f} {line}\n" for t, line in stamped))
    if process.returncode != 0:
        sys.exit(f"make demo failed with exit code {process.returncode}:\n" + "\n".join(line for _, line in stamped[-40:]))
    phases = split_phases(stamped, total)
    flags = cpu_flags()
    emit(
        {
            "benchmark": "demo_timing",
            "commit": commit,
            "cpu": cpu_model(),
            "cpu_has_avx512_bf16": "avx512_bf16" in flags,
            "total_seconds": round(total, 1),
            "seconds": phases,
        }
    )
    print("\n| phase | time |\n| --- | --- |")
    for name, seconds in [*phases.items(), ("total", total)]:
        print(f"| {name.replace('_', ' ')} | {int(seconds // 60)} min {seconds % 60:.0f} s |")


if __name__ == "__main__":
    main()
