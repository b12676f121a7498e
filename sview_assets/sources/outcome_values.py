"""Read the values of a city's declared outcomes from one label file (any layout: the declaration names the columns)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sview_assets.config.declarations import Outcome, Source
from sview_assets.sources.common import SourceFormatError, area_codes, numeric_column, read_csv, reject_rows


def _found(frame: pd.DataFrame) -> str:
    shown = ", ".join(repr(c) for c in frame.columns[:12])
    return f"Columns found: {shown}{' ...' if len(frame.columns) > 12 else ''}."


def check_header(source: Source, outcomes: Sequence[Outcome], path: Path, columns: Sequence[str]) -> None:
    """Fail with the declaration's file and line when a declared column is not in the file's header."""
    frame = pd.DataFrame(columns=list(columns))
    for column in (source.area_column, *(c for c, _ in source.require)):
        if column not in columns:
            raise source.origin.error(f"source {source.name!r}: column {column!r} is not in {path}.", _found(frame))
    for outcome in outcomes:
        missing = [c for c in outcome.all_columns if c not in columns]
        if missing:
            raise outcome.origin.error(
                f"outcome {outcome.key!r}: column(s) {', '.join(repr(c) for c in missing)} not in {path}.",
                f"Fix the column name in the declaration (spelling, spaces, capitals). {_found(frame)}",
            )


def read_outcome_values(source: Source, outcomes: Sequence[Outcome], raw_dir: Path) -> pd.DataFrame:
    """One column per outcome of ``source``, indexed by area code (name ``lsoa11``), as the file gives them.

    Rows must pass the source's ``require`` checks, codes must be present and unique, values finite
    numbers (whole numbers written in digits for ``whole_numbers`` sources). A share is the sum of its
    numerators over its denominator, NaN where the denominator is 0. Every problem names the label file,
    its column and line, and the declaration that asked for it.
    """
    path = Path(raw_dir) / source.file
    frame = read_csv(path, source.title)
    check_header(source, outcomes, path, list(frame.columns))
    try:
        for column, expected in source.require:
            found = frame[column].str.strip()
            reject_rows(
                path,
                frame,
                found != expected,
                lambda i, line, column=column, expected=expected, found=found: f"column {column!r}, {line}: {found.iloc[i]!r}, expected {expected!r}.",
                "Use the table at the right geography (or drop rows of other geographies).",
            )
        codes = area_codes(frame, path, source.area_column)
    except SourceFormatError as exc:
        raise source.origin.error(f"source {source.name!r}: {exc}") from None
    values = {}
    for outcome in outcomes:
        try:
            values[outcome.key] = _values(frame, path, source, outcome)
        except SourceFormatError as exc:
            raise outcome.origin.error(f"outcome {outcome.key!r}: {exc}") from None
    return pd.DataFrame(values, index=pd.Index(codes.to_numpy(), name="lsoa11"))


def _values(frame: pd.DataFrame, path: Path, source: Source, outcome: Outcome) -> np.ndarray:
    if not outcome.is_share:
        return numeric_column(frame, path, outcome.columns[0], integer=source.whole_numbers, minimum=outcome.minimum).to_numpy(dtype="float64")
    denominator = numeric_column(frame, path, outcome.denominator, integer=source.whole_numbers, minimum=0)
    numerator = sum(numeric_column(frame, path, c, integer=source.whole_numbers, minimum=0) for c in outcome.columns)
    reject_rows(
        path,
        frame,
        numerator > denominator,
        lambda i, line: f"{line}: counts for {outcome.key} ({numerator.iloc[i]}) exceed the total {outcome.denominator!r} ({denominator.iloc[i]}).",
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator.where(denominator > 0), np.nan).astype("float64")
