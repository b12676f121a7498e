"""Additional per-LSOA outcomes from a plain CSV (``lsoa11`` plus one column per outcome)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..outcomes import EXTRA, outcomes_from
from .common import lsoa_codes, numeric_column, read_csv, require_columns

LSOA_COLUMN = "lsoa11"


def read_extra_outcomes(path: Path) -> pd.DataFrame:
    """Values of the registry's ``extra`` outcomes indexed by LSOA."""
    frame = read_csv(path, "extra outcomes")
    outcomes = outcomes_from(EXTRA)
    require_columns(frame, path, [LSOA_COLUMN, *[o.columns[0] for o in outcomes]], "extra outcomes")
    codes = lsoa_codes(frame, path, LSOA_COLUMN)
    values = {o.key: numeric_column(frame, path, o.columns[0]).to_numpy() for o in outcomes}
    return pd.DataFrame(values, index=pd.Index(codes.to_numpy(), name="lsoa11"))
