"""ONS Postcode Directory rows that carry an image location (``img_id``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .common import LSOA_CODE, SourceFormatError, numeric_column, read_csv, reject_rows, require_columns

COLUMNS = ("pcd", "oa11", "lsoa11", "msoa11", "lat", "long", "img_id")


@dataclass(frozen=True)
class PostcodeLocations:
    """Image locations read from the directory, and how many rows had no image."""

    locations: pd.DataFrame
    rows_without_image: int


def read_postcode_locations(path: Path) -> PostcodeLocations:
    """One row per image location: img_id, pcd, oa11, lsoa11, msoa11, lat, long."""
    frame = read_csv(path, "postcode directory")
    require_columns(frame, path, COLUMNS, "postcode directory")
    has_image = frame["img_id"].str.strip() != ""
    rows_without_image = int((~has_image).sum())
    frame = frame[has_image]
    if frame.empty:
        raise SourceFormatError(path, "no row has an img_id.", "Each image location needs its img_id in the 'img_id' column.")
    img_id = numeric_column(frame, path, "img_id", integer=True, minimum=0)
    reject_rows(path, frame, img_id.duplicated(), lambda i, line: f"img_id {img_id.iloc[i]} appears again at {line}.", "img_id must be unique.")
    lsoa = frame["lsoa11"].str.strip()
    reject_rows(path, frame, ~lsoa.str.match(LSOA_CODE), lambda i, line: f"column 'lsoa11', {line}: {lsoa.iloc[i]!r} is not an LSOA 2011 code.")
    lat = numeric_column(frame, path, "lat")
    lon = numeric_column(frame, path, "long")
    reject_rows(path, frame, (lat.abs() > 90) | (lon.abs() > 180), lambda i, line: f"{line}: lat/long ({lat.iloc[i]}, {lon.iloc[i]}) is out of range.")
    locations = pd.DataFrame(
        {
            "img_id": img_id.to_numpy(),
            "pcd": frame["pcd"].str.strip().to_numpy(),
            "oa11": frame["oa11"].str.strip().to_numpy(),
            "lsoa11": lsoa.to_numpy(),
            "msoa11": frame["msoa11"].str.strip().to_numpy(),
            "lat": lat.to_numpy(),
            "long": lon.to_numpy(),
        }
    )
    return PostcodeLocations(locations.sort_values("img_id", ignore_index=True), rows_without_image)
