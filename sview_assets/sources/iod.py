"""English Indices of Deprivation (2015 and 2019 share this layout): domain ranks per LSOA."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..outcomes import IOD, outcomes_from
from .common import lsoa_codes, numeric_column, read_csv, require_columns

LSOA_COLUMN = "LSOA code (2011)"


def read_iod_ranks(path: Path) -> pd.DataFrame:
    """Domain ranks (1 = most deprived) indexed by LSOA, one column per IoD outcome key."""
    frame = read_csv(path, "Indices of Deprivation")
    outcomes = outcomes_from(IOD)
    require_columns(frame, path, [LSOA_COLUMN, *[o.columns[0] for o in outcomes]], "Indices of Deprivation")
    codes = lsoa_codes(frame, path, LSOA_COLUMN)
    ranks = {o.key: numeric_column(frame, path, o.columns[0], integer=True, minimum=1).to_numpy() for o in outcomes}
    return pd.DataFrame(ranks, index=pd.Index(codes.to_numpy(), name="lsoa11"))
