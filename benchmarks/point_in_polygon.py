"""Point in polygon at the scale of a large boundary file: 50,000 areas, 100,000 locations.

Writes a GeoJSON grid of ``--columns`` x ``--rows`` square areas, reads it as ``postcode_locations``
does, and places ``--points`` random locations with :func:`assign_areas` (an STR-tree over the
areas). Side by side, the same placement without the index (every point tested against every area,
on a sample of ``--sample`` points, scaled up) shows what the index saves. Prints JSON; the figures
are this machine's (see ``cpu``).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from _common import cpu_model, emit, peak_rss_mb  # noqa: E402

from sview_assets.sources.boundaries import assign_areas, read_area_boundaries  # noqa: E402

CELL = 0.5


def grid(columns: int, rows: int) -> dict:
    features = []
    for i in range(columns):
        for j in range(rows):
            x, y = -62.5 + CELL * i, -50 + CELL * j
            ring = [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL], [x, y]]
            features.append({"type": "Feature", "properties": {"area_code": f"C{i}_{j}"}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=250)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "area_boundaries.geojson"
        path.write_text(json.dumps(grid(args.columns, args.rows)))
        start = time.perf_counter()
        boundaries = read_area_boundaries(path)
        read_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    east, north = -62.5 + CELL * args.columns, -50 + CELL * args.rows
    longitude, latitude = rng.uniform(-62.5, east, args.points), rng.uniform(-50, north, args.points)
    start = time.perf_counter()
    placed = assign_areas(longitude, latitude, boundaries)
    indexed_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for x, y in zip(longitude[: args.sample], latitude[: args.sample]):
        shapely.intersects(boundaries.geometries, shapely.Point(x, y)).argmax()
    brute_seconds = (time.perf_counter() - start) * args.points / args.sample
    emit(
        {
            "cpu": cpu_model(),
            "areas": len(boundaries.codes),
            "points": args.points,
            "placed": int((~placed.outside).sum()),
            "read_boundaries_seconds": round(read_seconds, 2),
            "point_in_polygon_seconds": round(indexed_seconds, 3),
            "without_index_seconds_projected": round(brute_seconds, 1),
            "index_speedup": round(brute_seconds / indexed_seconds, 0),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
