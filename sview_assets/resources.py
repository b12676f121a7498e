"""Resources: storage settings, the VGG16 extractor, and the warehouse (Delta tables, DuckDB for SQL).

Tests build the same resources rooted in a temporary folder; nothing here
reads the current directory.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager

import dagster as dg
from dagster_deltalake import LocalConfig
from dagster_duckdb import DuckDBResource
from pydantic import Field, field_validator

from .ml.feature_store import ExtractorRecipe
from .ml.vgg16 import FLOAT32, PRECISIONS, WeightsInfo, file_stamp, weights_info
from .settings import SviewSettings
from .warehouse.delta_io import WarehouseIOManager
from .warehouse.tables import SCHEMA

WEIGHTS_ENV = "SVIEW_VGG16_WEIGHTS"
PRECISION_ENV = "SVIEW_VGG16_PRECISION"
VERSIONS_KEPT_ENV = "SVIEW_VERSIONS_KEPT"


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
    locations_per_batch: int = Field(default=0, ge=0, description="Locations (x4 images) per model call; 0: 8 on the CPU, 32 on a GPU.")
    precision: str = Field(
        default=FLOAT32,
        description=f"Arithmetic of VGG16: 'float32', or 'bfloat16' (features still stored as float32; measure its speed on your hardware first, see the README). Default: ${PRECISION_ENV} or float32.",
    )

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, value: str) -> str:
        if value not in PRECISIONS:
            raise ValueError(f"precision {value!r} is not one of {', '.join(PRECISIONS)} (check {PRECISION_ENV})")
        return value

    @classmethod
    def from_env(cls) -> Vgg16Resource:
        return cls(weights_file=os.environ.get(WEIGHTS_ENV, ""), precision=os.environ.get(PRECISION_ENV) or FLOAT32)

    def build(self):
        """The Keras extractor and a :class:`~sview_assets.ml.vgg16.WeightsInfo` (reused within a process)."""
        return _cached_extractor(self.weights_file or None, self.random_seed, file_stamp(self.weights_file), self.precision)

    def recipe(self) -> ExtractorRecipe:
        """Weights checksum, preprocessing and precision the features would be made with now (no TensorFlow needed)."""
        return ExtractorRecipe(self.weights().sha256, self.precision)

    def weights(self) -> WeightsInfo:
        """Source and checksum of the weights the extractor would use (no TensorFlow needed)."""
        return weights_info(self.weights_file or None, self.random_seed)


@functools.lru_cache(maxsize=1)
def _cached_extractor(weights_file: str | None, seed: int, file_stamp: tuple[int, int] | None, precision: str):
    """Building VGG16 costs seconds; runs in one process (``make demo``) share the last one built.

    ``file_stamp`` (size, mtime) is part of the key so a replaced weights file is read again.
    """
    from .ml.vgg16 import build_fc6_extractor

    return build_fc6_extractor(weights_file, seed, precision)


class WarehouseSQL(DuckDBResource):
    """An in-memory DuckDB connection with the city's warehouse tables and views defined (see :mod:`sview_assets.sql`)."""

    database: str = ":memory:"
    warehouse: str = Field(description="The city's warehouse folder (Delta tables).")

    @contextmanager
    def get_connection(self):
        from .warehouse.duckdb_views import attach_warehouse

        with super().get_connection() as connection:
            attach_warehouse(connection, self.warehouse)
            yield connection


def warehouse_resources(settings: SviewSettings) -> dict[str, object]:
    """The Delta Lake I/O manager (tables) and the DuckDB resource (SQL) of a city's warehouse."""
    warehouse = str(settings.warehouse)
    versions_kept = int(os.environ.get(VERSIONS_KEPT_ENV) or 3)
    return {
        "io_manager": WarehouseIOManager(root_uri=warehouse, storage_options=LocalConfig(), schema=SCHEMA, versions_kept=versions_kept),
        "duckdb": WarehouseSQL(warehouse=warehouse),
    }
