"""Fetch a city's four views per location from the Street View Static API into image batches, resumably.

For each location of the city not done yet (img_id order): a metadata request (free) says whether there is
imagery within ``radius`` metres; where there is, the four views of that one panorama are fetched at
compass headings 0, 90, 180 and 270 as ``<img_id>_<a|b|c|d>.jpg``. Locations fill a batch folder under
``data/<city>/streetview/staging/``; a full batch (and the last one, once every location is done) is
moved into ``raw/images/`` in one rename, so the image sensor never sees half a batch.

What survives a kill, a refused key or a spent budget: every image (each written by write-then-rename),
the ledger ``data/<city>/streetview/locations.jsonl`` (one line per location finished: status, panorama
id, capture date, batch), and the day's request count ``requests.json``. A re-run skips locations
already finished (``OK`` with its four images, ``ZERO_RESULTS``, ``NOT_FOUND``, ``NO_IMAGE``) and images
already on disk, so nothing is fetched twice. A location whose last attempt failed for another reason
is tried again.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sview_assets.acquisition.client import ImageMissing, StreetViewClient
from sview_assets.config.settings import CityPaths
from sview_assets.sources.city_options import StreetViewOptions
from sview_assets.sources.images import HEADINGS
from sview_assets.sources.panoramas import VIEW_HEADINGS
from sview_assets.util.files import atomic_path, write_bytes_if_changed

FINAL_STATUSES = {"OK", "ZERO_RESULTS", "NOT_FOUND", "NO_IMAGE"}
BATCH_PREFIX = "streetview_"
_BATCH_NAME = re.compile(rf"^{BATCH_PREFIX}(\d{{3,}})$")
LEDGER_COLUMNS = ["img_id", "status", "pano_id", "capture_date", "batch", "images", "detail", "finished_at"]


@dataclass(frozen=True)
class AcquisitionPaths:
    """Where one city's acquisition keeps its ledger, request counts and unfinished batch."""

    city: CityPaths

    @property
    def root(self) -> Path:
        return self.city.root / "streetview"

    @property
    def ledger(self) -> Path:
        return self.root / "locations.jsonl"

    @property
    def usage(self) -> Path:
        return self.root / "requests.json"

    @property
    def staging(self) -> Path:
        return self.root / "staging"


@dataclass
class AcquisitionReport:
    """What one run did, and why it stopped."""

    finished: dict[str, int] = field(default_factory=dict)
    metadata_requests: int = 0
    image_requests: int = 0
    retries: int = 0
    published: list[str] = field(default_factory=list)
    pending: int = 0
    stopped_by_budget: bool = False
    images_today: int = 0


def read_ledger(path: Path) -> pd.DataFrame:
    """The last record of every location in the ledger (a line cut short by a kill is ignored)."""
    records = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
                records[int(record["img_id"])] = record
            except (ValueError, KeyError, TypeError):
                continue
    frame = pd.DataFrame(list(records.values()), columns=LEDGER_COLUMNS)
    return frame.astype({"img_id": "int64", "images": "int64"}).sort_values("img_id", ignore_index=True)


def _append(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as ledger:
        ledger.write(json.dumps(record, sort_keys=True) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())


class _Usage:
    """Image requests made per UTC day (the billable ones), kept on disk after each request."""

    def __init__(self, path: Path, today: Callable[[], dt.date]):
        self.path, self.today = path, today
        try:
            self.days = {str(k): int(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            self.days = {}

    @property
    def images_today(self) -> int:
        return self.days.get(self.today().isoformat(), 0)

    def add_image(self) -> None:
        day = self.today().isoformat()
        self.days[day] = self.days.get(day, 0) + 1
        write_bytes_if_changed(self.path, json.dumps(self.days, sort_keys=True).encode())


def _batch_number(name: str) -> int | None:
    match = _BATCH_NAME.match(name)
    return int(match.group(1)) if match else None


class _Batches:
    """The open (unpublished) batch in staging, and moving it into ``raw/images/`` once full or finished."""

    def __init__(self, paths: AcquisitionPaths, ledger: pd.DataFrame, per_batch: int):
        self.paths, self.per_batch = paths, per_batch
        names = [p.name for p in paths.city.raw_images.iterdir()] if paths.city.raw_images.is_dir() else []
        staged = sorted(p.name for p in paths.staging.iterdir() if _batch_number(p.name) is not None) if paths.staging.is_dir() else []
        numbers = [n for n in map(_batch_number, [*names, *staged, *ledger["batch"].dropna()]) if n is not None]
        self.open = staged[0] if staged else f"{BATCH_PREFIX}{max(numbers, default=-1) + 1:03d}"
        self.count = int((ledger["batch"] == self.open).sum()) if staged else 0

    @property
    def folder(self) -> Path:
        return self.paths.staging / self.open

    def publish(self, log: Callable[[str], None]) -> str | None:
        """Move the open batch into raw/images/ (when it holds anything) and open the next; the batch's name, or None."""
        published = None
        if self.folder.is_dir() and any(self.folder.iterdir()):
            target = self.paths.city.raw_images / self.open
            if target.exists():
                raise FileExistsError(f"{target} already exists; the acquisition will not overwrite a batch. Move it away and run again.")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.folder, target)
            published = self.open
            log(f"batch {self.open}: {self.count} location(s) moved into {target.parent}")
        self.open = f"{BATCH_PREFIX}{_batch_number(self.open) + 1:03d}"
        self.count = 0
        return published


def _has_all_views(paths: AcquisitionPaths, batch: str, img_id: int) -> bool:
    folders = (paths.staging / batch, paths.city.raw_images / batch)
    return any(all((folder / f"{img_id}_{h}.jpg").is_file() for h in HEADINGS) for folder in folders)


def plan_requests(locations: pd.DataFrame, ledger: pd.DataFrame, paths: AcquisitionPaths) -> pd.DataFrame:
    """The locations still to fetch: no final record yet, or ``OK`` without its four images on disk."""
    finished = ledger[ledger["status"].isin(FINAL_STATUSES)]
    done = {
        int(row.img_id) for row in finished.itertuples() if row.status != "OK" or (isinstance(row.batch, str) and _has_all_views(paths, row.batch, row.img_id))
    }
    return locations[~locations["img_id"].isin(done)].sort_values("img_id", ignore_index=True)


def acquire(
    locations: pd.DataFrame,
    paths: AcquisitionPaths,
    client: StreetViewClient,
    log: Callable[[str], None] = print,
    today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
) -> AcquisitionReport:
    """Fetch what is missing for ``locations`` (img_id, lat, long) within today's budget; see the module's docstring."""
    options: StreetViewOptions = client.options
    ledger = read_ledger(paths.ledger)
    pending = plan_requests(locations, ledger, paths)
    usage = _Usage(paths.usage, today)
    batches = _Batches(paths, ledger, options.locations_per_batch)
    report = AcquisitionReport(pending=len(pending))
    log(f"{len(pending)} of {len(locations)} location(s) to fetch; {usage.images_today} of {options.daily_image_budget} image requests used today")
    for number, row in enumerate(pending.itertuples(index=False), start=1):
        img_id = int(row.img_id)
        if usage.images_today + len(HEADINGS) > options.daily_image_budget:
            report.stopped_by_budget = True
            log(f"stopped: today's budget of {options.daily_image_budget} image requests is spent; {report.pending} location(s) wait for a later run")
            break
        if batches.count >= options.locations_per_batch:
            report.published += [b for b in [batches.publish(log)] if b]
        record = _fetch_location(img_id, float(row.lat), float(row.long), batches.folder, client, usage)
        if record["status"] == "OK":
            record["batch"] = batches.open
            batches.count += 1
        _append(paths.ledger, record)
        report.finished[record["status"]] = report.finished.get(record["status"], 0) + 1
        report.pending -= 1
        if number % 100 == 0:
            log(f"{number}/{len(pending)} locations done ({report.finished})")
    if report.pending == 0:
        report.published += [b for b in [batches.publish(log)] if b]
    report.metadata_requests, report.image_requests, report.retries = client.metadata_requests, client.image_requests, client.retries
    report.images_today = usage.images_today
    return report


def _fetch_location(img_id: int, lat: float, long: float, folder: Path, client: StreetViewClient, usage: _Usage) -> dict:
    """Ask the metadata, then each view not on disk yet; the location's ledger record."""
    finished_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    record = {"img_id": img_id, "pano_id": "", "capture_date": "", "batch": None, "images": 0, "detail": "", "finished_at": finished_at}
    metadata = client.metadata(lat, long)
    if metadata.status != "OK":
        return {**record, "status": metadata.status}
    record.update(pano_id=metadata.pano_id, capture_date=metadata.date)
    for letter in HEADINGS:
        target = folder / f"{img_id}_{letter}.jpg"
        if target.is_file():
            continue
        usage.add_image()
        try:
            data = client.image(metadata.pano_id, VIEW_HEADINGS[letter])
        except ImageMissing as missing:
            for partial in folder.glob(f"{img_id}_*.jpg"):
                partial.unlink()
            return {**record, "status": "NO_IMAGE", "detail": str(missing)}
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    return {**record, "status": "OK", "images": len(HEADINGS)}


def cost_estimate(locations: int, options: StreetViewOptions) -> dict[str, float | int]:
    """Requests and cost of fetching ``locations`` locations that all have imagery (the most it can cost)."""
    images = len(HEADINGS) * locations
    return {
        "locations": locations,
        "metadata_requests": locations,
        "image_requests": images,
        "days_at_budget": math.ceil(images / options.daily_image_budget) if images else 0,
        "hours_at_rate": round((images + locations) / options.requests_per_second / 3600, 2),
        "cost_at_price": round(images / 1000 * options.price_per_1000_images, 2),
    }
