"""The image-batch sensor of each city and the declarative-automation sensor.

A city's image-batch sensor (``<city>__image_batch_sensor``) is the only place where the pipeline
looks at the file system on its own: it registers new batches as the city's ``<city>__image_batch`` partitions,
requests features for batches that are new or whose features are stale, and
drops batches removed from ``raw/images/`` (requesting a training set without
them). Everything downstream follows from the asset graph: the automation
sensor evaluates each asset's condition (``conditions.py``).
"""

import os

import dagster as dg

from sview_assets.config.settings import Storage
from sview_assets.defs.jobs import FEATURES_JOB, LABELS_JOB, TRAINING_SET_JOB, AssetJob
from sview_assets.defs.resources import Vgg16Resource
from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import BatchScan, plan_image_batches
from sview_assets.sources.files import POSTCODE_FILE

SENSOR_INTERVAL_ENV = "SVIEW_SENSOR_INTERVAL_SECONDS"


def sensor_interval_seconds() -> int:
    """Seconds between two ticks of each sensor: ``$SVIEW_SENSOR_INTERVAL_SECONDS`` or 30."""
    value = os.environ.get(SENSOR_INTERVAL_ENV) or "30"
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV}={value!r}: expected a whole number of seconds, at least 1.")
    return int(value)


def build_image_batch_sensor(scope: CityScope, jobs: dict[str, AssetJob]) -> dg.SensorDefinition:
    """The city's image-batch sensor, launching its features, training-set and (for panorama locations) labels jobs."""
    image_features_job, training_set_job, labels_job = jobs[FEATURES_JOB], jobs[TRAINING_SET_JOB], jobs[LABELS_JOB]
    image_batch_partitions = scope.image_batches

    @dg.sensor(
        name=scope.name("image_batch_sensor"),
        jobs=[image_features_job, training_set_job, labels_job],
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=dg.DefaultSensorStatus.STOPPED,
    )
    def image_batch_sensor(context: dg.SensorEvaluationContext, storage: Storage, vgg16: Vgg16Resource) -> dg.SensorResult:
        """Registers new image batches under raw/images/ and requests features for new or stale ones
        (other image files, views, VGG16 weights or preprocessing than their feature file records); a batch
        removed from raw/images/ is unregistered and the training set rebuilt without it. In a city whose
        locations come from its panorama tables (no location table), a new or changed panorama batch also
        reads the locations and labels again.

        A tick fingerprints only the batches whose folder or archive changed, plus a few others in turn
        (see ``staleness.py``), so its cost follows the change, not the size of the city."""
        settings = storage.for_city(scope.city)
        plan = plan_image_batches(context.instance, settings, image_batch_partitions.name, vgg16.recipe(), BatchScan.from_cursor(context.cursor))
        for key, reasons in sorted(plan.reasons.items()):
            context.log.info(f"batch {key}: {'; '.join(reasons)}")
        requests = [
            dg.RunRequest(job_name=image_features_job.name, partition_key=key, run_key=f"{key}:{provenance.digest()}")
            for key, provenance in plan.to_extract.items()
        ]
        changed_panoramas = sorted(plan.scan.panoramas & set(plan.scan.fingerprinted))
        if changed_panoramas and not settings.paths.raw_file(POSTCODE_FILE).is_file():
            context.log.info(f"panorama batch(es) {', '.join(changed_panoramas)} new or changed: the locations are read again from their tables")
            requests.append(
                dg.RunRequest(job_name=labels_job.name, run_key="locations:" + ",".join(f"{k}={plan.scan.fingerprints[k]}" for k in changed_panoramas))
            )
        partition_requests = []
        if plan.to_register:
            partition_requests.append(image_batch_partitions.build_add_request(plan.to_register))
        if plan.removed:
            context.log.info(f"batch(es) no longer under raw/images/: {', '.join(plan.removed)}; the training set is rebuilt without them")
            partition_requests.append(image_batch_partitions.build_delete_request(plan.removed))
            # Once unregistered, the batches are not seen as removed again: this request is made once.
            requests.append(dg.RunRequest(job_name=training_set_job.name))
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=plan.scan.to_cursor())

    return image_batch_sensor


automation_sensor = dg.AutomationConditionSensorDefinition(
    "sview_automation",
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Evaluates every asset's automation condition: runs what its inputs changed once nothing upstream is missing or running, "
    "and retries failures each night.",
)
