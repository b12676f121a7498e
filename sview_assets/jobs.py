"""Named asset jobs: selections of the asset graph that the UI and the tests launch by name.

Each job is only a selection; the order of its steps comes from the asset graph. Running everything
is not a job: it is a backfill of every asset ("Materialize all" in the UI) or ``python -m
sview_assets.pipeline``.
"""

import dagster as dg

from .assets.features import training_set, vgg16_features
from .assets.images import image_manifest
from .assets.labels import lsoa_labels, postcode_locations
from .assets.predictions import location_predictions, lsoa_predictions, model_metrics
from .assets.training import ordinal_model
from .assets.views import warehouse_views

LABELS_JOB = "labels_job"
FEATURES_JOB = "image_features_job"
TRAINING_SET_JOB = "training_set_job"
OUTCOME_JOB = "retrain_outcome"
VIEWS_JOB = "views_job"

labels_job = dg.define_asset_job(
    LABELS_JOB, selection=[postcode_locations, lsoa_labels], description="Read the label sources and postcode directory into the warehouse."
)
image_features_job = dg.define_asset_job(
    FEATURES_JOB, selection=[image_manifest, vgg16_features], description="Manifest and VGG16 features of one image batch (pick the partition)."
)
training_set_job = dg.define_asset_job(TRAINING_SET_JOB, selection=[training_set], description="Rebuild the HDF5 training set from every batch's features.")
retrain_outcome_job = dg.define_asset_job(
    OUTCOME_JOB,
    selection=[ordinal_model, location_predictions, lsoa_predictions, model_metrics],
    description="Retrain one outcome (pick the partition) and refresh its predictions and metrics.",
)
views_job = dg.define_asset_job(VIEWS_JOB, selection=[warehouse_views], description="Refresh the metrics_summary and lsoa_predictions_wide views.")

JOBS = [labels_job, image_features_job, training_set_job, retrain_outcome_job, views_job]
