"""The transfer experiment on planted signals shared by two cities: disjoint LSOAs, zero-shot partly right,
fine-tuning at least as good."""

import numpy as np
import pandas as pd
import pytest

from sview_assets.ml.evaluation.transfer import FINE_TUNE, TARGET_ONLY, ZERO_SHOT, load_target, run_transfer, sample_adaptation_lsoas
from sview_assets.ml.features.feature_store import write_feature_file
from sview_assets.ml.training.fitting import fit_model
from sview_assets.ml.training.presets import TrainSettings
from sview_assets.ml.training.training_set import build_training_set

DIM = 4096
SOURCE_TRAINING = TrainSettings(epochs=12, batch_size=32, seed=0)
ADAPTATION = TrainSettings(epochs=10, batch_size=16, seed=0)


def city_training_set(path, *, seed, n_lsoas=60, per_lsoa=4, old_signal=1.0, new_signal=0.0, offset=0.0):
    """Features whose dimensions 0-31 carry the LSOA's latent value with weight ``old_signal`` and dimensions
    32-63 with weight ``new_signal`` (plus ``offset``); the decile follows the latent value."""
    rng = np.random.default_rng(seed)
    lsoas = [f"E01{seed:02d}{i:04d}" for i in range(n_lsoas)]
    latent = rng.permutation(np.linspace(-1.5, 1.5, n_lsoas))
    deciles = pd.Series(latent, index=lsoas).rank(method="first").sub(1).mul(10).floordiv(n_lsoas).add(1).astype(int)
    rows, features = [], []
    for number, lsoa in enumerate(lsoas):
        for _ in range(per_lsoa):
            img_id = len(rows)
            signal = latent[number] + 0.3 * rng.standard_normal()
            x = np.abs(rng.standard_normal((4, DIM))).astype(np.float32)
            x[:, :32] += np.float32(1.0 + old_signal * signal + offset)
            x[:, 32:64] += np.float32(1.0 + new_signal * signal)
            features.append(x)
            rows.append({"img_id": img_id, "pcd": f"P{img_id}", "oa11": "", "lsoa11": lsoa, "msoa11": "", "lat": 0.0, "long": 0.0})
    locations = pd.DataFrame(rows)
    labels = pd.DataFrame({"lsoa11": lsoas, "outcome": "income", "source": "test", "raw_value": 0.0, "decile": deciles.to_numpy()})
    batch = path.parent / f"{path.stem}_features.h5"
    write_feature_file(batch, locations["img_id"].to_numpy(), np.stack(features), {"weights": "none"})
    build_training_set(path, [batch], locations, labels)
    return path


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.1, 0.3])
def test_adaptation_lsoas_are_whole_and_never_evaluated(fraction):
    rng = np.random.default_rng(1)
    lsoa = np.repeat([f"L{i:03d}" for i in range(200)], rng.integers(1, 8, size=200))
    adapt = sample_adaptation_lsoas(lsoa, fraction, seed=3)
    assert not set(lsoa[adapt]) & set(lsoa[~adapt]), "an LSOA used for adaptation must not be evaluated"
    assert adapt.mean() >= fraction and len(set(lsoa[adapt])) >= 1
    assert adapt.sum() < fraction * len(lsoa) + 7, "whole LSOAs (7 locations at most) are added only until the share is reached"
    assert np.array_equal(adapt, sample_adaptation_lsoas(lsoa, fraction, seed=3))


def test_a_fraction_that_leaves_too_few_lsoas_to_evaluate_is_refused():
    lsoa = np.repeat([f"L{i}" for i in range(12)], 3)
    with pytest.raises(ValueError, match="leaves .* for evaluation"):
        sample_adaptation_lsoas(lsoa, 0.5, seed=0)


@pytest.mark.slow
def test_zero_shot_is_partly_right_and_fine_tuning_helps(tmp_path):
    source = city_training_set(tmp_path / "source.h5", seed=1, old_signal=1.0)
    target = city_training_set(tmp_path / "target.h5", seed=2, old_signal=0.5, new_signal=1.0, offset=0.4)
    inputs = load_target(source, "income")
    model, _ = fit_model(source, inputs.rows, inputs.deciles, np.zeros(0, np.int64), np.zeros(0, np.int64), SOURCE_TRAINING, 0, -1)
    model.save(tmp_path / "final.keras")

    fractions = [0.1, 0.2, 0.3]
    table = run_transfer(tmp_path / "final.keras", load_target(target, "income"), fractions, ADAPTATION, 0, 1e-4, log=lambda _: None)
    rows = table[table["method"] == "score_mean"]
    tau = rows.pivot_table(index="fraction", columns="regime", values="kendall_tau_b")
    assert tau.loc[0.0, ZERO_SHOT] > 0.3, "the shared signal carries over: zero-shot is well above chance (sd about 0.09 with 60 LSOAs)"
    assert tau.loc[fractions, FINE_TUNE].mean() >= tau.loc[fractions, ZERO_SHOT].mean()
    assert set(table["regime"]) == {ZERO_SHOT, FINE_TUNE, TARGET_ONLY} and set(table["method"]) == {"score_mean", "decile_mean"}
    counts = rows.drop_duplicates("fraction").set_index("fraction")
    assert (counts["adaptation_lsoas"] + counts["evaluation_lsoas"] == 60).all()
    assert counts.loc[0.0, "adaptation_lsoas"] == 0 and (counts.loc[fractions, "adaptation_lsoas"] >= [6, 12, 18]).all()
    assert (rows.set_index("fraction").loc[fractions, "n_lsoas"] == rows.set_index("fraction").loc[fractions, "evaluation_lsoas"]).all()
    assert tau.loc[0.0, ZERO_SHOT] > 0 and rows[rows["fraction"] == 0.0]["kendall_tau_b_low"].item() > 0, "zero-shot's interval lies above chance"
    tuned = rows[rows["regime"] == FINE_TUNE].set_index("fraction")
    others = rows.pivot_table(index="fraction", columns="regime", values="kendall_tau_b").loc[fractions]
    assert np.allclose(tuned["tau_b_minus_zero_shot"], others[FINE_TUNE] - others[ZERO_SHOT])
    assert np.allclose(tuned["tau_b_minus_target_only"], others[FINE_TUNE] - others[TARGET_ONLY])
    assert (tuned["tau_b_minus_zero_shot_low"] <= tuned["tau_b_minus_zero_shot"]).all() and (
        tuned["tau_b_minus_zero_shot"] <= tuned["tau_b_minus_zero_shot_high"]
    ).all()
    assert rows[rows["regime"] != FINE_TUNE]["tau_b_minus_zero_shot"].isna().all()
