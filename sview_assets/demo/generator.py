"""Write a demo city under ``<city>/raw/`` in the real file formats, and its ``<city>/outcomes.toml``.

Files: Indices of Deprivation 2015 domain ranks (with LSOAs from outside the
city, as the national file has), Census 2011 LSOA counts, London-style
household income, an extra-outcomes CSV with the negative control, an
ACS-style tract table (median household income, poverty counts, the control)
(each when the spec's ``label_sources`` list it), the postcode directory with
img_id (or, for a city with areas of its own, only each location's
coordinates), area boundaries (GeoJSON grid cells), image batches as zip
archives (four photos per location, or, for a panorama city, one 360° panorama
per location and the batch's ``panoramas.csv``, which is then the city's only
location table), and ``ground_truth.csv`` with the latent factors. The declaration
file names the standard English declarations for the English layouts and
declares the control and the tract table's outcomes itself.
"""

from __future__ import annotations

import io
import json
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from sview_assets.config.declarations import DECLARATION_FILE, standard_declarations
from sview_assets.demo.geography import ACS, CENSUS, EXTRA, INCOME, IOD, LAT_STEP, LONG_STEP, CitySpec, deprivation_scores, locations_table, lsoa_table
from sview_assets.demo.render import render_scene
from sview_assets.ml.threads import available_cores
from sview_assets.sources.files import BOUNDARY_FILE, POSTCODE_FILE
from sview_assets.sources.images import HEADINGS
from sview_assets.sources.panoramas import PANORAMA_TABLE
from sview_assets.util.files import write_bytes_if_changed

GROUND_TRUTH_FILE = "ground_truth.csv"
NATIONAL_EXTRA_LSOAS = 0.25
STANDARDS = {IOD: "iod_2015", CENSUS: "census_2011", INCOME: "london_income_2012_13"}
"""The standard declaration whose layout each English demo file is written in."""
EXTRA_FILE = "extra_outcomes.csv"
ACS_FILE = "acs_2023_tracts.csv"
CONTROL_TITLE = "Negative control (demo city: no visual signal)"
OWN_DECLARATIONS = {
    EXTRA: f"""
[[source]]
name = "demo_extra"
file = "{EXTRA_FILE}"
area_column = "lsoa11"
title = "Demo negative control"

[[outcome]]
key = "control"
title = "{CONTROL_TITLE}"
source = "demo_extra"
value = "Control index"
most_deprived = "low"
negative_control = true
""",
    ACS: f"""
[[source]]
name = "acs"
file = "{ACS_FILE}"
area_column = "GEOID"
title = "ACS 5-year estimates by tract (demo)"

[[outcome]]
key = "median_income"
title = "Median household income (ACS B19013)"
source = "acs"
value = "B19013_001E"
most_deprived = "low"
minimum = 0

[[outcome]]
key = "poverty"
title = "Share of people below the poverty level (ACS B17001)"
source = "acs"
numerators = ["B17001_002E"]
denominator = "B17001_001E"
most_deprived = "high"

[[outcome]]
key = "control"
title = "{CONTROL_TITLE}"
source = "acs"
value = "control_index"
most_deprived = "low"
negative_control = true
""",
}


def _standard(source: str):
    """The standard declaration whose layout the demo's ``source`` file follows."""
    return standard_declarations((STANDARDS[source],), Path(DECLARATION_FILE))


def declaration_text(spec: CitySpec) -> str:
    """The city's ``outcomes.toml``: the standard declarations of its English files, then its own sources."""
    standards = [STANDARDS[s] for s in spec.label_sources if s in STANDARDS]
    text = "# Outcome declarations of a synthetic demo city (written by python -m sview_assets.demo).\n"
    if standards:
        text += "standard = [" + ", ".join(f'"{name}"' for name in standards) + "]\n"
    return text + "".join(OWN_DECLARATIONS[s] for s in spec.label_sources if s in OWN_DECLARATIONS)


def _iod_frame(scores: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """IoD ranks across the city plus 'rest of the country' LSOAs (rank 1 = most deprived)."""
    n_extra = int(len(scores) * NATIONAL_EXTRA_LSOAS)
    others = pd.DataFrame({"lsoa11": [f"E01{800000 + i:06d}" for i in range(1, n_extra + 1)]})
    frame = pd.DataFrame({"LSOA code (2011)": pd.concat([scores["lsoa11"], others["lsoa11"]], ignore_index=True)})
    frame["LSOA name (2011)"] = [f"Demo {code[-4:]}" for code in frame["LSOA code (2011)"]]
    frame["Local Authority District code (2013)"] = "E09900001"
    frame["Local Authority District name (2013)"] = "Demo City"
    for outcome in _standard(IOD).outcomes:
        score = np.concatenate([scores[outcome.key].to_numpy(), rng.standard_normal(n_extra)])
        ranks = pd.Series(-score).rank(method="first").astype(int)
        frame[outcome.columns[0]] = ranks.to_numpy()
    return frame.sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)


def _census_frame(scores: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Census-style counts whose shares follow the latent scores."""
    frame = pd.DataFrame({"GEO_CODE": scores["lsoa11"], "GEO_LABEL": [f"Demo {c[-4:]}" for c in scores["lsoa11"]]})
    frame["GEO_TYPE"] = "LSOA"
    frame["GEO_TYP2"] = "LSOADZ"
    n = len(scores)
    for outcome in _standard(CENSUS).outcomes:
        total = rng.integers(600, 1100, size=n)
        frame[outcome.denominator] = total
        share = scores[outcome.key].to_numpy()
        counts = rng.binomial(total, share)
        split = rng.uniform(0.3, 0.7, size=n) if len(outcome.columns) > 1 else np.ones(n)
        first = np.round(counts * split).astype(int)
        frame[outcome.columns[0]] = first
        if len(outcome.columns) > 1:
            frame[outcome.columns[1]] = counts - first
    return frame


def _income_frame(scores: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame({"Code": scores["lsoa11"], "Names": [f"Demo {c[-4:]}" for c in scores["lsoa11"]]})
    for outcome in _standard(INCOME).outcomes:
        frame[outcome.columns[0]] = np.round(scores[outcome.key].to_numpy(), -1).astype(int)
    return frame


def _extra_frame(scores: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"lsoa11": scores["lsoa11"], "Control index": np.round(scores["control"].to_numpy(), 5)})


def _acs_frame(scores: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """An ACS-style tract table: GEOID, NAME, median household income (B19013), poverty universe and count (B17001)."""
    n = len(scores)
    universe = rng.integers(1500, 6000, size=n)
    return pd.DataFrame(
        {
            "GEOID": scores["lsoa11"],
            "NAME": [f"Census Tract {int(code[5:]) / 100:.2f}; Demo County; Illinois" for code in scores["lsoa11"]],
            "B19013_001E": np.round(scores["median_income"].to_numpy() * 1.9, -2).astype(int),
            "B17001_001E": universe,
            "B17001_002E": rng.binomial(universe, scores["poverty"].to_numpy()),
            "control_index": np.round(scores["control"].to_numpy(), 5),
        }
    )


def _boundaries(lsoas: pd.DataFrame, code_property: str) -> dict:
    """Each area's grid cell as a GeoJSON polygon (long/lat), as an ONS (or another statistical office's) boundary file would give it."""
    features = []
    for row in lsoas.itertuples():
        west, east = row.long - LONG_STEP / 2, row.long + LONG_STEP / 2
        south, north = row.lat - LAT_STEP / 2, row.lat + LAT_STEP / 2
        ring = [[round(x, 6), round(y, 6)] for x, y in ((west, south), (east, south), (east, north), (west, north), (west, south))]
        features.append({"type": "Feature", "properties": {code_property: row.lsoa11}, "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    write_bytes_if_changed(path, frame.to_csv(index=False).encode())


PANORAMA_WIDTH = 1024
"""Width of a demo panorama (height half of it): each 90° quarter holds one heading's scene, 256 pixels wide."""


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _panorama(scenes: list[np.ndarray], capture_heading: float) -> np.ndarray:
    """An equirectangular panorama whose view at compass heading 0, 90, 180, 270 shows ``scenes`` a, b, c, d,
    its centre column looking at ``capture_heading``.

    Each scene fills its quarter between 45° below and above the horizon; the sky and the road beyond
    repeat the scene's top and bottom rows.
    """
    quarter = PANORAMA_WIDTH // 4
    height = PANORAMA_WIDTH // 2
    strips = []
    for scene in scenes:
        square = np.asarray(Image.fromarray(scene).resize((quarter, quarter), Image.Resampling.BILINEAR))
        band = height // 4
        strips.append(np.concatenate([np.repeat(square[:1], band, 0), square, np.repeat(square[-1:], height - band - quarter, 0)]))
    by_compass = np.concatenate(strips, axis=1)  # column x looks at compass heading 360 * x / width - 45
    shift = int(round((capture_heading - 135.0) / 360.0 * PANORAMA_WIDTH))
    return np.roll(by_compass, -shift, axis=1)


def _render_location(task: tuple) -> list[tuple[str, bytes]]:
    """The four heading PNGs of one location, or its one panorama JPEG; each scene's randomness comes from (seed, img_id, heading)."""
    seed, img_id, affluence, greenery, density, local_noise, style, width, height, look, capture_heading = task
    scenes = []
    for k in range(len(HEADINGS)):
        rng = np.random.default_rng([seed, img_id, k])
        scenes.append(
            render_scene(
                affluence=affluence + 0.35 * local_noise,
                greenery=greenery + 0.35 * rng.standard_normal(),
                density=density + 0.25 * local_noise,
                style_seed=style,
                rng=rng,
                width=width,
                height=height,
                look=look,
            )
        )
    if capture_heading is None:
        return [(f"{img_id}_{heading}.png", _png_bytes(pixels)) for heading, pixels in zip(HEADINGS, scenes)]
    buffer = io.BytesIO()
    Image.fromarray(_panorama(scenes, capture_heading)).save(buffer, format="JPEG", quality=92)
    return [(f"{img_id}.jpg", buffer.getvalue())]


def _panorama_table(chunk: pd.DataFrame, headings: list[float], seed: int) -> bytes:
    """The batch's ``panoramas.csv``: id, lat, long, capture heading and a capture month per location."""
    months = np.random.default_rng([seed, 360]).integers(0, 36, size=len(chunk))
    table = pd.DataFrame(
        {
            "id": chunk["img_id"].to_numpy(),
            "lat": chunk["lat"].to_numpy(),
            "long": chunk["long"].to_numpy(),
            "heading": headings,
            "date": [f"{2022 + m // 12}-{m % 12 + 1:02d}" for m in months],
        }
    )
    return table.to_csv(index=False).encode()


def _write_batches(spec: CitySpec, lsoas: pd.DataFrame, locations: pd.DataFrame, images_dir: Path, progress) -> list[Path]:
    """Render four headings (or one panorama) per location into one zip archive per batch, on every core (the bytes do not depend on how many)."""
    by_lsoa = lsoas.set_index("lsoa11")
    written = []
    n_batches = (len(locations) + spec.batch_size - 1) // spec.batch_size
    with ProcessPoolExecutor(max_workers=available_cores()) as pool:
        for b in range(n_batches):
            chunk = locations.iloc[b * spec.batch_size : (b + 1) * spec.batch_size]
            tasks = []
            headings = [round(float(h), 1) for h in np.random.default_rng([spec.seed, 90, b]).uniform(0, 360, size=len(chunk))]
            for loc, heading in zip(chunk.itertuples(), headings):
                area = by_lsoa.loc[loc.lsoa11]
                tasks.append(
                    (
                        spec.seed,
                        int(loc.img_id),
                        float(area["affluence"]),
                        float(area["greenery"]),
                        float(area["density"]),
                        float(loc.local_noise),
                        int(area["style"]),
                        spec.image_width,
                        spec.image_height,
                        spec.look,
                        heading if spec.panoramas else None,
                    )
                )
            path = images_dir / f"batch_{b:03d}.zip"
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
                if spec.panoramas:
                    archive.writestr(zipfile.ZipInfo(PANORAMA_TABLE, date_time=(2011, 3, 27, 0, 0, 0)), _panorama_table(chunk, headings, spec.seed + b))
                for images in pool.map(_render_location, tasks):
                    for name, data in images:
                        archive.writestr(zipfile.ZipInfo(name, date_time=(2011, 3, 27, 0, 0, 0)), data)
            write_bytes_if_changed(path, buffer.getvalue())
            written.append(path)
            progress(f"image batch {b + 1}/{n_batches}: {path.name} ({len(chunk)} {'panoramas' if spec.panoramas else 'locations'})")
    return written


def generate_city(raw_dir: Path, spec: CitySpec = CitySpec(), progress=print) -> dict[str, Path]:
    """Write every demo input under ``raw_dir`` and return the paths written.

    Deterministic: the same spec gives byte-identical CSVs and images.
    """
    raw_dir = Path(raw_dir)
    rng = np.random.default_rng(spec.seed)
    lsoas = lsoa_table(spec, rng)
    scores = deprivation_scores(lsoas, rng)
    locations = locations_table(spec, lsoas, rng)

    raw_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    frames = {
        IOD: _iod_frame(scores, rng),
        CENSUS: _census_frame(scores, rng),
        INCOME: _income_frame(scores),
        EXTRA: _extra_frame(scores),
        ACS: _acs_frame(scores, rng),
    }
    files = {k: _standard(k).sources[0].file for k in STANDARDS} | {EXTRA: EXTRA_FILE, ACS: ACS_FILE}
    for source, frame in frames.items():
        if source not in spec.label_sources:
            continue
        path = raw_dir / files[source]
        _write_csv(frame, path)
        written[source] = path
    written["declarations"] = raw_dir.parent / DECLARATION_FILE
    write_bytes_if_changed(written["declarations"], declaration_text(spec).encode())
    # A city with areas of its own has no postcode directory: only each location's coordinates; a panorama
    # city not even those: its panorama tables are its locations.
    if not spec.panoramas:
        directory = locations[["img_id", "lat", "long"] if spec.own_area_codes else ["pcd", "oa11", "lsoa11", "msoa11", "lat", "long", "img_id"]]
        written["postcodes"] = raw_dir / POSTCODE_FILE
        _write_csv(directory, written["postcodes"])
    written["boundaries"] = raw_dir / BOUNDARY_FILE
    code_property = {"lsoa": "LSOA11CD", "own": "area_code", "tract": "GEOID"}[spec.area_codes]
    write_bytes_if_changed(written["boundaries"], json.dumps(_boundaries(lsoas, code_property)).encode())
    truth = lsoas.merge(scores.rename(columns={c: f"latent_{c}" for c in scores.columns if c != "lsoa11"}), on="lsoa11")
    written["ground_truth"] = raw_dir / GROUND_TRUTH_FILE
    _write_csv(truth, written["ground_truth"])
    table = "panorama tables" if spec.panoramas else "postcode directory"
    progress(f"wrote label files and {table} for {len(lsoas)} LSOAs, {len(locations)} locations")
    images_dir = raw_dir / "images"
    images_dir.mkdir(exist_ok=True)
    for path in _write_batches(spec, lsoas, locations, images_dir, progress):
        written[path.stem] = path
    return written
