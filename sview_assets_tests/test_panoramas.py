"""360° panoramas: the four views cut at the right compass headings, refusals, bounded decoding, and panorama batches
through the pipeline with the cut in their features' provenance."""

import os
import zipfile

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sview_assets.config.declarations import DeclarationError
from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import plan_image_batches
from sview_assets.demo.geography import ACS, CitySpec
from sview_assets.ml.features.feature_store import read_feature_attrs
from sview_assets.sources.city_options import panorama_cut
from sview_assets.sources.common import SourceFormatError
from sview_assets.sources.images import find_batches, panorama_tables
from sview_assets.sources.panoramas import PanoramaCut, PanoramaError, cut_panorama_batch, cut_views, decode_panorama
from sview_assets.sources.postcodes import place_locations

from .conftest import make_city
from .helpers import definitions_for_city, narrow_vgg16
from .test_assets import query

QUADRANT_COLOURS = np.array([[230, 30, 30], [30, 200, 40], [40, 60, 220], [220, 210, 30]], dtype=np.float32)
"""Colour of the quarter of the panorama centred on 0, 90, 180 and 270 degrees clockwise of its centre column."""
PANORAMA_CITY = CitySpec(
    n_lsoas=20, n_locations=40, seed=5, batch_size=40, image_width=160, image_height=120, area_codes="tract", label_sources=(ACS,), panoramas=True
)


def quadrant_panorama(width: int = 1024) -> np.ndarray:
    """A 2:1 panorama painted by quarter around its centre, full colour above the horizon and half below."""
    relative = (np.arange(width) + 0.5) / width * 360.0 - 180.0
    quarter = np.mod(np.round(relative / 90.0), 4).astype(int)
    panorama = np.repeat(QUADRANT_COLOURS[quarter][None], width // 2, axis=0)
    panorama[width // 4 :] *= 0.5
    return panorama


@pytest.mark.parametrize("capture_heading", [0.0, 90.0])
def test_each_view_looks_at_its_compass_heading(capture_heading):
    views = cut_views(quadrant_panorama(), capture_heading, PanoramaCut())
    size = PanoramaCut().view_size
    for letter, compass in zip("abcd", (0, 90, 180, 270)):
        expected = QUADRANT_COLOURS[int(((compass - capture_heading) % 360) // 90)]
        view = views[letter].astype(float)
        assert view.shape == (size, size, 3)
        assert np.abs(view[size // 4, size // 2] - expected).max() <= 1, (letter, view[size // 4, size // 2])
        assert np.abs(view[3 * size // 4, size // 2] - expected * 0.5).max() <= 1, "below the horizon is the darker half"
        # a 90° view spans exactly one quarter: its left and right edges lie just inside the neighbouring boundaries
        assert np.abs(view[size // 4, 2] - expected).max() <= 1 and np.abs(view[size // 4, size - 3] - expected).max() <= 1


def test_the_pitch_moves_the_horizon():
    level = cut_views(quadrant_panorama(), 0.0, PanoramaCut())["a"]
    raised = cut_views(quadrant_panorama(), 0.0, PanoramaCut(pitch=20))["a"]
    column = PanoramaCut().view_size // 2
    level_horizon = int(np.argmax(level[:, column, 0] < 200))
    raised_horizon = int(np.argmax(raised[:, column, 0] < 200))
    assert abs(level_horizon - 112) <= 1
    assert raised_horizon > level_horizon + 30, "looking up puts the horizon lower in the view"


def write_image(path, pixels) -> None:
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)


def test_a_panorama_that_is_not_two_to_one_is_refused_with_its_name(tmp_path):
    write_image(tmp_path / "7.jpg", np.zeros((300, 400, 3)))
    with pytest.raises(PanoramaError, match=r"7\.jpg: 400x300 is not 2:1"):
        decode_panorama(tmp_path / "7.jpg", PanoramaCut())
    write_image(tmp_path / "8.jpg", quadrant_panorama(512))
    (tmp_path / "panoramas.csv").write_text("id,lat,long,heading\n7,51.5,-0.1,0\n8,51.5,-0.1,0\n9,51.5,-0.1,0\n")
    result = cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp")
    assert sorted(result.problems) == [7, 9]
    assert "not 2:1" in result.problems[7] and "9.jpg" in result.problems[9]
    assert sorted(p.name for p in result.folder.iterdir()) == ["8_a.png", "8_b.png", "8_c.png", "8_d.png"]


def test_a_large_panorama_is_decoded_small(tmp_path):
    big = np.zeros((4096, 8192, 3), dtype=np.uint8)
    big[:, 4096:] = 200
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=80)
    cut = PanoramaCut()
    decoded = decode_panorama(tmp_path / "big.jpg", cut)
    assert cut.working_width <= decoded.shape[1] < 2 * cut.working_width, "reduced, but no further than the cut needs"
    assert decoded.shape[0] * 2 == decoded.shape[1]
    assert abs(float(decoded[:, -10:].mean()) - 200) < 3


def test_the_views_are_cut_again_only_when_the_files_or_the_cut_change(tmp_path):
    write_image(tmp_path / "1.png", quadrant_panorama(512))
    (tmp_path / "panoramas.csv").write_text("id,lat,long,heading,date\n1,51.5,-0.1,45,2024-05\n")
    first = cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp1")
    assert not first.reused and first.table.loc[0, "capture_date"] == "2024-05"
    assert cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp1").reused
    assert not cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp2").reused
    narrow = cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(field_of_view=60), "fp2")
    assert not narrow.reused


def test_panorama_table_mistakes_name_the_file_and_line(tmp_path):
    write_image(tmp_path / "1.jpg", quadrant_panorama(256))
    (tmp_path / "panoramas.csv").write_text("id,lat,heading\n1,51.5,0\n")
    with pytest.raises(SourceFormatError, match="missing column 'long'"):
        cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp")
    (tmp_path / "panoramas.csv").write_text("id,lat,long,heading\n1,51.5,-0.1,0\n1,51.6,-0.1,0\n")
    with pytest.raises(SourceFormatError, match="id 1 appears again at line 3"):
        cut_panorama_batch(tmp_path / "panoramas.csv", tmp_path / "views", PanoramaCut(), "fp")


def test_the_cut_options_are_read_with_their_line(tmp_path):
    options = tmp_path / "outcomes.toml"
    options.write_text('[[outcome]]\nkey = "x"\n\n[panoramas]\nfield_of_view = 75\nview_size = 256\n')
    assert panorama_cut(options) == PanoramaCut(field_of_view=75, view_size=256)
    assert panorama_cut(tmp_path / "absent.toml") == PanoramaCut()
    options.write_text("[panoramas]\nfield_of_view = 75\nzoom = 2\n")
    with pytest.raises(DeclarationError, match=r"line 3: unknown key `zoom`"):
        panorama_cut(options)
    options.write_text("[panoramas]\nfield_of_view = 200\n")
    with pytest.raises(DeclarationError, match="outside 10..170"):
        panorama_cut(options)


@pytest.fixture(scope="module")
def panorama_raw(tmp_path_factory):
    return make_city(tmp_path_factory.mktemp("panorama_raw"), PANORAMA_CITY, city="panos")


def test_a_panorama_city_takes_its_locations_from_the_tables(panorama_raw, tmp_path):
    paths = panorama_raw.paths
    assert not (paths.raw / "postcode_directory.csv").exists()
    placed = place_locations(paths.raw / "postcode_directory.csv", paths.raw / "area_boundaries.geojson", None, lambda: panorama_tables(paths.raw_images))
    truth = pd.read_csv(paths.raw / "ground_truth.csv", dtype={"lsoa11": str})
    assert len(placed.locations) == PANORAMA_CITY.n_locations and placed.read.panorama_batches == ("batch_000",)
    assert placed.locations["lsoa11"].isin(set(truth["lsoa11"])).all() and not placed.outside_every_area
    # the same id in a second batch is refused, naming both
    with zipfile.ZipFile(paths.raw_images / "batch_000.zip") as archive:
        table = archive.read("panoramas.csv")
    second = tmp_path / "images" / "batch_001"
    second.mkdir(parents=True)
    (second / "panoramas.csv").write_bytes(table)
    tables = {**panorama_tables(paths.raw_images), **panorama_tables(tmp_path / "images")}
    with pytest.raises(SourceFormatError, match="id 0 is also in batch 'batch_000'"):
        place_locations(tmp_path / "none.csv", paths.raw / "area_boundaries.geojson", None, lambda: tables)


@pytest.mark.slow
def test_a_panorama_batch_runs_through_the_pipeline_and_a_new_cut_makes_it_stale(panorama_raw, tmp_path, random_vgg16):
    from sview_assets.config.settings import SviewSettings

    settings = SviewSettings(data_root=str(tmp_path), city="panos")
    panorama_raw.paths.copy_inputs_to(settings.paths)
    defs = definitions_for_city(settings, random_vgg16)
    instance = dg.DagsterInstance.ephemeral()
    scope = CityScope("panos")
    assert defs.resolve_job_def("panos__labels_job").execute_in_process(instance=instance).success
    assert len(query(settings, "SELECT * FROM postcode_locations")) == PANORAMA_CITY.n_locations
    plan = plan_image_batches(instance, settings, scope.image_batches.name, random_vgg16.recipe())
    assert plan.to_register == ["batch_000"] and plan.scan.panoramas == {"batch_000"}
    instance.add_dynamic_partitions(scope.image_batches.name, ["batch_000"])
    result = defs.resolve_job_def("panos__image_features_job").execute_in_process(instance=instance, partition_key="batch_000")
    assert result.success
    manifest = query(settings, "SELECT * FROM image_manifest")
    assert manifest["usable"].all() and len(manifest) == PANORAMA_CITY.n_locations
    assert set(manifest["views"]) == {PanoramaCut().describe()}
    assert (settings.paths.panorama_views / "batch_000" / "0_a.png").is_file()
    attrs = read_feature_attrs(settings.paths.feature_file("batch_000"))
    assert attrs["views"] == PanoramaCut().describe() and "fov-90" in attrs["views"]
    assert plan_image_batches(instance, settings, scope.image_batches.name, random_vgg16.recipe()).to_extract == {}

    with open(settings.paths.root / "outcomes.toml", "a") as options:
        options.write("\n[panoramas]\nfield_of_view = 70\n")
    stale = plan_image_batches(instance, settings, scope.image_batches.name, random_vgg16.recipe())
    assert list(stale.to_extract) == ["batch_000"]
    assert "the views are made differently" in stale.reasons["batch_000"][0] and "fov-70" in stale.reasons["batch_000"][0]
    refused = defs.resolve_job_def("panos__training_set_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not refused.success
    assert defs.resolve_job_def("panos__image_features_job").execute_in_process(instance=instance, partition_key="batch_000").success
    assert "fov-70" in read_feature_attrs(settings.paths.feature_file("batch_000"))["views"]
    assert defs.resolve_job_def("panos__training_set_job").execute_in_process(instance=instance).success
    assert find_batches(settings.paths.raw_images)[0].holds_panoramas()


def test_the_sensor_reads_the_locations_again_when_a_panorama_batch_arrives(panorama_raw, tmp_path):
    from sview_assets.config.settings import SviewSettings
    from sview_assets.definitions import build_city

    settings = SviewSettings(data_root=str(tmp_path), city="panos")
    panorama_raw.paths.copy_inputs_to(settings.paths)
    [sensor] = build_city("panos").sensors
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor=None):
        resources = {"storage": settings.storage(), "vgg16": narrow_vgg16()}
        return sensor(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))

    first = tick()
    assert sorted(r.job_name for r in first.run_requests) == ["panos__image_features_job", "panos__labels_job"]
    quiet = tick(first.cursor)
    assert [r.job_name for r in quiet.run_requests] == ["panos__image_features_job"], "nothing moved: no new reading of the locations"
    archive = settings.paths.raw_images / "batch_000.zip"
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    changed = tick(quiet.cursor)
    labels = [r for r in changed.run_requests if r.job_name == "panos__labels_job"]
    assert len(labels) == 1 and labels[0].run_key != next(r.run_key for r in first.run_requests if r.job_name == "panos__labels_job")
    (settings.paths.raw / "postcode_directory.csv").write_text("img_id,lat,long\n")
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 10**9))
    assert "panos__labels_job" not in [r.job_name for r in tick(changed.cursor).run_requests], "a city with a location table keeps it"
