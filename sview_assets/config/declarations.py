"""Outcome declarations: which outcomes a city has, read from which file and column, and which end is deprived.

A city declares its outcomes in ``data/<city>/outcomes.toml``; nothing about a source or an outcome is
Python code. The file may name ready-made **standard** declarations shipped with sview (the English
releases: IoD 2015/2019/2025, Census 2011/2021, London income) and declare sources and outcomes of its
own::

    standard = ["iod_2025", "census_2021"]        # optional

    [files]                                       # optional: other file names for a standard's sources
    iod_2025 = "IoD2025_File7.csv"

    [locations]                                   # optional: the location table's area-code column
    area_column = "lsoa21cd"

    [[source]]                                    # a CSV under raw/, one row per area
    name = "acs"
    file = "acs_2023_tracts.csv"
    area_column = "GEOID"
    whole_numbers = false                         # optional: values must be written as whole numbers
    require = { SUMLEVEL = "140" }                # optional: every row must have these values

    [[outcome]]
    key = "poverty"                               # lower-case name: a partition, a folder, a SQL column
    title = "Share of people below the poverty line"
    source = "acs"
    numerators = ["B17001_002E"]                  # a share: sum of numerators over the denominator ...
    denominator = "B17001_001E"
    most_deprived = "high"                        # ... or `value = "column"` for a plain value
    negative_control = false                      # optional: an outcome that should not be learnable
    minimum = 0                                   # optional: the smallest valid value

The same file may hold the city's image options, ``[panoramas]`` and ``[streetview]``
(:mod:`.city_options`). A city without the file gets the English 2011-era set (IoD 2015, Census 2011, London income), each
source used when its file is there. Every mistake in a declaration is reported with the file, the line
and what to fix (:class:`DeclarationError`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DECLARATION_FILE = "outcomes.toml"
STANDARD_FOLDER = Path(__file__).resolve().parent / "standard"
LEGACY_STANDARDS = ("iod_2015", "census_2011", "london_income_2012_13")
"""What a city without a declaration file gets: the English sources the paper used, each only where its file exists."""

OUTCOME_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_SOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,60}$")
_TOP_KEYS = {"standard", "files", "locations", "source", "outcome", "description", "panoramas", "streetview"}
"""``panoramas`` and ``streetview`` are the city's image options, read by :mod:`.city_options`."""
_SOURCE_KEYS = {"name", "file", "area_column", "title", "whole_numbers", "require"}
_OUTCOME_KEYS = {"key", "title", "source", "value", "numerators", "denominator", "most_deprived", "minimum", "negative_control"}
_LOCATION_KEYS = {"area_column"}


class DeclarationError(ValueError):
    """An outcome declaration is wrong; the message names the declaration file, the line and the fix."""


@dataclass(frozen=True)
class Origin:
    """Where a declaration was made: a line of the city's file, possibly through a standard it names."""

    path: Path
    line: int
    standard: str | None = None

    def __str__(self) -> str:
        place = f"{self.path}, line {self.line}" if self.line else f"{self.path} (absent: the default English declarations)"
        return place + (f" (standard declaration {self.standard!r})" if self.standard else "")

    def error(self, problem: str, fix: str = "") -> DeclarationError:
        return DeclarationError(f"{self}: {problem}" + (f" {fix}" if fix else ""))


@dataclass(frozen=True)
class Source:
    """A label file under ``raw/``: one row per area, codes in ``area_column``."""

    name: str
    file: str
    area_column: str
    title: str
    origin: Origin
    whole_numbers: bool = False
    require: tuple[tuple[str, str], ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class Outcome:
    """One learnable outcome: a column of a source (``value``) or a share (``numerators`` over ``denominator``)."""

    key: str
    title: str
    source: str
    columns: tuple[str, ...]
    most_deprived: Literal["low", "high"]
    origin: Origin
    denominator: str | None = None
    minimum: float | None = None
    negative_control: bool = False

    @property
    def is_share(self) -> bool:
        return self.denominator is not None

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Every column of the source this outcome reads."""
        return self.columns + ((self.denominator,) if self.denominator else ())


@dataclass(frozen=True)
class Declarations:
    """A city's sources and outcomes, in declaration order, and where they were declared."""

    path: Path
    sources: tuple[Source, ...]
    outcomes: tuple[Outcome, ...]
    standards: tuple[str, ...] = ()
    area_column: str | None = None
    from_file: bool = True

    @functools.cached_property
    def _by_key(self) -> dict[str, Outcome]:
        return {o.key: o for o in self.outcomes}

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.outcomes)

    def outcome(self, key: str) -> Outcome:
        """The declaration of ``key``, or a clear error listing the declared keys."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"Outcome {key!r} is not declared for this city ({self.path}); declared: {', '.join(self.keys)}") from None

    def source(self, name: str) -> Source:
        return next(s for s in self.sources if s.name == name)

    def outcomes_of(self, source: str) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.source == source)


def standard_names() -> tuple[str, ...]:
    """The ready-made declarations shipped with sview."""
    return tuple(sorted(p.stem for p in STANDARD_FOLDER.glob("*.toml")))


def standard_description(name: str) -> str:
    """The one-line description of a standard declaration."""
    return tomllib.loads((STANDARD_FOLDER / f"{name}.toml").read_text(encoding="utf-8")).get("description", "")


class TomlLines:
    """Line numbers of tables and keys in a TOML text, for messages (tomllib keeps none)."""

    _HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-]+)\s*\]")
    _KEY = re.compile(r"^\s*\"?([A-Za-z0-9_\- ]+?)\"?\s*=")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.headers = [(number, m.group(2), bool(m.group(1))) for number, line in enumerate(self.lines, 1) if (m := self._HEADER.match(line))]

    def _span(self, name: str, index: int | None) -> tuple[int, int]:
        """First and last line of the ``index``-th ``[[name]]`` (or of ``[name]``; of the top when name is empty)."""
        if not name:
            return 1, (self.headers[0][0] - 1 if self.headers else len(self.lines))
        matches = [i for i, (_, header, is_array) in enumerate(self.headers) if header == name and (index is None) != is_array]
        position = matches[index or 0] if len(matches) > (index or 0) else None
        if position is None:
            return 0, 0
        end = self.headers[position + 1][0] - 1 if position + 1 < len(self.headers) else len(self.lines)
        return self.headers[position][0], end

    def table(self, name: str, index: int | None = None) -> int:
        return self._span(name, index)[0]

    def key(self, name: str, index: int | None, key: str) -> int:
        """The line of ``key = ...`` in that table (the table's own line when not found)."""
        start, end = self._span(name, index)
        for number in range(max(start, 1), end + 1):
            match = self._KEY.match(self.lines[number - 1])
            if match and match.group(1).strip() == key:
                return number
        return start

    def text_after(self, line: int, needle: str) -> int:
        """The first line from ``line`` on that contains ``needle`` (``line`` itself when none does)."""
        for number in range(max(line, 1), len(self.lines) + 1):
            if needle in self.lines[number - 1]:
                return number
        return line


def load_toml(path: Path) -> tuple[dict, TomlLines]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise DeclarationError(f"{path}, line {line}: not UTF-8 text. Save the file as UTF-8.") from None
    try:
        return tomllib.loads(text), TomlLines(text)
    except tomllib.TOMLDecodeError as exc:
        raise DeclarationError(f"{path}: not valid TOML ({exc}). Check the quoting and brackets on that line.") from None


def _text(value, origin: Origin, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise origin.error(f"`{what}` must be a non-empty text in quotes, not {value!r}.")
    return value.strip()


def _columns(value, origin: Origin, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise origin.error(f'`{what}` must be a list of column names, e.g. {what} = ["Bad health", "Very bad health"].')
    return tuple(_text(v, origin, what) for v in value)


def _file_name(value, origin: Origin, what: str) -> str:
    name = _text(value, origin, what)
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise origin.error(f"`{what}` = {name!r} is not inside the city's raw/ folder.", "Give a file name relative to raw/, without '..'.")
    return name


class _Reader:
    """Reads one declaration text (the city's, or a standard's) into sources and outcomes."""

    def __init__(self, path: Path, data: dict, lines: TomlLines, shown_as: Origin | None = None, standard: str | None = None):
        self.path, self.data, self.lines = path, data, lines
        self.shown_as, self.standard = shown_as, standard

    def origin(self, table: str, index: int | None, key: str | None = None) -> Origin:
        if self.shown_as is not None:
            return Origin(self.shown_as.path, self.shown_as.line, self.standard)
        line = self.lines.key(table, index, key) if key else self.lines.table(table, index)
        return Origin(self.path, line)

    def check_keys(self, table: str, index: int | None, entry: dict, allowed: set[str]) -> None:
        if not isinstance(entry, dict):
            raise self.origin(table, index).error(f"`{table}` must be a table.")
        for key in entry:
            if key not in allowed:
                raise self.origin(table, index, key).error(f"unknown key {key!r} in [{table}].", f"Allowed: {', '.join(sorted(allowed))}.")

    def sources(self, files: dict[str, str]) -> list[Source]:
        entries = self.data.get("source", [])
        if not isinstance(entries, list):
            raise self.origin("source", None).error("write sources as [[source]] tables.")
        sources = []
        for index, entry in enumerate(entries):
            self.check_keys("source", index, entry, _SOURCE_KEYS)
            for required in ("name", "file", "area_column"):
                if required not in entry:
                    raise self.origin("source", index).error(f"[[source]] has no `{required}`.", "A source needs name, file and area_column.")
            name = _text(entry["name"], self.origin("source", index, "name"), "name")
            if not _SOURCE_NAME.match(name):
                raise self.origin("source", index, "name").error(f"source name {name!r} must be letters, digits and '_', starting with a letter.")
            require = entry.get("require", {})
            if not isinstance(require, dict) or not all(isinstance(v, str) for v in require.values()):
                raise self.origin("source", index, "require").error('`require` must be a table of column = "value" pairs.')
            whole = entry.get("whole_numbers", False)
            if not isinstance(whole, bool):
                raise self.origin("source", index, "whole_numbers").error("`whole_numbers` must be true or false.")
            sources.append(
                Source(
                    name=name,
                    file=files.get(name) or _file_name(entry["file"], self.origin("source", index, "file"), "file"),
                    area_column=_text(entry["area_column"], self.origin("source", index, "area_column"), "area_column"),
                    title=str(entry.get("title", name)),
                    origin=self.origin("source", index),
                    whole_numbers=whole,
                    require=tuple(sorted(require.items())),
                )
            )
        return sources

    def outcomes(self) -> list[Outcome]:
        entries = self.data.get("outcome", [])
        if not isinstance(entries, list):
            raise self.origin("outcome", None).error("write outcomes as [[outcome]] tables.")
        return [self._outcome(index, entry) for index, entry in enumerate(entries)]

    def _outcome(self, index: int, entry: dict) -> Outcome:
        self.check_keys("outcome", index, entry, _OUTCOME_KEYS)
        here = self.origin("outcome", index)
        for required in ("key", "source", "most_deprived"):
            if required not in entry:
                raise here.error(f"[[outcome]] has no `{required}`.", "An outcome needs key, source, most_deprived and a value or numerators and denominator.")
        key = _text(entry["key"], self.origin("outcome", index, "key"), "key")
        if not OUTCOME_KEY.match(key):
            raise self.origin("outcome", index, "key").error(
                f"outcome key {key!r} must be lower-case letters, digits and '_', starting with a letter, at most 41 characters.",
                "It names a partition, a folder and a SQL column.",
            )
        deprived = entry["most_deprived"]
        if deprived not in ("low", "high"):
            raise self.origin("outcome", index, "most_deprived").error(
                f'most_deprived = {deprived!r}; write "low" (a low value is deprived, like income or a rank where 1 is most deprived) or "high".'
            )
        has_value, has_share = "value" in entry, "numerators" in entry or "denominator" in entry
        if has_value == has_share:
            raise here.error(f'outcome {key!r} needs either `value = "column"` or `numerators = [...]` with `denominator = "column"`, not both or neither.')
        if has_share and not ("numerators" in entry and "denominator" in entry):
            raise here.error(f"outcome {key!r}: a share needs both `numerators` and `denominator`.")
        minimum = entry.get("minimum")
        if minimum is not None and (isinstance(minimum, bool) or not isinstance(minimum, int | float)):
            raise self.origin("outcome", index, "minimum").error("`minimum` must be a number.")
        control = entry.get("negative_control", False)
        if not isinstance(control, bool):
            raise self.origin("outcome", index, "negative_control").error("`negative_control` must be true or false.")
        if has_value:
            columns, denominator = (_text(entry["value"], self.origin("outcome", index, "value"), "value"),), None
        else:
            columns = _columns(entry["numerators"], self.origin("outcome", index, "numerators"), "numerators")
            denominator = _text(entry["denominator"], self.origin("outcome", index, "denominator"), "denominator")
        return Outcome(
            key=key,
            title=str(entry.get("title", key)),
            source=_text(entry["source"], self.origin("outcome", index, "source"), "source"),
            columns=columns,
            most_deprived=deprived,
            origin=here,
            denominator=denominator,
            minimum=minimum,
            negative_control=control,
        )


def _standard(name: str, shown_as: Origin, files: dict[str, str]) -> tuple[list[Source], list[Outcome]]:
    path = STANDARD_FOLDER / f"{name}.toml"
    if not path.is_file():
        raise shown_as.error(f"unknown standard declaration {name!r}.", f"Known: {', '.join(standard_names())}.")
    data, lines = load_toml(path)
    reader = _Reader(path, data, lines, shown_as=shown_as, standard=name)
    return reader.sources(files), reader.outcomes()


def _check_unique(sources: list[Source], outcomes: list[Outcome]) -> None:
    seen: dict[str, Origin] = {}
    for source in sources:
        if source.name in seen:
            raise source.origin.error(f"source {source.name!r} is declared twice (first at {seen[source.name]}).", "Give each source its own name.")
        seen[source.name] = source.origin
    names = {s.name for s in sources}
    keys: dict[str, Origin] = {}
    for outcome in outcomes:
        if outcome.key in keys:
            raise outcome.origin.error(
                f"outcome key {outcome.key!r} is used twice (first at {keys[outcome.key]}).",
                "Rename one of them, or drop the standard declaration that already brings it.",
            )
        keys[outcome.key] = outcome.origin
        if outcome.source not in names:
            raise outcome.origin.error(
                f"outcome {outcome.key!r} names source {outcome.source!r}, which is not declared.", f"Declared sources: {', '.join(sorted(names))}."
            )


def read_declarations(path: Path) -> Declarations:
    """The declarations in ``path`` (a city's ``outcomes.toml``), or the English defaults when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return legacy_declarations(path)
    data, lines = load_toml(path)
    city = _Reader(path, data, lines)
    city.check_keys("", None, data, _TOP_KEYS)
    files = data.get("files", {})
    if not isinstance(files, dict):
        raise Origin(path, lines.key("", None, "files")).error('`files` must be a table: [files] then source_name = "file.csv" lines.')
    files = {name: _file_name(value, Origin(path, lines.key("files", None, name)), f"files.{name}") for name, value in files.items()}
    locations = data.get("locations", {})
    city.check_keys("locations", None, locations, _LOCATION_KEYS)
    area_column = locations.get("area_column")
    if area_column is not None:
        area_column = _text(area_column, Origin(path, lines.key("locations", None, "area_column")), "area_column")
    standards = data.get("standard", [])
    standard_line = lines.key("", None, "standard")
    if not isinstance(standards, list) or not all(isinstance(s, str) for s in standards):
        raise Origin(path, standard_line).error('`standard` must be a list of names, e.g. standard = ["iod_2025"].', f"Known: {', '.join(standard_names())}.")
    sources: list[Source] = []
    outcomes: list[Outcome] = []
    for name in standards:
        more_sources, more_outcomes = _standard(name, Origin(path, lines.text_after(standard_line, f'"{name}"')), files)
        sources += more_sources
        outcomes += more_outcomes
    sources += city.sources(files)
    outcomes += city.outcomes()
    _check_unique(sources, outcomes)
    unknown_files = sorted(set(files) - {s.name for s in sources})
    if unknown_files:
        raise Origin(path, lines.key("files", None, unknown_files[0])).error(
            f"[files] names source {unknown_files[0]!r}, which is not declared.", f"Declared sources: {', '.join(s.name for s in sources)}."
        )
    if not outcomes:
        raise Origin(path, 1).error("no outcome is declared.", "Name a standard declaration (standard = [...]) or add [[outcome]] tables.")
    return Declarations(path, tuple(sources), tuple(outcomes), tuple(standards), area_column)


def standard_declarations(names: tuple[str, ...], path: Path, optional: bool = False) -> Declarations:
    """The standard declarations ``names`` alone, as a city whose declaration file ``path`` named them (``optional``: missing files are skipped)."""
    origin = Origin(Path(path), 0)
    sources: list[Source] = []
    outcomes: list[Outcome] = []
    for name in names:
        more_sources, more_outcomes = _standard(name, origin, {})
        sources += [Source(**{**s.__dict__, "optional": optional}) for s in more_sources]
        outcomes += more_outcomes
    _check_unique(sources, outcomes)
    return Declarations(Path(path), tuple(sources), tuple(outcomes), tuple(names), None, from_file=False)


def legacy_declarations(path: Path) -> Declarations:
    """The English 2011-era sources the paper used, each optional: what a city without ``outcomes.toml`` gets."""
    return standard_declarations(LEGACY_STANDARDS, path, optional=True)
