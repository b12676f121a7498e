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


KM_PER_DEGREE_LAT = 110.57
KM_PER_DEGREE_LONG_AT_EQUATOR = 111.32


def local_km(longitude, latitude, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Kilometres east and north of ``centre`` (long, lat): an equirectangular projection around the city, so
    a kilometre is as long across as up (long/lat drawn as they are stretch a city at 51 degrees by 1.6x)."""
    long0, lat0 = centre
    east = (np.asarray(longitude, dtype=float) - long0) * KM_PER_DEGREE_LONG_AT_EQUATOR * np.cos(np.radians(lat0))
    north = (np.asarray(latitude, dtype=float) - lat0) * KM_PER_DEGREE_LAT
    return east, north


def map_panel_inches(n_areas: int) -> float:
    """Width of one map panel: 4 inches up to 100 areas, growing with the square root of the count, 14 at most
    (London's 4,835 LSOAs get about 14 inches, so an inner-London LSOA is still a few pixels wide)."""
    return float(min(14.0, 4.0 * max(1.0, np.sqrt(n_areas / 100))))


FEW_LOCATIONS = 3
"""Predictions resting on fewer locations than this are hatched on the maps: one or two photos are a thin basis."""


def decile_map(lsoas: pd.DataFrame, title: str, boundaries=None):
    """True and predicted deciles side by side, in kilometres around the city's centre with equal aspect.

    Areas are filled polygons without edges when ``boundaries`` (an
    :class:`~sview_assets.sources.boundaries.AreaBoundaries`) are given, else squares at their centroids;
    the figure grows with the number of areas. On the predicted panel, areas whose prediction rests on
    fewer than :data:`FEW_LOCATIONS` locations (column ``n_locations``) are hatched (crossed at centroids).
    """
    from matplotlib.collections import PolyCollection

    centre = (float(lsoas["long"].mean()), float(lsoas["lat"].mean()))
    width = map_panel_inches(len(lsoas))
    east, north = local_km(lsoas["long"], lsoas["lat"], centre)
    aspect = float(np.ptp(north) / np.ptp(east)) if np.ptp(east) > 0 else 1.0
    figure, axes = plt.subplots(1, 2, figsize=(2 * width + 1.2, width * min(max(aspect, 0.4), 1.6) + 0.8), sharex=True, sharey=True)
    few = (lsoas["n_locations"] < FEW_LOCATIONS).to_numpy() if "n_locations" in lsoas else np.zeros(len(lsoas), dtype=bool)
    for axis, column in zip(axes, ("true_decile", "predicted_decile")):
        if boundaries is not None:
            rings, values = [], []
            for lsoa, decile in zip(lsoas["lsoa11"], lsoas[column]):
                for ring in boundaries.outer_rings(lsoa):
                    rings.append(np.column_stack(local_km(ring[:, 0], ring[:, 1], centre)))
                    values.append(decile)
            shapes = PolyCollection(rings, array=np.asarray(values, dtype=float), cmap="RdYlGn", edgecolors="face", linewidths=0.1)
            shapes.set_clim(1, 10)
            points = axis.add_collection(shapes)
            if column == "predicted_decile" and few.any():
                thin = [np.column_stack(local_km(r[:, 0], r[:, 1], centre)) for code in lsoas.loc[few, "lsoa11"] for r in boundaries.outer_rings(code)]
                axis.add_collection(PolyCollection(thin, facecolors="none", edgecolors=(0, 0, 0, 0.35), linewidths=0.0, hatch="//"))
            axis.autoscale_view()
        else:
            size = max(2.0, 28.0 * min(1.0, 100 / max(len(lsoas), 1)))
            points = axis.scatter(east, north, c=lsoas[column], cmap="RdYlGn", vmin=1, vmax=10, s=size, marker="s", linewidths=0)
            if column == "predicted_decile" and few.any():
                axis.scatter(east[few], north[few], c="black", s=size / 2, marker="x", linewidths=0.6)
        axis.set_aspect("equal")
        hatched = f"\nhatched: {int(few.sum())} resting on < {FEW_LOCATIONS} locations" if column == "predicted_decile" and few.any() else ""
        axis.set_title(column.replace("_", " ") + hatched, fontsize=9)
        axis.set_xlabel("km east of the centre")
    axes[0].set_ylabel("km north of the centre")
    figure.colorbar(points, ax=axes, shrink=0.8, label="decile (1 = most deprived)")
    figure.suptitle(title, fontsize=10)
    return figure


REGIME_STYLE = {"zero_shot": ("tab:grey", "o"), "fine_tune": ("tab:blue", "s"), "target_only": ("tab:orange", "^")}


def transfer_regimes(frame: pd.DataFrame, title: str):
    """Kendall's tau-b (``score_mean``) of each transfer regime against the share of target locations adapted
    on, one panel per outcome, with 95% bootstrap intervals as error bars (regimes set slightly apart); the
    dashed line and band are the unchanged source model on every target LSOA and its interval."""
    rows = frame[frame["method"] == "score_mean"]
    outcomes = sorted(rows["outcome"].unique())
    columns = min(4, len(outcomes))
    lines = (len(outcomes) + columns - 1) // columns
    figure, axes = plt.subplots(lines, columns, figsize=(3.2 * columns, 2.8 * lines), squeeze=False, sharey=True)
    for axis, outcome in zip(axes.ravel(), outcomes):
        part = rows[rows["outcome"] == outcome]
        everywhere = part[part["fraction"] == 0]
        if len(everywhere):
            row = everywhere.iloc[0]
            axis.axhline(row["kendall_tau_b"], color=REGIME_STYLE["zero_shot"][0], linestyle="--", linewidth=1)
            if pd.notna(row.get("kendall_tau_b_low")):
                axis.axhspan(row["kendall_tau_b_low"], row["kendall_tau_b_high"], color=REGIME_STYLE["zero_shot"][0], alpha=0.12, linewidth=0)
        spacing = float(np.diff(np.unique(part["fraction"])).min()) * 0.08 if part["fraction"].nunique() > 1 else 0.002
        for offset, (regime, (colour, marker)) in zip((-1, 0, 1), REGIME_STYLE.items()):
            points = part[(part["regime"] == regime) & (part["fraction"] > 0)].sort_values("fraction")
            tau = points["kendall_tau_b"].to_numpy()
            low = points.get("kendall_tau_b_low", pd.Series(np.nan, index=points.index)).to_numpy(dtype=float)
            high = points.get("kendall_tau_b_high", pd.Series(np.nan, index=points.index)).to_numpy(dtype=float)
            errors = np.nan_to_num(np.vstack([tau - low, high - tau]), nan=0.0)
            axis.errorbar(points["fraction"] + offset * spacing, tau, yerr=errors, marker=marker, color=colour, capsize=2, label=regime.replace("_", " "))
        axis.set_title(outcome, fontsize=9)
        axis.set_xlabel("share of target locations adapted on", fontsize=8)
        axis.axhline(0, color="black", linewidth=0.5)
    for axis in axes.ravel()[len(outcomes) :]:
        axis.set_visible(False)
    axes[0][0].set_ylabel("LSOA Kendall tau-b")
    axes[0][0].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
