"""A contact sheet per outcome: the four views of a few locations of the areas predicted most and least deprived,
each row with the area's true and predicted decile, because a model is checked by looking at what it saw.

Drawn with Pillow alone (thumbnails and text), so it costs a fraction of a second per outcome.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from sview_assets.sources.images import HEADINGS
from sview_assets.util.files import atomic_path

THUMBNAIL = 80
LABEL_WIDTH = 230
GAP = 6
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
MISSING = (225, 225, 225)


def pick_areas(lsoa_predictions: pd.DataFrame, per_end: int = 3) -> pd.DataFrame:
    """The ``per_end`` areas with the lowest and the highest mean predicted score (decile 1 = most deprived), in that order."""
    ranked = lsoa_predictions.sort_values(["mean_score", "lsoa11"], ignore_index=True)
    if len(ranked) <= 2 * per_end:
        return ranked
    return pd.concat([ranked.head(per_end), ranked.tail(per_end)], ignore_index=True)


def _thumbnail(path: str) -> Image.Image:
    """A square thumbnail of one view (a grey square when the file cannot be read)."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            return image.crop((left, top, left + side, top + side)).resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR)
    except (OSError, ValueError):
        return Image.new("RGB", (THUMBNAIL, THUMBNAIL), MISSING)


def draw_contact_sheet(areas: pd.DataFrame, views: pd.DataFrame, locations_per_area: int = 2, title: str = "") -> Image.Image:
    """One row per area of ``areas`` (lsoa11, predicted_decile, true_decile, n_locations): its label, then the views
    a, b, c, d of up to ``locations_per_area`` of its locations (``views``: lsoa11, img_id, path_a .. path_d)."""
    font = ImageFont.load_default()
    row_height = THUMBNAIL + GAP
    header = 22 if title else 0
    width = LABEL_WIDTH + locations_per_area * (len(HEADINGS) * THUMBNAIL + GAP)
    sheet = Image.new("RGB", (width, header + row_height * len(areas) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((GAP, 5), title, fill=INK, font=font)
    by_area = {code: group.sort_values("img_id") for code, group in views.groupby("lsoa11")}
    for row_number, area in enumerate(areas.itertuples(index=False)):
        top = header + row_number * row_height + GAP
        lines = [
            str(area.lsoa11),
            f"predicted decile {int(area.predicted_decile)}",
            f"true decile {int(area.true_decile)}",
            f"{int(area.n_locations)} location(s)",
        ]
        draw.multiline_text((GAP, top + 4), "\n".join(lines), fill=INK, font=font, spacing=4)
        shown = by_area.get(area.lsoa11, views.iloc[0:0]).head(locations_per_area)
        for slot, location in enumerate(shown.itertuples(index=False)):
            left = LABEL_WIDTH + slot * (len(HEADINGS) * THUMBNAIL + GAP)
            for k, heading in enumerate(HEADINGS):
                sheet.paste(_thumbnail(getattr(location, f"path_{heading}")), (left + k * THUMBNAIL, top))
            draw.text((left + 2, top + THUMBNAIL - 12), f"img {location.img_id}", fill=(255, 255, 255), font=font)
    return sheet


def save_png(sheet: Image.Image, path: Path) -> None:
    """Write the sheet as a PNG, atomically."""
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def jpeg_bytes(sheet: Image.Image, quality: int = 80) -> bytes:
    """The sheet as JPEG bytes (for the UI's metadata, where size matters more than exact pixels)."""
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
