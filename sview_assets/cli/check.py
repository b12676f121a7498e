"""``sview-check`` (``make check CITY=<city>``): the pre-flight check of a city, before a run of hours.

Prints, per outcome, whether it will be trained and why not; the locations, their areas and those outside
every area; per image batch, the locations with all four headings and whether its features are missing,
stale or up to date. Reads the city's files only and writes nothing. Exits 1 when no outcome can be trained.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sview_assets.config.cities import CitiesFileError, read_deployment
from sview_assets.config.declarations import DECLARATION_FILE
from sview_assets.config.settings import Storage, validate_city
from sview_assets.defs.preflight import check_city
from sview_assets.defs.resources import Vgg16Resource


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`"))
    parser.add_argument("--city", action="append", help="a city to check (repeat for several; default: every city of the deployment)")
    parser.add_argument("--declarations", default=DECLARATION_FILE, help=f"the declaration file under data/<city>/ (default {DECLARATION_FILE})")
    args = parser.parse_args(argv)
    storage = Storage.from_env()
    try:
        cities = [validate_city(c) for c in args.city] if args.city else list(read_deployment(Path(storage.data_root)).cities)
    except (ValueError, CitiesFileError) as exc:
        parser.error(str(exc))
    recipe = Vgg16Resource.from_env().recipe()
    worst = 0
    for city in cities:
        settings = storage.for_city(city)
        if not settings.paths.root.is_dir():
            print(f"{city}: no folder {settings.paths.root}; create it with the city's raw/ files", file=sys.stderr)
            worst = 1
            continue
        report = check_city(settings, recipe, declaration_file=args.declarations)
        print(f"{city} ({settings.paths.root}):")
        print("\n".join(report.lines()))
        worst = max(worst, report.exit_code)
    sys.exit(worst)


if __name__ == "__main__":
    main()
