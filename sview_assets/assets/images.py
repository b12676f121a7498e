"""Image stage: each batch's manifest of locations, headings and problems."""

import dagster as dg
import pandas as pd

from ..metadata import preview
from ..partitions import image_batch_partitions
from ..settings import SviewSettings
from ..sources.images import BatchSource, batch_manifest, find_batches, stage_batch

GROUP = "images"


@dg.asset(
    group_name=GROUP,
    partitions_def=image_batch_partitions,
    metadata={"partition_expr": "batch"},
    kinds={"duckdb", "pandas"},
)
def image_manifest(context: dg.AssetExecutionContext, settings: SviewSettings) -> pd.DataFrame:
    """What one image batch holds: per img_id, the headings present, file paths, and any problem.

    Archives are extracted (safely: no absolute paths, '..' or links) to `data/<city>/images/<batch>/`.
    A location is usable when its four headings (a, b, c, d) exist and decode. Stored in table
    `image_manifest`, one partition per batch (column `batch`); column `source_fingerprint` names the
    state of the batch's files it lists, which its features must match.
    """
    batch = context.partition_key
    source = find_batch(settings, batch)
    fingerprint = source.fingerprint()
    folder = stage_batch(source, settings.paths.staged_images)
    manifest = batch_manifest(folder, batch)
    manifest["source_fingerprint"] = fingerprint
    located = manifest[manifest["img_id"] >= 0]
    problems = manifest[~manifest["usable"]]
    context.add_output_metadata(
        {
            "locations": len(located),
            "usable_locations": int(located["usable"].sum()),
            "locations_with_problems": len(problems),
            "source": dg.MetadataValue.path(str(source.path)),
            "source_fingerprint": fingerprint,
            "problems": preview(problems[["img_id", "headings", "problems"]], rows=20) if len(problems) else "none",
        }
    )
    return manifest


def find_batch(settings: SviewSettings, batch: str) -> BatchSource:
    """The folder or archive of a registered batch, or a clear error if it is gone."""
    sources = {b.key: b for b in find_batches(settings.paths.raw_images)}
    if batch not in sources:
        raise FileNotFoundError(f"Image batch {batch!r} is registered but no folder or archive for it exists under {settings.paths.raw_images}.")
    return sources[batch]
