"""The Dagster instance on PostgreSQL: a throwaway server on 127.0.0.1, runs and materializations stored there."""

import dagster as dg
import pytest

from sview_assets.cluster.postgres import URL_ENV, LocalPostgres
from sview_assets.definitions import definitions_for_city

pytestmark = pytest.mark.cluster


@pytest.fixture
def postgres():
    server = LocalPostgres().start()
    try:
        yield server
    finally:
        server.remove()


def test_runs_and_materializations_go_to_postgres_and_the_server_is_stopped_by_pid(postgres, tiny_city, tmp_path, monkeypatch):
    import psycopg2

    home = postgres.dagster_home(tmp_path / "dagster_home")
    monkeypatch.setenv(URL_ENV, postgres.url)
    defs = definitions_for_city(tiny_city)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("tiny__labels_job").execute_in_process(instance=instance)
        assert result.success
        outcomes = instance.get_dynamic_partitions("tiny__outcome")
    with psycopg2.connect(host="127.0.0.1", port=postgres.port, user="postgres", dbname="dagster") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs")
        assert cursor.fetchall() == [(result.run_id, "SUCCESS")]
        cursor.execute("SELECT DISTINCT asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
        keys = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'tiny__outcome'")
        registered = cursor.fetchone()[0]
    assert keys == {dg.AssetKey(["tiny", "postcode_locations"]).to_string(), dg.AssetKey(["tiny", "lsoa_labels"]).to_string()}
    assert registered == len(outcomes) == 14
    pid = postgres.pid()
    postgres.stop()
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)
