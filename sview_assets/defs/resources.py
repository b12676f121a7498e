"""Resources: storage settings, the VGG16 extractor, and the warehouse (Delta tables, DuckDB for SQL).

Tests build the same resources rooted in a temporary folder; nothing here
reads the current directory.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_deltalake import LocalConfig
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from sview_assets.config.settings import SviewSettings
from sview_assets.defs.scope import CityScope
from sview_assets.ml.features.feature_store import ExtractorRecipe
from sview_assets.ml.features.vgg16 import FLOAT32, PRECISIONS, WIDTH_DIVISORS, WeightsInfo, file_stamp, weights_info
from sview_assets.warehouse.delta_io import DEFAULT_VACUUM_RETENTION_HOURS, WarehouseIOManager
from sview_assets.warehouse.tables import SCHEMA

WEIGHTS_ENV = "SVIEW_VGG16_WEIGHTS"
PRECISION_ENV = "SVIEW_VGG16_PRECISION"
WIDTH_DIVISOR_ENV = "SVIEW_VGG16_WIDTH_DIVISOR"
VERSIONS_KEPT_ENV = "SVIEW_VERSIONS_KEPT"
VACUUM_RETENTION_ENV = "SVIEW_VACUUM_RETENTION_HOURS"


class Vgg16Resource(dg.ConfigurableResource):
    """How to build the fc6 feature extractor."""

    weights_file: str = Field(
        default="",
        description=(
            "Path to VGG16 ImageNet weights: Keras 'vgg16_weights_tf_dim_ordering_tf_kernels.h5' or the original "
            f"code's 'vgg16.npy'. Empty: seeded RANDOM weights (demo only). Default: ${WEIGHTS_ENV}."
        ),
    )
    random_seed: int = Field(default=0, description="Seed of the random weights used when no weights file is given.")
    locations_per_batch: int = Field(default=0, ge=0, description="Locations (x4 images) per model call; 0: 1 on the CPU, 32 on a GPU.")
    precision: str = Field(
        default=FLOAT32,
        description=f"Arithmetic of VGG16: 'float32', 'bfloat16', or 'float16' for GPUs without native bfloat16 (features still stored as float32; measure its speed on your hardware first, see docs/benchmarks.md). Default: ${PRECISION_ENV} or float32.",
    )

    width_divisor: int = Field(
        default=1,
        description=(
            f"Narrow every VGG16 convolution by this factor ({', '.join(map(str, WIDTH_DIVISORS))}); 1: VGG16 itself. Above 1 the "
            f"network is tens of times cheaper and its features are not VGG16's (random weights only): for quick trials and tests. Default: ${WIDTH_DIVISOR_ENV} or 1."
        ),
    )

    @field_validator("width_divisor")
    @classmethod
    def _known_divisor(cls, value: int) -> int:
        if value not in WIDTH_DIVISORS:
            raise ValueError(f"width_divisor {value} is not one of {', '.join(map(str, WIDTH_DIVISORS))} (check {WIDTH_DIVISOR_ENV})")
        return value

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        if value not in PRECISIONS:
            raise ValueError(f"precision {value!r} is not one of {', '.join(PRECISIONS)} (check {PRECISION_ENV})")
        return value

    @classmethod
    def from_env(cls) -> Vgg16Resource:
        return cls(
            weights_file=os.environ.get(WEIGHTS_ENV, ""),
            precision=os.environ.get(PRECISION_ENV) or FLOAT32,
            width_divisor=int(os.environ.get(WIDTH_DIVISOR_ENV) or 1),
        )

    def build(self):
        """The Keras extractor and a :class:`~sview_assets.ml.features.vgg16.WeightsInfo` (reused within a process)."""
        return _cached_extractor(self.weights_file or None, self.random_seed, file_stamp(self.weights_file), self.precision, self.width_divisor)

    def recipe(self) -> ExtractorRecipe:
        """Weights checksum, preprocessing and precision the features would be made with now (no TensorFlow needed)."""
        return ExtractorRecipe(self.weights().sha256, self.precision)

    def weights(self) -> WeightsInfo:
        """Source and checksum of the weights the extractor would use (no TensorFlow needed)."""
        return weights_info(self.weights_file or None, self.random_seed, self.width_divisor)


@functools.lru_cache(maxsize=1)
def _cached_extractor(weights_file: str | None, seed: int, file_stamp: tuple[int, int] | None, precision: str, width_divisor: int):
    """Building VGG16 costs seconds; runs in one process (``make demo``) share the last one built.

    ``file_stamp`` (size, mtime) is part of the key so a replaced weights file is read again.
    """
    from sview_assets.ml.features.vgg16 import build_fc6_extractor

    return build_fc6_extractor(weights_file, seed, precision, width_divisor)


class WarehouseSQL(DuckDBResource):
    """An in-memory DuckDB connection with every city's warehouse tables and views, one schema per city (see :mod:`sview_assets.sql`)."""

    database: str = ":memory:"
    warehouses: dict[str, str] = Field(description="Warehouse folder (Delta tables) of each city, by city name; each city becomes a schema.")
    default_city: str = Field(description="The city whose schema is current: its tables answer to their plain names.")

    @contextmanager
    def get_connection(self):
        from sview_assets.warehouse.duckdb_views import attach_warehouses

        with super().get_connection() as connection:
            attach_warehouses(connection, {city: Path(folder) for city, folder in self.warehouses.items()}, self.default_city)
            yield connection


def warehouse_io_manager(settings: SviewSettings, schema: str = SCHEMA) -> WarehouseIOManager:
    """The Delta Lake I/O manager of one city's warehouse (tables in its ``schema`` folder)."""
    versions_kept = int(os.environ.get(VERSIONS_KEPT_ENV) or 3)
    retention = int(os.environ.get(VACUUM_RETENTION_ENV) or DEFAULT_VACUUM_RETENTION_HOURS)
    return WarehouseIOManager(
        root_uri=str(settings.warehouse),
        storage_options=LocalConfig(),
        schema=schema,
        versions_kept=versions_kept,
        vacuum_retention_hours=retention,
    )


def warehouse_resources(cities: list[SviewSettings], default_city: str | None = None) -> dict[str, object]:
    """Each city's Delta Lake I/O manager (``<city>__warehouse``) and one DuckDB resource (``duckdb``) over them all."""
    if not cities:
        raise ValueError("warehouse_resources needs at least one city")
    return {
        **{CityScope(c.city).io_manager_key: warehouse_io_manager(c) for c in cities},
        "duckdb": WarehouseSQL(warehouses={c.city: str(c.warehouse) for c in cities}, default_city=default_city or cities[0].city),
    }
