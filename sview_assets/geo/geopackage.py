"""LSOA predictions as GIS layers: one GeoPackage per city, one layer per outcome and aggregation method.

GeoPackage is an SQLite file that QGIS, ArcGIS and GeoPandas open as they are; it is written with
pyogrio (GDAL) to a temporary name and renamed, so a reader never sees a half-written file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from sview_assets.sources.boundaries import AreaBoundaries
from sview_assets.util.files import atomic_path

LAYER_COLUMNS = ("area_code", "n_locations", "mean_score", "score_std_error", "predicted_decile", "true_decile", "model_version")
CRS = "EPSG:4326"


def layer_name(outcome: str, method: str) -> str:
    return f"{outcome}__{method}"


def write_prediction_layers(path: Path, predictions: pd.DataFrame, boundaries: AreaBoundaries) -> dict[str, int]:
    """Write one MultiPolygon layer per (outcome, method) of ``predictions`` (rows of ``lsoa_predictions``) to ``path``.

    Each feature is an area with its predicted and true decile; areas without a polygon in ``boundaries``
    are left out and counted under the key ``"areas_without_polygon"``. Returns rows per layer.
    """
    from pyogrio.raw import write

    index = boundaries.index
    written: dict[str, int] = {}
    missing = sorted(set(predictions["lsoa11"]) - set(index))
    with atomic_path(path) as tmp, _gpkg_named(tmp) as staging:
        for (outcome, method), part in predictions.groupby(["outcome", "method"], sort=True):
            part = part[part["lsoa11"].isin(index)].sort_values("lsoa11")
            geometries = shapely.to_wkb(np.asarray([boundaries.geometries[index[code]] for code in part["lsoa11"]], dtype=object))
            fields = [
                part["lsoa11"].to_numpy(dtype=object),
                part["n_locations"].to_numpy(dtype=np.int64),
                part["mean_score"].to_numpy(dtype=np.float64),
                part["score_std_error"].to_numpy(dtype=np.float64),
                part["predicted_decile"].to_numpy(dtype=np.int64),
                part["true_decile"].to_numpy(dtype=np.int64),
                part["model_version"].to_numpy(dtype=object),
            ]
            layer = layer_name(outcome, method)
            write(
                str(staging),
                geometries,
                fields,
                list(LAYER_COLUMNS),
                layer=layer,
                driver="GPKG",
                geometry_type="MultiPolygon",
                promote_to_multi=True,
                crs=CRS,
                append=bool(written),
            )
            written[layer] = len(part)
    return {**written, "areas_without_polygon": len(missing)}


@contextmanager
def _gpkg_named(tmp: Path) -> Iterator[Path]:
    """A sibling of ``tmp`` ending in ``.gpkg`` (GDAL warns about a GeoPackage without it), moved to ``tmp`` when done."""
    staging = tmp.with_name(tmp.name + ".gpkg")
    try:
        yield staging
        os.replace(staging, tmp)
    finally:
        staging.unlink(missing_ok=True)
