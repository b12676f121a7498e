"""Assemble per-area outcome values and within-city deciles from a city's declared label files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sview_assets.config.declarations import Declarations
from sview_assets.sources.outcome_values import read_outcome_values
from sview_assets.util.deciles import rank_deciles


@dataclass
class LabelBuild:
    """Long label table plus what was read, what was missing and which outcomes were not built (and why)."""

    labels: pd.DataFrame
    declarations: Declarations
    sources_read: dict[str, str] = field(default_factory=dict)
    sources_missing: dict[str, str] = field(default_factory=dict)
    lsoas_without_labels: dict[str, int] = field(default_factory=dict)
    outcomes_not_built: dict[str, str] = field(default_factory=dict)

    @property
    def outcomes(self) -> list[str]:
        """The outcomes this city has labels for, in declaration order."""
        present = set(self.labels["outcome"]) if len(self.labels) else set()
        return [key for key in self.declarations.keys if key in present]


def build_lsoa_labels(declarations: Declarations, raw_dir: Path, city_areas: list[str]) -> LabelBuild:
    """:func:`collect_lsoa_labels`, failing with every reason when no outcome can be built."""
    build = collect_lsoa_labels(declarations, raw_dir, city_areas)
    if not build.outcomes:
        reasons = "; ".join(f"{k}: {v}" for k, v in build.outcomes_not_built.items())
        raise FileNotFoundError(f"No outcome can be built for this city ({reasons}). Add at least one label source (see {declarations.path}).")
    return build


def collect_lsoa_labels(declarations: Declarations, raw_dir: Path, city_areas: list[str]) -> LabelBuild:
    """Raw value and within-city decile for every (area, outcome) the declared sources cover.

    A declared source whose file is missing stops the build with the declaration's file and line; only
    the default English declarations (a city without ``outcomes.toml``) skip absent files, reporting each.
    Each outcome that cannot be built (no area of this city has a value) is reported with the reason.
    The deciles are cut over ``city_areas`` only, so national files work as they are.
    """
    city = pd.Index(sorted(set(city_areas)), name="lsoa11")
    build = LabelBuild(labels=pd.DataFrame(), declarations=declarations)
    pieces = []
    for source in declarations.sources:
        outcomes = declarations.outcomes_of(source.name)
        path = Path(raw_dir) / source.file
        if not path.is_file():
            if not source.optional:
                raise source.origin.error(
                    f"source {source.name!r} reads {path}, which does not exist.",
                    f'Put the file there, give its name under [files] ({source.name} = "..."), or remove the declaration.',
                )
            build.sources_missing[source.name] = str(path)
            build.outcomes_not_built.update({o.key: f"{source.title} file not found: {path}" for o in outcomes})
            continue
        values = read_outcome_values(source, outcomes, raw_dir).reindex(city)
        build.sources_read[source.name] = str(path)
        for outcome in outcomes:
            column = values[outcome.key]
            build.lsoas_without_labels[outcome.key] = int(column.isna().sum())
            if column.isna().all():
                build.outcomes_not_built[outcome.key] = f"no area of this city has a value in {path} (are the codes of the same vintage as the locations'?)"
                continue
            deciles = rank_deciles(column, low_is_first=outcome.most_deprived == "low")
            pieces.append(
                pd.DataFrame(
                    {
                        "lsoa11": city.to_numpy(),
                        "outcome": outcome.key,
                        "source": source.name,
                        "raw_value": column.to_numpy(dtype="float64"),
                        "decile": deciles.to_numpy(),
                    }
                ).dropna(subset=["raw_value"])
            )
    if pieces:
        labels = pd.concat(pieces, ignore_index=True)
        labels["decile"] = labels["decile"].astype("int64")
        build.labels = labels.sort_values(["outcome", "lsoa11"], ignore_index=True)
    return build
