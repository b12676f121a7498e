"""LSOA aggregation by both methods and the decile metrics, against hand-worked cases and SciPy."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from sview_assets.ml.evaluation.aggregate import aggregate_decile_mean, aggregate_lsoas, aggregate_score_mean
from sview_assets.ml.evaluation.metrics import confusion_matrix, decile_metrics


def hand_case():
    """Ten LSOAs with two locations each; LSOA k (1..10) has true decile k."""
    rows = []
    for k in range(1, 11):
        lsoa = f"E01{k:06d}"
        rows.append({"img_id": 2 * k, "lsoa11": lsoa, "score": float(k), "true_decile": k})
        rows.append({"img_id": 2 * k + 1, "lsoa11": lsoa, "score": float(k) + (10.0 if k == 1 else 0.5), "true_decile": k})
    return pd.DataFrame(rows)


def test_score_mean_by_hand():
    out = aggregate_score_mean(hand_case()).set_index("lsoa11")
    # LSOA 1's mean score is (1 + 11) / 2 = 6, between LSOA 5 (5.25) and LSOA 6 (6.25).
    assert out.loc["E01000001", "mean_score"] == 6.0
    assert out["predicted_decile"].tolist() == [5, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert (out["n_locations"] == 2).all() and (out["method"] == "score_mean").all()


def test_decile_mean_by_hand():
    out = aggregate_decile_mean(hand_case()).set_index("lsoa11")
    # 20 location scores sorted: 1, 2, 2.5, 3, 3.5, ..., 10, 10.5, 11 -> two per location decile.
    # LSOA 1 has location deciles 1 and 10 -> mean 5.5 -> rounded half to even: 6.
    assert out.loc["E01000001", "predicted_decile"] == 6
    # LSOA 2 has scores 2 and 2.5 -> sorted positions 1 and 2 -> deciles 1 and 2 -> 1.5 -> 2.
    assert out.loc["E01000002", "predicted_decile"] == 2
    assert out.loc["E01000010", "predicted_decile"] == 10


def test_decile_mean_rounds_halves_to_even_like_the_original_script():
    # Ten locations with scores 0..9 get location deciles 1..10.
    lsoa_of = ["C", "A", "A", "B", "B", "D", "D", "D", "D", "D"]
    frame = pd.DataFrame({"img_id": range(10), "lsoa11": lsoa_of, "score": np.arange(10.0), "true_decile": 1})
    out = aggregate_decile_mean(frame).set_index("lsoa11")["predicted_decile"]
    # A: deciles 2, 3 -> 2.5 -> 2 (half up would give 3); B: 4, 5 -> 4.5 -> 4; C: 1; D: 6..10 -> 8.
    assert out.to_dict() == {"A": 2, "B": 4, "C": 1, "D": 8}


def test_both_methods_side_by_side():
    out = aggregate_lsoas(hand_case())
    assert sorted(out["method"].unique()) == ["decile_mean", "score_mean"]
    assert len(out) == 20 and list(out.columns) == ["lsoa11", "method", "n_locations", "mean_score", "score_std_error", "predicted_decile", "true_decile"]


def test_inconsistent_true_deciles_are_an_error():
    frame = hand_case()
    frame.loc[0, "true_decile"] = 9
    with pytest.raises(ValueError, match="different true deciles"):
        aggregate_score_mean(frame)


def test_metrics_match_scipy_and_hand_counts():
    rng = np.random.default_rng(0)
    true = rng.integers(1, 11, 200)
    predicted = np.clip(true + rng.integers(-2, 3, 200), 1, 10)
    metrics = decile_metrics(predicted, true)
    assert metrics["kendall_tau_b"] == pytest.approx(kendalltau(predicted, true).statistic)
    assert metrics["accuracy"] == pytest.approx(np.mean(predicted == true))
    assert metrics["within_one_accuracy"] == pytest.approx(np.mean(np.abs(predicted - true) <= 1))
    assert metrics["mean_absolute_error"] == pytest.approx(np.mean(np.abs(predicted - true)))
    assert metrics["n_lsoas"] == 200


def test_metrics_small_hand_case():
    metrics = decile_metrics(np.array([1, 2, 5, 10]), np.array([1, 3, 3, 10]))
    assert metrics["accuracy"] == 0.5
    assert metrics["within_one_accuracy"] == 0.75
    assert metrics["mean_absolute_error"] == 0.75
    matrix = confusion_matrix(np.array([1, 2, 5, 10]), np.array([1, 3, 3, 10]))
    assert matrix.sum() == 4 and matrix[2, 1] == 1 and matrix[2, 4] == 1 and matrix[0, 0] == 1 and matrix[9, 9] == 1
