"""Key-driver analysis: how much of the explained variance in satisfaction each behaviour carries.

Coded behaviours are correlated (an employee who shows one behaviour often shows another), so regression coefficients
do not say which behaviour "matters most". The LMG / Shapley decomposition (Lindeman, Merenda &
Gold 1980; Grömping 2006) splits the model R² into one share per predictor: each predictor's
increase in R² averaged over all orders of entry. Johnson's (2000) relative weights approximate the
same quantity and serve as a cross-check.

Why our own code: R's ``relaimpo`` has no Python counterpart in our dependencies. The exact
decomposition needs R² of all 2^p subsets; we get every subset's R² from the correlation matrix
with batched solves (one per subset size), so the bootstrap (resample, recompute the correlation
matrix, repeat) stays fast for the 12 behaviours of the study.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from svcresearch._validation import check_confidence, check_dataframe, check_number, check_type
from svcresearch.config import DEFAULT_SEED

MAX_PREDICTORS = 12


def _numeric_frame(data: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    out = []
    for col in cols:
        s = data[col]
        if pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_numeric_dtype(s.dtype):
            out.append(pd.to_numeric(s, errors="coerce").astype(float).to_numpy())
        elif isinstance(s.dtype, pd.CategoricalDtype) and s.cat.ordered:
            out.append(s.cat.codes.where(s.notna()).astype(float).to_numpy())
        else:
            raise TypeError(f"`data` column '{col}' must be numeric, boolean or ordered categorical; got {s.dtype}.")
    return np.column_stack(out)


def _subsets(p: int) -> dict[int, np.ndarray]:
    """All non-empty subsets of range(p), grouped by size, as index arrays (n_subsets, size)."""
    return {s: np.array(list(combinations(range(p), s)), dtype=int) for s in range(1, p + 1)}


def _bitmask(rows: np.ndarray) -> np.ndarray:
    return (1 << rows).sum(axis=1)


def subset_r2(corr: np.ndarray) -> np.ndarray:
    """R² of every predictor subset from correlation matrices.

    Parameters
    ----------
    corr : array (..., p+1, p+1)
        Correlation matrices with the outcome in the LAST row/column.

    Returns
    -------
    array (..., 2**p)
        Entry ``mask`` is the R² of the subset whose bit j is set when predictor j is in it
        (entry 0, the empty model, is 0).
    """
    corr = np.asarray(corr, dtype=float)
    p = corr.shape[-1] - 1
    batch = corr.shape[:-2]
    out = np.zeros(batch + (1 << p,))
    for size, rows in _subsets(p).items():
        Rxx = corr[..., rows[:, :, None], rows[:, None, :]]          # (..., n_sub, s, s)
        rxy = corr[..., rows, p]                                     # (..., n_sub, s)
        beta = np.linalg.solve(Rxx, rxy[..., None])[..., 0]
        out[..., _bitmask(rows)] = np.einsum("...i,...i->...", rxy, beta)
    return out


def shapley_from_r2(r2: np.ndarray, p: int) -> np.ndarray:
    """Shapley values (LMG shares) of ``p`` predictors from the subset-R² table of :func:`subset_r2`."""
    r2 = np.asarray(r2)
    masks = np.arange(1 << p)
    sizes = np.array([bin(m).count("1") for m in masks])
    out = np.zeros(r2.shape[:-1] + (p,))
    for j in range(p):
        without = masks[(masks >> j) & 1 == 0]
        s = sizes[without]
        weights = np.array([math.factorial(k) * math.factorial(p - k - 1) for k in s]) / math.factorial(p)
        out[..., j] = (r2[..., without | (1 << j)] - r2[..., without]) @ weights
    return out


def relative_weights(corr: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights from a correlation matrix (outcome in the last row/column).

    Notes
    -----
    :math:`\\Lambda = R_{xx}^{1/2}` (symmetric square root), :math:`\\beta = \\Lambda^{-1}r_{xy}`,
    weight :math:`_j = \\sum_k \\Lambda_{jk}^2\\beta_k^2`; the weights sum to the model R².
    """
    corr = np.asarray(corr, dtype=float)
    p = corr.shape[-1] - 1
    Rxx, rxy = corr[:p, :p], corr[:p, p]
    values, vectors = np.linalg.eigh(Rxx)
    lam = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T
    beta = np.linalg.solve(lam, rxy)
    return (lam**2) @ (beta**2)


def key_drivers(data: pd.DataFrame, *, y: str, predictors: Sequence[str], n_boot: int = 1000,
                confidence: float = 0.95, seed: int | None = DEFAULT_SEED, chunk: int = 50) -> pd.DataFrame:
    """LMG / Shapley decomposition of R² with percentile-bootstrap intervals.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows with a missing value in ``y`` or any predictor are dropped (listwise).
    y : str
        Outcome column (numeric or ordered categorical used as numbers).
    predictors : list of str
        At most 12 predictor columns (boolean, numeric or ordered categorical).
    n_boot : int
        Bootstrap resamples of cases (0: no intervals).
    confidence : float
        Coverage of the interval(s), strictly between 0 and 1.
    seed : int or None
        Seed of ``numpy.random.default_rng`` for the resamples; the package default
        :data:`svcresearch.config.DEFAULT_SEED` makes reruns identical, None draws fresh entropy.
    chunk : int
        Resamples processed per batch.

    Returns
    -------
    pandas.DataFrame
        One row per predictor, sorted by share: ``predictor, lmg, ci_low, ci_high, share``
        (lmg / R², the share of explained variance), ``relative_weight`` (Johnson), ``rank``,
        and the model-level ``r2`` (full-model R²) and ``n`` (rows used), the same on every row.
        ``attrs["boot"]`` holds the bootstrap LMG matrix as a convenience (pandas operations may
        drop ``attrs``; nothing in the package relies on it).

    Notes
    -----
    Exact Shapley values over all 2^p subsets (not sampled orderings). Validated in the tests: the
    shares sum to the full-model R² (efficiency), equal a brute-force average over all p!
    orderings of statsmodels OLS R² increments, are order-equivariant, and agree closely with
    Johnson's relative weights.
    """
    check_dataframe("data", data)
    check_type("y", y, str)
    if isinstance(predictors, str):
        raise TypeError(f"`predictors` must be a list of column names; got the string {predictors!r}.")
    predictors = list(predictors)
    if not 2 <= len(predictors) <= MAX_PREDICTORS:
        raise ValueError(f"`predictors` must name 2 to {MAX_PREDICTORS} columns (exact decomposition "
                         f"needs 2^p subset models); got {len(predictors)}.")
    if len(set(predictors)) != len(predictors) or y in predictors:
        raise ValueError("`predictors` must be distinct columns other than `y`.")
    check_dataframe("data", data, columns=[*predictors, y])
    check_number("n_boot", n_boot, low=0, integer=True)
    check_confidence(confidence)
    check_number("chunk", chunk, low=1, integer=True)

    values = _numeric_frame(data, [*predictors, y])
    values = values[~np.isnan(values).any(axis=1)]
    n, p = len(values), len(predictors)
    if n < p + 3:
        raise ValueError(f"`data` has {n} complete rows; too few for {p} predictors.")
    sd = values.std(axis=0)
    if np.any(sd == 0):
        const = [c for c, s in zip([*predictors, y], sd) if s == 0]
        raise ValueError(f"`data` column(s) {const!r} are constant in the complete rows.")
    corr = np.corrcoef(values, rowvar=False)
    if np.linalg.matrix_rank(corr[:p, :p]) < p:
        raise ValueError("`predictors` are perfectly collinear in the complete rows.")
    r2_table = subset_r2(corr)
    lmg = shapley_from_r2(r2_table, p)
    r2 = float(r2_table[-1])
    rw = relative_weights(corr)

    boot = np.empty((n_boot, p))
    if n_boot:
        rng = np.random.default_rng(seed)
        done = 0
        while done < n_boot:
            size = min(chunk, n_boot - done)
            idx = rng.integers(0, n, size=(size, n))
            sample = values[idx]                                  # (size, n, p+1)
            centred = sample - sample.mean(axis=1, keepdims=True)
            cov = np.einsum("bni,bnj->bij", centred, centred)
            s = np.sqrt(np.einsum("bii->bi", cov))
            with np.errstate(invalid="ignore", divide="ignore"):
                corr_b = cov / (s[:, :, None] * s[:, None, :])
            ok = np.isfinite(corr_b).all(axis=(1, 2))
            block = np.full((size, p), np.nan)
            if ok.any():
                block[ok] = shapley_from_r2(subset_r2(corr_b[ok]), p)
            boot[done:done + size] = block
            done += size
        low, high = np.nanquantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2], axis=0)
    else:
        low = high = np.full(p, np.nan)
    out = pd.DataFrame({"predictor": predictors, "lmg": lmg, "ci_low": low, "ci_high": high,
                        "share": lmg / r2 if r2 > 0 else np.nan, "relative_weight": rw})
    out = out.sort_values("lmg", ascending=False, kind="stable").reset_index(drop=True)
    out["rank"] = np.arange(1, p + 1)
    out["r2"] = r2
    out["n"] = n
    out.attrs.update({"boot": boot, "y": y})
    return out
