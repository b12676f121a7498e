"""Partitions: image batches and outcomes, both dynamic because both come from the city's files.

``image_batch`` keys are registered by the image sensor (or the CLI) for each
batch found under ``raw/images/``; ``outcome`` keys are registered by
``lsoa_labels`` for exactly the outcomes the city's label files provide.
"""

import dagster as dg

image_batch_partitions = dg.DynamicPartitionsDefinition(name="image_batch")
outcome_partitions = dg.DynamicPartitionsDefinition(name="outcome")


def sync_outcome_partitions(instance: dg.DagsterInstance, outcomes: list[str]) -> tuple[list[str], list[str]]:
    """Make the ``outcome`` partitions exactly ``outcomes``; return (added, removed)."""
    registered = set(instance.get_dynamic_partitions(outcome_partitions.name))
    added = [o for o in outcomes if o not in registered]
    removed = sorted(registered - set(outcomes))
    if added:
        instance.add_dynamic_partitions(outcome_partitions.name, added)
    for outcome in removed:
        instance.delete_dynamic_partition(outcome_partitions.name, outcome)
    return added, removed
