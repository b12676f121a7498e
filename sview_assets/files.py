"""Atomic file writes: readers never see a half-written file."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it over ``final``.

    On any error the temporary file is removed and ``final`` is untouched, so
    an interrupted run never leaves a file that looks complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_if_changed(final: Path, data: bytes) -> bool:
    """Atomically write ``data`` unless ``final`` already holds exactly it; return whether it wrote.

    Leaving identical files alone keeps their modification time, so batch
    fingerprints (and the features derived from them) stay valid.
    """
    final = Path(final)
    if final.is_file() and final.stat().st_size == len(data) and final.read_bytes() == data:
        return False
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return True


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success swap it in for ``final``.

    The old folder is moved aside first and removed only once the new one is
    in place, so a failure leaves the previous contents intact.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = final.with_name(f".{final.name}.tmp-{tag}")
    old = final.with_name(f".{final.name}.old-{tag}")
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if old.exists():
            shutil.rmtree(old)
