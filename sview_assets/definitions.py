"""The sview code location: every city's assets, checks, jobs and sensors, and the shared resources, in one place.

The cities come from ``data/cities.toml`` (or ``SVIEW_CITY`` alone, see ``cities.py``); each gets the
same asset graph under its own key prefix and group (``scope.py``), and each transfer pair listed there
its transfer assets (``assets/transfer.py``). Stage order is the asset graph's;
what runs by itself is each asset's automation condition (``conditions.py``) evaluated by the
``sview_automation`` sensor, and each city's image-batch sensor registering new batches
(``sensors.py``). Running everything is a backfill of all assets ("Materialize all"), or
``python -m sview_assets.pipeline``, which materializes the same graph.
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from .assets.acquisition import build_acquisition_assets
from .assets.features import build_feature_assets
from .assets.gis import build_gis_assets
from .assets.images import build_image_assets
from .assets.labels import build_label_assets
from .assets.predictions import build_prediction_assets
from .assets.training import build_training_assets
from .assets.transfer import build_transfer_assets
from .assets.views import build_view_assets
from .checks import build_label_checks
from .cities import Deployment, read_deployment
from .executors import executor_from_env
from .jobs import AssetJob, build_city_jobs
from .resources import Vgg16Resource, warehouse_io_manager, warehouse_resources
from .scope import CityScope, TransferScope
from .sensors import automation_sensor, build_image_batch_sensor
from .settings import Storage, SviewSettings
from .sources.city_options import opted_in_to_streetview
from .sources.declarations import DECLARATION_FILE
from .watchdog import run_watchdog

# Each city's image_features_job pairs image_manifest (one batch per run: its Delta table is written one partition at a
# time) with vgg16_features (several per backfill run); Dagster then runs the job one batch per run, as the image sensor
# wants, and says so on every load of the code location. The asset backfills keep each asset's own policy.
warnings.filterwarnings("ignore", message=r"Asset job .* materializes assets with varying BackfillPolicies", category=UserWarning)


@dataclass(frozen=True)
class CityDefinitions:
    """One city's share of the code location."""

    scope: CityScope
    assets: list[dg.AssetsDefinition]
    checks: list[dg.AssetChecksDefinition]
    jobs: dict[str, AssetJob] = field(default_factory=dict)
    sensors: list[dg.SensorDefinition] = field(default_factory=list)

    def asset(self, name: str) -> dg.AssetsDefinition:
        """The city's asset ``name`` (e.g. ``"vgg16_features"``), to materialize on its own."""
        key = self.scope.key(name)
        found = [asset for asset in self.assets if key in asset.keys]
        if not found:
            raise KeyError(f"{self.scope.city} has no asset {name!r}")
        return found[0]


def build_city(city: str, streetview: bool = False) -> CityDefinitions:
    """The asset graph of one city, in dependency order: labels, (with ``streetview``, the opt-in acquisition), images,
    features, models, predictions, views, GIS layers."""
    scope = CityScope(city)
    assets = [
        *build_label_assets(scope),
        *(build_acquisition_assets(scope) if streetview else []),
        *build_image_assets(scope),
        *build_feature_assets(scope),
        *build_training_assets(scope),
        *build_prediction_assets(scope),
        *build_view_assets(scope),
        *build_gis_assets(scope),
    ]
    jobs = build_city_jobs(scope)
    return CityDefinitions(scope, assets, build_label_checks(scope), jobs, [build_image_batch_sensor(scope, jobs)])


def build_definitions(
    storage: Storage | None = None,
    vgg16: Vgg16Resource | None = None,
    deployment: Deployment | None = None,
) -> dg.Definitions:
    """Definitions for every city of ``deployment`` (default: ``cities.toml`` under the data root, or ``SVIEW_CITY``)."""
    storage = storage or Storage.from_env()
    deployment = deployment or read_deployment(Path(storage.data_root))
    cities = [build_city(city, opted_in_to_streetview(storage.for_city(city).paths.city_file(DECLARATION_FILE))) for city in deployment.cities]
    transfers = [TransferScope(pair) for pair in deployment.transfers]
    return dg.Definitions(
        assets=[asset for city in cities for asset in city.assets] + [asset for scope in transfers for asset in build_transfer_assets(scope)],
        asset_checks=[check for city in cities for check in city.checks],
        jobs=[job for city in cities for job in city.jobs.values()],
        sensors=[*(sensor for city in cities for sensor in city.sensors), automation_sensor, run_watchdog],
        executor=executor_from_env(),
        resources={
            "storage": storage,
            "vgg16": vgg16 or Vgg16Resource.from_env(),
            **warehouse_resources([storage.for_city(city) for city in deployment.cities], deployment.default_city),
            **{scope.io_manager_key: warehouse_io_manager(storage.for_city(scope.pair.target), scope.warehouse_schema) for scope in transfers},
        },
    )


def city_resources(settings: SviewSettings, vgg16: Vgg16Resource | None = None) -> dict[str, object]:
    """The resources one city's assets need, for materializing them outside the code location (tests, benchmarks)."""
    return {"storage": settings.storage(), "vgg16": vgg16 or Vgg16Resource.from_env(), **warehouse_resources([settings])}


def definitions_for_city(settings: SviewSettings, vgg16: Vgg16Resource | None = None) -> dg.Definitions:
    """A code location of ``settings``' city alone (tests, benchmarks)."""
    return build_definitions(settings.storage(), vgg16, Deployment((settings.city,)))


defs = build_definitions()
