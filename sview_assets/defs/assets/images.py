"""Image stage: each batch's manifest of locations, headings and problems."""

import dagster as dg
import pandas as pd
from pydantic import Field

from sview_assets.config.declarations import DECLARATION_FILE
from sview_assets.config.settings import Storage
from sview_assets.defs.metadata import preview
from sview_assets.defs.names import AssetName
from sview_assets.defs.preflight import batch_finding
from sview_assets.defs.resources import Vgg16Resource
from sview_assets.defs.scope import CityScope
from sview_assets.ml.threads import available_cores
from sview_assets.sources.city_options import panorama_cut
from sview_assets.sources.images import ExtractionLimits, batch_manifest, find_batch, stage_batch, with_unusable
from sview_assets.sources.panoramas import PHOTOS, cut_panorama_batch, find_panorama_table

_LIMITS = ExtractionLimits()


class ImageBatchConfig(dg.Config):
    """Limits on unpacking one batch archive (a small archive must not fill the disk)."""

    max_batch_gb: float = Field(default=_LIMITS.max_total_bytes / 2**30, description="Most bytes (GiB) one batch archive may unpack to.")
    max_compression_ratio: float = Field(
        default=_LIMITS.max_ratio, description="Most a member (or a compressed tar) may expand relative to its stored size; images barely compress."
    )

    def limits(self) -> ExtractionLimits:
        return ExtractionLimits(max_total_bytes=int(self.max_batch_gb * 2**30), max_ratio=self.max_compression_ratio)


def build_image_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``image_manifest`` (one partition per image batch)."""

    @dg.asset(
        **scope.asset_args(AssetName.IMAGE_MANIFEST, table=True),
        partitions_def=scope.image_batches,
        metadata={"partition_expr": "batch"},
        kinds={"deltalake", "pandas"},
    )
    def image_manifest(context: dg.AssetExecutionContext, config: ImageBatchConfig, storage: Storage, vgg16: Vgg16Resource) -> pd.DataFrame:
        """What one image batch holds: per img_id, the headings present, file paths, and any problem.

        Archives are extracted (safely: no absolute paths, '..' or links; bounded total size and compression
        ratio, see the config) to `data/<city>/images/<batch>/`. A panorama batch (one holding
        `panoramas.csv`) has each panorama cut into its four views at compass headings 0, 90, 180 and 270,
        as the city's `[panoramas]` options say, in `data/<city>/views/<batch>/` (reused while the files and
        the cut are the same); a panorama that is not 2:1 or cannot be read is listed with the reason.
        Images are checked from their headers only: empty files, more than 40 MP, or more elongated than
        8:1 are refused with the reason. A location is usable when its four headings (a, b, c, d) exist and
        decode. Stored in table `image_manifest`, one partition per batch (column `batch`); column
        `source_fingerprint` names the state of the batch's files it lists and column `views` how its views
        were made (`photos`, or the panorama cut), which its features must match.
        """
        batch = context.partition_key
        settings = storage.for_city(scope.city)
        source = find_batch(settings.paths.raw_images, batch)
        fingerprint = source.fingerprint()
        finding = batch_finding(settings, source, fingerprint, vgg16.recipe(), source.locations())
        (context.log.info if finding.ok else context.log.warning)(finding.text)
        folder = stage_batch(source, settings.paths.staged_images, config.limits())
        table = find_panorama_table(folder)
        views, cut_metadata = PHOTOS, {}
        if table is not None:
            cut = panorama_cut(settings.paths.city_file(DECLARATION_FILE))
            views = cut.describe()

            def progress(done: int, total: int) -> None:
                if done % 200 == 0 or done == total:
                    context.log.info(f"batch {batch}: {done}/{total} panoramas cut into views")

            result = cut_panorama_batch(table, settings.paths.panorama_views / batch, cut, fingerprint, progress, available_cores())
            context.log.info(f"batch {batch}: {len(result.table)} panoramas, views {'reused' if result.reused else 'cut'} in {result.folder} ({views})")
            folder = result.folder
            manifest = with_unusable(batch_manifest(folder, batch), batch, result.problems)
            cut_metadata = {
                "panoramas": len(result.table),
                "panoramas_refused": len(result.problems),
                "views_folder": dg.MetadataValue.path(str(result.folder)),
                "views_reused": result.reused,
            }
        else:
            manifest = batch_manifest(folder, batch)
        manifest["source_fingerprint"] = fingerprint
        manifest["views"] = views
        located = manifest[manifest["img_id"] >= 0]
        problems = manifest[~manifest["usable"]]
        context.add_output_metadata(
            {
                "locations": len(located),
                "usable_locations": int(located["usable"].sum()),
                "locations_with_problems": len(problems),
                "source": dg.MetadataValue.path(str(source.path)),
                "source_fingerprint": fingerprint,
                "views": views,
                **cut_metadata,
                "problems": preview(problems[["img_id", "headings", "problems"]], rows=20) if len(problems) else "none",
            }
        )
        return manifest

    return [image_manifest]
