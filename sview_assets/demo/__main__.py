"""``python -m sview_assets.demo``: write the demo city's raw inputs."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from sview_assets.config.settings import SviewSettings
from sview_assets.demo.generator import generate_city
from sview_assets.demo.geography import DEMO_CITIES, DEMO_CITY


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic demo city (real file formats, known ground truth).")
    parser.add_argument(
        "--city",
        default=None,
        help=f"which demo city: {' or '.join(DEMO_CITIES)} (its own size, look and files; default: $SVIEW_CITY, else demo); it is written to data/<city>/raw/",
    )
    known, _ = parser.parse_known_args(argv)
    city = known.city or SviewSettings.from_env().city
    defaults = DEMO_CITIES.get(city, DEMO_CITY)
    parser.add_argument("--lsoas", type=int, default=defaults.n_lsoas, help="number of LSOAs (default %(default)s)")
    parser.add_argument("--locations", type=int, default=defaults.n_locations, help="number of image locations (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="locations per image archive (default %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed (default %(default)s)")
    parser.add_argument("--out", help="raw folder to write (default: the configured city's raw/ folder)")
    args = parser.parse_args(argv)
    spec = replace(defaults, n_lsoas=args.lsoas, n_locations=args.locations, seed=args.seed, batch_size=args.batch_size)
    raw = args.out or SviewSettings.from_env().storage().for_city(city).paths.raw
    start = time.perf_counter()
    generate_city(raw, spec)
    print(f"demo city {city!r} written to {raw} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
