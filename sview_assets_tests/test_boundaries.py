"""LSOA boundary GeoJSON: read into rings, clear errors, and drawn as polygons on the decile map."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from sview_assets.plots import decile_map
from sview_assets.sources.boundaries import read_lsoa_boundaries
from sview_assets.sources.common import SourceFormatError

SQUARE = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]


def collection(*features):
    return {"type": "FeatureCollection", "features": list(features)}


def feature(code, geometry, key="LSOA11CD"):
    return {"type": "Feature", "properties": {key: code}, "geometry": geometry}


def write(tmp_path, document):
    path = tmp_path / "lsoa_boundaries.geojson"
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
    rings = read_lsoa_boundaries(path)
    assert len(rings["E01000001"]) == 1 and len(rings["E01000002"]) == 2
    np.testing.assert_array_equal(rings["E01000002"][1][:, 0], [2, 3, 3, 2, 2])


@pytest.mark.parametrize(
    "document, message",
    [
        ({"type": "Feature"}, "expected a GeoJSON FeatureCollection"),
        (collection(feature("E01000001", {"type": "Point", "coordinates": [0, 0]})), "geometry type 'Point'"),
        (collection(feature("X1", {"type": "Polygon", "coordinates": [SQUARE]})), "'X1' is not an LSOA 2011 code"),
        (collection({"type": "Feature", "properties": {}, "geometry": None}), "has none of the properties"),
        (collection(feature("E01000001", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]})), "at least three"),
        (collection(), "no features"),
    ],
)
def test_bad_boundary_files(tmp_path, document, message):
    with pytest.raises(SourceFormatError, match=message):
        read_lsoa_boundaries(write(tmp_path, document))


def test_not_json(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text("{nope")
    with pytest.raises(SourceFormatError, match="not valid GeoJSON"):
        read_lsoa_boundaries(path)


def test_map_draws_one_polygon_per_ring_coloured_by_decile():
    lsoas = pd.DataFrame({"lsoa11": ["E01000001", "E01000002"], "true_decile": [1, 10], "predicted_decile": [2, 9], "lat": [0.5, 0.5], "long": [0.5, 2.5]})
    boundaries = {"E01000001": [np.array(SQUARE, float)], "E01000002": [np.array(SQUARE, float) + [2, 0]]}
    figure = decile_map(lsoas, "t", boundaries)
    polygons = [c for c in figure.axes[0].collections if isinstance(c, PolyCollection)]
    assert len(polygons) == 1 and len(polygons[0].get_paths()) == 2
    assert polygons[0].get_array().tolist() == [1.0, 10.0]
    right = [c for c in figure.axes[1].collections if isinstance(c, PolyCollection)][0]
    assert right.get_array().tolist() == [2.0, 9.0]


def test_demo_city_boundaries_cover_every_lsoa(tiny_raw):
    rings = read_lsoa_boundaries(tiny_raw.paths.raw / "lsoa_boundaries.geojson")
    locations = pd.read_csv(tiny_raw.paths.raw / "postcode_directory.csv")
    assert set(rings) == set(locations["lsoa11"])
    for row in locations.itertuples():
        ring = rings[row.lsoa11][0]
        assert ring[:, 0].min() <= row.long <= ring[:, 0].max() and ring[:, 1].min() <= row.lat <= ring[:, 1].max()
