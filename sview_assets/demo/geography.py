"""The demo city's areas: LSOAs on a grid, smooth latent factors, and the outcomes they drive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter

from sview_assets.demo.render import DEFAULT_LOOK, NORTHERN_LOOK, TRACT_LOOK, Look

IOD, CENSUS, INCOME, EXTRA, ACS = "iod", "census", "income", "extra", "acs"
"""The label files a demo city can have: the English IoD 2015, Census 2011 and London income layouts, the
negative control, and an American Community Survey-style table of tracts."""

FACTORS = ("affluence", "greenery", "density", "control")
LAT_STEP = 0.01
LONG_STEP = 0.015


@dataclass(frozen=True)
class CitySpec:
    """Size and seed of a demo city."""

    n_lsoas: int = 60
    n_locations: int = 132
    seed: int = 7
    batch_size: int = 44
    image_width: int = 320
    image_height: int = 240
    look: Look = DEFAULT_LOOK
    origin: tuple[float, float] = (51.40, -0.20)
    area_codes: Literal["lsoa", "own", "tract"] = "lsoa"
    label_sources: tuple[str, ...] = field(default=(IOD, CENSUS, INCOME, EXTRA))
    panoramas: bool = False
    """Deliver each location as one 360° panorama (and its row in the batch's panoramas.csv), not four photos."""

    @property
    def own_area_codes(self) -> bool:
        """Areas with codes of their own (not LSOAs): the city has no postcode directory, only coordinates."""
        return self.area_codes != "lsoa"

    def __post_init__(self) -> None:
        if self.n_lsoas < 20:
            raise ValueError("n_lsoas must be at least 20 (two LSOAs per decile).")
        if self.n_locations < 2 * self.n_lsoas:
            raise ValueError("n_locations must be at least twice n_lsoas so every LSOA has locations.")
        if self.image_width < 160 or self.image_height < 120:
            raise ValueError("images must be at least 160x120 pixels for the street scene to fit.")
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1.")


def _smooth_field(rng: np.random.Generator, side: int, sigma: float) -> np.ndarray:
    """A standardised, spatially smooth random field on a side x side grid."""
    field = gaussian_filter(rng.standard_normal((side, side)), sigma=sigma, mode="reflect")
    return (field - field.mean()) / field.std()


def _orthogonalised(field: np.ndarray, others: list[np.ndarray]) -> np.ndarray:
    """``field`` with its least-squares projection on ``others`` removed, restandardised.

    The negative control must not correlate with any visible factor by chance,
    or a model could "recover" it through them.
    """
    design = np.column_stack([np.ones(field.size)] + [o.ravel() for o in others])
    coefficients, *_ = np.linalg.lstsq(design, field.ravel(), rcond=None)
    residual = field.ravel() - design @ coefficients
    return (residual / residual.std()).reshape(field.shape)


def lsoa_table(spec: CitySpec, rng: np.random.Generator) -> pd.DataFrame:
    """One row per LSOA: codes, grid cell, centre, latent factors and a visual style."""
    side = int(np.ceil(np.sqrt(spec.n_lsoas)))
    fields = {name: _smooth_field(rng, side, sigma=1.6) for name in FACTORS}
    fields["control"] = _orthogonalised(fields["control"], [fields[f] for f in FACTORS if f != "control"])
    cells = [(i // side, i % side) for i in range(spec.n_lsoas)]
    rows = []
    lat0, long0 = spec.origin
    for number, (gy, gx) in enumerate(cells, start=1):
        rows.append(
            {
                "lsoa11": area_code(spec, number),
                "msoa11": "" if spec.own_area_codes else f"E02{900000 + (gy // 2) * side + gx // 2 + 1:06d}",
                "grid_x": gx,
                "grid_y": gy,
                "lat": lat0 + LAT_STEP * gy,
                "long": long0 + LONG_STEP * gx,
                **{name: float(fields[name][gy, gx]) for name in FACTORS},
                "style": int(rng.integers(0, 1_000_000)),
            }
        )
    return pd.DataFrame(rows)


def area_code(spec: CitySpec, number: int) -> str:
    """An LSOA-style code (``E01900001``), a code of the city's own (``NQ-0001``), or an 11-digit US tract GEOID
    (state 17, county 031, tract ``8101.00`` up: ``17031810100``)."""
    if spec.area_codes == "tract":
        return f"17031{810000 + 100 * number:06d}"
    return f"NQ-{number:04d}" if spec.area_codes == "own" else f"E01{900000 + number:06d}"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def deprivation_scores(lsoas: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Latent outcome values per LSOA: higher means more deprived, except incomes.

    Outcomes are correlated the way real ones are (income, employment and
    education move together; crime and overcrowding follow density), each with
    its own noise. ``control`` is its own field and is never drawn in images.
    """
    a, g, d = (lsoas[f].to_numpy() for f in ("affluence", "greenery", "density"))
    n = len(lsoas)

    def noise(scale: float) -> np.ndarray:
        return scale * rng.standard_normal(n)

    income = -a + noise(0.25)
    return pd.DataFrame(
        {
            "lsoa11": lsoas["lsoa11"],
            "income": income,
            "employment": -0.9 * a + 0.2 * d + noise(0.35),
            "education": -0.85 * a + noise(0.35),
            "health": -0.7 * a + 0.3 * d + noise(0.4),
            "crime": 0.6 * d - 0.5 * a + noise(0.4),
            "housing_services": 0.5 * d - 0.3 * a + noise(0.5),
            "living_environment": 0.6 * d - 0.7 * g + noise(0.3),
            "mean_income": np.exp(10.6 + 0.3 * a + noise(0.05)),
            "median_income": np.exp(10.35 + 0.32 * a + noise(0.06)),
            "bad_health": _sigmoid(-2.6 - 0.45 * a + 0.2 * d + noise(0.1)),
            "overcrowding": _sigmoid(-2.0 + 0.7 * d - 0.4 * a + noise(0.15)),
            "unemployment": _sigmoid(-3.0 - 0.55 * a + noise(0.12)),
            "low_qualifications": _sigmoid(-0.9 - 0.6 * a + noise(0.12)),
            "control": lsoas["control"].to_numpy() + noise(0.2),
            # From the income score, with no draw of its own, so the cities drawn before it was added keep their bytes.
            "poverty": _sigmoid(-1.7 + 0.6 * income + 0.15 * d),
        }
    )


def demo_postcode(img_id: int) -> str:
    """A unique postcode in the 7-character directory layout, e.g. ``'DM1 0AB'``."""
    district, rest = divmod(img_id, 2600)
    sector, unit = divmod(rest, 676)
    outward = f"DM{district + 1}"
    return f"{outward:<4}{sector}{chr(65 + unit // 26)}{chr(65 + unit % 26)}"


def locations_table(spec: CitySpec, lsoas: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Image locations: every LSOA gets at least two, the rest are spread at random."""
    n = len(lsoas)
    counts = np.full(n, 2) + rng.multinomial(spec.n_locations - 2 * n, np.full(n, 1.0 / n))
    rows = []
    img_id = 0
    for i, lsoa in lsoas.iterrows():
        for _ in range(counts[i]):
            dx, dy = rng.uniform(-0.5, 0.5, size=2)
            quadrant = int(dx > 0) + 2 * int(dy > 0)
            rows.append(
                {
                    "img_id": img_id,
                    "pcd": demo_postcode(img_id),
                    "oa11": f"E00{(900000 + 4 * i + quadrant) % 1_000_000:06d}",
                    "lsoa11": lsoa["lsoa11"],
                    "msoa11": lsoa["msoa11"],
                    "lat": round(lsoa["lat"] + LAT_STEP * dy, 6),
                    "long": round(lsoa["long"] + LONG_STEP * dx, 6),
                    "local_noise": float(rng.standard_normal()),
                }
            )
            img_id += 1
    return pd.DataFrame(rows)


DEMO_CITY = CitySpec()
# The second demo city: smaller, in its own look, with area codes of its own (no postcode directory: its
# locations are placed by point in polygon) and only the deprivation ranks and the control as labels.
NORTHERN_DEMO_CITY = CitySpec(
    n_lsoas=20,
    n_locations=48,
    seed=11,
    batch_size=24,
    look=NORTHERN_LOOK,
    origin=(53.78, -1.58),
    area_codes="own",
    label_sources=(IOD, EXTRA),
)
# The third demo city stands for one outside the UK: 11-digit tract codes, a boundary file keyed by GEOID,
# outcomes declared only in its own outcomes.toml (an ACS-style table), and 360° panoramas with their
# metadata table as its images (and its only record of the locations).
TRACT_DEMO_CITY = CitySpec(
    n_lsoas=24,
    n_locations=48,
    seed=19,
    batch_size=48,
    look=TRACT_LOOK,
    origin=(41.85, -87.70),
    area_codes="tract",
    label_sources=(ACS,),
    panoramas=True,
)
DEMO_CITIES = {"demo": DEMO_CITY, "demo_north": NORTHERN_DEMO_CITY, "demo_tracts": TRACT_DEMO_CITY}
