"""The contact sheet shows the right areas, with their own locations' views, in the order of their predicted score."""

import numpy as np
import pandas as pd
from PIL import Image

from sview_assets.figures.contact_sheet import GAP, LABEL_WIDTH, THUMBNAIL, draw_contact_sheet, pick_areas

COLOURS = {"a": (200, 30, 30), "b": (30, 200, 30), "c": (30, 30, 200), "d": (200, 200, 30)}


def test_the_ends_of_the_predicted_scores_are_picked():
    areas = pd.DataFrame({"lsoa11": [f"A{i:02d}" for i in range(10)], "mean_score": np.arange(10)[::-1] / 10.0})
    picked = pick_areas(areas, per_end=2)
    assert picked["lsoa11"].tolist() == ["A09", "A08", "A01", "A00"]
    assert len(pick_areas(areas.head(3), per_end=2)) == 3


def test_each_row_shows_its_own_areas_views(tmp_path):
    rows = []
    for img_id, area in ((5, "E1"), (6, "E1"), (7, "E2")):
        paths = {}
        for heading, colour in COLOURS.items():
            shade = np.array(colour) * (0.5 if area == "E2" else 1.0)
            path = tmp_path / f"{img_id}_{heading}.png"
            Image.fromarray(np.full((120, 160, 3), shade, dtype=np.uint8)).save(path)
            paths[f"path_{heading}"] = str(path)
        rows.append({"img_id": img_id, "lsoa11": area, **paths})
    views = pd.DataFrame(rows)
    areas = pd.DataFrame({"lsoa11": ["E2", "E1"], "predicted_decile": [1, 10], "true_decile": [2, 9], "n_locations": [1, 2]})
    sheet = np.asarray(draw_contact_sheet(areas, views, locations_per_area=2))
    first_row_top, second_row_top = GAP, GAP + THUMBNAIL + GAP
    centre = THUMBNAIL // 2
    for k, heading in enumerate("abcd"):
        x = LABEL_WIDTH + k * THUMBNAIL + centre
        assert np.abs(sheet[first_row_top + 10, x] - np.array(COLOURS[heading]) * 0.5).max() <= 1
        assert np.abs(sheet[second_row_top + 10, x] - np.array(COLOURS[heading])).max() <= 1
    second_location = LABEL_WIDTH + 4 * THUMBNAIL + GAP + centre
    assert np.abs(sheet[second_row_top + 10, second_location] - np.array(COLOURS["a"])).max() <= 1, "E1's second location"
    assert (sheet[first_row_top + 10, second_location] == 255).all(), "E2 has one location: the second slot stays empty"
