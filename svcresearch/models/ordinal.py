"""Cumulative-link (proportional-odds) models for ordinal outcomes, with and without random intercepts.

Why our own code: no Python library fits an ordinal *mixed* model (R's ``ordinal::clmm``), and
the one fixed-effects implementation (statsmodels' ``OrderedModel``) is slow on large data (about
five times R's ``clm`` on a million rows) and reports thresholds as log-increments rather than on
the cutpoint scale researchers read and R prints. Both models here are written directly on the
cumulative-link likelihood

    P(Y <= j | x, u) = F(theta_j - x'beta - u),   u ~ N(0, sigma^2) per group (mixed model only)

with F the logistic or normal CDF:

* ``clm``: Newton-Raphson on the exact analytic gradient and Hessian, thresholds parametrised
  directly (step-halving keeps them ordered and the log-likelihood increasing), start values from
  the marginal cumulative proportions; rows with identical outcome and covariates are merged into
  frequency weights first (identical likelihood, far fewer rows with categorical predictors).
  Standard errors come from the inverse observed Hessian, as in ``clm``.
* ``clmm`` (random intercept): the marginal likelihood factorises by group; the conditional mode
  of every group is found by a vectorised one-dimensional Newton iteration; the integral is the
  Laplace approximation (``nagq=1``) or adaptive Gauss-Hermite quadrature around the modes
  (``nagq > 1``), as ``clmm(..., nAGQ=)``. The outer optimiser (L-BFGS on thresholds
  parametrised by log-increments, beta and log sigma) gets the exact analytic gradient of the
  approximated log-likelihood, including the dependence of the modes and curvatures on the
  parameters. Standard errors come from a finite-difference Hessian of that gradient, as
  ``clmm`` uses a numerical Hessian.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .._validation import (ColumnTypeError, check_confidence, check_number, check_option, check_type,
                           numbers_as_text)
from ._formula import (Scaling, build_design, check_full_rank, newdata_matrix, partial_sd,
                       split_formula, standardize)
from ._results import ModelResult, tidy_params

LINKS = ("logit", "probit")
_BIG = 1e3  # stands in for +-infinity in the outer thresholds: F(1e3) == 1, f(1e3) == 0
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


# ----------------------------------------------------------------------------------------------
# link functions: CDF F, density f and its first two derivatives
# ----------------------------------------------------------------------------------------------
class _Link:
    def __init__(self, name: str):
        self.name = name

    def cdf(self, x):
        return special.expit(x) if self.name == "logit" else special.ndtr(x)

    def ppf(self, q):
        return special.logit(q) if self.name == "logit" else special.ndtri(q)

    def pdf(self, x):
        if self.name == "logit":
            return special.expit(x) * special.expit(-x)
        return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def derivs(self, x, order: int):
        """(f, f', f'') up to ``order`` (1 -> f only, 2 -> f, f', 3 -> f, f', f'')."""
        if self.name == "logit":
            f = special.expit(x) * special.expit(-x)
            if order == 1:
                return (f,)
            one_m_2F = -np.tanh(0.5 * x)
            f1 = f * one_m_2F
            if order == 2:
                return f, f1
            return f, f1, f * (1.0 - 6.0 * f)
        f = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        if order == 1:
            return (f,)
        f1 = -x * f
        if order == 2:
            return f, f1
        return f, f1, (x * x - 1.0) * f

    def prob(self, a, b):
        """F(a) - F(b) for a > b, computed in the tail where it does not cancel (symmetric F)."""
        upper = b > 0
        return np.where(upper, self.cdf(-b) - self.cdf(-a), self.cdf(a) - self.cdf(b))


# ----------------------------------------------------------------------------------------------
# fixed-effects cumulative link model on a generic linear parametrisation
#   a_i = A_i phi (upper bound of the latent interval), b_i = B_i phi (lower bound)
# which covers clm (A = [onehot(y), -X]) and the nominal models of the proportional-odds test.
# ----------------------------------------------------------------------------------------------
@dataclass
class _CLData:
    A: np.ndarray
    B: np.ndarray
    top: np.ndarray      # y == highest category: a = +inf
    bottom: np.ndarray   # y == lowest category: b = -inf
    w: np.ndarray


def _cl_bounds(phi, d: _CLData):
    a = d.A @ phi
    b = d.B @ phi
    a = np.where(d.top, _BIG, a)
    b = np.where(d.bottom, -_BIG, b)
    return a, b


def _cl_loglik(phi, d: _CLData, link: _Link) -> float:
    a, b = _cl_bounds(phi, d)
    if np.any(a <= b):
        return -np.inf
    p = link.prob(a, b)
    if np.any(p <= 0):
        return -np.inf
    return float(d.w @ np.log(p))


def _cl_derivs(phi, d: _CLData, link: _Link):
    """Log-likelihood, analytic gradient and Hessian of sum_i w_i log(F(a_i) - F(b_i))."""
    a, b = _cl_bounds(phi, d)
    p = link.prob(a, b)
    fa, fa1 = link.derivs(a, 2)
    fb, fb1 = link.derivs(b, 2)
    ga, gb = fa / p, fb / p
    ll = float(d.w @ np.log(p))
    grad = d.A.T @ (d.w * ga) - d.B.T @ (d.w * gb)
    G = d.A * ga[:, None] - d.B * gb[:, None]
    hess = ((d.A * (d.w * fa1 / p)[:, None]).T @ d.A
            - (d.B * (d.w * fb1 / p)[:, None]).T @ d.B
            - (G * d.w[:, None]).T @ G)
    return ll, grad, hess


class _FitFailure(Exception):
    def __init__(self, reason, phi, hess):
        super().__init__(reason)
        self.reason, self.phi, self.hess = reason, phi, hess


def _newton(phi, d: _CLData, link: _Link, *, max_iter: int, valid, tol: float = 1e-10,
            supremum: bool = False):
    """Newton-Raphson with step-halving; returns (phi, ll, grad, hess, iterations, finite).

    With ``supremum=True`` a singular Hessian (estimates running off to infinity, e.g. a
    nominal effect for a predictor level that never shows an outcome category) does not stop
    the iteration: ridge-damped steps keep increasing the log-likelihood until it stops
    changing, and the returned log-likelihood is its supremum (``finite`` is then False). This
    is what ``ordinal::nominal_test`` reports in that situation.
    """
    ll, grad, hess = _cl_derivs(phi, d, link)
    finite = True
    for it in range(1, max_iter + 1):
        step = None
        try:
            step = np.linalg.solve(-hess, grad)
            if not np.all(np.isfinite(step)) or np.linalg.cond(hess) > 1e12:
                step = None
        except np.linalg.LinAlgError:
            pass
        if step is None:
            if not supremum:
                raise _FitFailure("singular", phi, hess)
            finite = False
            lam = 1e-6 * max(np.max(np.abs(np.diag(hess))), 1e-12)
            step = np.linalg.solve(-hess + lam * np.eye(len(phi)), grad)
        t = 1.0
        for _ in range(40):
            cand = phi + t * step
            if valid(cand):
                ll_c = _cl_loglik(cand, d, link)
                if ll_c >= ll - 1e-10 * (1 + abs(ll)):
                    break
            t *= 0.5
        else:
            if supremum and not finite:
                return phi, ll, grad, hess, it, finite
            raise _FitFailure("linesearch", phi, hess)
        phi, ll_old = cand, ll
        ll, grad, hess = _cl_derivs(phi, d, link)
        if np.max(np.abs(t * step)) < tol * (1 + np.max(np.abs(phi))) and np.max(np.abs(grad)) < 1e-6:
            return phi, ll, grad, hess, it, finite
        if supremum and not finite and abs(ll - ll_old) < 1e-12 * (1 + abs(ll)):
            return phi, ll, grad, hess, it, finite
    if supremum and not finite:
        return phi, ll, grad, hess, max_iter, finite
    raise _FitFailure("max_iter", phi, hess)


def _onehot(idx, valid, ncol):
    out = np.zeros((len(idx), ncol))
    rows = np.flatnonzero(valid)
    out[rows, idx[rows]] = 1.0
    return out


def _clm_data(X: np.ndarray, y: np.ndarray, w: np.ndarray, n_levels: int,
              Z: np.ndarray | None = None) -> _CLData:
    """A/B matrices: thresholds, then (nominal Z effects per threshold), then -X."""
    J1 = n_levels - 1
    top, bottom = y == n_levels - 1, y == 0
    Ea = _onehot(y, ~top, J1)
    Eb = _onehot(y - 1, ~bottom, J1)
    blocks_a, blocks_b = [Ea], [Eb]
    if Z is not None and Z.shape[1]:
        blocks_a.append(-(Ea[:, :, None] * Z[:, None, :]).reshape(len(y), -1))
        blocks_b.append(-(Eb[:, :, None] * Z[:, None, :]).reshape(len(y), -1))
    blocks_a.append(-X)
    blocks_b.append(-X)
    return _CLData(np.hstack(blocks_a), np.hstack(blocks_b), top, bottom, w)


def _start_thresholds(y, w, n_levels, link):
    cum = np.cumsum(np.bincount(y, weights=w, minlength=n_levels))[:-1] / w.sum()
    return link.ppf(np.clip(cum, 1e-6, 1 - 1e-6))


def _fit_clm_arrays(X, y, w, n_levels, link, *, max_iter, column_names, Z=None, start=None,
                    diagnose_on=None):
    """Newton fit of clm on the design ``X``; ``diagnose_on = (X_named, A)`` names columns in
    failure messages when ``X = X_named @ A`` is a decorrelated design (see ``Scaling``)."""
    d = _clm_data(X, y, w, n_levels, Z)
    J1 = n_levels - 1
    if start is None:
        start = np.concatenate([_start_thresholds(y, w, n_levels, link),
                                np.zeros(d.A.shape[1] - J1)])
    if Z is None or Z.shape[1] == 0:
        def valid(phi):
            return bool(np.all(np.diff(phi[:J1]) > 0))
    else:
        def valid(phi):
            return True  # nominal models: validity is a finite log-likelihood (checked after)
    try:
        return _newton(start, d, link, max_iter=max_iter, valid=valid)[:5]
    except _FitFailure as fail:
        _diagnose(fail, X, column_names, J1, max_iter, diagnose_on)


def _diagnose(fail: _FitFailure, X, column_names, J1, max_iter, diagnose_on=None):
    """Turn a failed Newton run into a ValueError that says what to do."""
    beta = fail.phi[-X.shape[1]:] if X.shape[1] else np.array([])
    if diagnose_on is not None and X.shape[1]:
        X, A = diagnose_on
        beta = A @ beta
    sd = partial_sd(X) if X.shape[1] else np.array([])
    huge = [c for c, b, s in zip(column_names, beta, sd) if abs(b) * max(s, 1e-12) > 8]
    if huge or fail.reason in ("singular", "linesearch"):
        names = ", ".join(map(repr, huge)) if huge else "one or more predictors"
        raise ValueError(
            f"Complete or quasi-complete separation: the estimates for {names} diverge (an "
            f"outcome category is perfectly predicted by them, so no finite maximum-likelihood "
            f"estimate exists). Check the cross-tabulation of the outcome against these "
            f"predictors; merge sparse outcome categories or predictor levels, or drop the "
            f"predictor."
        )
    raise ValueError(
        f"The model did not converge in max_iter={max_iter} Newton iterations; increase "
        f"`max_iter`, rescale continuous predictors, or simplify the formula."
    )


def _separation_check(beta, se, X, column_names, weights=None):
    """Converged fits can still sit on a separated direction: flag absurd standardised effects.

    Effects are judged per standard deviation of the predictor net of the other predictors
    (``partial_sd``), so collinear columns (``b`` and ``t:b`` with a time stamp ``t``) are not
    mistaken for separation.
    """
    sd = partial_sd(X, weights=weights)
    bad = [c for c, b, s, sdx in zip(column_names, beta, se, sd)
           if abs(b) * sdx > 8 or (np.isfinite(s) and s * sdx > 50) or not np.isfinite(s)]
    if bad:
        raise ValueError(
            f"Complete or quasi-complete separation: the estimates for {', '.join(map(repr, bad))} "
            f"are huge or have huge standard errors (an outcome category is perfectly predicted). "
            f"Check the cross-tabulation of the outcome against these predictors; merge sparse "
            f"categories or drop the predictor."
        )


# ----------------------------------------------------------------------------------------------
# outcome handling
# ----------------------------------------------------------------------------------------------
def _outcome_levels(y: pd.Series, name: str, n_missing_levels_ok: bool = False):
    """Integer codes 0..J-1 and the level labels (R's names: '1', '2', ... for integers)."""
    dtype = y.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        if not dtype.ordered:
            raise ValueError(
                f"Outcome {name!r} is an unordered categorical; make it ordered, e.g. "
                f"data[{name!r}] = pd.Categorical(data[{name!r}], categories=[...], ordered=True)."
            )
        cats = list(dtype.categories)
        counts = y.value_counts().reindex(cats, fill_value=0)
        empty = [str(c) for c in cats if counts[c] == 0]
        if empty:
            raise ValueError(
                f"Outcome {name!r} has categories listed but never observed in the used rows: "
                f"{', '.join(map(repr, empty))}. Their thresholds cannot be estimated; remove "
                f"them with data[{name!r}].cat.remove_unused_categories() or merge them with a "
                f"neighbouring category."
            )
        codes = y.cat.codes.to_numpy().astype(np.int64)
        labels = [str(c) for c in cats]
    elif pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ColumnTypeError(
            f"Outcome {name!r} must be numeric (e.g. ratings 1-5) or an ordered categorical; got "
            f"dtype {dtype}"
            + (" (numbers stored as text: convert them with pd.to_numeric)"
               if numbers_as_text(y) else "")
            + ". Convert it with pd.Categorical(..., categories=[...], ordered=True)"
            + ("; for a yes/no outcome use fit_logistic." if pd.api.types.is_bool_dtype(dtype) else ".")
        )
    else:
        values = y.to_numpy(dtype=float)
        levels, codes = np.unique(values, return_inverse=True)
        codes = codes.astype(np.int64)
        labels = [str(int(v)) if float(v).is_integer() else repr(float(v)) for v in levels]
    if len(labels) < 2:
        raise ValueError(f"Outcome {name!r} takes only one value in the used rows; an ordinal "
                         f"model needs at least two categories.")
    return codes, labels



# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------
class OrdinalResult(ModelResult):
    """Result of :func:`fit_ordinal` (cumulative link model, optionally with a random intercept).

    Thresholds are the first ``J - 1`` rows of ``.params`` (terms ``'1|2'``, ``'2|3'``, ... on
    the cutpoint scale: P(Y <= j) = F(threshold_j - x'beta - u)), followed by the predictor
    coefficients named as formulaic names the design columns (``'temp[T.warm]'``, ``'uses_name'``
    for a boolean, ``'a:b'`` for an interaction).
    """

    kind = "ordinal"

    def __init__(self, *, levels, thresholds, beta, columns, link, design, model_data, scaling=None,
                 **kw):
        super().__init__(link=link.name, **kw)
        self._scaling = scaling  # centre/scale of the design columns the fit ran on
        self.levels = list(levels)
        self.thresholds = np.asarray(thresholds, dtype=float)
        self.beta = np.asarray(beta, dtype=float)
        self.columns = list(columns)
        self._link = link
        self._design = design
        self._model_data = model_data  # (X, y codes, weights) used in the fit

    @property
    def threshold_names(self):
        return [f"{self.levels[j]}|{self.levels[j + 1]}" for j in range(len(self.levels) - 1)]

    # -- predictions ---------------------------------------------------------------------------
    def _proba_from_X(self, X):
        eta = X @ self.beta if X.shape[1] else np.zeros(len(X))
        cum = self._link.cdf(self.thresholds[None, :] - eta[:, None])
        cum = np.column_stack([np.zeros(len(X)), cum, np.ones(len(X))])
        return np.diff(cum, axis=1)

    def predict_proba(self, newdata: pd.DataFrame) -> pd.DataFrame:
        """Predicted probability of every outcome category for each row of ``newdata``.

        Parameters
        ----------
        newdata : DataFrame
            Predictor columns of the formula, with values seen when fitting.

        Returns
        -------
        DataFrame
            One column per outcome category (named by the level), rows aligned with ``newdata``.

        Notes
        -----
        For mixed models the probabilities are conditional on a random intercept of 0 (a
        typical group), not averaged over groups. Validated against R
        ``predict(clm(...), newdata, type = "prob")`` on ``ordinal::wine`` (logit and probit).
        """
        X = newdata_matrix(self._design.model_spec, newdata, self.columns)
        return pd.DataFrame(self._proba_from_X(X), columns=self.levels, index=newdata.index)

    def marginal_effects(self, *, confidence: float = 0.95) -> pd.DataFrame:
        """Average marginal effects d P(Y = k) / d x_j, averaged over the fitted rows.

        Parameters
        ----------
        confidence : float
            Coverage of the Wald intervals, strictly between 0 and 1.

        Returns
        -------
        DataFrame
            ``term, category, estimate, std_error, statistic, p_value, ci_low, ci_high`` with one
            row per design column (``term``) and outcome category. Within a term the effects sum
            to zero over categories.

        Notes
        -----
        The derivative is taken with respect to the design column, holding the other columns
        fixed (for a 0/1 dummy this is the slope of the latent-scale effect at the observed
        rows, not the discrete change; for an interaction column it is the partial derivative
        with respect to the product column). Standard errors use the delta method with the
        analytic Jacobian of the AME with respect to (thresholds, beta) and ``.vcov``.
        Validated (tests) against central finite differences of :meth:`predict_proba` for the
        estimates and against a numerically differentiated Jacobian for the standard errors;
        no R reference was run for AMEs. For mixed models the effects are conditional on a
        random intercept of 0.
        """
        check_confidence(confidence)
        X, _, w = self._model_data
        k, J = X.shape[1], len(self.levels)
        if k == 0:
            raise ValueError("The model has no predictors, so there are no marginal effects.")
        J1 = J - 1
        eta = X @ self.beta
        th = np.concatenate([[-_BIG], self.thresholds, [_BIG]])
        r = th[None, 1:] - eta[:, None]       # n x J upper bounds per category
        s = th[None, :-1] - eta[:, None]      # lower bounds
        f_r, f1_r = self._link.derivs(r, 2)
        f_s, f1_s = self._link.derivs(s, 2)
        W = w / w.sum()
        dens = W @ (f_r - f_s)                 # J: mean of f(r) - f(s)
        ame = -np.outer(self.beta, dens)       # k x J
        # Jacobian of ame[j, c] with respect to (thresholds, beta)
        P = J1 + k
        jac = np.zeros((k, J, P))
        for c in range(J):
            if c < J1:   # upper threshold of category c is theta_c
                jac[:, c, c] += -self.beta * (W @ f1_r[:, c])
            if c > 0:    # lower threshold is theta_{c-1}
                jac[:, c, c - 1] += self.beta * (W @ f1_s[:, c])
            # d/d beta_m of -beta_j * mean(f(r) - f(s)) with d r / d beta_m = -x_m
            cross = (W * (f1_r[:, c] - f1_s[:, c])) @ X          # k
            jac[:, c, J1:] += np.outer(self.beta, cross)
            jac[np.arange(k), c, J1 + np.arange(k)] += -dens[c]
        V = self.vcov.iloc[:P, :P].to_numpy()
        var = np.einsum("jcp,pq,jcq->jc", jac, V, jac)
        tidy = tidy_params(np.repeat(self.columns, J), ame.ravel(), np.diag(var.ravel()), confidence=confidence)
        tidy.insert(1, "category", np.tile(self.levels, k))
        return tidy

    # -- proportional odds ---------------------------------------------------------------------
    def proportional_odds_test(self) -> pd.DataFrame:
        """Likelihood-ratio test of the proportional-odds assumption, per formula term.

        For every term of the formula the model is refitted with category-specific
        (nominal) effects for that term's design columns, as ``ordinal::nominal_test``.

        Returns
        -------
        DataFrame
            ``term, df, loglik, lr_stat, p_value, finite``: ``loglik`` of the nominal model.
            ``finite`` is False when some nominal effects diverge (a level of the predictor
            never shows an outcome category); the likelihood then has a supremum but no
            maximum, and, like ``nominal_test``, the LR test uses that supremum.

        Notes
        -----
        Validated against R ``nominal_test(clm(rating ~ temp + contact, data = wine))`` and on
        a simulated service data set (LR statistics, df and p to 1e-4).
        """
        if self.variance_components is not None:
            raise ValueError(
                "proportional_odds_test() is defined for fixed-effects models (as R's "
                "nominal_test for clm); refit with fit_ordinal(data, formula) without `groups` "
                "to test the assumption."
            )
        X, y, w = self._model_data
        J = len(self.levels)
        spec = self._design.model_spec
        # refit on the centred and scaled columns the model was fitted on (the likelihood, the
        # only thing the test uses, is invariant); start values mapped to that scale
        thresholds, beta = self.thresholds, self.beta
        if self._scaling is not None and X.shape[1]:
            # centred and scaled only: decorrelating would mix the terms' columns
            diag = Scaling(self._scaling.center, self._scaling.scale)
            X = diag.apply(X)
            thresholds = thresholds - float(diag.center @ beta)
            beta = diag.to_fit(beta)
        cols_all = list(spec.column_names)
        rows = []
        for term, idx in spec.term_indices.items():
            names = [cols_all[i] for i in idx if cols_all[i] in self.columns]
            if not names:
                continue
            pos = [self.columns.index(n) for n in names]
            rest = [i for i in range(X.shape[1]) if i not in pos]
            Z, Xr = X[:, pos], X[:, rest]
            start = np.concatenate([thresholds, np.tile(beta[pos], J - 1), beta[rest]])
            df = len(pos) * (J - 2)
            try:
                d = _clm_data(Xr, y, w, J, Z)
                _, ll, _, _, _, finite = _newton(start, d, self._link, max_iter=500,
                                                 valid=lambda phi: True, supremum=True)
                lr = max(2 * (ll - self.loglik), 0.0)
                rows.append((str(term), df, ll, lr, stats.chi2.sf(lr, df) if df else np.nan, finite))
            except _FitFailure:
                rows.append((str(term), df, np.nan, np.nan, np.nan, False))
        return pd.DataFrame(rows, columns=["term", "df", "loglik", "lr_stat", "p_value", "finite"])


# ----------------------------------------------------------------------------------------------
# random-intercept model (clmm)
# ----------------------------------------------------------------------------------------------
class _CLMM:
    """Marginal log-likelihood (Laplace / AGQ) of a random-intercept cumulative link model."""

    def __init__(self, X, y, w, g, n_levels, n_groups, link, nagq):
        order = np.argsort(g, kind="stable")
        self.X, self.y, self.w, self.g = X[order], y[order], w[order], g[order]
        self.J1, self.k, self.G = n_levels - 1, X.shape[1], n_groups
        self.P = self.J1 + self.k + 1
        self.link = link
        self.starts = np.flatnonzero(np.r_[True, self.g[1:] != self.g[:-1]])
        self.top, self.bottom = self.y == self.J1, self.y == 0
        self.ya = np.where(self.top, 0, self.y)
        self.yb = np.where(self.bottom, 0, self.y - 1)
        Ea = _onehot(self.y, ~self.top, self.J1)
        Eb = _onehot(self.y - 1, ~self.bottom, self.J1)
        zeros_k = np.zeros((len(self.y), self.k))
        self.Ea = np.hstack([Ea, zeros_k])
        self.Eb = np.hstack([Eb, zeros_k])
        self.Xf = np.hstack([np.zeros((len(self.y), self.J1)), self.X])
        if nagq == 1:
            self.z, self.logW = np.zeros(1), np.array([0.5 * math.log(math.pi)])
        else:
            z, wq = np.polynomial.hermite.hermgauss(nagq)
            self.z, self.logW = z, np.log(wq) + z * z
        self.u = np.zeros(self.G)  # warm start for the conditional modes

    def gsum(self, v):
        return np.add.reduceat(v, self.starts, axis=0)

    def base(self, theta, beta):
        eta = self.X @ beta if self.k else np.zeros(len(self.y))
        a0 = np.where(self.top, _BIG, theta[self.ya] - eta)
        b0 = np.where(self.bottom, -_BIG, theta[self.yb] - eta)
        return a0, b0

    def terms(self, a, b, order):
        """Derivatives of l = log(F(a) - F(b)) in a and b up to ``order``."""
        lk = self.link
        p = lk.prob(a, b)
        out = {"l": np.log(p)}
        fa = lk.derivs(a, order)
        fb = lk.derivs(b, order)
        la, lb = fa[0] / p, -fb[0] / p
        out.update(la=la, lb=lb, S1=la + lb)
        if order >= 2:
            qa, qb = fa[1] / p, fb[1] / p
            laa, lbb, lab = qa - la * la, -qb - lb * lb, -la * lb
            out.update(S2=laa + 2 * lab + lbb, Ra=laa + lab, Rb=lab + lbb)
        if order >= 3:
            laaa = fa[2] / p - la * qa - 2 * la * laa
            laab = -qa * lb - 2 * la * lab
            labb = qb * la - 2 * lb * lab
            lbbb = -fb[2] / p + qb * lb - 2 * lb * lbb
            out.update(Ta=laaa + 2 * laab + labb, Tb=laab + 2 * labb + lbbb)
        return out

    def modes(self, a0, b0, s2inv):
        """Conditional modes of all groups at once (vectorised 1-D Newton with step-halving)."""
        u = self.u.copy()
        w, g = self.w, self.g
        t = self.terms(a0 - u[g], b0 - u[g], 2)
        H = self.gsum(w * t["l"]) - 0.5 * u * u * s2inv
        for _ in range(100):
            hp = -self.gsum(w * t["S1"]) - u * s2inv
            D = -self.gsum(w * t["S2"]) + s2inv
            step = hp / D
            u_new = u + step
            for _ in range(30):
                t_new = self.terms(a0 - u_new[g], b0 - u_new[g], 2)
                H_new = self.gsum(w * t_new["l"]) - 0.5 * u_new * u_new * s2inv
                worse = ~(H_new >= H - 1e-12 * (1 + np.abs(H)))
                if not worse.any():
                    break
                u_new = np.where(worse, 0.5 * (u + u_new), u_new)
            u, t, H = u_new, t_new, H_new
            if np.max(np.abs(step)) < 1e-10:
                break
        self.u = u
        return u

    def value_grad(self, psi, *, grad=True):
        J1, k = self.J1, self.k
        theta, beta, tau = psi[:J1], psi[J1:J1 + k], psi[-1]
        if np.any(np.diff(theta) <= 0):
            return np.inf, np.full(self.P, np.nan)
        s2inv = math.exp(-2 * tau)
        a0, b0 = self.base(theta, beta)
        u = self.modes(a0, b0, s2inv)
        w, g = self.w, self.g
        tm = self.terms(a0 - u[g], b0 - u[g], 3 if grad else 2)
        D = -self.gsum(w * tm["S2"]) + s2inv
        s = 1.0 / np.sqrt(D)
        nodes = u[:, None] + math.sqrt(2) * s[:, None] * self.z[None, :]        # G x K
        K = len(self.z)
        an = a0[:, None] - nodes[g]
        bn = b0[:, None] - nodes[g]
        tn = self.terms(an, bn, 1)
        Hk = self.gsum(w[:, None] * tn["l"]) - 0.5 * nodes * nodes * s2inv     # G x K
        lw = self.logW[None, :] + Hk
        lse = special.logsumexp(lw, axis=1)
        Lg = lse + math.log(math.sqrt(2)) + np.log(s) - tau - _LOG_SQRT_2PI
        value = -float(Lg.sum())
        if not grad:
            return value, None
        pi = np.exp(lw - lse[:, None])                                           # G x K
        # derivatives at the mode
        dHp = self.gsum((-w * tm["Ra"])[:, None] * self.Ea + (-w * tm["Rb"])[:, None] * self.Eb
                        + (w * tm["S2"])[:, None] * self.Xf)
        dHp = np.column_stack([dHp, 2 * u * s2inv])
        dHpp = self.gsum((w * tm["Ta"])[:, None] * self.Ea + (w * tm["Tb"])[:, None] * self.Eb
                         - (w * (tm["Ta"] + tm["Tb"]))[:, None] * self.Xf)
        dHpp = np.column_stack([dHpp, np.full(self.G, 2 * s2inv)])   # d/dtau of -e^{-2tau}
        Hppp = -self.gsum(w * (tm["Ta"] + tm["Tb"]))
        du = dHp / D[:, None]
        dD = -dHpp - Hppp[:, None] * du
        dlogs = -0.5 * dD / D[:, None]
        # expectation over the nodes of the partial derivatives of H
        pir = pi[g]                                                             # n x K
        ca = w * (pir * tn["la"]).sum(axis=1)
        cb = w * (pir * tn["lb"]).sum(axis=1)
        cx = -w * (pir * tn["S1"]).sum(axis=1)
        EdH = self.gsum(ca[:, None] * self.Ea + cb[:, None] * self.Eb + cx[:, None] * self.Xf)
        EdH = np.column_stack([EdH, (pi * nodes * nodes).sum(axis=1) * s2inv])
        grad_g = EdH + dlogs
        grad_g[:, -1] -= 1.0
        if K > 1:
            Hp_k = -self.gsum(w[:, None] * tn["S1"]) - nodes * s2inv          # G x K
            c1 = (pi * Hp_k).sum(axis=1)
            c2 = (pi * Hp_k * (math.sqrt(2) * self.z[None, :])).sum(axis=1)
            grad_g += c1[:, None] * du + (c2 * s)[:, None] * dlogs
        return value, -grad_g.sum(axis=0)


def _to_internal(psi, J1):
    alpha = psi.copy()
    alpha[1:J1] = np.log(np.diff(psi[:J1]))
    return alpha


def _from_internal(alpha, J1):
    psi = alpha.copy()
    psi[:J1] = alpha[0] + np.concatenate([[0.0], np.cumsum(np.exp(alpha[1:J1]))])
    return psi


def _fit_clmm(model: _CLMM, start_psi, *, max_iter):
    J1 = model.J1

    def fun(alpha):
        psi = _from_internal(alpha, J1)
        val, gpsi = model.value_grad(psi)
        if not np.isfinite(val):
            return 1e300, np.zeros_like(alpha)
        # chain rule: theta_m = alpha_0 + sum_{j<=m, j>=1} exp(alpha_j)
        galpha = gpsi.copy()
        csum = np.cumsum(gpsi[:J1][::-1])[::-1]          # sum_{m>=j} dF/dtheta_m
        galpha[0] = csum[0]
        galpha[1:J1] = csum[1:] * np.exp(alpha[1:J1])
        return val, galpha

    res = optimize.minimize(fun, _to_internal(start_psi, J1), jac=True, method="L-BFGS-B",
                            options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-9,
                                     "maxcor": 30})
    psi = _from_internal(res.x, J1)
    # Newton polish on psi with the finite-difference Hessian of the analytic gradient: makes
    # the optimum (and so the SEs) precise whatever tolerance L-BFGS stopped at
    H_last = None
    for _ in range(5):
        H = _num_hessian(model, psi)
        H_last = None
        _, gpsi = model.value_grad(psi)
        try:
            step = np.linalg.solve(H, gpsi)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        val0 = model.value_grad(psi, grad=False)[0]
        while t > 1e-4:
            cand = psi - t * step
            if model.value_grad(cand, grad=False)[0] <= val0 + 1e-10:
                break
            t *= 0.5
        else:
            break
        psi = cand
        if np.max(np.abs(t * step)) < 1e-8:
            H_last = H   # a step this small leaves the (finite-difference) Hessian unchanged
            break
    value, gpsi = model.value_grad(psi)
    H = _num_hessian(model, psi) if H_last is None else H_last
    converged = bool(np.max(np.abs(gpsi)) < 1e-3 and np.all(np.isfinite(H)))
    return psi, -value, H, converged, gpsi


def _num_hessian(model: _CLMM, psi, rel=1e-5):
    P = len(psi)
    H = np.empty((P, P))
    u_saved = model.u.copy()
    for j in range(P):
        h = rel * max(1.0, abs(psi[j]))
        e = np.zeros(P)
        e[j] = h
        gp = model.value_grad(psi + e)[1]
        gm = model.value_grad(psi - e)[1]
        H[:, j] = (gp - gm) / (2 * h)
    model.u = u_saved
    return 0.5 * (H + H.T)


# ----------------------------------------------------------------------------------------------
# public entry point
# ----------------------------------------------------------------------------------------------
def fit_ordinal(data: pd.DataFrame, formula: str, *, groups: str | None = None,
                link: str = "logit", nagq: int = 1, missing: str = "drop",
                max_iter: int = 100, confidence: float = 0.95) -> OrdinalResult:
    """Proportional-odds (cumulative link) model, optionally with a random intercept.

    Parameters
    ----------
    data : DataFrame
        One row per encounter.
    formula : str
        ``"outcome ~ predictors"`` (formulaic/patsy syntax: ``C(x)``, ``a*b``, ``a:b``; pandas
        booleans and categoricals are coded automatically). The intercept is dropped: the
        thresholds replace it. Ordered categorical predictors get treatment (dummy) coding,
        not R's polynomial contrasts.
    groups : str, optional
        Grouping column (e.g. ``"employee"``) for a random intercept, as
        ``clmm(y ~ x + (1 | groups))``.
    link : {"logit", "probit"}
    nagq : int
        Quadrature nodes for the random intercept: 1 = Laplace approximation (clmm's default),
        > 1 = adaptive Gauss-Hermite quadrature with that many nodes (clmm's ``nAGQ``).
        Ignored without ``groups``.
    missing : {"drop", "raise"}
        Rows with a missing value in a used column are dropped (default; the count is in
        ``.n_dropped`` and the summary) or raise a ValueError.
    max_iter : int
        Newton (clm) or L-BFGS (clmm) iterations before giving up with a ValueError.
    confidence : float
        Coverage of the Wald intervals ``ci_low``/``ci_high``, strictly between 0 and 1.

    Returns
    -------
    OrdinalResult
        ``.params`` (thresholds ``'1|2'``, ... first, then coefficients; Wald z statistics),
        ``.vcov``, ``.loglik``, ``.nobs``, ``.aic``, ``.converged``, ``.variance_components``
        (``group, variance, std`` with groups, else None), ``.predict_proba(newdata)``,
        ``.marginal_effects()``, ``.proportional_odds_test()``.

    Raises
    ------
    ColumnTypeError
        (a ``TypeError`` that is also a ``ValueError``) naming the column: a cell holding a
        list, dict, set or tuple; numbers stored as text in a predictor (``"3"``, ``"4.5"``:
        convert with ``pd.to_numeric``, or make them a ``pd.Categorical`` if they are codes);
        a column mixing numbers and text; dates, durations or complex numbers;
        an outcome neither numeric nor an ordered categorical (an ordered categorical's
        category order is the outcome's order).
    InputError
        (a ``ValueError``) naming the column and the first row (index label) holding
        ``inf``/``-inf``; missing values (NaN/NA, nullable dtypes included) are dropped and
        counted instead.
    ValueError
        Outcome categories listed but unobserved; complete/quasi-complete separation; rank-deficient design; no convergence;
        missing values with ``missing="raise"``.

    Notes
    -----
    The model is fitted on centred, scaled and decorrelated design columns and the estimates,
    standard errors and ``.vcov`` are mapped back exactly (a linear reparametrisation, under
    which the maximum-likelihood fit is the same): a predictor in epoch seconds or multiplied
    by 1e6 gives the same fit as a well-scaled one (tests/test_models_bad_inputs.py, to 1e-8
    relative). With ``groups`` and a single row per group the fit goes ahead with a note, as
    ``clmm`` warns ("no. random effects >= no. observations").

    Parametrisation as R's ``ordinal``: P(Y <= j) = F(theta_j - x'beta - u), so positive
    coefficients shift ratings up. The outcome's levels are the ordered categories or the
    sorted distinct numeric values (named like R: ``'1'``, ``'2'``...).

    Validation (tests/test_models_ordinal.py, R 4.2.2, ordinal 2022.11.16):
    ``clm(rating ~ temp + contact, data = wine)`` with logit and probit links,
    ``clm(rating ~ temp * contact)``, ``nominal_test``, ``predict(type = "prob")``, and
    ``clmm(rating ~ temp + contact + (1 | judge))`` with Laplace and ``nAGQ = 10``, plus the same
    models on a simulated 2,000-row service data set: estimates, standard errors and
    log-likelihoods agree to 1e-4 (clm) and 1e-3 (clmm).
    """
    check_option("link", link, LINKS)
    check_number("nagq", nagq, low=1, high=100, integer=True)
    check_number("max_iter", max_iter, low=1, integer=True)
    check_confidence(confidence)
    if groups is not None:
        check_type("groups", groups, str, what="a column name")
    outcome, _ = split_formula(formula)
    design = build_design(data, formula, groups=groups, missing=missing, collapse=True)
    y, labels = _outcome_levels(design.y, outcome)
    X = design.X.to_numpy(dtype=float)
    columns = list(design.X.columns)
    lk = _Link(link)
    J = len(labels)
    J1 = J - 1
    w = design.weights
    # Fit on centred and scaled columns (thresholds absorb the centring): an exact affine
    # reparametrisation, mapped back below with its Jacobian T (estimates T phi, covariance
    # T V T'), so that a predictor in epoch seconds or x 1e6 is as easy to fit as any other.
    scaling = standardize(X, weights=w)
    Xd = scaling.apply(X)
    check_full_rank(design.X, standardized=Xd)
    scaling, Xs = scaling.whitened(Xd, weights=w)
    A = np.eye(X.shape[1]) if scaling.A is None else scaling.A
    T = scaling.jacobian(n_thresholds=J1)
    phi_s, ll, grad, hess, n_iter = _fit_clm_arrays(Xs, y, w, J, lk, max_iter=max_iter,
                                                    column_names=columns, diagnose_on=(Xd, A))
    try:
        vc_s = np.linalg.inv(-hess)
    except np.linalg.LinAlgError:
        vc_s = np.full_like(hess, np.nan)
    if X.shape[1]:
        # judged per column, on the centred and scaled (not decorrelated) columns
        vb = A @ vc_s[J1:, J1:] @ A.T
        _separation_check(A @ phi_s[J1:], np.sqrt(np.clip(np.diag(vb), 0, None)), Xd, columns, w)
    phi, vc = T @ phi_s, T @ vc_s @ T.T
    tnames = [f"{labels[j]}|{labels[j + 1]}" for j in range(J1)]
    terms = tnames + columns
    common = dict(levels=labels, link=lk, design=design, columns=columns, nobs=design.n_used,
                  n_dropped=design.n_dropped, formula=formula, model_data=(X, y, w),
                  scaling=scaling)
    if groups is None:
        return OrdinalResult(
            thresholds=phi[:J1], beta=phi[J1:],
            params=tidy_params(terms, phi, vc, confidence=confidence),
            vcov=pd.DataFrame(vc, index=terms, columns=terms), loglik=ll,
            n_params=len(phi), converged=True, method="clm (Newton-Raphson)", **common)

    G = len(design.group_labels)
    if G < 2:
        raise ValueError(f"`groups` column {groups!r} has a single group in the used rows; a "
                         f"random intercept needs at least two groups.")
    notes = []
    if G >= design.n_used and np.all(w == 1):
        # ordinal::clmm's checkRanef (default "warn"): the group variance is barely identified
        notes.append(f"no. random effects (={G}) >= no. observations (={design.n_used}): every "
                     f"{groups!r} group has a single row, so its variance is hardly identified")
    model = _CLMM(Xs, y, w, design.groups, J, G, lk, nagq)
    start = np.concatenate([phi_s, [math.log(0.5)]])
    psi_s, llm, H, converged, gpsi = _fit_clmm(model, start, max_iter=max(max_iter, 500))
    if not converged:
        raise ValueError(
            f"The ordinal mixed model did not converge (largest gradient "
            f"{np.max(np.abs(gpsi)):.2g}); increase `max_iter`, simplify the formula, or check "
            f"that {groups!r} has several rows per group."
        )
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        cov = np.full_like(H, np.nan)
    T = scaling.jacobian(n_thresholds=J1, n_extra=1)
    psi, cov = T @ psi_s, T @ cov @ T.T
    vc = cov[:-1, :-1]
    sigma = math.exp(psi[-1])
    # log_std_error: SE of log(sigma) from the inverse Hessian, the scale clmm optimises on (R's
    # sqrt(diag(vcov(fit)))["ST1"]); gives Wald intervals for sigma and the ICC that stay positive.
    vcomp = pd.DataFrame({"group": [groups], "variance": [sigma ** 2], "std": [sigma],
                          "log_std_error": [math.sqrt(cov[-1, -1]) if cov[-1, -1] > 0 else math.nan]})
    method = "clmm (Laplace)" if nagq == 1 else f"clmm (adaptive Gauss-Hermite, nagq={nagq})"
    return OrdinalResult(
        thresholds=psi[:J1], beta=psi[J1:-1],
        params=tidy_params(terms, psi[:-1], vc, confidence=confidence),
        vcov=pd.DataFrame(vc, index=terms, columns=terms), loglik=llm,
        n_params=len(psi), converged=converged, method=method, variance_components=vcomp,
        n_groups=G, notes=notes, **common)
