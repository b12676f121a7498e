"""The executors ``$SVIEW_EXECUTOR`` names, running real steps of the code location."""

import dagster as dg
import pytest

from sview_assets.defs.executors import EXECUTOR_ENV, executor_from_env

from . import helpers


@pytest.mark.parametrize(
    ("kind", "step_processes", "job"),
    [
        pytest.param("multiprocess", 2, helpers.labels_job_from_environment, marks=pytest.mark.slow),
        ("in_process", 0, helpers.labels_job_again_from_environment),
    ],
)
def test_the_labels_job_runs_its_steps_where_the_executor_says_and_evaluates_its_checks(tiny_city, tmp_path, monkeypatch, kind, step_processes, job):
    for key, value in {"SVIEW_DATA_ROOT": tiny_city.data_root, "SVIEW_CITY": tiny_city.city, EXECUTOR_ENV: kind}.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        result = dg.execute_job(dg.reconstructable(job), instance=instance)
        assert result.success
        events = [e.dagster_event for e in instance.all_logs(result.run_id) if e.dagster_event]
    started = [e.step_key for e in events if e.event_type_value == "STEP_WORKER_STARTED"]
    assert len(started) == step_processes and sorted(set(started)) == sorted(set(started) & {"tiny__postcode_locations", "tiny__lsoa_labels"})
    checks = {e.event_specific_data.check_name: e.event_specific_data.passed for e in events if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert checks == {
        "img_id_unique": True,
        "every_location_in_an_area": True,
        "deciles_balanced": True,
        "deciles_decided_by_values": True,
        "keys_unique": True,
        "every_location_has_labels": True,
    }
    assert {e.step_key for e in events if e.event_type_value == "STEP_SUCCESS"} == {"tiny__postcode_locations", "tiny__lsoa_labels"}


def test_an_unknown_executor_is_refused_naming_the_choices(monkeypatch):
    monkeypatch.setenv(EXECUTOR_ENV, "threads")
    with pytest.raises(ValueError, match="SVIEW_EXECUTOR='threads': expected 'multiprocess', 'in_process', 'dask' or 'k8s'"):
        executor_from_env()
