"""Multiple-testing corrections for the family of practice hypotheses.

Why our own code: ``statsmodels.stats.multitest.multipletests`` fails on missing p values (a
hypothesis that could not be tested must simply stay out of the family), and the hypothesis table
needs only Holm's step-down rule, which is a few vectorised lines.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def holm(p) -> np.ndarray | pd.Series:
    """Holm (1979) step-down adjusted p values; NaN entries stay NaN and do not count.

    Parameters
    ----------
    p : array-like of float in [0, 1]

    Returns
    -------
    numpy.ndarray (or pandas.Series with the same index when ``p`` is a Series)

    Notes
    -----
    Sorted ascending, :math:`\\tilde p_{(i)} = \\max_{j\\le i} \\min(1, (m-j+1)p_{(j)})`.
    Validated against ``statsmodels.stats.multitest.multipletests(method="holm")``.
    """
    series = p if isinstance(p, pd.Series) else None
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"`p` must be one-dimensional; got shape {arr.shape}.")
    finite = ~np.isnan(arr)
    if np.any((arr[finite] < 0) | (arr[finite] > 1)):
        raise ValueError("`p` values must lie in [0, 1].")
    out = np.full_like(arr, np.nan)
    values = arr[finite]
    m = values.size
    if m:
        order = np.argsort(values, kind="stable")
        stepped = (m - np.arange(m)) * values[order]
        adjusted = np.minimum(np.maximum.accumulate(stepped), 1.0)
        tmp = np.empty(m)
        tmp[order] = adjusted
        out[finite] = tmp
    if series is not None:
        return pd.Series(out, index=series.index, name=series.name)
    return out
