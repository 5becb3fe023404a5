"""Quantities derived from a fitted model: contrasts, simple slopes, ICC, variance-component tests.

Hypotheses are rarely a single coefficient: "saying sorry beats explaining" is a difference of two
coefficients, "warmth moderates solving the issue" is a pair of simple slopes, "employees differ" is an
intraclass correlation. These functions compute them from any fitted result that exposes the
coefficients and their covariance — the results of :mod:`svcresearch.models` (``.params`` tidy
DataFrame with ``term``/``estimate`` and ``.vcov`` DataFrame) and, for convenience and testing,
statsmodels results (``.params`` Series and ``.cov_params()``).

Why our own code: statsmodels' ``t_test`` works only on its own result objects and formula names,
and nothing in Python computes the latent-scale ICC of an ordinal mixed model (R's ``clmm`` result
needs the hand formula too). Everything here is the delta method for linear combinations, which
is exact for the Wald statistics the models report.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import check_confidence, check_number, check_option, check_type
from svcresearch.models.ordinal import LINKS

#: Variance of the standard latent error of each link (logistic: pi^2/3; normal: 1).
LATENT_VARIANCE = {"logit": math.pi**2 / 3.0, "probit": 1.0}

_RESULT_COLUMNS = ["estimate", "std_error", "statistic", "p_value", "ci_low", "ci_high"]


def coefficients(result) -> tuple[pd.Series, pd.DataFrame]:
    """Return ``(estimates indexed by term, covariance DataFrame)`` of a fitted result.

    Accepts :mod:`svcresearch.models` results (tidy ``.params`` + ``.vcov``) and statsmodels
    results (``.params`` Series + ``.cov_params()``).
    """
    params = getattr(result, "params", None)
    if isinstance(params, pd.DataFrame) and {"term", "estimate"} <= set(params.columns):
        est = pd.Series(params["estimate"].to_numpy(dtype=float), index=params["term"].astype(str).tolist())
        vcov = getattr(result, "vcov", None)
        if callable(vcov):
            vcov = vcov()
    elif isinstance(params, pd.Series):
        est = params.astype(float)
        est.index = est.index.astype(str)
        vcov = result.cov_params() if hasattr(result, "cov_params") else getattr(result, "vcov", None)
    else:
        raise TypeError("`result` must be a fitted model with `.params` (tidy DataFrame with 'term' and "
                        f"'estimate', or a Series) and `.vcov`; got {type(result).__name__}.")
    if not isinstance(vcov, pd.DataFrame):
        raise TypeError(f"`result.vcov` must be a DataFrame indexed by term; got {type(vcov).__name__}.")
    vcov = vcov.copy()
    vcov.index = vcov.index.astype(str)
    vcov.columns = vcov.columns.astype(str)
    missing = [t for t in est.index if t not in vcov.index]
    if missing:
        raise ValueError(f"`result.vcov` lacks rows for term(s) {missing!r}.")
    return est, vcov.loc[est.index, est.index].astype(float)


def resolve_term(terms: Sequence[str], name: str, *, parameter: str = "term") -> str:
    """Find the coefficient called ``name`` among ``terms``.

    Exact names win; otherwise a unique treatment-coded name of a two-level variable such as
    ``solved[T.True]`` matches ``solved``; an interaction ``a:b`` also matches ``b:a``.
    """
    check_type(parameter, name, str)
    terms = [str(t) for t in terms]
    if name in terms:
        return name
    if ":" in name:
        parts = [resolve_term([p for t in terms for p in t.split(":")], part, parameter=parameter)
                 for part in name.split(":")]
        wanted = sorted(parts)
        hits = [t for t in terms if sorted(t.split(":")) == wanted]
        if len(hits) == 1:
            return hits[0]
    else:
        hits = sorted({t for t in terms if ":" not in t and t.split("[", 1)[0] == name
                       and t.endswith(("[T.True]", "[T.1]", "[True]", "[1]", "[T.yes]"))})
        if len(hits) == 1:
            return hits[0]
    raise ValueError(f"`{parameter}` {name!r} is not a term of the model; its terms are "
                     f"{', '.join(map(repr, terms))}.")


def _wald_row(estimate: float, variance: float, confidence: float) -> dict:
    se = math.sqrt(variance) if variance > 0 else float("nan")
    z = estimate / se if se > 0 else float("nan")
    p = 2.0 * stats.norm.sf(abs(z)) if np.isfinite(z) else float("nan")
    q = stats.norm.isf((1.0 - confidence) / 2.0)
    return {"estimate": estimate, "std_error": se, "statistic": z, "p_value": p,
            "ci_low": estimate - q * se, "ci_high": estimate + q * se}


def contrast(result, weights: Mapping[str, float], *, label: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Wald test of a linear combination of coefficients, e.g. ``{"apologised": 1, "explained": -1}``.

    Parameters
    ----------
    result : fitted model
    weights : dict term -> weight
    label : str, optional
        Name of the contrast in the ``contrast`` column (default built from the weights).
    confidence : float
        Coverage of the interval(s), strictly between 0 and 1.

    Returns
    -------
    pandas.DataFrame
        One row: ``contrast, estimate, std_error, statistic, p_value, ci_low, ci_high`` (normal
        reference, as the models' Wald statistics).

    Notes
    -----
    :math:`\\hat\\theta = w^T\\hat\\beta`, :math:`SE = \\sqrt{w^T V w}`. Validated against
    ``statsmodels`` ``t_test`` (with ``use_t=False``) and against refitting with recoded predictors.
    """
    check_type("weights", weights, Mapping, what="a dict of term -> weight")
    if not weights:
        raise ValueError("`weights` must name at least one term.")
    check_confidence(confidence)
    est, vcov = coefficients(result)
    w = pd.Series(0.0, index=est.index)
    parts = []
    for name, weight in weights.items():
        check_number(f"weights[{name!r}]", weight)
        term = resolve_term(est.index, name, parameter="weights")
        w[term] += float(weight)
        parts.append(f"{weight:+g}*{term}")
    value = float(w @ est)
    variance = float(w @ vcov.to_numpy() @ w)
    row = {"contrast": label or " ".join(parts)} | _wald_row(value, variance, confidence)
    return pd.DataFrame([row])


def simple_slopes(result, *, focal: str, moderator: str, at: Sequence[float] = (0.0, 1.0),
                  confidence: float = 0.95) -> pd.DataFrame:
    """Effect of ``focal`` at chosen values of ``moderator`` in a model with their interaction.

    Parameters
    ----------
    result : fitted model
        Must contain the terms ``focal``, ``moderator`` and ``focal:moderator`` (either order).
    focal, moderator : str
        Term names (``"solved"`` also finds ``"solved[T.True]"``).
    at : sequence of float
        Moderator values (0/1 for a binary moderator; e.g. mean ± SD for a continuous one, on the
        scale the moderator entered the model).
    confidence : float
        Coverage of the interval(s), strictly between 0 and 1.

    Returns
    -------
    pandas.DataFrame
        One row per value: ``focal, moderator, moderator_value, estimate, std_error, statistic,
        p_value, ci_low, ci_high``; the estimate is on the model's scale (log-odds for ordinal and
        logistic models).

    Notes
    -----
    Slope :math:`\\beta_f + m\\,\\beta_{f\\times m}` with delta-method variance
    :math:`V_{ff} + 2mV_{f,fm} + m^2V_{fm,fm}` (Aiken & West 1991). Validated by refitting with the
    moderator recoded (the slope at 0 equals the main effect; at 1 it equals the main effect of the
    model refitted with the moderator reversed, standard error included) for OLS and ordinal
    models.
    """
    check_type("focal", focal, str)
    check_type("moderator", moderator, str)
    check_confidence(confidence)
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        at = [at]
    values = list(at)
    if not values:
        raise ValueError("`at` must hold at least one moderator value.")
    for v in values:
        check_number("at", v)
    est, vcov = coefficients(result)
    f = resolve_term(est.index, focal, parameter="focal")
    m = resolve_term(est.index, moderator, parameter="moderator")
    fm = resolve_term(est.index, f"{f}:{m}", parameter="focal:moderator")
    rows = []
    for value in values:
        w = pd.Series(0.0, index=est.index)
        w[f] = 1.0
        w[fm] = float(value)
        row = {"focal": focal, "moderator": moderator, "moderator_value": float(value)}
        row |= _wald_row(float(w @ est), float(w @ vcov.to_numpy() @ w), confidence)
        rows.append(row)
    return pd.DataFrame(rows)


def icc(result, *, group: str | None = None, link: str | None = None) -> float:
    """Intraclass correlation of a random intercept from a fitted mixed model.

    Parameters
    ----------
    result : fitted mixed model
        With ``.variance_components`` (``group, variance, std``). A linear model lists ``Residual``;
        an ordinal or logistic model has none and uses the latent-scale residual of its link.
    group : str, optional
        Which random intercept (default: the only non-residual one).
    link : {"logit", "probit"}, optional
        Overrides ``result.link`` for a latent-scale ICC.

    Returns
    -------
    float
        :math:`\\sigma^2_u / (\\sum\\sigma^2_{\\text{groups}} + \\sigma^2_e)` with
        :math:`\\sigma^2_e` = residual variance (linear), :math:`\\pi^2/3` (logit) or 1 (probit).

    Notes
    -----
    Latent-variable ICC of Snijders & Bosker (2012, §17.3), the convention used for ``clmm`` and
    ``glmer`` fits. Validated against the formula applied to R ``ordinal::clmm`` and ``lme4::lmer``
    variance estimates, and against the ANOVA ICC of balanced simulated data.
    """
    check_option("link", link, (None, *LINKS))
    vc = getattr(result, "variance_components", None)
    if not isinstance(vc, pd.DataFrame) or not {"group", "variance"} <= set(vc.columns):
        raise TypeError("`result` must be a mixed model with `.variance_components` "
                        "(DataFrame with 'group' and 'variance'); fit it with `groups=`.")
    groups = vc.loc[vc["group"].astype(str) != "Residual"]
    if groups.empty:
        raise ValueError("`result.variance_components` has no random-effect group.")
    names = groups["group"].astype(str).tolist()
    if group is None:
        if len(names) > 1:
            raise ValueError(f"`group` must be given when the model has several: {names!r}.")
        group = names[0]
    check_option("group", group, names)
    residual = vc.loc[vc["group"].astype(str) == "Residual", "variance"]
    if len(residual):
        sigma_e = float(residual.iloc[0])
    else:
        link = link if link is not None else getattr(result, "link", None)
        check_option("link", link, LINKS)
        sigma_e = LATENT_VARIANCE[link]
    sigma_u = float(groups.loc[groups["group"].astype(str) == group, "variance"].iloc[0])
    return sigma_u / (float(groups["variance"].sum()) + sigma_e)


def icc_interval(result, *, link: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Latent-scale ICC of a single random intercept with a Wald interval on the log-SD scale.

    Parameters
    ----------
    result : fitted ordinal mixed model
        ``.variance_components`` with one group and ``log_std_error`` (the standard error of
        :math:`\\log\\sigma_u`, as :func:`svcresearch.models.fit_ordinal` reports it).
    link : {"logit", "probit"}, optional
        Overrides ``result.link``.
    confidence : float
        Coverage of the interval(s), strictly between 0 and 1.

    Returns
    -------
    pandas.DataFrame
        One row: ``estimate, std_error, ci_low, ci_high``: the ICC, its delta-method standard
        error, and the interval obtained by mapping :math:`\\log\\hat\\sigma_u \\pm z\\,SE` through the ICC
        (monotone in :math:`\\sigma_u`, so the interval stays inside (0, 1)).

    Notes
    -----
    The standard error of :math:`\\log\\sigma_u` matches R ``sqrt(diag(vcov(clmm(...))))["ST1"]``
    (tests/test_models_ordinal.py); the mapping is checked against the ICC formula at the bounds.
    """
    check_confidence(confidence)
    check_option("link", link, (None, *LINKS))
    estimate = icc(result, link=link)
    vc = result.variance_components
    groups = vc.loc[vc["group"].astype(str) != "Residual"]
    if len(groups) != 1 or "log_std_error" not in groups.columns:
        raise ValueError("`result` must have exactly one random intercept with a `log_std_error` "
                         "(an ordinal mixed model from fit_ordinal(..., groups=...)).")
    link = link if link is not None else getattr(result, "link", None)
    check_option("link", link, LINKS)
    sigma_e = LATENT_VARIANCE[link]
    log_sd, log_se = math.log(float(groups["std"].iloc[0])), float(groups["log_std_error"].iloc[0])
    z = stats.norm.ppf(0.5 + confidence / 2)

    def at(log_sigma: float) -> float:
        variance = math.exp(2 * log_sigma)
        return variance / (variance + sigma_e)

    variance = math.exp(2 * log_sd)
    # d ICC / d log(sigma) = 2 sigma^2 sigma_e / (sigma^2 + sigma_e)^2
    derivative = 2 * variance * sigma_e / (variance + sigma_e) ** 2
    return pd.DataFrame({"estimate": [estimate], "std_error": [derivative * log_se],
                         "ci_low": [at(log_sd - z * log_se)], "ci_high": [at(log_sd + z * log_se)]})


def lr_test_variance_component(full, reduced, *, df: int = 1) -> pd.DataFrame:
    """Likelihood-ratio test that one random-intercept variance is zero.

    Parameters
    ----------
    full, reduced : fitted models with ``.loglik``
        The model with and without the random intercept (same data and fixed effects; linear
        mixed models must be fitted by ML, ``reml=False``, or both by REML with equal fixed effects).
    df : int
        Variance parameters removed (1 for one random intercept).

    Returns
    -------
    pandas.DataFrame
        One row: ``statistic`` (LR = 2Δloglik), ``df``, ``p_value``.

    Notes
    -----
    The null puts the variance on the boundary of its space, so the LR statistic follows a 50:50
    mixture of :math:`\\chi^2_0` and :math:`\\chi^2_1` (Self & Liang 1987); for ``df=1`` the p value is
    half the naive :math:`\\chi^2_1` p value. Validated against the mixture formula on R's
    ``anova(clmm, clm)`` output (which reports the naive p; ours is exactly half).
    """
    check_number("df", df, low=1, integer=True)
    try:
        ll_full, ll_red = float(full.loglik), float(reduced.loglik)
    except AttributeError as exc:
        raise TypeError("`full` and `reduced` must be fitted models with `.loglik`.") from exc
    lr = max(2.0 * (ll_full - ll_red), 0.0)
    if df == 1:
        p = 0.5 * stats.chi2.sf(lr, 1) if lr > 0 else 1.0
    else:  # mixture of chi2_{df-1} and chi2_df (one variance on the boundary, others free)
        p = 0.5 * stats.chi2.sf(lr, df - 1) + 0.5 * stats.chi2.sf(lr, df)
    return pd.DataFrame({"statistic": [lr], "df": [df], "p_value": [float(p)]})
