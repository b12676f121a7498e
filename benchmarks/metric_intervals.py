"""What an outcome's intervals cost at London's size: bootstrap and permutation of 4,835 LSOAs, against SciPy.

Times ``metric_intervals`` (1,000 bootstrap resamples, 1,000 permutations, both aggregation methods as
``model_metrics`` computes them) on deciles of London's LSOA count, and SciPy's ``kendalltau`` over the same
number of resamples in a Python loop (timed on a share of them and scaled), side by side in one run.
Prints JSON.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_model, emit  # noqa: E402

LONDON_LSOAS = 4835


def main() -> None:
    from scipy.stats import kendalltau

    from sview_assets.ml.evaluation.intervals import IntervalSettings, metric_intervals

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lsoas", type=int, default=LONDON_LSOAS)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--scipy-sample", type=int, default=50, help="resamples timed with SciPy (the rest is scaled)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(1, 11), args.lsoas // 10 + 1)[: args.lsoas]
    predicted = np.clip(true + rng.integers(-3, 4, args.lsoas), 1, 10)
    settings = IntervalSettings(resamples=args.resamples, permutations=args.resamples)
    metric_intervals(predicted[:100], true[:100], IntervalSettings(resamples=100, permutations=100))
    start = time.perf_counter()
    for _method in ("score_mean", "decile_mean"):
        found = metric_intervals(predicted, true, settings)
    ours = (time.perf_counter() - start) / 2
    rows = rng.integers(0, args.lsoas, size=(args.scipy_sample, args.lsoas))
    start = time.perf_counter()
    for row in rows:
        kendalltau(predicted[row], true[row])
    scipy_seconds = (time.perf_counter() - start) / args.scipy_sample * 2 * args.resamples
    emit(
        {
            "benchmark": "metric_intervals",
            "cpu": cpu_model(),
            "lsoas": args.lsoas,
            "resamples": args.resamples,
            "permutations": args.resamples,
            "seconds_per_outcome_method": round(ours, 3),
            "scipy_loop_seconds_per_outcome_method": round(scipy_seconds, 1),
            "speedup": round(scipy_seconds / ours, 1),
            "kendall_tau_b_interval": [round(found["kendall_tau_b_low"], 4), round(found["kendall_tau_b_high"], 4)],
        }
    )


if __name__ == "__main__":
    main()
