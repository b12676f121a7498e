"""The pipeline CLI tells the truth: refused arguments before any work, a stage summary and exit 1 on failure."""

import subprocess
import sys

from sview_assets.settings import PROJECT_ROOT

from .test_end_to_end import city_environment


def run_cli(settings, tmp_path, *args):
    env = city_environment(settings, tmp_path / "dagster_home")
    command = [sys.executable, "-m", "sview_assets.pipeline", *args]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_unknown_outcomes_are_refused_before_any_work(tiny_city, tmp_path):
    done = run_cli(tiny_city, tmp_path, "--outcomes", "income", "nosuch")
    assert done.returncode == 2
    assert "unknown outcome(s) nosuch; declared for tiny: bad_health, control, crime" in done.stderr
    assert not tiny_city.paths.warehouse.exists() and not (tmp_path / "dagster_home" / "storage").exists()


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
