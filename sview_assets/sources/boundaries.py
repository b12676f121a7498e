"""LSOA boundaries from a GeoJSON FeatureCollection (optional; used to draw decile maps).

Each feature needs an LSOA 2011 code in one of the usual properties (``LSOA11CD``,
``lsoa11cd`` or ``lsoa11``) and a Polygon or MultiPolygon geometry in longitude/latitude.
"""

import json
from pathlib import Path

import numpy as np

from .common import LSOA_CODE, SourceFormatError

CODE_PROPERTIES = ("LSOA11CD", "lsoa11cd", "lsoa11")


def _outer_rings(geometry: dict, path: Path, index: int) -> list[np.ndarray]:
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind == "Polygon":
        polygons = [geometry.get("coordinates", [])]
    elif kind == "MultiPolygon":
        polygons = geometry.get("coordinates", [])
    else:
        raise SourceFormatError(path, f"feature {index}: geometry type {kind!r}, expected 'Polygon' or 'MultiPolygon'.")
    rings = []
    for polygon in polygons:
        ring = np.asarray(polygon[0] if polygon else [], dtype=float)
        if ring.ndim != 2 or ring.shape[0] < 3 or ring.shape[1] < 2:
            raise SourceFormatError(path, f"feature {index}: a polygon ring needs at least three [long, lat] points.")
        rings.append(ring[:, :2])
    return rings


def read_lsoa_boundaries(path: Path) -> dict[str, list[np.ndarray]]:
    """Outer rings ([n, 2] long/lat arrays) of each LSOA's polygons, by LSOA code."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceFormatError(path, "boundary file not found.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceFormatError(path, f"not valid GeoJSON ({exc}).") from None
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise SourceFormatError(path, "expected a GeoJSON FeatureCollection.")
    boundaries: dict[str, list[np.ndarray]] = {}
    for index, feature in enumerate(document.get("features", [])):
        properties = feature.get("properties") or {}
        code = next((str(properties[k]).strip() for k in CODE_PROPERTIES if k in properties), None)
        if code is None:
            raise SourceFormatError(path, f"feature {index} has none of the properties {', '.join(CODE_PROPERTIES)}.")
        if not LSOA_CODE.match(code):
            raise SourceFormatError(path, f"feature {index}: {code!r} is not an LSOA 2011 code.")
        boundaries.setdefault(code, []).extend(_outer_rings(feature.get("geometry"), path, index))
    if not boundaries:
        raise SourceFormatError(path, "the FeatureCollection has no features.")
    return boundaries
