"""Atomic file writes: readers never see a half-written file, and a killed writer's leftovers go at the next write.

A write to ``x`` goes to a sibling ``.x.tmp-<id>`` (and a folder swap moves the
old ``x`` aside to ``.x.old-<id>``). Those names are removed on success and on
errors, but not when the process is killed; the next write of ``x`` removes
them first.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LEFTOVER = re.compile(r"^(tmp|old)-[0-9a-f]{8}$")


def remove_leftovers(final: Path) -> list[Path]:
    """Remove temporary files or folders that killed writers of ``final`` left behind; return them.

    A writer killed in the middle of a folder swap leaves ``final`` missing and
    its previous contents in ``.final.old-<id>``: that folder is put back first,
    so nothing stored is lost.
    """
    leftovers = [p for p in final.parent.glob(f".{glob.escape(final.name)}.*") if _LEFTOVER.match(p.name[len(final.name) + 2 :])]
    moved_aside = [p for p in leftovers if p.name.startswith(f".{final.name}.old-")]
    if moved_aside and not final.exists():
        os.replace(moved_aside[0], final)
        leftovers.remove(moved_aside[0])
    for path in leftovers:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return leftovers


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success rename it over ``final``.

    On any error the temporary file is removed and ``final`` is untouched, so
    an interrupted run never leaves a file that looks complete.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    tmp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        raise _disk_full(exc, final) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _disk_full(exc: OSError, final: Path) -> OSError:
    """A clearer error for a full disk (naming the file and what to do); other errors unchanged."""
    if exc.errno == errno.ENOSPC or "No space left on device" in str(exc):
        return OSError(
            errno.ENOSPC,
            f"No space left on the disk holding {final.parent} while writing {final.name}; the previous {final.name} is untouched. "
            "Free some space (or point SVIEW_DATA_ROOT at a larger disk) and run again.",
        )
    return exc


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
    remove_leftovers(final)
    tag = uuid.uuid4().hex[:8]
    tmp = final.with_name(f".{final.name}.tmp-{tag}")
    old = final.with_name(f".{final.name}.old-{tag}")
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    except OSError as exc:
        raise _disk_full(exc, final) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
        if old.exists():
            shutil.rmtree(old)
