"""Area boundary GeoJSON: read by code (any code system), point in polygon, clear errors, and drawn as polygons on the decile map."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from sview_assets.figures.plots import decile_map
from sview_assets.sources.boundaries import assign_areas, read_area_boundaries
from sview_assets.sources.common import SourceFormatError

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feature(code, geometry, key="LSOA11CD"):
    return {"type": "Feature", "properties": {key: code}, "geometry": geometry}


def write(tmp_path, document):
    path = tmp_path / "area_boundaries.geojson"
    path.write_text(json.dumps(document))
    return path


def test_polygons_and_multipolygons_by_code(tmp_path):
    moved = [[x + 2, y] for x, y in SQUARE]
    path = write(
        tmp_path,
        collection(
            feature("E01000001", {"type": "Polygon", "coordinates": [SQUARE]}),
            feature("E01000002", {"type": "MultiPolygon", "coordinates": [[SQUARE], [moved]]}, key="lsoa11cd"),
        ),
    )
    boundaries = read_area_boundaries(path)
    assert boundaries.codes == ("E01000001", "E01000002")
    assert len(boundaries.outer_rings("E01000001")) == 1 and len(boundaries.outer_rings("E01000002")) == 2
    assert sorted(ring[:, 0].max() for ring in boundaries.outer_rings("E01000002")) == [1, 3]
    assert boundaries.outer_rings("E01999999") == []


@pytest.mark.parametrize(
    "document, message",
    [
        ({"type": "Feature"}, "expected a GeoJSON FeatureCollection"),
        (collection(feature("E01000001", {"type": "Point", "coordinates": [0, 0]})), "geometry type 'Point'"),
        (collection(feature("X1", {"type": "Polygon", "coordinates": [[[500, 0], [501, 0], [501, 1], [500, 0]]]})), "outside longitude/latitude"),
        (collection({"type": "Feature", "properties": {}, "geometry": None}), "has none of the properties"),
        (collection(feature("E01000001", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})), "at least three"),
        (collection(), "no features"),
        (collection(feature("E01000007", {"type": "Polygon", "coordinates": []})), r"feature 0 \(E01000007\): the geometry is empty"),
        (collection(feature("E01000008", {"type": "MultiPolygon", "coordinates": []})), r"feature 0 \(E01000008\): the geometry is empty"),
    ],
)
def test_bad_boundary_files(tmp_path, document, message):
    with pytest.raises(SourceFormatError, match=message):
        read_area_boundaries(write(tmp_path, document))


def test_a_self_intersecting_ring_is_repaired_and_reported_with_what_it_covers_before_and_after(tmp_path):
    bowtie = [[0, 50], [0.02, 50.01], [0.02, 50], [0, 50.01], [0, 50]]
    path = write(tmp_path, collection(feature("A", {"type": "Polygon", "coordinates": [bowtie]}), feature("B", {"type": "Polygon", "coordinates": [SQUARE]})))
    boundaries = read_area_boundaries(path)
    assert len(boundaries.repairs) == 1 and boundaries.repairs[0].startswith("feature 0 (A): Self-intersection[0.01 50.005]; repaired to ")
    covered, spanned = (float(word) for word in re.findall(r"([\d.]+) km²", boundaries.repairs[0]))
    assert covered == pytest.approx(spanned / 2, rel=0.01), "the two triangles of a bowtie cover half its hull"
    assign = assign_areas(np.array([0.002, 0.01]), np.array([50.005, 50.0005]), boundaries)
    assert assign.codes.tolist() == ["A", None], "a point in a triangle is in A; one in the pinched gap is not"


def grid_of_cells(columns: int, rows: int, size: float = 0.5) -> dict:
    """``columns`` x ``rows`` square areas of ``size`` degrees, west -62.5 and south -50, coded C<column>_<row>."""
    return collection(
        *(
            feature(f"C{i}_{j}", {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]]}, key="area_code")
            for i in range(columns)
            for j in range(rows)
            for x, y in [(-62.5 + size * i, -50 + size * j)]
        )
    )


@pytest.mark.slow
def test_fifty_thousand_areas_place_every_point_in_its_own(tmp_path):
    boundaries = read_area_boundaries(write(tmp_path, grid_of_cells(250, 200)))
    assert len(boundaries.codes) == 50_000
    rng = np.random.default_rng(0)
    longitude, latitude = rng.uniform(-62.4, 62.4, 20_000), rng.uniform(-49.9, 49.9, 20_000)
    expected = [f"C{int((x + 62.5) // 0.5)}_{int((y + 50) // 0.5)}" for x, y in zip(longitude, latitude)]
    assert assign_areas(longitude, latitude, boundaries).codes.tolist() == expected


def test_not_json(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text("{nope")
    with pytest.raises(SourceFormatError, match="not valid GeoJSON"):
        read_area_boundaries(path)


def test_map_draws_one_polygon_per_ring_coloured_by_decile(tmp_path):
    lsoas = pd.DataFrame({"lsoa11": ["E01000001", "E01000002"], "true_decile": [1, 10], "predicted_decile": [2, 9], "lat": [0.5, 0.5], "long": [0.5, 2.5]})
    moved = [[x + 2, y] for x, y in SQUARE]
    path = write(
        tmp_path,
        collection(feature("E01000001", {"type": "Polygon", "coordinates": [SQUARE]}), feature("E01000002", {"type": "Polygon", "coordinates": [moved]})),
    )
    figure = decile_map(lsoas, "t", read_area_boundaries(path))
    polygons = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(polygons) == 1 and len(polygons[0].get_paths()) == 2
    assert polygons[0].get_array().tolist() == [1.0, 10.0]
    right = [c for c in figure.axes[1].collections if isinstance(c, PolyCollection)][0]
    assert right.get_array().tolist() == [2.0, 9.0]
    assert figure.axes[0].get_aspect() == 1.0, "a kilometre is as long across as up"
    # The squares are 1 degree of longitude apart at the equator: about 111 km between their centres.
    left_x, right_x = (np.mean(p.vertices[:-1, 0]) for p in polygons[0].get_paths())
    assert right_x - left_x == pytest.approx(2 * 111.32, rel=0.01)


def test_map_grows_with_the_number_of_areas():
    from sview_assets.figures.plots import map_panel_inches

    assert map_panel_inches(60) == 4.0
    assert map_panel_inches(4835) > 3 * map_panel_inches(100)


def test_codes_of_another_statistical_office_are_kept(tmp_path):
    path = write(tmp_path, collection(feature("NQ-0001", {"type": "Polygon", "coordinates": [SQUARE]}, key="area_code")))
    assert read_area_boundaries(path).codes == ("NQ-0001",)


def test_points_are_placed_in_the_area_that_contains_them_holes_included(tmp_path):
    ring = [[10, 10], [14, 10], [14, 14], [10, 14], [10, 10]]
    hole = [[11, 11], [13, 11], [13, 13], [11, 13], [11, 11]]
    moved = [[x + 1, y] for x, y in SQUARE]
    path = write(
        tmp_path,
        collection(
            feature("A", {"type": "Polygon", "coordinates": [SQUARE]}, key="area_code"),
            feature("B", {"type": "Polygon", "coordinates": [moved]}, key="area_code"),
            feature("C", {"type": "Polygon", "coordinates": [ring, hole]}, key="area_code"),
            feature("D", {"type": "Polygon", "coordinates": [hole]}, key="area_code"),
        ),
    )
    points = {"in A": (0.5, 0.5), "in B": (1.5, 0.2), "outside": (5.0, 5.0), "edge of A and B": (1.0, 0.5), "in C": (10.5, 10.5), "in C's hole, so D": (12, 12)}
    longitude, latitude = zip(*points.values())
    assignment = assign_areas(np.array(longitude), np.array(latitude), read_area_boundaries(path))
    assert dict(zip(points, assignment.codes)) == {"in A": "A", "in B": "B", "outside": None, "edge of A and B": "A", "in C": "C", "in C's hole, so D": "D"}
    assert assignment.outside.tolist() == [False, False, True, False, False, False]
    assert assignment.in_several == 1


def test_demo_city_boundaries_cover_every_lsoa(tiny_raw):
    boundaries = read_area_boundaries(tiny_raw.paths.raw / "area_boundaries.geojson")
    locations = pd.read_csv(tiny_raw.paths.raw / "postcode_directory.csv")
    assert set(boundaries.codes) == set(locations["lsoa11"])
    placed = assign_areas(locations["long"].to_numpy(), locations["lat"].to_numpy(), boundaries)
    assert placed.codes.tolist() == locations["lsoa11"].tolist(), "point in polygon gives back each location's LSOA"
