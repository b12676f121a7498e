"""From location scores to LSOA deciles, by the two methods kept side by side.

* ``score_mean`` (as the original README describes): mean out-of-fold score
  per LSOA, then those means cut into deciles across the city's LSOAs.
* ``decile_mean`` (as the original aggregation code does): location scores
  cut into deciles across locations first, then each LSOA's mean location
  decile rounded with ``np.rint`` (halves to the even decile: 2.5 -> 2,
  3.5 -> 4).

Low scores mean low deciles (most deprived), as the model is trained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .deciles import rank_deciles

SCORE_MEAN = "score_mean"
DECILE_MEAN = "decile_mean"
METHODS = (SCORE_MEAN, DECILE_MEAN)
COLUMNS = ["lsoa11", "method", "n_locations", "mean_score", "predicted_decile", "true_decile"]


def _per_lsoa(locations: pd.DataFrame) -> pd.DataFrame:
    grouped = locations.groupby("lsoa11", sort=True)
    true = grouped["true_decile"].agg(["min", "max"])
    if (true["min"] != true["max"]).any():
        bad = true.index[true["min"] != true["max"]][0]
        raise ValueError(f"LSOA {bad!r} has locations with different true deciles")
    return pd.DataFrame({"n_locations": grouped.size(), "mean_score": grouped["score"].mean(), "true_decile": true["min"]})


def aggregate_score_mean(locations: pd.DataFrame) -> pd.DataFrame:
    """LSOA deciles from the decile cut of LSOA mean scores."""
    lsoas = _per_lsoa(locations)
    lsoas["predicted_decile"] = rank_deciles(lsoas["mean_score"]).astype("int64")
    lsoas["method"] = SCORE_MEAN
    return lsoas.reset_index()[COLUMNS]


def aggregate_decile_mean(locations: pd.DataFrame) -> pd.DataFrame:
    """LSOA deciles as the mean of location-level score deciles, rounded half to even like the original script."""
    lsoas = _per_lsoa(locations)
    location_deciles = rank_deciles(locations.set_index("img_id")["score"]).to_numpy(dtype=np.float64)
    mean_decile = pd.Series(location_deciles, index=locations["lsoa11"].to_numpy()).groupby(level=0).mean()
    lsoas["predicted_decile"] = np.clip(np.rint(mean_decile.reindex(lsoas.index).to_numpy()), 1, 10).astype("int64")
    lsoas["method"] = DECILE_MEAN
    return lsoas.reset_index()[COLUMNS]


def aggregate_lsoas(locations: pd.DataFrame) -> pd.DataFrame:
    """Both methods, one row per (LSOA, method). Needs columns img_id, lsoa11, score, true_decile."""
    return pd.concat([aggregate_score_mean(locations), aggregate_decile_mean(locations)], ignore_index=True)
