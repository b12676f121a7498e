"""SQL views over the prediction tables, so a cross-outcome summary is one query away."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from ..outcomes import OUTCOME_KEYS
from ..resources import WAREHOUSE_SCHEMA
from .predictions import lsoa_predictions, model_metrics

GROUP = "predictions"
VIEW_NAMES = ("metrics_summary", "lsoa_predictions_wide")


def _quoted(identifier: str) -> str:
    """A double-quoted SQL identifier; only registry keys (checked at import) reach here."""
    if identifier not in OUTCOME_KEYS:
        raise ValueError(f"{identifier!r} is not a registered outcome key")
    return '"' + identifier + '"'


def view_statements(outcomes: list[str], schema: str = WAREHOUSE_SCHEMA) -> list[str]:
    """CREATE OR REPLACE VIEW statements for the summary views; the wide view has one column per outcome, in registry order."""
    if schema != WAREHOUSE_SCHEMA:
        raise ValueError(f"views live in schema {WAREHOUSE_SCHEMA!r}")
    wide_columns = ",\n    ".join(f"max(CASE WHEN outcome = '{key}' THEN predicted_decile END) AS {_quoted(key)}" for key in OUTCOME_KEYS if key in outcomes)
    return [
        f"""CREATE OR REPLACE VIEW {schema}.metrics_summary AS
SELECT outcome, method,
    round(kendall_tau_b, 3) AS kendall_tau_b,
    round(accuracy, 3) AS accuracy,
    round(within_one_accuracy, 3) AS within_one_accuracy,
    round(mean_absolute_error, 3) AS mean_absolute_error,
    n_lsoas
FROM {schema}.model_metrics
ORDER BY method, kendall_tau_b DESC""",
        f"""CREATE OR REPLACE VIEW {schema}.lsoa_predictions_wide AS
SELECT lsoa11,
    {wide_columns}
FROM {schema}.lsoa_predictions
WHERE method = 'score_mean'
GROUP BY lsoa11
ORDER BY lsoa11""",
    ]


@dg.asset(group_name=GROUP, deps=[model_metrics, lsoa_predictions], kinds={"duckdb", "sql"}, automation_condition=dg.AutomationCondition.eager())
def warehouse_views(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Views `metrics_summary` (one row per outcome and method) and `lsoa_predictions_wide`
    (one row per LSOA, one predicted-decile column per outcome, `score_mean` method)."""
    with duckdb.get_connection() as connection:
        tables = {
            row[0] for row in connection.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [WAREHOUSE_SCHEMA]).fetchall()
        }
        missing = {"model_metrics", "lsoa_predictions"} - tables
        if missing:
            raise ValueError(f"Tables {sorted(missing)} are not in the warehouse yet; materialize model_metrics for at least one outcome first.")
        outcomes = [row[0] for row in connection.execute(f"SELECT DISTINCT outcome FROM {WAREHOUSE_SCHEMA}.lsoa_predictions").fetchall()]
        for statement in view_statements(outcomes):
            connection.execute(statement)
    return dg.MaterializeResult(metadata={"views": dg.MetadataValue.json(list(VIEW_NAMES)), "outcomes": dg.MetadataValue.json(sorted(outcomes))})
