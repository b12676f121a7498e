"""``python -m sview_assets.cli.pipeline`` (what ``make demo`` runs): materialize every asset of every city (or ``--city``),
in this process, or through Dask workers when ``SVIEW_EXECUTOR=dask`` (``run_launch.py``).

A thin client of the code location: it registers new image batches the way the image-batch sensor
does, then materializes the asset graph stage by stage as a backfill of every asset would
(``run_plan.py``), each run recorded in the Dagster instance and shown in the UI. Which partitions
run: each city's image batches whose features are missing or stale (unchanged batches are never
extracted again) and every outcome of the city (or ``--outcomes``). A failing batch or outcome is reported
and the others go on; the command exits 1 if any run failed.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from sview_assets.cli.instance_access import InstanceUnavailable, database_unavailable, open_instance
from sview_assets.cli.run_launch import EngineRunner, InProcessRunner, RunSpec, runner_from_env
from sview_assets.cli.run_plan import plan_stages
from sview_assets.config.cities import RUN_CITIES_ENV, CitiesFileError, TransferPair, read_deployment
from sview_assets.config.declarations import DECLARATION_FILE, read_declarations
from sview_assets.config.settings import Storage
from sview_assets.defs.names import AssetName
from sview_assets.defs.scope import CityScope
from sview_assets.defs.staleness import plan_image_batches


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
    cities: list[str],
    *,
    transfers: list[TransferPair] = (),
    outcomes: list[str] | None = None,
    train_config: dict | None = None,
    log: Callable[[str], None] = print,
    log_level: str = "INFO",
    runner: InProcessRunner | EngineRunner | None = None,
) -> PipelineReport:
    """Materialize the asset graph of ``cities`` in ``defs``: new or stale image batches, every (or each chosen) outcome;
    then each of ``transfers`` whose cities both run, for the outcomes both cities have (and the pair lists).

    ``runner`` carries out each stage's runs (default: one after another in this process). The opt-in Street
    View acquisition is never run here: it spends the user's request budget (``python -m sview_assets.cli.acquire``).
    """
    report = PipelineReport()
    runner = runner or InProcessRunner(defs.resolve_implicit_global_asset_job_def())
    storage, vgg16 = defs.resources["storage"], defs.resources["vgg16"]
    partition_keys: dict[str, Callable[[], list[str]]] = {}
    for city in cities:
        scope = CityScope(city)
        batch_plan = plan_image_batches(instance, storage.for_city(city), scope.image_batches.name, vgg16.recipe())
        if batch_plan.to_register:
            instance.add_dynamic_partitions(scope.image_batches.name, batch_plan.to_register)
        for batch, reasons in sorted(batch_plan.reasons.items()):
            log(f"  {city}: image batch {batch}: {'; '.join(reasons)}")
        if batch_plan.removed:
            log(f"  {city}: left out, no longer under raw/images/: {', '.join(batch_plan.removed)}")
        partition_keys[scope.image_batches.name] = lambda plan=batch_plan: sorted(plan.to_extract)
        partition_keys[scope.outcomes.name] = functools.cache(lambda scope=scope: _chosen_outcomes(instance, scope, outcomes, report, log))

    transfers = [pair for pair in transfers if pair.source in cities and pair.target in cities]
    for pair in transfers:
        partition_keys[pair.name] = lambda pair=pair: _transfer_outcomes(instance, pair, partition_keys[CityScope(pair.target).outcomes.name]())
    prefixes = set(cities) | {pair.name for pair in transfers}
    selected = [
        asset
        for asset in defs.assets
        if any(key.path[0] in prefixes for key in asset.keys) and all(key.path[-1] != AssetName.STREETVIEW_IMAGES for key in asset.keys)
    ]
    stages = plan_stages(selected)
    for number, stage in enumerate(stages, start=1):
        if stage.partitions_def is None:
            keys = [None]
        else:
            prefix = stage.assets[0].path[0]
            keys = partition_keys[prefix if prefix in partition_keys else stage.partitions_def.name]()
        log(f"stage {number}/{len(stages)}: {stage.label}" + ("" if keys == [None] else f" for {len(keys)} partition(s)"))
        config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
        trained = [key for key in stage.assets if key.path[-1] == AssetName.ORDINAL_MODEL]
        if train_config and trained:
            config["ops"] = {CityScope(key.path[0]).op_name(AssetName.ORDINAL_MODEL): {"config": train_config} for key in trained}
        specs = [RunSpec(stage.label if key is None else f"{stage.label} [{key}]", tuple(stage.assets), key, config) for key in keys]
        succeeded = 0
        for outcome in runner.run(instance, specs, log):
            report.runs.append((outcome.spec.label, outcome.run_id))
            if outcome.success:
                succeeded += 1
            else:
                report.failed.append(outcome.spec.label)
                log(f"FAILED: {outcome.spec.label} (run {outcome.run_id}); see its logs in the UI")
        if keys and not succeeded:
            log(f"stopping: every run of stage {number} failed, so nothing after it can run")
            break
    return report


def _transfer_outcomes(instance: dg.DagsterInstance, pair: TransferPair, target_outcomes: list[str]) -> list[str]:
    """The target outcomes (already chosen for the target city) that the source city also has, and the pair lists."""
    source = set(instance.get_dynamic_partitions(CityScope(pair.source).outcomes.name))
    return [o for o in target_outcomes if o in source and (pair.outcomes is None or o in pair.outcomes)]


def _chosen_outcomes(instance: dg.DagsterInstance, scope: CityScope, outcomes: list[str] | None, report: PipelineReport, log) -> list[str]:
    """The outcomes to train in ``scope``'s city: ``outcomes`` (each one its labels lack is reported failed) or all it has."""
    available = instance.get_dynamic_partitions(scope.outcomes.name)
    for outcome in sorted(set(outcomes or []) - set(available)):
        label = f"{scope.city}/outcome[{outcome}]"
        report.failed.append(label)
        report.runs.append((label, "not run: no labels in this city"))
        log(f"FAILED: {label}: this city's label files do not provide it (see lsoa_labels' outcomes_not_built)")
    return [o for o in (outcomes or available) if o in available]


def main(argv: list[str] | None = None) -> None:
    from sview_assets.cli.report import print_metrics, print_transfer
    from sview_assets.ml.training.city_training import TRAINING_SETTINGS_FILE, read_city_training
    from sview_assets.ml.training.presets import PRESETS, setting_fields

    parser = argparse.ArgumentParser(description="Materialize every sview asset of the configured cities (data/cities.toml or SVIEW_CITY), in this process.")
    parser.add_argument("--city", action="append", help="a city to run (repeat for several; default: every city of the deployment)")
    parser.add_argument("--outcomes", nargs="*", help="outcomes to train (default: every outcome the city's declarations and label files provide)")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="training preset: 'default' (fast, early stopping) or 'paper' (the original code's settings); default: the city's training.toml, else 'default'",
    )
    flags = [(name, kind, description) for name, kind, description, command_line in setting_fields() if command_line]
    for name, kind, description in flags:
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=kind, help=f"override the city's training.toml and the preset: {description[0].lower()}{description[1:]}"
        )
    args = parser.parse_args(argv)
    overrides = {k: v for k in ("preset", *(name for name, _, _ in flags)) if (v := getattr(args, k)) is not None}

    storage = Storage.from_env()
    try:
        deployment = read_deployment(Path(storage.data_root))
    except CitiesFileError as exc:
        parser.error(str(exc))
    deployed = list(deployment.cities)
    not_deployed = sorted(set(args.city or []) - set(deployed))
    if not_deployed:
        listed = ", ".join(deployed[:10]) + (f" and {len(deployed) - 10} more" if len(deployed) > 10 else "")
        parser.error(f"city {', '.join(not_deployed)} is not in this deployment ({listed}); list it in data/cities.toml")
    cities = args.city or deployed
    if args.city:  # build the definitions of these cities only, here and in every run's process
        os.environ[RUN_CITIES_ENV] = ",".join(cities)
        deployment = deployment.narrowed_to(cities)

    from sview_assets.definitions import defs

    declared = set()
    for city in cities:
        paths = storage.for_city(city).paths
        try:
            declared |= set(read_declarations(paths.city_file(DECLARATION_FILE)).keys)
            read_city_training(paths.city_file(TRAINING_SETTINGS_FILE))
        except ValueError as exc:  # a DeclarationError, or a bad training.toml
            parser.error(str(exc))
    unknown = sorted(set(args.outcomes or []) - declared)
    if unknown:
        parser.error(f"unknown outcome(s) {', '.join(unknown)}; declared for {', '.join(cities)}: {', '.join(sorted(declared))}")
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: runs are not kept after this process (the Makefile sets it to data/.dagster).")
    try:
        instance = open_instance()
    except InstanceUnavailable as exc:
        raise SystemExit(str(exc)) from None
    transfers = list(deployment.transfers)
    try:
        report = materialize_everything(
            defs,
            instance,
            cities,
            transfers=transfers,
            outcomes=args.outcomes,
            train_config=overrides or None,
            runner=runner_from_env(defs),
        )
    except Exception as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        raise SystemExit(str(unavailable)) from None
    if not report.success:
        print(f"runs of this pipeline:\n{report.summary()}", file=sys.stderr)
        print(f"{len(report.failed)} run(s) failed: {', '.join(report.failed)}; their logs are in the Dagster UI (make ui).", file=sys.stderr)
        sys.exit(1)
    for city in cities:
        settings = storage.for_city(city)
        print(f"\n{city}:")
        print_metrics(settings)
        print(f"warehouse at {settings.warehouse}")
    for pair in transfers:
        if pair.source in cities and pair.target in cities:
            print(f"\ntransfer {pair.source} -> {pair.target} (Kendall tau-b, score_mean; fraction = share of {pair.target}'s locations adapted on):")
            print_transfer(storage.for_city(pair.target), pair.source)
    print(f"done: {len(report.runs)} runs")


if __name__ == "__main__":
    main()
