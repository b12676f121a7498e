"""Prediction stage: location and LSOA predictions and metrics per outcome, as versioned warehouse tables.

Every row carries the `model_version` of the models it came from; the warehouse keeps the last few
versions of each outcome (the `_history` views) and shows the newest under the table's own name.
"""

import base64

import dagster as dg
import pandas as pd

from sview_assets.config.settings import Storage
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.intervals_config import IntervalsConfig
from sview_assets.defs.metadata import figure_markdown, preview
from sview_assets.defs.names import AssetName
from sview_assets.defs.scope import CityScope
from sview_assets.ml.evaluation.aggregate import METHODS, aggregate_lsoas
from sview_assets.ml.evaluation.metrics import confusion_matrix, decile_metrics
from sview_assets.ml.training.model_folder import read_out_of_fold
from sview_assets.ml.training.model_version import read_model_version
from sview_assets.ml.training.ordinal import predicted_decile
from sview_assets.sources.boundaries import read_area_boundaries
from sview_assets.sources.files import BOUNDARY_FILE
from sview_assets.sources.images import HEADINGS
from sview_assets.warehouse.delta_io import read_whole_table
from sview_assets.warehouse.tables import VERSION_COLUMN, VERSIONED_METADATA_KEY

OUTCOME_PARTITION = {"partition_expr": "outcome", VERSIONED_METADATA_KEY: VERSION_COLUMN}
KINDS = {"deltalake", "pandas"}


def build_prediction_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``location_predictions``, ``lsoa_predictions`` and ``model_metrics`` (one partition per outcome)."""
    common = {
        "partitions_def": scope.outcomes,
        "metadata": OUTCOME_PARTITION,
        "kinds": KINDS,
    }

    @dg.asset(
        **scope.asset_args(AssetName.LOCATION_PREDICTIONS, table=True),
        deps=[scope.key(AssetName.ORDINAL_MODEL)],
        automation_condition=keep_up_to_date(),
        **common,
    )
    def location_predictions(context: dg.AssetExecutionContext, storage: Storage) -> pd.DataFrame:
        """Out-of-fold score, predicted decile (most probable class), true decile and fold for every location.

        Table `location_predictions`; one partition per outcome (column `outcome`) and model version
        (column `model_version`): re-running an outcome replaces exactly its rows for that version.
        """
        outcome = context.partition_key
        settings = storage.for_city(scope.city)
        oof = read_out_of_fold(settings.paths.model_dir(outcome), f"{settings.city}/ordinal_model[{outcome}]")
        version = read_model_version(settings.paths.model_dir(outcome))
        frame = pd.DataFrame(
            {
                "outcome": outcome,
                "img_id": oof["img_id"].astype("int64"),
                "pcd": oof["pcd"],
                "lsoa11": oof["lsoa11"],
                "fold": oof["fold"].astype("int64"),
                "score": oof["score"].astype("float64"),
                "predicted_decile": predicted_decile(oof["score"].to_numpy()).astype("int64"),
                "true_decile": oof["true_decile"].astype("int64"),
                VERSION_COLUMN: version.model_version,
            }
        )
        exact = float((frame["predicted_decile"] == frame["true_decile"]).mean())
        context.add_output_metadata({"locations": len(frame), "location_exact_accuracy": round(exact, 3), "preview": preview(frame)})
        return frame

    @dg.asset(
        **scope.asset_args(AssetName.LSOA_PREDICTIONS, table=True),
        ins={"location_predictions": scope.table_in(AssetName.LOCATION_PREDICTIONS)},
        automation_condition=keep_up_to_date(),
        **common,
    )
    def lsoa_predictions(context: dg.AssetExecutionContext, location_predictions: pd.DataFrame) -> pd.DataFrame:
        """Per LSOA: locations, mean out-of-fold score, predicted and true decile, by two aggregation methods.

        `method = 'score_mean'`: LSOA mean score cut into deciles across LSOAs (the paper's README).
        `method = 'decile_mean'`: location scores cut into deciles, then the LSOA mean rounded (the
        original aggregation code). Table `lsoa_predictions`, one partition per outcome.
        """
        outcome = context.partition_key
        frame = aggregate_lsoas(location_predictions)
        frame.insert(0, "outcome", outcome)
        frame[VERSION_COLUMN] = _one_version(location_predictions, "location_predictions", outcome)
        context.add_output_metadata({"lsoas": int(frame["lsoa11"].nunique()), "preview": preview(frame)})
        return frame

    @dg.asset(
        **scope.asset_args(AssetName.MODEL_METRICS, table=True),
        ins={"lsoa_predictions": scope.table_in(AssetName.LSOA_PREDICTIONS), "postcode_locations": scope.table_in(AssetName.POSTCODE_LOCATIONS)},
        # Every batch's manifest, read whole (the I/O manager loads one partition per input), finds the contact sheet's pictures.
        deps=[dg.AssetDep(scope.key(AssetName.IMAGE_MANIFEST), partition_mapping=dg.AllPartitionMapping())],
        # The locations only place the map and the manifest only finds the pictures of the contact sheet; a change
        # of either reaches the metrics again through the models.
        automation_condition=keep_up_to_date(ignore=dg.AssetSelection.assets(scope.key(AssetName.POSTCODE_LOCATIONS), scope.key(AssetName.IMAGE_MANIFEST))),
        **common,
    )
    def model_metrics(
        context: dg.AssetExecutionContext,
        config: IntervalsConfig,
        storage: Storage,
        lsoa_predictions: pd.DataFrame,
        postcode_locations: pd.DataFrame,
    ) -> pd.DataFrame:
        """LSOA-level agreement of predicted and true deciles, per aggregation method, each with its interval.

        Kendall's tau-b, exact accuracy, within-one-decile accuracy, mean absolute decile error and
        number of LSOAs; for the first three a 95% bootstrap interval over LSOAs (`<metric>_low`,
        `<metric>_high`) and for tau-b a permutation p-value (see the config); the confusion matrices and a map of predicted vs true deciles are plots in the
        metadata. The map draws area polygons from `raw/area_boundaries.geojson` when that file exists,
        else LSOA centroids (mean location of their postcodes), in kilometres around the city's centre, and is
        also written to `data/<city>/maps/<outcome>_deciles.png`. A contact sheet shows the four views of two
        locations of each of the three areas predicted most and least deprived, beside their true and predicted
        deciles (also `data/<city>/maps/<outcome>_contact_sheet.png`). Table `model_metrics`, one partition per
        outcome; see the `metrics_summary` view.
        """
        from sview_assets.figures.plots import confusion_heatmap

        outcome = context.partition_key
        settings = storage.for_city(scope.city)
        version = read_model_version(settings.paths.model_dir(outcome))
        made_from = _one_version(lsoa_predictions, "lsoa_predictions", outcome)
        if made_from != version.model_version:
            raise ValueError(
                f"lsoa_predictions[{outcome}] comes from model version {made_from} but the models are now {version.model_version}; "
                f"materialize location_predictions and lsoa_predictions for {outcome} first."
            )
        boundary_file = settings.paths.raw / BOUNDARY_FILE
        boundaries = read_area_boundaries(boundary_file) if boundary_file.is_file() else None
        rows, plots = [], {}
        for method in METHODS:
            part = lsoa_predictions[lsoa_predictions["method"] == method]
            metrics = decile_metrics(part["predicted_decile"].to_numpy(), part["true_decile"].to_numpy(), config.interval_settings())
            rows.append({"outcome": outcome, "method": method, **metrics, **version.columns()})
            plots[f"confusion_{method}"] = figure_markdown(
                confusion_heatmap(confusion_matrix(part["predicted_decile"], part["true_decile"]), f"{outcome} ({method})")
            )
            if method == METHODS[0]:
                plots.update(_map_and_contact_sheet(settings, outcome, part, postcode_locations, boundaries))
        frame = pd.DataFrame(rows)
        context.add_output_metadata(
            {
                "trained_at": version.trained_at,
                **{f"kendall_tau_b_{r['method']}": f"{r['kendall_tau_b']:.3f} [{r['kendall_tau_b_low']:.3f}, {r['kendall_tau_b_high']:.3f}]" for r in rows},
                **{f"kendall_tau_b_p_value_{r['method']}": round(r["kendall_tau_b_p_value"], 4) for r in rows},
                "intervals": config.interval_settings().describe(),
                **{f"accuracy_{r['method']}": round(r["accuracy"], 4) for r in rows},
                "metrics": preview(frame),
                "map_geometry": "boundaries" if boundaries is not None else "centroids",
                **plots,
            }
        )
        return frame

    return [location_predictions, lsoa_predictions, model_metrics]


def _map_and_contact_sheet(settings, outcome: str, areas: pd.DataFrame, locations: pd.DataFrame, boundaries) -> dict:
    """The map of true vs predicted deciles (area outlines, else the areas' mean locations) and the contact sheet, as metadata."""
    from sview_assets.figures.plots import decile_map

    located = areas.join(locations.groupby("lsoa11")[["lat", "long"]].mean(), on="lsoa11")
    figure = decile_map(located, f"{settings.city}, {outcome}: true vs predicted LSOA deciles", boundaries)
    return {
        "map_score_mean": figure_markdown(figure, also_to=settings.paths.map_file(outcome)),
        "map_file": dg.MetadataValue.path(str(settings.paths.map_file(outcome))),
        **_contact_sheet(settings, outcome, areas, locations),
    }


def _contact_sheet(settings, outcome: str, areas: pd.DataFrame, locations: pd.DataFrame) -> dict:
    """The outcome's contact sheet as metadata (inline, and the PNG's path)."""
    from sview_assets.figures.contact_sheet import draw_contact_sheet, jpeg_bytes, pick_areas, save_png

    paths = [f"path_{h}" for h in HEADINGS]
    manifest = read_whole_table(settings.warehouse, "image_manifest", ["img_id", "usable", *paths])
    views = manifest.loc[manifest["usable"].astype(bool), ["img_id", *paths]].merge(locations[["img_id", "lsoa11"]], on="img_id")
    title = f"{settings.city}, {outcome}: the areas predicted most deprived (top three) and least deprived (bottom three)"
    sheet = draw_contact_sheet(pick_areas(areas), views, title=title)
    save_png(sheet, settings.paths.contact_sheet_file(outcome))
    encoded = base64.b64encode(jpeg_bytes(sheet)).decode()
    return {
        "contact_sheet": dg.MetadataValue.md(f"![contact sheet](data:image/jpeg;base64,{encoded})"),
        "contact_sheet_file": dg.MetadataValue.path(str(settings.paths.contact_sheet_file(outcome))),
    }


def _one_version(frame: pd.DataFrame, table: str, outcome: str) -> str:
    """The single model version of an input partition (the I/O manager loads the newest only)."""
    versions = frame[VERSION_COLUMN].unique().tolist()
    if len(versions) != 1:
        raise ValueError(f"{table}[{outcome}] should hold one model version, found {versions}; materialize it again.")
    return versions[0]
