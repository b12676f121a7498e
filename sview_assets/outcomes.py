"""The outcome registry: every outcome sview can learn, in one place.

Each outcome names the source file kind it comes from, the raw column(s) that
give its value, and which end of the value is the most deprived. Deciles are
always oriented so that decile 1 is the most deprived tenth of a city's LSOAs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

IOD = "iod"
CENSUS = "census"
INCOME = "income"
EXTRA = "extra"

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


@dataclass(frozen=True)
class Outcome:
    """One learnable outcome.

    ``columns`` are the raw columns read from the source file. For a census
    share, the value is ``sum(columns) / denominator``; for every other source
    it is the single column's value. ``most_deprived`` says whether a low or a
    high raw value is the deprived end.
    """

    key: str
    title: str
    source: str
    columns: tuple[str, ...]
    most_deprived: Literal["low", "high"]
    denominator: str | None = None
    visible_in_demo: bool = True

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise ValueError(f"Outcome key {self.key!r} must match {_KEY.pattern} (it names SQL columns and folders)")


def _iod(key: str, title: str, domain: str) -> Outcome:
    return Outcome(key, title, IOD, (f"{domain} Rank (where 1 is most deprived)",), "low")


def _census(key: str, title: str, numerators: tuple[str, ...], denominator: str) -> Outcome:
    return Outcome(key, title, CENSUS, numerators, "high", denominator=denominator)


OUTCOMES: tuple[Outcome, ...] = (
    _iod("income", "Income deprivation (IoD rank)", "Income"),
    _iod("employment", "Employment deprivation (IoD rank)", "Employment"),
    _iod("education", "Education, skills and training deprivation (IoD rank)", "Education, Skills and Training"),
    _iod("health", "Health deprivation and disability (IoD rank)", "Health Deprivation and Disability"),
    _iod("crime", "Crime (IoD rank)", "Crime"),
    _iod("housing_services", "Barriers to housing and services (IoD rank)", "Barriers to Housing and Services"),
    _iod("living_environment", "Living environment deprivation (IoD rank)", "Living Environment"),
    Outcome("mean_income", "Mean household income", INCOME, ("Mean 2012/13",), "low"),
    Outcome("median_income", "Median household income", INCOME, ("Median 2012/13",), "low"),
    _census(
        "bad_health",
        "Self-reported bad or very bad health (share)",
        ("Health: Bad health", "Health: Very bad health"),
        "Health: All categories: General health",
    ),
    _census(
        "overcrowding",
        "Occupancy rating -1 or less (share of households)",
        ("Occupancy rating (rooms): -1 or less",),
        "Occupancy rating (rooms): All categories",
    ),
    _census(
        "unemployment",
        "Unemployed (share of residents aged 16-74)",
        ("Economic activity: Unemployed",),
        "Economic activity: All usual residents aged 16 to 74",
    ),
    _census(
        "low_qualifications",
        "Highest qualification below level 2 (share)",
        ("Qualifications: No qualifications", "Qualifications: Level 1"),
        "Qualifications: All usual residents aged 16 and over",
    ),
    Outcome(
        "control",
        "Negative control (demo city: no visual signal)",
        EXTRA,
        ("Control index",),
        "low",
        visible_in_demo=False,
    ),
)

OUTCOME_KEYS: tuple[str, ...] = tuple(o.key for o in OUTCOMES)
_BY_KEY = {o.key: o for o in OUTCOMES}


def get_outcome(key: str) -> Outcome:
    """The registry entry for ``key``, or a clear error listing the known keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"Unknown outcome {key!r}; known outcomes: {', '.join(OUTCOME_KEYS)}") from None


def outcomes_from(source: str) -> tuple[Outcome, ...]:
    """All outcomes read from one source kind."""
    return tuple(o for o in OUTCOMES if o.source == source)
