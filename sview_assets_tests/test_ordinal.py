"""The ordinal model: Binomial class probabilities, a stable loss, grouped folds, and learning."""

import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from scipy.stats import binom

from sview_assets.ml.training.folds import lsoa_folds, validation_split
from sview_assets.ml.training.ordinal import class_log_probabilities_np, ordinal_loss, predicted_decile


def class_probabilities_np(score: np.ndarray) -> np.ndarray:
    """P(decile = k + 1 | score), shape [n, 10]."""
    return np.exp(class_log_probabilities_np(score))


@pytest.mark.parametrize("score", [-6.0, -1.3, 0.0, 0.4, 2.5, 9.0])
def test_probabilities_are_binomial_and_sum_to_one(score):
    probs = class_probabilities_np(np.array([score]))[0]
    p = 1 / (1 + math.exp(-score))
    np.testing.assert_allclose(probs, binom.pmf(np.arange(10), 9, p), rtol=1e-9, atol=1e-300)
    assert probs.sum() == pytest.approx(1.0)


def test_loss_equals_hand_computation():
    scores = np.array([[0.3], [-1.2]], np.float32)
    truth = np.array([7, 2])
    expected = []
    for s, y in zip(scores[:, 0], truth):
        p = 1 / (1 + math.exp(-float(s)))
        expected.append(-math.log(math.comb(9, y - 1) * p ** (y - 1) * (1 - p) ** (10 - y)))
    loss = float(ordinal_loss(tf.constant(truth), tf.constant(scores)))
    assert loss == pytest.approx(np.mean(expected), rel=1e-5)


@pytest.mark.parametrize("score", [-50.0, 50.0])
def test_loss_is_finite_at_extreme_scores(score):
    scores = tf.constant([[score]] * 10, tf.float32)
    deciles = tf.constant(np.arange(1, 11))
    with tf.GradientTape() as tape:
        tape.watch(scores)
        loss = ordinal_loss(deciles, scores)
    assert np.isfinite(float(loss))
    assert np.all(np.isfinite(tape.gradient(loss, scores).numpy()))
    # The matching extreme decile costs ~0 at this score, the opposite one ~9 * 50.
    end = 10 if score > 0 else 1
    assert float(ordinal_loss(tf.constant([end]), scores[:1])) < 1e-6


def test_predicted_decile_is_most_probable_class():
    scores = np.array([-20.0, 0.0, 20.0])
    # At score 0 deciles 5 and 6 are equally likely; the lower one is reported.
    assert predicted_decile(scores).tolist() == [1, 5, 10]
    assert predicted_decile(np.array([0.01]))[0] == 6


def grouped_city(n_lsoas=60, seed=0):
    rng = np.random.default_rng(seed)
    lsoa = np.repeat([f"L{i:03d}" for i in range(n_lsoas)], rng.integers(2, 9, n_lsoas))
    decile = pd.Series(lsoa).map({f"L{i:03d}": i % 10 + 1 for i in range(n_lsoas)}).to_numpy()
    return lsoa, decile


def test_folds_group_lsoas_and_balance_deciles():
    lsoa, decile = grouped_city()
    folds = lsoa_folds(lsoa, decile, 5, seed=1)
    frame = pd.DataFrame({"lsoa": lsoa, "decile": decile, "fold": folds})
    assert (frame.groupby("lsoa")["fold"].nunique() == 1).all()
    per_fold = frame.drop_duplicates("lsoa").groupby(["fold", "decile"]).size().unstack(fill_value=0)
    assert per_fold.shape == (5, 10)
    assert (per_fold.max(axis=0) - per_fold.min(axis=0)).max() <= 1
    assert np.array_equal(folds, lsoa_folds(lsoa, decile, 5, seed=1))
    assert not np.array_equal(folds, lsoa_folds(lsoa, decile, 5, seed=2))


def test_validation_split_is_grouped():
    lsoa, _ = grouped_city()
    held = validation_split(lsoa, 0.1, seed=3)
    frame = pd.DataFrame({"lsoa": lsoa, "held": held})
    assert (frame.groupby("lsoa")["held"].nunique() == 1).all()
    assert frame.drop_duplicates("lsoa")["held"].sum() == 6


def test_lsoa_with_two_deciles_is_an_error():
    with pytest.raises(ValueError, match="different deciles"):
        lsoa_folds(np.array(["A", "A", "B"]), np.array([1, 2, 3]), 2, seed=0)
