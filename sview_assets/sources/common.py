"""Shared validation for the CSV readers: clear errors that name file, column and row."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import pandas as pd

LSOA_CODE = re.compile(r"^[EW]01\d{6}$")


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


def read_csv(path: Path, what: str) -> pd.DataFrame:
    """Read a CSV as strings, failing clearly if it is missing, empty or not CSV."""
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(path, f"{what} file not found.", "Put the file there or point the settings at it.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise SourceFormatError(path, f"{what} file is empty.", "Expected a header row and one row per area.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
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


def numeric_column(frame: pd.DataFrame, path: Path, column: str, *, integer: bool = False, minimum: float | None = None) -> pd.Series:
    """Parse ``column`` as numbers (thousands separators and a leading pound sign allowed)."""
    text = frame[column].str.strip().str.replace(",", "", regex=False).str.lstrip("£")
    values = pd.to_numeric(text, errors="coerce")
    bad = values.isna()
    if bad.any():
        first, row = first_bad_row(frame, bad)
        raise SourceFormatError(
            path,
            f"column {column!r}, {row_label(row)}: {frame[column].iloc[first]!r} is not a number "
            f"({int(bad.sum())} such row(s)).",
        )
    fractional = values != values.round()
    if integer and fractional.any():
        first, row = first_bad_row(frame, fractional)
        raise SourceFormatError(path, f"column {column!r}, {row_label(row)}: {frame[column].iloc[first]!r} is not a whole number.")
    below = values < minimum if minimum is not None else None
    if below is not None and below.any():
        first, row = first_bad_row(frame, below)
        raise SourceFormatError(path, f"column {column!r}, {row_label(row)}: {values.iloc[first]} is below {minimum}.")
    return values.astype("int64" if integer else "float64")


def lsoa_codes(frame: pd.DataFrame, path: Path, column: str) -> pd.Series:
    """Validate a column of LSOA 2011 codes: well formed and unique."""
    codes = frame[column].str.strip()
    malformed = ~codes.str.match(LSOA_CODE)
    if malformed.any():
        first, row = first_bad_row(frame, malformed)
        raise SourceFormatError(
            path,
            f"column {column!r}, {row_label(row)}: {codes.iloc[first]!r} is not an LSOA 2011 code.",
            "Expected codes like 'E01000001' (England) or 'W01000001' (Wales).",
        )
    duplicated = codes.duplicated(keep="first")
    if duplicated.any():
        first, row = first_bad_row(frame, duplicated)
        raise SourceFormatError(
            path,
            f"duplicate LSOA {codes.iloc[first]!r} in column {column!r} at {row_label(row)} "
            f"({int(duplicated.sum())} duplicate row(s)).",
            "Each LSOA must appear once.",
        )
    return codes
