"""London household income estimates (Code, Mean 2012/13, Median 2012/13) per LSOA."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..outcomes import INCOME, outcomes_from
from .common import lsoa_codes, numeric_column, read_csv, require_columns

CODE_COLUMN = "Code"


def read_household_income(path: Path) -> pd.DataFrame:
    """Mean and median household income indexed by LSOA."""
    frame = read_csv(path, "household income")
    outcomes = outcomes_from(INCOME)
    require_columns(frame, path, [CODE_COLUMN, *[o.columns[0] for o in outcomes]], "household income")
    codes = lsoa_codes(frame, path, CODE_COLUMN)
    values = {o.key: numeric_column(frame, path, o.columns[0], minimum=0).to_numpy() for o in outcomes}
    return pd.DataFrame(values, index=pd.Index(codes.to_numpy(), name="lsoa11"))
