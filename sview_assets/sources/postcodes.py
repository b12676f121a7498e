"""Image locations: rows of a postcode directory that carry an ``img_id`` (the ONS directory of 2011 or 2021
geographies), or, in a city without such a directory, a table of ``img_id, lat, long`` whose areas come
from the city's boundary file. A city with neither whose image batches are panoramas takes its
locations from the batches' panorama tables, placed in areas the same way.

The directory's columns are found by name: the area code in ``lsoa21cd``, ``lsoa11cd``, ``lsoa21``,
``lsoa11`` or ``area_code`` (or the column the city's declarations name), the postcode in ``pcds``,
``pcd``, ``pcd7`` or ``pcd8``, and the output area and MSOA in the columns of the same vintage. Whatever
their names in the file, the table sview writes calls them ``pcd, oa11, lsoa11, msoa11``: ``lsoa11`` holds
the city's area code (a 2021 LSOA code when the directory gives those, a tract code elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sview_assets.sources.common import SourceFormatError, numeric_column, read_csv, reject_rows, require_columns

AREA_COLUMNS = ("lsoa21cd", "lsoa11cd", "lsoa21", "lsoa11", "area_code")
POSTCODE_COLUMNS = ("pcds", "pcd", "pcd7", "pcd8")
COORDINATE_COLUMNS = ("img_id", "lat", "long")


@dataclass(frozen=True)
class PostcodeLocations:
    """Image locations read from the directory, how many rows had no image, and which column gave the areas."""

    locations: pd.DataFrame
    rows_without_image: int
    has_area_codes: bool = True
    area_column: str | None = None
    panorama_batches: tuple[str, ...] = ()


def area_column_of(columns: list[str], path: Path, chosen: str | None = None) -> str | None:
    """The column holding each location's area code: ``chosen`` (from the declarations), else the one known
    area column present; None for a coordinates-only table."""
    if chosen:
        if chosen not in columns:
            raise SourceFormatError(path, f"the area column {chosen!r} named in the city's outcomes.toml ([locations] area_column) is not in the file.")
        return chosen
    present = [c for c in AREA_COLUMNS if c in columns]
    if len(present) > 1:
        raise SourceFormatError(
            path,
            f"several area-code columns ({', '.join(present)}): which vintage are the city's areas?",
            "Say it in the city's outcomes.toml: [locations] area_column = \"lsoa21cd\" (match the label files' codes).",
        )
    return present[0] if present else None


def _same_vintage(columns: list[str], area_column: str | None, stem: str) -> str | None:
    """The ``oa``/``msoa`` column of the area column's vintage (2021 or 2011), else any there is."""
    years = ("21", "11") if area_column and "21" in area_column else ("11", "21")
    candidates = [f"{stem}{year}{suffix}" for year in years for suffix in ("cd", "")]
    return next((c for c in candidates if c in columns), None)


def read_postcode_locations(path: Path, area_column: str | None = None) -> PostcodeLocations:
    """One row per image location: img_id, pcd, oa11, lsoa11, msoa11, lat, long.

    A table without an area column needs only ``img_id, lat, long``: its ``lsoa11`` is left empty
    (``has_area_codes`` False) for the caller to fill by point in polygon; absent postcode, output area
    and MSOA columns give empty strings.
    """
    frame = read_csv(path, "postcode directory")
    columns = list(frame.columns)
    area = area_column_of(columns, path, area_column)
    require_columns(frame, path, COORDINATE_COLUMNS, "postcode directory" if area else "location table (coordinates only)")
    has_image = frame["img_id"].str.strip() != ""
    rows_without_image = int((~has_image).sum())
    frame = frame[has_image]
    if frame.empty:
        raise SourceFormatError(path, "no row has an img_id.", "Each image location needs its img_id in the 'img_id' column.")
    img_id = numeric_column(frame, path, "img_id", integer=True, minimum=0)
    reject_rows(path, frame, img_id.duplicated(), lambda i, line: f"img_id {img_id.iloc[i]} appears again at {line}.", "img_id must be unique.")
    if area:
        codes = frame[area].str.strip()
        reject_rows(path, frame, codes == "", lambda i, line: f"column {area!r}, {line}: the area code is empty.", "Every row with an img_id needs its area.")
    else:
        codes = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    lat = numeric_column(frame, path, "lat")
    lon = numeric_column(frame, path, "long")
    reject_rows(path, frame, (lat.abs() > 90) | (lon.abs() > 180), lambda i, line: f"{line}: lat/long ({lat.iloc[i]}, {lon.iloc[i]}) is out of range.")

    def text(column: str | None):
        return frame[column].str.strip().to_numpy() if column else ""

    locations = pd.DataFrame(
        {
            "img_id": img_id.to_numpy(),
            "pcd": text(next((c for c in POSTCODE_COLUMNS if c in columns), None)),
            "oa11": text(_same_vintage(columns, area, "oa")),
            "lsoa11": codes.to_numpy(),
            "msoa11": text(_same_vintage(columns, area, "msoa")),
            "lat": lat.to_numpy(),
            "long": lon.to_numpy(),
        }
    )
    return PostcodeLocations(locations.sort_values("img_id", ignore_index=True), rows_without_image, bool(area), area)


def panorama_locations(tables: dict[str, pd.DataFrame], images_dir: Path) -> PostcodeLocations:
    """The locations of every panorama batch (batch key -> its panorama table), coordinates only; an id in two batches is refused."""
    frames = [table.assign(batch=key) for key, table in sorted(tables.items())]
    frame = pd.concat(frames, ignore_index=True)
    twice = frame[frame["img_id"].duplicated(keep=False)].sort_values("img_id")
    if len(twice):
        first = twice.iloc[0]
        batches = sorted(twice.loc[twice["img_id"] == first["img_id"], "batch"])
        raise SourceFormatError(
            images_dir / batches[-1] / "panoramas.csv",
            f"id {first['img_id']} is also in batch {batches[0]!r} ({twice['img_id'].nunique()} id(s) in more than one batch).",
            "Each location's id must be unique across the city's batches.",
        )
    locations = pd.DataFrame({"img_id": frame["img_id"], "pcd": "", "oa11": "", "lsoa11": None, "msoa11": "", "lat": frame["lat"], "long": frame["long"]})
    return PostcodeLocations(locations.sort_values("img_id", ignore_index=True), 0, False, None, tuple(sorted(tables)))


@dataclass(frozen=True)
class PlacedLocations:
    """The location table with every location's area: from the directory, or by point in polygon."""

    read: PostcodeLocations
    locations: pd.DataFrame
    boundary_file: Path | None = None
    outside_every_area: tuple[int, ...] = ()
    in_several_areas: int = 0
    boundary_repairs: tuple[str, ...] = ()


def place_locations(
    postcode_file: Path,
    boundary_file: Path,
    area_column: str | None = None,
    panorama_tables: Callable[[], dict[str, pd.DataFrame]] | None = None,
) -> PlacedLocations:
    """Read the location table; a table without area codes gets them from ``boundary_file`` (point in polygon).

    Without ``postcode_file``, the locations of the city's panorama batches (``panorama_tables`` gives each
    batch's table) are used when there are any.
    """
    from sview_assets.sources.boundaries import assign_areas, read_area_boundaries

    tables = panorama_tables() if panorama_tables is not None and not Path(postcode_file).is_file() else {}
    read = panorama_locations(tables, Path(postcode_file).parent / "images") if tables else read_postcode_locations(postcode_file, area_column)
    frame = read.locations
    if read.has_area_codes:
        return PlacedLocations(read, frame)
    if not Path(boundary_file).is_file():
        where = f"The panorama tables of batch(es) {', '.join(read.panorama_batches)} have" if tables else f"{postcode_file} has"
        raise FileNotFoundError(
            f"{where} no area-code column, so their locations are placed in areas by point in polygon, but the boundary file "
            f"{boundary_file} does not exist. Add the city's area boundaries there (GeoJSON, long/lat, an area_code property per feature)."
        )
    boundaries = read_area_boundaries(boundary_file)
    assignment = assign_areas(frame["long"].to_numpy(), frame["lat"].to_numpy(), boundaries)
    frame = frame.assign(lsoa11=assignment.codes.to_numpy())
    outside = tuple(int(i) for i in frame.loc[assignment.outside.to_numpy(), "img_id"])
    return PlacedLocations(read, frame, Path(boundary_file), outside, assignment.in_several, boundaries.repairs)
