"""Which cities one deployment serves, and which transfer experiments it runs between them.

The list lives in one small file, ``<data root>/cities.toml``::

    cities = ["demo", "demo_north"]

    [[transfer]]                     # optional: models of `source` applied to `target`
    source = "demo"
    target = "demo_north"
    fractions = [0.01, 0.05, 0.1]    # optional: shares of target locations to fine-tune on (this default)
    outcomes = ["income"]            # optional: the outcomes the CLI runs (default: every one both cities have)

Adding a city is a line there and a folder ``<data root>/<city>/raw/``; reloading the code location
shows its assets. ``SVIEW_CITY`` still selects a single city (and no transfers), as before; without
either, the deployment is the demo city alone.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sview_assets.config.declarations import OUTCOME_KEY
from sview_assets.config.settings import CITY_ENV, DEFAULT_CITY, validate_city

CITIES_FILE = "cities.toml"
RUN_CITIES_ENV = "SVIEW_RUN_CITIES"


DEFAULT_FRACTIONS = (0.01, 0.05, 0.1)


@dataclass(frozen=True)
class TransferPair:
    """Models trained in ``source`` applied to (and fine-tuned on) ``target``: at each of ``fractions`` of the
    target's locations, for ``outcomes`` (None: every outcome both cities have)."""

    source: str
    target: str
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS
    outcomes: tuple[str, ...] | None = None

    @property
    def name(self) -> str:
        return f"{self.source}_to_{self.target}"


@dataclass(frozen=True)
class Deployment:
    """The cities of one code location, in the order they are listed, and the transfer pairs between them."""

    cities: tuple[str, ...]
    transfers: tuple[TransferPair, ...] = ()

    def narrowed_to(self, cities: list[str]) -> Deployment:
        """This deployment with only ``cities`` (each must be listed) and the transfers between them."""
        unknown = sorted(set(cities) - set(self.cities))
        if unknown:
            raise CitiesFileError(f"{RUN_CITIES_ENV} names {unknown}, not in this deployment; list them in {CITIES_FILE}.")
        wanted = set(cities)
        kept = [city for city in self.cities if city in wanted]
        return Deployment(tuple(kept), tuple(p for p in self.transfers if p.source in kept and p.target in kept))

    @property
    def default_city(self) -> str:
        """The city that unqualified SQL names and single-city commands mean: ``$SVIEW_CITY`` if listed, else the first."""
        chosen = os.environ.get(CITY_ENV)
        return chosen if chosen in self.cities else self.cities[0]


class CitiesFileError(ValueError):
    """``cities.toml`` is malformed; the message names the file and what to fix."""


def read_deployment(data_root: Path) -> Deployment:
    """``$SVIEW_CITY`` alone when set; else the cities of ``<data_root>/cities.toml``; else the demo city.

    ``$SVIEW_RUN_CITIES`` (comma-separated; the pipeline CLI sets it for ``--city``) narrows the file's
    deployment to those cities and the transfers between them, so a run builds only what it needs.
    """
    if os.environ.get(CITY_ENV):
        return Deployment((validate_city(os.environ[CITY_ENV]),))
    path = Path(data_root) / CITIES_FILE
    if not path.is_file():
        return Deployment((DEFAULT_CITY,))
    deployment = parse_cities_file(path)
    wanted = [city for city in os.environ.get(RUN_CITIES_ENV, "").split(",") if city]
    return deployment.narrowed_to(wanted) if wanted else deployment


def line_of(text: str, name: str) -> int:
    """The first line (from 1) of ``text`` where ``name`` appears quoted; 0 if it does not."""
    for number, line in enumerate(text.splitlines(), start=1):
        if f'"{name}"' in line or f"'{name}'" in line:
            return number
    return 0


def decoded(path: Path) -> str:
    """The text of ``path``, or a :class:`CitiesFileError` naming the line of the first byte that is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise CitiesFileError(f"{path}, line {line}: byte {raw[exc.start]:#04x} is not UTF-8; save the file as UTF-8.") from None


def parse_cities_file(path: Path) -> Deployment:
    """The deployment a ``cities.toml`` describes, or a :class:`CitiesFileError` saying what is wrong."""
    text = decoded(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CitiesFileError(f"{path}: not valid TOML ({exc}).") from None
    unknown = sorted(set(data) - {"cities", "transfer"})
    if unknown:
        raise CitiesFileError(f"{path}: unknown key(s) {unknown}; expected `cities = [...]` and optional [[transfer]] tables.")
    cities = data.get("cities")
    if not isinstance(cities, list) or not cities or not all(isinstance(c, str) for c in cities):
        raise CitiesFileError(f'{path}: `cities` must be a non-empty list of names, e.g. cities = ["demo"].')
    for city in cities:
        try:
            validate_city(city)
        except ValueError as exc:
            raise CitiesFileError(f"{path}, line {line_of(text, city)}: {exc}") from None
    duplicates = sorted(city for city, count in Counter(cities).items() if count > 1)
    if duplicates:
        raise CitiesFileError(f"{path}, line {line_of(text, duplicates[0])}: city {duplicates} listed more than once.")
    transfers, listed = [], set(cities)
    for number, entry in enumerate(data.get("transfer", []), start=1):
        if not isinstance(entry, dict) or not {"source", "target"} <= set(entry) or set(entry) - {"source", "target", "fractions", "outcomes"}:
            raise CitiesFileError(f"{path}: [[transfer]] number {number} needs `source` and `target` (and may have `fractions`, `outcomes`), nothing else.")
        fractions = entry.get("fractions", list(DEFAULT_FRACTIONS))
        if not isinstance(fractions, list) or not fractions or not all(isinstance(f, int | float) and 0 < f < 1 for f in fractions):
            raise CitiesFileError(f"{path}: [[transfer]] number {number}: `fractions` must be a list of numbers between 0 and 1, e.g. [0.01, 0.05, 0.1].")
        outcomes = entry.get("outcomes")
        if outcomes is not None and (not isinstance(outcomes, list) or not outcomes or not all(isinstance(o, str) and OUTCOME_KEY.match(o) for o in outcomes)):
            raise CitiesFileError(
                f"{path}: [[transfer]] number {number}: `outcomes` must be a list of outcome keys (as the cities' outcomes.toml declare them)."
            )
        pair = TransferPair(entry["source"], entry["target"], tuple(float(f) for f in fractions), tuple(outcomes) if outcomes else None)
        missing = [c for c in (pair.source, pair.target) if c not in listed]
        if missing:
            raise CitiesFileError(
                f"{path}, line {line_of(text, missing[0])}: [[transfer]] number {number} names {missing}, not in `cities`; add them there first."
            )
        if pair.source == pair.target:
            raise CitiesFileError(f"{path}: [[transfer]] number {number} has the same source and target ({pair.source!r}).")
        if any((p.source, p.target) == (pair.source, pair.target) for p in transfers):
            raise CitiesFileError(f"{path}: [[transfer]] {pair.source} -> {pair.target} is listed twice.")
        transfers.append(pair)
    return Deployment(tuple(cities), tuple(transfers))
