"""Label stage: image locations from the postcode directory, and per-LSOA outcome deciles."""

import dagster as dg
import pandas as pd
from pydantic import Field

from sview_assets.config.declarations import DECLARATION_FILE, Declarations, read_declarations
from sview_assets.config.settings import CityPaths, Storage
from sview_assets.defs.checks import check_specs, label_check_results, location_check_results
from sview_assets.defs.conditions import start_a_new_city
from sview_assets.defs.metadata import preview
from sview_assets.defs.names import AssetName
from sview_assets.defs.partitions import sync_outcome_partitions
from sview_assets.defs.preflight import label_findings
from sview_assets.defs.scope import CityScope
from sview_assets.sources.files import BOUNDARY_FILE, POSTCODE_FILE
from sview_assets.sources.images import panorama_tables
from sview_assets.sources.labels import build_lsoa_labels
from sview_assets.sources.postcodes import place_locations


class DeclarationsConfig(dg.Config):
    declaration_file: str = Field(
        default=DECLARATION_FILE,
        description="The city's outcome declarations under data/<city>/ (TOML: standard declarations, sources and outcomes; see docs/cities.md). "
        "Absent: the English 2011-era sources (IoD 2015, Census 2011, London income), each used where its file is in raw/.",
    )

    def declarations(self, paths: CityPaths) -> Declarations:
        return read_declarations(paths.city_file(self.declaration_file))


class PostcodeConfig(DeclarationsConfig):
    postcode_file: str = Field(
        default=POSTCODE_FILE,
        description="Postcode directory CSV under data/<city>/raw/ (img_id, lat, long and an area column: lsoa21cd, lsoa11cd, lsoa21, lsoa11 "
        "or area_code, plus pcds/pcd, oa and msoa columns if it has them), or a table of img_id, lat, long whose areas come from the boundary file.",
    )
    boundary_file: str = Field(
        default=BOUNDARY_FILE,
        description="Area boundaries (GeoJSON, long/lat) under raw/; places each location of a table without area codes in the area containing it.",
    )


KINDS = {"deltalake", "pandas"}


def build_label_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``postcode_locations`` and ``lsoa_labels``."""

    @dg.asset(
        **scope.asset_args(AssetName.POSTCODE_LOCATIONS, table=True),
        kinds=KINDS,
        automation_condition=start_a_new_city(),
        check_specs=check_specs(scope, AssetName.POSTCODE_LOCATIONS),
    )
    def postcode_locations(context: dg.AssetExecutionContext, config: PostcodeConfig, storage: Storage):
        """One row per image location (img_id) with its postcode, output area, LSOA (area), MSOA and coordinates.

        Read from the ONS Postcode Directory CSV in `data/<city>/raw/`; rows without an img_id are
        counted and left out. A city without such a directory gives a table of `img_id, lat, long`, or,
        when it has no location table at all, its panorama batches' `panoramas.csv` (id, lat, long) do:
        each location is then placed in the area of the boundary file that contains it (point in
        polygon), and `lsoa11` holds that area's code, whatever the file uses; a location outside every
        area keeps an empty `lsoa11`, is listed in the metadata and fails the `every_location_in_an_area`
        check. A boundary drawn invalid (a self-intersecting ring) is repaired, logged as a warning and
        listed in `boundary_repairs` with its area before and after; an empty one is refused. Stored in the city's warehouse as Delta table `postcode_locations`.
        """
        paths = storage.for_city(scope.city).paths
        paths.root.mkdir(parents=True, exist_ok=True)
        source_file = paths.raw_file(config.postcode_file)
        placed_locations = place_locations(
            source_file, paths.raw_file(config.boundary_file), config.declarations(paths).area_column, lambda: panorama_tables(paths.raw_images)
        )
        result, frame = placed_locations.read, placed_locations.locations
        placed = {}
        if placed_locations.boundary_file:
            outside = list(placed_locations.outside_every_area)
            if outside:
                context.log.warning(
                    f"{len(outside)} location(s) lie outside every area of {placed_locations.boundary_file} and have no area: img_id {outside[:20]}"
                )
            for repair in placed_locations.boundary_repairs:
                context.log.warning(f"{placed_locations.boundary_file}: {repair}")
            placed = {
                "areas_from": dg.MetadataValue.path(str(placed_locations.boundary_file)),
                "boundary_repairs": dg.MetadataValue.json(list(placed_locations.boundary_repairs)),
                "locations_outside_every_area": len(outside),
                "img_ids_outside_every_area": dg.MetadataValue.json(outside[:50]),
                "locations_in_several_areas": placed_locations.in_several_areas,
            }
        metadata = {
            "locations": len(frame),
            "lsoas": int(frame["lsoa11"].nunique()),
            "msoas": int(frame["msoa11"].nunique()),
            "rows_without_image": result.rows_without_image,
            "area_column": result.area_column or "(point in polygon)",
            "source_file": dg.MetadataValue.path(str(source_file)) if not result.panorama_batches else "(none: the panorama tables)",
            "panorama_batches": dg.MetadataValue.json(list(result.panorama_batches)),
            **placed,
            "preview": preview(frame),
        }
        yield dg.Output(frame, metadata=metadata)
        yield from location_check_results(frame)

    @dg.asset(
        **scope.asset_args(AssetName.LSOA_LABELS, table=True),
        ins={"postcode_locations": scope.table_in(AssetName.POSTCODE_LOCATIONS)},
        kinds=KINDS,
        automation_condition=start_a_new_city(),
        check_specs=check_specs(scope, AssetName.LSOA_LABELS),
    )
    def lsoa_labels(
        context: dg.AssetExecutionContext,
        config: DeclarationsConfig,
        storage: Storage,
        postcode_locations: pd.DataFrame,
    ):
        """Raw value and within-city decile of every declared outcome for every area of the city (long table).

        The outcomes are those declared in the city's `outcomes.toml` (standard English declarations and
        its own sources); a declaration naming a missing file or column fails the run with the
        declaration's line. Decile 1 is always the most deprived tenth of the city's areas (lowest
        income, highest share of bad health, rank 1 of a deprivation domain). Deciles are cut over the
        areas that have image locations, so national files can be used as they are. The city's outcomes are the ones its files
        provide: they become the `<city>__outcome` partitions of the models and predictions; every outcome not
        built is listed with the reason (missing file, missing column, no value for this city).
        """
        paths = storage.for_city(scope.city).paths
        declarations = config.declarations(paths)
        build = build_lsoa_labels(declarations, paths.raw, postcode_locations["lsoa11"].dropna().tolist())
        for finding in label_findings(build):
            (context.log.info if finding.ok else context.log.warning)(finding.text)
        added, removed = sync_outcome_partitions(context.instance, scope.outcomes.name, build.outcomes)
        context.log.info(f"{len(build.outcomes)} outcome(s) for this city: {', '.join(build.outcomes)}")
        if removed:
            context.log.warning(f"outcome partition(s) {removed} removed: their labels are gone (earlier prediction rows stay in the tables)")
        labels = build.labels
        counts = labels.groupby("outcome")["lsoa11"].count()
        metadata = {
            "rows": len(labels),
            "lsoas": int(labels["lsoa11"].nunique()),
            "outcomes": dg.MetadataValue.json({k: int(counts[k]) for k in build.outcomes}),
            "outcomes_not_built": dg.MetadataValue.json(build.outcomes_not_built),
            "outcome_partitions_added": dg.MetadataValue.json(added),
            "outcome_partitions_removed": dg.MetadataValue.json(removed),
            "declarations": dg.MetadataValue.path(str(declarations.path)) if declarations.from_file else "default English sources (no outcomes.toml)",
            "standard_declarations": dg.MetadataValue.json(list(declarations.standards)),
            "sources_read": dg.MetadataValue.json(build.sources_read),
            "sources_missing": dg.MetadataValue.json(build.sources_missing),
            "city_lsoas_without_label": dg.MetadataValue.json(build.lsoas_without_labels),
            "preview": preview(labels),
        }
        yield dg.Output(labels, metadata=metadata)
        yield from label_check_results(labels, postcode_locations)

    return [postcode_locations, lsoa_labels]
