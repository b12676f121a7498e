"""A city's image options, in its ``outcomes.toml`` beside the outcome declarations::

    [panoramas]                  # optional: how views are cut from the city's 360° panoramas
    field_of_view = 90           # degrees (the method: 90)
    view_size = 224              # pixels, square (VGG16 looks at a 224 crop)
    pitch = 0                    # degrees above the horizon

    [streetview]                 # optional: opt in to fetching the city's images from the Street View Static API
    key_env = "SVIEW_STREETVIEW_KEY"   # the environment variable holding the API key (never the key itself)
    daily_image_budget = 20000   # image requests per UTC day; the run stops cleanly when it is spent
    requests_per_second = 5
    locations_per_batch = 1000
    # also: endpoint, image_size ("640x640"), field_of_view (90), pitch (0), radius (50 m), max_retries (5),
    # backoff_seconds (1), price_per_1000_images (7.0, for the cost estimate)

Both are read apart from the outcomes, so a mistake in one never stops the other from being used;
a mistake is reported with the file and line, like one in a declaration.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from sview_assets.config.declarations import DeclarationError, Origin, load_toml
from sview_assets.sources.panoramas import PanoramaCut

STREETVIEW_ENDPOINT = "https://maps.googleapis.com/maps/api/streetview"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_IMAGE_SIZE = re.compile(r"^(\d{2,3})x(\d{2,3})$")


@dataclass(frozen=True)
class StreetViewOptions:
    """How the Street View acquisition of a city asks for its images (see :mod:`sview_assets.acquisition`)."""

    key_env: str = "SVIEW_STREETVIEW_KEY"
    endpoint: str = STREETVIEW_ENDPOINT
    image_size: str = "640x640"
    field_of_view: float = 90.0
    pitch: float = 0.0
    radius: int = 50
    requests_per_second: float = 5.0
    daily_image_budget: int = 20_000
    locations_per_batch: int = 1000
    max_retries: int = 5
    backoff_seconds: float = 1.0
    price_per_1000_images: float = 7.0
    """For the cost estimate only: the provider's list price per 1,000 images (US$7 in its 0-100k tier when this
    was written; put your own contract's)."""


_STREETVIEW_TYPES = {f.name: f.type for f in fields(StreetViewOptions)}
_PANORAMA_KEYS = {"field_of_view", "view_size", "pitch"}


def _table(path: Path, name: str) -> tuple[dict | None, object]:
    if not Path(path).is_file():
        return None, None
    data, lines = load_toml(Path(path))
    table = data.get(name)
    if table is not None and not isinstance(table, dict):
        raise Origin(path, lines.key("", None, name)).error(f"`{name}` must be a table: a [{name}] line, then key = value lines.")
    return table, lines


def panorama_cut(path: Path) -> PanoramaCut:
    """The city's ``[panoramas]`` cut (the method's 90°, 224 px, level views when the table or the file is absent)."""
    table, lines = _table(path, "panoramas")
    if not table:
        return PanoramaCut()
    for key, value in table.items():
        origin = Origin(path, lines.key("panoramas", None, key))
        if key not in _PANORAMA_KEYS:
            raise origin.error(f"unknown key `{key}` in [panoramas].", f"Known: {', '.join(sorted(_PANORAMA_KEYS))}.")
        if isinstance(value, bool) or not isinstance(value, int | float) or (key == "view_size" and not isinstance(value, int)):
            raise origin.error(f"[panoramas] {key} must be a number{' of pixels' if key == 'view_size' else ''}, not {value!r}.")
    try:
        return PanoramaCut(**table)
    except ValueError as exc:
        raise Origin(path, lines.table("panoramas")).error(f"{exc}.") from None


def opted_in_to_streetview(path: Path) -> bool:
    """Whether the file has a ``[streetview]`` table (read leniently: the code location must load even when the file
    is broken; the acquisition then reports the mistake when it runs)."""
    try:
        return "streetview" in tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def streetview_options(path: Path) -> StreetViewOptions | None:
    """The city's ``[streetview]`` options, or None when the city has not opted in."""
    table, lines = _table(path, "streetview")
    if table is None:
        return None
    for key, value in table.items():
        origin = Origin(path, lines.key("streetview", None, key))
        if key in ("key", "api_key"):
            raise origin.error(
                "the API key must not be written in this file.", 'Put it in an environment variable and name the variable: key_env = "SVIEW_STREETVIEW_KEY".'
            )
        if key not in _STREETVIEW_TYPES:
            raise origin.error(f"unknown key `{key}` in [streetview].", f"Known: {', '.join(sorted(_STREETVIEW_TYPES))}.")
        expected = {"str": str, "int": int, "float": int | float}[_STREETVIEW_TYPES[key]]
        if isinstance(value, bool) or not isinstance(value, expected):
            raise origin.error(f"[streetview] {key} must be a {_STREETVIEW_TYPES[key].replace('str', 'text in quotes')}, not {value!r}.")
    options = StreetViewOptions(**table)
    problem = _streetview_problem(options)
    if problem:
        raise DeclarationError(f"{Origin(path, lines.table('streetview'))}: [streetview] {problem}")
    return options


def _streetview_problem(options: StreetViewOptions) -> str | None:
    if not _ENV_NAME.match(options.key_env):
        return f"key_env {options.key_env!r} is not an environment variable name (capitals, digits and '_')."
    if not options.endpoint.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        return f"endpoint {options.endpoint!r} must be https:// (plain http only to this machine, for testing)."
    size = _IMAGE_SIZE.match(options.image_size)
    if not size or not all(1 <= int(side) <= 640 for side in size.groups()):
        return f'image_size {options.image_size!r} must be WIDTHxHEIGHT, each at most 640 (the API\'s limit), e.g. "640x640".'
    if not 10 <= options.field_of_view <= 120:
        return f"field_of_view {options.field_of_view:g} is outside the API's 10..120 degrees."
    if not -90 <= options.pitch <= 90:
        return f"pitch {options.pitch:g} is outside -90..90 degrees."
    if options.requests_per_second <= 0 or options.daily_image_budget < 4 or options.locations_per_batch < 1:
        return "requests_per_second must be above 0, daily_image_budget at least 4 and locations_per_batch at least 1."
    if options.max_retries < 0 or options.backoff_seconds < 0 or options.price_per_1000_images < 0 or options.radius < 1:
        return "max_retries, backoff_seconds and price_per_1000_images must not be negative, radius at least 1 metre."
    return None
