"""The per-outcome results table, printed by `make demo` and pasted into the README from that output.

`python -m sview_assets.report` prints it again for the configured city's warehouse.
"""

from __future__ import annotations

import pandas as pd

from .ml.aggregate import DECILE_MEAN, SCORE_MEAN
from .settings import SviewSettings
from .sources.declarations import DECLARATION_FILE, Declarations, read_declarations

HEADER = (
    "| outcome | Kendall tau-b, `score_mean` | tau-b, `decile_mean` | within one decile (`score_mean`) | LSOAs |",
    "| --- | --- | --- | --- | --- |",
)


def read_metrics(settings: SviewSettings) -> pd.DataFrame:
    """The city's model_metrics table (each outcome's newest model version)."""
    from .sql import connect

    with connect(settings) as connection:
        return connection.execute("SELECT * FROM model_metrics").fetchdf()


def metrics_markdown(metrics: pd.DataFrame, declarations: Declarations) -> str:
    """One row per outcome, best `score_mean` tau-b first: both methods' tau-b, within-one accuracy, LSOAs.

    Titles come from the city's declarations; a negative control is set in bold.
    """
    wide = metrics.pivot(index="outcome", columns="method", values="kendall_tau_b")
    within = metrics[metrics["method"] == SCORE_MEAN].set_index("outcome")
    rows = list(HEADER)
    for outcome in wide.sort_values(SCORE_MEAN, ascending=False).index:
        entry = declarations.outcome(outcome) if outcome in declarations.keys else None
        title = f"{entry.title if entry else outcome} (`{outcome}`)"
        if entry and entry.negative_control:
            title = f"**{title}**"
        rows.append(
            f"| {title} | {wide.at[outcome, SCORE_MEAN]:.2f} | {wide.at[outcome, DECILE_MEAN]:.2f} "
            f"| {within.at[outcome, 'within_one_accuracy']:.2f} | {int(within.at[outcome, 'n_lsoas'])} |"
        )
    return "\n".join(rows)


def print_metrics(settings: SviewSettings) -> None:
    """Print the results table of the city's warehouse."""
    print(metrics_markdown(read_metrics(settings), read_declarations(settings.paths.city_file(DECLARATION_FILE))))


def read_transfer(target: SviewSettings, source: str) -> pd.DataFrame:
    """The ``transfer_metrics`` rows of the target city's warehouse that came from ``source``."""
    from .sql import connect

    with connect(target) as connection:
        return connection.execute("SELECT * FROM transfer_metrics WHERE source_city = ? ORDER BY outcome, fraction, regime, method", [source]).fetchdf()


def transfer_markdown(rows: pd.DataFrame) -> str:
    """Per outcome and fraction, the tau-b (``score_mean``) of each regime and the LSOAs evaluated."""
    part = rows[rows["method"] == SCORE_MEAN]
    wide = part.pivot_table(index=["outcome", "fraction"], columns="regime", values="kendall_tau_b")
    lsoas = part.groupby(["outcome", "fraction"])["evaluation_lsoas"].max()
    lines = ["| outcome | fraction | zero-shot | fine-tune | target only | LSOAs evaluated |", "| --- | --- | --- | --- | --- | --- |"]
    for (outcome, fraction), row in wide.iterrows():
        cells = [f"{row[r]:.2f}" if r in row and pd.notna(row[r]) else "–" for r in ("zero_shot", "fine_tune", "target_only")]
        lines.append(f"| {outcome} | {fraction:g} | {' | '.join(cells)} | {int(lsoas[(outcome, fraction)])} |")
    return "\n".join(lines)


def print_transfer(target: SviewSettings, source: str) -> None:
    """Print the transfer table of ``source``'s models in ``target``."""
    print(transfer_markdown(read_transfer(target, source)))


if __name__ == "__main__":
    print_metrics(SviewSettings.from_env())
