"""Training on planted signals: real features are learnt, shuffled labels are not, seeds repeat."""

import h5py
import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from sview_assets.ml.evaluation.aggregate import aggregate_lsoas
from sview_assets.ml.features.feature_store import write_feature_file
from sview_assets.ml.training.cross_validation import train_outcome
from sview_assets.ml.training.presets import TrainSettings
from sview_assets.ml.training.training_set import build_training_set

FAST = TrainSettings(epochs=8, batch_size=32, patience=3, folds=3, seed=0)
DIM = 4096


def planted_training_set(path, *, n_lsoas=50, per_lsoa=4, seed=0, shuffle_labels=False):
    """Features whose first 32 dimensions carry the LSOA's decile (plus noise); the rest are noise."""
    rng = np.random.default_rng(seed)
    lsoas = [f"E01{i:06d}" for i in range(1, n_lsoas + 1)]
    latent = rng.permutation(np.linspace(-1.5, 1.5, n_lsoas))
    deciles = pd.Series(latent, index=lsoas).rank(method="first").sub(1).mul(10).floordiv(n_lsoas).add(1).astype(int)
    rows, features = [], []
    for lsoa in lsoas:
        for _ in range(per_lsoa):
            img_id = len(rows)
            signal = latent[lsoas.index(lsoa)] + 0.3 * rng.standard_normal()
            x = np.abs(rng.standard_normal((4, DIM))).astype(np.float32)
            x[:, :32] += np.float32(1.0 + signal)
            features.append(x)
            rows.append({"img_id": img_id, "pcd": f"P{img_id}", "oa11": "E00000001", "lsoa11": lsoa, "msoa11": "E02000001", "lat": 0.0, "long": 0.0})
    locations = pd.DataFrame(rows)
    label_values = deciles.sample(frac=1.0, random_state=seed).to_numpy() if shuffle_labels else deciles.to_numpy()
    labels = pd.DataFrame({"lsoa11": lsoas, "outcome": "income", "source": "test", "raw_value": 0.0, "decile": label_values})
    batch = path.parent / f"{path.stem}_features.h5"
    write_feature_file(batch, locations["img_id"].to_numpy(), np.stack(features), {"weights": "none"})
    build_training_set(path, [batch], locations, labels)
    return path


def lsoa_tau(oof):
    lsoas = aggregate_lsoas(oof)
    part = lsoas[lsoas["method"] == "score_mean"]
    return kendalltau(part["predicted_decile"], part["true_decile"]).statistic


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    return planted_training_set(root / "signal.h5"), planted_training_set(root / "shuffled.h5", shuffle_labels=True)


@pytest.mark.slow
def test_planted_signal_is_recovered_and_shuffled_labels_are_not(planted, tmp_path):
    signal_path, shuffled_path = planted
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    learnt = train_outcome(signal_path, "income", FAST, tmp_path / "a", log=lambda _: None).out_of_fold
    null = train_outcome(shuffled_path, "income", FAST, tmp_path / "b", log=lambda _: None).out_of_fold
    # 50 LSOAs: under no signal tau-b has a standard deviation of about 0.1, so 0.5 is far beyond chance
    # and 0.3 is a generous bound on chance agreement for the shuffled run.
    assert lsoa_tau(learnt) > 0.5
    assert abs(lsoa_tau(null)) < 0.3
    assert kendalltau(learnt["score"], learnt["true_decile"]).statistic > 0.4
    assert learnt["fold"].nunique() == 3
    assert {p.name for p in (tmp_path / "a").iterdir()} >= {"fold_0.keras", "fold_2.keras", "final.keras", "out_of_fold.csv", "training.json"}


def test_same_seed_same_scores(planted, tmp_path):
    signal_path, _ = planted
    settings = TrainSettings(epochs=3, batch_size=32, patience=3, folds=2, seed=7)
    runs = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        runs.append(train_outcome(signal_path, "income", settings, tmp_path / name, log=lambda _: None).out_of_fold)
    np.testing.assert_array_equal(runs[0]["score"].to_numpy(), runs[1]["score"].to_numpy())
    np.testing.assert_array_equal(runs[0]["fold"].to_numpy(), runs[1]["fold"].to_numpy())


def test_streamed_training_matches_in_memory_quality(planted, tmp_path):
    """With a tiny memory budget the trainer streams from disk, and still learns the signal."""
    signal_path, _ = planted
    streamed = TrainSettings(epochs=8, batch_size=32, patience=3, folds=3, seed=0, memory_budget_mb=0.001, chunk_rows=16)
    result = train_outcome(signal_path, "income", streamed, tmp_path, log=lambda _: None)
    assert not any(run.in_memory for run in result.runs)
    assert lsoa_tau(result.out_of_fold) > 0.5


def test_saved_model_loads_and_reproduces_scores(planted, tmp_path):
    import keras

    from sview_assets.ml.training.fitting import predict_scores

    signal_path, _ = planted
    settings = TrainSettings(epochs=2, batch_size=32, patience=2, folds=2, seed=1)
    result = train_outcome(signal_path, "income", settings, tmp_path, log=lambda _: None)
    model = keras.models.load_model(tmp_path / "fold_0.keras", compile=False)
    held = result.out_of_fold["fold"].to_numpy() == 0
    rows = np.flatnonzero(held)
    np.testing.assert_allclose(predict_scores(model, signal_path, rows), result.out_of_fold["score"].to_numpy()[held], rtol=1e-5, atol=1e-5)
    with h5py.File(signal_path, "r") as handle:
        assert handle["features"].shape == (200, 4, DIM)


def test_paper_preset_trains_without_held_out_lsoas_and_keeps_the_best_late_checkpoint(planted, tmp_path):
    from sview_assets.defs.assets.training import TrainConfig
    from sview_assets.ml.training.presets import LAST_EPOCH_TRAIN_LOSS, PRESETS

    signal_path, _ = planted
    settings = TrainConfig(preset="paper", epochs=2, folds=2).to_settings()[1]
    assert settings.learning_rate == PRESETS["paper"].learning_rate == 5e-6 and settings.batch_size == 10
    assert settings.selection == LAST_EPOCH_TRAIN_LOSS and (settings.epochs, settings.folds) == (2, 2)
    with pytest.raises(ValueError, match="Unknown training preset 'fast'"):
        TrainConfig(preset="fast").to_settings()
    result = train_outcome(signal_path, "income", settings, tmp_path, log=lambda _: None)
    table_rows = len(result.out_of_fold)
    for run in result.runs:
        assert run.val_loss == [] and run.epochs_run == 2
    final = result.runs[-1]
    assert final.fold == -1 and final.train_rows == table_rows


def test_last_epoch_selection_restores_the_lowest_loss_weights():
    import keras

    from sview_assets.ml.training.ordinal import ordinal_loss
    from sview_assets.ml.training.selection import LastEpochSelection

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = (np.arange(40) % 10 + 1).astype(np.int32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(2.0), loss=ordinal_loss)
    # Told an epoch has 10 steps, it watches steps 10..19 of the second (last) epoch.
    selection = LastEpochSelection(x, y, epochs=2, steps_per_epoch=10)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if selection.epoch == 1 and batch > 9:
                seen.append(float(ordinal_loss(y, self.model(x, training=False))))

    model.fit(x, y, batch_size=2, epochs=2, shuffle=False, verbose=0, callbacks=[selection, Record()])
    assert len(seen) == 10 and selection.best_loss == pytest.approx(min(seen))
    assert min(seen) < seen[-1], "the last step is not the best one here, so restoring matters"
    assert float(ordinal_loss(y, model(x, training=False))) == pytest.approx(min(seen), rel=1e-6)


def test_the_launchpad_config_and_the_cli_flags_are_made_from_the_settings_declaration(capsys):
    from dataclasses import fields

    from sview_assets.cli.pipeline import main
    from sview_assets.defs.assets.training import TrainConfig
    from sview_assets.ml.training.presets import setting_fields

    assert list(TrainConfig.model_fields) == ["preset", *(f.name for f in fields(TrainSettings))]
    assert TrainConfig(learning_rate=0.5).to_settings()[1].learning_rate == 0.5
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    offered = [name for name, _, _, command_line in setting_fields() if command_line]
    assert offered and all(f"--{name.replace('_', '-')}" in usage for name in offered)
    assert "--learning-rate" not in usage
