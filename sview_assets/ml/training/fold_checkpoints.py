"""Finished cross-validation folds kept on disk, so that an interrupted training resumes instead of starting over.

At London size one fold takes hours. After each fold its model, its out-of-fold scores and its run
record are written (each by write-then-rename, the record last, so a fold counts as done only when
all three are complete) to ``models/.<outcome>.folds/``, outside the model folder that is swapped in
only at the end. The folder is tied to its inputs: the training set file (size and modification
time) and the training settings; any change discards it. The asset removes it once the new models
are in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

import numpy as np

KEY_FILE = "inputs.json"


def checkpoint_folder(models: Path, outcome: str) -> Path:
    """Where ``outcome``'s finished folds wait (hidden beside its model folder)."""
    return Path(models) / f".{outcome}.folds"


def inputs_key(training_set: Path, outcome: str, settings: dict) -> str:
    """A digest of what the folds depend on: the training set file's size and mtime, the outcome, the settings."""
    stat = Path(training_set).stat()
    described = json.dumps({"training_set": [stat.st_size, stat.st_mtime_ns], "outcome": outcome, "settings": settings}, sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


class FoldCheckpoints:
    """The finished folds of one training (one outcome, one training set, one set of settings)."""

    def __init__(self, folder: Path, key: str):
        self.folder = Path(folder)
        key_file = self.folder / KEY_FILE
        if self.folder.exists() and (not key_file.is_file() or json.loads(key_file.read_text()).get("key") != key):
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not key_file.is_file():
            key_file.write_text(json.dumps({"key": key}))

    def model_file(self, fold: int) -> Path:
        return self.folder / f"fold_{fold}.keras"

    def _scores_file(self, fold: int) -> Path:
        return self.folder / f"fold_{fold}.scores.npy"

    def _run_file(self, fold: int) -> Path:
        return self.folder / f"fold_{fold}.run.json"

    def load(self, fold: int) -> tuple[dict, np.ndarray] | None:
        """(run record, out-of-fold scores) of a finished fold, or None if it is not done."""
        if not (self._run_file(fold).is_file() and self.model_file(fold).is_file() and self._scores_file(fold).is_file()):
            return None
        return json.loads(self._run_file(fold).read_text()), np.load(self._scores_file(fold), allow_pickle=False)

    def save(self, fold: int, model, run, scores: np.ndarray) -> None:
        """Keep a finished fold: model and scores first, the run record (the 'done' mark) last."""
        tag = uuid.uuid4().hex[:8]
        model_tmp = self.folder / f".fold_{fold}.{tag}.keras"
        model.save(model_tmp)
        os.replace(model_tmp, self.model_file(fold))
        scores_tmp = self.folder / f".fold_{fold}.{tag}.npy"
        np.save(scores_tmp, np.asarray(scores, dtype=np.float64), allow_pickle=False)
        os.replace(scores_tmp, self._scores_file(fold))
        run_tmp = self.folder / f".fold_{fold}.{tag}.json"
        run_tmp.write_text(json.dumps(asdict(run)))
        os.replace(run_tmp, self._run_file(fold))

    def clear(self) -> None:
        """Forget the folds (the models they led to are in place, or the training failed its check)."""
        shutil.rmtree(self.folder, ignore_errors=True)
