"""Decile cuts and the label table: decile 1 is the most deprived for every outcome."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sview_assets.config.declarations import read_declarations, standard_declarations
from sview_assets.demo.generator import declaration_text
from sview_assets.demo.geography import DEMO_CITY
from sview_assets.sources.labels import build_lsoa_labels
from sview_assets.util.deciles import rank_deciles

DEMO_OUTCOMES = standard_declarations(("iod_2015", "census_2011", "london_income_2012_13"), Path("outcomes.toml")).outcomes


def test_rank_deciles_balanced_and_ordered():
    values = pd.Series(np.arange(100, 0, -1), index=[f"L{i:03d}" for i in range(100)], dtype=float)
    deciles = rank_deciles(values)
    assert deciles.value_counts().sort_index().tolist() == [10] * 10
    assert deciles[values.idxmin()] == 1 and deciles[values.idxmax()] == 10
    flipped = rank_deciles(values, low_is_first=False)
    assert flipped[values.idxmax()] == 1


def test_rank_deciles_uneven_count_and_missing():
    values = pd.Series([5.0, 1.0, np.nan, 3.0] + list(range(10, 33)), index=[f"L{i}" for i in range(27)])
    deciles = rank_deciles(values)
    assert pd.isna(deciles["L2"])
    counts = deciles.dropna().value_counts()
    assert counts.max() - counts.min() <= 1
    assert deciles["L1"] == 1


def test_rank_deciles_ties_are_deterministic():
    values = pd.Series([1.0] * 20, index=[f"L{i:02d}" for i in range(20)])
    first = rank_deciles(values)
    second = rank_deciles(values.sample(frac=1.0, random_state=1))
    assert first.equals(second.reindex(first.index))


def test_an_undeclared_outcome_lists_the_declared_keys(tiny_raw):
    with pytest.raises(KeyError, match="declared: income, employment"):
        read_declarations(tiny_raw.paths.root / "outcomes.toml").outcome("happiness")


def tiny_labels(settings, text: str | None = None):
    """The label build of the tiny city, under its own declarations or ``text``."""
    path = settings.paths.root / "outcomes.toml"
    if text is not None:
        path.write_text(text)
    locations = pd.read_csv(settings.paths.raw / "postcode_directory.csv")
    return build_lsoa_labels(read_declarations(path), settings.paths.raw, locations["lsoa11"].tolist())


@pytest.mark.parametrize("outcome", DEMO_OUTCOMES, ids=lambda o: o.key)
def test_most_deprived_lsoa_gets_decile_one(tiny_raw, outcome):
    """For each outcome, the LSOA at the deprived end of the raw value is in decile 1."""
    locations = pd.read_csv(tiny_raw.paths.raw / "postcode_directory.csv")
    build = tiny_labels(tiny_raw)
    rows = build.labels[build.labels["outcome"] == outcome.key].set_index("lsoa11")
    assert len(rows) == locations["lsoa11"].nunique()
    worst = rows["raw_value"].idxmin() if outcome.most_deprived == "low" else rows["raw_value"].idxmax()
    best = rows["raw_value"].idxmax() if outcome.most_deprived == "low" else rows["raw_value"].idxmin()
    assert rows.loc[worst, "decile"] == 1
    assert rows.loc[best, "decile"] == 10


def test_deciles_are_cut_within_the_city(tiny_city):
    """The IoD file holds LSOAs outside the city; they neither appear nor shift the city's deciles."""
    locations = pd.read_csv(tiny_city.paths.raw / "postcode_directory.csv")
    iod = pd.read_csv(tiny_city.paths.raw / "iod_2015_domain_ranks.csv")
    assert len(iod) > locations["lsoa11"].nunique()
    build = tiny_labels(tiny_city, 'standard = ["iod_2015"]\n')
    income = build.labels[build.labels["outcome"] == "income"]
    assert set(income["lsoa11"]) == set(locations["lsoa11"])
    assert income["decile"].value_counts().tolist() == [2] * 10


def test_without_a_declaration_file_a_missing_english_source_is_reported_not_fatal(tiny_city):
    raw = tiny_city.paths.raw
    (tiny_city.paths.root / "outcomes.toml").unlink()
    (raw / "household_income_2012_13.csv").unlink()
    build = tiny_labels(tiny_city)
    assert build.sources_missing == {"london_income_2012_13": str(raw / "household_income_2012_13.csv")}
    assert "mean_income" not in set(build.labels["outcome"]) and "control" not in set(build.labels["outcome"])
    assert len(build.outcomes) == 11
    for name in ("iod_2015_domain_ranks.csv", "census_2011_lsoa.csv"):
        (raw / name).unlink()
    with pytest.raises(FileNotFoundError, match="No outcome can be built for this city.*mean_income: London household income file not found"):
        tiny_labels(tiny_city)


def test_the_demo_declaration_brings_the_standards_and_the_control():
    assert declaration_text(DEMO_CITY).splitlines()[1] == 'standard = ["iod_2015", "census_2011", "london_income_2012_13"]'


def test_a_city_with_iod_and_census_only_gets_exactly_those_outcomes(tiny_city):
    import dagster as dg

    from sview_assets.definitions import build_city, city_assets, city_resources
    from sview_assets.defs.scope import CityScope

    raw = tiny_city.paths.raw
    (raw / "household_income_2012_13.csv").unlink()
    (tiny_city.paths.root / "outcomes.toml").unlink()
    city = build_city("tiny")
    outcome_partitions = CityScope("tiny").outcomes
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(outcome_partitions.name, ["control", "income"])
    assets = city_assets(city, "tiny", "postcode_locations", "lsoa_labels")
    result = dg.materialize(assets, instance=instance, resources=city_resources(tiny_city))
    expected = [o.key for o in DEMO_OUTCOMES if o.source in ("iod_2015", "census_2011")]
    assert sorted(instance.get_dynamic_partitions(outcome_partitions.name)) == sorted(expected)
    metadata = result.asset_materializations_for_node("tiny__lsoa_labels")[0].metadata
    not_built = metadata["outcomes_not_built"].value
    assert sorted(not_built) == ["mean_income", "median_income"]
    assert "London household income file not found" in not_built["mean_income"]
    assert metadata["outcome_partitions_removed"].value == ["control"]
    assert metadata["declarations"].value == "default English sources (no outcomes.toml)"
    assert sorted(metadata["outcomes"].value) == sorted(expected)


@pytest.mark.parametrize("name", ["../../secret.csv", "/etc/passwd", "sub/../../secret.csv", ""])
def test_launchpad_file_names_are_confined_to_raw(tiny_city, tmp_path, name):
    import dagster as dg

    from sview_assets.definitions import build_city, city_assets, city_resources

    secret = tmp_path / "secret.csv"
    secret.write_text("pcd,oa11,lsoa11,msoa11,lat,long,img_id\nTOP-SECRET-VALUE,x,y,z,1,2,3\n")
    result = dg.materialize(
        city_assets(build_city("tiny"), "tiny", "postcode_locations"),
        resources=city_resources(tiny_city),
        run_config={"ops": {"tiny__postcode_locations": {"config": {"postcode_file": name}}}},
        raise_on_error=False,
    )
    assert not result.success
    error = "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure)
    assert "is not inside the city's raw/ folder" in error and "TOP-SECRET-VALUE" not in error


def test_an_unwritable_data_root_fails_at_once_with_the_folder_named(tiny_city, tmp_path):
    import time

    import dagster as dg

    from sview_assets.config.settings import SviewSettings
    from sview_assets.definitions import build_city, city_assets
    from sview_assets.defs.resources import warehouse_resources

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the data root should be")
    settings = SviewSettings(data_root=str(blocker), city="tiny")
    start = time.monotonic()
    result = dg.materialize(
        city_assets(build_city("tiny"), "tiny", "postcode_locations"),
        resources={"storage": tiny_city.storage(), **warehouse_resources([settings])},
        raise_on_error=False,
    )
    assert not result.success and time.monotonic() - start < 20
    errors = [getattr(e.event_specific_data, "error", None) for e in result.all_events]
    error = "\n".join(e.to_string() for e in errors if e is not None)
    assert "not_a_folder" in error and "Point SVIEW_DATA_ROOT at a writable folder" in error
