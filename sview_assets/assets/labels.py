"""Label stage: image locations from the postcode directory, and per-LSOA outcome deciles."""

import dagster as dg
import pandas as pd
from pydantic import Field

from ..conditions import start_a_new_city
from ..metadata import preview
from ..outcomes import CENSUS, EXTRA, INCOME, IOD
from ..partitions import sync_outcome_partitions
from ..scope import CityScope
from ..settings import Storage
from ..sources.boundaries import assign_areas, read_area_boundaries
from ..sources.common import LSOA_CODE
from ..sources.files import BOUNDARY_FILE, DEFAULT_SOURCE_FILES, POSTCODE_FILE
from ..sources.labels import build_lsoa_labels
from ..sources.postcodes import read_postcode_locations


class PostcodeConfig(dg.Config):
    postcode_file: str = Field(
        default=POSTCODE_FILE,
        description="Postcode directory CSV under data/<city>/raw/ (pcd, oa11, lsoa11, msoa11, lat, long, img_id), or a table of img_id, lat, long "
        "whose areas come from the boundary file.",
    )
    boundary_file: str = Field(
        default=BOUNDARY_FILE,
        description="Area boundaries (GeoJSON, long/lat) under raw/; places each location of a table without lsoa11 in the area containing it.",
    )


class LabelSourcesConfig(dg.Config):
    iod_file: str = Field(default=DEFAULT_SOURCE_FILES[IOD], description="Indices of Deprivation domain ranks CSV under raw/ (2015 or 2019 layout).")
    census_file: str = Field(default=DEFAULT_SOURCE_FILES[CENSUS], description="Census 2011 LSOA counts CSV under raw/ (GEO_CODE, GEO_TYP2, count columns).")
    income_file: str = Field(
        default=DEFAULT_SOURCE_FILES[INCOME], description="Household income CSV under raw/ (Code, Mean 2012/13, Median 2012/13); London only."
    )
    extra_file: str = Field(default=DEFAULT_SOURCE_FILES[EXTRA], description="Extra outcomes CSV under raw/ (lsoa11 plus one column per extra outcome).")


KINDS = {"deltalake", "pandas"}


def build_label_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``postcode_locations`` and ``lsoa_labels``."""

    @dg.asset(
        **scope.asset_args("postcode_locations", table=True),
        kinds=KINDS,
        automation_condition=start_a_new_city(),
    )
    def postcode_locations(context: dg.AssetExecutionContext, config: PostcodeConfig, storage: Storage) -> pd.DataFrame:
        """One row per image location (img_id) with its postcode, output area, LSOA (area), MSOA and coordinates.

        Read from the ONS Postcode Directory CSV in `data/<city>/raw/`; rows without an img_id are
        counted and left out. A city without such a directory gives a table of `img_id, lat, long`:
        each location is then placed in the area of the boundary file that contains it (point in
        polygon), and `lsoa11` holds that area's code, whatever the file uses; a location outside every
        area keeps an empty `lsoa11`, is listed in the metadata and fails the `every_location_in_an_area`
        check. Stored in the city's warehouse as Delta table `postcode_locations`.
        """
        paths = storage.for_city(scope.city).paths
        paths.root.mkdir(parents=True, exist_ok=True)
        source_file = paths.raw_file(config.postcode_file)
        result = read_postcode_locations(source_file)
        frame = result.locations
        placed = {}
        if not result.has_area_codes:
            boundary_file = paths.raw_file(config.boundary_file)
            if not boundary_file.is_file():
                raise FileNotFoundError(
                    f"{source_file} has no lsoa11 column, so its locations are placed in areas by point in polygon, but the boundary file "
                    f"{boundary_file} does not exist. Add the city's area boundaries there (GeoJSON, long/lat, an area_code property per feature)."
                )
            assignment = assign_areas(frame["long"].to_numpy(), frame["lat"].to_numpy(), read_area_boundaries(boundary_file))
            frame["lsoa11"] = assignment.codes.to_numpy()
            outside = frame.loc[assignment.outside.to_numpy(), "img_id"].tolist()
            if outside:
                context.log.warning(f"{len(outside)} location(s) lie outside every area of {boundary_file} and have no area: img_id {outside[:20]}")
            placed = {
                "areas_from": dg.MetadataValue.path(str(boundary_file)),
                "locations_outside_every_area": len(outside),
                "img_ids_outside_every_area": dg.MetadataValue.json(outside[:50]),
                "locations_in_several_areas": assignment.in_several,
            }
        context.add_output_metadata(
            {
                "locations": len(frame),
                "lsoas": int(frame["lsoa11"].nunique()),
                "msoas": int(frame["msoa11"].nunique()),
                "rows_without_image": result.rows_without_image,
                "source_file": dg.MetadataValue.path(str(source_file)),
                **placed,
                "preview": preview(frame),
            }
        )
        return frame

    @dg.asset(
        **scope.asset_args("lsoa_labels", table=True),
        ins={"postcode_locations": scope.table_in("postcode_locations")},
        kinds=KINDS,
        automation_condition=start_a_new_city(),
    )
    def lsoa_labels(
        context: dg.AssetExecutionContext,
        config: LabelSourcesConfig,
        storage: Storage,
        postcode_locations: pd.DataFrame,
    ) -> pd.DataFrame:
        """Raw value and within-city decile of every outcome for every LSOA of the city (long table).

        Decile 1 is always the most deprived tenth of the city's LSOAs (lowest income, highest share of
        bad health, rank 1 of a deprivation domain). Deciles are cut over the LSOAs that have image
        locations, so national files can be used as they are. The city's outcomes are the ones its files
        provide: they become the `<city>__outcome` partitions of the models and predictions; every outcome not
        built is listed with the reason (missing file, missing column, no value for this city).
        """
        paths = storage.for_city(scope.city).paths
        files = {
            IOD: paths.raw_file(config.iod_file),
            CENSUS: paths.raw_file(config.census_file),
            INCOME: paths.raw_file(config.income_file),
            EXTRA: paths.raw_file(config.extra_file),
        }
        areas = postcode_locations["lsoa11"].dropna()
        build = build_lsoa_labels(files, areas.tolist(), own_area_codes=not areas.str.match(LSOA_CODE).all())
        for outcome, reason in build.outcomes_not_built.items():
            context.log.warning(f"outcome {outcome!r} not built: {reason}")
        added, removed = sync_outcome_partitions(context.instance, scope.outcomes.name, build.outcomes)
        context.log.info(f"{len(build.outcomes)} outcome(s) for this city: {', '.join(build.outcomes)}")
        if removed:
            context.log.warning(f"outcome partition(s) {removed} removed: their labels are gone (earlier prediction rows stay in the tables)")
        labels = build.labels
        counts = labels.groupby("outcome")["lsoa11"].count()
        context.add_output_metadata(
            {
                "rows": len(labels),
                "lsoas": int(labels["lsoa11"].nunique()),
                "outcomes": dg.MetadataValue.json({k: int(counts[k]) for k in build.outcomes}),
                "outcomes_not_built": dg.MetadataValue.json(build.outcomes_not_built),
                "outcome_partitions_added": dg.MetadataValue.json(added),
                "outcome_partitions_removed": dg.MetadataValue.json(removed),
                "sources_read": dg.MetadataValue.json(build.sources_read),
                "sources_missing": dg.MetadataValue.json(build.sources_missing),
                "city_lsoas_without_label": dg.MetadataValue.json(build.lsoas_without_labels),
                "preview": preview(labels),
            }
        )
        return labels

    return [postcode_locations, lsoa_labels]
