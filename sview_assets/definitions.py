"""The sview code location: every city's assets, checks, jobs and sensors, and the shared resources, in one place.

The cities come from ``data/cities.toml`` (or ``SVIEW_CITY`` alone, see ``cities.py``); each gets the
same asset graph under its own key prefix and group (``scope.py``), and each transfer pair listed there
its transfer assets (``assets/transfer.py``). Stage order is the asset graph's;
what runs by itself is each asset's automation condition (``conditions.py``) evaluated by the
``sview_automation`` sensor, and each city's image-batch sensor registering new batches
(``sensors.py``). Running everything is a backfill of all assets ("Materialize all"), or
``python -m sview_assets.cli.pipeline``, which materializes the same graph.
"""

import warnings
from pathlib import Path

import dagster as dg

from sview_assets.config.cities import Deployment, read_deployment
from sview_assets.config.declarations import DECLARATION_FILE
from sview_assets.config.settings import Storage, SviewSettings
from sview_assets.defs.assets.acquisition import build_acquisition_assets
from sview_assets.defs.assets.features import build_feature_assets
from sview_assets.defs.assets.gis import build_gis_assets
from sview_assets.defs.assets.images import build_image_assets
from sview_assets.defs.assets.labels import build_label_assets
from sview_assets.defs.assets.predictions import build_prediction_assets
from sview_assets.defs.assets.training import build_training_assets
from sview_assets.defs.assets.transfer import build_transfer_assets
from sview_assets.defs.assets.views import build_view_assets
from sview_assets.defs.executors import executor_from_env
from sview_assets.defs.jobs import build_city_jobs
from sview_assets.defs.resources import Vgg16Resource, warehouse_io_manager, warehouse_resources
from sview_assets.defs.scope import CityScope, TransferScope
from sview_assets.defs.sensors import automation_sensor, build_image_batch_sensor
from sview_assets.defs.watchdog import run_watchdog
from sview_assets.sources.city_options import opted_in_to_streetview

# Each city's image_features_job pairs image_manifest (one batch per run: its Delta table is written one partition at a
# time) with vgg16_features (several per backfill run); Dagster then runs the job one batch per run, as the image sensor
# wants, and says so on every load of the code location. The asset backfills keep each asset's own policy.
warnings.filterwarnings("ignore", message=r"Asset job .* materializes assets with varying BackfillPolicies", category=UserWarning)


def build_city(city: str, streetview: bool = False) -> dg.Definitions:
    """The asset graph of one city, in dependency order (labels, with ``streetview`` the opt-in acquisition, images,
    features, models, predictions, views, GIS layers), with its checks, jobs and image-batch sensor."""
    scope = CityScope(city)
    jobs = build_city_jobs(scope)
    return dg.Definitions(
        assets=[
            *build_label_assets(scope),
            *(build_acquisition_assets(scope) if streetview else []),
            *build_image_assets(scope),
            *build_feature_assets(scope),
            *build_training_assets(scope),
            *build_prediction_assets(scope),
            *build_view_assets(scope),
            *build_gis_assets(scope),
        ],
        jobs=list(jobs.values()),
        sensors=[build_image_batch_sensor(scope, jobs)],
    )


def city_assets(city_defs: dg.Definitions, city: str, *names: str) -> list[dg.AssetsDefinition]:
    """The assets ``names`` (e.g. ``"vgg16_features"``) of a city's :func:`build_city`, to materialize on their own."""
    scope, found = CityScope(city), []
    for name in names:
        key = scope.key(name)
        matches = [asset for asset in city_defs.assets if key in asset.keys]
        if not matches:
            raise KeyError(f"{city} has no asset {name!r}")
        found.append(matches[0])
    return found


def build_definitions(
    storage: Storage | None = None,
    vgg16: Vgg16Resource | None = None,
    deployment: Deployment | None = None,
) -> dg.Definitions:
    """Definitions for every city of ``deployment`` (default: ``cities.toml`` under the data root, or ``SVIEW_CITY``):
    each city's :func:`build_city` and each transfer pair's assets, merged with what they share."""
    storage = storage or Storage.from_env()
    deployment = deployment or read_deployment(Path(storage.data_root))
    transfers = [TransferScope(pair) for pair in deployment.transfers]
    shared = dg.Definitions(
        sensors=[automation_sensor, run_watchdog],
        executor=executor_from_env(),
        resources={
            "storage": storage,
            "vgg16": vgg16 or Vgg16Resource.from_env(),
            **warehouse_resources([storage.for_city(city) for city in deployment.cities], deployment.default_city),
            **{scope.io_manager_key: warehouse_io_manager(storage.for_city(scope.pair.target), scope.warehouse_schema) for scope in transfers},
        },
    )
    return dg.Definitions.merge(
        *(build_city(city, opted_in_to_streetview(storage.for_city(city).paths.city_file(DECLARATION_FILE))) for city in deployment.cities),
        *(dg.Definitions(assets=build_transfer_assets(scope)) for scope in transfers),
        shared,
    )


def city_resources(settings: SviewSettings, vgg16: Vgg16Resource | None = None) -> dict[str, object]:
    """The resources one city's assets need, for materializing them outside the code location (acquisition, benchmarks)."""
    return {"storage": settings.storage(), "vgg16": vgg16 or Vgg16Resource.from_env(), **warehouse_resources([settings])}


defs = build_definitions()
