"""Acquisition stage (opt-in): a city's images fetched from the Street View Static API into image batches."""

import os

import dagster as dg
import pandas as pd

from sview_assets.acquisition.client import StreetViewClient
from sview_assets.acquisition.streetview import AcquisitionPaths, acquire, cost_estimate, read_ledger
from sview_assets.config.declarations import DECLARATION_FILE
from sview_assets.config.settings import Storage
from sview_assets.defs.metadata import preview
from sview_assets.defs.names import AssetName
from sview_assets.defs.scope import CityScope
from sview_assets.sources.city_options import streetview_options


def build_acquisition_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``streetview_images``: defined only for a city whose outcomes.toml has a ``[streetview]`` table."""

    @dg.asset(
        **scope.asset_args(AssetName.STREETVIEW_IMAGES, table=True),
        ins={"postcode_locations": scope.table_in(AssetName.POSTCODE_LOCATIONS)},
        kinds={"deltalake", "pandas"},
    )
    def streetview_images(context: dg.AssetExecutionContext, storage: Storage, postcode_locations: pd.DataFrame) -> pd.DataFrame:
        """Fetches the four views (compass 0, 90, 180, 270) of every location of the city from the Google Street View
        Static API, into image batches `raw/images/streetview_NNN/` that the image sensor then extracts.

        Opt-in: only a city whose `outcomes.toml` has a `[streetview]` table has this asset, and it runs only when
        asked (no automation, not in `python -m sview_assets.cli.pipeline` without `--acquire`). The API key is read
        from the environment variable the table names (`key_env`, default `SVIEW_STREETVIEW_KEY`) and never
        written anywhere. A metadata request (free) comes first; images are fetched only where imagery exists.
        Polite: `requests_per_second`, retries with back-off on 429 and 5xx, and `daily_image_budget` image
        requests per UTC day, after which the run stops cleanly. Resumable: a re-run fetches only what is
        missing. Table `streetview_images`: per location its status (`OK`, `ZERO_RESULTS`, `NOT_FOUND`,
        `NO_IMAGE` or the last error), panorama id, capture date and batch. You are responsible for
        following the provider's terms of service for the images you fetch.
        """
        settings = storage.for_city(scope.city)
        options = streetview_options(settings.paths.city_file(DECLARATION_FILE))
        if options is None:
            raise ValueError(f"{scope.city} has not opted in to Street View acquisition: add a [streetview] table to its {DECLARATION_FILE}.")
        paths = AcquisitionPaths(settings.paths)
        client = StreetViewClient(options, os.environ.get(options.key_env, ""))
        locations = postcode_locations[["img_id", "lat", "long"]]
        report = acquire(locations, paths, client, context.log.info)
        if report.stopped_by_budget:
            context.log.warning(f"stopped at today's budget ({options.daily_image_budget} image requests); run again tomorrow to go on")
        ledger = read_ledger(paths.ledger)
        statuses = ledger["status"].value_counts().to_dict()
        context.add_output_metadata(
            {
                "locations": len(locations),
                "statuses": dg.MetadataValue.json({str(k): int(v) for k, v in statuses.items()}),
                "finished_this_run": dg.MetadataValue.json(report.finished),
                "still_to_fetch": report.pending,
                "stopped_by_budget": report.stopped_by_budget,
                "metadata_requests": report.metadata_requests,
                "image_requests": report.image_requests,
                "retries": report.retries,
                "image_requests_today": report.images_today,
                "daily_image_budget": options.daily_image_budget,
                "batches_published": dg.MetadataValue.json(report.published),
                "estimated_cost_this_run": round(report.image_requests / 1000 * options.price_per_1000_images, 2),
                "estimate_for_the_whole_city": dg.MetadataValue.json(cost_estimate(len(locations), options)),
                "ledger": dg.MetadataValue.path(str(paths.ledger)),
                "preview": preview(ledger),
            }
        )
        return ledger

    return [streetview_images]
