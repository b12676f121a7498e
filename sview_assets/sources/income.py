"""London household income estimates (Code, Mean 2012/13, Median 2012/13) per LSOA."""

from pathlib import Path

import pandas as pd

from ..outcomes import INCOME
from .common import read_lsoa_values

CODE_COLUMN = "Code"


def read_household_income(path: Path, city_areas: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Mean and median household income indexed by LSOA."""
    return read_lsoa_values(path, "household income", CODE_COLUMN, INCOME, minimum=0, city_areas=city_areas)
