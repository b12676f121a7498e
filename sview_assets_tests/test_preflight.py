"""``sview-check``: what a run will build, said before the run, from the files alone."""

import os
import subprocess
import sys

import pandas as pd

from sview_assets.config.settings import PROJECT_ROOT


def run_check(settings, *args):
    env = {**os.environ, "SVIEW_DATA_ROOT": settings.data_root, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("SVIEW_CITY", None)
    command = [sys.executable, "-m", "sview_assets.cli.check", "--city", settings.city, *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def coordinates_only_with_two_outside(settings) -> list[int]:
    """Turn the city's postcode directory into an img_id, lat, long table and move two locations out of the city."""
    path = settings.paths.raw / "postcode_directory.csv"
    table = pd.read_csv(path)[["img_id", "lat", "long"]]
    table.loc[[3, 7], "lat"] = 10.0
    table.to_csv(path, index=False)
    return sorted(table.loc[[3, 7], "img_id"].tolist())


def test_a_missing_label_file_and_two_locations_outside_every_area_are_both_said_and_training_goes_on(tiny_city):
    (tiny_city.paths.root / "outcomes.toml").unlink()
    (tiny_city.paths.raw / "census_2011_lsoa.csv").unlink()
    outside = coordinates_only_with_two_outside(tiny_city)
    before = files_under(tiny_city.paths.root)
    done = run_check(tiny_city)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"locations outside every area: 2 (img_id {outside[0]}, {outside[1]})" in out
    assert "outcome bad_health: not built: Census 2011 LSOA file not found" in out and "census_2011_lsoa.csv" in out
    assert "outcome income: will be trained on 20 areas" in out
    assert "image batch batch_000: 30 locations, 30 with all four headings; no features yet" in out
    assert "locations with all four images: 60 of 60" in out
    assert "9 outcome(s) can be trained: income, employment" in out
    assert f"training: preset 'default' (no {tiny_city.paths.root / 'training.toml'}, so the preset's values;" in out
    assert files_under(tiny_city.paths.root) == before, "the check writes nothing"


def test_a_declared_file_that_is_missing_stops_the_city_with_the_declaration_line(tiny_city):
    (tiny_city.paths.root / "outcomes.toml").write_text('standard = ["iod_2015"]\n\n[[source]]\nname = "acs"\nfile = "acs.csv"\narea_column = "GEOID"\n')
    (tiny_city.paths.root / "training.toml").write_text("epoch = 3\n")
    done = run_check(tiny_city)
    assert done.returncode == 1
    assert f"training: the model runs will fail: {tiny_city.paths.root / 'training.toml'}: 'epoch' is not a training setting" in done.stdout
    assert f"labels: the labels run will fail: {tiny_city.paths.root / 'outcomes.toml'}, line 3: source 'acs' reads" in done.stdout
    assert "no outcome can be trained" in done.stdout


def test_no_trainable_outcome_exits_1_and_stale_features_are_named(tiny_city, random_vgg16):
    from .helpers import materialize_batch

    assert materialize_batch(tiny_city, random_vgg16, "batch_000").success
    (tiny_city.paths.root / "outcomes.toml").write_text('standard = ["iod_2025"]\n')
    domains = ("Income", "Employment", "Education, Skills and Training", "Health Deprivation and Disability", "Crime")
    domains += ("Barriers to Housing and Services", "Living Environment")
    ranks = pd.DataFrame([["E01033001"] + [1] * 7], columns=["LSOA code (2021)", *(f"{d} Rank (where 1 is most deprived)" for d in domains)])
    ranks.to_csv(tiny_city.paths.raw / "File_7_IoD2025_All_Ranks_Scores_Deciles_Population_Denominators.csv", index=False)
    done = run_check(tiny_city, "--declarations", "outcomes.toml")
    assert done.returncode == 1
    assert "outcome income: not built: no area of this city has a value in" in done.stdout and "same vintage" in done.stdout
    assert "image batch batch_000: 30 locations, 30 with all four headings; features up to date" in done.stdout
    assert "image batch batch_001: 30 locations, 30 with all four headings; no features yet" in done.stdout
    assert "no outcome can be trained until the problems above are fixed" in done.stdout
