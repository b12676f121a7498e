"""Assets materialized in process into temporary Delta tables and HDF5 files, asserting on what they wrote."""

import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sview_assets.config.settings import PROJECT_ROOT, SviewSettings
from sview_assets.defs.assets.training import score_check
from sview_assets.defs.checks import decile_imbalance
from sview_assets.ml.features.feature_store import file_sha256, read_feature_attrs, read_feature_ids
from sview_assets.ml.training.training_set import read_training_table
from sview_assets.sql import connect
from sview_assets.util.deciles import rank_deciles

from .helpers import definitions_for_city, materialize_batch

TINY_TRAINING = {"epochs": 2, "batch_size": 16, "patience": 2, "folds": 3}


def query(settings, sql):
    with connect(settings) as connection:
        return connection.execute(sql).fetchdf()


def test_label_tables_hold_the_source_values(built_city):
    settings, _, _ = built_city
    raw = settings.paths.raw
    directory = pd.read_csv(raw / "postcode_directory.csv")
    locations = query(settings, "SELECT * FROM postcode_locations ORDER BY img_id")
    assert locations["img_id"].tolist() == sorted(directory["img_id"])
    assert locations.set_index("img_id")["lsoa11"].equals(directory.set_index("img_id").sort_index()["lsoa11"])

    labels = query(settings, "SELECT * FROM lsoa_labels WHERE outcome = 'income'").set_index("lsoa11")
    iod = pd.read_csv(raw / "iod_2015_domain_ranks.csv").set_index("LSOA code (2011)")
    city_ranks = iod.loc[labels.index, "Income Rank (where 1 is most deprived)"]
    assert (labels["raw_value"] == city_ranks).all()
    expected = rank_deciles(city_ranks.astype(float))
    assert (labels["decile"] == expected.astype(int)).all()
    assert labels.loc[city_ranks.idxmin(), "decile"] == 1
    counts = query(settings, "SELECT outcome, count(*) AS n FROM lsoa_labels GROUP BY outcome")
    assert len(counts) == 14 and (counts["n"] == directory["lsoa11"].nunique()).all()


def test_label_checks_pass_on_demo_and_fail_on_bad_input():
    balanced = pd.DataFrame({"lsoa11": [f"L{i}" for i in range(20)], "outcome": "x", "decile": [d for d in range(1, 11) for _ in range(2)]})
    assert decile_imbalance(balanced) == {"x": 0}
    skewed = balanced.assign(decile=[1] * 11 + list(range(2, 11)))
    assert decile_imbalance(skewed)["x"] == 10
    assert score_check(np.array([0.1, -0.3, 2.0])).passed
    assert not score_check(np.array([0.1, np.nan, 2.0])).passed
    assert not score_check(np.full(5, 0.7)).passed


def test_deciles_check_fails_for_a_constant_or_near_constant_outcome():
    from sview_assets.defs.checks import decided_by_values_result as deciles_decided_by_values

    lsoas = [f"E01{i:06d}" for i in range(40)]
    distinct = pd.DataFrame({"lsoa11": lsoas, "outcome": "varied", "raw_value": np.arange(40.0)})
    constant = pd.DataFrame({"lsoa11": lsoas, "outcome": "flat", "raw_value": 3.0})
    mostly_zero = pd.DataFrame({"lsoa11": lsoas, "outcome": "zeros", "raw_value": [0.0] * 30 + list(range(1, 11))})
    labels = pd.concat([distinct, constant, mostly_zero], ignore_index=True)
    labels["decile"] = labels.groupby("outcome")["raw_value"].transform(lambda v: rank_deciles(v).astype(int))
    result = deciles_decided_by_values(labels)
    shares = result.metadata["tie_decided_share"].value
    assert shares == {"flat": 1.0, "varied": 0.0, "zeros": 0.75}
    assert not result.passed and result.metadata["outcomes_failing"].value == ["flat", "zeros"]
    assert "outcome 'flat': 100% of its LSOAs share a value" in result.description
    assert deciles_decided_by_values(distinct.assign(decile=rank_deciles(distinct["raw_value"]).astype(int))).passed


def test_feature_files_and_training_set_align_with_labels(built_city):
    settings, _, _ = built_city
    ids = np.concatenate([read_feature_ids(settings.paths.feature_file(b)) for b in ("batch_000", "batch_001")])
    attrs = read_feature_attrs(settings.paths.feature_file("batch_000"))
    assert attrs["weights"] == "random (seed 0), VGG16 narrowed 16x"
    assert "caffe" in attrs["preprocessing"]
    table = read_training_table(settings.paths.training_set)
    assert sorted(table.locations["img_id"]) == sorted(ids.tolist())
    labels = query(settings, "SELECT lsoa11, outcome, decile FROM lsoa_labels")
    wide = labels.pivot(index="lsoa11", columns="outcome", values="decile")
    for outcome in ("income", "overcrowding", "control"):
        assert (table.deciles(outcome) == wide.loc[table.locations["lsoa11"], outcome].to_numpy()).all()
    with h5py.File(settings.paths.training_set, "r") as handle:
        assert handle["features"].shape == (len(ids), 4, 4096)
        first = handle["img_id"][0]
    batch = "batch_000" if first in read_feature_ids(settings.paths.feature_file("batch_000")) else "batch_001"
    with h5py.File(settings.paths.feature_file(batch), "r") as src, h5py.File(settings.paths.training_set, "r") as out:
        row = int(np.flatnonzero(src["img_id"][()] == first)[0])
        np.testing.assert_array_equal(out["features"][0], src["features"][row])


def test_rerunning_one_batch_leaves_the_other_untouched(city_copy, random_vgg16):
    settings, instance = city_copy
    defs = definitions_for_city(settings, random_vgg16)
    other = settings.paths.feature_file("batch_000")
    rerun = settings.paths.feature_file("batch_001")
    other_state = (other.stat().st_mtime_ns, file_sha256(other))
    rerun_ids = read_feature_ids(rerun)
    rerun_mtime = rerun.stat().st_mtime_ns
    result = defs.resolve_job_def("copy__image_features_job").execute_in_process(instance=instance, partition_key="batch_001")
    assert result.success
    assert (other.stat().st_mtime_ns, file_sha256(other)) == other_state
    assert rerun.stat().st_mtime_ns != rerun_mtime
    assert np.array_equal(read_feature_ids(rerun), rerun_ids)
    manifest = query(settings, "SELECT batch, count(*) AS n FROM image_manifest GROUP BY batch ORDER BY batch")
    assert manifest["batch"].tolist() == ["batch_000", "batch_001"] and manifest["n"].tolist() == [30, 30]


def test_bad_locations_are_skipped_and_reported(tiny_raw, tmp_path, random_vgg16):
    settings = SviewSettings(data_root=str(tmp_path), city="odd")
    batch_dir = settings.paths.raw_images / "odd_batch"
    batch_dir.mkdir(parents=True)
    source = tmp_path / "unzipped"
    shutil.unpack_archive(tiny_raw.paths.raw_images / "batch_000.zip", source)
    for img_id in (0, 1, 2):
        for heading in "abcd":
            shutil.copy(source / f"{img_id}_{heading}.png", batch_dir)
    (batch_dir / "1_d.png").unlink()
    (batch_dir / "2_b.png").write_bytes(b"\x89PNG garbage")
    result = materialize_batch(settings, random_vgg16, "odd_batch")
    assert result.success
    assert read_feature_ids(settings.paths.feature_file("odd_batch")).tolist() == [0]
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["skipped"].value == 2
    assert "missing heading d" in check.metadata["reasons"].value["1"]
    assert "unreadable image" in check.metadata["reasons"].value["2"]


def run_outcome(defs, instance, outcome, city="copy", **config):
    run_config = {"ops": {f"{city}__ordinal_model": {"config": {**TINY_TRAINING, **config}}}}
    result = defs.resolve_job_def(f"{city}__retrain_outcome").execute_in_process(instance=instance, partition_key=outcome, run_config=run_config)
    assert result.success
    return result


@pytest.mark.slow
def test_outcome_rerun_replaces_only_its_rows_and_views_follow(city_copy, random_vgg16):
    settings, instance = city_copy
    defs = definitions_for_city(settings, random_vgg16)
    first = run_outcome(defs, instance, "income", city="copy")
    run_outcome(defs, instance, "control", city="copy")
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks["scores_finite_and_varied"]
    metrics_metadata = first.asset_materializations_for_node("copy__model_metrics")[0].metadata
    assert metrics_metadata["map_geometry"].value == "boundaries"
    assert metrics_metadata["map_score_mean"].value.startswith("![plot](data:image/png;base64,")
    assert metrics_metadata["contact_sheet"].value.startswith("![contact sheet](data:image/jpeg;base64,")
    sheet = Image.open(metrics_metadata["contact_sheet_file"].value)
    assert sheet.height > 6 * 80 and sheet.width > 8 * 80, "six areas, two locations of four views each"
    mine = "SELECT * FROM location_predictions WHERE outcome IN ('income', 'control') ORDER BY outcome, img_id"
    before = query(settings, mine)
    control_before = query(settings, "SELECT * FROM lsoa_predictions WHERE outcome = 'control' ORDER BY method, lsoa11")

    reader = HeldReader(settings)
    run_outcome(defs, instance, "income", city="copy", seed=99)
    after = query(settings, mine)
    assert len(after) == len(before) == 2 * 60
    pd.testing.assert_frame_equal(after[after.outcome == "control"], before[before.outcome == "control"])
    assert not np.allclose(after[after.outcome == "income"]["score"], before[before.outcome == "income"]["score"])
    pd.testing.assert_frame_equal(query(settings, "SELECT * FROM lsoa_predictions WHERE outcome = 'control' ORDER BY method, lsoa11"), control_before)

    income = after[after.outcome == "income"]
    assert income["predicted_decile"].between(1, 10).all()

    versions = query(settings, "SELECT model_version, is_current, preset FROM model_versions WHERE outcome = 'income' ORDER BY model_version")
    *_, old_version, new_version = versions["model_version"].tolist()
    assert versions["is_current"].tolist() == [False] * (len(versions) - 1) + [True] and (income["model_version"] == new_version).all()
    both = query(settings, f"SELECT * FROM location_predictions_history WHERE outcome = 'income' AND model_version = '{old_version}' ORDER BY img_id")
    pd.testing.assert_frame_equal(both, before[before.outcome == "income"].reset_index(drop=True))
    compared = query(
        settings,
        f"""SELECT count(*) AS n, count(*) FILTER (WHERE old.score <> new.score) AS changed
        FROM location_predictions_history old JOIN location_predictions_history new USING (outcome, img_id)
        WHERE outcome = 'income' AND old.model_version = '{old_version}' AND new.model_version = '{new_version}'""",
    )
    assert compared["n"].item() == 60 and compared["changed"].item() > 30
    assert (
        income["true_decile"].to_numpy()
        == query(settings, "SELECT * FROM postcode_locations ORDER BY img_id")
        .merge(query(settings, "SELECT lsoa11, decile FROM lsoa_labels WHERE outcome = 'income'"), on="lsoa11")["decile"]
        .to_numpy()
    ).all()
    lsoas = query(settings, "SELECT * FROM lsoa_predictions WHERE outcome = 'income'")
    assert set(lsoas["method"]) == {"score_mean", "decile_mean"} and len(lsoas) == 2 * 20
    assert (lsoas.groupby("method")["n_locations"].sum() == 60).all()
    spread = income.groupby("lsoa11")["score"].std() / np.sqrt(income.groupby("lsoa11").size())
    assert np.allclose(lsoas[lsoas.method == "score_mean"].set_index("lsoa11")["score_std_error"].reindex(spread.index), spread)

    from sview_assets.cli.report import compare_versions

    compared_versions = compare_versions(settings, "income")
    assert (compared_versions["newer"], compared_versions["older"], compared_versions["lsoas"]) == (new_version, old_version, 20)
    assert compared_versions["low"] <= compared_versions["difference"] <= compared_versions["high"]
    with_intervals = query(settings, "SELECT * FROM model_metrics WHERE outcome = 'income'")
    assert (with_intervals["kendall_tau_b_low"] <= with_intervals["kendall_tau_b"]).all()
    assert (with_intervals["kendall_tau_b"] <= with_intervals["kendall_tau_b_high"]).all()
    assert with_intervals["kendall_tau_b_p_value"].between(1 / 1001, 1).all()

    assert defs.resolve_job_def("copy__views_job").execute_in_process(instance=instance).success
    summary = query(settings, "SELECT * FROM metrics_summary WHERE outcome IN ('income', 'control')")
    metrics = query(settings, "SELECT * FROM model_metrics WHERE outcome IN ('income', 'control')")
    assert sorted(summary["outcome"].unique()) == ["control", "income"] and len(summary) == 4
    assert np.allclose(summary.sort_values(["outcome", "method"])["kendall_tau_b"], metrics.sort_values(["outcome", "method"])["kendall_tau_b"].round(3))
    wide = query(settings, "SELECT * FROM lsoa_predictions_wide ORDER BY lsoa11")
    predicted = set(query(settings, "SELECT DISTINCT outcome FROM lsoa_predictions")["outcome"])
    assert {"income", "control"} <= predicted and "education" not in predicted
    assert wide.columns[0] == "lsoa11" and set(wide.columns[1:]) == predicted and len(wide) == 20
    score_mean = lsoas[lsoas.method == "score_mean"].set_index("lsoa11")["predicted_decile"]
    assert (wide.set_index("lsoa11")["income"] == score_mean.reindex(wide["lsoa11"])).all()

    # A reader held one connection open through the retrain and the views: never blocked, never a mix.
    seen = reader.stop()
    assert seen["errors"] == [] and seen["mixed"] == 0 and seen["queries"] > 3
    assert {f"income:{old_version}", f"income:{new_version}"} <= set(seen["versions_seen"])


class HeldReader:
    """A separate process that keeps one DuckDB connection on the warehouse and queries it in a loop."""

    def __init__(self, settings):
        self.stop_file = settings.paths.root / "stop-reader"
        command = [sys.executable, "-m", "sview_assets_tests.warehouse_writers", "read", str(settings.warehouse), str(self.stop_file)]
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "connected"

    def stop(self) -> dict:
        self.stop_file.touch()
        output = self.process.communicate(timeout=60)[0]
        assert self.process.returncode == 0
        return json.loads(output.splitlines()[-1])


def test_definitions_load_with_every_job_and_sensor_and_an_automation_condition_on_every_derived_asset(tmp_path):
    defs = definitions_for_city(SviewSettings(data_root=str(tmp_path), city="x"))
    for job in ("labels_job", "image_features_job", "training_set_job", "retrain_outcome", "views_job"):
        assert defs.resolve_job_def(f"x__{job}") is not None
    assert {s.name for s in defs.sensors} == {"x__image_batch_sensor", "sview_automation", "run_watchdog"}
    assert not list(defs.schedules or [])
    graph = defs.resolve_asset_graph()
    assert len(list(graph.get_all_asset_keys())) == 11
    without_condition = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition is None}
    assert without_condition == {"x/image_manifest", "x/vgg16_features"}, "image batches are the sensor's; every other asset keeps itself up to date"


def test_city_names_cannot_escape_the_data_root(tmp_path):
    with pytest.raises(ValueError, match="not allowed"):
        _ = SviewSettings(data_root=str(tmp_path), city="../etc").paths


@pytest.mark.slow
def test_a_failing_score_check_keeps_the_previous_model_and_predictions(city_copy, random_vgg16):
    settings, instance = city_copy
    defs = definitions_for_city(settings, random_vgg16)
    run_outcome(defs, instance, "income", city="copy")
    folder = settings.paths.model_dir("income")
    before_files = {p.name: file_sha256(p) for p in folder.iterdir()}
    before_rows = query(settings, "SELECT * FROM location_predictions WHERE outcome = 'income' ORDER BY img_id")
    run_config = {"ops": {"copy__ordinal_model": {"config": {**TINY_TRAINING, "learning_rate": 1e30}}}}
    result = defs.resolve_job_def("copy__retrain_outcome").execute_in_process(
        instance=instance, partition_key="income", run_config=run_config, raise_on_error=False
    )
    assert not result.success
    check = result.get_asset_check_evaluations()[0]
    assert check.check_name == "scores_finite_and_varied" and not check.passed
    assert check.metadata["non_finite_scores"].value > 0 or check.metadata["score_std"].value <= 1e-6
    assert result.asset_materializations_for_node("copy__ordinal_model") == []
    assert {p.name: file_sha256(p) for p in folder.iterdir()} == before_files
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    pd.testing.assert_frame_equal(query(settings, "SELECT * FROM location_predictions WHERE outcome = 'income' ORDER BY img_id"), before_rows)


@pytest.mark.parametrize("content", ["nothing", "only_broken"])
def test_an_empty_or_unusable_batch_is_reported_and_the_others_go_on(tiny_city, random_vgg16, content):
    settings = tiny_city
    batch_dir = settings.paths.raw_images / "batch_odd"
    batch_dir.mkdir()
    if content == "only_broken":
        for heading in "abcd":
            (batch_dir / f"9_{heading}.png").write_bytes(b"")
    result = materialize_batch(settings, random_vgg16, "batch_odd")
    assert result.success
    assert read_feature_ids(settings.paths.feature_file("batch_odd")).tolist() == []
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["extracted"].value == 0
    manifest = query(settings, "SELECT img_id, usable, problems FROM image_manifest WHERE batch = 'batch_odd'")
    expected = "the batch holds no files" if content == "nothing" else "9_a.png: empty file (0 bytes)"
    assert expected in " ".join(manifest["problems"]) and not manifest["usable"].any()
