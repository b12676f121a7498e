"""A city's training.toml: the defaults of runs no one configures, overridden by the launchpad and the CLI."""

import pytest

from sview_assets.defs.assets.training import TrainConfig
from sview_assets.ml.training.city_training import read_city_training
from sview_assets.ml.training.presets import LAST_EPOCH_TRAIN_LOSS, PRESETS


def test_without_a_file_runs_train_with_the_default_preset(tmp_path):
    city = read_city_training(tmp_path / "training.toml")
    assert city.path is None
    assert TrainConfig().to_settings(city) == ("default", PRESETS["default"])


def test_the_file_sets_the_preset_and_values_and_a_runs_config_overrides_them(tmp_path):
    path = tmp_path / "training.toml"
    path.write_text('preset = "paper"\nepochs = 3\nlearning_rate = 1\nfolds = 2\n')
    city = read_city_training(path)
    preset, settings = TrainConfig().to_settings(city)
    assert preset == "paper" and (settings.epochs, settings.learning_rate, settings.folds) == (3, 1.0, 2)
    assert isinstance(settings.learning_rate, float) and settings.selection == LAST_EPOCH_TRAIN_LOSS == PRESETS["paper"].selection
    preset, settings = TrainConfig(preset="default", folds=4).to_settings(city)
    assert preset == "default" and (settings.epochs, settings.learning_rate, settings.folds) == (3, 1.0, 4)
    assert settings.batch_size == PRESETS["default"].batch_size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch = 3\n", "'epoch' is not a training setting; the settings are preset, epochs,"),
        ('epochs = "five"\n', "epochs = 'five' should be a whole number"),
        ("epochs = 2.5\n", "epochs = 2.5 should be a whole number"),
        ("learning_rate = true\n", "learning_rate = True should be a number"),
        ('preset = "fast"\n', "preset = 'fast' is not a training preset; use one of 'default', 'paper'"),
        ('selection = "best"\n', "selection 'best' is not one of early_stopping, last_epoch_train_loss"),
        ("epochs = \n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_setting(tmp_path, text, message):
    path = tmp_path / "training.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as refused:
        read_city_training(path)
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
