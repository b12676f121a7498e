"""The launchpad settings of the bootstrap intervals and permutation p-values, shared by the metrics assets."""

import dagster as dg
from pydantic import Field

from sview_assets.ml.evaluation.intervals import CONFIDENCE, PERMUTATIONS, RESAMPLES, SEED, IntervalSettings


class IntervalsConfig(dg.Config):
    """How sure each metric is: bootstrap over areas, permutations of the true deciles."""

    bootstrap_resamples: int = Field(default=RESAMPLES, ge=100, description="Bootstrap resamples of the areas (whole LSOAs) behind each 95% interval.")
    permutations: int = Field(default=PERMUTATIONS, ge=100, description="Shuffles of the true deciles behind tau-b's permutation p-value.")
    confidence: float = Field(default=CONFIDENCE, gt=0.5, lt=1, description="Coverage of the percentile intervals.")
    interval_seed: int = Field(default=SEED, description="Seed of the resamples and shuffles: the same seed and data give the same intervals.")

    def interval_settings(self) -> IntervalSettings:
        return IntervalSettings(self.bootstrap_resamples, self.permutations, self.confidence, self.interval_seed)
