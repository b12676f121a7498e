"""A training killed between folds resumes from the folds it finished and ends with the models an uninterrupted run makes."""

import json
import shutil
import signal
import subprocess
import sys

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from sview_assets.config.settings import PROJECT_ROOT
from sview_assets.definitions import build_city, city_assets
from sview_assets.defs.scope import CityScope
from sview_assets.ml.training.fold_checkpoints import checkpoint_folder
from sview_assets.ml.training.model_folder import OUT_OF_FOLD_FILE, fold_model_file

TRAINING = {"epochs": 2, "batch_size": 16, "patience": 2, "folds": 3}
KILL_AFTER = "income: fold 1/3 trained"


def train(settings, instance):
    """Materialize ordinal_model[income] in process; return the run's log messages."""
    result = dg.materialize(
        city_assets(build_city(settings.city), settings.city, "ordinal_model"),
        partition_key="income",
        instance=instance,
        resources={"storage": settings.storage()},
        run_config={"ops": {CityScope(settings.city).op_name("ordinal_model"): {"config": TRAINING}}},
    )
    assert result.success
    return [e.message for e in instance.all_logs(result.run_id) if e.message]


def trained(settings):
    """Out-of-fold table and every model's weights of the income folder."""
    import keras

    folder = settings.paths.model_dir("income")
    weights = {name: keras.saving.load_model(folder / name, compile=False).get_weights() for name in [fold_model_file(k) for k in range(3)] + ["final.keras"]}
    return pd.read_csv(folder / OUT_OF_FOLD_FILE), weights


@pytest.mark.slow
def test_a_training_killed_after_its_first_fold_resumes_there_and_ends_with_the_same_models(city_copy):
    settings, instance = city_copy
    train(settings, instance)
    uninterrupted_scores, uninterrupted_weights = trained(settings)
    shutil.rmtree(settings.paths.model_dir("income"))

    code = "import sys; from sview_assets_tests.helpers import train_outcome_in_this_process as t; t(*sys.argv[1:])"
    command = [sys.executable, "-c", code, settings.data_root, settings.city, "income", json.dumps(TRAINING)]
    worker = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in worker.stderr:
        lines.append(line)
        if KILL_AFTER in line:
            worker.send_signal(signal.SIGKILL)
            break
    worker.wait(timeout=60)
    assert worker.returncode == -signal.SIGKILL, "".join(lines[-30:])
    assert (checkpoint_folder(settings.paths.models, "income") / "fold_0.run.json").is_file()
    assert not (settings.paths.model_dir("income") / OUT_OF_FOLD_FILE).exists()

    messages = train(settings, instance)
    assert any("fold 1/3 resumed" in m for m in messages) and not any("fold 1/3 trained" in m for m in messages)
    assert any("fold 3/3 trained" in m for m in messages)
    resumed_scores, resumed_weights = trained(settings)
    pd.testing.assert_frame_equal(resumed_scores, uninterrupted_scores)
    for name, weights in uninterrupted_weights.items():
        assert all(np.array_equal(a, b) for a, b in zip(weights, resumed_weights[name])), name
    assert not checkpoint_folder(settings.paths.models, "income").exists()


def test_changed_settings_or_training_set_discard_the_finished_folds(tmp_path):
    from sview_assets.ml.training.fold_checkpoints import FoldCheckpoints, inputs_key

    training_set = tmp_path / "training_set.h5"
    training_set.write_bytes(b"one")
    folder = tmp_path / ".income.folds"
    key = inputs_key(training_set, "income", TRAINING)
    FoldCheckpoints(folder, key)
    (folder / "fold_0.run.json").write_text("{}")
    assert (FoldCheckpoints(folder, key).folder / "fold_0.run.json").is_file()
    assert inputs_key(training_set, "income", {**TRAINING, "epochs": 3}) != key
    FoldCheckpoints(folder, inputs_key(training_set, "income", {**TRAINING, "epochs": 3}))
    assert not (folder / "fold_0.run.json").exists()
    training_set.write_bytes(b"changed")
    assert inputs_key(training_set, "income", TRAINING) != key
