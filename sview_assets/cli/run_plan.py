"""The runs that materialize a whole asset graph, in the order the graph gives, as a backfill groups them.

An asset joins the run of its parents when it has their partitions (the chain model -> predictions
-> metrics of one outcome is one run); it starts a later stage when a parent has other partitions
(the training set waits for the features of every batch). Assets under different key prefixes (the
cities) never share a run, so one city's failure does not stop another's. Nothing here names an asset.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import TopologicalSorter

import dagster as dg


@dataclass(frozen=True)
class Stage:
    """Assets materialized together, one run per partition of ``partitions_def`` (one run when None)."""

    assets: tuple[dg.AssetKey, ...]
    partitions_def: dg.PartitionsDefinition | None

    @property
    def label(self) -> str:
        return ", ".join(key.to_user_string() for key in self.assets)


def plan_stages(assets: list[dg.AssetsDefinition]) -> list[Stage]:
    """Stages in dependency order; every asset of a stage has the stage's partitions."""
    partitions = {key: asset.partitions_def for asset in assets for key in asset.keys}
    parents = {key: {dep for dep in asset.asset_deps[key] if dep in partitions} for asset in assets for key in asset.keys}
    level: dict[dg.AssetKey, int] = {}
    for key in TopologicalSorter(parents).static_order():
        level[key] = max((level[p] + (partitions[p] != partitions[key]) for p in parents[key]), default=0)
    groups: dict[tuple[int, str, tuple[str, ...]], list[dg.AssetKey]] = {}
    # Within a level, unpartitioned assets first: they are cheap, and a failure there shows early.
    for key in sorted(level, key=lambda k: (level[k], partitions[k] is not None, k.to_user_string())):
        groups.setdefault((level[key], repr(partitions[key]), tuple(key.path[:-1])), []).append(key)
    return [Stage(tuple(keys), partitions[keys[0]]) for keys in groups.values()]
