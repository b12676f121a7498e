"""Transfer stage: a source city's models applied to a target city, as they are and fine-tuned, against models
trained on the target alone (the paper's London -> Birmingham, Manchester, Leeds experiment)."""

import dagster as dg
import pandas as pd
from pydantic import Field

from sview_assets.config.settings import Storage
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.intervals_config import IntervalsConfig
from sview_assets.defs.metadata import figure_markdown, preview
from sview_assets.defs.names import TENSORFLOW_TAG, AssetName
from sview_assets.defs.resources import WarehouseSQL
from sview_assets.defs.scope import TransferScope
from sview_assets.ml.evaluation.intervals import INTERVAL_COLUMNS
from sview_assets.ml.evaluation.transfer import COMPARISONS
from sview_assets.ml.training.model_folder import FINAL_MODEL_FILE
from sview_assets.ml.training.model_version import read_model_version
from sview_assets.ml.training.presets import preset_settings
from sview_assets.warehouse.duckdb_views import use_schema
from sview_assets.warehouse.tables import TRANSFER_TABLE

COLUMNS = [
    "source_city",
    "target_city",
    "outcome",
    "regime",
    "fraction",
    "method",
    "kendall_tau_b",
    "accuracy",
    "within_one_accuracy",
    "mean_absolute_error",
    *INTERVAL_COLUMNS,
    "n_lsoas",
    "adaptation_lsoas",
    "evaluation_lsoas",
    *(f"tau_b_minus_{other}{end}" for _, other in COMPARISONS for end in ("", "_low", "_high")),
    "source_model_version",
]


class TransferConfig(IntervalsConfig):
    """How the source model is adapted; the same seed and data give the same table."""

    fractions: list[float] = Field(
        default=[],
        description="Shares of the target's locations (sampled by whole LSOAs) to fine-tune and train on; the rest are evaluated. "
        "Empty: the pair's `fractions` in data/cities.toml (default 0.01, 0.05, 0.1).",
    )
    epochs: int = Field(default=10, ge=1, description="Epochs of fine-tuning, and of training the target-only model, on those locations.")
    learning_rate: float = Field(default=1e-3, gt=0, description="Adam learning rate of the target-only model (the default preset's).")
    fine_tune_learning_rate: float = Field(
        default=1e-4, gt=0, description="Adam learning rate of fine-tuning: lower, so that a few target LSOAs adjust the source model rather than overwrite it."
    )
    batch_size: int = Field(default=16, ge=1, description="Locations per class-balanced mini-batch.")
    seed: int = Field(default=0, description="Seed of the LSOA samples, weights, noise and batch order.")


def build_transfer_assets(scope: TransferScope) -> list[dg.AssetsDefinition]:
    """The pair's ``transfer_metrics`` (one partition per target outcome) and ``transfer_summary``."""
    pair = scope.pair

    @dg.asset(
        name=TRANSFER_TABLE,
        key_prefix=scope.prefix,
        group_name=scope.group,
        io_manager_key=scope.io_manager_key,
        partitions_def=scope.target.outcomes,
        deps=[
            dg.AssetDep(scope.source.key(AssetName.ORDINAL_MODEL), partition_mapping=dg.IdentityPartitionMapping()),
            scope.target.key(AssetName.TRAINING_SET),
        ],
        metadata={"partition_expr": "outcome"},
        kinds={"tensorflow", "deltalake", "pandas"},
        op_tags=TENSORFLOW_TAG,
        automation_condition=keep_up_to_date(),
    )
    def transfer_metrics(context: dg.AssetExecutionContext, config: TransferConfig, storage: Storage) -> pd.DataFrame:
        """LSOA-level agreement in the target city of the source city's model as it is (`zero_shot`), fine-tuned on a
        share of the target's LSOAs (`fine_tune`), and of a model trained on that share alone (`target_only`).

        For each fraction, whole target LSOAs are sampled until they hold that share of the target's
        locations; every regime is scored on the remaining LSOAs only (`zero_shot` also on all of them,
        fraction 0), by both aggregation methods. Table `transfer_metrics` in the target city's schema.
        """
        from sview_assets.ml.evaluation.transfer import load_target, run_transfer
        from sview_assets.ml.threads import configure_threads

        configure_threads()
        outcome = context.partition_key
        source, target = storage.for_city(pair.source), storage.for_city(pair.target)
        model_dir = source.paths.model_dir(outcome)
        if not (model_dir / FINAL_MODEL_FILE).is_file():
            raise FileNotFoundError(
                f"{pair.source} has no model for {outcome!r} ({model_dir / FINAL_MODEL_FILE} is missing); materialize {pair.source}/ordinal_model[{outcome}] first."
            )
        if not target.paths.training_set.is_file():
            raise FileNotFoundError(f"{target.paths.training_set} does not exist; materialize {pair.target}/training_set first.")
        version = read_model_version(model_dir)
        settings = preset_settings("default", epochs=config.epochs, batch_size=config.batch_size, learning_rate=config.learning_rate, seed=config.seed)
        frame = run_transfer(
            model_dir / FINAL_MODEL_FILE,
            load_target(target.paths.training_set, outcome),
            config.fractions or list(pair.fractions),
            settings,
            config.seed,
            config.fine_tune_learning_rate,
            log=context.log.info,
            intervals=config.interval_settings(),
        )
        frame = frame.assign(source_city=pair.source, target_city=pair.target, outcome=outcome, source_model_version=version.model_version)
        frame = frame.reindex(columns=COLUMNS)
        best = frame[frame["method"] == "score_mean"].pivot_table(index="fraction", columns="regime", values="kendall_tau_b")
        context.add_output_metadata(
            {
                "source_model_version": version.model_version,
                "intervals": config.interval_settings().describe(),
                "rows": len(frame),
                "kendall_tau_b_score_mean": preview(best.reset_index().round(3), rows=20),
                "regimes": figure_markdown(_regime_plot(frame, f"{pair.source} -> {pair.target}: {outcome}")),
            }
        )
        return frame

    @dg.asset(
        name=str(AssetName.TRANSFER_SUMMARY),
        key_prefix=scope.prefix,
        group_name=scope.group,
        deps=[transfer_metrics],
        kinds={"duckdb", "sql"},
        automation_condition=keep_up_to_date(wait_for_every_input=False),
    )
    def transfer_summary(duckdb: WarehouseSQL, storage: Storage) -> dg.MaterializeResult:
        """Every outcome's transfer regimes in one figure (tau-b against the share of target locations adapted on),
        written to `data/<target>/transfer/<source>_to_<target>.png`."""
        with duckdb.get_connection() as connection:
            use_schema(connection, pair.target)
            frame = connection.execute(f"SELECT * FROM {TRANSFER_TABLE} WHERE source_city = ? ORDER BY outcome, regime, fraction", [pair.source]).fetchdf()
        if frame.empty:
            raise ValueError(f"No {TRANSFER_TABLE} rows from {pair.source} in {pair.target}'s warehouse yet; materialize {pair.name}/{TRANSFER_TABLE} first.")
        path = storage.for_city(pair.target).paths.root / "transfer" / f"{pair.name}.png"
        table = frame[frame["method"] == "score_mean"].pivot_table(index=["outcome", "fraction"], columns="regime", values="kendall_tau_b").round(3)
        return dg.MaterializeResult(
            metadata={
                "outcomes": dg.MetadataValue.json(sorted(frame["outcome"].unique())),
                "kendall_tau_b_score_mean": dg.MetadataValue.md(table.reset_index().to_markdown(index=False)),
                "plot": figure_markdown(_regime_plot(frame, f"{pair.source} -> {pair.target}"), also_to=path),
                "plot_file": dg.MetadataValue.path(str(path)),
            }
        )

    return [transfer_metrics, transfer_summary]


def _regime_plot(frame: pd.DataFrame, title: str):
    from sview_assets.figures.plots import transfer_regimes

    return transfer_regimes(frame, title)
