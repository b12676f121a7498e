"""Asset checks on the label tables (checks of partitioned assets live with their assets)."""

import dagster as dg
import pandas as pd

from .assets.labels import lsoa_labels, postcode_locations

DECILES_BALANCED = "deciles_balanced"
KEYS_UNIQUE = "keys_unique"
LOCATIONS_LABELLED = "every_location_has_labels"
IMG_ID_UNIQUE = "img_id_unique"


def decile_imbalance(labels: pd.DataFrame) -> dict[str, int]:
    """Per outcome, the largest minus smallest number of LSOAs in a decile (0 or 1 when balanced)."""
    counts = labels.groupby(["outcome", "decile"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=range(1, 11), fill_value=0)
    return {outcome: int(row.max() - row.min()) for outcome, row in counts.iterrows()}


@dg.asset_check(asset=lsoa_labels, name=DECILES_BALANCED, description="Every outcome's ten deciles hold the same number of LSOAs, give or take one.")
def deciles_balanced(lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
    spread = decile_imbalance(lsoa_labels)
    unbalanced = {k: v for k, v in spread.items() if v > 1}
    return dg.AssetCheckResult(passed=not unbalanced, metadata={"max_minus_min_per_outcome": dg.MetadataValue.json(spread)})


@dg.asset_check(asset=lsoa_labels, name=KEYS_UNIQUE, description="One row per (LSOA, outcome).")
def label_keys_unique(lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
    duplicates = int(lsoa_labels.duplicated(["lsoa11", "outcome"]).sum())
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_rows": duplicates})


@dg.asset_check(asset=postcode_locations, name=IMG_ID_UNIQUE, description="One row per image location.")
def img_id_unique(postcode_locations: pd.DataFrame) -> dg.AssetCheckResult:
    duplicates = int(postcode_locations["img_id"].duplicated().sum())
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_img_ids": duplicates})


@dg.asset_check(
    asset=lsoa_labels,
    name=LOCATIONS_LABELLED,
    additional_ins={"postcode_locations": dg.AssetIn()},
    description="Every image location's LSOA has a label for every outcome found; reports the shortfall.",
)
def every_location_has_labels(lsoa_labels: pd.DataFrame, postcode_locations: pd.DataFrame) -> dg.AssetCheckResult:
    shortfall = {}
    for outcome, rows in lsoa_labels.groupby("outcome"):
        missing = ~postcode_locations["lsoa11"].isin(rows["lsoa11"])
        if missing.any():
            shortfall[outcome] = int(missing.sum())
    return dg.AssetCheckResult(
        passed=not shortfall,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"locations_without_label": dg.MetadataValue.json(shortfall)},
    )


LABEL_CHECKS = [deciles_balanced, label_keys_unique, img_id_unique, every_location_has_labels]
