"""Partitions: image batches and outcomes, both dynamic because both come from the city's files.

Each city has its own pair (see :class:`~sview_assets.defs.scope.CityScope`): ``<city>__image_batch`` keys
are registered by the city's image sensor (or the CLI) for each batch found under its
``raw/images/``; ``<city>__outcome`` keys by its ``lsoa_labels`` for exactly the outcomes the city's
label files provide.
"""

import dagster as dg


def sync_outcome_partitions(instance: dg.DagsterInstance, partitions_name: str, outcomes: list[str]) -> tuple[list[str], list[str]]:
    """Make the outcome partitions ``partitions_name`` exactly ``outcomes``; return (added, removed)."""
    registered = set(instance.get_dynamic_partitions(partitions_name))
    added = [o for o in outcomes if o not in registered]
    removed = sorted(registered - set(outcomes))
    if added:
        instance.add_dynamic_partitions(partitions_name, added)
    for outcome in removed:
        instance.delete_dynamic_partition(partitions_name, outcome)
    return added, removed
