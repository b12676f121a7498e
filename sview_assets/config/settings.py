"""Where each city's inputs and outputs live.

The resource :class:`Storage` names the data root (and, optionally, a shared warehouse root); every
city's assets ask it for their city's :class:`SviewSettings`, which give the paths, instead of using
the current directory, so the same code runs from the Makefile, the webserver and tests rooted in a
temp folder.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT_ENV = "SVIEW_DATA_ROOT"
CITY_ENV = "SVIEW_CITY"
EXECUTOR_ENV = "SVIEW_EXECUTOR"
DASK_SCHEDULER_ENV = "SVIEW_DASK_SCHEDULER"
POSTGRES_URL_ENV = "SVIEW_POSTGRES_URL"
WORKER_NAME_ENV = "SVIEW_WORKER_NAME"
"""Set on each Dask worker to its name, so that step metadata says which worker ran it."""
WAREHOUSE_ROOT_ENV = "SVIEW_WAREHOUSE_ROOT"
DEFAULT_CITY = "demo"
_CITY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def default_data_root() -> Path:
    """``$SVIEW_DATA_ROOT`` if set, else ``data/`` beside the package (not the cwd)."""
    return Path(os.environ.get(DATA_ROOT_ENV) or PROJECT_ROOT / "data").resolve()


def default_city() -> str:
    """``$SVIEW_CITY`` if set, else the demo city."""
    return os.environ.get(CITY_ENV) or DEFAULT_CITY


def validate_city(city: str) -> str:
    """Return ``city`` if it is a safe name, else raise a clear error.

    A city's name is its folder under the data root, the prefix of its asset keys, its Dagster group,
    and its DuckDB schema, so it is kept to what all four accept unquoted.
    """
    if not isinstance(city, str) or not _CITY_NAME.match(city):
        raise ValueError(
            f"City name {city!r} is not allowed: use lower-case letters, digits and '_', starting with a letter, at most 40 characters "
            f"(it names the city's folder, asset keys and SQL schema). Rename it in {CITY_ENV} or data/cities.toml."
        )
    return city


def ensure_writable_folder(folder: Path) -> Path:
    """Create ``folder`` if needed and check it can be written; a clear, immediate error otherwise.

    Permanent problems (a file where a folder should be, a read-only disk, no permission) are not
    worth retrying: the error names the folder and the setting to change.
    """
    folder = Path(folder)
    hint = f"Point {DATA_ROOT_ENV} at a writable folder (or fix this one's permissions)."
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(f"{folder} is a file, not a folder; sview keeps a city's data in a folder there. {hint}") from None
    except OSError as exc:
        raise OSError(exc.errno, f"Cannot create {folder}: {exc.strerror}. {hint}") from None
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder. {hint}")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} cannot be written (read-only disk or no permission). {hint}")
    return folder


def _confined(folder: Path, name: str, what: str) -> Path:
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"File name {name!r} is not inside the city's {what} ({folder}); give a name relative to it, without '..'.")
    return folder / name


@dataclass(frozen=True)
class CityPaths:
    """Every path the pipeline reads or writes for one city."""

    root: Path

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    def raw_file(self, name: str) -> Path:
        """A file named in the launchpad, confined to ``raw/``: absolute names and '..' are refused.

        The check is on the name, so a link the user put inside ``raw/`` (to a national file, say) still works.
        """
        return _confined(self.raw, name, "raw/ folder")

    def city_file(self, name: str) -> Path:
        """A file of the city's own folder named in the launchpad (its ``outcomes.toml``), confined like :meth:`raw_file`."""
        return _confined(self.root, name, "folder")

    def copy_inputs_to(self, other: CityPaths) -> None:
        """Copy what a user provides for the city (``raw/``, its ``outcomes.toml`` and ``training.toml``) into ``other``'s folder."""
        shutil.copytree(self.raw, other.raw)
        for name in ("outcomes.toml", "training.toml"):
            if (self.root / name).is_file():
                shutil.copy(self.root / name, other.root / name)

    @property
    def raw_images(self) -> Path:
        return self.raw / "images"

    @property
    def staged_images(self) -> Path:
        """Extracted copies of archive batches, one folder per batch."""
        return self.root / "images"

    @property
    def panorama_views(self) -> Path:
        """The four views cut from each panorama batch, one folder per batch."""
        return self.root / "views"

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
    def maps(self) -> Path:
        return self.root / "maps"

    def map_file(self, outcome: str) -> Path:
        """The true-vs-predicted decile map of an outcome, as a PNG."""
        return self.maps / f"{outcome}_deciles.png"

    def contact_sheet_file(self, outcome: str) -> Path:
        """The views of the areas predicted most and least deprived for an outcome, as a PNG."""
        return self.maps / f"{outcome}_contact_sheet.png"

    @property
    def geopackage(self) -> Path:
        """The city's LSOA predictions as GIS layers."""
        return self.root / f"{self.root.name}_predictions.gpkg"

    @property
    def warehouse(self) -> Path:
        """The city's Delta tables (one folder each, data files plus transaction log) and its SQL views."""
        return self.root / "warehouse"


class Storage(dg.ConfigurableResource):
    """Where the cities live: one folder per city under the data root."""

    data_root: str = Field(description=f"Folder holding one sub-folder per city. Default: ${DATA_ROOT_ENV} or the project's data/.")
    warehouse_root: str = Field(
        default="",
        description=(
            f"Folder holding one warehouse folder per city, e.g. on storage shared by several hosts. "
            f"Empty: each city's warehouse/ folder under the data root. Default: ${WAREHOUSE_ROOT_ENV}."
        ),
    )

    @classmethod
    def from_env(cls) -> Storage:
        """Storage from the environment, with the documented defaults."""
        return cls(data_root=str(default_data_root()), warehouse_root=os.environ.get(WAREHOUSE_ROOT_ENV, ""))

    def for_city(self, city: str) -> SviewSettings:
        """The paths of one city."""
        return SviewSettings(data_root=self.data_root, city=city, warehouse_root=self.warehouse_root)


@dataclass(frozen=True)
class SviewSettings:
    """One city's folders: the city's name, the data root it lives under, and where its warehouse is."""

    data_root: str
    city: str
    warehouse_root: str = ""

    def __post_init__(self):
        validate_city(self.city)

    @classmethod
    def from_env(cls) -> SviewSettings:
        """The city of ``$SVIEW_CITY`` (default ``demo``) under the data root of the environment."""
        return Storage.from_env().for_city(default_city())

    def storage(self) -> Storage:
        """The :class:`Storage` resource this city lives in."""
        return Storage(data_root=self.data_root, warehouse_root=self.warehouse_root)

    @property
    def paths(self) -> CityPaths:
        return CityPaths(Path(self.data_root).resolve() / self.city)

    @property
    def warehouse(self) -> Path:
        """Where this city's tables live: ``<warehouse_root>/<city>`` when a warehouse root is set, else ``data/<city>/warehouse``."""
        if self.warehouse_root:
            return Path(self.warehouse_root).resolve() / self.city
        return self.paths.warehouse
