"""Mediation (X → M → Y): the indirect effect a·b.

Two functions. :func:`model_mediation` is THE definition the analysis uses (notebook 05's table
and every ``mediation`` claim of a hypotheses file): a from OLS of the mediator on X, b from the
study's outcome model (cumulative logit for an ordinal outcome), so a·b is on the outcome model's
scale (log odds for an ordinal outcome), with a Monte Carlo interval. :func:`mediation` is the
classical all-linear version (outcome used as a number) with a bootstrap interval (Preacher &
Hayes 2008), kept for comparison with pingouin and for numeric outcomes; mediated service effects
are documented by Barger & Grandey (2006). Why our own code: ``pingouin.mediation_analysis`` refits both regressions once per resample
in a Python loop (5,000 resamples of 2,400 encounters take seconds to tens of seconds) and reports
only a bias-corrected interval; here every resample's regressions come from its weighted Gram
matrix in one batched ``einsum`` + ``solve``, and the resamples are drawn exactly as pingouin draws
them so the two can be compared resample for resample.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import check_confidence, check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED

CI_METHODS = ("percentile", "bias_corrected")


def _numeric(data: pd.DataFrame, col: str) -> np.ndarray:
    series = data[col]
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        return pd.to_numeric(series, errors="coerce").astype(float).to_numpy()
    if isinstance(series.dtype, pd.CategoricalDtype) and series.cat.ordered:
        return series.cat.codes.where(series.notna()).astype(float).to_numpy()
    raise TypeError(f"`data` column '{col}' must be numeric, boolean or ordered categorical; got {series.dtype}.")


def _ols(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their classical standard errors."""
    xtx_inv = np.linalg.inv(X.T @ X)
    beta = xtx_inv @ X.T @ y
    resid = y - X @ beta
    sigma2 = resid @ resid / (len(y) - X.shape[1])
    return beta, np.sqrt(np.diag(xtx_inv) * sigma2)


def mediation(data: pd.DataFrame, *, x: str, m: str, y: str, covariates: Sequence[str] = (),
              n_boot: int = 5000, confidence: float = 0.95, seed: int | None = DEFAULT_SEED,
              ci_method: str = "percentile", chunk: int = 250,
              return_boot: bool = False) -> pd.DataFrame | tuple[pd.DataFrame, np.ndarray]:
    """Indirect effect of ``x`` on ``y`` through ``m`` with linear paths and a bootstrap CI.

    Parameters
    ----------
    data : pandas.DataFrame
        Rows with a missing value in any of the variables are dropped.
    x, m, y : str
        Predictor, mediator and outcome columns (numeric, boolean or ordered categorical, used as
        numbers: an ordered categorical enters as its codes 0, 1, 2, ...).
    covariates : list of str
        Entered in both regressions.
    n_boot : int
        Bootstrap resamples (cases resampled with replacement).
    confidence : float
        Coverage of the interval(s), strictly between 0 and 1.
    seed : int or None
        Seed of ``numpy.random.RandomState`` (the legacy generator pingouin uses, so the same seed
        gives the same resamples as ``pingouin.mediation_analysis``); the package default
        :data:`svcresearch.config.DEFAULT_SEED` makes reruns identical, None draws fresh entropy.
    ci_method : {"percentile", "bias_corrected"}
        Interval of the indirect effect; percentile by default (Hayes 2018 recommends it over the
        bias-corrected one, whose coverage is worse).
    chunk : int
        Resamples processed per batch (memory ~ ``chunk * n * 8`` bytes).
    return_boot : bool
        Also return the ``n_boot`` resampled indirect effects (e.g. for a histogram).

    Returns
    -------
    pandas.DataFrame
        Rows ``path`` = ``a`` (M ~ X), ``b`` (Y ~ M | X), ``total`` (c: Y ~ X), ``direct``
        (c': Y ~ X | M), ``indirect`` (a·b), ``proportion_mediated`` (indirect / total, estimate
        only); columns ``estimate, std_error, p_value, ci_low, ci_high, n``. Regression paths have
        classical OLS standard errors, t p values and t intervals; the indirect row has the
        bootstrap SD, the bootstrap interval and the p value of the bootstrap distribution's
        position of zero (as pingouin). With ``return_boot=True``: ``(table, boot)``.

    Notes
    -----
    Validated against ``pingouin.mediation_analysis``: identical path estimates and standard
    errors, identical resampled indirect effects for the same seed, identical bias-corrected
    interval; and against the identity total = direct + indirect, which holds exactly for OLS.
    """
    check_dataframe("data", data)
    for name, col in (("x", x), ("m", m), ("y", y)):
        check_type(name, col, str)
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    cols = [x, m, y, *covariates]
    if len(set(cols)) != len(cols):
        raise ValueError(f"`x`, `m`, `y` and `covariates` must be distinct columns; got {cols!r}.")
    check_dataframe("data", data, columns=cols)
    check_number("n_boot", n_boot, low=0, integer=True)
    check_confidence(confidence)
    check_number("chunk", chunk, low=1, integer=True)
    check_option("ci_method", ci_method, CI_METHODS)
    check_type("return_boot", return_boot, bool)
    if seed is not None:
        check_number("seed", seed, low=0, high=2**32 - 1, integer=True)

    values = np.column_stack([_numeric(data, c) for c in cols])
    values = values[~np.isnan(values).any(axis=1)]
    n = len(values)
    if n < len(cols) + 3:
        raise ValueError(f"`data` has {n} complete rows for {cols!r}; too few for mediation.")
    xv, mv, yv, cv = values[:, 0], values[:, 1], values[:, 2], values[:, 3:]
    for name, col, v in (("x", x, xv), ("m", m, mv), ("y", y, yv)):
        if np.ptp(v) == 0:
            raise ValueError(f"`{name}` column '{col}' is constant in the complete rows.")

    one = np.ones(n)
    X_a = np.column_stack([one, xv, cv])          # M ~ X + C
    X_b = np.column_stack([one, xv, mv, cv])      # Y ~ X + M + C
    a, se_a = _ols(X_a, mv)
    bb, se_bb = _ols(X_b, yv)
    c, se_c = _ols(X_a, yv)
    indirect = a[1] * bb[2]

    def t_row(est, se, df):
        t = est / se
        q = stats.t.isf((1 - confidence) / 2, df)
        return {"estimate": est, "std_error": se, "p_value": 2 * stats.t.sf(abs(t), df),
                "ci_low": est - q * se, "ci_high": est + q * se, "n": n}

    rows = {
        "a": t_row(a[1], se_a[1], n - X_a.shape[1]),
        "b": t_row(bb[2], se_bb[2], n - X_b.shape[1]),
        "total": t_row(c[1], se_c[1], n - X_a.shape[1]),
        "direct": t_row(bb[1], se_bb[1], n - X_b.shape[1]),
    }

    boot = np.empty(n_boot)
    if n_boot:
        # One Gram matrix of Z = [1, x, m, C, y] per resample gives both regressions.
        Z = np.column_stack([one, xv, mv, cv, yv])
        q = Z.shape[1]
        ia = [0, 1] + list(range(3, q - 1))        # columns of X_a inside Z
        ib = list(range(q - 1))                    # columns of X_b inside Z
        rng = np.random.RandomState(seed)
        done = 0
        while done < n_boot:
            size = min(chunk, n_boot - done)
            idx = rng.choice(np.arange(n), replace=True, size=(size, n))
            flat = (idx + (np.arange(size) * n)[:, None]).ravel()
            counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(float)
            G = np.einsum("bn,ni,nj->bij", counts, Z, Z, optimize=True)
            a_hat = np.linalg.solve(G[:, ia][:, :, ia], G[:, ia, 2][..., None])[:, 1, 0]
            b_hat = np.linalg.solve(G[:, ib][:, :, ib], G[:, ib, q - 1][..., None])[:, 2, 0]
            boot[done:done + size] = a_hat * b_hat
            done += size
        alpha = 1 - confidence
        if ci_method == "percentile":
            low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        else:
            # Efron's bias-corrected percentile interval (as pingouin's _bias_corrected_ci).
            z0 = stats.norm.ppf(np.sum(boot < indirect) / n_boot)
            zq = stats.norm.ppf([alpha / 2, 1 - alpha / 2])
            low, high = np.percentile(boot, 100 * stats.norm.cdf(2 * z0 + zq))
        # Two-sided bootstrap p value: twice the smaller tail beyond zero (pingouin's rule, after
        # R's mediation package); not a test under the null, so the CI is what we interpret.
        p_boot = 1.0 if indirect == 0 else float(min(1.0, 2 * min(np.sum(boot > 0), np.sum(boot < 0)) / n_boot))
        rows["indirect"] = {"estimate": indirect, "std_error": float(np.std(boot, ddof=1)),
                            "p_value": p_boot, "ci_low": float(low), "ci_high": float(high), "n": n}
    else:
        rows["indirect"] = {"estimate": indirect, "std_error": np.nan, "p_value": np.nan,
                            "ci_low": np.nan, "ci_high": np.nan, "n": n}
    total = rows["total"]["estimate"]
    # Descriptive only (no interval): the ratio is unstable when the total effect is near zero.
    rows["proportion_mediated"] = {"estimate": float(indirect / total) if total else np.nan,
                                   "std_error": np.nan, "p_value": np.nan, "ci_low": np.nan,
                                   "ci_high": np.nan, "n": n}
    out = pd.DataFrame([{"path": k} | v for k, v in rows.items()])
    out.attrs["variables"] = {"x": x, "m": m, "y": y, "covariates": covariates}
    return (out, boot) if return_boot else out


def model_mediation(data: pd.DataFrame, *, codebook, outcome: str, x: str, mediator: str,
                    terms: Sequence[str] = (), groups: str | None = None, where=None, link: str = "logit",
                    nagq: int = 1, confidence: float = 0.95, n_draws: int = 100_000,
                    seed: int = DEFAULT_SEED, min_rows: int | None = None):
    """Indirect effect a·b of ``x`` on the outcome through ``mediator``, on the outcome model's scale.

    The one definition of a mediated effect in the package: notebook 05's mediation table and the
    ``mediation`` claims of :func:`svcresearch.hypotheses.run_hypotheses` (H11 of the default
    study) both come from here.

    Parameters
    ----------
    data : pandas.DataFrame
        Processed encounters.
    codebook : svcresearch.codebook.Codebook
        The study's codebook.
    outcome : str
        Outcome variable; its type picks the outcome model (ordinal -> cumulative logit, binary
        -> logistic, continuous -> linear; :mod:`svcresearch.modelframe`).
    x : str
        The predictor: a variable (``"uses_name"``) or one level of a categorical variable
        (``"tone[warm]"``, compared with the variable's first level).
    mediator : str
        Mediator variable, used as a number (e.g. a 1-7 rating: per point).
    terms : list of str
        Further terms of the outcome model (the hypotheses file's ``model.terms``); ``x``'s
        variable and the mediator are added when absent.
    groups : str, optional
        Random-intercept column of the outcome model.
    where : dict, optional
        ``{variable, op, value}``: only rows where it holds (both paths).
    link, nagq : as in :func:`svcresearch.models.fit_ordinal`.
    confidence : float
        Coverage of the intervals.
    n_draws : int
        Monte Carlo draws for the interval of a·b.
    seed : int
        Seed of ``numpy.random.default_rng`` for the draws (results are deterministic).
    min_rows : int, optional
        Fewest rows for each path model (default :data:`svcresearch.modelframe.MIN_RATED`).

    Returns
    -------
    pandas.DataFrame or svcresearch.modelframe.Note
        Rows ``path`` = ``a`` (mediator ~ x, OLS, in mediator points), ``b`` (outcome model's
        coefficient of the mediator, controlling for x and ``terms``), ``direct`` (x in that
        model) and ``indirect`` (a·b); columns ``path, term, estimate, std_error, ci_low,
        ci_high, p_value, n, scale``. ``attrs["model"]`` holds the outcome model
        (:class:`svcresearch.modelframe.ModelFit`). A :class:`~svcresearch.modelframe.Note`
        (one sentence) when a path cannot be estimated on this study.

    Notes
    -----
    Scale: a is in mediator points; b, direct and a·b are on the outcome model's linear
    predictor — the latent logit for an ordinal or binary outcome (not rating points), the
    outcome's units for a continuous one. a comes from OLS of the mediator on all of ``x``'s
    columns (the other levels of a categorical ``x`` are covariates) among the rows with ``x``
    and the mediator; b from the outcome model on its complete cases. The interval of a·b is the
    Monte Carlo interval (Preacher & Selig 2012), treating a and b as independent since they come
    from separate models; the p value is the Sobel (delta-method) test. Validated in
    tests/test_mediation.py: on simulated data with known a and b the estimate recovers a·b, and
    the default study's H11 equals the value of the hand-built computation it replaced.
    """
    from svcresearch import modelframe as mfm

    check_number("n_draws", n_draws, low=1000, integer=True)
    check_number("seed", seed, integer=True)
    check_confidence(confidence)
    min_rows = mfm.MIN_RATED if min_rows is None else min_rows
    x_var = x.split("[", 1)[0].strip()
    if mfm.find_variable(codebook, x_var) is None:
        raise ValueError(f"`x` {x!r}: {x_var!r} is not a variable of the codebook.")
    if mfm.find_variable(codebook, mediator) is None:
        raise ValueError(f"`mediator` {mediator!r} is not a variable of the codebook.")
    model_terms = list(terms)
    if not any(x_var in mfm.split_term(t) and ":" not in t for t in model_terms):
        model_terms.append(x_var)
    model_terms = [t for t in model_terms if t != mediator] + [mediator]
    for name in (x_var, mediator):
        column = mfm.find_variable(codebook, name).out_name
        if column not in data.columns:
            return mfm.Note(f"Mediation through {mediator} not estimated: '{column}' is not in the data.")
    b_frame = mfm.model_frame(data, codebook=codebook, outcome=outcome, terms=model_terms, groups=groups,
                              where=where, min_rows=min_rows)
    b_fit = b_frame.fit(link=link, nagq=nagq, confidence=confidence)
    if not b_fit.ok:
        return mfm.Note(f"Mediation through {mediator} not estimated: {b_fit.problem}.")
    for needed in (x, mediator):
        if needed not in b_frame.terms:
            why = b_frame.dropped_terms.get(needed) or b_frame.dropped_terms.get(x_var) or \
                f"'{needed}' is not a column of the outcome model"
            return mfm.Note(f"Mediation through {mediator} not estimated: {why}.")
    a_frame = mfm.model_frame(data, codebook=codebook, outcome=mediator, terms=[x_var], where=where,
                              min_rows=min_rows)
    if a_frame.problem or x not in a_frame.terms:
        why = a_frame.problem or a_frame.dropped_terms.get(x) or a_frame.dropped_terms.get(x_var, "")
        return mfm.Note(f"Mediation through {mediator} not estimated (path a): {why}.")
    try:
        a_res = mfm.fit_ols(a_frame.data, a_frame.formula, confidence=confidence)
    except ValueError as exc:
        return mfm.Note(f"Mediation through {mediator} not estimated (path a): {exc}")
    a_row = a_res.params.set_index("term").loc[a_frame.internal(x)]
    a, se_a = float(a_row["estimate"]), float(a_row["std_error"])
    params = b_fit.result.params.set_index("term")
    b_row = params.loc[b_frame.internal(mediator)]
    c_row = params.loc[b_frame.internal(x)]
    b = float(b_row["estimate"])
    se_b = math.sqrt(float(b_fit.result.vcov.loc[b_frame.internal(mediator), b_frame.internal(mediator)]))
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    draws = rng.normal(a, se_a, n_draws) * rng.normal(b, se_b, n_draws)
    se_ab = math.sqrt(a**2 * se_b**2 + b**2 * se_a**2)
    scale = "b" if b_frame.family == "continuous" else "log_odds"

    def coef_row(path, term, row, n, sc):
        return {"path": path, "term": term, "estimate": float(row["estimate"]), "std_error": float(row["std_error"]),
                "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "p_value": float(row["p_value"]),
                "n": n, "scale": sc}

    rows = [coef_row("a", f"{x} -> {mediator}", a_row, a_res.nobs, "b"),
            coef_row("b", mediator, b_row, b_fit.result.nobs, scale),
            coef_row("direct", x, c_row, b_fit.result.nobs, scale),
            {"path": "indirect", "term": f"indirect: {x}", "estimate": a * b, "std_error": se_ab,
             "ci_low": float(np.quantile(draws, alpha / 2)), "ci_high": float(np.quantile(draws, 1 - alpha / 2)),
             "p_value": float(2 * stats.norm.sf(abs(a * b) / se_ab)) if se_ab > 0 else np.nan,
             "n": b_fit.result.nobs, "scale": scale}]
    out = pd.DataFrame(rows)
    out["n"] = out["n"].astype("Int64")
    out.attrs.update({"model": b_fit, "x": x, "mediator": mediator, "outcome": b_frame.outcome})
    return out
