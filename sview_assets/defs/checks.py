"""Checks of the label tables, declared on their assets and evaluated in the asset's own step.

Each check is a :class:`dg.AssetCheckSpec` on ``postcode_locations`` or ``lsoa_labels`` and a function
of the table just built. Evaluating them in the asset's own step, rather than as six steps of their own,
spares every labels run six process starts, each of which loads the whole code location; each check still
shows under its asset in the UI with a history of its own.
"""

import dagster as dg
import pandas as pd

from sview_assets.defs.names import AssetName
from sview_assets.defs.scope import CityScope

DECILES_BALANCED = "deciles_balanced"
KEYS_UNIQUE = "keys_unique"
LOCATIONS_LABELLED = "every_location_has_labels"
LOCATIONS_IN_AREAS = "every_location_in_an_area"
IMG_ID_UNIQUE = "img_id_unique"
DECILES_FROM_DATA = "deciles_decided_by_values"
TIE_DECIDED_LIMIT = 0.1

LOCATION_CHECKS = {
    IMG_ID_UNIQUE: "One row per image location.",
    LOCATIONS_IN_AREAS: "Every location has an area (a location placed by point in polygon may lie outside every area of the boundary file).",
}
LABEL_CHECKS = {
    DECILES_BALANCED: "Every outcome's ten deciles hold the same number of LSOAs, give or take one.",
    DECILES_FROM_DATA: f"No outcome has more than {TIE_DECIDED_LIMIT:.0%} of its LSOAs in ties that span deciles "
    "(a constant or near-constant outcome would be cut by LSOA code order).",
    KEYS_UNIQUE: "One row per (LSOA, outcome).",
    LOCATIONS_LABELLED: "Every image location's LSOA has a label for every outcome found; reports the shortfall.",
}


def check_specs(scope: CityScope, name: AssetName) -> list[dg.AssetCheckSpec]:
    """The specs of the checks of the label table ``name`` (``postcode_locations`` or ``lsoa_labels``)."""
    checks = LOCATION_CHECKS if name == AssetName.POSTCODE_LOCATIONS else LABEL_CHECKS
    return [dg.AssetCheckSpec(check, asset=scope.key(name), description=text) for check, text in checks.items()]


def decile_imbalance(labels: pd.DataFrame) -> dict[str, int]:
    """Per outcome, the largest minus smallest number of LSOAs in a decile (0 or 1 when balanced)."""
    counts = labels.groupby(["outcome", "decile"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(1, 11), fill_value=0)
    return {outcome: int(row.max() - row.min()) for outcome, row in counts.iterrows()}


def tie_decided_share(labels: pd.DataFrame) -> dict[str, float]:
    """Per outcome, the share of LSOAs whose decile was decided by LSOA code order rather than by value.

    That is every LSOA whose raw value it shares with an LSOA in another decile: all of them for a
    constant outcome, most of them for a near-constant one, none when values are distinct.
    """
    spans = labels.groupby(["outcome", "raw_value"])["decile"].transform("nunique")
    return {outcome: round(float(share), 4) for outcome, share in (spans > 1).groupby(labels["outcome"]).mean().items()}


def decided_by_values_result(labels: pd.DataFrame) -> dg.AssetCheckResult:
    """The result of the deciles_decided_by_values check on a label table."""
    shares = tie_decided_share(labels)
    bad = {k: v for k, v in shares.items() if v > TIE_DECIDED_LIMIT}
    problems = [
        f"outcome {k!r}: {v:.0%} of its LSOAs share a value with LSOAs of other deciles, so LSOA code order, not the data, "
        "decides their deciles; check the source column (constant, mostly zero, or heavily rounded)."
        for k, v in sorted(bad.items())
    ]
    return dg.AssetCheckResult(
        check_name=DECILES_FROM_DATA,
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        description=" ".join(problems) or "Every outcome's deciles follow its values.",
        metadata={"tie_decided_share": dg.MetadataValue.json(shares), "outcomes_failing": dg.MetadataValue.json(sorted(bad))},
    )


def location_check_results(locations: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """The results of :data:`LOCATION_CHECKS` on a ``postcode_locations`` table."""
    duplicates = int(locations["img_id"].duplicated().sum())
    outside = locations.loc[locations["lsoa11"].isna(), "img_id"].tolist()
    return [
        dg.AssetCheckResult(check_name=IMG_ID_UNIQUE, passed=duplicates == 0, metadata={"duplicate_img_ids": duplicates}),
        dg.AssetCheckResult(
            check_name=LOCATIONS_IN_AREAS,
            passed=not outside,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"locations_without_area": len(outside), "img_ids": dg.MetadataValue.json(outside[:50])},
        ),
    ]


def label_check_results(labels: pd.DataFrame, locations: pd.DataFrame) -> list[dg.AssetCheckResult]:
    """The results of :data:`LABEL_CHECKS` on an ``lsoa_labels`` table built for ``locations``."""
    spread = decile_imbalance(labels)
    unbalanced = {k: v for k, v in spread.items() if v > 1}
    duplicates = int(labels.duplicated(["lsoa11", "outcome"]).sum())
    shortfall = {}
    for outcome, rows in labels.groupby("outcome"):
        missing = ~locations["lsoa11"].isin(rows["lsoa11"])
        if missing.any():
            shortfall[outcome] = int(missing.sum())
    return [
        dg.AssetCheckResult(check_name=DECILES_BALANCED, passed=not unbalanced, metadata={"max_minus_min_per_outcome": dg.MetadataValue.json(spread)}),
        decided_by_values_result(labels),
        dg.AssetCheckResult(check_name=KEYS_UNIQUE, passed=duplicates == 0, metadata={"duplicate_rows": duplicates}),
        dg.AssetCheckResult(
            check_name=LOCATIONS_LABELLED,
            passed=not shortfall,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"locations_without_label": dg.MetadataValue.json(shortfall)},
        ),
    ]
