"""Where a city's inputs and outputs live.

One resource, :class:`SviewSettings`, names the data root and the city; every
stage asks it for paths instead of using the current directory, so the same
code runs from the Makefile, the webserver and tests rooted in a temp folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT_ENV = "SVIEW_DATA_ROOT"
CITY_ENV = "SVIEW_CITY"
DEFAULT_CITY = "demo"
_CITY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def default_data_root() -> Path:
    """``$SVIEW_DATA_ROOT`` if set, else ``data/`` beside the package (not the cwd)."""
    return Path(os.environ.get(DATA_ROOT_ENV) or PROJECT_ROOT / "data").resolve()


def default_city() -> str:
    """``$SVIEW_CITY`` if set, else the demo city."""
    return os.environ.get(CITY_ENV) or DEFAULT_CITY


def validate_city(city: str) -> str:
    """Return ``city`` if it is a safe folder name, else raise a clear error."""
    if not _CITY_NAME.match(city):
        raise ValueError(
            f"City name {city!r} is not allowed: use letters, digits, '_' or '-' (it becomes a folder name under the data root). Set {CITY_ENV} accordingly."
        )
    return city


@dataclass(frozen=True)
class CityPaths:
    """Every path the pipeline reads or writes for one city."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def raw_images(self) -> Path:
        return self.raw / "images"

    @property
    def staged_images(self) -> Path:
        """Extracted copies of archive batches, one folder per batch."""
        return self.root / "images"

    @property
    def features(self) -> Path:
        return self.root / "features"

    def feature_file(self, batch: str) -> Path:
        return self.features / f"{batch}.h5"

    @property
    def training_set(self) -> Path:
        return self.root / "training_set.h5"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def model_dir(self, outcome: str) -> Path:
        return self.models / outcome

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"


class SviewSettings(dg.ConfigurableResource):
    """Which city to work on and where its files live."""

    data_root: str = Field(description=f"Folder holding one sub-folder per city. Default: ${DATA_ROOT_ENV} or the project's data/.")
    city: str = Field(description=f"City folder under the data root. Default: ${CITY_ENV} or 'demo'.")

    @classmethod
    def from_env(cls) -> SviewSettings:
        """Settings from the environment, with the documented defaults."""
        return cls(data_root=str(default_data_root()), city=validate_city(default_city()))

    @property
    def paths(self) -> CityPaths:
        return CityPaths(Path(self.data_root).resolve() / validate_city(self.city))
