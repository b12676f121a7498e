"""Every figure with its interval: tau-b from count tables, bootstrap coverage, permutation p-values, paired
differences, per-area spread, and the original code's decile cut."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from sview_assets.ml.evaluation.aggregate import aggregate_decile_mean, aggregate_lsoas, aggregate_score_mean
from sview_assets.ml.evaluation.intervals import IntervalSettings, excludes_zero, metric_intervals, paired_difference, permutation_p_value, table_metrics
from sview_assets.ml.evaluation.metrics import confusion_matrix, decile_metrics
from sview_assets.util.deciles import quantile_deciles

FAST = IntervalSettings(resamples=300, permutations=300)


@pytest.mark.parametrize("n, noise", [(12, 0), (60, 2), (61, 5), (500, 9)])
def test_tau_b_of_a_count_table_is_scipys(n, noise):
    rng = np.random.default_rng(n)
    true = rng.integers(1, 11, n)
    predicted = np.clip(true + rng.integers(-noise, noise + 1, n), 1, 10)
    table = confusion_matrix(predicted, true)
    computed = table_metrics(table[None])
    assert computed["kendall_tau_b"][0] == pytest.approx(kendalltau(predicted, true).statistic, abs=1e-12)
    assert computed["accuracy"][0] == pytest.approx(np.mean(predicted == true))
    assert computed["within_one_accuracy"][0] == pytest.approx(np.mean(np.abs(predicted - true) <= 1))


def test_a_strong_association_has_an_interval_above_zero_and_a_small_p_value():
    rng = np.random.default_rng(3)
    true = np.repeat(np.arange(1, 11), 6)
    predicted = np.clip(true + rng.integers(-1, 2, 60), 1, 10)
    found = decile_metrics(predicted, true, FAST)
    assert found["kendall_tau_b_low"] > 0.7 and found["kendall_tau_b_low"] <= found["kendall_tau_b"] <= found["kendall_tau_b_high"]
    assert found["kendall_tau_b_p_value"] == pytest.approx(1 / 301)
    assert found["accuracy_low"] <= found["accuracy"] <= found["accuracy_high"]


def test_intervals_of_unrelated_deciles_cover_zero_in_at_least_nine_of_ten_cities():
    covered, p_values = 0, []
    for seed in range(50):
        rng = np.random.default_rng(100 + seed)
        true, predicted = rng.permutation(np.repeat(np.arange(1, 11), 6)), rng.permutation(np.repeat(np.arange(1, 11), 6))
        found = metric_intervals(predicted, true, IntervalSettings(resamples=300, permutations=200, seed=seed))
        covered += not excludes_zero(found["kendall_tau_b_low"], found["kendall_tau_b_high"])
        p_values.append(found["kendall_tau_b_p_value"])
    assert covered >= 45, covered
    assert np.mean(np.array(p_values) < 0.05) <= 0.15


def test_a_regime_compared_with_itself_differs_by_exactly_zero():
    rng = np.random.default_rng(0)
    true = rng.integers(1, 11, 40)
    predicted = np.clip(true + rng.integers(-3, 4, 40), 1, 10)
    assert paired_difference(predicted, predicted, true, settings=FAST) == {"difference": 0.0, "low": 0.0, "high": 0.0}
    better = paired_difference(true, predicted, true, settings=FAST)
    assert better["difference"] > 0 and better["low"] > 0


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    rng = np.random.default_rng(1)
    true = rng.integers(1, 11, 30)
    predicted = np.clip(true + rng.integers(-4, 5, 30), 1, 10)
    assert metric_intervals(predicted, true, FAST) == metric_intervals(predicted, true, FAST)
    other = metric_intervals(predicted, true, IntervalSettings(resamples=300, permutations=300, seed=7))
    assert other["kendall_tau_b_low"] != metric_intervals(predicted, true, FAST)["kendall_tau_b_low"]
    assert permutation_p_value(predicted, true, FAST) > 0


def locations(per_area: int, areas: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lsoa = np.repeat([f"A{i:03d}" for i in range(areas)], per_area)
    signal = np.repeat(np.linspace(-1, 1, areas), per_area)
    return pd.DataFrame(
        {
            "img_id": np.arange(len(lsoa)),
            "lsoa11": lsoa,
            "score": signal + rng.normal(0, 1, len(lsoa)),
            "true_decile": np.repeat((np.arange(areas) // 3) + 1, per_area),
        }
    )


def test_the_spread_of_an_area_prediction_shrinks_as_its_locations_grow():
    spread = {n: aggregate_score_mean(locations(n, areas=200))["score_std_error"].mean() for n in (2, 4, 16, 64)}
    assert spread[2] > spread[4] > spread[16] > spread[64]
    assert spread[64] == pytest.approx(1 / 8, rel=0.25)
    one = aggregate_score_mean(locations(1))
    assert one["score_std_error"].isna().all() and (one["n_locations"] == 1).all()


@pytest.mark.parametrize("n", [60, 57, 133, 1001])
def test_prediction_deciles_are_the_original_codes_qcut(n):
    rng = np.random.default_rng(n)
    scores = pd.Series(np.round(rng.normal(size=n), 1), index=[f"L{i}" for i in range(n)])
    assert scores.duplicated().any(), "the case has tied scores"
    expected = pd.qcut(scores, 10, labels=False) + 1
    assert quantile_deciles(scores).tolist() == expected.tolist()


def test_decile_mean_reproduces_an_independent_recomputation_of_the_original_aggregation():
    frame = locations(3, areas=37, seed=5)
    frame["score"] = np.round(frame["score"], 2)
    location_decile = pd.qcut(frame["score"], 10, labels=False) + 1
    expected = np.rint(location_decile.groupby(frame["lsoa11"]).mean()).astype(int)
    ours = aggregate_decile_mean(frame).set_index("lsoa11")["predicted_decile"]
    assert ours.to_dict() == expected.to_dict()
    means = frame.groupby("lsoa11")["score"].mean()
    assert aggregate_score_mean(frame).set_index("lsoa11")["predicted_decile"].to_dict() == (pd.qcut(means, 10, labels=False) + 1).to_dict()


def test_scores_that_tie_too_much_for_qcut_fall_back_to_a_rank_cut():
    scores = pd.Series([0.0] * 30 + list(np.arange(30.0)), index=[f"L{i:02d}" for i in range(60)])
    with pytest.raises(ValueError, match="Bin edges must be unique"):
        pd.qcut(scores, 10, labels=False)
    assert quantile_deciles(scores).value_counts().sort_index().tolist() == [6] * 10


def test_both_methods_keep_n_locations_and_the_spread():
    out = aggregate_lsoas(locations(3))
    assert set(out.groupby("method")["n_locations"].unique().explode()) == {3}
    assert out["score_std_error"].notna().all()


def test_the_map_hatches_predictions_resting_on_few_locations():
    from sview_assets.figures.plots import FEW_LOCATIONS, decile_map

    lsoas = pd.DataFrame(
        {
            "lsoa11": [f"A{i}" for i in range(20)],
            "n_locations": [1, 2] + [FEW_LOCATIONS] * 18,
            "lat": np.repeat(np.arange(4) / 100, 5),
            "long": np.tile(np.arange(5) / 100, 4),
            "true_decile": np.repeat(np.arange(1, 11), 2),
            "predicted_decile": np.repeat(np.arange(1, 11), 2),
        }
    )
    figure = decile_map(lsoas, "test")
    true_panel, predicted_panel = figure.axes[:2]
    assert predicted_panel.get_title() == f"predicted decile\nhatched: 2 resting on < {FEW_LOCATIONS} locations"
    assert true_panel.get_title() == "true decile"
    crosses = [c for c in predicted_panel.collections if len(c.get_offsets()) == 2]
    assert len(crosses) == 1
