"""Resources: storage settings, the VGG16 extractor, and the DuckDB warehouse.

Tests build the same resources rooted in a temporary folder; nothing here
reads the current directory.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource
from dagster_duckdb_pandas import DuckDBPandasIOManager
from pydantic import Field, field_validator

from .ml.feature_store import ExtractorRecipe
from .ml.vgg16 import FLOAT32, PRECISIONS, WeightsInfo, file_stamp, weights_info
from .settings import SviewSettings, ensure_writable_folder

WEIGHTS_ENV = "SVIEW_VGG16_WEIGHTS"
PRECISION_ENV = "SVIEW_VGG16_PRECISION"
WAREHOUSE_SCHEMA = "main"


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
    locations_per_batch: int = Field(default=8, description="Locations (x4 images) per model call.")
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


class CityWarehouseIOManager(DuckDBPandasIOManager):
    """The stock DuckDB pandas I/O manager, failing at once (not after its lock retries) where the city folder cannot be written."""

    def create_io_manager(self, context):
        ensure_writable_folder(Path(self.database).parent)
        return super().create_io_manager(context)


def warehouse_resources(settings: SviewSettings) -> dict[str, object]:
    """The DuckDB I/O manager (tables) and resource (SQL) of a city's warehouse."""
    database = str(settings.paths.warehouse)
    return {
        "io_manager": CityWarehouseIOManager(database=database, schema=WAREHOUSE_SCHEMA),
        "duckdb": DuckDBResource(database=database),
    }
