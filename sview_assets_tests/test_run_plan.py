"""The CLI's stages come from the asset graph: the grouping a backfill of every asset would use."""

import dagster as dg

from sview_assets.definitions import ASSETS
from sview_assets.run_plan import plan_stages


def test_the_asset_graph_gives_five_stages_with_one_partitions_definition_each():
    stages = plan_stages(ASSETS)
    assert [(s.label, s.partitions_def.name if s.partitions_def else None) for s in stages] == [
        ("lsoa_labels, postcode_locations", None),
        ("image_manifest, vgg16_features", "image_batch"),
        ("training_set", None),
        ("location_predictions, lsoa_predictions, model_metrics, ordinal_model", "outcome"),
        ("warehouse_views", None),
    ]


def test_an_asset_joins_its_parents_run_only_when_it_shares_their_partitions():
    letters = dg.StaticPartitionsDefinition(["a", "b"])

    @dg.asset
    def root(): ...

    @dg.asset(partitions_def=letters, deps=[root])
    def per_letter(): ...

    @dg.asset(partitions_def=letters, deps=[per_letter])
    def per_letter_too(): ...

    @dg.asset(deps=[root])
    def beside_root(): ...

    @dg.asset(deps=[per_letter_too, beside_root])
    def summary(): ...

    stages = plan_stages([summary, per_letter_too, beside_root, per_letter, root])
    assert [s.label for s in stages] == ["beside_root, root", "per_letter, per_letter_too", "summary"]
