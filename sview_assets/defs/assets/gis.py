"""GIS stage: the city's LSOA predictions as a GeoPackage, one layer per outcome and method."""

import dagster as dg

from sview_assets.config.settings import Storage
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.names import AssetName
from sview_assets.defs.resources import WarehouseSQL
from sview_assets.defs.scope import CityScope
from sview_assets.sources.boundaries import read_area_boundaries
from sview_assets.sources.files import BOUNDARY_FILE
from sview_assets.warehouse.duckdb_views import schema_views, use_schema


def build_gis_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``lsoa_geopackage``."""

    @dg.asset(
        **scope.asset_args(AssetName.LSOA_GEOPACKAGE),
        deps=[scope.key(AssetName.LSOA_PREDICTIONS)],
        kinds={"geopackage"},
        # An outcome whose model failed leaves its partitions missing; the layers of the others still refresh.
        automation_condition=keep_up_to_date(wait_for_every_input=False),
    )
    def lsoa_geopackage(context: dg.AssetExecutionContext, duckdb: WarehouseSQL, storage: Storage) -> dg.MaterializeResult:
        """Every outcome's current LSOA predictions as GIS layers: `data/<city>/<city>_predictions.gpkg`, one
        MultiPolygon layer per outcome and aggregation method (`income__score_mean`, ...), with columns
        `area_code, n_locations, mean_score, predicted_decile, true_decile, model_version` (EPSG:4326).

        Needs the city's boundary file (`raw/area_boundaries.geojson`); without one there is nothing to draw,
        and the run says so and writes nothing.
        """
        settings = storage.for_city(scope.city)
        boundary_file = settings.paths.raw / BOUNDARY_FILE
        if not boundary_file.is_file():
            context.log.warning(f"{boundary_file} does not exist, so there are no polygons to write; add it for a GeoPackage of the predictions.")
            return dg.MaterializeResult(metadata={"written": False, "reason": f"no boundary file {boundary_file}"})
        from sview_assets.geo.geopackage import write_prediction_layers

        with duckdb.get_connection() as connection:
            use_schema(connection, scope.city)
            present = "lsoa_predictions" in schema_views(connection, scope.city)
            predictions = connection.execute("SELECT * FROM lsoa_predictions ORDER BY outcome, method, lsoa11").fetchdf() if present else None
        if predictions is None or predictions.empty:
            raise ValueError(f"{scope.city} has no LSOA predictions yet; materialize {scope.city}/lsoa_predictions for at least one outcome first.")
        boundaries = read_area_boundaries(boundary_file)
        for repair in boundaries.repairs:
            context.log.warning(f"{boundary_file}: {repair}")
        layers = write_prediction_layers(settings.paths.geopackage, predictions, boundaries)
        without = layers.pop("areas_without_polygon")
        if without:
            context.log.warning(f"{without} area(s) with predictions have no polygon in {boundary_file} and are not in the layers")
        return dg.MaterializeResult(
            metadata={
                "written": True,
                "path": dg.MetadataValue.path(str(settings.paths.geopackage)),
                "layers": dg.MetadataValue.json(layers),
                "areas_without_polygon": without,
                "boundary_repairs": dg.MetadataValue.json(list(boundaries.repairs)),
                "crs": "EPSG:4326",
            }
        )

    return [lsoa_geopackage]
