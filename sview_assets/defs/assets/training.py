"""Model stage: one ordinal model per outcome with LSOA-grouped cross-validation."""

from dataclasses import asdict

import dagster as dg
import numpy as np
from pydantic import Field, create_model

from sview_assets.config.settings import Storage
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.metadata import figure_markdown, worker_label
from sview_assets.defs.names import TENSORFLOW_TAG, AssetName
from sview_assets.defs.scope import CityScope
from sview_assets.ml.training.city_training import TRAINING_SETTINGS_FILE, CityTraining, read_city_training
from sview_assets.ml.training.model_version import ModelVersion
from sview_assets.ml.training.presets import PRESETS, TrainSettings, setting_fields

SCORES_USABLE = "scores_finite_and_varied"
_FROM_PRESET = f" Empty: the city's {TRAINING_SETTINGS_FILE}, else the preset's value."


class _TrainConfigBase(dg.Config):
    """Hyper-parameters of one outcome's training; the same seed and data give the same scores.

    Pick a preset, then override single values; an empty field takes the value of the city's
    `data/<city>/training.toml`, else the preset's.
    """

    preset: str | None = Field(
        default=None,
        description=f"Training preset: {' or '.join(repr(p) for p in PRESETS)} (the original code's settings; see docs/method.md). "
        f"Empty: the city's {TRAINING_SETTINGS_FILE}, else 'default'.",
    )

    def to_settings(self, city: CityTraining | None = None) -> tuple[str, TrainSettings]:
        """The preset name and settings of this run: this config's fields over the city's file over the preset."""
        overrides = {key: value for key, value in self.model_dump().items() if key != "preset" and value is not None}
        return (city or CityTraining()).settings(self.preset, **overrides)


TrainConfig = create_model(
    "TrainConfig",
    __base__=_TrainConfigBase,
    **{name: (kind | None, Field(default=None, description=description + _FROM_PRESET)) for name, kind, description, _ in setting_fields()},
)
"""The launchpad config of ``ordinal_model``: a preset and every :class:`TrainSettings` field, made from its declaration."""


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
        **scope.asset_args(AssetName.ORDINAL_MODEL),
        partitions_def=scope.outcomes,
        deps=[scope.key(AssetName.TRAINING_SET)],
        kinds={"keras", "tensorflow"},
        automation_condition=keep_up_to_date(),
        op_tags=TENSORFLOW_TAG,
        check_specs=[
            dg.AssetCheckSpec(
                SCORES_USABLE,
                asset=scope.key(AssetName.ORDINAL_MODEL),
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
        from sview_assets.ml.devices import select_device
        from sview_assets.ml.features.feature_store import read_feature_attrs
        from sview_assets.ml.threads import configure_threads
        from sview_assets.ml.training.cross_validation import train_outcome
        from sview_assets.ml.training.fold_checkpoints import FoldCheckpoints, checkpoint_folder, inputs_key
        from sview_assets.util.files import atomic_directory

        cores = configure_threads()
        device = select_device()
        outcome = context.partition_key
        paths = storage.for_city(scope.city).paths
        if not paths.training_set.is_file():
            raise FileNotFoundError(f"{paths.training_set} does not exist; materialize training_set first.")
        city_training = read_city_training(paths.city_file(TRAINING_SETTINGS_FILE))
        preset, cfg = config.to_settings(city_training)
        from_file = f" (defaults from {city_training.path})" if city_training.path else ""
        context.log.info(f"{outcome}: training with preset {preset!r}{from_file}: {asdict(cfg)}")
        provenance = read_feature_attrs(paths.training_set)
        version = ModelVersion.new(context.run_id, preset, provenance)
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
        yield dg.MaterializeResult(metadata=_model_metadata(paths.model_dir(outcome), outcome, version, result, preset, cfg, provenance, cores, device))
        yield check

    return [ordinal_model]


def _model_metadata(folder, outcome: str, version: ModelVersion, result, preset: str, cfg: TrainSettings, provenance: dict, cores: int, device: str) -> dict:
    """What the UI shows of one outcome's new models: where, which version, how they trained, and from which features."""
    from sview_assets.ml.backend import keras_backend

    runs = [asdict(r) for r in result.runs]
    return {
        "path": dg.MetadataValue.path(str(folder)),
        "model_version": version.model_version,
        "locations": len(result.out_of_fold),
        "lsoas": int(result.out_of_fold["lsoa11"].nunique()),
        "training_seconds": round(sum(r["seconds"] for r in runs), 1),
        "samples_per_second": round(float(np.mean([r["samples_per_second"] for r in runs])), 1),
        "epochs_per_model": dg.MetadataValue.json({("final" if r["fold"] < 0 else f"fold_{r['fold']}"): r["epochs_run"] for r in runs}),
        "preset": preset,
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


def _curves(runs, outcome):
    from sview_assets.figures.plots import training_curves

    return training_curves(runs, f"{outcome}: loss per epoch")
