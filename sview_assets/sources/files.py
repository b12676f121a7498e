"""Default file names of the raw inputs under ``data/<city>/raw/`` (label files are named by the city's declarations)."""

POSTCODE_FILE = "postcode_directory.csv"
BOUNDARY_FILE = "area_boundaries.geojson"
