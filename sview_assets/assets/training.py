"""Model stage: one ordinal model per outcome with LSOA-grouped cross-validation."""

from dataclasses import asdict

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ..conditions import keep_up_to_date
from ..metadata import figure_markdown, worker_label
from ..ml.model_folder import OUT_OF_FOLD_FILE
from ..ml.model_version import ModelVersion
from ..ml.presets import PRESETS, TrainSettings, preset_settings
from ..scope import CityScope
from ..settings import Storage, SviewSettings
from .features import TENSORFLOW_TAG

SCORES_USABLE = "scores_finite_and_varied"
_FROM_PRESET = " Empty: the preset's value."


class TrainConfig(dg.Config):
    """Hyper-parameters of one outcome's training; the same seed and data give the same scores.

    Pick a preset, then override single values; an empty field takes the preset's value.
    """

    preset: str = Field(
        default="default", description=f"Training preset: {' or '.join(repr(p) for p in PRESETS)} (the original code's settings; see the README)."
    )
    epochs: int | None = Field(default=None, description="Most epochs per model (early stopping may end sooner)." + _FROM_PRESET)
    batch_size: int | None = Field(default=None, description="Locations per class-balanced mini-batch." + _FROM_PRESET)
    learning_rate: float | None = Field(default=None, description="Adam learning rate." + _FROM_PRESET)
    noise_std: float | None = Field(default=None, description="Std of Gaussian noise added to standardised features in training only." + _FROM_PRESET)
    folds: int | None = Field(default=None, description="Cross-validation folds (grouped by LSOA, stratified by decile)." + _FROM_PRESET)
    seed: int | None = Field(default=None, description="Seed of folds, weights, noise and batch order." + _FROM_PRESET)
    patience: int | None = Field(
        default=None, description="Epochs without validation improvement before stopping (early-stopping selection only)." + _FROM_PRESET
    )
    validation_fraction: float | None = Field(default=None, description="Share of the training folds' LSOAs held out for early stopping." + _FROM_PRESET)
    chunk_rows: int | None = Field(default=None, description="Rows per HDF5 read when streaming features." + _FROM_PRESET)
    memory_budget_mb: float | None = Field(
        default=None, description="Train from RAM when a model's training features fit this many MiB; stream from disk above it." + _FROM_PRESET
    )

    def to_settings(self) -> TrainSettings:
        overrides = {key: value for key, value in self.model_dump().items() if key != "preset" and value is not None}
        return preset_settings(self.preset, **overrides)


def score_check(scores: np.ndarray) -> dg.AssetCheckResult:
    """Passes when every out-of-fold score is finite and they are not all the same."""
    finite = np.isfinite(scores)
    spread = float(np.std(scores[finite])) if finite.any() else 0.0
    return dg.AssetCheckResult(
        check_name=SCORES_USABLE,
        passed=bool(finite.all()) and spread > 1e-6,
        metadata={"non_finite_scores": int((~finite).sum()), "score_std": spread, "scores": int(len(scores))},
    )


def build_training_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``ordinal_model`` (one partition per outcome)."""

    @dg.asset(
        **scope.asset_args("ordinal_model"),
        partitions_def=scope.outcomes,
        deps=[scope.key("training_set")],
        kinds={"keras", "tensorflow"},
        automation_condition=keep_up_to_date(),
        op_tags=TENSORFLOW_TAG,
        check_specs=[
            dg.AssetCheckSpec(
                SCORES_USABLE,
                asset=scope.key("ordinal_model"),
                blocking=True,
                description="Out-of-fold scores are finite and not constant; blocks predictions otherwise.",
            )
        ],
    )
    def ordinal_model(context: dg.AssetExecutionContext, config: TrainConfig, storage: Storage):
        """Ordinal network for one outcome: one model per cross-validation fold plus a final model on all locations.

        Saved under `data/<city>/models/<outcome>/` as `fold_<k>.keras` and `final.keras`, with
        `out_of_fold.csv` (fold assignment and out-of-fold score per location), `training.json`
        (hyper-parameters and loss curves) and `version.json` (the model version, `<UTC time>-<run>`, that
        every prediction and metric row made from these models carries, with the features' provenance). The new models are checked before they replace the old ones:
        if the out-of-fold scores are non-finite or constant, the run fails, the check says why, and the
        previous models and their predictions stay as they were. Each finished fold is also kept in
        `models/.<outcome>.folds/` until the new models are in place: a run that is interrupted (killed,
        out of memory) and started again with the same training set and settings resumes after the last
        finished fold.
        """
        from ..files import atomic_directory
        from ..ml.backend import keras_backend
        from ..ml.cross_validation import train_outcome
        from ..ml.devices import select_device
        from ..ml.feature_store import read_feature_attrs
        from ..ml.fold_checkpoints import FoldCheckpoints, checkpoint_folder, inputs_key
        from ..ml.threads import configure_threads

        cores = configure_threads()
        device = select_device()
        outcome = context.partition_key
        paths = storage.for_city(scope.city).paths
        if not paths.training_set.is_file():
            raise FileNotFoundError(f"{paths.training_set} does not exist; materialize training_set first.")
        cfg = config.to_settings()
        context.log.info(f"{outcome}: training with preset {config.preset!r}: {asdict(cfg)}")
        provenance = read_feature_attrs(paths.training_set)
        version = ModelVersion.new(context.run_id, config.preset, provenance)
        checkpoints = FoldCheckpoints(checkpoint_folder(paths.models, outcome), inputs_key(paths.training_set, outcome, asdict(cfg)))
        with atomic_directory(paths.model_dir(outcome)) as folder:
            result = train_outcome(paths.training_set, outcome, cfg, folder, log=context.log.info, checkpoints=checkpoints)
            check = score_check(result.out_of_fold["score"].to_numpy())
            if not check.passed:
                checkpoints.clear()
                yield check
                raise dg.Failure(
                    description=f"{outcome}: the new models' out-of-fold scores are non-finite or constant; the previous models and predictions are kept.",
                    metadata=check.metadata,
                )
            version.write(folder)
        checkpoints.clear()
        runs = [asdict(r) for r in result.runs]
        seconds = sum(r["seconds"] for r in runs)
        yield dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(paths.model_dir(outcome))),
                "model_version": version.model_version,
                "locations": len(result.out_of_fold),
                "lsoas": int(result.out_of_fold["lsoa11"].nunique()),
                "training_seconds": round(seconds, 1),
                "samples_per_second": round(float(np.mean([r["samples_per_second"] for r in runs])), 1),
                "epochs_per_model": dg.MetadataValue.json({("final" if r["fold"] < 0 else f"fold_{r['fold']}"): r["epochs_run"] for r in runs}),
                "preset": config.preset,
                "hyperparameters": dg.MetadataValue.json(asdict(cfg)),
                "features_weights_sha256": str(provenance.get("weights_sha256", "")),
                "features_preprocessing": str(provenance.get("preprocessing", "")),
                "features_precision": str(provenance.get("precision", "")),
                "threads": cores,
                "backend": keras_backend(),
                "device": device,
                "worker": worker_label(),
                "training_curves": figure_markdown(_curves(runs, outcome)),
            }
        )
        yield check

    return [ordinal_model]


def _curves(runs, outcome):
    from ..plots import training_curves

    return training_curves(runs, f"{outcome}: loss per epoch")


def read_out_of_fold(settings: SviewSettings, outcome: str) -> pd.DataFrame:
    """The out-of-fold table the model stage wrote for ``outcome``."""
    path = settings.paths.model_dir(outcome) / OUT_OF_FOLD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; materialize {settings.city}/ordinal_model[{outcome}] first.")
    frame = pd.read_csv(path, dtype={"pcd": str, "lsoa11": str})
    # A location without a postcode (a city without a postcode directory) has an empty one, not a missing value.
    return frame.assign(pcd=frame["pcd"].fillna(""))
