"""Image batches: find them, extract archives safely, and list what each holds.

A batch is a folder or a ``.zip``/``.tar``/``.tar.gz``/``.tgz`` archive under
``raw/images/``, holding ``<img_id>_<a|b|c|d>.<png|jpg|jpeg>`` files (one
per camera heading). Archives are extracted into a staging folder, refusing
absolute paths, ``..`` components, links and device files.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd
from PIL import Image, UnidentifiedImageError

from ..files import atomic_directory

HEADINGS = ("a", "b", "c", "d")
IMAGE_NAME = re.compile(r"^(?P<img_id>\d+)_(?P<heading>[abcd])\.(?P<ext>png|jpe?g)$", re.IGNORECASE)
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_BATCH_KEY = re.compile(r"[^A-Za-z0-9_.-]")


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the extraction folder, or is not a plain file."""


@dataclass(frozen=True)
class BatchSource:
    """One batch as found on disk."""

    key: str
    path: Path

    @property
    def is_archive(self) -> bool:
        return self.path.is_file()

    def fingerprint(self) -> str:
        """Changes when the batch's content may have changed (names, sizes, times)."""
        digest = hashlib.sha256()
        files = [self.path] if self.is_archive else sorted(p for p in self.path.rglob("*") if p.is_file())
        for file in files:
            stat = file.stat()
            digest.update(f"{file.relative_to(self.path.parent)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:16]


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


def _safe_member_path(root: Path, name: str, archive: Path) -> Path:
    parts = PurePosixPath(name.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or (parts.parts and ":" in parts.parts[0]):
        raise UnsafeArchiveError(f"{archive}: member {name!r} would be written outside the batch folder; refusing to extract.")
    target = (root / Path(*parts.parts)).resolve()
    if not target.is_relative_to(root.resolve()):
        raise UnsafeArchiveError(f"{archive}: member {name!r} escapes the batch folder; refusing to extract.")
    return target


def _extract_zip(archive: Path, root: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = _safe_member_path(root, info.filename, archive)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a link or special file; refusing to extract.")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)


def _extract_tar(archive: Path, root: Path) -> None:
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
                shutil.copyfileobj(src, dst)


def stage_batch(batch: BatchSource, staging_root: Path) -> Path:
    """Folder holding the batch's images: the batch folder itself, or a fresh safe extraction of its archive."""
    if not batch.is_archive:
        return batch.path
    target = staging_root / batch.key
    with atomic_directory(target) as tmp:
        try:
            if batch.path.name.lower().endswith(".zip"):
                _extract_zip(batch.path, tmp)
            else:
                _extract_tar(batch.path, tmp)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
            raise ValueError(f"{batch.path}: not a readable archive ({exc}). Re-create or remove it.") from None
    return target


def _image_problem(path: Path) -> str | None:
    """None if the file is a decodable image, else what is wrong with it."""
    try:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{path.name}: unreadable image ({exc.__class__.__name__}: {exc})"
    return None


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
        rows.append(
            {
                "batch": batch,
                "img_id": -1,
                "headings": "",
                **{f"path_{h}": "" for h in HEADINGS},
                "usable": False,
                "problems": f"{len(stray)} file(s) not named <img_id>_<a|b|c|d>.<png|jpg>: {', '.join(stray[:5])}",
            }
        )
    columns = ["batch", "img_id", "headings", *[f"path_{h}" for h in HEADINGS], "usable", "problems"]
    return pd.DataFrame(rows, columns=columns).astype({"img_id": "int64", "usable": "bool"})
