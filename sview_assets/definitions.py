"""The sview code location: every asset, check, job, sensor and resource in one place.

Stage order is the asset graph's; what runs by itself is each asset's automation condition
(``conditions.py``) evaluated by the ``sview_automation`` sensor, and the image-batch sensor
registering new batches (``sensors.py``). Running everything is a backfill of all assets
("Materialize all"), or ``python -m sview_assets.pipeline``, which materializes the same graph.
"""

import dagster as dg

from .assets.features import training_set, vgg16_features
from .assets.images import image_manifest
from .assets.labels import lsoa_labels, postcode_locations
from .assets.predictions import location_predictions, lsoa_predictions, model_metrics
from .assets.training import ordinal_model
from .assets.views import warehouse_views
from .checks import LABEL_CHECKS
from .jobs import JOBS
from .resources import Vgg16Resource, warehouse_resources
from .sensors import SENSORS
from .settings import SviewSettings
from .watchdog import run_watchdog

ASSETS = [
    postcode_locations,
    lsoa_labels,
    image_manifest,
    vgg16_features,
    training_set,
    ordinal_model,
    location_predictions,
    lsoa_predictions,
    model_metrics,
    warehouse_views,
]

TENSORFLOW_STEPS_AT_ONCE = 1
EXECUTOR = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 2,
        "tag_concurrency_limits": [{"key": "sview/tensorflow", "value": "true", "limit": TENSORFLOW_STEPS_AT_ONCE}],
    }
)


def build_definitions(settings: SviewSettings | None = None, vgg16: Vgg16Resource | None = None) -> dg.Definitions:
    """Definitions for one city; tests pass settings rooted in a temporary folder."""
    settings = settings or SviewSettings.from_env()
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=LABEL_CHECKS,
        jobs=JOBS,
        sensors=[*SENSORS, run_watchdog],
        executor=EXECUTOR,
        resources={"settings": settings, "vgg16": vgg16 or Vgg16Resource.from_env(), **warehouse_resources(settings)},
    )


defs = build_definitions()
