"""Does the ordinal model still need its variance floor and z-score clip on fc6-before-ReLU features?

Trains the chosen outcomes of an existing training set (default: the demo city's, made by
`make demo`) four ways, with the same folds and seeds: variance floor and clip (the defaults),
clip only, floor only, neither. Prints JSON: LSOA-level Kendall tau-b (`score_mean`) per outcome
and variant, and the mean over the outcomes that are visible in the demo's images.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit  # noqa: E402

VARIANTS = {"floor_and_clip": (0.01, 6.0), "clip_only": (0.0, 6.0), "floor_only": (0.01, 0.0), "neither": (0.0, 0.0)}


def main() -> None:
    from scipy.stats import kendalltau

    from sview_assets.config.declarations import read_declarations
    from sview_assets.config.settings import SviewSettings
    from sview_assets.ml.evaluation.aggregate import SCORE_MEAN, aggregate_lsoas
    from sview_assets.ml.threads import configure_threads
    from sview_assets.ml.training.cross_validation import train_outcome
    from sview_assets.ml.training.presets import TrainSettings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training-set", default=str(SviewSettings.from_env().paths.training_set))
    parser.add_argument("--outcomes", nargs="+", default=["income", "living_environment", "crime", "bad_health", "control"])
    parser.add_argument("--epochs", type=int, default=12, help="as `make demo` trains")
    parser.add_argument("--patience", type=int, default=4, help="as `make demo` trains")
    args = parser.parse_args()
    configure_threads()
    base = TrainSettings(epochs=args.epochs, patience=args.patience)
    taus: dict[str, dict[str, float]] = {name: {} for name in VARIANTS}
    start = time.perf_counter()
    for outcome in args.outcomes:
        for name, (floor, z_limit) in VARIANTS.items():
            with tempfile.TemporaryDirectory() as folder:
                cfg = replace(base, variance_floor_fraction=floor, z_limit=z_limit)
                result = train_outcome(Path(args.training_set), outcome, cfg, Path(folder), log=lambda _: None)
            lsoas = aggregate_lsoas(result.out_of_fold)
            part = lsoas[lsoas["method"] == SCORE_MEAN]
            taus[name][outcome] = round(float(kendalltau(part["predicted_decile"], part["true_decile"]).statistic), 4)
    declarations = read_declarations(SviewSettings.from_env().paths.root / "outcomes.toml")
    visible = [o for o in args.outcomes if not declarations.outcome(o).negative_control]
    emit(
        {
            "training_set": args.training_set,
            "epochs": args.epochs,
            "kendall_tau_b_score_mean": taus,
            "mean_tau_b_visible_outcomes": {name: round(sum(t[o] for o in visible) / len(visible), 4) for name, t in taus.items()},
            "seconds": round(time.perf_counter() - start, 1),
        }
    )


if __name__ == "__main__":
    main()
