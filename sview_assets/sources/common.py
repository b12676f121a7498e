"""Shared validation for the CSV readers: clear errors that name file, column and row."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd


class SourceFormatError(ValueError):
    """A source file does not have the layout or values sview expects."""

    def __init__(self, path: Path | str, problem: str, hint: str = ""):
        self.path = Path(path)
        message = f"{self.path}: {problem}"
        if hint:
            message += f" {hint}"
        super().__init__(message)


def row_label(index: int) -> str:
    """The 1-based line number in the CSV of a 0-based data row (line 1 is the header)."""
    return f"line {int(index) + 2}"


def first_bad_row(frame: pd.DataFrame, bad: pd.Series) -> tuple[int, int]:
    """Position and original row index of the first True in ``bad`` (the frame may be filtered)."""
    position = int(bad.to_numpy().nonzero()[0][0])
    return position, int(frame.index[position])


def reject_rows(path: Path, frame: pd.DataFrame, bad: pd.Series, describe: Callable[[int, str], str], hint: str = "") -> None:
    """Raise for the first row flagged in ``bad``; ``describe(position, line)`` words the problem."""
    if bad.any():
        position, row = first_bad_row(frame, bad)
        raise SourceFormatError(path, describe(position, row_label(row)), hint)


def read_csv(path: Path, what: str, data: bytes | None = None) -> pd.DataFrame:
    """Read a CSV as strings, failing clearly if it is missing, empty or not CSV.

    ``data``: the file's bytes when they come from elsewhere (an archive member); ``path`` then only names it.
    """
    path = Path(path)
    if data is None and not path.is_file():
        raise SourceFormatError(path, f"{what} file not found.", "Put the file there or point the settings at it.")
    try:
        frame = pd.read_csv(path if data is None else io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise SourceFormatError(path, f"{what} file is empty.", "Expected a header row and one row per area.") from None
    except UnicodeDecodeError as exc:
        line = (path.read_bytes() if data is None else data)[: exc.start].count(b"\n") + 1
        raise SourceFormatError(
            path,
            f"{what} file is not UTF-8 text: byte {exc.object[exc.start : exc.start + 1]!r} at line {line}.",
            "Save it as UTF-8 (CSV UTF-8 in Excel) and try again.",
        ) from None
    except pd.errors.ParserError as exc:
        raise SourceFormatError(path, f"{what} file is not a readable CSV ({exc}).") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise SourceFormatError(path, f"{what} file has a header but no data rows.")
    return frame


def require_columns(frame: pd.DataFrame, path: Path, columns: Iterable[str], what: str) -> None:
    """Fail if any of ``columns`` is absent, listing what was found."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns[:12])
        more = " ..." if len(frame.columns) > 12 else ""
        raise SourceFormatError(
            path,
            f"missing column(s) {', '.join(repr(c) for c in missing)} in the {what} file.",
            f"Columns found: {found}{more}.",
        )


WHOLE_NUMBER = r"^[+-]?\d+$"


def numeric_column(frame: pd.DataFrame, path: Path, column: str, *, integer: bool = False, minimum: float | None = None) -> pd.Series:
    """Parse ``column`` as finite numbers (thousands separators and a leading pound sign allowed).

    With ``integer`` the text itself must be digits: ``1e3`` or ``12.0`` is refused, not read as a count.
    """
    raw = frame[column]
    text = raw.str.strip().str.replace(",", "", regex=False).str.lstrip("£")
    values = pd.to_numeric(text, errors="coerce")
    missing = values.isna()
    reject_rows(path, frame, missing, lambda i, line: f"column {column!r}, {line}: {raw.iloc[i]!r} is not a number ({int(missing.sum())} such row(s)).")
    reject_rows(path, frame, ~np.isfinite(values), lambda i, line: f"column {column!r}, {line}: {raw.iloc[i]!r} is not a finite number.")
    if integer:
        reject_rows(
            path, frame, ~text.str.match(WHOLE_NUMBER), lambda i, line: f"column {column!r}, {line}: {raw.iloc[i]!r} is not a whole number written in digits."
        )
    if minimum is not None:
        reject_rows(path, frame, values < minimum, lambda i, line: f"column {column!r}, {line}: {values.iloc[i]} is below {minimum}.")
    return values.astype("int64" if integer else "float64")


def area_codes(frame: pd.DataFrame, path: Path, column: str) -> pd.Series:
    """Validate a column of area codes: present on every row and each once. Codes are whatever the city's files use
    (2011 or 2021 LSOAs, US tracts, IRIS ...); the ones that are not the city's areas are simply not used."""
    codes = frame[column].str.strip()
    reject_rows(path, frame, codes == "", lambda i, line: f"column {column!r}, {line}: the area code is empty.", "Every row needs its area's code.")
    duplicated = codes.duplicated(keep="first")
    reject_rows(
        path,
        frame,
        duplicated,
        lambda i, line: f"duplicate area code {codes.iloc[i]!r} in column {column!r} at {line} ({int(duplicated.sum())} duplicate row(s)).",
        "Each area must appear once.",
    )
    return codes
