"""Cross-validation folds grouped by LSOA and stratified by decile."""

from __future__ import annotations

import numpy as np
import pandas as pd


def lsoa_folds(lsoa: np.ndarray, decile: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) per location; all locations of an LSOA share a fold.

    LSOAs are shuffled within each decile (seeded) and dealt round-robin to
    folds, continuing the deal across deciles, so every fold gets a near-equal
    share of each decile and of LSOAs.
    """
    frame = pd.DataFrame({"lsoa": lsoa, "decile": decile})
    per_lsoa = frame.groupby("lsoa")["decile"].first()
    inconsistent = frame.groupby("lsoa")["decile"].nunique()
    if (inconsistent > 1).any():
        raise ValueError(f"LSOA {inconsistent[inconsistent > 1].index[0]!r} has locations with different deciles")
    if len(per_lsoa) < n_folds:
        raise ValueError(f"{len(per_lsoa)} LSOAs cannot fill {n_folds} folds")
    rng = np.random.default_rng(seed)
    assignment = {}
    position = 0
    for _, group in per_lsoa.groupby(per_lsoa):
        names = np.array(sorted(group.index))
        rng.shuffle(names)
        for name in names:
            assignment[name] = position % n_folds
            position += 1
    return frame["lsoa"].map(assignment).to_numpy(dtype=np.int64)


def validation_split(lsoa: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of locations whose LSOA is held out for early stopping (about ``fraction`` of LSOAs)."""
    names = np.array(sorted(set(lsoa.tolist())))
    rng = np.random.default_rng(seed)
    n_val = max(1, int(round(fraction * len(names))))
    held = set(rng.choice(names, size=n_val, replace=False).tolist())
    return np.array([name in held for name in lsoa.tolist()])
