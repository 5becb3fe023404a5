"""Formula handling shared by the model fitters: columns, missing values, design matrices.

The design matrix is built with formulaic (patsy-style formulas: ``C(x)``, ``a*b``, ``a:b``,
``np.log(x)``, pandas categoricals and booleans). We do our own bookkeeping around it because
the fitters need things formulaic does not do for us: an explicit count of rows dropped for
missing values (formulaic drops them silently), conversion of pandas' nullable dtypes, and
collapsing identical rows into frequency weights before the design is built (an exact
rewrite of a likelihood that only depends on the distinct covariate patterns, and the main
reason ``fit_ordinal`` is fast on millions of encounters).

Bad input is refused here, once for every fitter, with one line naming the column: cells that
are lists/dicts/sets/tuples, numbers stored as text in a predictor, text mixed with numbers,
dates/durations/complex numbers (``ColumnTypeError``), +-inf anywhere in a used column (with
the first row; NaN/NA rows are dropped and counted instead), a duplicated column name, and a
formula transformation that yields +-inf/NaN. ``Scaling``/``standardize`` give the fitters a
well-conditioned design and the exact map back to the user's columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from .._validation import (check_dataframe, check_finite_column, check_model_column, check_option,
                           check_type)

MISSING_OPTIONS = ("drop", "raise")


@dataclass
class Design:
    """A model's data after missing-value handling (and optional collapsing)."""

    y: pd.Series                 # outcome, one entry per (collapsed) row
    X: pd.DataFrame              # design matrix without intercept unless asked for
    weights: np.ndarray          # frequency weights (all ones when not collapsed)
    groups: np.ndarray | None    # integer group codes per (collapsed) row
    group_labels: pd.Index | None
    model_spec: Any              # formulaic ModelSpec, to build newdata designs
    n_used: int                  # rows in the model (sum of weights)
    n_dropped: int               # rows dropped for missing values
    collapsed: bool
    data: pd.DataFrame           # the used (complete-case) columns of the uncollapsed rows


def split_formula(formula: Any) -> tuple[str, str]:
    """Return ``(outcome column, right-hand side)`` of ``"y ~ x1 + x2"``."""
    check_type("formula", formula, str, what="a string like 'recommend ~ uses_name + C(warmth)'")
    if formula.count("~") != 1:
        raise ValueError(
            f"`formula` must have exactly one '~' separating outcome and predictors, "
            f"e.g. 'recommend ~ uses_name + C(warmth)'; got {formula!r}."
        )
    lhs, rhs = (part.strip() for part in formula.split("~"))
    if not lhs or not rhs:
        raise ValueError(f"`formula` needs an outcome left of '~' and predictors right of it; got {formula!r}.")
    return lhs, rhs


def _rhs_variables(rhs: str, data: pd.DataFrame) -> list[str]:
    try:
        variables = Formula(rhs).required_variables
    except Exception as exc:  # formulaic's parse errors are not ValueErrors consistently
        raise ValueError(f"`formula` right-hand side {rhs!r} could not be parsed: {exc}") from exc
    names = sorted(str(v) for v in variables)
    unknown = [v for v in names if v not in data.columns and v not in ("np", "numpy")]
    if unknown:
        raise ValueError(
            f"`formula` uses column(s) {', '.join(map(repr, unknown))} that are not in `data`; "
            f"it has {', '.join(map(repr, data.columns))}."
        )
    return [v for v in names if v in data.columns]


def _plain_dtypes(frame: pd.DataFrame, keep_levels: tuple[str, ...] = ()) -> pd.DataFrame:
    """Nullable pandas dtypes -> numpy dtypes (no NA left at this point); drop unused levels.

    Unused levels of categorical predictors would give all-zero dummy columns; the outcome's
    (``keep_levels``) are kept so the fitter can report them.
    """
    out = {}
    for col in frame.columns:
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) and col in keep_levels:
            out[col] = s
        elif isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.cat.remove_unused_categories()
        elif isinstance(s.dtype, pd.BooleanDtype):
            out[col] = s.astype(bool)
        elif isinstance(s.dtype, (pd.Int64Dtype, pd.Int32Dtype, pd.Int16Dtype, pd.Int8Dtype,
                                  pd.UInt64Dtype, pd.UInt32Dtype, pd.UInt16Dtype, pd.UInt8Dtype)):
            out[col] = s.astype(np.int64)
        elif isinstance(s.dtype, (pd.Float64Dtype, pd.Float32Dtype)):
            out[col] = s.astype(np.float64)
        else:
            out[col] = s
    return pd.DataFrame(out, index=frame.index)


def _row_codes(frame: pd.DataFrame) -> tuple[np.ndarray, int] | None:
    """Integer code per distinct row of ``frame`` (hash-based, O(n)); None if too many."""
    key = np.zeros(len(frame), dtype=np.int64)
    radix = 1
    for col in frame.columns:
        codes, uniques = pd.factorize(frame[col], sort=False)
        k = max(len(uniques), 1)
        if radix * k >= 2**62:
            # mixed-radix key would overflow: re-factorize what we have so far
            key, uniq = pd.factorize(key, sort=False)
            key = key.astype(np.int64)
            radix = len(uniq)
            if radix * k >= 2**62:
                return None
        key += codes.astype(np.int64) * radix
        radix *= k
    codes, uniques = pd.factorize(key, sort=False)
    return codes, len(uniques)


def build_design(data: Any, formula: str, *, groups: str | None = None, missing: str = "drop",
                 intercept: bool = False, collapse: bool = False,
                 max_collapsed: int = 200_000) -> Design:
    """Complete cases, optional collapsing to frequency weights, and the design matrix.

    Parameters
    ----------
    data : DataFrame
    formula : str
        ``"outcome ~ predictors"``.
    groups : str, optional
        Grouping column (kept, and part of the collapsing key).
    missing : {"drop", "raise"}
        Rows with a missing value in any used column are dropped (and counted) or raise.
    intercept : bool
        Keep formulaic's ``Intercept`` column (the design is always built with one so that
        categorical predictors get reduced-rank coding).
    collapse : bool
        Merge identical rows (outcome, predictors, group) into one row with a frequency
        weight when there are at most ``max_collapsed`` distinct rows and fewer than half
        the number of rows; otherwise keep the full matrix.
    """
    check_dataframe("data", data)
    check_option("missing", missing, MISSING_OPTIONS)
    outcome, rhs = split_formula(formula)
    if outcome not in data.columns:
        raise ValueError(
            f"`formula` outcome {outcome!r} is not a column of `data` (write the column name "
            f"left of '~'); it has {', '.join(map(repr, data.columns))}."
        )
    used = [outcome] + [v for v in _rhs_variables(rhs, data) if v != outcome]
    if groups is not None:
        check_type("groups", groups, str, what="a column name")
        if groups not in data.columns:
            raise ValueError(f"`groups` column {groups!r} is not in `data`; it has "
                             f"{', '.join(map(repr, data.columns))}.")
        if groups not in used:
            used.append(groups)
    names = pd.Index(data.columns)
    twice = [c for c in used if (names == c).sum() > 1]
    if twice:
        raise ValueError(f"`data` has more than one column named {twice[0]!r}; rename or drop the "
                         f"duplicates so the formula names one column.")
    frame = _checked_columns(data[used], outcome=outcome, groups=groups)
    na = frame.isna()
    n_na = int(na.any(axis=1).sum())
    if n_na:
        per_col = na.sum()
        detail = ", ".join(f"{c!r}: {int(k)}" for c, k in per_col.items() if k)
        if missing == "raise":
            raise ValueError(
                f"{n_na} of {len(frame)} rows have missing values in the model's columns "
                f"({detail}); drop or impute them, or pass missing='drop'."
            )
        frame = frame.loc[~na.any(axis=1).to_numpy()]
    if len(frame) == 0:
        raise ValueError(f"No complete rows left for formula {formula!r} "
                         f"({n_na} rows had missing values).")
    frame = _plain_dtypes(frame, keep_levels=(outcome,))

    weights = None
    collapsed = False
    base = frame
    if collapse:
        coded = _row_codes(frame)
        if coded is not None:
            codes, n_unique = coded
            if n_unique <= max_collapsed and n_unique < 0.5 * len(frame):
                weights = np.bincount(codes, minlength=n_unique).astype(float)
                # pd.factorize numbers codes in order of first appearance, so a row is the
                # first of its pattern exactly where the running maximum of the codes grows
                run = np.maximum.accumulate(codes)
                first = np.flatnonzero(np.r_[True, run[1:] > run[:-1]])
                base = frame.iloc[first]
                collapsed = True

    mm = _model_matrix(rhs, base)
    if collapsed and mm.model_spec.transform_state:
        # stateful transforms (center(), scale(), splines) learn from the rows they see;
        # the distinct rows would give them different states, so use the full data
        mm = _model_matrix(rhs, frame)
        base, weights, collapsed = frame, None, False
    X = pd.DataFrame(np.asarray(mm, dtype=float), columns=list(mm.columns), index=base.index)
    _check_finite_design(X)
    if not intercept and "Intercept" in X.columns:
        X = X.drop(columns="Intercept")
    if weights is None:
        weights = np.ones(len(base))
    if groups is not None:
        # Number groups in order of first appearance, not by label: pseudonymised labels change
        # with the key, and the summation order must not (identical numbers across clones).
        gcodes, glabels = pd.factorize(base[groups], sort=False)
        gcodes = gcodes.astype(np.int64)
        glabels = pd.Index(glabels)
    else:
        gcodes, glabels = None, None
    return Design(y=base[outcome], X=X, weights=weights, groups=gcodes, group_labels=glabels,
                  model_spec=mm.model_spec, n_used=len(frame), n_dropped=n_na,
                  collapsed=collapsed, data=frame)


def _checked_columns(frame: pd.DataFrame, *, outcome: str, groups: str | None) -> pd.DataFrame:
    """Cell checks of every used column (see ``check_model_column``) and no +-inf anywhere."""
    converted = {}
    for col in frame.columns:
        role = "outcome" if col == outcome else "groups" if col == groups else "predictor"
        values = check_model_column("data", col, frame[col], role=role)
        if role != "groups":
            check_finite_column("data", col, values)
        if values is not frame[col]:
            converted[col] = values
    if converted:
        frame = frame.assign(**converted) if all(isinstance(c, str) for c in converted) else \
            pd.DataFrame({c: converted.get(c, frame[c]) for c in frame.columns}, index=frame.index)
    return frame


def _check_finite_design(X: pd.DataFrame) -> None:
    """Transformations in the formula (``np.log(x)`` at 0, ``1 / x``) can produce +-inf or NaN."""
    values = X.to_numpy()
    finite = np.isfinite(values)
    if finite.all():
        return
    row, col = np.argwhere(~finite)[0]
    raise ValueError(
        f"Design column {X.columns[col]!r} is not finite ({values[row, col]:g}) at row "
        f"{X.index[row]!r} (index label): a transformation in the formula gives a value a model "
        f"cannot use; change the transformation or drop those rows."
    )


# ------------------------------------------------------------------------------------------------
# internal centring and scaling of the design (an exact affine reparametrisation)
# ------------------------------------------------------------------------------------------------
@dataclass
class Scaling:
    """An affine map of the design the fitters estimate on: ``X_fit = ((X - center) / scale) @ A``.

    ``center``/``scale`` make every non-constant column mean 0 and standard deviation 1, so
    that predictors in epoch seconds or multiplied by 1e6 are numerically as easy as any other;
    ``A`` (optional, see :meth:`whitened`) then decorrelates the columns, so that collinear
    columns such as ``b`` and ``t:b`` for a time stamp ``t`` far from 0 are too. The fitters
    map the estimates back with :meth:`jacobian`: the map is linear, so estimates *and*
    covariances transform exactly (``params = T params_fit``, ``V = T V_fit T'``) and the
    maximum-likelihood fit is the same model. Columns are centred only when the model has an
    intercept or thresholds to absorb the shift; constant columns (the intercept) are left alone.
    """

    center: np.ndarray
    scale: np.ndarray
    A: np.ndarray | None = None
    varying: np.ndarray | None = None   # non-constant columns (from standardize)
    corr: np.ndarray | None = None      # their correlation matrix (from standardize, if centred)

    def apply(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.center) / self.scale
        return Z if self.A is None else Z @ self.A

    @property
    def coef_map(self) -> np.ndarray:
        """``M`` with ``beta = M @ beta_fit`` for the design-column coefficients."""
        M = np.diag(1.0 / self.scale)
        return M if self.A is None else M @ self.A

    def to_fit(self, beta: np.ndarray) -> np.ndarray:
        """Coefficients on the fitting scale, ``M^-1 beta`` (for start values)."""
        return np.linalg.solve(self.coef_map, beta)

    def jacobian(self, *, n_thresholds: int = 0, intercept: int | None = None,
                 n_extra: int = 0) -> np.ndarray:
        """Matrix ``T`` with ``params = T @ params_fit``.

        Parameters are laid out as ``[thresholds (n_thresholds), one per design column,
        extra (n_extra, e.g. log sigma, unchanged)]``. With ``beta = M beta_fit``: thresholds
        enter as ``theta - x'beta``, so ``theta = theta_fit + center'M beta_fit``; an intercept
        column at index ``intercept`` enters as ``b0 + x'beta``, so
        ``b0 = b0_fit - center'M beta_fit`` (the intercept's own centre is 0).
        """
        k = len(self.scale)
        P = n_thresholds + k + n_extra
        T = np.eye(P)
        M = self.coef_map
        shift = self.center @ M
        cols = slice(n_thresholds, n_thresholds + k)
        T[cols, cols] = M
        if n_thresholds:
            T[:n_thresholds, cols] = shift[None, :]
        if intercept is not None:
            row = -shift
            row[intercept] += 1.0
            T[n_thresholds + intercept, cols] = row
        return T

    def whitened(self, Xd: np.ndarray, *, weights: np.ndarray | None = None,
                 max_condition: float = 1e6) -> tuple[Scaling, np.ndarray]:
        """Add a decorrelating ``A`` to a diagonal scaling when the columns are nearly collinear.

        ``Xd = self.apply(X)`` (centred and scaled). When the condition number of the weighted
        cross-product ``C`` of the non-constant columns exceeds ``max_condition`` (e.g. ``b``
        and ``t:b`` for a time stamp ``t``), ``A`` = inverse transposed Cholesky factor of ``C``
        (identity on constant columns), so those columns of ``X_fit`` are orthonormal; otherwise
        the diagonal scaling is kept (it is already well conditioned). Returns the scaling and
        ``X_fit``. Call after the rank check: a singular ``C`` keeps the diagonal scaling.
        """
        n, k = Xd.shape
        v = np.flatnonzero(self.scale != 1.0) if self.varying is None else np.flatnonzero(self.varying)
        if len(v) < 2:
            return self, Xd
        Xv = Xd if len(v) == k else Xd[:, v]
        if self.corr is not None and self.corr.shape == (len(v), len(v)):
            C = self.corr
        elif weights is None:
            C = (Xv.T @ Xv) / n
        else:
            w = np.asarray(weights, dtype=float)
            C = (Xv.T * (w / w.sum())) @ Xv
        try:
            if np.linalg.cond(C) <= max_condition:
                return self, Xd
            L = np.linalg.cholesky(C)
            Av = np.linalg.inv(L).T
        except np.linalg.LinAlgError:
            return self, Xd
        if not np.all(np.isfinite(Av)):
            return self, Xd
        A = np.eye(k)
        A[np.ix_(v, v)] = Av
        if len(v) == k:
            X_fit = Xd @ Av
        else:
            X_fit = Xd.copy()
            X_fit[:, v] = Xv @ Av
        return Scaling(self.center, self.scale, A, self.varying, self.corr), X_fit


def standardize(X: np.ndarray, *, weights: np.ndarray | None = None, centre: bool = True) -> Scaling:
    """Centre (weighted mean) and scale (weighted standard deviation) of every column of ``X``.

    ``weights`` are frequency weights. Constant columns (the intercept) get centre 0 and scale 1.
    Columns whose sums overflow (values near the float limit) are measured on ``X / max|X|``.
    """
    n, k = X.shape
    center, scale = np.zeros(k), np.ones(k)
    if k == 0 or n == 0:
        return Scaling(center, scale)
    varying = X.max(axis=0) > X.min(axis=0)
    if not varying.any():
        return Scaling(center, scale, varying=varying)
    V = X if varying.all() else X[:, varying]

    def moments(V):
        """Means and the covariance matrix (one BLAS product; its diagonal gives the SDs)."""
        if weights is None:
            mean = V.mean(axis=0)
            D = V - mean
            cov = (D.T @ D) / n
        else:
            w = np.asarray(weights, dtype=float)
            mean = (w @ V) / w.sum()
            D = V - mean
            cov = ((D.T * w) @ D) / w.sum()
        return mean, cov

    with np.errstate(over="ignore", invalid="ignore"):
        mean, cov = moments(V)
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    corr = None
    bad = ~(np.isfinite(mean) & np.isfinite(sd) & (sd > 0))
    if bad.any():
        big = np.max(np.abs(V[:, bad]), axis=0)
        m_b, cov_b = moments(V[:, bad] / big)
        sd_b = np.sqrt(np.clip(np.diag(cov_b), 0.0, None))
        mean[bad], sd[bad] = m_b * big, np.where(sd_b > 0, sd_b * big, 1.0)
    elif centre:
        # correlation matrix of the varying columns: what ``whitened`` needs, for free
        corr = cov / np.outer(sd, sd)
    scale[varying] = sd
    if centre:
        center[varying] = mean
    return Scaling(center, scale, varying=varying, corr=corr)


def partial_sd(X: np.ndarray, *, weights: np.ndarray | None = None) -> np.ndarray:
    """Standard deviation of each column of ``X`` after regressing out the others (and a constant).

    ``|beta_j| * partial_sd_j`` is how far column j alone moves the linear predictor, whatever
    the scale of the column and however collinear it is with the others (e.g. ``b`` and
    ``t:b`` for a time stamp ``t`` far from 0): the quantity the separation checks judge.
    Falls back to the plain standard deviations when the covariance matrix is singular.
    """
    k = X.shape[1]
    if k == 0:
        return np.zeros(0)
    w = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=float)
    mean = (w @ X) / w.sum()
    Xc = X - mean
    cov = (Xc * w[:, None]).T @ Xc / w.sum()
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    try:
        prec = np.diag(np.linalg.inv(cov))
    except np.linalg.LinAlgError:
        return sd
    if not np.all(np.isfinite(prec)) or np.any(prec <= 0):
        return sd
    return np.minimum(1.0 / np.sqrt(prec), sd)


def _model_matrix(rhs: str, frame: pd.DataFrame):
    try:
        return model_matrix(rhs, frame, na_action="raise")
    except Exception as exc:
        raise ValueError(f"Could not build the design matrix for {rhs!r}: {exc}") from exc


def newdata_matrix(model_spec: Any, newdata: Any, columns: list[str]) -> np.ndarray:
    """Design matrix for ``newdata`` with the fitted model's coding, restricted to ``columns``."""
    check_dataframe("newdata", newdata)
    frame = _plain_dtypes(newdata)
    try:
        mm = model_spec.get_model_matrix(frame, na_action="raise")
    except Exception as exc:
        raise ValueError(
            f"Could not build the design matrix for `newdata` ({exc}); it needs the model's "
            f"predictor columns with values seen in the fitted data."
        ) from exc
    mm = pd.DataFrame(np.asarray(mm, dtype=float), columns=list(mm.columns))
    return mm[columns].to_numpy()


def check_full_rank(X: pd.DataFrame, weights: np.ndarray | None = None, *,
                    standardized: np.ndarray | None = None) -> None:
    """Raise a ValueError naming the aliased columns when ``X`` is rank deficient.

    ``standardized`` is ``X`` with its varying columns centred and scaled (what the fitters fit
    on, ``standardize(X).apply(X)``); passing it saves computing it again.
    """
    if X.shape[1] == 0:
        return
    Xv = X.to_numpy()
    const = np.ptp(Xv, axis=0) == 0
    if const.any() and "Intercept" not in X.columns:
        bad = [c for c, k in zip(X.columns, const) if k]
        raise ValueError(
            f"Predictor column(s) {', '.join(map(repr, bad))} take a single value in the used "
            f"rows, so their effect cannot be estimated; remove them from the formula."
        )
    # The rank of a constant column plus the centred and scaled varying columns: the same column
    # space (with an intercept, every constant column lies in the span of the first), but a
    # predictor in epoch seconds or multiplied by 1e6 no longer swamps the rank tolerance.
    varying = ~const
    if standardized is not None and "Intercept" in X.columns and X["Intercept"].eq(1.0).all():
        # the intercept is already the constant column (standardize leaves constants alone)
        rank = int(np.linalg.matrix_rank(standardized))
    else:
        Z = (standardize(Xv[:, varying]).apply(Xv[:, varying]) if standardized is None
             else standardized[:, varying])
        rank = int(np.linalg.matrix_rank(np.column_stack([np.ones(len(Xv)), Z])))
    full = X.shape[1] + (0 if "Intercept" in X.columns else 1)
    if rank < full:
        raise ValueError(
            f"The design matrix is rank deficient (rank {rank} < {full} columns): some of "
            f"{', '.join(map(repr, X.columns))} are linear combinations of the others (e.g. "
            f"an interaction whose cells are empty); simplify the formula."
        )
