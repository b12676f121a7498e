"""The per-outcome results table, printed by `make demo` and pasted into the README and docs/demo.md from that output.

`python -m sview_assets.cli.report` prints it again for the configured city's warehouse;
`python -m sview_assets.cli.report --compare income` compares the outcome's last two model versions.
"""

from __future__ import annotations

import pandas as pd

from sview_assets.config.declarations import DECLARATION_FILE, Declarations, read_declarations
from sview_assets.config.settings import SviewSettings
from sview_assets.ml.evaluation.aggregate import DECILE_MEAN, SCORE_MEAN
from sview_assets.ml.evaluation.intervals import IntervalSettings, excludes_zero, paired_difference

HEADER = (
    "| outcome | Kendall tau-b, `score_mean` [95% CI] | p | tau-b, `decile_mean` [95% CI] | within one decile, `score_mean` [95% CI] | LSOAs |",
    "| --- | --- | --- | --- | --- | --- |",
)
INCLUDES_ZERO = "(includes 0)"
LEGEND = (
    f"[95% CI]: bootstrap interval over LSOAs; p: permutation p-value of tau-b. {INCLUDES_ZERO}: the interval includes 0, "
    "so the data show no association (or no difference) at all."
)


def read_metrics(settings: SviewSettings) -> pd.DataFrame:
    """The city's model_metrics table (each outcome's newest model version)."""
    from sview_assets.sql import connect

    with connect(settings) as connection:
        return connection.execute("SELECT * FROM model_metrics").fetchdf()


def with_interval(row, metric: str, zero_matters: bool = True) -> str:
    """``0.63 [0.52, 0.73]``, marked when the interval includes 0; the value alone where no interval was stored."""
    value, low, high = row.get(metric), row.get(f"{metric}_low"), row.get(f"{metric}_high")
    if value is None or pd.isna(value):
        return "–"
    if low is None or pd.isna(low):
        return f"{value:.2f}"
    mark = f" {INCLUDES_ZERO}" if zero_matters and not excludes_zero(low, high) else ""
    return f"{value:.2f} [{low:.2f}, {high:.2f}]{mark}"


def _p_value(row) -> str:
    value = row.get("kendall_tau_b_p_value")
    return "–" if value is None or pd.isna(value) else f"{value:.3f}"


def metrics_markdown(metrics: pd.DataFrame, declarations: Declarations) -> str:
    """One row per outcome, best `score_mean` tau-b first: both methods' tau-b and the within-one accuracy with their
    intervals, tau-b's p-value, LSOAs; a legend line after the table.

    Titles come from the city's declarations; a negative control is set in bold.
    """
    by_method = {method: part.set_index("outcome") for method, part in metrics.groupby("method")}
    score, decile = by_method[SCORE_MEAN], by_method[DECILE_MEAN]
    rows = list(HEADER)
    for outcome in score.sort_values("kendall_tau_b", ascending=False).index:
        entry = declarations.outcome(outcome) if outcome in declarations.keys else None
        title = f"{entry.title if entry else outcome} (`{outcome}`)"
        if entry and entry.negative_control:
            title = f"**{title}**"
        first, second = score.loc[outcome], decile.loc[outcome]
        rows.append(
            f"| {title} | {with_interval(first, 'kendall_tau_b')} | {_p_value(first)} | {with_interval(second, 'kendall_tau_b')} "
            f"| {with_interval(first, 'within_one_accuracy', zero_matters=False)} | {int(first['n_lsoas'])} |"
        )
    return "\n".join([*rows, "", LEGEND])


def print_metrics(settings: SviewSettings) -> None:
    """Print the results table of the city's warehouse."""
    print(metrics_markdown(read_metrics(settings), read_declarations(settings.paths.city_file(DECLARATION_FILE))))


def read_transfer(target: SviewSettings, source: str) -> pd.DataFrame:
    """The ``transfer_metrics`` rows of the target city's warehouse that came from ``source``."""
    from sview_assets.sql import connect

    with connect(target) as connection:
        return connection.execute("SELECT * FROM transfer_metrics WHERE source_city = ? ORDER BY outcome, fraction, regime, method", [source]).fetchdf()


def transfer_markdown(rows: pd.DataFrame) -> str:
    """Per outcome and fraction, the tau-b (``score_mean``) of each regime with its interval, the paired differences of
    fine-tuning against the other two (with their paired intervals), and the LSOAs evaluated."""
    part = rows[rows["method"] == SCORE_MEAN]
    lines = [
        "| outcome | fraction | zero-shot | fine-tune | target only | fine-tune − zero-shot | fine-tune − target only | LSOAs evaluated |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (outcome, fraction), group in part.groupby(["outcome", "fraction"], sort=True):
        regimes = {row["regime"]: row for _, row in group.iterrows()}
        cells = [with_interval(regimes[r], "kendall_tau_b") if r in regimes else "–" for r in ("zero_shot", "fine_tune", "target_only")]
        tuned = regimes.get("fine_tune")
        differences = [with_interval(tuned, f"tau_b_minus_{other}") if tuned is not None else "–" for other in ("zero_shot", "target_only")]
        lines.append(f"| {outcome} | {fraction:g} | {' | '.join(cells)} | {' | '.join(differences)} | {int(group['evaluation_lsoas'].max())} |")
    return "\n".join([*lines, "", LEGEND])


def print_transfer(target: SviewSettings, source: str) -> None:
    """Print the transfer table of ``source``'s models in ``target``."""
    print(transfer_markdown(read_transfer(target, source)))


def compare_versions(settings: SviewSettings, outcome: str, method: str = SCORE_MEAN, intervals: IntervalSettings = IntervalSettings()) -> dict:
    """Tau-b of ``outcome``'s newest model version minus the version before it, on the LSOAs both predicted, with the
    paired bootstrap interval (the same resampled LSOAs for both versions)."""
    from sview_assets.sql import connect

    with connect(settings) as connection:
        rows = connection.execute(
            "SELECT model_version, lsoa11, predicted_decile, true_decile FROM lsoa_predictions_history WHERE outcome = ? AND method = ?", [outcome, method]
        ).fetchdf()
    versions = sorted(rows["model_version"].unique(), reverse=True)
    if len(versions) < 2:
        raise ValueError(f"{outcome!r} has {len(versions)} kept model version(s) in {settings.city}; train it again to compare two.")
    newer, older = (rows[rows["model_version"] == v].set_index("lsoa11") for v in versions[:2])
    both = newer.join(older, lsuffix="_new", rsuffix="_old", how="inner")
    found = paired_difference(
        both["predicted_decile_new"].to_numpy(), both["predicted_decile_old"].to_numpy(), both["true_decile_new"].to_numpy(), settings=intervals
    )
    return {"outcome": outcome, "method": method, "newer": versions[0], "older": versions[1], "lsoas": len(both), **found}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="The results table of SVIEW_CITY's warehouse, or two model versions of an outcome compared.")
    parser.add_argument("--compare", metavar="OUTCOME", help="tau-b of the outcome's newest model version minus the one before, with its paired 95%% interval")
    parser.add_argument("--method", default=SCORE_MEAN, choices=(SCORE_MEAN, DECILE_MEAN))
    args = parser.parse_args(argv)
    settings = SviewSettings.from_env()
    if not args.compare:
        print_metrics(settings)
        return
    found = compare_versions(settings, args.compare, args.method)
    verdict = "a difference" if excludes_zero(found["low"], found["high"]) else f"no difference shown {INCLUDES_ZERO}"
    print(
        f"{found['outcome']} ({found['method']}, {found['lsoas']} LSOAs): tau-b of {found['newer']} minus {found['older']} = "
        f"{found['difference']:+.3f} [{found['low']:+.3f}, {found['high']:+.3f}]: {verdict}"
    )


if __name__ == "__main__":
    main()
