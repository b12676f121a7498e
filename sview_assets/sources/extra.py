"""Additional per-LSOA outcomes from a plain CSV (``lsoa11`` plus one column per outcome)."""

from pathlib import Path

import pandas as pd

from ..outcomes import EXTRA
from .common import read_lsoa_values

LSOA_COLUMN = "lsoa11"


def read_extra_outcomes(path: Path) -> pd.DataFrame:
    """Values of the registry's ``extra`` outcomes indexed by LSOA."""
    return read_lsoa_values(path, "extra outcomes", LSOA_COLUMN, EXTRA)
