"""Inter-rater reliability of the behaviour codes: agreement, kappa, Krippendorff's alpha, Gwet's AC.

Before anyone reads "this behaviour predicts the outcome", they need to know that two coders agree
on what the behaviour is. This module takes the long format of ``coding_long.parquet`` -- one row per
judgement: unit (encounter), rater (coder), value -- and returns the usual coefficients with
confidence intervals, and :func:`reliability_table` puts them side by side for every behaviour.

Why our own code where libraries exist:

* ``statsmodels.stats.inter_rater`` wants contingency tables (no long format, no missing
  judgements), has no Krippendorff alpha, no Gwet AC1/AC2 and no bootstrap;
* the ``krippendorff`` package computes alpha only, from a raters x units matrix, without CIs; a
  bootstrap around it is a Python loop that calls it B times (see ``benchmarks/bench_reliability.py``
  for the speed difference);
* R's ``irrCAC``/``irr`` are not available to Python users.

Every coefficient here is computed from *per-unit* sums (category counts per unit, the pair
table of two raters, per-unit observed disagreement). A statistic over any multiset of units is
then a function of ``w @ F`` where ``F`` holds the per-unit features and ``w`` counts how often
each unit is drawn; the point estimate uses ``w = 1``, the bootstrap a (B x n_units) matrix of
draw counts. The same code therefore produces the estimate and all bootstrap replicates, and the
bootstrap needs no Python loop per resample.

Conventions (one vocabulary for the package): ``weights`` in {None, "unweighted", "linear",
"quadratic"} for kappa-type coefficients, ``level`` in {"nominal", "ordinal", "interval",
"ratio"} for Krippendorff's alpha, ``ci_method`` in {"analytic", "bootstrap"} for
the interval and ``confidence`` for its coverage.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import InputError, check_confidence, check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED

__all__ = [
    "ReliabilityWarning",
    "percent_agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "gwet_ac1",
    "gwet_ac2",
    "brennan_prediger",
    "agreement_ci",
    "bootstrap_estimates",
    "reliability_table",
    "levels_from_codebook",
    "reliability_summary",
    "confusion_table",
    "interpret_kappa",
    "interpret_alpha",
    "simulate_ratings",
    "METHODS",
    "LEVELS",
    "WEIGHTS",
]

METHODS = ("percent_agreement", "cohen_kappa", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1",
           "gwet_ac2", "brennan_prediger")
LEVELS = ("nominal", "ordinal", "interval", "ratio")
WEIGHTS = (None, "unweighted", "linear", "quadratic")
CI_METHODS = ("analytic", "bootstrap")

#: Kappa-paradox flag (a heuristic, not a test): the most common category holds at least this share
#: of all judgements, percent agreement is at least ``PARADOX_MIN_AGREEMENT`` and kappa is more
#: than ``PARADOX_GAP`` below percent agreement. Feinstein & Cicchetti (1990) describe the paradox.
PARADOX_PREVALENCE = 0.85
PARADOX_MIN_AGREEMENT = 0.80
PARADOX_GAP = 0.20

# Bootstrap work is done in chunks of resamples so that the (chunk x n_units) draw-count matrix
# stays around 32 MB whatever B and n_units are.
_CHUNK_CELLS = 4_000_000


class ReliabilityWarning(UserWarning):
    """A coefficient is undefined or likely misleading for these data (says why)."""


# ----------------------------------------------------------------------------------------------
# Input preparation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ratings:
    """Long-format judgements coded as integers, with the per-unit category counts."""

    unit_codes: np.ndarray        # per judgement, 0..n_units-1
    rater_codes: np.ndarray       # per judgement, 0..n_raters-1 (raters sorted)
    cat_codes: np.ndarray         # per judgement, 0..q-1
    units: pd.Index
    raters: pd.Index
    categories: list
    scores: np.ndarray | None     # numeric position of each category (None: unordered labels)
    numeric: bool                 # the values themselves are numbers (interval/ratio allowed)
    value: str                    # column name, for messages
    counts: np.ndarray            # (n_units, q) judgements per unit and category

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def q(self) -> int:
        return len(self.categories)

    @property
    def per_unit(self) -> np.ndarray:
        return self.counts.sum(axis=1)


def _show(x: Any) -> str:
    """repr of a label without numpy's ``np.int64(...)`` wrapper."""
    return repr(x.item() if isinstance(x, np.generic) else x)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _prepare(data: Any, *, unit: str, rater: str, value: str, categories: Sequence | None = None,
             min_raters: int = 2) -> _Ratings:
    for name, col in (("unit", unit), ("rater", rater), ("value", value)):
        check_type(name, col, str, what="a column name (str)")
    check_dataframe("data", data, columns=[unit, rater, value])
    if len({unit, rater, value}) < 3:
        raise ValueError(f"`unit`, `rater` and `value` must name three different columns; got "
                         f"{unit!r}, {rater!r}, {value!r}.")
    frame = data[[unit, rater, value]]
    for col in (unit, rater):
        n_na = int(frame[col].isna().sum())
        if n_na:
            raise InputError(f"{n_na} judgement(s) have no {('unit' if col == unit else 'rater')} "
                             "identifier; every row must name its unit and its rater.", column=col)
    missing = frame[value].isna().to_numpy()
    if missing.any():
        warnings.warn(
            f"column {value!r}: {int(missing.sum())} of {len(frame)} judgement(s) are missing (NA) "
            "and were left out; a missing judgement is not a category. Krippendorff's alpha and "
            "Gwet's AC1 use the remaining judgements of those units.",
            ReliabilityWarning, stacklevel=3)
        frame = frame.loc[~missing]
    if len(frame) == 0:
        raise InputError("has no non-missing judgements.", column=value)
    dup = frame.duplicated(subset=[unit, rater], keep=False).to_numpy()
    if dup.any():
        first = frame.loc[dup].iloc[0]
        raise InputError(
            f"{int(dup.sum())} rows repeat a (unit, rater) pair, e.g. unit {_show(first[unit])} rated by "
            f"{_show(first[rater])} more than once; expected one judgement per rater and unit "
            f"(columns {unit!r}, {rater!r}). Resolve duplicate codings first.", column=value)

    unit_codes, units = pd.factorize(frame[unit], sort=True)
    rater_codes, raters = pd.factorize(frame[rater], sort=True)
    if len(raters) < min_raters:
        shown = ", ".join(_show(r) for r in raters)
        raise InputError(f"reliability needs at least {min_raters} raters; the data have "
                         f"{len(raters)} ({shown}).", column=rater)

    series = frame[value]
    if categories is not None:
        check_type("categories", categories, (list, tuple, pd.Index, np.ndarray), what="a list of categories")
        cats = list(categories)
        if len(set(cats)) != len(cats):
            raise ValueError(f"`categories` must not repeat a category; got {cats!r}.")
        lookup = {c: i for i, c in enumerate(cats)}
        raw = series.tolist()
        unknown = sorted({v for v in raw if v not in lookup}, key=str)
        if unknown:
            raise InputError(f"value(s) {unknown[:5]!r} are not among `categories` {cats!r}.", column=value)
        cat_codes = np.fromiter((lookup[v] for v in raw), dtype=np.int64, count=len(raw))
        numeric = all(isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool)
                      for c in cats)
        scores = np.asarray(cats, dtype=float) if numeric else np.arange(len(cats), dtype=float)
    elif isinstance(series.dtype, pd.CategoricalDtype):
        cats = list(series.dtype.categories)
        cat_codes = series.cat.codes.to_numpy().astype(np.int64)
        numeric = False
        scores = np.arange(len(cats), dtype=float) if series.dtype.ordered else None
    elif _is_numeric(series):
        vals = series.to_numpy(dtype=float)
        if not np.isfinite(vals).all():
            raise InputError("holds infinite values; expected finite numbers.", column=value)
        uniq = np.unique(vals)
        cats = [v.item() for v in uniq]
        cat_codes = np.searchsorted(uniq, vals).astype(np.int64)
        numeric = True
        scores = uniq.astype(float)
    else:
        cat_codes, uniq = pd.factorize(series, sort=True)
        cats = list(uniq)
        numeric = False
        scores = None

    q = len(cats)
    n = len(units)
    counts = np.bincount(unit_codes * q + cat_codes, minlength=n * q).reshape(n, q).astype(float)
    return _Ratings(unit_codes=np.asarray(unit_codes), rater_codes=np.asarray(rater_codes),
                    cat_codes=cat_codes, units=pd.Index(units), raters=pd.Index(raters),
                    categories=cats, scores=scores, numeric=numeric, value=value, counts=counts)


def _agreement_weights(R: _Ratings, weights: str | None) -> np.ndarray:
    """q x q agreement weights (1 on the diagonal) as in Cohen (1968) / Gwet (2014)."""
    check_option("weights", weights, WEIGHTS)
    if weights in (None, "unweighted"):
        return np.eye(R.q)
    if R.scores is None:
        raise InputError(f"weights={weights!r} needs ordered values (numbers or an ordered "
                         f"categorical, or `categories=` in order); got unordered labels such as "
                         f"{R.categories[:3]!r}. Use weights=None for nominal codes.", column=R.value)
    x = R.scores
    span = x.max() - x.min()
    if span == 0:
        return np.ones((R.q, R.q))
    dist = np.abs(x[:, None] - x[None, :]) / span
    return 1.0 - dist if weights == "linear" else 1.0 - dist ** 2


def _disagreement(R: _Ratings, level: str) -> np.ndarray | None:
    """Krippendorff's squared difference function delta^2 (None for ordinal: data dependent)."""
    check_option("level", level, LEVELS)
    if level == "nominal":
        return 1.0 - np.eye(R.q)
    if level == "ordinal":
        if R.scores is None:
            raise InputError(f"level='ordinal' needs ordered values (numbers, an ordered categorical "
                             f"or `categories=` in order); got unordered labels such as "
                             f"{R.categories[:3]!r}.", column=R.value)
        return None
    if not R.numeric:
        raise InputError(f"level={level!r} needs numeric values; got {R.categories[:3]!r}. Use the "
                         "numeric code column (e.g. 'value_numeric') or level='nominal'/'ordinal'.",
                         column=R.value)
    x = np.asarray(R.scores, dtype=float)
    diff = x[:, None] - x[None, :]
    if level == "interval":
        return diff ** 2
    if (x < 0).any():
        raise InputError("level='ratio' needs non-negative values (a ratio scale has a true zero); "
                         f"got {x.min()!r}.", column=R.value)
    total = x[:, None] + x[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total == 0, 0.0, diff / np.where(total == 0, 1.0, total)) ** 2
    return out


def _require_two_raters_per_unit(R: _Ratings, what: str) -> None:
    if len(R.raters) != 2:
        raise InputError(f"{what} compares exactly two raters; the data have {len(R.raters)} "
                         f"({', '.join(map(_show, list(R.raters)[:6]))}). Use fleiss_kappa, "
                         "krippendorff_alpha or gwet_ac1 for more raters.", column=None)
    per_unit = R.per_unit
    bad = np.flatnonzero(per_unit != 2)
    if bad.size:
        raise InputError(
            f"{what} needs exactly two raters per unit; {bad.size} of {R.n_units} units have "
            f"{int(per_unit[bad[0]])} judgement(s) (e.g. unit {_show(R.units[bad[0]])}). Keep only units "
            "rated by both raters, or use krippendorff_alpha / gwet_ac1, which allow missing "
            "judgements.")


# ----------------------------------------------------------------------------------------------
# Statistics as functions of per-unit sums
# ----------------------------------------------------------------------------------------------
@dataclass
class _Spec:
    """Per-unit features of one coefficient and how to turn their (weighted) sums into estimates."""

    name: str
    features: dict[str, np.ndarray]
    finalize: Callable[[dict[str, np.ndarray]], np.ndarray]


def _pairwise_parts(R: _Ratings, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-unit (weighted) agreement among pairs of raters, Gwet (2014) eq. for multiple raters."""
    N = R.counts
    r = R.per_unit
    star = N @ W.T
    ind2 = (r >= 2).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pa_u = np.where(r >= 2, (N * (star - 1.0)).sum(axis=1) / np.where(r >= 2, r * (r - 1), 1.0), 0.0)
    return pa_u, ind2


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(np.abs(den) < 1e-12, np.nan, out)


def _spec(R: _Ratings, method: str, *, weights: str | None = None, level: str = "nominal") -> _Spec:
    check_option("method", method, METHODS)
    if method == "krippendorff_alpha":
        return _alpha_spec(R, level)
    W = _agreement_weights(R, weights)
    if method == "cohen_kappa":
        _require_two_raters_per_unit(R, "cohen_kappa")
        q = R.q
        order = np.lexsort((R.rater_codes, R.unit_codes))
        cats = R.cat_codes[order].reshape(-1, 2)      # rows: units; cols: rater 1, rater 2
        J = np.zeros((R.n_units, q * q))
        J[np.arange(R.n_units), cats[:, 0] * q + cats[:, 1]] = 1.0

        def finalize(s):
            p = s["J"].reshape(-1, q, q) / s["one"][:, None, None]
            po = (p * W).sum(axis=(1, 2))
            pe = np.einsum("bi,ij,bj->b", p.sum(axis=2), W, p.sum(axis=1))
            return _safe_div(po - pe, 1.0 - pe)

        return _Spec(method, {"J": J, "one": np.ones(R.n_units)}, finalize)

    pa_u, ind2 = _pairwise_parts(R, W)
    feats = {"pa": pa_u, "ind2": ind2}
    if method == "percent_agreement":
        return _Spec(method, feats, lambda s: _safe_div(s["pa"], s["ind2"]))
    if method == "brennan_prediger":
        pe = W.sum() / R.q ** 2
        if R.q < 2:
            pe = np.nan
        return _Spec(method, feats, lambda s: _safe_div(_safe_div(s["pa"], s["ind2"]) - pe, np.full_like(s["pa"], 1 - pe)))
    feats["prop"] = R.counts / R.per_unit[:, None]
    feats["one"] = np.ones(R.n_units)
    if method == "fleiss_kappa":
        def finalize(s):
            pi = s["prop"] / s["one"][:, None]
            pe = np.einsum("bi,ij,bj->b", pi, W, pi)
            return _safe_div(_safe_div(s["pa"], s["ind2"]) - pe, 1.0 - pe)
        return _Spec(method, feats, finalize)
    # Gwet's AC1 (unweighted) and AC2 (weighted): chance agreement from the category propensities.
    tw = W.sum()
    q = R.q

    def finalize(s):
        pi = s["prop"] / s["one"][:, None]
        pe = tw / (q * (q - 1)) * (pi * (1 - pi)).sum(axis=1) if q > 1 else np.zeros(len(pi))
        return _safe_div(_safe_div(s["pa"], s["ind2"]) - pe, 1.0 - pe)
    return _Spec(method, feats, finalize)


def _alpha_spec(R: _Ratings, level: str) -> _Spec:
    delta = _disagreement(R, level)
    r = R.per_unit
    pairable = r >= 2
    Np = R.counts * pairable[:, None]
    m = r * pairable
    q = R.q
    if delta is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(pairable, ((Np @ delta) * Np).sum(axis=1) / np.where(pairable, r - 1, 1.0), 0.0)

        def finalize(s):
            nc = s["nc"]
            de = np.einsum("bi,ij,bj->b", nc, delta, nc)
            return 1.0 - _safe_div((s["m"] - 1.0) * s["d"], de)
        return _Spec("krippendorff_alpha", {"nc": Np, "m": m, "d": d}, finalize)

    # Ordinal: the metric depends on the category margins of the (resampled) data, so keep the
    # per-unit coincidence matrices and build delta per replicate.
    with np.errstate(invalid="ignore", divide="ignore"):
        O = (Np[:, :, None] * Np[:, None, :] - Np[:, :, None] * np.eye(q)[None]) \
            / np.where(pairable, r - 1, 1.0)[:, None, None]
    O = O.reshape(R.n_units, q * q)

    def finalize(s):
        nc = s["nc"]
        cum = np.cumsum(nc, axis=1)
        delta_b = (cum[:, None, :] - cum[:, :, None] + (nc[:, :, None] - nc[:, None, :]) / 2.0) ** 2
        do = (s["O"].reshape(-1, q, q) * delta_b).sum(axis=(1, 2))
        de = np.einsum("bi,bij,bj->b", nc, delta_b, nc)
        return 1.0 - _safe_div((s["m"] - 1.0) * do, de)
    return _Spec("krippendorff_alpha", {"nc": Np, "m": m, "O": O}, finalize)


def _stack(specs: Sequence[_Spec]) -> tuple[np.ndarray, list[dict[str, slice]]]:
    cols, layout, start = [], [], 0
    for sp in specs:
        lay = {}
        for key, arr in sp.features.items():
            arr2 = arr[:, None] if arr.ndim == 1 else arr
            lay[key] = (slice(start, start + arr2.shape[1]), arr.ndim == 1)
            start += arr2.shape[1]
            cols.append(arr2)
        layout.append(lay)
    return np.hstack(cols).astype(float), layout


def _evaluate(specs: Sequence[_Spec], F: np.ndarray, layout, weights: np.ndarray) -> list[np.ndarray]:
    S = weights @ F
    out = []
    for sp, lay in zip(specs, layout):
        sums = {k: (S[:, sl][:, 0] if flat else S[:, sl]) for k, (sl, flat) in lay.items()}
        out.append(np.asarray(sp.finalize(sums), dtype=float))
    return out


def _point(spec: _Spec, R: _Ratings) -> float:
    F, layout = _stack([spec])
    return float(_evaluate([spec], F, layout, np.ones((1, R.n_units)))[0][0])


def _bootstrap(specs: Sequence[_Spec], n_units: int, *, n_boot: int, seed: Any,
               progress: bool | None = None) -> list[np.ndarray]:
    """Replicates of every spec from the same resamples of units (vectorised per chunk)."""
    from tqdm import tqdm  # plain bar: tqdm.auto warns in kernels without ipywidgets

    F, layout = _stack(specs)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(n_units, 1)))
    results = [np.empty(n_boot) for _ in specs]
    # The bar appears only when the bootstrap runs longer than a few seconds.
    bar = tqdm(total=n_boot, desc="bootstrap", unit="resample", delay=3.0,
               disable=(progress is False), leave=False)
    try:
        done = 0
        while done < n_boot:
            b = min(chunk, n_boot - done)
            idx = rng.integers(0, n_units, size=(b, n_units))
            offs = idx + (np.arange(b) * n_units)[:, None]
            counts = np.bincount(offs.ravel(), minlength=b * n_units).reshape(b, n_units)
            for res, est in zip(results, _evaluate(specs, F, layout, counts.astype(float))):
                res[done:done + b] = est
            done += b
            bar.update(b)
    finally:
        bar.close()
    return results


# ----------------------------------------------------------------------------------------------
# Scalar coefficients (DESIGN.md §5 contract: data first, keyword-only, float)
# ----------------------------------------------------------------------------------------------
def _warn_undefined(value: float, method: str, R: _Ratings, *, stacklevel: int = 3) -> float:
    if math.isnan(value):
        used = sorted({R.categories[c] for c in np.unique(R.cat_codes)}, key=str)
        if len(used) == 1:
            why = (f"every judgement is the same category ({used[0]!r}), so there is no variation "
                   "for raters to agree on and chance agreement is total")
        else:
            why = "expected (chance) disagreement is zero for these data"
        warnings.warn(f"{method} is undefined (NaN): {why}. Report percent agreement instead, "
                      "or code more varied units.", ReliabilityWarning, stacklevel=stacklevel)
    return value


def percent_agreement(data: pd.DataFrame, *, unit: str, rater: str, value: str,
                      weights: str | None = None, categories: Sequence | None = None) -> float:
    """Share of agreeing rater pairs, averaged over units rated at least twice.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Columns naming the rated unit, the rater and the judgement.
    weights : {None, "unweighted", "linear", "quadratic"}
        Credit for partial agreement between ordered categories.
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float

    Notes
    -----
    With two raters this is the proportion of units on which they agree; with more raters the
    proportion of agreeing pairs per unit (Fleiss 1971), averaged over units with two or more
    judgements (Gwet 2014). Validated against the hand computation for Krippendorff's (2011) example
    (irrCAC reports pa = 0.8181818 for it).
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _point(_spec(R, "percent_agreement", weights=weights), R)


def cohen_kappa(data: pd.DataFrame, *, unit: str, rater: str, value: str, weights: str | None = None,
                categories: Sequence | None = None) -> float:
    """Cohen's kappa (1960) for two raters; weighted kappa (Cohen 1968) with ``weights``.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement; exactly two raters, each rating every unit.
    unit, rater, value : str
        Column names.
    weights : {None, "unweighted", "linear", "quadratic"}
        Agreement weights 1 - |i-j|/(q-1) (linear) or 1 - (i-j)^2/(q-1)^2 (quadratic), computed
        from the numeric values (or category positions of an ordered categorical).
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float
        NaN with a :class:`ReliabilityWarning` when chance agreement is 1 (a single category).

    Notes
    -----
    Validated against statsmodels ``cohens_kappa`` (unweighted, linear, quadratic), the SAS
    example printed in statsmodels' tests (kappa 0.4842, weighted 0.4701) and Wikipedia's 2 x 2
    example (kappa 0.4).
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _warn_undefined(_point(_spec(R, "cohen_kappa", weights=weights), R), "cohen_kappa", R)


def fleiss_kappa(data: pd.DataFrame, *, unit: str, rater: str, value: str, weights: str | None = None,
                 categories: Sequence | None = None) -> float:
    """Fleiss' kappa (1971) for any number of raters, allowing missing judgements.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    weights : {None, "unweighted", "linear", "quadratic"}
        Agreement weights for ordered categories.
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float

    Notes
    -----
    With missing judgements, agreement is averaged over units rated at least twice and the
    category propensities over all units, as in Gwet (2014) / R ``irrCAC::fleiss.kappa.raw``.
    Validated against Fleiss (1971)'s diagnoses data (kappa 0.430, R ``irr::kappam.fleiss``),
    Wikipedia's 10 x 14 example (0.210) and statsmodels ``fleiss_kappa``.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _warn_undefined(_point(_spec(R, "fleiss_kappa", weights=weights), R), "fleiss_kappa", R)


def krippendorff_alpha(data: pd.DataFrame, *, unit: str, rater: str, value: str,
                       level: str = "nominal", categories: Sequence | None = None) -> float:
    """Krippendorff's alpha at the nominal, ordinal, interval or ratio level.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement; units may be rated by any number of raters
        (units with a single judgement are not pairable and drop out).
    unit, rater, value : str
        Column names.
    level : {"nominal", "ordinal", "interval", "ratio"}
        Level of measurement; interval and ratio need numeric values, ordinal needs ordered ones.
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float
        NaN with a :class:`ReliabilityWarning` when all pairable values are one category.

    Notes
    -----
    alpha = 1 - (n - 1) * sum_ck o_ck delta_ck / sum_ck n_c n_k delta_ck (Krippendorff 2011).
    Validated against the published worked example (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability": nominal 0.743, ordinal 0.815, interval 0.849, ratio 0.797) and the
    ``krippendorff`` package.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _warn_undefined(_point(_spec(R, "krippendorff_alpha", level=level), R), "krippendorff_alpha", R)


def gwet_ac1(data: pd.DataFrame, *, unit: str, rater: str, value: str,
             categories: Sequence | None = None) -> float:
    """Gwet's AC1 (2008): chance-corrected agreement that stays stable under extreme prevalence.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float

    Notes
    -----
    pe = 1/(q-1) * sum_k pi_k (1 - pi_k) with pi_k the mean share of category k per unit; missing
    judgements allowed as in Gwet (2014) / R ``irrCAC::gwet.ac1.raw``. Validated against irrCAC's
    documented result for Krippendorff's example (AC1 0.77544, pe 0.1903212) and a loop
    implementation of Gwet (2008) in the tests. ``q`` is the number of categories: pass
    ``categories=`` when a possible category was never used.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _point(_spec(R, "gwet_ac1"), R)


def gwet_ac2(data: pd.DataFrame, *, unit: str, rater: str, value: str, weights: str = "quadratic",
             categories: Sequence | None = None) -> float:
    """Gwet's AC2: AC1 with agreement weights for ordered categories (Gwet 2014).

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    weights : {None, "unweighted", "linear", "quadratic"}
        Agreement weights (default quadratic).
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float

    Notes
    -----
    pe = T_w / (q (q - 1)) * sum_k pi_k (1 - pi_k), T_w the sum of the weights. With
    ``weights=None`` it equals AC1. Validated against a loop implementation in the tests.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _point(_spec(R, "gwet_ac2", weights=weights), R)


def brennan_prediger(data: pd.DataFrame, *, unit: str, rater: str, value: str,
                     weights: str | None = None, categories: Sequence | None = None) -> float:
    """Brennan & Prediger's (1981) coefficient: chance agreement 1/q (T_w/q^2 when weighted).

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    weights : {None, "unweighted", "linear", "quadratic"}
        Agreement weights for ordered categories.
    categories : sequence, optional
        All possible categories in order (default: the observed values).

    Returns
    -------
    float

    Notes
    -----
    Depends on the number of *possible* categories q; pass ``categories=`` when some were never
    used. Validated against the hand computation for Krippendorff's example.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    return _warn_undefined(_point(_spec(R, "brennan_prediger", weights=weights), R), "brennan_prediger", R)


# ----------------------------------------------------------------------------------------------
# Analytic standard errors
# ----------------------------------------------------------------------------------------------
def _analytic_se(R: _Ratings, method: str, *, weights: str | None, estimate: float) -> float:
    """Large-sample SE: Fleiss, Cohen & Everitt (1969) for Cohen's kappa, Gwet's (2008, 2014)
    linearisation for the multi-rater coefficients (finite-population correction f = 0)."""
    if method == "krippendorff_alpha":
        raise ValueError("krippendorff_alpha has no analytic standard error (Krippendorff recommends "
                         "the bootstrap); use ci_method='bootstrap'.")
    if not np.isfinite(estimate):
        return float("nan")
    W = _agreement_weights(R, weights)
    if method == "cohen_kappa":
        q = R.q
        order = np.lexsort((R.rater_codes, R.unit_codes))
        cats = R.cat_codes[order].reshape(-1, 2)
        n = R.n_units
        p = np.bincount(cats[:, 0] * q + cats[:, 1], minlength=q * q).reshape(q, q) / n
        row, col = p.sum(axis=1), p.sum(axis=0)
        pe = row @ W @ col
        k = estimate
        wbar_i = W @ col            # sum_j p_.j w_ij
        wbar_j = row @ W            # sum_i p_i. w_ij
        term = (p * (W - (wbar_i[:, None] + wbar_j[None, :]) * (1 - k)) ** 2).sum()
        var = (term - (k - pe * (1 - k)) ** 2) / (n * (1 - pe) ** 2)
        return float(math.sqrt(max(var, 0.0)))

    n = R.n_units
    pa_u, ind2 = _pairwise_parts(R, W)
    n2 = ind2.sum()
    pa = pa_u.sum() / n2
    if method == "percent_agreement":
        x = (n / n2) * pa_u
        est = pa
    else:
        r = R.per_unit
        pi = (R.counts / r[:, None]).mean(axis=0)
        if method == "brennan_prediger":
            pe = W.sum() / R.q ** 2
            x = (n / n2) * (pa_u - pe * ind2) / (1 - pe)
        elif method == "fleiss_kappa":
            pe = pi @ W @ pi
            pi_w = (W @ pi + W.T @ pi) / 2
            pe_u = (R.counts @ pi_w) / r
            k_u = (n / n2) * (pa_u - pe * ind2) / (1 - pe)
            x = k_u - 2 * (1 - estimate) * (pe_u - pe) / (1 - pe)
        else:  # gwet_ac1 / gwet_ac2
            q = R.q
            c = W.sum() / (q * (q - 1))
            pe = c * (pi * (1 - pi)).sum()
            pe_u = c * (R.counts @ (1 - pi)) / r
            k_u = (n / n2) * (pa_u - pe * ind2) / (1 - pe)
            x = k_u - 2 * (1 - estimate) * (pe_u - pe) / (1 - pe)
        est = estimate
    if n < 2:
        return float("nan")
    return float(math.sqrt(((x - est) ** 2).sum() / (n * (n - 1))))


# ----------------------------------------------------------------------------------------------
# Confidence intervals and bootstrap
# ----------------------------------------------------------------------------------------------
def _check_ci_args(n_boot: int, confidence: float) -> None:
    check_number("n_boot", n_boot, low=1, integer=True)
    check_confidence(confidence)


def bootstrap_estimates(data: pd.DataFrame, *, unit: str, rater: str, value: str,
                        methods: Sequence[str] = ("percent_agreement", "krippendorff_alpha", "gwet_ac1"),
                        weights: str | None = None, level: str = "nominal",
                        categories: Sequence | None = None, n_boot: int = 2000,
                        seed: Any = DEFAULT_SEED, progress: bool | None = None) -> pd.DataFrame:
    """Bootstrap replicates of several coefficients from the same resamples of units.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    methods : sequence of str
        Any of :data:`METHODS`.
    weights : {None, "unweighted", "linear", "quadratic"}
        For the kappa-type coefficients (AC2 defaults to quadratic when None).
    level : {"nominal", "ordinal", "interval", "ratio"}
        For Krippendorff's alpha.
    n_boot : int
        Number of resamples B.
    seed : int or numpy SeedSequence
        Same seed, same replicates.
    progress : bool, optional
        Show a progress bar (default: only when the run takes more than a few seconds).

    Returns
    -------
    DataFrame
        ``n_boot`` rows (column ``replicate``) and one column per method.

    Notes
    -----
    Units are resampled with replacement: a (B x n_units) matrix of unit indices is turned into
    draw counts and every coefficient is computed from count-weighted per-unit sums, so there is
    no Python loop per resample. Each replicate equals the coefficient computed on the resampled
    long table (checked in the tests against resampling and recomputing directly).
    """
    check_type("methods", methods, (list, tuple), what="a list of method names")
    for m in methods:
        check_option("methods", m, METHODS)
    _check_ci_args(n_boot, 0.95)
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    specs = [_spec(R, m, weights=(weights or "quadratic") if m == "gwet_ac2" else weights, level=level)
             for m in methods]
    reps = _bootstrap(specs, R.n_units, n_boot=n_boot, seed=seed, progress=progress)
    out = pd.DataFrame({"replicate": np.arange(n_boot)})
    for m, rep in zip(methods, reps):
        out[m] = rep
    return out


def _percentile_ci(reps: np.ndarray, confidence: float) -> tuple[float, float, int]:
    ok = reps[np.isfinite(reps)]
    if ok.size == 0:
        return float("nan"), float("nan"), 0
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(ok, [tail, 1 - tail])
    return float(lo), float(hi), int(ok.size)


def agreement_ci(data: pd.DataFrame, *, unit: str, rater: str, value: str, method: str,
                 weights: str | None = None, level: str = "nominal", categories: Sequence | None = None,
                 ci_method: str = "bootstrap", n_boot: int = 2000, seed: Any = DEFAULT_SEED,
                 confidence: float = 0.95) -> pd.DataFrame:
    """One coefficient with its standard error and confidence interval.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement.
    unit, rater, value : str
        Column names.
    method : str
        One of :data:`METHODS`.
    weights, level, categories
        As in the scalar functions.
    ci_method : {"bootstrap", "analytic"}
        Percentile bootstrap over units (all methods) or the large-sample interval estimate
        +/- z * SE (not for Krippendorff's alpha).
    n_boot, seed
        Bootstrap resamples and seed.
    confidence : float
        Coverage of the interval.

    Returns
    -------
    DataFrame
        One row: ``method, weights, level, estimate, std_error, ci_low, ci_high, ci_method,
        confidence, n_units, n_raters, n_judgements, n_boot_valid``. For the bootstrap,
        ``std_error`` is the SD of the replicates. Analytic upper limits are capped at 1.

    Notes
    -----
    Analytic SEs: Fleiss, Cohen & Everitt (1969) for Cohen's kappa (matches SAS's ASE 0.1380 and
    0.1457 printed in statsmodels' tests); Gwet's linearisation (Gwet 2008; 2014) for Fleiss'
    kappa, AC1/AC2, Brennan-Prediger and percent agreement (matches irrCAC's documented SEs
    for Krippendorff's example). These use the divisor n(n - 1) as irrCAC does; Gwet's (2008)
    two-rater formula uses n^2, i.e. its variance is ours times (n - 1)/n (checked in the tests).
    The SEs of AC2, weighted kappa and percent agreement have no published reference and are
    checked against the bootstrap SD on large samples.
    """
    check_option("method", method, METHODS)
    check_option("ci_method", ci_method, CI_METHODS)
    _check_ci_args(n_boot, confidence)
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    w = (weights or "quadratic") if method == "gwet_ac2" else weights
    spec = _spec(R, method, weights=w, level=level)
    est = _warn_undefined(_point(spec, R), method, R)
    if ci_method == "analytic":
        se = _analytic_se(R, method, weights=w, estimate=est)
        z = stats.norm.ppf(0.5 + confidence / 2)
        lo, hi, valid = est - z * se, min(1.0, est + z * se), 0
    else:
        reps = _bootstrap([spec], R.n_units, n_boot=n_boot, seed=seed)[0]
        lo, hi, valid = _percentile_ci(reps, confidence)
        se = float(np.nanstd(reps, ddof=1)) if valid > 1 else float("nan")
        if valid < n_boot:
            warnings.warn(f"{method}: {n_boot - valid} of {n_boot} bootstrap resamples had an "
                          "undefined coefficient (a single category) and were left out.",
                          ReliabilityWarning, stacklevel=2)
    return pd.DataFrame([{
        "method": method, "weights": w if method != "krippendorff_alpha" else None,
        "level": level if method == "krippendorff_alpha" else None,
        "estimate": est, "std_error": se, "ci_low": lo, "ci_high": hi, "ci_method": ci_method,
        "confidence": confidence, "n_units": R.n_units, "n_raters": len(R.raters),
        "n_judgements": len(R.cat_codes), "n_boot_valid": valid if ci_method == "bootstrap" else pd.NA,
    }])


# ----------------------------------------------------------------------------------------------
# Interpretation labels (conventions, not verdicts)
# ----------------------------------------------------------------------------------------------
def interpret_kappa(value: float) -> str:
    """Landis & Koch (1977) label for a kappa-type coefficient (a convention, not a verdict).

    < 0 poor, 0-.20 slight, .21-.40 fair, .41-.60 moderate, .61-.80 substantial, .81-1 almost
    perfect. Landis and Koch called their own cut-offs arbitrary.
    """
    if value is None or not np.isfinite(value):
        return "undefined"
    if value < 0:
        return "poor"
    for upper, label in ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial")):
        if value <= upper:
            return label
    return "almost perfect"


def interpret_alpha(value: float) -> str:
    """Krippendorff's (2004) conventional thresholds for alpha (a convention, not a verdict).

    >= .800 reliable; .667-.800 tentative conclusions only; < .667 unreliable.
    """
    if value is None or not np.isfinite(value):
        return "undefined"
    if value >= 0.800:
        return "reliable"
    if value >= 0.667:
        return "tentative"
    return "unreliable"


# ----------------------------------------------------------------------------------------------
# The table per behaviour
# ----------------------------------------------------------------------------------------------
def _infer_level(frame: pd.DataFrame, value: str) -> str:
    s = frame[value].dropna()
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "ordinal" if s.dtype.ordered and len(s.dtype.categories) > 2 else "nominal"
    if _is_numeric(s) and s.nunique() > 2:
        return "ordinal"
    return "nominal"


def reliability_table(data: pd.DataFrame, *, unit: str, rater: str, value: str, behaviour: str,
                      levels: Mapping[str, str] | None = None, n_boot: int = 2000,
                      seed: Any = DEFAULT_SEED, confidence: float = 0.95,
                      ci_method: str = "bootstrap") -> pd.DataFrame:
    """Agreement, kappa, alpha and AC1 with confidence intervals, one row per behaviour.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per judgement (e.g. ``coding_long.parquet`` filtered to
        ``status == "observed"``).
    unit, rater, value, behaviour : str
        Columns: the rated unit, the rater, the judgement, and which behaviour it is.
    levels : mapping, optional
        Level of measurement per behaviour for alpha (e.g. ``{"tone": "ordinal"}``; :func:`levels_from_codebook`
        builds it from the study's codebook). Behaviours
        not listed: ordinal for numbers / ordered categories with more than two values, otherwise
        nominal.
    n_boot, seed, confidence
        Percentile bootstrap over units; each behaviour gets its own child of ``seed``.
    ci_method : {"bootstrap", "analytic"}
        "analytic" uses the large-sample SEs and leaves alpha's CI empty.

    Returns
    -------
    DataFrame
        Columns ``behaviour, level, n_units, n_raters, n_judgements, percent_agreement(+_ci_low,
        _ci_high), kappa(+CI), kappa_method, kappa_label, alpha(+CI), alpha_label, ac1(+CI),
        majority_category, majority_share, kappa_paradox, note``.

    Notes
    -----
    Only units with at least two judgements enter (a singly-coded unit carries no information on
    agreement), so every coefficient in a row uses the same units. ``kappa`` is Cohen's
    (unweighted) when the behaviour has exactly two raters, Fleiss' otherwise; ``ac1`` is
    unweighted; ``alpha`` uses the behaviour's level. Labels are conventions (Landis & Koch 1977
    for kappa, Krippendorff's .667/.800 for alpha), not verdicts. ``kappa_paradox`` flags extreme
    prevalence where kappa is low despite high agreement (Feinstein & Cicchetti 1990); read AC1
    there.
    """
    check_type("behaviour", behaviour, str, what="a column name (str)")
    check_dataframe("data", data, columns=[unit, rater, value, behaviour])
    check_option("ci_method", ci_method, CI_METHODS)
    _check_ci_args(n_boot, confidence)
    if levels is not None:
        check_type("levels", levels, Mapping, what="a mapping behaviour -> level")
        for b, lev in levels.items():
            check_option(f"levels[{b!r}]", lev, LEVELS)
            if b not in set(data[behaviour].dropna().unique()):
                raise ValueError(f"`levels` names behaviour {b!r}, which is not in column "
                                 f"{behaviour!r}.")
    if data[behaviour].isna().any():
        raise InputError("has missing behaviour names; every judgement must say which behaviour it "
                         "codes.", column=behaviour)
    names = sorted(data[behaviour].unique(), key=str)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    seeds = root.spawn(len(names))
    rows = []
    for name, child in zip(names, seeds):
        part = data.loc[data[behaviour] == name]
        part = part.loc[part[value].notna()]
        multi = part.groupby(unit, sort=False, observed=True)[rater].transform("size") >= 2
        part = part.loc[multi]
        level = (levels or {}).get(name) or _infer_level(part if len(part) else data.loc[data[behaviour] == name], value)
        row = {"behaviour": name, "level": level}
        if part.empty:
            warnings.warn(f"behaviour {name!r}: no unit has two or more judgements; its row is empty.",
                          ReliabilityWarning, stacklevel=2)
            rows.append(row | {"n_units": 0, "n_raters": part[rater].nunique(), "n_judgements": 0,
                               "note": "no unit rated twice"})
            continue
        R = _prepare(part, unit=unit, rater=rater, value=value)
        two = len(R.raters) == 2 and bool((R.per_unit == 2).all())
        kappa_method = "cohen_kappa" if two else "fleiss_kappa"
        methods = ["percent_agreement", kappa_method, "krippendorff_alpha", "gwet_ac1"]
        keys = ["percent_agreement", "kappa", "alpha", "ac1"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ReliabilityWarning)
            specs = [_spec(R, m, level=level) for m in methods]
            ests = [_point(sp, R) for sp in specs]
        if ci_method == "bootstrap":
            reps = _bootstrap(specs, R.n_units, n_boot=n_boot, seed=child)
            cis = [_percentile_ci(rp, confidence)[:2] for rp in reps]
        else:
            z = stats.norm.ppf(0.5 + confidence / 2)
            cis = []
            for m, e in zip(methods, ests):
                if m == "krippendorff_alpha":
                    cis.append((np.nan, np.nan))
                    continue
                se = _analytic_se(R, m, weights=None, estimate=e)
                cis.append((e - z * se, min(1.0, e + z * se)))
        shares = R.counts.sum(axis=0) / R.counts.sum()
        top = int(np.argmax(shares))
        row |= {"n_units": R.n_units, "n_raters": len(R.raters), "n_judgements": len(R.cat_codes)}
        for key, e, (lo, hi) in zip(keys, ests, cis):
            row |= {key: e, f"{key}_ci_low": lo, f"{key}_ci_high": hi}
            if key == "kappa":
                row |= {"kappa_method": "cohen" if two else "fleiss", "kappa_label": interpret_kappa(e)}
            if key == "alpha":
                row["alpha_label"] = interpret_alpha(e)
        pa, kappa = row["percent_agreement"], row["kappa"]
        paradox = bool(shares[top] >= PARADOX_PREVALENCE and pa >= PARADOX_MIN_AGREEMENT
                       and (not np.isfinite(kappa) or kappa < pa - PARADOX_GAP))
        notes = []
        if R.q == 1:
            notes.append(f"only one category observed ({R.categories[0]!r}): kappa and alpha undefined")
        if paradox:
            notes.append(f"extreme prevalence ({shares[top]:.0%} {R.categories[top]!r}): kappa is "
                         "deflated despite high agreement (kappa paradox); read AC1")
        row |= {"majority_category": str(R.categories[top]), "majority_share": float(shares[top]),
                "kappa_paradox": paradox, "note": "; ".join(notes)}
        rows.append(row)
    cols = ["behaviour", "level", "n_units", "n_raters", "n_judgements"]
    for key in ("percent_agreement", "kappa", "alpha", "ac1"):
        cols += [key, f"{key}_ci_low", f"{key}_ci_high"]
        if key == "kappa":
            cols += ["kappa_method", "kappa_label"]
        if key == "alpha":
            cols += ["alpha_label"]
    cols += ["majority_category", "majority_share", "kappa_paradox", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def levels_from_codebook(codebook: Any, *, behaviours: Sequence[str] | None = None) -> dict[str, str]:
    """Level of measurement of each coded behaviour for alpha, from the study's codebook.

    Parameters
    ----------
    codebook : Codebook
        The study's codebook (:func:`svcresearch.codebook.load_codebook`).
    behaviours : list of str, optional
        Which behaviours (codebook names); default every coded behaviour
        (``codebook.behaviours``). Pass the behaviours present in the data when the mapping goes to
        :func:`reliability_table`, which refuses names it does not find.

    Returns
    -------
    dict
        ``behaviour -> level``: ``"ordinal"`` for an ordinal variable with more than two levels,
        ``"interval"`` for a count or continuous one, ``"nominal"`` otherwise (binary, nominal, and
        ordinal codes with two levels, where every level of measurement gives the same alpha).

    Notes
    -----
    Tested in ``tests/test_reliability_summary.py`` on a codebook built in the test with one
    variable of each type.
    """
    from svcresearch.codebook import Codebook

    check_type("codebook", codebook, Codebook, what="a Codebook (svcresearch.codebook.load_codebook)")
    coded = {v.name: v for v in codebook.behaviours}
    if behaviours is None:
        names = list(coded)
    else:
        if isinstance(behaviours, str):
            raise TypeError(f"`behaviours` must be a list of behaviour names, not a single string; got {behaviours!r}.")
        names = [str(b) for b in behaviours]
        unknown = [b for b in names if b not in coded]
        if unknown:
            raise ValueError(f"`behaviours` names {unknown!r}, which the codebook does not define as coded "
                             f"behaviours; it defines {list(coded)!r}.")
    out = {}
    for name in names:
        var = coded[name]
        n_levels = len(var.value_set.levels) if var.value_set is not None else 0
        if var.type == "ordinal" and n_levels > 2:
            out[name] = "ordinal"
        elif var.type in ("count", "continuous"):
            out[name] = "interval"
        else:
            out[name] = "nominal"
    return out


def reliability_summary(table: pd.DataFrame, *, labels: Mapping[str, str] | None = None) -> str:
    """Plain-language summary of a :func:`reliability_table`: which codes are reliable enough.

    Parameters
    ----------
    table : DataFrame
        The result of :func:`reliability_table` (columns ``behaviour``, ``n_units``, ``alpha``,
        ``alpha_ci_low``, ``kappa_paradox``).
    labels : mapping, optional
        Behaviour name -> readable label (e.g. ``Study.labels()``); names without a label are
        shown with spaces for underscores.

    Returns
    -------
    str
        A few sentences: how many behaviours and double-coded encounters; which reach
        Krippendorff's .800, which only .667, which fall below (their effects in the models are
        attenuated); which have an undefined alpha; which are flagged for extreme prevalence.

    Notes
    -----
    The thresholds are Krippendorff's (2004) conventions, as in :func:`interpret_alpha`. Tested in
    ``tests/test_reliability_summary.py`` against a table built by hand.
    """
    check_dataframe("table", table, columns=["behaviour", "n_units", "alpha", "alpha_ci_low", "kappa_paradox"])
    if labels is not None:
        check_type("labels", labels, Mapping, what="a mapping from behaviour to label")
    labels = labels or {}
    if table.empty:
        return "No behaviour was coded by two coders on the same encounters, so agreement cannot be summarised."

    def _names(mask) -> str:
        shown = [str(labels.get(b, str(b).replace("_", " "))) for b in table.loc[mask, "behaviour"]]
        return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]

    alpha = pd.to_numeric(table["alpha"], errors="coerce")
    n = len(table)
    units = int(pd.to_numeric(table["n_units"], errors="coerce").max())
    text = [f"Two or more coders judged {n} behaviour{'s' if n != 1 else ''} on up to {units:,} shared "
            f"encounters."]
    groups = [(alpha >= 0.800, "reached Krippendorff's α ≥ .800 (reliable)"),
              ((alpha >= 0.667) & (alpha < 0.800), "reached only .667 ≤ α < .800 (tentative conclusions only)"),
              (alpha < 0.667, "fell below α = .667: their effects in the later models are attenuated "
                              "towards zero, and a null result for them is weak evidence")]
    for mask, what in groups:
        if mask.any():
            k = int(mask.sum())
            text.append(f"{_names(mask)} {what}." if k == 1 else f"{k} behaviours ({_names(mask)}) {what}.")
    undefined = alpha.isna()
    if undefined.any():
        text.append(f"α is undefined for {_names(undefined)} (a single category observed or no encounter coded twice).")
    low_bound = pd.to_numeric(table["alpha_ci_low"], errors="coerce")
    shaky = (alpha >= 0.800) & (low_bound < 0.667)
    if shaky.any():
        text.append(f"For {_names(shaky)} the interval's lower bound is below .667, so the sample cannot rule out "
                    f"poor agreement.")
    paradox = table["kappa_paradox"].fillna(False).astype(bool)
    if paradox.any():
        text.append(f"{_names(paradox)}: one category dominates and κ is deflated despite high agreement; "
                    f"read AC1 there.")
    return " ".join(text)


# ----------------------------------------------------------------------------------------------
# Helpers for figures and simulation
# ----------------------------------------------------------------------------------------------
def confusion_table(data: pd.DataFrame, *, unit: str, rater: str, value: str,
                    raters: Sequence | None = None, categories: Sequence | None = None) -> pd.DataFrame:
    """Cross-tabulation of two raters' judgements on the units both rated.

    Parameters
    ----------
    raters : pair, optional
        Which two raters (rows, columns); default the two raters in sorted order (exactly two
        must exist then).

    Returns
    -------
    DataFrame
        Counts; index = first rater's categories, columns = second rater's.
    """
    R = _prepare(data, unit=unit, rater=rater, value=value, categories=categories)
    if raters is None:
        if len(R.raters) != 2:
            raise ValueError(f"`raters` must name two raters when the data have {len(R.raters)}; "
                             f"choose two of {list(R.raters)[:6]!r}.")
        pair = list(R.raters)
    else:
        check_type("raters", raters, (list, tuple), what="a pair of rater labels")
        pair = list(raters)
        if len(pair) != 2 or any(p not in R.raters for p in pair):
            raise ValueError(f"`raters` must be two of {list(R.raters)!r}; got {raters!r}.")
    codes = [R.raters.get_loc(p) for p in pair]
    q = R.q
    first = np.full(R.n_units, -1)
    second = np.full(R.n_units, -1)
    sel = R.rater_codes == codes[0]
    first[R.unit_codes[sel]] = R.cat_codes[sel]
    sel = R.rater_codes == codes[1]
    second[R.unit_codes[sel]] = R.cat_codes[sel]
    both = (first >= 0) & (second >= 0)
    table = np.bincount(first[both] * q + second[both], minlength=q * q).reshape(q, q)
    return pd.DataFrame(table, index=pd.Index(R.categories, name=str(pair[0])),
                        columns=pd.Index(R.categories, name=str(pair[1])))


def simulate_ratings(n_units: int, *, n_raters: int = 2, prevalence: Sequence[float] = (0.5, 0.5),
                     accuracy: float = 0.8, missing: float = 0.0, seed: Any = DEFAULT_SEED) -> pd.DataFrame:
    """Synthetic long-format judgements for benchmarks, tests and notebook development.

    Each unit has a true category drawn from ``prevalence``; each rater reports it with probability
    ``accuracy`` and otherwise a category drawn from ``prevalence``; each judgement is missing with
    probability ``missing``.

    Returns
    -------
    DataFrame
        Columns ``unit`` (``u000001``...), ``rater`` (``r1``...), ``value`` (int category 0..q-1;
        Int64 with NA when ``missing`` > 0).
    """
    check_number("n_units", n_units, low=1, integer=True)
    check_number("n_raters", n_raters, low=1, integer=True)
    check_number("accuracy", accuracy, low=0, high=1)
    check_number("missing", missing, low=0, high=1)
    p = np.asarray(prevalence, dtype=float)
    if p.ndim != 1 or p.size < 1 or (p < 0).any() or not np.isclose(p.sum(), 1):
        raise ValueError(f"`prevalence` must be non-negative shares summing to 1; got {prevalence!r}.")
    rng = np.random.default_rng(seed)
    q = p.size
    truth = rng.choice(q, size=n_units, p=p)
    correct = rng.random((n_units, n_raters)) < accuracy
    noise = rng.choice(q, size=(n_units, n_raters), p=p)
    vals = np.where(correct, truth[:, None], noise)
    width = max(6, len(str(n_units)))
    out = pd.DataFrame({
        "unit": np.repeat([f"u{i:0{width}d}" for i in range(1, n_units + 1)], n_raters),
        "rater": np.tile([f"r{j}" for j in range(1, n_raters + 1)], n_units),
        "value": vals.ravel(),
    })
    if missing > 0:
        out["value"] = out["value"].astype("Int64").mask(rng.random(len(out)) < missing)
    return out
