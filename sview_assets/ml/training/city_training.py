"""A city's own training settings: ``data/<city>/training.toml``, the defaults of every run that trains its models.

Runs that no one configures (declarative automation, a "Materialize all" backfill, the image sensor's
follow-ups) train with these; the launchpad config and the pipeline CLI's flags override them field by
field. The file names a preset and any :class:`TrainSettings` field::

    preset = "default"
    epochs = 5
    batch_size = 16
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import get_type_hints

from sview_assets.ml.training.presets import PRESETS, TrainSettings, preset_settings

TRAINING_SETTINGS_FILE = "training.toml"
DEFAULT_PRESET = "default"


@dataclass(frozen=True)
class CityTraining:
    """A city's preset and the settings it overrides, read from ``path`` (``None``: the city has no file)."""

    preset: str = DEFAULT_PRESET
    values: Mapping[str, object] = field(default_factory=dict)
    path: Path | None = None

    def settings(self, preset: str | None = None, **overrides) -> tuple[str, TrainSettings]:
        """The preset name and settings of a run: ``preset`` and ``overrides`` (the run's config) over the city's."""
        name = preset or self.preset
        return name, preset_settings(name, **{**self.values, **overrides})


def read_city_training(path: Path) -> CityTraining:
    """The city's training settings from ``path``, or the default preset when there is no such file.

    Every problem is refused with the file, the key and what would be accepted, before any training starts.
    """
    if not path.is_file():
        return CityTraining()
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML ({exc}). Write one `name = value` line per setting (see docs/settings.md).") from None
    preset = table.pop("preset", DEFAULT_PRESET)
    if preset not in PRESETS:
        raise ValueError(f"{path}: preset = {preset!r} is not a training preset; use one of {', '.join(repr(p) for p in sorted(PRESETS))}.")
    kinds = get_type_hints(TrainSettings)
    values = {}
    for key, value in table.items():
        if key not in kinds:
            names = ", ".join(["preset", *(f.name for f in fields(TrainSettings))])
            raise ValueError(f"{path}: {key!r} is not a training setting; the settings are {names} (see docs/settings.md).")
        values[key] = _typed(path, key, value, kinds[key])
    try:
        preset_settings(preset, **values)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return CityTraining(preset, values, path)


def _typed(path: Path, key: str, value: object, kind: type) -> object:
    """``value`` as the setting's type (a whole number is a valid float); a clear error for anything else."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{path}: {key} = {value!r} should be {'a whole number' if kind is int else 'a number' if kind is float else 'a string'}.")
    return value
