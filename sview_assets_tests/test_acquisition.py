"""The Street View acquisition: the real client against a local server that answers like the documented API."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pandas as pd
import pytest

from sview_assets.acquisition.client import KeyRefused, ServiceUnavailable, StreetViewClient
from sview_assets.acquisition.streetview import AcquisitionPaths, acquire, cost_estimate, read_ledger
from sview_assets.config.declarations import DeclarationError
from sview_assets.config.settings import SviewSettings
from sview_assets.definitions import build_city, city_assets, city_resources
from sview_assets.sources.city_options import StreetViewOptions, streetview_options
from sview_assets.sources.images import batch_manifest

from .streetview_server import GOOD_KEY, FakeStreetView

LOCATIONS = pd.DataFrame({"img_id": [3, 5, 8, 13, 21], "lat": [51.5 + i / 1000 for i in range(5)], "long": [-0.1] * 5})
NOWHERE = {f"{51.5 + 1 / 1000:.6f},{-0.1:.6f}"}  # img_id 5 has no imagery


def options(server: FakeStreetView, **changes) -> StreetViewOptions:
    return StreetViewOptions(**{"endpoint": server.endpoint, "requests_per_second": 1000, "backoff_seconds": 0.01, "locations_per_batch": 10, **changes})


def city_paths(tmp_path) -> AcquisitionPaths:
    return AcquisitionPaths(SviewSettings(data_root=str(tmp_path), city="svcity").paths)


def test_four_views_where_there_is_imagery_and_zero_results_where_not(tmp_path):
    paths = city_paths(tmp_path)
    with FakeStreetView(NOWHERE) as server:
        report = acquire(LOCATIONS, paths, StreetViewClient(options(server), GOOD_KEY), log=lambda _: None)
    assert report.finished == {"OK": 4, "ZERO_RESULTS": 1} and report.published == ["streetview_000"]
    assert report.metadata_requests == 5 and report.image_requests == 16 == len(server.image_requests())
    assert sorted({h for _, h in server.image_requests()}) == ["0", "180", "270", "90"]
    manifest = batch_manifest(paths.city.raw_images / "streetview_000", "streetview_000")
    assert manifest["img_id"].tolist() == [3, 8, 13, 21] and manifest["usable"].all()
    ledger = read_ledger(paths.ledger).set_index("img_id")
    assert ledger.loc[5, "status"] == "ZERO_RESULTS" and ledger.loc[3, "pano_id"].startswith("pano-") and ledger.loc[3, "capture_date"] == "2021-06"
    assert not (paths.staging / "streetview_000").exists()
    with FakeStreetView(NOWHERE) as again:
        rerun = acquire(LOCATIONS, paths, StreetViewClient(options(again), GOOD_KEY), log=lambda _: None)
    assert rerun.pending == 0 and again.requests == [], "a re-run of a finished city asks nothing"


def test_429_is_retried_with_growing_waits(tmp_path):
    waits = []

    def sleep(seconds):
        waits.append(seconds)

    with FakeStreetView(throttle=3) as server:
        client = StreetViewClient(options(server), GOOD_KEY, sleep=sleep)
        report = acquire(LOCATIONS.head(1), city_paths(tmp_path), client, log=lambda _: None)
    assert report.finished == {"OK": 1} and client.retries == 3
    backoffs = [w for w in waits if w >= 0.01 - 1e-9]
    assert backoffs[:3] == pytest.approx([0.01, 0.02, 0.04])
    with FakeStreetView(throttle=100) as server:
        with pytest.raises(ServiceUnavailable, match="HTTP 429 3 times in a row"):
            acquire(LOCATIONS.head(1), city_paths(tmp_path / "other"), StreetViewClient(options(server, max_retries=2), GOOD_KEY), log=lambda _: None)


def test_the_budget_stops_cleanly_and_the_next_day_goes_on(tmp_path):
    paths = city_paths(tmp_path)
    day = [dt.date(2026, 12, 4)]
    with FakeStreetView(NOWHERE) as server:
        first = acquire(LOCATIONS, paths, StreetViewClient(options(server, daily_image_budget=10), GOOD_KEY), log=lambda _: None, today=lambda: day[0])
        assert first.stopped_by_budget and first.image_requests == 8 and first.finished == {"OK": 2, "ZERO_RESULTS": 1}
        assert first.published == [] and (paths.staging / "streetview_000").is_dir(), "half a batch stays out of raw/images/"
        same_day = acquire(LOCATIONS, paths, StreetViewClient(options(server, daily_image_budget=10), GOOD_KEY), log=lambda _: None, today=lambda: day[0])
        assert same_day.stopped_by_budget and same_day.image_requests == 0
        day[0] = dt.date(2026, 12, 5)
        second = acquire(LOCATIONS, paths, StreetViewClient(options(server, daily_image_budget=10), GOOD_KEY), log=lambda _: None, today=lambda: day[0])
    assert not second.stopped_by_budget and second.finished == {"OK": 2} and second.published == ["streetview_000"]
    assert len(server.image_requests()) == 16 == len(set(server.image_requests())), "no image fetched twice"


def test_a_refused_key_stops_with_a_clear_error_and_fetches_nothing(tmp_path):
    with FakeStreetView() as server:
        with pytest.raises(KeyRefused, match="refused the API key in SVIEW_STREETVIEW_KEY.*REQUEST_DENIED") as refused:
            acquire(LOCATIONS, city_paths(tmp_path), StreetViewClient(options(server), "wrong-key-123"), log=lambda _: None)
        assert server.image_requests() == [] and "wrong-key-123" not in str(refused.value)
    with pytest.raises(KeyRefused, match="set the environment variable SVIEW_STREETVIEW_KEY"):
        StreetViewClient(StreetViewOptions(), "")


def test_a_killed_run_resumes_without_fetching_again(tmp_path):
    paths = city_paths(tmp_path)
    locations = pd.DataFrame({"img_id": range(12), "lat": [51.5 + i / 1000 for i in range(12)], "long": [-0.1] * 12})
    csv = tmp_path / "locations.csv"
    locations.to_csv(csv, index=False)
    with FakeStreetView(image_delay=0.05) as server:
        code = (
            "import sys; from sview_assets_tests.helpers import acquire_in_this_process as a; "
            f"a({str(tmp_path)!r}, 'svcity', {str(csv)!r}, {server.endpoint!r}, {GOOD_KEY!r})"
        )
        child = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd())
        deadline = time.monotonic() + 60
        while len(server.image_requests()) < 22 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        before = len(server.image_requests())
        assert 22 <= before < 48, "killed midway"
        on_disk = {p.name for folder in (paths.staging, paths.city.raw_images) if folder.is_dir() for p in folder.rglob("*.jpg")}
        assert paths.city.raw_images.joinpath("streetview_000").is_dir(), "the first full batch of 4 was published before the kill"
        resumed = acquire(locations, paths, StreetViewClient(options(server, locations_per_batch=4), GOOD_KEY), log=lambda _: None)
    assert resumed.pending == 0 and sorted(resumed.published)[-1] == "streetview_002"
    fetched = server.image_requests()
    assert len(fetched) - before == 48 - len(on_disk), "only the images not on disk were fetched again"
    published = sorted(p.name for p in paths.city.raw_images.iterdir())
    assert published == ["streetview_000", "streetview_001", "streetview_002"]
    assert sum(len(list((paths.city.raw_images / b).glob("*.jpg"))) for b in published) == 48


def test_the_options_refuse_a_key_in_the_file(tmp_path):
    path = tmp_path / "outcomes.toml"
    path.write_text('[streetview]\nkey = "abc"\n')
    with pytest.raises(DeclarationError, match="line 2: the API key must not be written in this file"):
        streetview_options(path)
    path.write_text('[streetview]\nendpoint = "http://example.com"\n')
    with pytest.raises(DeclarationError, match="must be https://"):
        streetview_options(path)
    path.write_text("[streetview]\ndaily_image_budget = 400\n")
    assert streetview_options(path).daily_image_budget == 400
    assert cost_estimate(1000, StreetViewOptions()) == {
        "locations": 1000,
        "metadata_requests": 1000,
        "image_requests": 4000,
        "days_at_budget": 1,
        "hours_at_rate": 0.28,
        "cost_at_price": 28.0,
    }


def test_the_asset_never_writes_the_key(tiny_city, tmp_path, monkeypatch):
    settings = tiny_city
    secret = GOOD_KEY
    with FakeStreetView() as server:
        declarations = settings.paths.root / "outcomes.toml"
        declarations.write_text(
            declarations.read_text() + f'\n[streetview]\nendpoint = "{server.endpoint}"\nrequests_per_second = 1000\nlocations_per_batch = 25\n'
        )
        monkeypatch.setenv("SVIEW_STREETVIEW_KEY", secret)
        built = build_city(settings.city, streetview=True)
        (tmp_path / "instance").mkdir()
        instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "instance"))
        assets = city_assets(built, settings.city, "postcode_locations", "streetview_images")
        result = dg.materialize(assets, instance=instance, resources=city_resources(settings))
        assert result.success
        metadata = result.asset_materializations_for_node(f"{settings.city}__streetview_images")[0].metadata
        assert metadata["statuses"].value == {"OK": 60} and metadata["image_requests"].value == 240
        assert metadata["batches_published"].value == ["streetview_000", "streetview_001", "streetview_002"]
        monkeypatch.setenv("SVIEW_STREETVIEW_KEY", "refused-key-0000")
        (settings.paths.root / "streetview" / "locations.jsonl").unlink()
        failed = dg.materialize(assets, instance=instance, resources=city_resources(settings), raise_on_error=False)
        assert not failed.success
        errors = [e.event_specific_data.error.to_string() for e in failed.all_events if e.is_step_failure]
        assert "refused the API key" in errors[0]
    assert server.keys == {secret, "refused-key-0000"}
    for key in (secret, "refused-key-0000"):
        for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
            assert key.encode() not in path.read_bytes(), path
        for run in instance.get_runs():
            assert key not in "".join(str(record.dagster_event or record.user_message) for record in instance.all_logs(run.run_id))
