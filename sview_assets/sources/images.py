"""Image batches: find them, extract archives safely, and list what each holds.

A batch is a folder or a ``.zip``/``.tar``/``.tar.gz``/``.tgz`` archive under
``raw/images/``, holding ``<img_id>_<a|b|c|d>.<png|jpg|jpeg>`` files (one
per camera heading), or 360° panoramas and their ``panoramas.csv``, which are
cut into those four views (:mod:`.panoramas`). Archives are extracted into a staging folder, refusing
absolute paths, ``..`` components, links and device files.
"""

from __future__ import annotations

import hashlib
import re
import stat
import tarfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
from PIL import Image, UnidentifiedImageError

from sview_assets.sources.panoramas import PANORAMA_SUFFIXES, PANORAMA_TABLE, read_panorama_table
from sview_assets.util.files import atomic_directory

HEADINGS = ("a", "b", "c", "d")
IMAGE_NAME = re.compile(r"^(?P<img_id>\d+)_(?P<heading>[abcd])\.(?P<ext>png|jpe?g)$", re.IGNORECASE)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_BATCH_KEY = re.compile(r"[^A-Za-z0-9_.-]")


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the extraction folder, is not a plain file, or is a bomb."""


@dataclass(frozen=True)
class ExtractionLimits:
    """Bounds on what one archive may unpack to, so a small archive cannot fill the disk."""

    max_total_bytes: int = 8 * 2**30
    max_ratio: float = 100.0
    ratio_grace_bytes: int = 2**20

    def check_ratio(self, archive: Path, member: str, unpacked: int, packed: int) -> None:
        """Refuse a member (or a whole compressed tar) that unpacks to far more than it stores."""
        if unpacked > self.ratio_grace_bytes and unpacked > self.max_ratio * max(packed, 1):
            raise UnsafeArchiveError(
                f"{archive}: {member!r} unpacks to {unpacked:,} bytes from {packed:,} (more than {self.max_ratio:g} times); "
                "refusing to extract a likely archive bomb. Raise max_compression_ratio in the image_manifest config if it is genuine."
            )


class _Budget:
    """Bytes an extraction may still write, counted as they are written (headers can lie)."""

    def __init__(self, archive: Path, limits: ExtractionLimits):
        self.archive, self.limits, self.written = archive, limits, 0

    def copy(self, src, dst, member: str) -> None:
        while block := src.read(1 << 20):
            self.written += len(block)
            if self.written > self.limits.max_total_bytes:
                raise UnsafeArchiveError(
                    f"{self.archive}: unpacking {member!r} passes {self.limits.max_total_bytes:,} bytes for the batch; refusing to extract. "
                    "Split the batch, or raise max_batch_gb in the image_manifest config."
                )
            dst.write(block)


@dataclass(frozen=True)
class BatchSource:
    """One batch as found on disk."""

    key: str
    path: Path

    @property
    def is_archive(self) -> bool:
        return self.path.is_file()

    def signature(self) -> str:
        """One stat: an archive's size and time, or a folder's own time (moved by adding, removing or renaming a file in it)."""
        info = self.path.stat()
        if stat.S_ISDIR(info.st_mode):
            return f"dir|{info.st_mtime_ns}|{info.st_nlink}"
        return f"file|{info.st_size}|{info.st_mtime_ns}"

    def fingerprint(self) -> str:
        """Changes when the batch's content may have changed (names, sizes, times)."""
        digest = hashlib.sha256()
        files = [self.path] if self.is_archive else sorted(p for p in self.path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"{file.relative_to(self.path.parent)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]

    def member_names(self) -> list[str]:
        """The file names the batch holds, read from the folder or the archive's index (nothing is extracted or decoded)."""
        if not self.is_archive:
            return sorted(p.name for p in self.path.rglob("*") if p.is_file())
        try:
            if self.path.name.lower().endswith(".zip"):
                with zipfile.ZipFile(self.path) as archive:
                    return sorted(PurePosixPath(info.filename).name for info in archive.infolist() if not info.is_dir())
            with tarfile.open(self.path) as archive:
                return sorted(PurePosixPath(member.name).name for member in archive.getmembers() if member.isfile())
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ValueError(f"{self.path}: not a readable archive ({exc}). Re-create or remove it.") from None

    def holds_panoramas(self) -> bool:
        """Whether this is a panorama batch: it holds a ``panoramas.csv`` (its name read from the folder or the archive's index).

        An unreadable archive holds nothing; its manifest says why."""
        try:
            return PANORAMA_TABLE in self.member_names()
        except ValueError:
            return False

    def panorama_table(self) -> pd.DataFrame | None:
        """The batch's panorama table (read from the folder or straight from the archive, nothing extracted), or None."""
        if not self.is_archive:
            found = sorted(self.path.rglob(PANORAMA_TABLE))
            return read_panorama_table(found[0]) if found else None
        shown_as = self.path / PANORAMA_TABLE
        if self.path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(self.path) as archive:
                member = next((i for i in archive.infolist() if PurePosixPath(i.filename).name == PANORAMA_TABLE), None)
                return read_panorama_table(shown_as, archive.read(member)) if member else None
        with tarfile.open(self.path) as archive:
            member = next((m for m in archive if m.isfile() and PurePosixPath(m.name).name == PANORAMA_TABLE), None)
            return read_panorama_table(shown_as, archive.extractfile(member).read()) if member else None

    def locations(self) -> dict[int, set[str]]:
        """The headings each img_id will have: its photos' headings, or all four for each panorama the batch holds."""
        names = self.member_names()
        if PANORAMA_TABLE not in names:
            return headings_by_location(names)
        present = set(names)
        table = self.panorama_table()
        return {
            int(row.img_id): set(HEADINGS)
            for row in table.itertuples()
            if (row.file in present) or (not row.file and any(f"{row.img_id}{suffix}" in present for suffix in PANORAMA_SUFFIXES))
        }


def headings_by_location(names: list[str]) -> dict[int, set[str]]:
    """The headings found for each img_id among image file names (other names are left out)."""
    found: dict[int, set[str]] = {}
    for name in names:
        if match := IMAGE_NAME.match(name):
            found.setdefault(int(match["img_id"]), set()).add(match["heading"].lower())
    return found


def batch_key(path: Path) -> str:
    """Partition key of a batch: its name without archive suffix, unsafe characters replaced."""
    name = path.name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return _BATCH_KEY.sub("_", name)


def find_batches(images_dir: Path) -> list[BatchSource]:
    """Every batch folder or archive directly under ``images_dir``, sorted by key."""
    if not images_dir.is_dir():
        return []
    found = {}
    for path in sorted(images_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() or (path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)):
            key = batch_key(path)
            if key in found:
                raise ValueError(f"{images_dir}: both {found[key].path.name} and {path.name} give batch {key!r}; rename one.")
            found[key] = BatchSource(key, path)
    return [found[k] for k in sorted(found)]


def panorama_tables(images_dir: Path) -> dict[str, pd.DataFrame]:
    """The panorama table of every panorama batch under ``images_dir``, by batch key."""
    return {batch.key: table for batch in find_batches(images_dir) if batch.holds_panoramas() and (table := batch.panorama_table()) is not None}


def _safe_member_path(root: Path, name: str, archive: Path) -> Path:
    parts = PurePosixPath(name.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or (parts.parts and ":" in parts.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the batch folder; refusing to extract.")
    target = (root / Path(*parts.parts)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafeArchiveError(f"{archive}: member {name!r} escapes the batch folder; refusing to extract.")
    return target


def _extract_zip(archive: Path, root: Path, limits: ExtractionLimits) -> None:
    budget = _Budget(archive, limits)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            limits.check_ratio(archive, info.filename, info.file_size, info.compress_size)
            target = _safe_member_path(root, info.filename, archive)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link or special file; refusing to extract.")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                budget.copy(src, dst, info.filename)


def _extract_tar(archive: Path, root: Path, limits: ExtractionLimits) -> None:
    budget = _Budget(archive, limits)
    packed = archive.stat().st_size
    with tarfile.open(archive) as tf:
        for member in tf:
            target = _safe_member_path(root, member.name, archive)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a link or special file; refusing to extract.")
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            with src, open(target, "wb") as dst:
                budget.copy(src, dst, member.name)
            limits.check_ratio(archive, "the archive", budget.written, packed)


def stage_batch(batch: BatchSource, staging_root: Path, limits: ExtractionLimits = ExtractionLimits()) -> Path:
    """Folder holding the batch's images: the batch folder itself, or a fresh safe extraction of its archive.

    Extraction stops with a clear error when it would pass ``limits`` (total size, compression ratio);
    what it wrote so far is removed.
    """
    if not batch.is_archive:
        return batch.path
    target = staging_root / batch.key
    with atomic_directory(target) as tmp:
        try:
            if batch.path.name.lower().endswith(".zip"):
                _extract_zip(batch.path, tmp, limits)
            else:
                _extract_tar(batch.path, tmp, limits)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ValueError(f"{batch.path}: not a readable archive ({exc}). Re-create or remove it.") from None
    return target


MAX_IMAGE_PIXELS = 40_000_000
"""Largest image accepted (40 MP: street photos are well under 1 MP); decoding it needs 160 MB as float32 RGB."""
MAX_ASPECT_RATIO = 8.0
"""Most elongated image accepted. Scaling the short side to 224 makes the long side 224 x ratio, so this
bounds the resized image at 224 x 1,792 pixels (5 MB), whatever the file claims."""


def _image_problem(path: Path) -> str | None:
    """None if the file is an image of sensible size, else what is wrong with it.

    Reads the header and checks the stored data's integrity without decoding
    pixels, so a decompression bomb costs nothing here; the extractor decodes
    each image once.
    """
    if path.stat().st_size == 0:
        return f"{path.name}: empty file (0 bytes)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    return f"{path.name}: {width}x{height} pixels is more than the {MAX_IMAGE_PIXELS:,} accepted; resize it"
                if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
                    return f"{path.name}: {width}x{height} is more elongated than {MAX_ASPECT_RATIO:g}:1; not a street photo"
                image.verify()
    except Image.DecompressionBombError as exc:
        return f"{path.name}: refused as a decompression bomb ({exc})"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{path.name}: unreadable image ({exc.__class__.__name__}: {exc})"
    return None


def _batch_problem(batch: str, problem: str) -> dict:
    """A manifest row (img_id -1) for a problem of the batch as a whole, so it is reported, never dropped."""
    return {"batch": batch, "img_id": -1, "headings": "", **{f"path_{h}": "" for h in HEADINGS}, "usable": False, "problems": problem}


def with_unusable(manifest: pd.DataFrame, batch: str, problems: dict[int, str]) -> pd.DataFrame:
    """``manifest`` with a row for each img_id in ``problems`` that has no views (a panorama that could not be cut)."""
    rows = [
        {"batch": batch, "img_id": img_id, "headings": "", **{f"path_{h}": "" for h in HEADINGS}, "usable": False, "problems": problem}
        for img_id, problem in sorted(problems.items())
        if img_id not in set(manifest["img_id"])
    ]
    if not rows:
        return manifest
    if (manifest["img_id"] < 0).all():
        manifest = manifest.iloc[0:0]  # the views folder is empty: the panoramas' own problems say why
    return pd.concat([manifest, pd.DataFrame(rows, columns=manifest.columns)], ignore_index=True).astype({"img_id": "int64", "usable": "bool"})


def batch_manifest(folder: Path, batch: str) -> pd.DataFrame:
    """One row per img_id found: the file of each heading, how many headings, and problems.

    A location is usable when all four headings are present and readable.
    Files whose names do not follow ``<img_id>_<heading>.<ext>`` are reported
    under img_id -1 so nothing is silently ignored.
    """
    files: dict[int, dict[str, Path]] = {}
    stray = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        match = IMAGE_NAME.match(path.name)
        if not match:
            stray.append(path.name)
            continue
        files.setdefault(int(match["img_id"]), {})[match["heading"].lower()] = path
    rows = []
    for img_id in sorted(files):
        found = files[img_id]
        problems = [f"missing heading {h}" for h in HEADINGS if h not in found]
        problems += [p for p in (_image_problem(found[h]) for h in HEADINGS if h in found) if p]
        rows.append(
            {
                "batch": batch,
                "img_id": img_id,
                "headings": "".join(h for h in HEADINGS if h in found),
                **{f"path_{h}": str(found[h]) if h in found else "" for h in HEADINGS},
                "usable": not problems,
                "problems": "; ".join(problems),
            }
        )
    if stray:
        rows.append(_batch_problem(batch, f"{len(stray)} file(s) not named <img_id>_<a|b|c|d>.<png|jpg>: {', '.join(stray[:5])}"))
    if not rows:
        rows.append(_batch_problem(batch, f"the batch holds no files ({folder})"))
    columns = ["batch", "img_id", "headings", *[f"path_{h}" for h in HEADINGS], "usable", "problems"]
    return pd.DataFrame(rows, columns=columns).astype({"img_id": "int64", "usable": "bool"})


def find_batch(raw_images: Path, batch: str) -> BatchSource:
    """The folder or archive of a registered batch under ``raw_images``, or a clear error if it is gone."""
    sources = {b.key: b for b in find_batches(raw_images)}
    if batch not in sources:
        raise FileNotFoundError(f"Image batch {batch!r} is registered but no folder or archive for it exists under {raw_images}.")
    return sources[batch]
