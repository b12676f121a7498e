"""SQL views over the prediction tables, so a cross-outcome summary is one query away."""

import dagster as dg

from sview_assets.config.declarations import OUTCOME_KEY
from sview_assets.config.settings import Storage
from sview_assets.defs.conditions import keep_up_to_date
from sview_assets.defs.names import AssetName
from sview_assets.defs.resources import WarehouseSQL
from sview_assets.defs.scope import CityScope
from sview_assets.util.files import atomic_path
from sview_assets.warehouse.duckdb_views import VERSION_TABLES_VIEW, VIEWS_FILE, schema_views, use_schema
from sview_assets.warehouse.tables import VERSION_COLUMN, VERSIONED_TABLES

VIEW_NAMES = ("metrics_summary", "lsoa_predictions_wide")


def _quoted(identifier: str) -> str:
    """A double-quoted SQL identifier; only outcome keys (lower-case letters, digits and '_', as declarations require) pass."""
    if not OUTCOME_KEY.match(identifier):
        raise ValueError(f"{identifier!r} is not an outcome key")
    return '"' + identifier + '"'


def view_statements(outcomes: list[str]) -> list[str]:
    """CREATE OR REPLACE VIEW statements for the summary views; the wide view has one column per outcome, in ``outcomes``' order.

    Both read the tables' plain names, that is each outcome's newest model version.
    """
    wide_columns = ",\n    ".join(f"max(CASE WHEN outcome = '{key}' THEN predicted_decile END) AS {_quoted(key)}" for key in outcomes)
    return [
        """CREATE OR REPLACE VIEW metrics_summary AS
SELECT outcome, method,
    round(kendall_tau_b, 3) AS kendall_tau_b,
    round(kendall_tau_b_low, 3) AS kendall_tau_b_low,
    round(kendall_tau_b_high, 3) AS kendall_tau_b_high,
    round(kendall_tau_b_p_value, 4) AS kendall_tau_b_p_value,
    kendall_tau_b_low > 0 OR kendall_tau_b_high < 0 AS beyond_chance,
    round(accuracy, 3) AS accuracy,
    round(within_one_accuracy, 3) AS within_one_accuracy,
    round(mean_absolute_error, 3) AS mean_absolute_error,
    n_lsoas, model_version
FROM model_metrics
ORDER BY method, kendall_tau_b DESC""",
        f"""CREATE OR REPLACE VIEW lsoa_predictions_wide AS
SELECT lsoa11,
    {wide_columns}
FROM lsoa_predictions
WHERE method = 'score_mean'
GROUP BY lsoa11
ORDER BY lsoa11""",
    ]


def incomplete_versions(connection) -> list[dict]:
    """Kept model versions newer than their outcome's current one that not every versioned table holds."""
    columns = ", ".join(f"in_{name}" for name in VERSIONED_TABLES)
    found = connection.execute(
        f"SELECT outcome, {VERSION_COLUMN}, {columns} FROM {VERSION_TABLES_VIEW} AS t WHERE NOT complete "
        f"AND {VERSION_COLUMN} > coalesce((SELECT max({VERSION_COLUMN}) FROM {VERSION_TABLES_VIEW} AS c WHERE c.complete AND c.outcome = t.outcome), '') "
        "ORDER BY ALL"
    ).fetchall()
    return [{"outcome": o, "model_version": v, "in": [name for name, held in zip(VERSIONED_TABLES, flags) if held]} for o, v, *flags in found]


def build_view_assets(scope: CityScope) -> list[dg.AssetsDefinition]:
    """The city's ``warehouse_views``."""

    @dg.asset(
        **scope.asset_args(AssetName.WAREHOUSE_VIEWS),
        deps=[scope.key(AssetName.MODEL_METRICS), scope.key(AssetName.LSOA_PREDICTIONS)],
        kinds={"duckdb", "sql"},
        # An outcome whose model failed leaves its partitions missing; the views of the others still refresh.
        automation_condition=keep_up_to_date(wait_for_every_input=False),
    )
    def warehouse_views(context: dg.AssetExecutionContext, duckdb: WarehouseSQL, storage: Storage) -> dg.MaterializeResult:
        """Views `metrics_summary` (one row per outcome and method) and `lsoa_predictions_wide`
        (one row per LSOA, one predicted-decile column per outcome, `score_mean` method).

        Written to `warehouse/views.sql`, which `make sql` and `sview_assets.sql.connect()` run after defining
        the tables; the statements are tried on the current tables first, so a broken view is never saved.
        A model version that a stopped run left in some of the versioned tables only is logged as a warning
        and listed in `incomplete_model_versions`; the views show the newest version all three hold.
        """
        with duckdb.get_connection() as connection:
            use_schema(connection, scope.city)
            tables = schema_views(connection, scope.city)
            missing = {"model_metrics", "lsoa_predictions"} - tables
            if missing:
                raise ValueError(f"Tables {sorted(missing)} are not in the warehouse yet; materialize model_metrics for at least one outcome first.")
            outcomes = [row[0] for row in connection.execute("SELECT DISTINCT outcome FROM lsoa_predictions ORDER BY 1").fetchall()]
            statements = view_statements(outcomes)
            for statement in statements:
                connection.execute(statement)
            rows = {name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in VIEW_NAMES}
            incomplete = incomplete_versions(connection) if VERSION_TABLES_VIEW in tables else []
        for version in incomplete:
            context.log.warning(
                f"{version['outcome']}: model version {version['model_version']} is only in {', '.join(version['in'])} (a run stopped between "
                "its writes); the tables' plain names show the newest version all three hold. Re-run that outcome's retrain to complete it."
            )
        with atomic_path(storage.for_city(scope.city).warehouse / VIEWS_FILE) as tmp:
            tmp.write_text(";\n\n".join(statements) + ";\n")
        return dg.MaterializeResult(
            metadata={
                "views": dg.MetadataValue.json(list(VIEW_NAMES)),
                "outcomes": dg.MetadataValue.json(outcomes),
                "rows": dg.MetadataValue.json(rows),
                "incomplete_model_versions": dg.MetadataValue.json(incomplete),
            }
        )

    return [warehouse_views]
