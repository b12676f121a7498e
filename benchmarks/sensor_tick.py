"""What one tick of the image-batch sensor costs at London's file count.

Writes ``--batches`` folders of empty image files (London: 626,324 images, 63 batches of about
9,950), a feature file per batch with the provenance the sensor expects, then times the real sensor
(``image_batch_sensor`` through ``dg.build_sensor_context``): the first tick (no cursor: every file
stat'ed, what every tick cost before the cursor), a tick with nothing changed, a tick after a file
was added to one batch, and a tick after one batch folder was removed. Prints JSON; the target is a
quiet tick under 2 s.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit  # noqa: E402

LONDON_IMAGES = 626_324


def write_city(settings, batches: int, images: int) -> None:
    per_batch = -(-images // batches)
    img_id = 0
    for b in range(batches):
        folder = settings.paths.raw_images / f"batch_{b:03d}"
        folder.mkdir(parents=True)
        for _ in range(per_batch // 4):
            for heading in "abcd":
                (folder / f"{img_id}_{heading}.png").touch()
            img_id += 1


def write_current_features(settings, recipe) -> None:
    from sview_assets.ml.features.feature_store import FeatureProvenance, write_feature_file
    from sview_assets.sources.images import find_batches

    for batch in find_batches(settings.paths.raw_images):
        provenance = FeatureProvenance.of(batch.fingerprint(), recipe)
        write_feature_file(settings.paths.feature_file(batch.key), np.zeros(0, np.int64), np.zeros((0, 4, 4096), np.float32), provenance.as_attrs())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=63)
    parser.add_argument("--images", type=int, default=LONDON_IMAGES)
    args = parser.parse_args()

    import dagster as dg

    from sview_assets.config.settings import SviewSettings
    from sview_assets.definitions import build_city
    from sview_assets.defs.resources import Vgg16Resource

    with tempfile.TemporaryDirectory() as folder:
        settings = SviewSettings(data_root=folder, city="london_size")
        [image_batch_sensor] = build_city(settings.city).sensors
        start = time.perf_counter()
        write_city(settings, args.batches, args.images)
        vgg16 = Vgg16Resource(weights_file="", random_seed=0)
        recipe = vgg16.recipe()
        write_current_features(settings, recipe)
        setup_seconds = time.perf_counter() - start
        instance = dg.DagsterInstance.ephemeral()
        cursor = None

        def tick() -> tuple[float, dg.SensorResult]:
            nonlocal cursor
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"storage": settings.storage(), "vgg16": vgg16})
            begin = time.perf_counter()
            result = image_batch_sensor(context)
            seconds = time.perf_counter() - begin
            cursor = result.cursor
            for request in result.dynamic_partitions_requests:
                if isinstance(request, dg.AddDynamicPartitionsRequest):
                    instance.add_dynamic_partitions("london_size__image_batch", list(request.partition_keys))
                else:
                    for key in request.partition_keys:
                        instance.delete_dynamic_partition("london_size__image_batch", key)
            return seconds, result

        first, result = tick()
        assert not result.run_requests, "every batch has current features"
        quiet = [tick()[0] for _ in range(3)]
        (settings.paths.raw_images / "batch_010" / "999999999_a.png").touch()
        added, result = tick()
        assert [r.partition_key for r in result.run_requests] == ["batch_010"], result.run_requests
        shutil.rmtree(settings.paths.raw_images / "batch_020")
        removed, result = tick()
        assert [r.job_name for r in result.run_requests] == ["image_features_job", "training_set_job"]
        emit(
            {
                "benchmark": "sensor_tick",
                "batches": args.batches,
                "image_files": args.images,
                "setup_seconds": round(setup_seconds, 1),
                "first_tick_seconds_every_file_stated": round(first, 2),
                "quiet_tick_seconds": round(max(quiet), 3),
                "tick_after_a_file_was_added_seconds": round(added, 3),
                "tick_after_a_batch_was_removed_seconds": round(removed, 3),
                "quiet_over_first": round(max(quiet) / first, 3),
                "target_quiet_tick_seconds": 2.0,
            }
        )


if __name__ == "__main__":
    main()
