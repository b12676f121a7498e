"""The version of an outcome's trained models: a name sortable by time, and what the models were made from.

Written as ``version.json`` in the model folder together with the models (one atomic folder swap), read
by the prediction assets so that every prediction and metric row names the model version behind it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

VERSION_FILE = "version.json"
_MODEL_VERSION = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def check_model_version(value: str) -> str:
    """``value`` if it has the model-version shape (``YYYYMMDDTHHMMSSZ-<8 hex>``, sortable by time), else a clear error."""
    if not isinstance(value, str) or not _MODEL_VERSION.match(value):
        raise ValueError(f"model version {value!r} is not of the form YYYYMMDDTHHMMSSZ-<8 hex digits>; re-materialize ordinal_model for this outcome.")
    return value


@dataclass(frozen=True)
class ModelVersion:
    """One training of one outcome's models."""

    model_version: str
    trained_at: str
    preset: str
    feature_preprocessing: str
    feature_weights_sha256: str
    feature_precision: str

    @classmethod
    def new(cls, run_id: str, preset: str, feature_provenance: dict, now: datetime | None = None) -> ModelVersion:
        """A version named ``<UTC time>-<first 8 hex digits of the run id>``: later trainings sort later."""
        now = now or datetime.now(UTC)
        tag = run_id.replace("-", "")[:8].lower()
        return cls(
            model_version=check_model_version(f"{now:%Y%m%dT%H%M%SZ}-{tag}"),
            trained_at=now.isoformat(timespec="seconds"),
            preset=preset,
            feature_preprocessing=str(feature_provenance.get("preprocessing", "")),
            feature_weights_sha256=str(feature_provenance.get("weights_sha256", "")),
            feature_precision=str(feature_provenance.get("precision", "")),
        )

    def write(self, folder: Path) -> None:
        (Path(folder) / VERSION_FILE).write_text(json.dumps(asdict(self), indent=2))

    def columns(self) -> dict[str, str]:
        """The version and provenance as table columns."""
        return asdict(self)


def read_model_version(folder: Path) -> ModelVersion:
    """The version of the models in ``folder``, or a clear error naming what to re-run."""
    path = Path(folder) / VERSION_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the models in {folder} have no version (trained by an older sview?); re-materialize ordinal_model for this outcome."
        )
    version = ModelVersion(**json.loads(path.read_text()))
    check_model_version(version.model_version)
    return version
