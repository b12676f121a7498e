"""Image locations: ONS Postcode Directory rows that carry an ``img_id``, or, in a city without such a
directory, a table of ``img_id, lat, long`` whose areas come from the city's boundary file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .common import LSOA_CODE, SourceFormatError, numeric_column, read_csv, reject_rows, require_columns

COLUMNS = ("pcd", "oa11", "lsoa11", "msoa11", "lat", "long", "img_id")
COORDINATE_COLUMNS = ("img_id", "lat", "long")


@dataclass(frozen=True)
class PostcodeLocations:
    """Image locations read from the directory, and how many rows had no image."""

    locations: pd.DataFrame
    rows_without_image: int
    has_area_codes: bool = True


def read_postcode_locations(path: Path) -> PostcodeLocations:
    """One row per image location: img_id, pcd, oa11, lsoa11, msoa11, lat, long.

    A table without an ``lsoa11`` column needs only ``img_id, lat, long``: its ``lsoa11`` is left
    empty (``has_area_codes`` False) for the caller to fill by point in polygon, and absent
    ``pcd``, ``oa11`` and ``msoa11`` are empty strings.
    """
    frame = read_csv(path, "postcode directory")
    has_area_codes = "lsoa11" in frame.columns
    require_columns(
        frame, path, COLUMNS if has_area_codes else COORDINATE_COLUMNS, "postcode directory" if has_area_codes else "location table (coordinates only)"
    )
    has_image = frame["img_id"].str.strip() != ""
    rows_without_image = int((~has_image).sum())
    frame = frame[has_image]
    if frame.empty:
        raise SourceFormatError(path, "no row has an img_id.", "Each image location needs its img_id in the 'img_id' column.")
    img_id = numeric_column(frame, path, "img_id", integer=True, minimum=0)
    reject_rows(path, frame, img_id.duplicated(), lambda i, line: f"img_id {img_id.iloc[i]} appears again at {line}.", "img_id must be unique.")
    if has_area_codes:
        lsoa = frame["lsoa11"].str.strip()
        reject_rows(path, frame, ~lsoa.str.match(LSOA_CODE), lambda i, line: f"column 'lsoa11', {line}: {lsoa.iloc[i]!r} is not an LSOA 2011 code.")
    else:
        lsoa = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    lat = numeric_column(frame, path, "lat")
    lon = numeric_column(frame, path, "long")
    reject_rows(path, frame, (lat.abs() > 90) | (lon.abs() > 180), lambda i, line: f"{line}: lat/long ({lat.iloc[i]}, {lon.iloc[i]}) is out of range.")

    def text(column: str):
        return frame[column].str.strip().to_numpy() if column in frame.columns else ""

    locations = pd.DataFrame(
        {
            "img_id": img_id.to_numpy(),
            "pcd": text("pcd"),
            "oa11": text("oa11"),
            "lsoa11": lsoa.to_numpy(),
            "msoa11": text("msoa11"),
            "lat": lat.to_numpy(),
            "long": lon.to_numpy(),
        }
    )
    return PostcodeLocations(locations.sort_values("img_id", ignore_index=True), rows_without_image, has_area_codes)
