"""English Indices of Deprivation (2015 and 2019 share this layout): domain ranks per LSOA."""

from pathlib import Path

import pandas as pd

from ..outcomes import IOD
from .common import read_lsoa_values

LSOA_COLUMN = "LSOA code (2011)"


def read_iod_ranks(path: Path, city_areas: frozenset[str] = frozenset()) -> pd.DataFrame:
    """Domain ranks (1 = most deprived) indexed by LSOA, one column per IoD outcome key."""
    return read_lsoa_values(path, "Indices of Deprivation", LSOA_COLUMN, IOD, integer=True, minimum=1, city_areas=city_areas)
