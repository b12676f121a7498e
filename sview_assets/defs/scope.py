"""Names of one city's Dagster objects: asset keys, group, partitions, I/O manager, jobs and sensors.

Every city gets the same asset graph under its own key prefix (``demo/lsoa_labels``), in a group
named after it, with its own image-batch and outcome partitions (``demo__image_batch``) and its own
warehouse I/O manager: nothing of one city (partition keys, fingerprints, files, tables) is shared
with another.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from sview_assets.config.cities import TransferPair
from sview_assets.config.settings import validate_city
from sview_assets.warehouse.tables import TRANSFER_FOLDER_PREFIX


@dataclass(frozen=True)
class CityScope:
    """Where a city's objects sit in the Dagster deployment."""

    city: str

    def __post_init__(self):
        validate_city(self.city)

    def key(self, asset: str) -> dg.AssetKey:
        """The city's key of a pipeline asset, e.g. ``demo/lsoa_labels``."""
        return dg.AssetKey([self.city, str(asset)])

    def name(self, thing: str) -> str:
        """A job, sensor or resource name of the city, e.g. ``demo__labels_job``."""
        return f"{self.city}__{thing}"

    def op_name(self, asset: str) -> str:
        """The op that materializes ``asset`` (where run config for it goes)."""
        return self.key(asset).to_python_identifier()

    @property
    def group(self) -> str:
        return self.city

    @property
    def prefix(self) -> list[str]:
        return [self.city]

    @property
    def io_manager_key(self) -> str:
        return self.name("warehouse")

    @property
    def image_batches(self) -> dg.DynamicPartitionsDefinition:
        """The city's image batches, registered by its image sensor or the CLI."""
        return dg.DynamicPartitionsDefinition(name=self.name("image_batch"))

    @property
    def outcomes(self) -> dg.DynamicPartitionsDefinition:
        """The city's outcomes, registered by its ``lsoa_labels`` for exactly what its label files provide."""
        return dg.DynamicPartitionsDefinition(name=self.name("outcome"))

    def asset_args(self, asset: str, *, table: bool = False) -> dict:
        """The ``@asset`` arguments that place ``asset`` in the city: its name, key prefix, group and, for a
        warehouse ``table``, the city's I/O manager."""
        return {"name": str(asset), "key_prefix": self.prefix, "group_name": self.group, **({"io_manager_key": self.io_manager_key} if table else {})}

    def table_in(self, asset: str) -> dg.AssetIn:
        """An input reading the city's table ``asset``."""
        return dg.AssetIn(key=self.key(asset))


@dataclass(frozen=True)
class TransferScope:
    """Where a transfer pair's objects sit: keys ``<source>_to_<target>/<asset>``, a group of that name, the
    target city's outcome partitions, and tables in the target's warehouse (folder ``transfer_from_<source>``)."""

    pair: TransferPair

    @property
    def source(self) -> CityScope:
        return CityScope(self.pair.source)

    @property
    def target(self) -> CityScope:
        return CityScope(self.pair.target)

    @property
    def group(self) -> str:
        return self.pair.name

    @property
    def prefix(self) -> list[str]:
        return [self.pair.name]

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.pair.name, str(asset)])

    def name(self, thing: str) -> str:
        return f"{self.pair.name}__{thing}"

    @property
    def io_manager_key(self) -> str:
        return self.name("warehouse")

    @property
    def warehouse_schema(self) -> str:
        """The folder of the pair's tables inside the target city's warehouse."""
        return f"{TRANSFER_FOLDER_PREFIX}{self.pair.source}"
