"""The pipeline CLI tells the truth: refused arguments before any work, a stage summary and exit 1 on failure."""

import subprocess
import sys

import dagster as dg
import pytest

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.sql import connect

from .conftest import make_city
from .helpers import city_environment, expected_once, materializations_by_run


def run_cli(settings, tmp_path, *args):
    env = city_environment(settings, tmp_path / "dagster_home")
    command = [sys.executable, "-m", "sview_assets.cli.pipeline", *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_unknown_outcomes_are_refused_before_any_work(tiny_city, tmp_path):
    done = run_cli(tiny_city, tmp_path, "--outcomes", "income", "nosuch")
    assert done.returncode == 2
    assert "unknown outcome(s) nosuch; declared for tiny: bad_health, control, crime" in done.stderr
    assert not tiny_city.paths.warehouse.exists() and not (tmp_path / "dagster_home" / "storage").exists()


@pytest.mark.slow
def test_a_failed_stage_prints_the_summary_and_exits_1_without_metrics(tiny_city, tmp_path):
    directory = tiny_city.paths.raw / "postcode_directory.csv"
    lines = directory.read_text().splitlines()
    directory.write_text("\n".join([lines[0], lines[1].rsplit(",", 1)[0] + ",not-an-id", *lines[2:]]) + "\n")
    done = run_cli(tiny_city, tmp_path)
    assert done.returncode == 1
    assert "FAILED tiny/lsoa_labels, tiny/postcode_locations (" in done.stderr and "1 run(s) failed: tiny/lsoa_labels, tiny/postcode_locations" in done.stderr
    assert "stopping: every run of stage 1 failed" in done.stdout
    assert "'not-an-id' is not a number" in done.stdout + done.stderr
    assert "| outcome |" not in done.stdout and "does not exist" not in done.stderr


@pytest.mark.slow
def test_cli_trains_exactly_the_outcomes_a_city_declaring_iod_and_census_has(tmp_path):
    from sview_assets.config.declarations import read_declarations

    settings = make_city(tmp_path / "data", city="plain")
    (settings.paths.root / "outcomes.toml").write_text('standard = ["iod_2015", "census_2011"]\n')
    env = city_environment(settings, tmp_path / "dagster_home")
    command = [sys.executable, "-m", "sview_assets.cli.pipeline", "--epochs", "1", "--patience", "1", "--folds", "2"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    expected = set(read_declarations(settings.paths.root / "outcomes.toml").keys)
    with connect(settings) as connection:
        trained = {row[0] for row in connection.execute("SELECT DISTINCT outcome FROM model_metrics").fetchall()}
        wide_columns = [row[0] for row in connection.execute("DESCRIBE lsoa_predictions_wide").fetchall()]
    assert trained == expected and len(expected) == 11
    assert set(wide_columns) == expected | {"lsoa11"}
    assert all(f"(`{key}`)" in done.stdout for key in expected) and "`mean_income`" not in done.stdout
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_runs()
        # The graph's stages: labels, each batch, the training set, each outcome's chain, the views.
        assert len(runs) == 1 + 2 + 1 + 11 + 1 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert materializations_by_run(instance, {r.run_id for r in runs}, "plain") == expected_once(["batch_000", "batch_001"], sorted(expected))
