"""Training hyper-parameters and the named presets a user picks from (no TensorFlow import).

* ``default``: today's fast settings. Adam 1e-3, 64 locations per batch, up to
  30 epochs with early stopping on a held-out 10% of the training LSOAs (best
  weights kept).
* ``paper``: the original code's settings as far as they are known. Adam
  5e-6, 10 locations per batch, 10 epochs, no held-out LSOAs; the model kept
  is the one with the lowest loss on a fixed class-balanced sample of 1,000
  training locations, checked at each step of the last 10% of the last epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import get_type_hints

EARLY_STOPPING = "early_stopping"
LAST_EPOCH_TRAIN_LOSS = "last_epoch_train_loss"
SELECTIONS = (EARLY_STOPPING, LAST_EPOCH_TRAIN_LOSS)


def _setting(default, description: str, *, command_line: bool = False):
    """A training setting: its default, what it means (the launchpad and ``--help`` show it), and whether
    the pipeline CLI offers it as a flag."""
    return field(default=default, metadata={"description": description, "command_line": command_line})


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one outcome's training, declared once: the asset's Dagster config
    (``defs/assets/training.py``) and the pipeline CLI's flags are made from these fields.

    ``variance_floor_fraction`` and ``z_limit`` (0: off) floor each feature's variance at a share of
    the median variance and clip z-scores; off by default since fc6 is taken before its ReLU
    (``benchmarks/standardisation.py`` measured no gain), kept for features that have dead units.
    """

    epochs: int = _setting(30, "Most epochs per model (early stopping may end sooner).", command_line=True)
    batch_size: int = _setting(64, "Locations per class-balanced mini-batch.", command_line=True)
    learning_rate: float = _setting(1e-3, "Adam learning rate.")
    noise_std: float = _setting(0.05, "Std of Gaussian noise added to standardised features in training only.")
    folds: int = _setting(5, "Cross-validation folds (grouped by LSOA, stratified by decile).", command_line=True)
    seed: int = _setting(0, "Seed of folds, weights, noise and batch order.")
    patience: int = _setting(5, "Epochs without validation improvement before stopping (early-stopping selection only).", command_line=True)
    validation_fraction: float = _setting(0.1, "Share of the training folds' LSOAs held out for early stopping.")
    chunk_rows: int = _setting(256, "Rows per HDF5 read when streaming features.")
    memory_budget_mb: float = _setting(1024.0, "Train from RAM when a model's training features fit this many MiB; stream from disk above it.")
    selection: str = _setting(EARLY_STOPPING, f"Which weights are kept: {' or '.join(SELECTIONS)}.")
    selection_rows: int = _setting(1000, "Training locations in the fixed sample whose loss picks the kept weights (last-epoch selection).")
    variance_floor_fraction: float = _setting(0.0, "Floor of each feature's variance, as a share of the median variance (0: off).")
    z_limit: float = _setting(0.0, "Clip standardised features to this many standard deviations (0: off).")

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection {self.selection!r} is not one of {', '.join(SELECTIONS)}")


def setting_fields() -> list[tuple[str, type, str, bool]]:
    """Each training setting as (name, type, description, offered on the command line), in declaration order."""
    types = get_type_hints(TrainSettings)
    return [(f.name, types[f.name], f.metadata["description"], f.metadata["command_line"]) for f in fields(TrainSettings)]


PRESETS: dict[str, TrainSettings] = {
    "default": TrainSettings(),
    "paper": TrainSettings(epochs=10, batch_size=10, learning_rate=5e-6, selection=LAST_EPOCH_TRAIN_LOSS),
}


def preset_settings(name: str, **overrides) -> TrainSettings:
    """The settings of preset ``name`` with ``overrides`` applied; a clear error for an unknown preset."""
    if name not in PRESETS:
        raise ValueError(f"Unknown training preset {name!r}; choose one of {', '.join(sorted(PRESETS))}.")
    return replace(PRESETS[name], **overrides)
