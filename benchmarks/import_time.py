"""How long importing the code location takes (the webserver, the daemon and every run do it), and whether it pulls in TensorFlow.

Imports ``sview_assets.definitions`` in ``--repeat`` fresh interpreters and prints JSON: the median
and each time in seconds, and whether ``tensorflow`` / ``keras`` ended up in ``sys.modules``.
``--root`` imports another checkout of the project (an older commit, say) to compare.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit  # noqa: E402

PROBE = (
    "import json, sys, time; t = time.perf_counter(); import sview_assets.definitions; "
    "print(json.dumps({'seconds': time.perf_counter() - t, 'tensorflow': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help="project checkout to import from")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": args.root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run([sys.executable, "-c", PROBE], cwd=args.root, env=env, capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    emit(
        {
            "benchmark": "import_time",
            "root": args.root,
            "median_seconds": round(statistics.median(r["seconds"] for r in runs), 2),
            "seconds": [round(r["seconds"], 2) for r in runs],
            "imports_tensorflow": any(r["tensorflow"] for r in runs),
            "imports_keras": any(r["keras"] for r in runs),
        }
    )


if __name__ == "__main__":
    main()
