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
    """Long label table plus what was read, what was missing and which outcomes were not built (and why)."""

    labels: pd.DataFrame
    sources_read: dict[str, str] = field(default_factory=dict)
    sources_missing: dict[str, str] = field(default_factory=dict)
    lsoas_without_labels: dict[str, int] = field(default_factory=dict)
    outcomes_not_built: dict[str, str] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[str]:
        """The outcomes this city has labels for, in registry order."""
        present = set(self.labels["outcome"]) if len(self.labels) else set()
        return [o.key for o in OUTCOMES if o.key in present]


def build_lsoa_labels(source_files: dict[str, Path], city_lsoas: list[str], own_area_codes: bool = False) -> LabelBuild:
    """Raw value and within-city decile for every (LSOA, outcome) the sources cover.

    ``source_files`` maps a source kind to its file; a file that does not exist
    is skipped and reported (London income, say, exists only for London), and
    so is each outcome that cannot be built, with the reason. The deciles are
    cut over ``city_lsoas`` only, so national files work as-is. With ``own_area_codes`` (areas from the
    city's boundary file), the files may use those areas' codes instead of LSOA codes.
    """
    city = pd.Index(sorted(set(city_lsoas)), name="lsoa11")
    build = LabelBuild(labels=pd.DataFrame())
    pieces = []
    for source, path in source_files.items():
        outcomes = [o for o in OUTCOMES if o.source == source]
        if not Path(path).is_file():
            build.sources_missing[source] = str(path)
            build.outcomes_not_built.update({o.key: f"{source} source file not found: {path}" for o in outcomes})
            continue
        values = READERS[source](Path(path), frozenset(city) if own_area_codes else frozenset()).reindex(city)
        build.sources_read[source] = str(path)
        for outcome in outcomes:
            if outcome.key not in values.columns:
                build.outcomes_not_built[outcome.key] = f"column {outcome.columns[0]!r} is not in {path}"
                continue
            column = values[outcome.key]
            build.lsoas_without_labels[outcome.key] = int(column.isna().sum())
            if column.isna().all():
                build.outcomes_not_built[outcome.key] = f"no LSOA of this city has a value in {path}"
                continue
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
        reasons = "; ".join(f"{k}: {v}" for k, v in build.outcomes_not_built.items())
        raise FileNotFoundError(f"No outcome can be built for this city ({reasons}). Add at least one label source.")
    labels = pd.concat(pieces, ignore_index=True)
    labels["decile"] = labels["decile"].astype("int64")
    build.labels = labels.sort_values(["outcome", "lsoa11"], ignore_index=True)
    return build
