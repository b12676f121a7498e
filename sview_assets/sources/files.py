"""Default file names of the raw inputs under ``data/<city>/raw/``."""

from ..outcomes import CENSUS, EXTRA, INCOME, IOD

DEFAULT_SOURCE_FILES = {
    IOD: "iod_2015_domain_ranks.csv",
    CENSUS: "census_2011_lsoa.csv",
    INCOME: "household_income_2012_13.csv",
    EXTRA: "extra_outcomes.csv",
}
POSTCODE_FILE = "postcode_directory.csv"
BOUNDARY_FILE = "area_boundaries.geojson"
