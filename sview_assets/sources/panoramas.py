"""360° panoramas: read a batch's panorama table, and cut each equirectangular panorama into the four views.

A panorama batch is a batch (folder or archive under ``raw/images/``) holding ``panoramas.csv`` and the
panorama files. The table's columns: ``id`` (a whole number, the location's img_id), ``lat`` and ``long``
(``lon`` or ``lng`` also accepted; WGS84 degrees), ``heading`` (the compass heading, in degrees clockwise
from north, that the panorama's centre column looks at), and optionally ``date`` (when it was captured)
and ``file`` (the panorama's file name; default ``<id>.jpg``, ``.jpeg`` or ``.png``).

Each panorama must be equirectangular: twice as wide as high, column ``x`` looking at compass heading
``heading + 360 * (x / width - 0.5)``, row ``y`` at elevation ``90 - 180 * y / height`` degrees. Four
perspective views are cut from it at compass headings 0, 90, 180 and 270 (the method's a, b, c, d), each
a pinhole camera with the cut's field of view, pitch and size, by bilinear sampling in NumPy.

Memory stays bounded whatever the panorama's size: a view needs only about ``2 * 360 * size / fov``
columns of panorama (twice the view's own resolution at its centre, which is what the corners need), so a
JPEG is decoded straight at a reduced scale and any other file is reduced right after decoding. An
8192x4096 JPEG is decoded to 2048x1024 for the default cut (25 MB as float32, instead of 400 MB).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from sview_assets.sources.common import SourceFormatError, numeric_column, read_csv, reject_rows, require_columns
from sview_assets.util.files import atomic_directory, write_bytes_if_changed

PANORAMA_TABLE = "panoramas.csv"
PANORAMA_SUFFIXES = (".jpg", ".jpeg", ".png")
VIEW_HEADINGS = {"a": 0.0, "b": 90.0, "c": 180.0, "d": 270.0}
"""Compass heading of each of the method's four views."""
PHOTOS = "photos"
"""The ``views`` provenance of a batch of ready-made photos (nothing was cut)."""
MAX_PANORAMA_PIXELS = 16384 * 8192
"""Largest panorama accepted (Google's full-resolution captures); it is reduced as it is decoded."""
ASPECT_TOLERANCE = 2
"""Pixels by which width may differ from twice the height (odd sizes rounded by the capture software)."""
_CUT_VERSION = "equirectangular-pinhole-bilinear-v1"
_LONG_COLUMNS = ("long", "lon", "lng")


class PanoramaError(ValueError):
    """A panorama file that cannot be cut (not 2:1, too large, unreadable)."""


@dataclass(frozen=True)
class PanoramaCut:
    """How the four views are cut from every panorama of a city (its outcomes.toml ``[panoramas]`` table)."""

    field_of_view: float = 90.0
    view_size: int = 224
    pitch: float = 0.0

    def __post_init__(self):
        if not 10 <= self.field_of_view <= 170:
            raise ValueError(f"panorama field_of_view {self.field_of_view:g} is outside 10..170 degrees")
        if not 32 <= self.view_size <= 2048:
            raise ValueError(f"panorama view_size {self.view_size} is outside 32..2048 pixels")
        if not -60 <= self.pitch <= 60:
            raise ValueError(f"panorama pitch {self.pitch:g} is outside -60..60 degrees")

    def describe(self) -> str:
        """The cut as recorded in the features' provenance: any change makes a panorama batch's features stale."""
        return f"{_CUT_VERSION}/fov-{self.field_of_view:g}/size-{self.view_size}/pitch-{self.pitch:g}/headings-0-90-180-270"

    @property
    def working_width(self) -> int:
        """Panorama width that is enough for this cut (twice the view's resolution at its centre)."""
        return 2 * math.ceil(360.0 * self.view_size / self.field_of_view)


def views_of(holds_panoramas: bool, cut: PanoramaCut) -> str:
    """The ``views`` provenance of a batch: the cut for a panorama batch, :data:`PHOTOS` otherwise."""
    return cut.describe() if holds_panoramas else PHOTOS


def read_panorama_table(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """The panorama table at ``path`` (or its ``data``, read from an archive and shown as ``path``):
    ``img_id, lat, long, capture_heading, capture_date, file``, one row per panorama."""
    frame = read_csv(path, "panorama table", data)
    require_columns(frame, path, ("id", "lat", "heading"), "panorama table")
    long_column = next((c for c in _LONG_COLUMNS if c in frame.columns), None)
    if long_column is None:
        raise SourceFormatError(path, "missing column 'long' (or 'lon', 'lng') in the panorama table.", f"Columns found: {', '.join(frame.columns)}.")
    img_id = numeric_column(frame, path, "id", integer=True, minimum=0)
    reject_rows(path, frame, img_id.duplicated(), lambda i, line: f"id {img_id.iloc[i]} appears again at {line}.", "Each panorama needs its own id.")
    lat, lon = numeric_column(frame, path, "lat"), numeric_column(frame, path, long_column)
    reject_rows(path, frame, (lat.abs() > 90) | (lon.abs() > 180), lambda i, line: f"{line}: lat/long ({lat.iloc[i]}, {lon.iloc[i]}) is out of range.")
    heading = numeric_column(frame, path, "heading")
    files = frame["file"].str.strip() if "file" in frame.columns else pd.Series([""] * len(frame), index=frame.index)
    reject_rows(
        path,
        frame,
        files.str.contains(r"[/\\]", regex=True) | files.str.startswith("."),
        lambda i, line: f"column 'file', {line}: {files.iloc[i]!r} is not a plain file name in the batch.",
        "Give the panorama's file name only, without folders.",
    )
    return pd.DataFrame(
        {
            "img_id": img_id.to_numpy(),
            "lat": lat.to_numpy(),
            "long": lon.to_numpy(),
            "capture_heading": np.mod(heading.to_numpy(), 360.0),
            "capture_date": frame["date"].str.strip().to_numpy() if "date" in frame.columns else "",
            "file": files.to_numpy(),
        }
    )


def decode_panorama(path: Path, cut: PanoramaCut) -> np.ndarray:
    """The panorama at ``path`` as float32 RGB, less than twice ``cut.working_width`` wide (JPEG decodes at
    1/2, 1/4 or 1/8 scale, other files are reduced by a whole factor); refused when it is not 2:1."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if abs(width - 2 * height) > ASPECT_TOLERANCE:
                    raise PanoramaError(
                        f"{path.name}: {width}x{height} is not 2:1; an equirectangular 360° panorama is twice as wide as high. "
                        "Give the full panorama (not a crop or a cube face), or put ready-cut views in a batch of their own."
                    )
                if width * height > MAX_PANORAMA_PIXELS:
                    raise PanoramaError(f"{path.name}: {width}x{height} is more than the {MAX_PANORAMA_PIXELS:,} pixels accepted; resize it")
                target = min(width, cut.working_width)
                image.draft("RGB", (target, target // 2))
                image = image.convert("RGB")
                factor = image.width // target
                if factor > 1:
                    image = image.reduce(factor)
                return np.asarray(image, dtype=np.float32)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise PanoramaError(f"{path.name}: unreadable panorama ({exc.__class__.__name__}: {exc})") from None


def _view_directions(cut: PanoramaCut) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth (degrees, relative to the view's heading) and elevation (degrees) of every pixel of a view."""
    half = cut.view_size / 2
    focal = half / math.tan(math.radians(cut.field_of_view) / 2)
    offsets = np.arange(cut.view_size, dtype=np.float64) + 0.5 - half
    x, y = np.meshgrid(offsets, offsets)
    pitch = math.radians(cut.pitch)
    down = y * math.cos(pitch) - focal * math.sin(pitch)
    forward = y * math.sin(pitch) + focal * math.cos(pitch)
    azimuth = np.degrees(np.arctan2(x, forward))
    elevation = np.degrees(np.arctan2(-down, np.hypot(x, forward)))
    return azimuth, elevation


def cut_view(panorama: np.ndarray, relative_heading: float, cut: PanoramaCut) -> np.ndarray:
    """The perspective view (uint8 RGB, ``view_size`` square) looking ``relative_heading`` degrees clockwise of the panorama's centre."""
    height, width = panorama.shape[:2]
    azimuth, elevation = _view_directions(cut)
    column = np.mod((azimuth + relative_heading) / 360.0 + 0.5, 1.0) * width - 0.5
    row = np.clip((0.5 - elevation / 180.0) * height - 0.5, 0, height - 1)
    left = np.floor(column)
    top = np.clip(np.floor(row), 0, height - 2)
    across, down = (column - left)[..., None], (row - top)[..., None]
    left = left.astype(np.int64) % width
    right = (left + 1) % width
    top = top.astype(np.int64)
    upper = panorama[top, left] * (1 - across) + panorama[top, right] * across
    lower = panorama[top + 1, left] * (1 - across) + panorama[top + 1, right] * across
    return np.clip(upper * (1 - down) + lower * down + 0.5, 0, 255).astype(np.uint8)


def cut_views(panorama: np.ndarray, capture_heading: float, cut: PanoramaCut) -> dict[str, np.ndarray]:
    """The four views (a, b, c, d at compass 0, 90, 180, 270) of a panorama whose centre looks at ``capture_heading``."""
    return {letter: cut_view(panorama, compass - capture_heading, cut) for letter, compass in VIEW_HEADINGS.items()}


def find_panorama_table(folder: Path) -> Path | None:
    """The batch's ``panoramas.csv`` (at its top, or in the one folder an archive unpacked to), or None."""
    for candidate in (folder / PANORAMA_TABLE, *folder.glob(f"*/{PANORAMA_TABLE}")):
        if candidate.is_file():
            return candidate
    return None


def _read_stamp(path: Path) -> dict:
    """What a previous cut recorded beside its views (empty when there is none or it cannot be read)."""
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def _panorama_file(folder: Path, row) -> Path | None:
    names = [row.file] if row.file else [f"{row.img_id}{suffix}" for suffix in PANORAMA_SUFFIXES]
    return next((folder / name for name in names if (folder / name).is_file()), None)


@dataclass(frozen=True)
class CutBatch:
    """The views cut from one panorama batch: their folder, the table, the panoramas refused (img_id -> why), reused or cut now."""

    folder: Path
    table: pd.DataFrame
    problems: dict[int, str]
    reused: bool


def cut_panorama_batch(
    table_path: Path, target: Path, cut: PanoramaCut, source_fingerprint: str, progress: Callable[[int, int], None] | None = None, workers: int = 2
) -> CutBatch:
    """Cut every panorama listed in ``table_path`` into ``<img_id>_<a|b|c|d>.png`` views under ``target``.

    Each panorama is decoded once. The folder is replaced atomically, and a stamp beside it records the
    batch's fingerprint and the cut, so a re-run over the same files and cut reuses the views instead of
    cutting again. A panorama that is missing, unreadable or not 2:1 gets no views and its reason.
    """
    folder = table_path.parent
    table = read_panorama_table(table_path)
    stamp_path = target.with_name(f"{target.name}.cut.json")
    wanted = {"source_fingerprint": source_fingerprint, "cut": cut.describe()}
    recorded = _read_stamp(stamp_path)
    if target.is_dir() and {k: recorded.get(k) for k in wanted} == wanted:
        return CutBatch(target, table, {int(k): v for k, v in recorded.get("problems", {}).items()}, True)

    def cut_one(row) -> tuple[int, str | None, dict[str, bytes]]:
        path = _panorama_file(folder, row)
        if path is None:
            wanted = row.file or f"{row.img_id}.jpg (or .jpeg, .png)"
            return row.img_id, f"panorama file {wanted} is not in the batch", {}
        try:
            views = cut_views(decode_panorama(path, cut), row.capture_heading, cut)
        except PanoramaError as exc:
            return row.img_id, str(exc), {}
        encoded = {}
        for letter, pixels in views.items():
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
            encoded[letter] = buffer.getvalue()
        return row.img_id, None, encoded

    problems: dict[int, str] = {}
    stamp_path.unlink(missing_ok=True)
    with atomic_directory(target) as tmp, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, (img_id, problem, views) in enumerate(pool.map(cut_one, table.itertuples(index=False)), start=1):
            if problem:
                problems[int(img_id)] = problem
            for letter, data in views.items():
                (tmp / f"{img_id}_{letter}.png").write_bytes(data)
            if progress:
                progress(done, len(table))
    record = {**wanted, "problems": {str(k): v for k, v in problems.items()}}
    write_bytes_if_changed(stamp_path, json.dumps(record, sort_keys=True).encode())
    return CutBatch(target, table, problems, False)
