"""Cities without a postcode directory (areas by point in polygon, codes of their own) and the GeoPackage of predictions."""

import sqlite3

import dagster as dg
import numpy as np
import pandas as pd
import pyogrio

from sview_assets.definitions import build_city, city_assets, city_resources
from sview_assets.demo.geography import NORTHERN_DEMO_CITY, CitySpec
from sview_assets.sources.boundaries import read_area_boundaries
from sview_assets.sources.postcodes import read_postcode_locations
from sview_assets.sql import connect

from .conftest import make_city
from .helpers import definitions_for_city
from .test_assets import run_outcome

OWN_CODES = CitySpec(**{**NORTHERN_DEMO_CITY.__dict__, "n_locations": 44, "batch_size": 44, "image_width": 160, "image_height": 120})


def test_a_city_with_only_coordinates_gets_its_areas_by_point_in_polygon_and_reports_a_location_outside(tmp_path):
    settings = make_city(tmp_path, OWN_CODES, city="north")
    directory = settings.paths.raw / "postcode_directory.csv"
    table = pd.read_csv(directory)
    assert list(table.columns) == ["img_id", "lat", "long"], "the generator writes coordinates only for a city with areas of its own"
    far = pd.DataFrame({"img_id": [table["img_id"].max() + 1], "lat": [10.0], "long": [10.0]})
    pd.concat([table, far]).to_csv(directory, index=False)
    assert not read_postcode_locations(directory).has_area_codes

    city = build_city("north")
    instance = dg.DagsterInstance.ephemeral()
    assets = city_assets(city, "north", "postcode_locations", "lsoa_labels")
    result = dg.materialize(assets, instance=instance, resources=city_resources(settings))
    assert result.success
    metadata = result.asset_materializations_for_node("north__postcode_locations")[0].metadata
    assert metadata["locations_outside_every_area"].value == 1 and metadata["img_ids_outside_every_area"].value == [int(far["img_id"][0])]
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["every_location_in_an_area"].passed and checks["every_location_in_an_area"].metadata["locations_without_area"].value == 1

    with connect(settings) as connection:
        locations = connection.execute("SELECT img_id, lat, long, lsoa11 FROM postcode_locations ORDER BY img_id").fetchdf()
        labels = connection.execute("SELECT DISTINCT lsoa11 FROM lsoa_labels").fetchdf()
    truth = pd.read_csv(settings.paths.raw / "ground_truth.csv")
    cells = truth.set_index("lsoa11")[["lat", "long"]]
    placed = locations.dropna(subset=["lsoa11"])
    assert len(placed) == 44 and locations["lsoa11"].isna().sum() == 1
    # Each location lies within half a grid cell of the centre of the area it was placed in.
    centre = cells.loc[placed["lsoa11"]].to_numpy()
    assert (np.abs(placed[["lat", "long"]].to_numpy() - centre) <= [0.005 + 1e-9, 0.0075 + 1e-9]).all()
    assert set(labels["lsoa11"]) == set(placed["lsoa11"]) and all(code.startswith("NQ-") for code in labels["lsoa11"])
    assert set(read_area_boundaries(settings.paths.raw / "area_boundaries.geojson").codes) == set(truth["lsoa11"])


def test_the_geopackage_has_one_layer_per_outcome_and_method_that_gis_tools_open(city_copy, random_vgg16):
    settings, instance = city_copy
    defs = definitions_for_city(settings, random_vgg16)
    run_outcome(defs, instance, "income", city="copy")
    key = dg.AssetKey(["copy", "lsoa_geopackage"])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, asset_selection=[key])
    assert result.success
    path = settings.paths.geopackage
    layers = {name: kind for name, kind in pyogrio.list_layers(path)}
    assert layers == {"income__score_mean": "MultiPolygon", "income__decile_mean": "MultiPolygon"}
    info = pyogrio.read_info(path, layer="income__score_mean")
    assert list(info["fields"]) == ["area_code", "n_locations", "mean_score", "score_std_error", "predicted_decile", "true_decile", "model_version"]
    assert info["crs"] == "EPSG:4326" and info["features"] == 20
    with sqlite3.connect(path) as gpkg:
        assert gpkg.execute("SELECT count(*) FROM gpkg_contents WHERE data_type = 'features'").fetchone()[0] == 2
    _, _, _, fields = pyogrio.raw.read(path, layer="income__score_mean")
    with connect(settings) as connection:
        expected = connection.execute(
            "SELECT lsoa11, predicted_decile FROM lsoa_predictions WHERE outcome = 'income' AND method = 'score_mean' ORDER BY lsoa11"
        ).fetchall()
    assert list(zip(fields[0], fields[4])) == [(code, decile) for code, decile in expected]
