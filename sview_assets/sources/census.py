"""UK Census 2011 LSOA tables (GEO_CODE, GEO_TYP2 == 'LSOADZ', count columns) turned into shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..outcomes import CENSUS, Outcome, outcomes_from
from .common import lsoa_codes, numeric_column, read_csv, reject_rows, require_columns

GEO_CODE = "GEO_CODE"
GEO_TYPE2 = "GEO_TYP2"
LSOA_GEOGRAPHY = "LSOADZ"


def read_census_shares(path: Path, city_areas: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Share of the denominator in each census outcome's numerator columns, indexed by LSOA."""
    frame = read_csv(path, "Census 2011 LSOA")
    outcomes = outcomes_from(CENSUS)
    needed = [GEO_CODE, GEO_TYPE2]
    for outcome in outcomes:
        needed += [*outcome.columns, outcome.denominator]
    require_columns(frame, path, list(dict.fromkeys(needed)), "Census 2011 LSOA")
    geography = frame[GEO_TYPE2].str.strip()
    reject_rows(
        path,
        frame,
        geography != LSOA_GEOGRAPHY,
        lambda i, line: f"column {GEO_TYPE2!r}, {line}: geography type {geography.iloc[i]!r}, expected {LSOA_GEOGRAPHY!r}.",
        "Use the LSOA-level table (or drop rows of other geographies).",
    )
    codes = lsoa_codes(frame, path, GEO_CODE, city_areas)
    shares = {outcome.key: _share(frame, path, outcome) for outcome in outcomes}
    return pd.DataFrame(shares, index=pd.Index(codes.to_numpy(), name="lsoa11"))


def _share(frame: pd.DataFrame, path: Path, outcome: Outcome) -> np.ndarray:
    """Sum of the outcome's count columns over its total, per row (NaN where the total is 0)."""
    denominator = numeric_column(frame, path, outcome.denominator, integer=True, minimum=0)
    numerator = sum(numeric_column(frame, path, c, integer=True, minimum=0) for c in outcome.columns)
    reject_rows(
        path,
        frame,
        numerator > denominator,
        lambda i, line: f"{line}: counts for {outcome.key} ({numerator.iloc[i]}) exceed the total {outcome.denominator!r} ({denominator.iloc[i]}).",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator.where(denominator > 0), np.nan)
