"""Jobs, the image-batch sensor, the stale-refresh schedule and declarative automation."""

import dagster as dg
from pydantic import Field

from .assets.features import training_set, vgg16_features
from .assets.images import image_manifest
from .assets.labels import lsoa_labels, postcode_locations
from .assets.predictions import location_predictions, lsoa_predictions, model_metrics
from .assets.training import TrainConfig, ordinal_model
from .assets.views import warehouse_views
from .partitions import image_batch_partitions, outcome_partitions
from .pipeline import FEATURES_JOB, LABELS_JOB, OUTCOME_JOB, TRAINING_SET_JOB, VIEWS_JOB, run_whole_pipeline
from .resources import Vgg16Resource
from .settings import SviewSettings
from .staleness import plan_image_batches, stale_outcomes, training_set_is_stale

labels_job = dg.define_asset_job(
    LABELS_JOB, selection=[postcode_locations, lsoa_labels], description="Read the label sources and postcode directory into the warehouse."
)
image_features_job = dg.define_asset_job(
    FEATURES_JOB, selection=[image_manifest, vgg16_features], description="Manifest and VGG16 features of one image batch."
)
training_set_job = dg.define_asset_job(TRAINING_SET_JOB, selection=[training_set], description="Rebuild the HDF5 training set from every batch's features.")
retrain_outcome_job = dg.define_asset_job(
    OUTCOME_JOB,
    selection=[ordinal_model, location_predictions, lsoa_predictions, model_metrics],
    description="Retrain one outcome (pick the partition) and refresh its predictions and metrics.",
)
views_job = dg.define_asset_job(VIEWS_JOB, selection=[warehouse_views], description="Refresh the metrics_summary and lsoa_predictions_wide views.")


class WholePipelineConfig(dg.Config):
    outcomes: list[str] = Field(default=[], description="Outcomes to train; empty means every outcome the city's label files provide.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Hyper-parameters for every outcome's model.")


@dg.op(description="Materialize every asset for the city: labels, new or changed image batches, training set, each outcome, views.")
def materialize_city(context: dg.OpExecutionContext, config: WholePipelineConfig, settings: SviewSettings, vgg16: Vgg16Resource) -> None:
    from .definitions import build_definitions

    defs = build_definitions(settings, vgg16)
    report = run_whole_pipeline(
        defs, context.instance, settings, outcomes=config.outcomes or None, train_config=config.train.model_dump(), log=context.log.info
    )
    if not report.success:
        raise dg.Failure(f"{len(report.failed)} stage(s) failed: {', '.join(report.failed)}", metadata={"runs": dg.MetadataValue.json(report.runs)})
    context.log.info(f"whole pipeline done in {len(report.runs)} runs")


@dg.job(description="The whole pipeline for the configured city, stage by stage (each stage is its own recorded run).")
def whole_pipeline():
    materialize_city()


@dg.sensor(job=image_features_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED)
def image_batch_sensor(context: dg.SensorEvaluationContext, settings: SviewSettings, vgg16: Vgg16Resource) -> dg.SensorResult:
    """Registers new image batches under raw/images/ and requests features for new or stale ones
    (other image files, VGG16 weights or preprocessing than their feature file records)."""
    plan = plan_image_batches(context.instance, settings, image_batch_partitions.name, vgg16.recipe())
    for key, reasons in sorted(plan.reasons.items()):
        context.log.info(f"batch {key}: {'; '.join(reasons)}")
    requests = [dg.RunRequest(partition_key=key, run_key=f"{key}:{provenance.digest()}") for key, provenance in plan.to_extract.items()]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[image_batch_partitions.build_add_request(plan.to_register)] if plan.to_register else [],
    )


@dg.schedule(cron_schedule="0 2 * * *", job_name=TRAINING_SET_JOB, default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_training_set_schedule(context: dg.ScheduleEvaluationContext):
    """Nightly at 02:00: rebuild the training set if some batch's features are newer than it."""
    batches = context.instance.get_dynamic_partitions(image_batch_partitions.name)
    if not training_set_is_stale(context.instance, batches):
        return dg.SkipReason("The training set is newer than every batch's features.")
    return dg.RunRequest(run_key=f"training_set:{context.scheduled_execution_time.isoformat()}")


@dg.schedule(cron_schedule="0 3 * * *", job_name=OUTCOME_JOB, default_status=dg.DefaultScheduleStatus.STOPPED)
def stale_outcomes_schedule(context: dg.ScheduleEvaluationContext):
    """Nightly at 03:00: retrain each outcome whose model is older than the training set or whose metrics are older than its model."""
    outcomes = stale_outcomes(context.instance, context.instance.get_dynamic_partitions(outcome_partitions.name))
    if not outcomes:
        return dg.SkipReason("Every outcome is up to date.")
    return [dg.RunRequest(partition_key=o, run_key=f"{o}:{context.scheduled_execution_time.isoformat()}") for o in outcomes]


automation_sensor = dg.AutomationConditionSensorDefinition(
    "sview_automation",
    target=dg.AssetSelection.all(),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Runs downstream assets once their inputs changed and nothing upstream is still running.",
)

JOBS = [labels_job, image_features_job, training_set_job, retrain_outcome_job, views_job, whole_pipeline]
SENSORS = [image_batch_sensor, automation_sensor]
SCHEDULES = [stale_training_set_schedule, stale_outcomes_schedule]
