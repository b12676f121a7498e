"""Additional per-LSOA outcomes from a plain CSV (``lsoa11`` plus one column per outcome).

Only the registry's ``extra`` outcomes whose column is in the file are read
(the demo city's ``Control index``, say); the others are not built.
"""

from pathlib import Path

import pandas as pd

from ..outcomes import EXTRA
from .common import read_lsoa_values

LSOA_COLUMN = "lsoa11"


def read_extra_outcomes(path: Path, city_areas: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Values of the registry's ``extra`` outcomes indexed by LSOA."""
    return read_lsoa_values(path, "extra outcomes", LSOA_COLUMN, EXTRA, all_required=False, city_areas=city_areas)
