"""Several cities in one deployment: their partitions, fingerprints, files and tables never mix."""

import dagster as dg
import pytest

from sview_assets.cli.pipeline import materialize_everything
from sview_assets.config.cities import CITIES_FILE, CitiesFileError, TransferPair, parse_cities_file, read_deployment
from sview_assets.config.settings import Storage
from sview_assets.definitions import build_definitions
from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import plan_image_batches
from sview_assets.demo.geography import CitySpec
from sview_assets.sql import connect

from .conftest import make_city

SMALL = CitySpec(n_lsoas=20, n_locations=40, seed=5, batch_size=20, image_width=160, image_height=120)
QUICK_TRAINING = {"epochs": 1, "patience": 1, "folds": 2, "batch_size": 16}


def write_cities(root, text: str):
    path = root / CITIES_FILE
    path.write_text(text)
    return path


def test_the_cities_file_lists_cities_and_transfers(tmp_path, monkeypatch):
    monkeypatch.delenv("SVIEW_CITY", raising=False)
    assert read_deployment(tmp_path).cities == ("demo",)
    write_cities(tmp_path, 'cities = ["london", "leeds"]\n\n[[transfer]]\nsource = "london"\ntarget = "leeds"\n')
    deployment = read_deployment(tmp_path)
    assert deployment.cities == ("london", "leeds") and deployment.transfers == (TransferPair("london", "leeds"),)
    assert deployment.default_city == "london"
    monkeypatch.setenv("SVIEW_CITY", "leeds")
    assert read_deployment(tmp_path).cities == ("leeds",), "SVIEW_CITY alone still means a single-city setup"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('cities = ["London"]', "not allowed"),
        ('cities = ["a", "a"]', "listed more than once"),
        ("cities = []", "non-empty list"),
        ('cities = ["a", "b"]\n[[transfer]]\nsource = "a"\ntarget = "c"', r"names \['c'\], not in `cities`"),
        ('cities = ["a"]\n[[transfer]]\nsource = "a"\ntarget = "a"', "same source and target"),
        ('city = ["a"]', "unknown key"),
        ("cities = [", "not valid TOML"),
    ],
)
def test_a_bad_cities_file_is_refused_with_the_file_named(tmp_path, text, message):
    path = write_cities(tmp_path, text)
    with pytest.raises(CitiesFileError, match=message) as error:
        parse_cities_file(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('cities = [\n  "a",\n  "../etc",\n]\n', "line 3: City name '../etc' is not allowed"),
        ('cities = [\n  "a",\n  "b/c",\n]\n', "line 3: City name 'b/c' is not allowed"),
        ('cities = [\n  "a",\n  "b",\n  "a",\n]\n', r"line 2: city \['a'\] listed more than once"),
        ('cities = ["a", "b"]\n\n[[transfer]]\nsource = "a"\ntarget = "elsewhere"\n', r"line 5: \[\[transfer\]\] number 1 names \['elsewhere'\]"),
    ],
)
def test_a_bad_name_is_refused_with_its_line(tmp_path, text, message):
    with pytest.raises(CitiesFileError, match=message):
        parse_cities_file(write_cities(tmp_path, text))


def test_a_cities_file_that_is_not_utf8_is_refused_with_the_line_of_the_byte(tmp_path):
    path = tmp_path / CITIES_FILE
    path.write_bytes(b'cities = [\n  "a",\n  "m' + b"\xfcnster" + b'",\n]\n')
    with pytest.raises(CitiesFileError, match=r"line 3: byte 0xfc is not UTF-8"):
        parse_cities_file(path)


def test_a_run_of_two_cities_among_ten_thousand_builds_those_and_their_transfer_only(tmp_path, monkeypatch):
    monkeypatch.delenv("SVIEW_CITY", raising=False)
    names = [f"city_{i:05d}" for i in range(10_000)]
    write_cities(tmp_path, "cities = [\n" + "".join(f'  "{name}",\n' for name in names) + ']\n\n[[transfer]]\nsource = "city_00001"\ntarget = "city_00002"\n')
    assert read_deployment(tmp_path).cities == tuple(names)
    monkeypatch.setenv("SVIEW_RUN_CITIES", "city_00002,city_00001")
    narrowed = read_deployment(tmp_path)
    assert narrowed.cities == ("city_00001", "city_00002") and narrowed.transfers == (TransferPair("city_00001", "city_00002"),)
    keys = {key.to_user_string().split("/")[0] for key in build_definitions(Storage(data_root=str(tmp_path))).resolve_all_asset_keys()}
    assert keys == {"city_00001", "city_00002", "city_00001_to_city_00002"}, keys
    monkeypatch.setenv("SVIEW_RUN_CITIES", "city_00001,nowhere")
    with pytest.raises(CitiesFileError, match=r"SVIEW_RUN_CITIES names \['nowhere'\]"):
        read_deployment(tmp_path)


def test_a_city_added_to_the_list_gets_its_assets_jobs_and_sensor_without_code_change(tmp_path, monkeypatch):
    monkeypatch.delenv("SVIEW_CITY", raising=False)
    storage = Storage(data_root=str(tmp_path))
    write_cities(tmp_path, 'cities = ["north"]\n')
    before = build_definitions(storage)
    write_cities(tmp_path, 'cities = ["north", "south"]\n')
    after = build_definitions(storage)
    keys = {key.to_user_string() for key in after.resolve_all_asset_keys()}
    assert {key.to_user_string() for key in before.resolve_all_asset_keys()} < keys
    assert {"south/lsoa_labels", "south/vgg16_features", "south/warehouse_views"} <= keys
    assert after.resolve_job_def("south__retrain_outcome") is not None
    assert {s.name for s in after.sensors} >= {"north__image_batch_sensor", "south__image_batch_sensor"}
    graph = after.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["south", "lsoa_labels"])).group_name == "south"
    assert graph.get(dg.AssetKey(["south", "vgg16_features"])).partitions_def.name == "south__image_batch"


@pytest.mark.slow
def test_two_cities_in_one_deployment_keep_their_own_partitions_files_and_tables(tmp_path, random_vgg16, monkeypatch):
    """Two cities with the same batch names: a run of one never makes the other's features stale or re-extracted."""
    monkeypatch.delenv("SVIEW_CITY", raising=False)
    north = make_city(tmp_path, SMALL, city="north")
    south = make_city(tmp_path, CitySpec(**{**SMALL.__dict__, "seed": 9, "n_locations": 60, "batch_size": 30}), city="south")
    assert sorted(p.name for p in north.paths.raw_images.iterdir()) == sorted(p.name for p in south.paths.raw_images.iterdir())
    write_cities(tmp_path, 'cities = ["north", "south"]\n')
    defs = build_definitions(north.storage(), random_vgg16)
    instance = dg.DagsterInstance.ephemeral()

    report = materialize_everything(defs, instance, ["north"], outcomes=["income"], train_config=QUICK_TRAINING, log=lambda _: None)
    assert report.success, report.summary()
    assert instance.get_dynamic_partitions("north__image_batch") == ["batch_000", "batch_001"]
    assert instance.get_dynamic_partitions("south__image_batch") == [], "registering one city's batches leaves the other's alone"
    north_features = {b: north.paths.feature_file(b).stat().st_mtime_ns for b in ("batch_000", "batch_001")}
    assert not south.paths.features.exists()

    report = materialize_everything(defs, instance, ["south"], outcomes=["income"], train_config=QUICK_TRAINING, log=lambda _: None)
    assert report.success, report.summary()
    assert {b: north.paths.feature_file(b).stat().st_mtime_ns for b in north_features} == north_features
    recipe = random_vgg16.recipe()
    for city in (north, south):
        plan = plan_image_batches(instance, city, CityScope(city.city).image_batches.name, recipe)
        assert plan.to_extract == {} and plan.to_register == [], f"{city.city}: features made for the other city's batch of the same name"

    with connect(north) as connection:
        counts = dict(
            connection.execute(
                "SELECT 'north', count(*) FROM north.postcode_locations UNION ALL SELECT 'south', count(*) FROM south.postcode_locations"
            ).fetchall()
        )
        plain = connection.execute("SELECT count(*) FROM location_predictions").fetchone()[0]
        schemas = {row[0] for row in connection.execute("SELECT DISTINCT schema_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        south_summary = connection.execute("SELECT outcome, n_lsoas FROM south.metrics_summary").fetchall()
    assert counts == {"north": 40, "south": 60}
    assert plain == 40, "plain names are the default city's tables"
    assert {"north", "south"} <= schemas and south_summary and {row[0] for row in south_summary} == {"income"}
    assert north.warehouse != south.warehouse and (south.warehouse / "main" / "model_metrics" / "_delta_log").is_dir()

    (south.paths.raw_images / "batch_001.zip").unlink()
    assert plan_image_batches(instance, south, "south__image_batch", recipe).removed == ["batch_001"]
    assert plan_image_batches(instance, north, "north__image_batch", recipe).removed == [], "a batch removed from one city stays in the other"
