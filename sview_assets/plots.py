"""Matplotlib figures for asset metadata: training curves, confusion matrices, decile maps."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def training_curves(runs: list[dict], title: str):
    """Training and validation loss per epoch, one line pair per fold and the final model."""
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for run in runs:
        label = "final" if run["fold"] < 0 else f"fold {run['fold'] + 1}"
        line = axis.plot(range(1, len(run["loss"]) + 1), run["loss"], label=f"{label} train")[0]
        if run["val_loss"]:
            axis.plot(range(1, len(run["val_loss"]) + 1), run["val_loss"], linestyle="--", color=line.get_color())
    axis.set_xlabel("epoch")
    axis.set_ylabel("ordinal cross-entropy (dashed: validation)")
    axis.set_title(title)
    axis.legend(fontsize=7, ncol=2)
    return figure


def confusion_heatmap(matrix: np.ndarray, title: str):
    figure, axis = plt.subplots(figsize=(4.2, 3.8))
    image = axis.imshow(matrix, cmap="viridis", origin="lower")
    axis.set_xticks(range(10), range(1, 11))
    axis.set_yticks(range(10), range(1, 11))
    axis.set_xlabel("predicted decile")
    axis.set_ylabel("true decile")
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, shrink=0.8)
    return figure


def decile_map(lsoas: pd.DataFrame, title: str, boundaries: dict | None = None):
    """True and predicted deciles side by side: LSOA polygons when ``boundaries`` are given, else centroids."""
    from matplotlib.collections import PolyCollection

    figure, axes = plt.subplots(1, 2, figsize=(8, 3.8), sharex=True, sharey=True)
    for axis, column in zip(axes, ("true_decile", "predicted_decile")):
        if boundaries:
            rings, values = [], []
            for lsoa, decile in zip(lsoas["lsoa11"], lsoas[column]):
                for ring in boundaries.get(lsoa, []):
                    rings.append(ring)
                    values.append(decile)
            shapes = PolyCollection(rings, array=np.asarray(values, dtype=float), cmap="RdYlGn", edgecolors="white", linewidths=0.3)
            shapes.set_clim(1, 10)
            points = axis.add_collection(shapes)
            axis.autoscale_view()
        else:
            points = axis.scatter(lsoas["long"], lsoas["lat"], c=lsoas[column], cmap="RdYlGn", vmin=1, vmax=10, s=28, marker="s")
        axis.set_title(column.replace("_", " "), fontsize=9)
        axis.set_xlabel("longitude")
    axes[0].set_ylabel("latitude")
    figure.colorbar(points, ax=axes, shrink=0.8, label="decile (1 = most deprived)")
    figure.suptitle(title, fontsize=10)
    return figure
