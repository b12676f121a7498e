"""Draw a street scene whose look carries some latent factors and not others.

Visible: affluence (facade colour and upkeep, broken windows, car paint),
greenery (trees, verges) and density (building height, cars, clutter). Each
LSOA also has a visual style (sky tint, window grid, roof colour) drawn from
its own seed and unrelated to any outcome, and every photo has its own light,
layout and noise. The control factor is never drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Look:
    """A city's visual style: the same rules draw the factors, shifted in colour, greenery, density and light.

    A second demo city with another look is partly like the first to a model trained there, which is
    what the transfer experiment needs: zero-shot is partly right, fine-tuning helps.
    """

    facade_clean: tuple[float, float, float] = (225, 215, 190)
    facade_worn: tuple[float, float, float] = (95, 75, 60)
    sky: float = 1.0
    greenery_shift: float = 0.0
    density_shift: float = 0.0
    light: float = 1.0


DEFAULT_LOOK = Look()
NORTHERN_LOOK = Look(facade_clean=(200, 170, 150), facade_worn=(80, 60, 55), sky=0.8, greenery_shift=-0.7, density_shift=0.6, light=0.85)
TRACT_LOOK = Look(facade_clean=(235, 225, 205), facade_worn=(110, 95, 80), sky=1.1, greenery_shift=0.3, density_shift=-0.3, light=1.05)
"""The tract city: paler siding, more yard greenery, lower buildings, brighter light."""


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x0 < x1 and y0 < y1:
        img[y0:y1, x0:x1] = colour


def _disc(img: np.ndarray, cx: float, cy: float, r: float, colour) -> None:
    h, w = img.shape[:2]
    x0, x1 = max(0, int(cx - r)), min(w, int(cx + r) + 1)
    y0, y1 = max(0, int(cy - r)), min(h, int(cy + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    img[y0:y1, x0:x1][mask] = colour


def render_scene(
    *,
    affluence: float,
    greenery: float,
    density: float,
    style_seed: int,
    rng: np.random.Generator,
    width: int,
    height: int,
    look: Look = DEFAULT_LOOK,
) -> np.ndarray:
    """One RGB uint8 image of a street with the given latent factors, in the city's ``look``."""
    style = np.random.default_rng(style_seed)
    sky_tint = style.uniform([90, 130, 170], [200, 210, 250]) * look.sky
    roof = style.uniform(30, 140, size=3)
    window_w, window_gap = int(style.integers(5, 11)), int(style.integers(6, 14))

    img = np.zeros((height, width, 3), dtype=np.float32)
    horizon = int(height * rng.uniform(0.38, 0.48))
    ground = int(height * rng.uniform(0.68, 0.74))
    for y in range(horizon + 1):
        img[y] = sky_tint * (0.75 + 0.25 * y / max(horizon, 1))
    img[horizon + 1 : ground] = sky_tint * 0.55

    upkeep = _sigmoid(1.6 * affluence + 0.4 * rng.standard_normal())
    clean, worn = np.array(look.facade_clean), np.array(look.facade_worn)
    x = int(-rng.integers(0, 30))
    while x < width:
        bw = int(rng.integers(35, 80))
        storeys = 2 + int(round(4 * _sigmoid(1.5 * density + look.density_shift) + rng.uniform(-1, 1)))
        top = max(4, ground - storeys * int(rng.integers(20, 26)))
        facade = (upkeep * clean + (1 - upkeep) * worn) * rng.uniform(0.88, 1.1, size=3)
        _rect(img, x, top, x + bw, ground, facade)
        _rect(img, x, top - 6, x + bw, top, roof)
        for wy in range(top + 8, ground - 12, window_w + window_gap):
            for wx in range(x + 5, x + bw - window_w - 2, window_w + window_gap):
                broken = rng.random() < _sigmoid(-2.2 * affluence - 2.0)
                colour = (20, 20, 20) if broken else (70, 100, 140)
                _rect(img, wx, wy, wx + window_w, wy + window_w + 3, colour)
        for _ in range(rng.poisson(6 * (1 - upkeep))):
            _disc(img, rng.uniform(x, x + bw), rng.uniform(top, ground), rng.uniform(3, 9), facade * 0.55)
        x += bw + int(rng.integers(0, 6))

    verge = _sigmoid(1.8 * greenery + look.greenery_shift)
    verge_colour = verge * np.array([70, 150, 60]) + (1 - verge) * np.array([150, 150, 145])
    road_top = ground + int(rng.integers(6, 14))
    _rect(img, 0, ground, width, road_top, verge_colour)
    _rect(img, 0, road_top, width, height, (85, 85, 90))
    for lx in range(int(rng.integers(0, 40)), width, 60):
        _rect(img, lx, (road_top + height) // 2, lx + 28, (road_top + height) // 2 + 3, (230, 230, 220))

    for _ in range(rng.poisson(7 * _sigmoid(1.8 * greenery + look.greenery_shift))):
        tx, r = rng.uniform(0, width), rng.uniform(12, 30)
        _rect(img, int(tx - 3), int(ground - r), int(tx + 3), ground + 4, (80, 55, 35))
        _disc(img, tx, ground - r - rng.uniform(0, 15), r, rng.uniform([30, 100, 30], [80, 170, 70]))

    paint = 0.45 + 0.55 * _sigmoid(1.5 * affluence)
    for _ in range(rng.poisson(1 + 4 * _sigmoid(1.5 * density))):
        cx, cy = rng.uniform(-20, width), rng.uniform(road_top + 2, max(road_top + 3, height - 22))
        body = rng.uniform(40, 255, size=3) * paint
        _rect(img, int(cx), int(cy), int(cx + 46), int(cy + 16), body)
        _rect(img, int(cx + 8), int(cy - 9), int(cx + 36), int(cy), body * 0.8)
        _disc(img, cx + 10, cy + 16, 5, (15, 15, 15))
        _disc(img, cx + 36, cy + 16, 5, (15, 15, 15))

    for _ in range(rng.poisson(14 * _sigmoid(1.3 * density - 1.3 * affluence))):
        px, py = rng.uniform(0, width), rng.uniform(ground - 10, height)
        size = rng.uniform(2, 7)
        _rect(img, int(px), int(py), int(px + size), int(py + size * rng.uniform(0.6, 2.2)), rng.uniform(0, 255, size=3))

    img *= rng.uniform(0.8, 1.15) * look.light
    img += rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
