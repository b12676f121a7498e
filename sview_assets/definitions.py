"""The sview code location: every asset, check, job, sensor and schedule in one place."""

from __future__ import annotations

import dagster as dg

from .assets.features import training_set, vgg16_features
from .assets.images import image_manifest
from .assets.labels import lsoa_labels, postcode_locations
from .checks import LABEL_CHECKS
from .resources import Vgg16Resource, warehouse_resources
from .settings import SviewSettings

ASSETS = [postcode_locations, lsoa_labels, image_manifest, vgg16_features, training_set]

labels_job = dg.define_asset_job("labels_job", selection=[postcode_locations, lsoa_labels], description="Read the label sources and postcode directory into DuckDB.")
image_features_job = dg.define_asset_job("image_features_job", selection=[image_manifest, vgg16_features], description="Manifest and VGG16 features of one image batch.")
training_set_job = dg.define_asset_job("training_set_job", selection=[training_set], description="Rebuild the HDF5 training set from every batch's features.")
JOBS = [labels_job, image_features_job, training_set_job]


def build_definitions(settings: SviewSettings | None = None, vgg16: Vgg16Resource | None = None) -> dg.Definitions:
    """Definitions for one city; tests pass settings rooted in a temporary folder."""
    settings = settings or SviewSettings.from_env()
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=LABEL_CHECKS,
        jobs=JOBS,
        resources={"settings": settings, "vgg16": vgg16 or Vgg16Resource.from_env(), **warehouse_resources(settings)},
    )


defs = build_definitions()
