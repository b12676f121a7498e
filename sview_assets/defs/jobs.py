"""Named asset jobs of each city: selections of its asset graph that the UI and the tests launch by name.

Each job is only a selection (``<city>__labels_job`` and so on); the order of its steps comes from the
asset graph. Running everything is not a job: it is a backfill of every asset ("Materialize all" in the
UI) or ``python -m sview_assets.cli.pipeline``.
"""

from typing import Any

import dagster as dg

from sview_assets.defs.names import AssetName
from sview_assets.defs.scope import CityScope

LABELS_JOB = "labels_job"
FEATURES_JOB = "image_features_job"
TRAINING_SET_JOB = "training_set_job"
OUTCOME_JOB = "retrain_outcome"
VIEWS_JOB = "views_job"

# What ``define_asset_job`` returns (a job resolved against the whole Definitions); dagster does not export its class.
AssetJob = Any

_SELECTIONS = {
    LABELS_JOB: ((AssetName.POSTCODE_LOCATIONS, AssetName.LSOA_LABELS), "Read the label sources and postcode directory into the warehouse."),
    FEATURES_JOB: ((AssetName.IMAGE_MANIFEST, AssetName.VGG16_FEATURES), "Manifest and VGG16 features of one image batch (pick the partition)."),
    TRAINING_SET_JOB: ((AssetName.TRAINING_SET,), "Rebuild the HDF5 training set from every batch's features."),
    OUTCOME_JOB: (
        (AssetName.ORDINAL_MODEL, AssetName.LOCATION_PREDICTIONS, AssetName.LSOA_PREDICTIONS, AssetName.MODEL_METRICS),
        "Retrain one outcome (pick the partition) and refresh its predictions and metrics.",
    ),
    VIEWS_JOB: ((AssetName.WAREHOUSE_VIEWS,), "Refresh the metrics_summary and lsoa_predictions_wide views."),
}


def build_city_jobs(scope: CityScope) -> dict[str, AssetJob]:
    """The city's jobs, by their short name (``labels_job``); each is named ``<city>__<short name>``."""
    return {
        short: dg.define_asset_job(
            scope.name(short),
            selection=[scope.key(asset) for asset in assets],
            description=f"{scope.city}: {description}",
        )
        for short, (assets, description) in _SELECTIONS.items()
    }
