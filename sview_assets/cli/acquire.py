"""``python -m sview_assets.cli.acquire``: what fetching a city's images from Street View would ask and cost, and,
with ``--fetch``, the fetch itself (the city's ``postcode_locations`` and ``streetview_images``, recorded in the
Dagster instance like a run from the UI).

``--locations N`` prints the estimate for a city of N locations without reading any city.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from sview_assets.acquisition.streetview import AcquisitionPaths, cost_estimate, plan_requests, read_ledger
from sview_assets.cli.instance_access import open_instance
from sview_assets.config.declarations import DECLARATION_FILE, DeclarationError, read_declarations
from sview_assets.config.settings import Storage
from sview_assets.sources.city_options import StreetViewOptions, streetview_options
from sview_assets.sources.common import SourceFormatError
from sview_assets.sources.files import BOUNDARY_FILE, POSTCODE_FILE
from sview_assets.sources.postcodes import place_locations


def _fetch(city: str) -> bool:
    import dagster as dg

    from sview_assets.definitions import build_city, city_assets, city_resources

    built = build_city(city, streetview=True)
    instance = open_instance()
    settings = Storage.from_env().for_city(city)
    assets = city_assets(built, city, "postcode_locations", "streetview_images")
    return dg.materialize(assets, instance=instance, resources=city_resources(settings), raise_on_error=False).success


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plan (and with --fetch, run) a city's image acquisition from the Street View Static API.")
    parser.add_argument("--city", help="a city whose outcomes.toml has a [streetview] table")
    parser.add_argument("--locations", type=int, help="print the estimate for a city of this many locations (default options) and exit")
    parser.add_argument("--fetch", action="store_true", help="fetch what is missing now, within today's budget (needs the API key in key_env)")
    args = parser.parse_args(argv)
    if args.locations is not None:
        print(json.dumps(cost_estimate(args.locations, StreetViewOptions()), indent=2))
        return
    if not args.city:
        parser.error("give --city (or --locations N for an estimate)")
    settings = Storage.from_env().for_city(args.city)
    options = streetview_options(settings.paths.city_file(DECLARATION_FILE))
    if options is None:
        parser.error(f"{args.city} has not opted in: add a [streetview] table to {settings.paths.city_file(DECLARATION_FILE)}")
    paths = settings.paths
    try:
        area_column = read_declarations(paths.city_file(DECLARATION_FILE)).area_column
        locations = place_locations(paths.raw_file(POSTCODE_FILE), paths.raw_file(BOUNDARY_FILE), area_column).locations
    except (DeclarationError, SourceFormatError, FileNotFoundError) as exc:
        parser.error(f"{args.city}'s locations cannot be read: {exc}")
    todo = plan_requests(locations[["img_id", "lat", "long"]], read_ledger(AcquisitionPaths(paths).ledger), AcquisitionPaths(paths))
    print(f"{args.city}: {len(locations)} locations, {len(todo)} still to fetch; at most, for those:")
    print(json.dumps(cost_estimate(len(todo), options), indent=2))
    print(f"(cost at {options.price_per_1000_images:g} per 1,000 images, the price_per_1000_images option; metadata requests are free)")
    if args.fetch:
        if not os.environ.get(options.key_env):
            parser.error(f"set the environment variable {options.key_env} to your Street View Static API key (the city's key_env) to fetch")
        sys.exit(0 if _fetch(args.city) else 1)


if __name__ == "__main__":
    main()
