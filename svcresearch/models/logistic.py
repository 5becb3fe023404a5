"""Logistic regression for yes/no outcomes under the package's tidy result contract.

statsmodels does the fitting (GLM, and GEE for the population-averaged model); this module adds
formula bookkeeping, cluster-robust standard errors by a named column (``cluster="employee"``)
with the same small-sample factor as R's ``sandwich::vcovCL`` (G / (G - 1)), and checks.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .._validation import ColumnTypeError, check_confidence, check_option, check_type
from ._formula import build_design, check_full_rank, partial_sd, split_formula, standardize
from ._results import ModelResult, tidy_params

METHODS = ("glm", "gee")


class LogisticResult(ModelResult):
    """Result of :func:`fit_logistic`; ``statistic`` is the Wald z (estimate / SE)."""

    kind = "logistic"


def _binary_outcome(y: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(y.dtype):
        return y.to_numpy(dtype=float)
    if pd.api.types.is_numeric_dtype(y.dtype):
        v = y.to_numpy(dtype=float)
        if np.isin(v, (0.0, 1.0)).all():
            return v
    raise ColumnTypeError(f"Outcome {name!r} must be boolean or coded 0/1 for fit_logistic; got dtype "
                          f"{y.dtype} with values {list(pd.unique(y))[:5]}.")


def fit_logistic(data: pd.DataFrame, formula: str, *, cluster: str | None = None,
                 groups: str | None = None, method: str = "glm", missing: str = "drop",
                 confidence: float = 0.95) -> LogisticResult:
    """Logistic regression (``glm(..., family = binomial)``), optionally clustered.

    Parameters
    ----------
    data : DataFrame
    formula : str
        ``"outcome ~ predictors"``; the outcome is boolean or 0/1.
    cluster : str, optional
        Column for cluster-robust (sandwich) standard errors with ``method="glm"``
        (e.g. ``"employee"``); estimates are the ordinary ML estimates.
    groups : str, optional
        Cluster column for ``method="gee"`` (falls back to ``cluster`` when omitted).
    method : {"glm", "gee"}
        ``"glm"``: maximum likelihood. ``"gee"``: generalised estimating equations with an
        exchangeable working correlation and robust SEs (population-averaged effects).
    missing : {"drop", "raise"}
    confidence : float
        Coverage of the Wald intervals ``ci_low``/``ci_high``, strictly between 0 and 1.

    Returns
    -------
    LogisticResult
        Tidy ``.params`` (log-odds scale), ``.vcov``, ``.loglik`` (NaN for GEE, which is not a
        likelihood method), ``.nobs``, ``.aic``, ``.converged``; for GEE the estimated
        exchangeable correlation is in ``.working_correlation``.

    Raises
    ------
    ColumnTypeError
        (a ``TypeError`` that is also a ``ValueError``) naming the column: a cell holding a
        list, dict, set or tuple; numbers stored as text in a predictor (``"3"``, ``"4.5"``:
        convert with ``pd.to_numeric``, or make them a ``pd.Categorical`` if they are codes);
        a column mixing numbers and text; dates, durations or complex numbers;
        an outcome neither boolean nor coded 0/1.
    InputError
        (a ``ValueError``) naming the column and the first row (index label) holding
        ``inf``/``-inf``; missing values (NaN/NA, nullable dtypes included) are dropped and
        counted instead.
    ValueError
        Separation (an estimate or its standard error absurd per standard deviation of the
        predictor net of the others); a constant outcome; a rank-deficient design.

    Notes
    -----
    Estimation runs on centred, scaled and decorrelated predictors; estimates and (clustered,
    GEE-robust) covariances are mapped back exactly, so badly scaled predictors (epoch seconds,
    x 1e6) give the same fit as well-scaled ones (tests/test_models_bad_inputs.py).

    Validated on a simulated 2,000-row service data set against R 4.2.2: ``glm`` (estimates,
    SEs, logLik to 1e-4), ``sandwich::vcovCL(fit, cluster = ~employee)`` (its default HC0 with
    the G/(G-1) adjustment) for cluster-robust SEs, and ``geepack::geeglm(...,
    corstr = "exchangeable")`` for GEE (tests/test_models_mixed.py).
    """
    check_option("method", method, METHODS)
    check_confidence(confidence)
    for name, val in (("cluster", cluster), ("groups", groups)):
        if val is not None:
            check_type(name, val, str, what="a column name")
    clus = groups if (method == "gee" and groups is not None) else cluster
    if method == "gee" and clus is None:
        raise ValueError("method='gee' needs the cluster column: pass groups='employee' (or cluster=).")
    if method == "glm" and groups is not None and cluster is None:
        raise ValueError("`groups` is used by method='gee'; for cluster-robust SEs with "
                         "method='glm' pass cluster=<column>.")
    outcome, _ = split_formula(formula)
    design = build_design(data, formula, groups=clus, missing=missing, intercept=True)
    y = _binary_outcome(design.y, outcome)
    if y.min() == y.max():
        raise ValueError(f"Outcome {outcome!r} takes a single value in the used rows.")
    X = design.X.to_numpy(dtype=float)
    terms = list(design.X.columns)
    # fit on centred and scaled predictors, an exact reparametrisation mapped back below (a
    # predictor in epoch seconds or x 1e6 would otherwise look separated or rank deficient)
    icpt = terms.index("Intercept") if "Intercept" in terms else None
    scaling = standardize(X, centre=icpt is not None)
    Xd = scaling.apply(X)
    check_full_rank(design.X, standardized=Xd)
    scaling, Xs = scaling.whitened(Xd)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "glm":
            model = sm.GLM(y, Xs, family=sm.families.Binomial())
            if clus is None:
                res = model.fit()
            else:
                # use_correction=False + df_correction=False leaves the plain cluster sandwich;
                # the G/(G-1) factor applied below is vcovCL's default adjustment
                res = model.fit(cov_type="cluster",
                                cov_kwds={"groups": design.groups, "use_correction": False},
                                use_t=False)
            loglik, converged = float(res.llf), bool(res.converged)
        else:
            model = sm.GEE(y, Xs, groups=design.groups, family=sm.families.Binomial(),
                           cov_struct=sm.cov_struct.Exchangeable())
            res = model.fit(maxiter=200)
            loglik, converged = np.nan, bool(getattr(res, "converged", True))
    notes += sorted({str(wn.message).splitlines()[0] for wn in caught})
    vc = np.asarray(res.cov_params())
    if method == "glm" and clus is not None:
        G = len(design.group_labels)
        vc = vc * G / (G - 1)
    # separation is judged per column on the centred and scaled (not decorrelated) columns
    A = np.eye(X.shape[1]) if scaling.A is None else scaling.A
    est_std = A @ np.asarray(res.params)
    se_std = np.sqrt(np.clip(np.diag(A @ vc @ A.T), 0, None))
    # separation shows as absurd effects per standard deviation of a predictor net of the others
    # (scale-free, and collinear columns such as b and t:b are not mistaken for it)
    slopes = np.ones(len(est_std), dtype=bool)
    if icpt is not None:
        slopes[icpt] = False
    psd = partial_sd(Xd[:, slopes])
    if (np.any(np.abs(est_std[slopes]) * psd > 8) or np.any(se_std[slopes] * psd > 50)
            or np.any(~np.isfinite(se_std)) or (icpt is not None and se_std[icpt] > 1e3)):
        raise ValueError("Complete or quasi-complete separation: some estimates are huge or have "
                         "huge standard errors (a predictor perfectly predicts the outcome); "
                         "check the cross-tabulations and drop or merge that predictor.")
    T = scaling.jacobian(intercept=icpt)
    est = T @ np.asarray(res.params)
    vc = T @ vc @ T.T
    out = LogisticResult(
        params=tidy_params(terms, est, vc, confidence=confidence),
        vcov=pd.DataFrame(vc, index=terms, columns=terms), loglik=loglik, nobs=design.n_used,
        n_dropped=design.n_dropped, n_params=len(est), converged=converged, formula=formula,
        link="logit", method=method if clus is None else f"{method} (clustered by {clus!r})",
        n_groups=None if clus is None else len(design.group_labels), notes=notes)
    out.working_correlation = (float(res.model.cov_struct.dep_params) if method == "gee" else None)
    return out
