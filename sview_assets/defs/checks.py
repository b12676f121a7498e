"""Asset checks on the label tables (checks of partitioned assets live with their assets)."""

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
        passed=not bad,
        severity=dg.AssetCheckSeverity.ERROR,
        description=" ".join(problems) or "Every outcome's deciles follow its values.",
        metadata={"tie_decided_share": dg.MetadataValue.json(shares), "outcomes_failing": dg.MetadataValue.json(sorted(bad))},
    )


def build_label_checks(scope: CityScope) -> list[dg.AssetChecksDefinition]:
    """Checks of the city's label tables."""

    @dg.asset_check(
        asset=scope.key(AssetName.LSOA_LABELS),
        name=DECILES_BALANCED,
        description="Every outcome's ten deciles hold the same number of LSOAs, give or take one.",
    )
    def deciles_balanced(lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
        spread = decile_imbalance(lsoa_labels)
        unbalanced = {k: v for k, v in spread.items() if v > 1}
        return dg.AssetCheckResult(passed=not unbalanced, metadata={"max_minus_min_per_outcome": dg.MetadataValue.json(spread)})

    @dg.asset_check(
        asset=scope.key(AssetName.LSOA_LABELS),
        name=DECILES_FROM_DATA,
        description=f"No outcome has more than {TIE_DECIDED_LIMIT:.0%} of its LSOAs in ties that span deciles (a constant or near-constant outcome would be cut by LSOA code order).",
    )
    def deciles_decided_by_values(lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
        return decided_by_values_result(lsoa_labels)

    @dg.asset_check(asset=scope.key(AssetName.LSOA_LABELS), name=KEYS_UNIQUE, description="One row per (LSOA, outcome).")
    def label_keys_unique(lsoa_labels: pd.DataFrame) -> dg.AssetCheckResult:
        duplicates = int(lsoa_labels.duplicated(["lsoa11", "outcome"]).sum())
        return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_rows": duplicates})

    @dg.asset_check(asset=scope.key(AssetName.POSTCODE_LOCATIONS), name=IMG_ID_UNIQUE, description="One row per image location.")
    def img_id_unique(postcode_locations: pd.DataFrame) -> dg.AssetCheckResult:
        duplicates = int(postcode_locations["img_id"].duplicated().sum())
        return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_img_ids": duplicates})

    @dg.asset_check(
        asset=scope.key(AssetName.POSTCODE_LOCATIONS),
        name=LOCATIONS_IN_AREAS,
        description="Every location has an area (a location placed by point in polygon may lie outside every area of the boundary file).",
    )
    def every_location_in_an_area(postcode_locations: pd.DataFrame) -> dg.AssetCheckResult:
        outside = postcode_locations.loc[postcode_locations["lsoa11"].isna(), "img_id"].tolist()
        return dg.AssetCheckResult(
            passed=not outside,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"locations_without_area": len(outside), "img_ids": dg.MetadataValue.json(outside[:50])},
        )

    @dg.asset_check(
        asset=scope.key(AssetName.LSOA_LABELS),
        name=LOCATIONS_LABELLED,
        additional_ins={"postcode_locations": scope.table_in(AssetName.POSTCODE_LOCATIONS)},
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

    return [deciles_balanced, deciles_decided_by_values, label_keys_unique, img_id_unique, every_location_in_an_area, every_location_has_labels]
