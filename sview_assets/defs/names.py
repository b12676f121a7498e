"""Names the Dagster wiring shares, declared once: every asset of a city's graph (and of a transfer pair),
and the op tag that marks TensorFlow steps (the executors limit how many run at once)."""

from enum import StrEnum


class AssetName(StrEnum):
    """The last part of each asset key (``<city>/<name>``); a ``str``, so it goes wherever a name does."""

    POSTCODE_LOCATIONS = "postcode_locations"
    LSOA_LABELS = "lsoa_labels"
    STREETVIEW_IMAGES = "streetview_images"
    IMAGE_MANIFEST = "image_manifest"
    VGG16_FEATURES = "vgg16_features"
    TRAINING_SET = "training_set"
    ORDINAL_MODEL = "ordinal_model"
    LOCATION_PREDICTIONS = "location_predictions"
    LSOA_PREDICTIONS = "lsoa_predictions"
    MODEL_METRICS = "model_metrics"
    WAREHOUSE_VIEWS = "warehouse_views"
    LSOA_GEOPACKAGE = "lsoa_geopackage"
    TRANSFER_METRICS = "transfer_metrics"
    TRANSFER_SUMMARY = "transfer_summary"


TENSORFLOW_TAG_KEY = "sview/tensorflow"
TENSORFLOW_TAG = {TENSORFLOW_TAG_KEY: "true"}
"""Op tag of the steps that run TensorFlow (features, training, transfer)."""
