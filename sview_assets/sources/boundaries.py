"""Area boundaries from a GeoJSON FeatureCollection in longitude/latitude (optional in England, required where
locations carry no area code).

Each feature names its area in one of the usual properties (``area_code``; ``LSOA21CD`` or ``LSOA11CD`` of
the ONS files; ``GEOID`` of US Census tracts; ``CODE_IRIS`` of French IRIS; see ``CODE_PROPERTIES``); areas
keep whatever codes the file uses (ONS LSOA codes in England and Wales, a statistical office's own codes
elsewhere). Geometries are Polygons or MultiPolygons, holes included; several
features with one code make one area. An empty geometry is refused; an invalid one (a self-intersecting
ring) is repaired with ``make_valid`` and reported in ``repairs`` with the area before and after, since a
repair can drop part of what was drawn.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from sview_assets.sources.common import SourceFormatError

KM_PER_DEGREE = 111.32
CODE_PROPERTIES = ("area_code", "LSOA21CD", "lsoa21cd", "LSOA11CD", "lsoa11cd", "lsoa11", "GEOID", "geoid", "CODE_IRIS")


@dataclass(frozen=True)
class AreaBoundaries:
    """One (Multi)Polygon per area code, in longitude/latitude."""

    path: Path
    codes: tuple[str, ...]
    geometries: np.ndarray
    repairs: tuple[str, ...] = ()

    def outer_rings(self, code: str) -> list[np.ndarray]:
        """The outer rings ([n, 2] long/lat) of an area's polygons; none for an unknown code."""
        if code not in self.index:
            return []
        return [np.asarray(polygon.exterior.coords)[:, :2] for polygon in shapely.get_parts(self.geometries[self.index[code]])]

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """The position of each area code in ``codes`` and ``geometries``."""
        return {code: i for i, code in enumerate(self.codes)}


def square_km(shape) -> float:
    """The area of a long/lat ``shape`` in km², on a sphere, scaled at its centroid's latitude (plenty for a report)."""
    if shape.is_empty:
        return 0.0
    return float(shape.area * KM_PER_DEGREE**2 * np.cos(np.radians(shape.centroid.y)))


def _geometry(feature: dict, path: Path, index: int, code: str, repairs: list[str]):
    """Feature ``index``'s polygon(s); an invalid one repaired, with a line in ``repairs`` saying what changed."""
    geometry = feature.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in ("Polygon", "MultiPolygon"):
        raise SourceFormatError(path, f"feature {index} ({code}): geometry type {kind!r}, expected 'Polygon' or 'MultiPolygon'.")
    try:
        shape = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, IndexError, shapely.errors.ShapelyError) as exc:
        raise SourceFormatError(path, f"feature {index} ({code}): a polygon ring needs at least three [long, lat] points ({exc}).") from None
    if shape.is_empty:
        raise SourceFormatError(
            path, f"feature {index} ({code}): the geometry is empty, so no location could ever be in it.", "Give it its polygon, or remove the feature."
        )
    west, south, east, north = shape.bounds
    if min(west, east) < -180 or max(west, east) > 180 or min(south, north) < -90 or max(south, north) > 90:
        raise SourceFormatError(path, f"feature {index} ({code}): coordinates outside longitude/latitude.", "Save the file in WGS84 (EPSG:4326) long/lat.")
    if shape.is_valid:
        return shape
    repaired = shapely.make_valid(shape)
    polygons = [part for part in shapely.get_parts(repaired) if isinstance(part, shapely.Polygon)]
    repaired = shapely.union_all(polygons) if polygons else shapely.Polygon()
    if repaired.is_empty:
        raise SourceFormatError(
            path, f"feature {index} ({code}): {shapely.is_valid_reason(shape)}, and nothing of it is left as a polygon.", "Redraw the area's boundary."
        )
    repairs.append(
        f"feature {index} ({code}): {shapely.is_valid_reason(shape)}; repaired to {square_km(repaired):.4g} km² in "
        f"{len(polygons)} part(s), where the outline as drawn spans {square_km(shape.convex_hull):.4g} km² (its convex hull). "
        "Check the area's boundary in a GIS."
    )
    return repaired


def read_area_boundaries(path: Path) -> AreaBoundaries:
    """Every area's geometry, by the code the file gives it."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceFormatError(path, "boundary file not found.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFormatError(path, f"not valid GeoJSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise SourceFormatError(path, "expected a GeoJSON FeatureCollection.")
    parts: dict[str, list] = {}
    repairs: list[str] = []
    for index, feature in enumerate(document.get("features", [])):
        properties = feature.get("properties") or {}
        code = next((str(properties[k]).strip() for k in CODE_PROPERTIES if k in properties), "")
        if not code:
            raise SourceFormatError(path, f"feature {index} has none of the properties {', '.join(CODE_PROPERTIES)} (or an empty one).")
        parts.setdefault(code, []).append(_geometry(feature, path, index, code, repairs))
    if not parts:
        raise SourceFormatError(path, "the FeatureCollection has no features.")
    codes = tuple(sorted(parts))
    geometries = np.array([shapely.union_all(parts[code]) for code in codes], dtype=object)
    return AreaBoundaries(path, codes, geometries, tuple(repairs))


@dataclass(frozen=True)
class AreaAssignment:
    """The area of each location (None outside every area) and how many fell in more than one."""

    codes: pd.Series
    in_several: int

    @property
    def outside(self) -> pd.Series:
        return self.codes.isna()


def assign_areas(longitude: np.ndarray, latitude: np.ndarray, boundaries: AreaBoundaries) -> AreaAssignment:
    """Point in polygon: the area containing each (long, lat) point.

    A point on a shared edge, or in overlapping areas, goes to the first area by code (counted in
    ``in_several``); a point outside every area gets None, for the caller to report.
    """
    points = shapely.points(np.asarray(longitude, dtype=float), np.asarray(latitude, dtype=float))
    tree = shapely.STRtree(boundaries.geometries)
    point_index, area_index = tree.query(points, predicate="intersects")
    order = np.lexsort((area_index, point_index))
    point_index, area_index = point_index[order], area_index[order]
    first = np.ones(len(point_index), dtype=bool)
    first[1:] = point_index[1:] != point_index[:-1]
    codes = pd.Series([None] * len(points), dtype=object)
    codes.iloc[point_index[first]] = np.asarray(boundaries.codes, dtype=object)[area_index[first]]
    return AreaAssignment(codes, int(len(point_index) - first.sum()))
