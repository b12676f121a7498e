"""The CLI's stages come from the asset graph: the grouping a backfill of every asset would use."""

import dagster as dg

from sview_assets.cli.run_plan import plan_stages
from sview_assets.definitions import build_city


def test_the_asset_graph_gives_five_stages_with_one_partitions_definition_each():
    stages = plan_stages(build_city("x").assets)
    assert [(s.label, s.partitions_def.name if s.partitions_def else None) for s in stages] == [
        ("x/lsoa_labels, x/postcode_locations", None),
        ("x/image_manifest, x/vgg16_features", "x__image_batch"),
        ("x/training_set", None),
        ("x/location_predictions, x/lsoa_predictions, x/model_metrics, x/ordinal_model", "x__outcome"),
        ("x/lsoa_geopackage, x/warehouse_views", None),
    ]


def test_two_cities_never_share_a_run():
    stages = plan_stages([*build_city("a").assets, *build_city("b").assets])
    assert len(stages) == 10
    assert all(len({key.path[0] for key in stage.assets}) == 1 for stage in stages)
    assert [s.label for s in stages[:2]] == ["a/lsoa_labels, a/postcode_locations", "b/lsoa_labels, b/postcode_locations"]


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


def test_a_city_has_exactly_the_registered_assets_and_street_view_only_when_it_opts_in():
    from .helpers import ALL_ASSETS

    names = {key.path[-1] for asset in build_city("x").assets for key in asset.keys}
    assert names == set(ALL_ASSETS)
    assert {key.path[-1] for asset in build_city("x", streetview=True).assets for key in asset.keys} == names | {"streetview_images"}
