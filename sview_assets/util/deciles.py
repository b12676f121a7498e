"""Decile cuts oriented so that decile 1 is the most deprived tenth."""

from __future__ import annotations

import numpy as np
import pandas as pd

N_DECILES = 10


def rank_deciles(values: pd.Series, *, low_is_first: bool = True) -> pd.Series:
    """Cut ``values`` into 10 equal-count classes 1..10 by rank.

    With ``low_is_first`` the lowest values get decile 1, otherwise the highest
    do. Ties are broken by the series index (sorted), so the cut is
    deterministic and the classes are as balanced as the count allows. Missing
    values get a missing decile.
    """
    valid = values.dropna()
    if valid.empty:
        return pd.Series(pd.NA, index=values.index, dtype="Int64")
    key = valid if low_is_first else -valid
    order = pd.DataFrame({"key": key.to_numpy(), "tie": valid.index.astype(str)}, index=valid.index)
    order = order.sort_values(["key", "tie"], kind="mergesort")
    positions = np.arange(len(order))
    classes = positions * N_DECILES // len(order) + 1
    result = pd.Series(pd.NA, index=values.index, dtype="Int64")
    result.loc[order.index] = classes
    return result


def quantile_deciles(values: pd.Series) -> pd.Series:
    """Deciles 1..10 of predicted scores as the original aggregation code cut them: ``pd.qcut(values, 10)``.

    Bins are bounded by the values' quantiles (not by equal counts), so when the count is not a multiple
    of ten, or values tie, a class may hold one more or one fewer than another, exactly as in the
    original. Where ties make two quantiles equal, ``pd.qcut`` refuses ("Bin edges must be unique") and
    the original code would stop; this falls back to :func:`rank_deciles` then.
    """
    try:
        return pd.Series(pd.qcut(values.to_numpy(dtype=np.float64), N_DECILES, labels=False) + 1, index=values.index).astype("int64")
    except ValueError:
        return rank_deciles(values).astype("int64")
