"""Corrected estimates for misclassified codes: MC-SIMEX around the package's model fitters.

Misclassification of a coded behaviour shrinks its effect towards zero. MC-SIMEX (Küchenhoff,
Mwalili & Lesaffre 2006, Biometrics 62:85-96) measures how the estimates move when *more*
misclassification is added -- each code re-misclassified with its matrix to the power ``lambda``
(total error ``Pi ** (1 + lambda)``) -- and extrapolates that curve back to ``lambda = -1``, no
error. :func:`mcsimex` does this for any model :mod:`svcresearch.modelframe` builds (ordinal
mixed, logistic, linear), several codes at once, each encounter with its own matrix: one
coder's (:attr:`CodeErrors.matrix`) or the consensus of two coders' (its MAP rule's matrix),
since coder B's codes are used where they exist (:func:`svcresearch.misclassification.consensus_codes`).
:func:`corrected_estimates` puts naive and corrected estimates side by side in one tidy table.

Why MC-SIMEX and not a likelihood with the true behaviour latent: with a dozen misclassified
codes (and their interactions) the latent-class likelihood of an ordinal *mixed* model sums over
every combination of true codes per encounter inside the random-effect integral -- 2^11 x 3
terms per encounter -- which no fitter here offers; MC-SIMEX needs only the existing fitters and
the matrices. Its price is the extrapolant: the quadratic (R ``simex``'s default) is exact for
neither model, so the correction is approximate (slightly conservative for large error rates);
the recovery study in the closing report and ``tests/test_misclassification.py`` check it.

Why two modules: :mod:`svcresearch.misclassification` is the measurement model (estimable and
reportable without any outcome model, used for the consensus and for reliability notes); this
module is one correction method that consumes it. Another method (regression calibration, a
latent-class likelihood) would sit next to this one and use the same matrices.

Variance (choice and why)
-------------------------
``Var = V_jackknife + V_mc + V_pi``:

* ``V_jackknife`` -- the SIMEX jackknife variance (Stefanski & Cook 1995; Küchenhoff et al. 2006
  §3.2): at each ``lambda`` the mean model covariance minus the covariance of the simulated
  estimates, extrapolated to -1 like the estimates. It treats ``Pi`` as known.
* ``V_mc`` -- the Monte Carlo error of the extrapolated mean itself (finite ``n_sim``): the
  extrapolation weights squared times each ``lambda``'s covariance / ``n_sim``.
* ``V_pi`` -- the uncertainty of the estimated matrices, from the bootstrap over the reliability
  subsample that :func:`~svcresearch.misclassification.estimate_misclassification` already ran.
  Re-running MC-SIMEX once per bootstrap matrix would cost ``n_boot`` times the correction (hours
  for an ordinal mixed model), so the bootstrap enters by the delta method: within the family
  ``Pi ** c``, using ``Pi ** c`` instead of ``Pi`` moves the corrected estimate from ``G(-1)`` to
  ``G(-c)`` (``G`` the fitted extrapolant), so its derivative is ``-G'(-1)``; each bootstrap
  matrix is summarised by its error amount relative to the estimate, ``c = log det Pi* / log det
  Pi`` (``det(Pi ** c) = det(Pi) ** c``). A coefficient uses the ``c`` of its own codes (the
  mean over the codes of an interaction; all codes for a term that is not a code).
  The approximation assumes a coefficient moves mostly with its own codes' error; with error
  rates of a few per cent this term is a small part of the total (reported per term).

The jackknife variance can come out below the naive variance for weakly affected terms; it is
then raised to the naive variance (the corrected estimator is never reported as more precise than
the naive one).

Assumptions: those of the misclassification model (exchangeable, conditionally independent
coders; errors independent of the outcome = non-differential), a misclassification matrix with
positive eigenvalues (error rates below one half), and that the extrapolant describes the curve.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch import modelframe as mfm
from svcresearch._validation import check_confidence, check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED
from svcresearch.misclassification import (Misclassification, consensus_codes, estimate_misclassification,
                                           matrix_power)

__all__ = ["SimexResult", "mcsimex", "corrected_estimates", "correction_note", "EXTRAPOLATIONS", "LAMBDAS"]

EXTRAPOLATIONS = ("quadratic", "linear")
#: R simex's default grid (Küchenhoff et al. 2006 use 0.5, 1, 1.5, 2).
LAMBDAS = (0.5, 1.0, 1.5, 2.0)


# ----------------------------------------------------------------------------------------------
# Refitting a model frame on re-misclassified codes
# ----------------------------------------------------------------------------------------------
def _design(frame: mfm.ModelFrame, data: pd.DataFrame) -> np.ndarray:
    cols = []
    for t in frame.terms:
        parts = frame.columns[t].split(":")
        v = data[parts[0]].to_numpy(dtype=float)
        for p in parts[1:]:
            v = v * data[p].to_numpy(dtype=float)
        cols.append(v)
    return np.column_stack(cols) if cols else np.zeros((len(data), 0))


class _Refitter:
    """Refits one model frame with new values of its code columns; returns coefficients (+ vcov).

    Ordinal outcomes use the cumulative-link likelihoods of :mod:`svcresearch.models.ordinal`
    started at the naive solution (Newton with the naive Hessian for the mixed model, exact
    Newton for ``clm``) -- the same maximum as :func:`~svcresearch.models.fit_ordinal`, checked
    in the tests, without its polishing and standard errors when they are not needed; other
    families call :meth:`ModelFrame.fit`.
    """

    def __init__(self, frame: mfm.ModelFrame, naive: mfm.ModelFit, *, link: str, nagq: int):
        from svcresearch.models import ordinal as O

        self.O = O
        self.frame = frame
        self.link, self.nagq = link, nagq
        self.fast = frame.family == "ordinal"
        params = naive.params().set_index("term")
        self.beta0 = params.loc[frame.terms, "estimate"].to_numpy(dtype=float)
        if not self.fast:
            return
        res = naive.result
        self.y, self.levels = O._outcome_levels(frame.data[frame.outcome_column], frame.outcome_column)
        self.J = len(self.levels)
        self.w = np.ones(len(self.y))
        self.lk = O._Link(link)
        self.mixed = frame.groups is not None
        if self.mixed:
            self.g, glabels = pd.factorize(frame.data[frame.groups])
            self.G = len(glabels)
            sigma = float(res.variance_components["std"].iloc[0])
            self.psi0 = np.concatenate([np.asarray(res.thresholds, float), self.beta0, [math.log(sigma)]])
            model = self._model(_design(frame, frame.data))
            self.H0 = O._num_hessian(model, self.psi0)
            self.H0_inv = np.linalg.inv(self.H0)
        else:
            self.phi0 = np.concatenate([np.asarray(res.thresholds, float), self.beta0])

    def _model(self, X):
        return self.O._CLMM(X, self.y, self.w, self.g, self.J, self.G, self.lk, self.nagq)

    def fit(self, data: pd.DataFrame, *, variance: bool) -> tuple[np.ndarray, np.ndarray | None]:
        k = len(self.frame.terms)
        if not self.fast:
            fit = replace(self.frame, data=data).fit(link=self.link, nagq=self.nagq)
            if fit.result is None:
                raise ValueError(fit.problem)
            p = fit.params().set_index("term")
            est = p.loc[self.frame.terms, "estimate"].to_numpy(dtype=float)
            names = [self.frame.columns[t] for t in self.frame.terms]
            vc = fit.result.vcov
            cov = vc.loc[names, names].to_numpy(dtype=float) if variance else None
            return est, cov
        X = _design(self.frame, data)
        J1 = self.J - 1
        if not self.mixed:
            phi, _, _, hess, _ = self.O._fit_clm_arrays(X, self.y, self.w, self.J, self.lk, max_iter=100,
                                                        column_names=list(self.frame.terms), start=self.phi0)
            cov = np.linalg.inv(-hess)[J1:, J1:] if variance else None
            return phi[J1:], cov
        model = self._model(X)
        psi = self.psi0.copy()
        val = model.value_grad(psi, grad=False)[0]
        converged = False
        for _ in range(200):
            _, g = model.value_grad(psi)
            step = self.H0_inv @ g
            t = 1.0
            while t > 1e-6:
                cand = psi - t * step
                cv = model.value_grad(cand, grad=False)[0]
                if np.isfinite(cv) and cv <= val + 1e-12:
                    break
                t *= 0.5
            psi, val = cand, cv
            if np.max(np.abs(t * step)) < 1e-7:
                converged = True
                break
        if not converged:  # fall back to the fitter's optimiser
            psi, _, _, ok, _ = self.O._fit_clmm(model, self.psi0, max_iter=1000)
            if not ok:
                raise ValueError("a re-misclassified data set did not converge")
        cov = None
        if variance:
            H = self.O._num_hessian(model, psi)
            cov = np.linalg.inv(H)[J1:J1 + k, J1:J1 + k]
        return psi[J1:J1 + k], cov


@dataclass
class _Code:
    """A code in the model: its columns in the frame, current levels and per-row matrices."""

    name: str
    levels: list
    current: np.ndarray            # level index per frame row (-1: not observed, left alone)
    n_codes: np.ndarray            # matrix per row: 1 = one coder, k = consensus of k
    columns: dict                  # level index -> internal column (binary: {1: col}; dummies)
    errors: Any                    # CodeErrors


def _codes_in_frame(frame: mfm.ModelFrame, data: pd.DataFrame, misclassification: Misclassification) -> list[_Code]:
    rows = data.loc[frame.data.index]
    variables = []
    for t in frame.terms:
        for part in mfm.split_term(t):
            base = part.split("[")[0]
            if base not in variables:
                variables.append(base)
    out = []
    for v in variables:
        if v not in misclassification or v not in rows.columns:
            continue
        ce = misclassification[v]
        pos = {lv: i for i, lv in enumerate(ce.levels)}
        col = rows[v]
        if pd.api.types.is_bool_dtype(col.dtype) or str(col.dtype) == "boolean":
            cur = col.astype("boolean").map({False: 0, True: ce.q - 1}).astype("Float64")
        else:
            cur = col.astype("string").map(pos).astype("Float64")
        n_col = f"{v}_n_codes"
        if n_col in rows.columns:
            n_codes = rows[n_col].to_numpy(dtype=int)
        else:
            status = f"{v}_status"
            obs = rows[status].astype("string").eq("observed").fillna(False).to_numpy() if status in rows.columns \
                else col.notna().to_numpy()
            n_codes = obs.astype(int)
        current = cur.fillna(-1).to_numpy(dtype=int)
        current = np.where(n_codes > 0, current, -1)
        columns = {}
        if ce.q == 2 and v in frame.columns:
            columns = {1: frame.columns[v]}
        else:
            for i, lv in enumerate(ce.levels[1:], start=1):
                key = f"{v}[{lv}]"
                if key in frame.columns:
                    columns[i] = frame.columns[key]
        if not columns:
            continue
        out.append(_Code(name=v, levels=ce.levels, current=current, n_codes=n_codes, columns=columns, errors=ce))
    return out


def _remisclassify(code: _Code, lam: float, rng: np.random.Generator, cache: dict) -> np.ndarray:
    new = code.current.copy()
    for k in np.unique(code.n_codes[code.current >= 0]):
        key = (code.name, int(k), lam)
        if key not in cache:
            cache[key] = np.cumsum(matrix_power(code.errors.matrix_for(int(k)), lam), axis=1)
        cum = cache[key]
        sel = np.flatnonzero((code.n_codes == k) & (code.current >= 0))
        u = rng.random(len(sel))
        new[sel] = np.minimum((u[:, None] > cum[code.current[sel]]).sum(axis=1), code.errors.q - 1)
    return new


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass
class SimexResult:
    """MC-SIMEX corrected coefficients of one model.

    Attributes
    ----------
    params : DataFrame
        ``term, estimate, std_error, statistic, p_value, ci_low, ci_high, estimate_naive,
        std_error_naive, se_jackknife, se_montecarlo, se_misclassification, codes`` (readable terms).
    vcov : DataFrame
        Covariance of the corrected coefficients (readable terms).
    curve : DataFrame
        ``lambda, term, estimate`` (lambda 0 = naive on the consensus codes; the means of the
        simulated fits otherwise) -- the SIMEX plot.
    frame : ModelFrame
        The model frame (consensus codes).
    naive : ModelFit
        The fit at lambda 0.
    """

    params: pd.DataFrame
    vcov: pd.DataFrame
    curve: pd.DataFrame
    frame: mfm.ModelFrame
    naive: mfm.ModelFit
    settings: dict = field(default_factory=dict)

    def contrast(self, weights: Mapping[str, float], *, label: str | None = None,
                 confidence: float = 0.95) -> pd.DataFrame:
        """Wald test of ``sum(w * b)`` over corrected coefficients (readable terms)."""
        check_confidence(confidence)
        est = self.params.set_index("term")["estimate"]
        unknown = [t for t in weights if t not in est.index]
        if unknown:
            raise ValueError(f"`weights` names {unknown!r}, not terms of the corrected model {list(est.index)!r}.")
        w = pd.Series(0.0, index=est.index)
        for t, x in weights.items():
            w[t] = float(x)
        value = float(w @ est)
        se = float(math.sqrt(max(0.0, w.to_numpy() @ self.vcov.to_numpy() @ w.to_numpy())))
        z = stats.norm.ppf(0.5 + confidence / 2)
        stat = value / se if se > 0 else math.nan
        return pd.DataFrame([{"contrast": label or " + ".join(f"{x:g}*{t}" for t, x in weights.items()),
                              "estimate": value, "std_error": se, "statistic": stat,
                              "p_value": 2 * stats.norm.sf(abs(stat)) if se > 0 else math.nan,
                              "ci_low": value - z * se, "ci_high": value + z * se}])


def _extrapolation_weights(lambdas: np.ndarray, method: str, at: float = -1.0) -> tuple[np.ndarray, np.ndarray]:
    """Weights a with G(at) = a @ means, and d with G'(at) = d @ means (least-squares polynomial)."""
    deg = 2 if method == "quadratic" else 1
    X = np.vander(lambdas, deg + 1, increasing=True)
    pinv = np.linalg.pinv(X)
    x_at = np.array([at ** p for p in range(deg + 1)])
    dx_at = np.array([p * at ** (p - 1) if p else 0.0 for p in range(deg + 1)])
    return x_at @ pinv, dx_at @ pinv


def mcsimex(data: pd.DataFrame, *, codebook, outcome: str, terms: Sequence[str], misclassification: Misclassification,
            coding_long: pd.DataFrame | None = None, groups: str | None = None, where: Mapping | None = None,
            lambdas: Sequence[float] = LAMBDAS, n_sim: int = 50, extrapolation: str = "quadratic",
            n_variance: int = 5, confidence: float = 0.95, link: str = "logit", nagq: int = 1,
            seed: Any = DEFAULT_SEED) -> SimexResult:
    """MC-SIMEX corrected coefficients of one model (Küchenhoff, Mwalili & Lesaffre 2006).

    Parameters
    ----------
    data : DataFrame
        Processed encounters.
    codebook : Codebook
    outcome, terms, groups, where
        The model, as in :func:`svcresearch.modelframe.model_frame` (a hypotheses file's
        ``model:``).
    misclassification : Misclassification
        Matrices of the codes (:func:`~svcresearch.misclassification.estimate_misclassification`);
        every model variable found there is corrected, the others are taken as error-free.
    coding_long : DataFrame, optional
        Every judgement: with it, encounters coded twice use the coders' consensus and its matrix
        (:func:`~svcresearch.misclassification.consensus_codes`); without it, ``data``'s codes
        with the one-coder matrix.
    lambdas : sequence of float
        Added misclassification levels (> 0); lambda 0 is the naive fit.
    n_sim : int
        Simulated data sets per lambda.
    extrapolation : {"quadratic", "linear"}
        Extrapolant in lambda (R simex's ``fitting.method``).
    n_variance : int
        Simulated fits per lambda whose model covariance enters the jackknife variance (the
        covariance barely varies between fits; each costs a numerical Hessian for an ordinal
        mixed model). All fits when larger than ``n_sim``.
    confidence : float
    link, nagq
        As :meth:`ModelFrame.fit`.
    seed : int or SeedSequence
        Same seed, same result.

    Returns
    -------
    SimexResult

    Notes
    -----
    Validated in ``tests/test_misclassification.py``: for a linear model with one misclassified
    binary covariate the quadratic MC-SIMEX estimate matches its closed form (the SIMEX curve
    of least squares with a symmetric error is known exactly) and the method-of-moments
    correction; the fast refit equals :func:`~svcresearch.models.fit_ordinal`; determinism with
    a seed. Recovery over replicated default studies: see ``benchmarks/bench_simex.py``.
    """
    check_dataframe("data", data)
    check_type("misclassification", misclassification, Misclassification,
               what="a Misclassification (estimate_misclassification)")
    check_option("extrapolation", extrapolation, EXTRAPOLATIONS)
    check_number("n_sim", n_sim, low=2, integer=True)
    check_number("n_variance", n_variance, low=2, integer=True)
    check_confidence(confidence)
    lam = np.asarray(list(lambdas), dtype=float)
    if lam.size < 2 or np.any(lam <= 0) or len(set(lam.tolist())) != lam.size:
        raise ValueError(f"`lambdas` must be at least two distinct positive numbers; got {list(lambdas)!r}.")
    if extrapolation == "quadratic" and lam.size < 2:
        raise ValueError("`lambdas` needs at least two values for a quadratic extrapolant (with lambda 0).")
    work = consensus_codes(data, coding_long, misclassification=misclassification) if coding_long is not None \
        else data
    frame = mfm.model_frame(work, codebook=codebook, outcome=outcome, terms=terms, groups=groups, where=where)
    naive = frame.fit(link=link, nagq=nagq, confidence=confidence)
    if naive.result is None:
        raise ValueError(f"the model cannot be fitted: {naive.problem}")
    codes = _codes_in_frame(frame, work, misclassification)
    terms_ = list(frame.terms)
    k = len(terms_)
    refit = _Refitter(frame, naive, link=link, nagq=nagq)
    names = [frame.columns[t] for t in terms_]
    V0 = naive.result.vcov.loc[names, names].to_numpy(dtype=float)
    beta0 = refit.beta0
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(root)
    cache: dict = {}
    means, tau, s2 = [beta0], [V0], [np.zeros((k, k))]
    for lv in lam:
        ests, covs = [], []
        for b in range(n_sim):
            d = frame.data.copy()
            for code in codes:
                new = _remisclassify(code, float(lv), rng, cache)
                rows = code.current >= 0
                for level, col in code.columns.items():
                    vals = d[col].to_numpy(dtype=float).copy()
                    vals[rows] = (new[rows] == level).astype(float)
                    d[col] = vals
            want_var = b < n_variance
            est, cov = refit.fit(d, variance=want_var)
            ests.append(est)
            if cov is not None:
                covs.append(cov)
        E = np.asarray(ests)
        means.append(E.mean(axis=0))
        tau.append(np.mean(covs, axis=0))
        s2.append(np.cov(E, rowvar=False).reshape(k, k))
    grid = np.concatenate([[0.0], lam])
    a, dvec = _extrapolation_weights(grid, extrapolation)
    M = np.asarray(means)                               # (L, k)
    est = a @ M
    slope = dvec @ M                                    # G'(-1)
    D = np.asarray(tau) - np.asarray(s2)                # (L, k, k)
    V_jack = np.tensordot(a, D, axes=1)
    V_mc = np.tensordot(a[1:] ** 2, np.asarray(s2[1:]) / n_sim, axes=1)
    # uncertainty of the matrices: delta method through the error amount c (see module docstring)
    code_names = [c.name for c in codes]
    V_pi = np.zeros((k, k))
    if codes and all(len(c.errors.boot_matrix) for c in codes):
        cdraws = {}
        for c in codes:
            ld = math.log(np.linalg.det(c.errors.matrix))
            dets = np.linalg.det(c.errors.boot_matrix)
            cdraws[c.name] = np.log(np.clip(dets, 1e-12, None)) / ld if ld < 0 else np.ones(len(dets))
        n_b = min(len(v) for v in cdraws.values())
        delta = np.zeros((n_b, k))
        for j, t in enumerate(terms_):
            own = [p.split("[")[0] for p in mfm.split_term(t)]
            use = [c for c in code_names if c in own] or code_names
            cbar = np.mean([cdraws[c][:n_b] for c in use], axis=0)
            delta[:, j] = -slope[j] * (cbar - 1.0)
        V_pi = np.cov(delta, rowvar=False).reshape(k, k)
    V = V_jack + V_mc + V_pi
    V = 0.5 * (V + V.T)
    vals, vecs = np.linalg.eigh(V)
    V = (vecs * np.clip(vals, 0, None)) @ vecs.T
    naive_var = np.diag(V0)
    scale = np.sqrt(np.maximum(1.0, naive_var / np.clip(np.diag(V), 1e-300, None)))
    V = V * scale[:, None] * scale[None, :]
    se = np.sqrt(np.diag(V))
    z = stats.norm.ppf(0.5 + confidence / 2)
    stat = est / se
    term_codes = []
    for t in terms_:
        own = [p.split("[")[0] for p in mfm.split_term(t)]
        term_codes.append(", ".join(c for c in code_names if c in own))
    params = pd.DataFrame({
        "term": terms_, "estimate": est, "std_error": se, "statistic": stat,
        "p_value": 2 * stats.norm.sf(np.abs(stat)), "ci_low": est - z * se, "ci_high": est + z * se,
        "estimate_naive": beta0, "std_error_naive": np.sqrt(naive_var),
        "se_jackknife": np.sqrt(np.clip(np.diag(V_jack), 0, None)), "se_montecarlo": np.sqrt(np.diag(V_mc)),
        "se_misclassification": np.sqrt(np.clip(np.diag(V_pi), 0, None)), "codes": term_codes})
    curve = pd.DataFrame([{"lambda": g, "term": t, "estimate": M[i, j]} for i, g in enumerate(grid)
                          for j, t in enumerate(terms_)])
    return SimexResult(params=params, vcov=pd.DataFrame(V, index=terms_, columns=terms_), curve=curve,
                       frame=frame, naive=naive,
                       settings={"lambdas": lam.tolist(), "n_sim": n_sim, "extrapolation": extrapolation,
                                 "codes": code_names, "consensus": coding_long is not None})


# ----------------------------------------------------------------------------------------------
# The side-by-side table
# ----------------------------------------------------------------------------------------------
TABLE_COLUMNS = ["term", "label", "estimate_naive", "std_error_naive", "ci_low_naive", "ci_high_naive",
                 "p_value_naive", "estimate_corrected", "std_error_corrected", "ci_low_corrected",
                 "ci_high_corrected", "p_value_corrected", "codes", "reliability", "error_rate", "attenuation"]


def corrected_estimates(data: pd.DataFrame, coding_long: pd.DataFrame, *, codebook, model, where: Mapping | None = None,
                        misclassification: Misclassification | None = None, validation: pd.DataFrame | None = None,
                        lambdas: Sequence[float] = LAMBDAS, n_sim: int = 50, extrapolation: str = "quadratic",
                        confidence: float = 0.95, link: str = "logit", nagq: int = 1,
                        seed: Any = DEFAULT_SEED) -> pd.DataFrame:
    """Naive and misclassification-corrected coefficients of a study's model, side by side.

    Parameters
    ----------
    data : DataFrame
        Processed encounters (``encounters.parquet``); the naive columns are fitted on them as
        cleaned (the primary coder's codes), exactly as the main analysis.
    coding_long : DataFrame
        Every judgement (``coding_long.parquet``): the reliability subsample and coder B's codes.
    codebook : Codebook
    model : ModelSpec, Hypotheses or path
        The model (a hypotheses file's ``model:``, or the file itself).
    where : dict, optional
        Rows of the model (``{variable, op, value}``).
    misclassification : Misclassification, optional
        Default: :func:`~svcresearch.misclassification.estimate_misclassification` on
        ``coding_long`` (symmetric errors; ``general`` for codes in ``validation``).
    validation : DataFrame, optional
        Validated true levels (``encounter_id, behaviour, value``).
    lambdas, n_sim, extrapolation, confidence, link, nagq, seed
        As :func:`mcsimex`.

    Returns
    -------
    DataFrame
        One row per coefficient: ``term, label, estimate_naive, std_error_naive, ci_low_naive,
        ci_high_naive, p_value_naive, estimate_corrected, std_error_corrected,
        ci_low_corrected, ci_high_corrected, p_value_corrected, codes, reliability`` (Cohen's
        kappa of the term's code), ``error_rate`` (one coder), ``attenuation`` (expected factor
        in a simple model). ``attrs["note"]`` is :func:`correction_note`; ``attrs["simex"]``
        the :class:`SimexResult`; ``attrs["misclassification"]`` the matrices.
    """
    from svcresearch.hypotheses import Hypotheses, ModelSpec, load_hypotheses
    from svcresearch.labels import label_term
    from pathlib import Path

    check_dataframe("data", data)
    check_dataframe("coding_long", coding_long, columns=["encounter_id", "coder", "behaviour", "value"])
    if isinstance(model, (str, Path)):
        model = load_hypotheses(model, codebook=codebook)
    if isinstance(model, Hypotheses):
        model = model.model
    check_type("model", model, ModelSpec, what="a ModelSpec, Hypotheses or the path of a hypotheses file")
    if misclassification is None:
        structure = "symmetric"
        if validation is not None:
            structure = {b: "general" for b in validation["behaviour"].astype(str).unique()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            misclassification = estimate_misclassification(coding_long, codebook=codebook, validation=validation,
                                                           structure=structure, seed=seed)
    sim = mcsimex(data, codebook=codebook, outcome=model.outcome, terms=list(model.terms), groups=model.groups,
                  where=where, misclassification=misclassification, coding_long=coding_long, lambdas=lambdas,
                  n_sim=n_sim, extrapolation=extrapolation, confidence=confidence, link=link, nagq=nagq, seed=seed)
    frame = mfm.model_frame(data, codebook=codebook, outcome=model.outcome, terms=list(model.terms),
                            groups=model.groups, where=where)
    naive = frame.fit(link=link, nagq=nagq, confidence=confidence)
    if naive.result is None:
        raise ValueError(f"the model cannot be fitted: {naive.problem}")
    nv = naive.coefficients().set_index("term")
    summary = misclassification.summary().set_index("behaviour")
    rows = []
    for _, r in sim.params.iterrows():
        t = r["term"]
        codes = [c for c in r["codes"].split(", ") if c]
        rel = [summary.loc[c] for c in codes if c in summary.index]
        n = nv.loc[t] if t in nv.index else None
        rows.append({
            "term": t, "label": label_term(t, frame.labels),
            "estimate_naive": n["estimate"] if n is not None else math.nan,
            "std_error_naive": n["std_error"] if n is not None else math.nan,
            "ci_low_naive": n["ci_low"] if n is not None else math.nan,
            "ci_high_naive": n["ci_high"] if n is not None else math.nan,
            "p_value_naive": n["p_value"] if n is not None else math.nan,
            "estimate_corrected": r["estimate"], "std_error_corrected": r["std_error"],
            "ci_low_corrected": r["ci_low"], "ci_high_corrected": r["ci_high"], "p_value_corrected": r["p_value"],
            "codes": r["codes"],
            "reliability": min(x["kappa"] for x in rel) if rel else math.nan,
            "error_rate": max(x["error_rate"] for x in rel) if rel else math.nan,
            "attenuation": min(x["attenuation"] for x in rel) if rel else math.nan,
        })
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table.attrs["simex"] = sim
    table.attrs["misclassification"] = misclassification
    table.attrs["note"] = correction_note(table, misclassification=misclassification, settings=sim.settings)
    return table


def correction_note(table: pd.DataFrame, *, misclassification: Misclassification, settings: Mapping | None = None) -> str:
    """Sentences under a corrected table: each code's reliability and expected shrinkage, the method.

    Parameters
    ----------
    table : DataFrame
        :func:`corrected_estimates` (uses ``codes``, ``estimate_naive``, ``estimate_corrected``).
    misclassification : Misclassification
    settings : mapping, optional
        :attr:`SimexResult.settings` (lambdas, simulations, extrapolant).
    """
    check_dataframe("table", table, columns=["codes", "estimate_naive", "estimate_corrected"])
    summary = misclassification.summary().set_index("behaviour")
    used = sorted({c for s in table["codes"] for c in str(s).split(", ") if c})
    parts = []
    for c in used:
        if c not in summary.index:
            continue
        r = summary.loc[c]
        parts.append(f"{c.replace('_', ' ')} κ = {r['kappa']:.2f}, error {r['error_rate']:.1%} "
                     f"(shrinkage ≈ {1 - r['attenuation']:.0%})")
    s = dict(settings or {})
    method = (f"MC-SIMEX (Küchenhoff, Mwalili & Lesaffre 2006; {s.get('extrapolation', 'quadratic')} extrapolant, "
              f"lambda {', '.join(f'{x:g}' for x in s.get('lambdas', LAMBDAS))}, {s.get('n_sim', '')} simulations each"
              f"{'; consensus of both coders where two coded' if s.get('consensus', True) else ''})")
    text = (f"Corrected estimates undo the shrinkage that coder error causes, using each code's misclassification "
            f"matrix from the double-coded encounters: {method}. ")
    if parts:
        text += "Codes (Cohen's κ, one coder's error rate, expected shrinkage in a simple model): " + "; ".join(parts) + ". "
    text += ("Assumes exchangeable coders whose errors are independent of each other and of the outcome "
             "(non-differential); intervals include the uncertainty of the matrices. The naive column is the "
             "pre-registered analysis unless the hypotheses file says `correction: misclassification`.")
    return text


# ----------------------------------------------------------------------------------------------
# Notebook steps
# ----------------------------------------------------------------------------------------------
def study_correction(study, *, n_sim: int = 50, seed: Any = DEFAULT_SEED):
    """Notebook step: the main model's naive and corrected coefficients for a study, or a Note.

    Parameters
    ----------
    study : svcresearch.study.Study
        The active study (:func:`svcresearch.study.current`).
    n_sim : int
        Simulations per lambda.
    seed : int

    Returns
    -------
    DataFrame or Note
        :func:`corrected_estimates` of the hypotheses file's ``model:``; a one-sentence Note
        when the study has no hypotheses file, no double-coded encounters or the model cannot be
        fitted. ``attrs["note"]`` names each code's reliability and expected shrinkage.
    """
    from svcresearch.hypotheses import load_hypotheses

    path = getattr(study, "hypotheses_path", None)
    if path is None:
        return mfm.Note("No correction for coder error: the study names no hypotheses file, so there is no main model.")
    try:
        coding = study.coding_long()
    except (FileNotFoundError, OSError):
        return mfm.Note("No correction for coder error: the study has no coding_long.parquet (no coded judgements).")
    if coding.empty or not coding.groupby(["encounter_id", "behaviour"]).size().gt(1).any():
        return mfm.Note("No correction for coder error: no encounter was coded by two coders, so the codes' "
                        "misclassification cannot be estimated.")
    codebook = study.codebook
    hyp = load_hypotheses(path, codebook=codebook)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return corrected_estimates(study.encounters(), coding, codebook=codebook, model=hyp, n_sim=n_sim,
                                       seed=seed)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return mfm.Note(f"No correction for coder error: {first.rstrip('.')}.")


def describe_correction(result) -> mfm.Note:
    """The note of :func:`study_correction` or a hypotheses table with corrected columns, as a Note."""
    if isinstance(result, mfm.Note):
        return result
    check_dataframe("result", result)
    text = result.attrs.get("note") or result.attrs.get("correction_note")
    return mfm.Note(text or "No corrected estimates in this table (no coding_long was given).")
