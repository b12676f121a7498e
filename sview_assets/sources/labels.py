"""Assemble per-LSOA outcome values from every label source present for a city."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..ml.deciles import rank_deciles
from ..outcomes import CENSUS, EXTRA, INCOME, IOD, OUTCOMES
from .census import read_census_shares
from .extra import read_extra_outcomes
from .income import read_household_income
from .iod import read_iod_ranks

READERS = {IOD: read_iod_ranks, CENSUS: read_census_shares, INCOME: read_household_income, EXTRA: read_extra_outcomes}


@dataclass
class LabelBuild:
    """Long label table plus what was read and what was missing."""

    labels: pd.DataFrame
    sources_read: dict[str, str] = field(default_factory=dict)
    sources_missing: dict[str, str] = field(default_factory=dict)
    lsoas_without_labels: dict[str, int] = field(default_factory=dict)


def build_lsoa_labels(source_files: dict[str, Path], city_lsoas: list[str]) -> LabelBuild:
    """Raw value and within-city decile for every (LSOA, outcome) the sources cover.

    ``source_files`` maps a source kind to its file; a file that does not exist
    is skipped and reported (London income, say, exists only for London). The
    deciles are cut over ``city_lsoas`` only, so national files work as-is.
    """
    city = pd.Index(sorted(set(city_lsoas)), name="lsoa11")
    build = LabelBuild(labels=pd.DataFrame())
    pieces = []
    for source, path in source_files.items():
        if not Path(path).is_file():
            build.sources_missing[source] = str(path)
            continue
        values = READERS[source](Path(path)).reindex(city)
        build.sources_read[source] = str(path)
        for outcome in (o for o in OUTCOMES if o.source == source):
            column = values[outcome.key]
            build.lsoas_without_labels[outcome.key] = int(column.isna().sum())
            deciles = rank_deciles(column, low_is_first=outcome.most_deprived == "low")
            pieces.append(
                pd.DataFrame(
                    {
                        "lsoa11": city.to_numpy(),
                        "outcome": outcome.key,
                        "source": source,
                        "raw_value": column.to_numpy(dtype="float64"),
                        "decile": deciles.to_numpy(),
                    }
                ).dropna(subset=["raw_value"])
            )
    if not pieces:
        missing = "; ".join(f"{k}: {v}" for k, v in build.sources_missing.items())
        raise FileNotFoundError(f"No label source file found for this city ({missing}). Add at least one.")
    labels = pd.concat(pieces, ignore_index=True)
    labels["decile"] = labels["decile"].astype("int64")
    build.labels = labels.sort_values(["outcome", "lsoa11"], ignore_index=True)
    return build
