"""From location scores to LSOA deciles, by the two methods kept side by side.

* ``score_mean`` (as the original README describes): mean out-of-fold score
  per LSOA, then those means cut into deciles across the city's LSOAs.
* ``decile_mean`` (as the original aggregation code does): location scores
  cut into deciles across locations first, then each LSOA's mean location
  decile rounded with ``np.rint`` (halves to the even decile: 2.5 -> 2,
  3.5 -> 4).

Both cuts are the original code's ``pd.qcut(scores, 10)`` (:func:`quantile_deciles`). Each LSOA also
gets ``score_std_error``, the standard error of its mean location score (NaN with one location), so a
prediction resting on few or disagreeing photos shows it.

Low scores mean low deciles (most deprived), as the model is trained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sview_assets.util.deciles import quantile_deciles

SCORE_MEAN = "score_mean"
DECILE_MEAN = "decile_mean"
METHODS = (SCORE_MEAN, DECILE_MEAN)
COLUMNS = ["lsoa11", "method", "n_locations", "mean_score", "score_std_error", "predicted_decile", "true_decile"]


def _per_lsoa(locations: pd.DataFrame) -> pd.DataFrame:
    grouped = locations.groupby("lsoa11", sort=True)
    true = grouped["true_decile"].agg(["min", "max"])
    if (true["min"] != true["max"]).any():
        bad = true.index[true["min"] != true["max"]][0]
        raise ValueError(f"LSOA {bad!r} has locations with different true deciles")
    n = grouped.size()
    return pd.DataFrame(
        {"n_locations": n, "mean_score": grouped["score"].mean(), "score_std_error": grouped["score"].std(ddof=1) / np.sqrt(n), "true_decile": true["min"]}
    )


def aggregate_score_mean(locations: pd.DataFrame) -> pd.DataFrame:
    """LSOA deciles from the decile cut of LSOA mean scores."""
    lsoas = _per_lsoa(locations)
    lsoas["predicted_decile"] = quantile_deciles(lsoas["mean_score"])
    lsoas["method"] = SCORE_MEAN
    return lsoas.reset_index()[COLUMNS]


def aggregate_decile_mean(locations: pd.DataFrame) -> pd.DataFrame:
    """LSOA deciles as the mean of location-level score deciles, rounded half to even like the original script."""
    lsoas = _per_lsoa(locations)
    location_deciles = quantile_deciles(locations.set_index("img_id")["score"]).to_numpy(dtype=np.float64)
    mean_decile = pd.Series(location_deciles, index=locations["lsoa11"].to_numpy()).groupby(level=0).mean()
    lsoas["predicted_decile"] = np.clip(np.rint(mean_decile.reindex(lsoas.index).to_numpy()), 1, 10).astype("int64")
    lsoas["method"] = DECILE_MEAN
    return lsoas.reset_index()[COLUMNS]


def aggregate_lsoas(locations: pd.DataFrame) -> pd.DataFrame:
    """Both methods, one row per (LSOA, method). Needs columns img_id, lsoa11, score, true_decile."""
    return pd.concat([aggregate_score_mean(locations), aggregate_decile_mean(locations)], ignore_index=True)
