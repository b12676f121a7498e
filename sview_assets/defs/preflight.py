"""The pre-flight check of a city: what a run will build from its files, found in seconds, writing nothing.

``sview-check --city <city>`` prints it (:mod:`sview_assets.cli.check`); ``lsoa_labels`` and ``image_manifest``
log the same findings first, so the UI's run log says it too. Per outcome: whether it will be trained and,
if not, why; the locations: how many, their areas, those outside every area; the images: per batch, the
locations with all four headings and whether the batch's features are missing, stale or up to date.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sview_assets.config.declarations import DECLARATION_FILE, DeclarationError, read_declarations
from sview_assets.config.settings import CityPaths, SviewSettings
from sview_assets.defs.staleness import current_views, inventory_features
from sview_assets.ml.features.feature_store import ExtractorRecipe
from sview_assets.ml.training.city_training import TRAINING_SETTINGS_FILE, read_city_training
from sview_assets.sources.common import SourceFormatError
from sview_assets.sources.files import BOUNDARY_FILE, POSTCODE_FILE
from sview_assets.sources.images import HEADINGS, BatchSource, find_batches, panorama_tables
from sview_assets.sources.labels import LabelBuild, collect_lsoa_labels
from sview_assets.sources.postcodes import place_locations

SHOWN_IDS = 10


@dataclass(frozen=True)
class Finding:
    """One line of the check: ``ok`` False for something a user should look at."""

    ok: bool
    text: str


def _ids(ids) -> str:
    ids = sorted(ids)
    return ", ".join(str(i) for i in ids[:SHOWN_IDS]) + (f" ... ({len(ids)} in all)" if len(ids) > SHOWN_IDS else "")


def label_findings(build: LabelBuild) -> list[Finding]:
    """Per declared outcome: trained on how many areas, or why it is not built."""
    counts = build.labels.groupby("outcome")["lsoa11"].count() if len(build.labels) else {}
    findings = []
    for outcome in build.declarations.outcomes:
        if outcome.key in build.outcomes:
            missing = build.lsoas_without_labels.get(outcome.key, 0)
            gaps = f", {missing} of the city's areas without a value" if missing else ""
            findings.append(Finding(True, f"outcome {outcome.key}: will be trained on {int(counts[outcome.key])} areas{gaps} ({outcome.title})"))
        else:
            findings.append(Finding(False, f"outcome {outcome.key}: not built: {build.outcomes_not_built[outcome.key]}"))
    return findings


def batch_finding(settings: SviewSettings, batch: BatchSource, fingerprint: str, recipe: ExtractorRecipe, headings: dict[int, set[str]]) -> Finding:
    """One batch (of files with ``fingerprint``): its locations, how many have all four headings, and the state of its features."""
    complete = sum(1 for found in headings.values() if len(found) == len(HEADINGS))
    panoramas = batch.holds_panoramas()
    inventory = inventory_features(settings, {batch.key: fingerprint}, recipe, current_views(settings, [batch.key] if panoramas else []))
    if batch.key in inventory.fresh:
        state = "features up to date"
    elif batch.key in inventory.missing:
        state = "no features yet (will be extracted)"
    else:
        state = "features stale (will be extracted again): " + "; ".join(inventory.stale[batch.key])
    held = f"{len(headings)} panoramas (cut into four views each)" if panoramas else f"{len(headings)} locations, {complete} with all four headings"
    text = f"image batch {batch.key}: {held}; {state}"
    return Finding(complete == len(headings) and len(headings) > 0, text)


@dataclass
class Preflight:
    """Everything the check found for one city, in the order it is printed."""

    city: str
    findings: list[Finding] = field(default_factory=list)
    trainable: list[str] = field(default_factory=list)
    blocked: bool = False

    def add(self, ok: bool, text: str) -> None:
        self.findings.append(Finding(ok, text))

    @property
    def exit_code(self) -> int:
        """0 when a run can train at least one outcome, 1 otherwise."""
        return 0 if self.trainable and not self.blocked else 1

    def lines(self) -> list[str]:
        return [f"{'  ok ' if f.ok else '  !! '} {f.text}" for f in self.findings]


def check_city(
    settings: SviewSettings,
    recipe: ExtractorRecipe,
    declaration_file: str = DECLARATION_FILE,
    postcode_file: str = POSTCODE_FILE,
    boundary_file: str = BOUNDARY_FILE,
) -> Preflight:
    """What a run of ``settings``' city will build, read from its files only (nothing is written)."""
    paths = settings.paths
    report = Preflight(settings.city)
    try:
        declarations = read_declarations(paths.city_file(declaration_file))
    except DeclarationError as exc:
        report.add(False, f"declarations: {exc}")
        report.blocked = True
        declarations = None
    else:
        where = str(declarations.path) if declarations.from_file else f"no {declarations.path}, so the default English sources (write it to declare others)"
        own = len([s for s in declarations.sources if s.origin.standard is None])
        report.add(True, f"declarations: {where} (standard: {', '.join(declarations.standards) or 'none'}; {own} source(s) of its own)")
    try:
        placed = place_locations(
            paths.raw_file(postcode_file),
            paths.raw_file(boundary_file),
            declarations.area_column if declarations else None,
            lambda: panorama_tables(paths.raw_images),
        )
    except (SourceFormatError, FileNotFoundError, ValueError) as exc:
        report.add(False, f"locations: {exc}")
        report.blocked = True
        placed = None
    if placed is not None:
        areas = placed.locations["lsoa11"].dropna()
        source = f"area column {placed.read.area_column!r}" if placed.read.has_area_codes else f"areas by point in polygon in {placed.boundary_file.name}"
        table = f"the panorama tables of {', '.join(placed.read.panorama_batches)}" if placed.read.panorama_batches else postcode_file
        report.add(True, f"locations: {len(placed.locations)} in {table} ({source}), in {areas.nunique()} areas")
        if placed.outside_every_area:
            report.add(False, f"locations outside every area: {len(placed.outside_every_area)} (img_id {_ids(placed.outside_every_area)}); they get no label")
    if declarations is not None and placed is not None:
        try:
            build = collect_lsoa_labels(declarations, paths.raw, placed.locations["lsoa11"].dropna().tolist())
        except (DeclarationError, SourceFormatError, FileNotFoundError) as exc:
            report.add(False, f"labels: the labels run will fail: {exc}")
            report.blocked = True
        else:
            report.findings += label_findings(build)
            report.trainable = build.outcomes
    _check_images(settings, recipe, report, set(placed.locations["img_id"]) if placed is not None else None)
    _check_training(paths, report)
    if report.exit_code == 0:
        report.add(True, f"{len(report.trainable)} outcome(s) can be trained: {', '.join(report.trainable)}")
    else:
        report.add(False, "no outcome can be trained until the problems above are fixed")
    return report


def _check_training(paths: CityPaths, report: Preflight) -> None:
    """The training settings that runs no one configures will use, or why the city's training.toml is refused."""
    try:
        city = read_city_training(paths.city_file(TRAINING_SETTINGS_FILE))
    except ValueError as exc:
        report.add(False, f"training: the model runs will fail: {exc}")
        report.blocked = True
        return
    where = f"{city.path}" if city.path else f"no {paths.city_file(TRAINING_SETTINGS_FILE)}, so the preset's values"
    values = ", ".join(f"{k} = {v}" for k, v in city.values.items())
    report.add(True, f"training: preset {city.preset!r}{f' with {values}' if values else ''} ({where}; the launchpad and CLI flags override it)")


def _check_images(settings: SviewSettings, recipe: ExtractorRecipe, report: Preflight, table_ids: set[int] | None) -> None:
    batches = find_batches(settings.paths.raw_images)
    if not batches:
        report.add(False, f"images: no batch folder or archive under {settings.paths.raw_images}")
        return
    everything: dict[int, set[str]] = {}
    for batch in batches:
        try:
            headings = batch.locations()
        except ValueError as exc:
            report.add(False, f"image batch {batch.key}: {exc}")
            continue
        report.findings.append(batch_finding(settings, batch, batch.fingerprint(), recipe, headings))
        for img_id, found in headings.items():
            everything.setdefault(img_id, set()).update(found)
    if table_ids is None:
        return
    complete = {i for i in table_ids if len(everything.get(i, ())) == len(HEADINGS)}
    partial = {i for i in table_ids if 0 < len(everything.get(i, ())) < len(HEADINGS)}
    without = table_ids - set(everything)
    report.add(not partial and not without, f"locations with all four images: {len(complete)} of {len(table_ids)}")
    if partial:
        report.add(False, f"locations with a heading missing: {len(partial)} (img_id {_ids(partial)}); they are left out")
    if without:
        report.add(False, f"locations without any image: {len(without)} (img_id {_ids(without)})")
    stray = set(everything) - table_ids
    if stray:
        report.add(False, f"images of img_ids not in the location table: {len(stray)} (img_id {_ids(stray)}); they are not used")
