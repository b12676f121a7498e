"""The demo city generator: deterministic, real formats, and a ground truth that matches the labels."""

import hashlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from sview_assets.config.declarations import read_declarations
from sview_assets.demo.generator import generate_city
from sview_assets.demo.geography import CitySpec
from sview_assets.sources.outcome_values import read_outcome_values

SMALL = CitySpec(n_lsoas=20, n_locations=44, seed=11, batch_size=20, image_width=160, image_height=120)


def digest_tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    generate_city(tmp_path / "a", SMALL, progress=lambda _: None)
    generate_city(tmp_path / "b", SMALL, progress=lambda _: None)
    generate_city(tmp_path / "c", CitySpec(**{**SMALL.__dict__, "seed": 12}), progress=lambda _: None)
    first, second, third = (digest_tree(tmp_path / n) for n in "abc")
    assert first == second
    assert first["postcode_directory.csv"] != third["postcode_directory.csv"]


def test_rerun_leaves_unchanged_files_untouched(tmp_path):
    generate_city(tmp_path, SMALL, progress=lambda _: None)
    archive = tmp_path / "images" / "batch_000.zip"
    before = archive.stat().st_mtime_ns
    generate_city(tmp_path, SMALL, progress=lambda _: None)
    assert archive.stat().st_mtime_ns == before


def test_layout_and_sizes(tmp_path):
    written = generate_city(tmp_path, SMALL, progress=lambda _: None)
    locations = pd.read_csv(written["postcodes"])
    assert list(locations.columns) == ["pcd", "oa11", "lsoa11", "msoa11", "lat", "long", "img_id"]
    assert len(locations) == SMALL.n_locations and locations["lsoa11"].nunique() == SMALL.n_lsoas
    assert locations.groupby("lsoa11").size().min() >= 2
    archives = sorted((tmp_path / "images").glob("*.zip"))
    assert len(archives) == 3
    names = zipfile.ZipFile(archives[0]).namelist()
    assert len(names) == 4 * SMALL.batch_size
    assert {n.split("_")[1] for n in names} == {"a.png", "b.png", "c.png", "d.png"}


def test_labels_follow_the_latent_factors(tmp_path):
    """Income rank rises with affluence (rank 1 = most deprived); the control is unrelated to affluence."""
    spec = CitySpec(n_lsoas=100, n_locations=200, seed=5, batch_size=200, image_width=160, image_height=120)
    written = generate_city(tmp_path, spec, progress=lambda _: None)
    truth = pd.read_csv(written["ground_truth"]).set_index("lsoa11")
    declarations = read_declarations(written["declarations"])

    def values(source: str):
        return read_outcome_values(declarations.source(source), declarations.outcomes_of(source), tmp_path).reindex(truth.index)

    ranks, shares = values("iod_2015"), values("census_2011")
    assert np.corrcoef(ranks["income"], truth["affluence"])[0, 1] > 0.8
    assert np.corrcoef(shares["overcrowding"], truth["density"])[0, 1] > 0.5
    for factor in ("affluence", "greenery", "density"):
        assert abs(np.corrcoef(truth["control"], truth[factor])[0, 1]) < 1e-6
    assert abs(np.corrcoef(truth["latent_control"], truth["affluence"])[0, 1]) < 0.2


def test_spec_validation():
    with pytest.raises(ValueError, match="at least twice"):
        CitySpec(n_lsoas=20, n_locations=30)
