"""Partitions: image batches (dynamic, registered by a sensor) and outcomes (static, from the registry)."""

import dagster as dg

from .outcomes import OUTCOME_KEYS

image_batch_partitions = dg.DynamicPartitionsDefinition(name="image_batch")
outcome_partitions = dg.StaticPartitionsDefinition(list(OUTCOME_KEYS))
