"""Names and places of the warehouse tables, shared by the writer (I/O manager) and the readers (SQL)."""

from __future__ import annotations

from pathlib import Path

SCHEMA = "main"
VERSION_COLUMN = "model_version"
VERSIONED_METADATA_KEY = "sview/versioned_by"
HISTORY_SUFFIX = "_history"

PLAIN_TABLES = ("postcode_locations", "lsoa_labels", "image_manifest")
TRANSFER_TABLE = "transfer_metrics"
# Each transfer pair writes its table in the target city's warehouse, in a folder named after the source.
TRANSFER_FOLDER_PREFIX = "transfer_from_"
VERSIONED_TABLES = ("location_predictions", "lsoa_predictions", "model_metrics")
TABLES = PLAIN_TABLES + VERSIONED_TABLES


def table_folder(warehouse: Path, table: str) -> Path:
    """The Delta table folder (Parquet files plus ``_delta_log/``) that the I/O manager writes for ``table``."""
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a warehouse table ({', '.join(TABLES)})")
    return Path(warehouse) / SCHEMA / table


def transfer_table_folders(warehouse: Path) -> list[Path]:
    """The ``transfer_metrics`` Delta tables of every source city that transferred into this warehouse's city."""
    return sorted(p.parent for p in Path(warehouse).glob(f"{TRANSFER_FOLDER_PREFIX}*/{TRANSFER_TABLE}/_delta_log"))
