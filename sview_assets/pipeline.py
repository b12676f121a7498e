"""Run the whole pipeline for a city, stage by stage, as recorded Dagster runs.

Used by ``make demo`` (``python -m sview_assets.pipeline``) and by the
``whole_pipeline`` job. Each stage is one of the named asset jobs, executed
against the same Dagster instance, so every materialization shows in the UI
with its lineage. A failing image batch or outcome is reported and the
others go on; the call fails at the end if anything failed.
"""

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from .outcomes import OUTCOME_KEYS
from .partitions import image_batch_partitions, outcome_partitions
from .settings import SviewSettings
from .staleness import plan_image_batches

LABELS_JOB = "labels_job"
FEATURES_JOB = "image_features_job"
TRAINING_SET_JOB = "training_set_job"
OUTCOME_JOB = "retrain_outcome"
VIEWS_JOB = "views_job"


@dataclass
class PipelineReport:
    """Runs launched, each stage's outcome, and what failed."""

    runs: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line per stage run: ok or FAILED, with its run id."""
        return "\n".join(f"  {'ok    ' if label not in self.failed else 'FAILED'} {label} ({run_id})" for label, run_id in self.stages)


def run_whole_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    settings: SviewSettings,
    *,
    outcomes: list[str] | None = None,
    train_config: dict | None = None,
    log: Callable[[str], None] = print,
    log_level: str = "INFO",
) -> PipelineReport:
    """Labels, every new or changed image batch, the training set, then each outcome's chain and the views.

    ``log_level`` is the console level of the stage runs (their full logs are in the instance either way).
    """
    report = PipelineReport()

    def execute(job_name: str, label: str, run_config: dict | None = None, **kwargs) -> bool:
        config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": log_level}}}}
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False, run_config=config, **kwargs)
        report.runs.append(result.run_id)
        report.stages.append((label, result.run_id))
        if not result.success:
            report.failed.append(label)
            log(f"FAILED: {label} (run {result.run_id}); see its logs in the UI")
        return result.success

    log("stage 1/5: labels and postcode locations")
    if not execute(LABELS_JOB, "labels"):
        return report
    city_outcomes = instance.get_dynamic_partitions(outcome_partitions.name)
    plan = plan_image_batches(instance, settings, image_batch_partitions.name, defs.resources["vgg16"].recipe())
    if plan.to_register:
        instance.add_dynamic_partitions(image_batch_partitions.name, plan.to_register)
    log(f"stage 2/5: features for {len(plan.to_extract)} image batch(es) ({len(plan.to_register)} newly registered)")
    for i, batch in enumerate(sorted(plan.to_extract), start=1):
        log(f"  batch {batch} ({i}/{len(plan.to_extract)}): {'; '.join(plan.reasons[batch])}")
        execute(FEATURES_JOB, f"features[{batch}]", partition_key=batch)
    if plan.removed:
        log(f"  left out, no longer under raw/images/: {', '.join(plan.removed)}")
    log("stage 3/5: training set")
    if not execute(TRAINING_SET_JOB, "training_set"):
        return report
    chosen = [o for o in (outcomes or city_outcomes) if o in city_outcomes]
    for outcome in sorted(set(outcomes or []) - set(city_outcomes)):
        report.failed.append(f"outcome[{outcome}]")
        report.stages.append((f"outcome[{outcome}]", "not run: no labels in this city"))
        log(f"FAILED: outcome[{outcome}]: this city's label files do not provide it (see lsoa_labels' outcomes_not_built)")
    run_config = {"ops": {"ordinal_model": {"config": train_config}}} if train_config else None
    log(f"stage 4/5: models and predictions for {len(chosen)} outcome(s)")
    for i, outcome in enumerate(chosen, start=1):
        log(f"  outcome {outcome} ({i}/{len(chosen)})")
        execute(OUTCOME_JOB, f"outcome[{outcome}]", partition_key=outcome, run_config=run_config)
    log("stage 5/5: summary views")
    execute(VIEWS_JOB, "views")
    return report


def main(argv: list[str] | None = None) -> None:
    from .ml.presets import PRESETS
    from .report import print_metrics

    parser = argparse.ArgumentParser(description="Materialize every sview asset for the configured city (SVIEW_CITY).")
    parser.add_argument(
        "--outcomes", nargs="*", help=f"outcomes to train (default: every outcome the city's label files provide, of {', '.join(OUTCOME_KEYS)})"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="training preset: 'default' (fast, early stopping) or 'paper' (the original code's settings)")
    parser.add_argument("--epochs", type=int, help="override the preset's most epochs per model")
    parser.add_argument("--patience", type=int, help="override the early-stopping patience")
    parser.add_argument("--folds", type=int, help="override the number of cross-validation folds")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.outcomes or []) - set(OUTCOME_KEYS))
    if unknown:
        parser.error(f"unknown outcome(s) {', '.join(unknown)}; known: {', '.join(OUTCOME_KEYS)}")
    overrides = {k: v for k in ("preset", "epochs", "patience", "folds") if (v := getattr(args, k)) is not None}

    from .definitions import defs

    settings = defs.resources["settings"]
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs are not kept after this process (the Makefile sets it to data/.dagster).")
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    report = run_whole_pipeline(defs, instance, settings, outcomes=args.outcomes, train_config=overrides or None)
    if not report.success:
        print(f"stages of this run:\n{report.summary()}", file=sys.stderr)
        print(f"{len(report.failed)} stage(s) failed: {', '.join(report.failed)}; their logs are in the Dagster UI (make ui).", file=sys.stderr)
        sys.exit(1)
    print_metrics(settings)
    print(f"done: {len(report.runs)} runs, warehouse at {settings.paths.warehouse}")


if __name__ == "__main__":
    main()
