"""``python -m sview_assets.pipeline`` (what ``make demo`` runs): materialize every asset of the city, in this process.

A thin client of the code location: it registers new image batches the way the image-batch sensor
does, then materializes the asset graph stage by stage as a backfill of every asset would
(``run_plan.py``), each run recorded in the Dagster instance and shown in the UI. Which partitions
run: the image batches whose features are missing or stale (unchanged batches are never extracted
again) and every outcome of the city (or ``--outcomes``). A failing batch or outcome is reported
and the others go on; the command exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from .outcomes import OUTCOME_KEYS
from .partitions import image_batch_partitions, outcome_partitions
from .run_plan import plan_stages
from .staleness import plan_image_batches

TRAINED_ASSET = dg.AssetKey("ordinal_model")


@dataclass
class PipelineReport:
    """Every run launched, with its label, and the labels of those that failed."""

    runs: list[tuple[str, str]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """One line per run: ok or FAILED, with its run id."""
        return "\n".join(f"  {'ok    ' if label not in self.failed else 'FAILED'} {label} ({run_id})" for label, run_id in self.runs)


def materialize_everything(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    outcomes: list[str] | None = None,
    train_config: dict | None = None,
    log: Callable[[str], None] = print,
    log_level: str = "INFO",
) -> PipelineReport:
    """Materialize the whole asset graph of ``defs``: new or stale image batches, every (or each chosen) outcome."""
    report = PipelineReport()
    job = defs.resolve_implicit_global_asset_job_def()
    settings, vgg16 = defs.resources["settings"], defs.resources["vgg16"]
    batch_plan = plan_image_batches(instance, settings, image_batch_partitions.name, vgg16.recipe())
    if batch_plan.to_register:
        instance.add_dynamic_partitions(image_batch_partitions.name, batch_plan.to_register)
    for batch, reasons in sorted(batch_plan.reasons.items()):
        log(f"  image batch {batch}: {'; '.join(reasons)}")
    if batch_plan.removed:
        log(f"  left out, no longer under raw/images/: {', '.join(batch_plan.removed)}")

    def chosen_outcomes() -> list[str]:
        city = instance.get_dynamic_partitions(outcome_partitions.name)
        for outcome in sorted(set(outcomes or []) - set(city)):
            report.failed.append(f"outcome[{outcome}]")
            report.runs.append((f"outcome[{outcome}]", "not run: no labels in this city"))
            log(f"FAILED: outcome[{outcome}]: this city's label files do not provide it (see lsoa_labels' outcomes_not_built)")
        return [o for o in (outcomes or city) if o in city]

    partition_keys = {image_batch_partitions.name: lambda: sorted(batch_plan.to_extract), outcome_partitions.name: chosen_outcomes}
    stages = plan_stages(list(defs.assets))
    for number, stage in enumerate(stages, start=1):
        keys = [None] if stage.partitions_def is None else partition_keys[stage.partitions_def.name]()
        log(f"stage {number}/{len(stages)}: {stage.label}" + ("" if keys == [None] else f" for {len(keys)} partition(s)"))
        config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        if train_config and TRAINED_ASSET in stage.assets:
            config["ops"] = {TRAINED_ASSET.to_python_identifier(): {"config": train_config}}
        succeeded = 0
        for i, key in enumerate(keys, start=1):
            label = stage.label if key is None else f"{stage.label} [{key}]"
            if key is not None:
                log(f"  {key} ({i}/{len(keys)})")
            result = job.execute_in_process(
                instance=instance,
                asset_selection=list(stage.assets),
                partition_key=key,
                run_config=config,
                raise_on_error=False,
                tags={"sview/launched_by": "cli"},
            )
            report.runs.append((label, result.run_id))
            if result.success:
                succeeded += 1
            else:
                report.failed.append(label)
                log(f"FAILED: {label} (run {result.run_id}); see its logs in the UI")
        if keys and not succeeded:
            log(f"stopping: every run of stage {number} failed, so nothing after it can run")
            break
    return report


def main(argv: list[str] | None = None) -> None:
    from .ml.presets import PRESETS
    from .report import print_metrics

    parser = argparse.ArgumentParser(description="Materialize every sview asset for the configured city (SVIEW_CITY), in this process.")
    parser.add_argument(
        "--outcomes", nargs="*", help=f"outcomes to train (default: every outcome the city's label files provide, of {', '.join(OUTCOME_KEYS)})"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="training preset: 'default' (fast, early stopping) or 'paper' (the original code's settings)")
    parser.add_argument("--epochs", type=int, help="override the preset's most epochs per model")
    parser.add_argument("--patience", type=int, help="override the early-stopping patience")
    parser.add_argument("--folds", type=int, help="override the number of cross-validation folds")
    parser.add_argument("--batch-size", type=int, help="override the locations per mini-batch")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.outcomes or []) - set(OUTCOME_KEYS))
    if unknown:
        parser.error(f"unknown outcome(s) {', '.join(unknown)}; known: {', '.join(OUTCOME_KEYS)}")
    overrides = {k: v for k in ("preset", "epochs", "patience", "folds", "batch_size") if (v := getattr(args, k)) is not None}

    from .definitions import defs

    settings = defs.resources["settings"]
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs are not kept after this process (the Makefile sets it to data/.dagster).")
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    report = materialize_everything(defs, instance, outcomes=args.outcomes, train_config=overrides or None)
    if not report.success:
        print(f"runs of this pipeline:\n{report.summary()}", file=sys.stderr)
        print(f"{len(report.failed)} run(s) failed: {', '.join(report.failed)}; their logs are in the Dagster UI (make ui).", file=sys.stderr)
        sys.exit(1)
    print_metrics(settings)
    print(f"done: {len(report.runs)} runs, warehouse at {settings.paths.warehouse}")


if __name__ == "__main__":
    main()
