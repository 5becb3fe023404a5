"""Coder error as a misclassification model per code, estimated from the double-coded subsample.

Every coded behaviour is a fallible judgement. :func:`estimate_misclassification` turns the
judgements of ``coding_long.parquet`` (one row per judgement) into, per code, the probability
that a coder records level *j* when the true level is *i* -- the misclassification matrix
``Pi[i, j]`` (rows: true level, columns: recorded level) -- with the true prevalence and a
bootstrap interval for every entry. :mod:`svcresearch.simex` uses the matrices to correct the
models (MC-SIMEX); :func:`consensus_codes` uses them to combine two coders' codes into one.

The measurement model (a latent class model)
--------------------------------------------
Each unit (encounter) has one true level ``x`` with probability ``prevalence[x]``. Every coder who
judges it records level ``j`` with probability ``Pi[x, j]``, independently of the other coders
given ``x`` (conditional independence) and with the *same* ``Pi`` for every coder
(**exchangeable coders**). The likelihood of a unit with category counts ``c`` is
``sum_x prevalence[x] * prod_j Pi[x, j] ** c[j]``; a unit with a validated true level (an
adjudicated or video-coded subsample, ``validation=``) contributes ``prevalence[t] * prod_j
Pi[t, j] ** c[j]``. Maximum likelihood by EM on the distinct count patterns.

What two coders identify, and what they do not
----------------------------------------------
Two exchangeable coders give a symmetric 2 x 2 table (yes-yes, one each, no-no): two free
proportions. Prevalence, sensitivity and specificity are three unknowns, so **Se and Sp are not
separately identified from two coders alone** (the table fits any Se within a range, each with
its own Sp and prevalence). ``structure="symmetric"`` therefore adds the constraint that
errors are symmetric, ``Pi[i, j] == Pi[j, i]`` (for a yes/no code: Se == Sp, one error rate
``e``), which identifies the model: disagreement = ``2 e (1 - e)``, so
``e = (1 - sqrt(1 - 2 * disagreement)) / 2`` and prevalence ``(p_yes - e) / (1 - 2 e)`` (the
closed form the tests check). For a code with q levels the symmetric matrix has q(q-1)/2 free
error rates and the pair table q(q+1)/2 - 1 cells, so it is identified as well.
``structure="general"`` (a free matrix: Se and Sp, or every confusion of an ordinal code)
needs a validation source with known true levels and is refused without one.

Assumptions (reported per code by :meth:`Misclassification.summary`)
---------------------------------------------------------------------
* exchangeable coders -- tested with Bowker's symmetry test of the coder-by-coder table
  (``exchangeability_p``; a small p says one coder errs differently, e.g. drifts);
* conditional independence of the coders given the true level (two coders sharing a
  misreading of the same video would make errors look rarer than they are);
* non-differential error: the recorded code depends on the true code only, not on the outcome
  (coders who saw the satisfaction rating would violate it). Not testable from codes alone; the
  study design (coders blind to the survey) has to guarantee it.

Uncertainty: ``n_boot`` nonparametric bootstrap resamples of the reliability subsample (units
resampled with replacement), all fitted at once by a vectorised EM; percentile intervals.
Consensus of two coders: the level with the highest posterior probability given both codes
(the MAP rule, ties to the more prevalent level); its own misclassification matrix follows
from ``Pi`` and the prevalence (:meth:`CodeErrors.consensus_matrix`). For a yes/no code the
consensus has the same ``det(Pi)`` as one coder (``1 - 2e``: two coders who disagree cannot
say who is right), but moves errors onto the rarer level, which reduces attenuation.
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from svcresearch._validation import InputError, check_confidence, check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED

__all__ = ["CodeErrors", "Misclassification", "estimate_misclassification", "consensus_codes",
           "validation_from_columns", "matrix_power", "attenuation", "STRUCTURES"]

STRUCTURES = ("symmetric", "general")
_EM_MAX_ITER = 5000
_EM_TOL = 1e-11


class MisclassificationWarning(UserWarning):
    """A misclassification model is weakly identified or implausible for a code (says why)."""


# ----------------------------------------------------------------------------------------------
# Matrix helpers
# ----------------------------------------------------------------------------------------------
def matrix_power(matrix: np.ndarray, power: float) -> np.ndarray:
    """``Pi ** power`` of a misclassification matrix by its eigen-decomposition.

    Parameters
    ----------
    matrix : array (q, q)
        Row-stochastic misclassification matrix.
    power : float
        Any real power >= 0 (MC-SIMEX uses 0.5 ... 2 and the extrapolation to -1 is implicit).

    Returns
    -------
    array (q, q)
        Row-stochastic matrix. ValueError when an eigenvalue has a real part <= 0 (errors of one
        half or more). Otherwise the principal power (``scipy.linalg.fractional_matrix_power``,
        Schur-based, so also for complex eigenvalues -- a 3-level code whose errors run more one
        way round than the other -- and for nearly defective matrices, where an eigenvector
        route is numerically unreliable). When that power has negative entries (``Pi`` is not
        embeddable, R's ``simex::check.mc.matrix`` fails), the power of the nearest embeddable
        matrix is returned (JLT generator, as ``simex::build.mc.matrix(method = "jlt")``).
        Integer powers are exact products.
    """
    from scipy.linalg import expm, fractional_matrix_power, logm

    M = np.asarray(matrix, dtype=float)
    if float(power).is_integer():
        return np.linalg.matrix_power(M, int(power))
    vals = np.linalg.eigvals(M)
    if np.any(vals.real <= 0):
        raise ValueError(f"the misclassification matrix has eigenvalues {np.round(vals, 4).tolist()}; a "
                         f"fractional power needs eigenvalues with a positive real part (errors below one half).")
    out = np.real(fractional_matrix_power(M, float(power)))
    if out.min() < -1e-8:
        # not embeddable (some fractional power is not a probability matrix): the nearest generator
        # (Jarrow, Lando & Turnbull 1997: negative off-diagonal rates of log(Pi) set to zero), as
        # R's simex::build.mc.matrix(method = "jlt") does
        Q = np.real(logm(M))
        off = np.clip(Q - np.diag(np.diag(Q)), 0.0, None)
        Q = off - np.diag(off.sum(axis=1))
        out = expm(power * Q)
    out = np.clip(out, 0.0, None)
    return out / out.sum(axis=1, keepdims=True)


def attenuation(matrix: np.ndarray, prevalence: np.ndarray) -> np.ndarray:
    """Attenuation factor of each non-reference level's indicator under misclassification.

    For the indicator of level ``l`` (vs all others), with ``Se = Pi[l, l]`` and
    ``Sp = P(recorded != l | true != l)``, a simple linear regression on the recorded
    indicator estimates ``beta * (Se + Sp - 1) * p (1 - p) / (p* (1 - p*))`` (``p`` true and
    ``p*`` recorded share): the classical formula for a misclassified binary covariate (e.g.
    Gustafson 2004, §3.1). Returned for levels 1..q-1 (level 0 is the reference).
    """
    P = np.asarray(matrix, dtype=float)
    pi = np.asarray(prevalence, dtype=float)
    out = []
    for lv in range(1, P.shape[0]):
        p = pi[lv]
        p_star = float(pi @ P[:, lv])
        se = P[lv, lv]
        others = np.arange(P.shape[0]) != lv
        sp = 1.0 - float(pi[others] @ P[others, lv]) / max(1e-300, 1.0 - p)
        denom = p_star * (1.0 - p_star)
        out.append((se + sp - 1.0) * p * (1.0 - p) / denom if denom > 0 else math.nan)
    return np.asarray(out)


def _compositions(k: int, q: int):
    """All count vectors of k judgements over q levels."""
    for cut in itertools.combinations(range(k + q - 1), q - 1):
        prev, out = -1, []
        for c in cut:
            out.append(c - prev - 1)
            prev = c
        out.append(k + q - 1 - prev - 1)
        yield np.asarray(out)


# ----------------------------------------------------------------------------------------------
# Per-code result
# ----------------------------------------------------------------------------------------------
@dataclass
class CodeErrors:
    """The misclassification model of one code.

    Attributes
    ----------
    behaviour : str
    levels : list of str
        Levels in order (the first is the model's reference level).
    prevalence : ndarray (q,)
        Estimated true share of each level among the units of the reliability subsample.
    matrix : ndarray (q, q)
        ``P(recorded j | true i)`` for one coder (rows true, columns recorded).
    boot_matrix, boot_prevalence : ndarray
        Bootstrap replicates (n_boot, q, q) and (n_boot, q).
    structure : {"symmetric", "general"}
    n_double : int
        Units with two or more judgements.
    n_validated : int
        Units with a validated true level.
    kappa : float
        Cohen's kappa of the first two coders on the double-coded units (as in
        :func:`svcresearch.reliability.cohen_kappa`).
    exchangeability_p : float
        Bowker's symmetry test of the first two coders' table (NaN when undefined).
    coders : tuple
        The two coders of that table.
    """

    behaviour: str
    levels: list
    prevalence: np.ndarray
    matrix: np.ndarray
    boot_matrix: np.ndarray
    boot_prevalence: np.ndarray
    structure: str
    n_double: int
    n_validated: int
    kappa: float
    exchangeability_p: float
    coders: tuple = ()
    loglik: float = math.nan

    @property
    def q(self) -> int:
        return len(self.levels)

    def consensus_rule(self, k: int = 2, *, matrix: np.ndarray | None = None,
                       prevalence: np.ndarray | None = None) -> dict[tuple, int]:
        """Level chosen from the category counts of ``k`` judgements (MAP; ties: more prevalent level)."""
        P = self.matrix if matrix is None else matrix
        pi = self.prevalence if prevalence is None else prevalence
        rule = {}
        order = np.argsort(-pi, kind="stable")
        for c in _compositions(k, self.q):
            with np.errstate(divide="ignore"):
                post = np.log(pi) + (c[None, :] * np.log(P)).sum(axis=1)
            best = post.max()
            ties = [lv for lv in order if post[lv] >= best - 1e-12]
            rule[tuple(int(v) for v in c)] = int(ties[0])
        return rule

    def consensus_matrix(self, k: int = 2, *, matrix: np.ndarray | None = None,
                         prevalence: np.ndarray | None = None) -> np.ndarray:
        """Misclassification matrix of the MAP consensus of ``k`` exchangeable coders."""
        P = self.matrix if matrix is None else matrix
        rule = self.consensus_rule(k, matrix=P, prevalence=prevalence)
        out = np.zeros((self.q, self.q))
        for c, level in rule.items():
            c = np.asarray(c)
            coef = math.factorial(k) / np.prod([math.factorial(int(v)) for v in c])
            out[:, level] += coef * np.prod(P ** c[None, :], axis=1)
        return out

    def matrix_for(self, n_codes: int) -> np.ndarray:
        """The matrix of a unit's code: one coder (``n_codes <= 1``) or the consensus of ``n_codes``."""
        return self.matrix if n_codes <= 1 else self.consensus_matrix(int(n_codes))

    def describe(self) -> dict:
        """One summary row (see :meth:`Misclassification.summary`)."""
        lo, hi = (np.nanpercentile(self.boot_matrix, [2.5, 97.5], axis=0) if len(self.boot_matrix)
                  else (np.full_like(self.matrix, np.nan),) * 2)
        err = 1.0 - float(self.prevalence @ np.diag(self.matrix))
        boot_err = 1.0 - np.einsum("bi,bii->b", self.boot_prevalence, self.boot_matrix) \
            if len(self.boot_matrix) else np.array([np.nan])
        C = self.consensus_matrix(2)
        att = attenuation(self.matrix, self.prevalence)
        att_c = attenuation(C, self.prevalence)
        row = {"behaviour": self.behaviour, "levels": " / ".join(map(str, self.levels)),
               "structure": self.structure, "n_double": self.n_double, "n_validated": self.n_validated,
               "kappa": self.kappa, "error_rate": err,
               "error_rate_ci_low": float(np.nanpercentile(boot_err, 2.5)),
               "error_rate_ci_high": float(np.nanpercentile(boot_err, 97.5)),
               "consensus_error_rate": 1.0 - float(self.prevalence @ np.diag(C)),
               "prevalence": "; ".join(f"{lv} {p:.3f}" for lv, p in zip(self.levels, self.prevalence)),
               "sensitivity": math.nan, "sensitivity_ci_low": math.nan, "sensitivity_ci_high": math.nan,
               "specificity": math.nan, "specificity_ci_low": math.nan, "specificity_ci_high": math.nan,
               "attenuation": float(np.nanmin(att)) if att.size else math.nan,
               "attenuation_consensus": float(np.nanmin(att_c)) if att_c.size else math.nan,
               "exchangeability_p": self.exchangeability_p}
        if self.q == 2:
            row |= {"sensitivity": self.matrix[1, 1], "sensitivity_ci_low": lo[1, 1], "sensitivity_ci_high": hi[1, 1],
                    "specificity": self.matrix[0, 0], "specificity_ci_low": lo[0, 0], "specificity_ci_high": hi[0, 0]}
        return row


SUMMARY_COLUMNS = ["behaviour", "levels", "structure", "n_double", "n_validated", "kappa", "error_rate",
                   "error_rate_ci_low", "error_rate_ci_high", "consensus_error_rate", "prevalence", "sensitivity",
                   "sensitivity_ci_low", "sensitivity_ci_high", "specificity", "specificity_ci_low",
                   "specificity_ci_high", "attenuation", "attenuation_consensus", "exchangeability_p"]


@dataclass
class Misclassification:
    """Misclassification models of a study's codes (:func:`estimate_misclassification`)."""

    codes: dict[str, CodeErrors]
    confidence: float = 0.95
    notes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, behaviour: str) -> CodeErrors:
        return self.codes[behaviour]

    def __contains__(self, behaviour: object) -> bool:
        return behaviour in self.codes

    def __iter__(self):
        return iter(self.codes)

    def summary(self) -> pd.DataFrame:
        """One row per code: error rate (with interval), Se/Sp for yes/no codes, consensus error,
        expected attenuation (single coder and consensus), kappa and the exchangeability test.

        ``attenuation`` is the smallest attenuation factor of the code's indicators (1 = none;
        0.85 = a coefficient shrunk by 15% in a simple model); ``n_double`` the units judged by
        two or more coders.
        """
        rows = [c.describe() for c in self.codes.values()]
        out = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
        return out

    def matrices(self) -> pd.DataFrame:
        """Tidy misclassification matrices: ``behaviour, true, recorded, probability, ci_low, ci_high``."""
        alpha = (1 - self.confidence) / 2 * 100
        rows = []
        for b, c in self.codes.items():
            lo = np.nanpercentile(c.boot_matrix, alpha, axis=0) if len(c.boot_matrix) else np.full_like(c.matrix, np.nan)
            hi = np.nanpercentile(c.boot_matrix, 100 - alpha, axis=0) if len(c.boot_matrix) else lo
            for i, t in enumerate(c.levels):
                for j, r in enumerate(c.levels):
                    rows.append({"behaviour": b, "true": t, "recorded": r, "probability": c.matrix[i, j],
                                 "ci_low": lo[i, j], "ci_high": hi[i, j]})
        return pd.DataFrame(rows, columns=["behaviour", "true", "recorded", "probability", "ci_low", "ci_high"])

    def _repr_html_(self) -> str:
        return self.summary().to_html(index=False, float_format=lambda v: f"{v:.3f}")


# ----------------------------------------------------------------------------------------------
# Estimation
# ----------------------------------------------------------------------------------------------
def _em(counts: np.ndarray, truth: np.ndarray, W: np.ndarray, structure: str, start_P: np.ndarray,
        start_pi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EM for B weight vectors at once. counts (n_pat, q), truth (n_pat,) -1 unknown, W (B, n_pat).

    Returns prevalence (B, q), matrices (B, q, q), log-likelihoods (B,).
    """
    B, n_pat = W.shape
    q = counts.shape[1]
    P = np.broadcast_to(start_P, (B, q, q)).copy()
    pi = np.broadcast_to(start_pi, (B, q)).copy()
    known = truth >= 0
    onehot = np.zeros((n_pat, q))
    onehot[known, truth[known]] = 1.0
    pi_old, P_old = pi.copy(), P.copy()
    for _ in range(_EM_MAX_ITER):
        with np.errstate(divide="ignore"):
            logP = np.log(np.clip(P, 1e-300, None))
            lp = np.log(np.clip(pi, 1e-300, None))[:, None, :] + np.einsum("pj,bxj->bpx", counts, logP)
        lp = np.where(known[None, :, None] & (onehot[None] == 0), -np.inf, lp)
        norm = special.logsumexp(lp, axis=2)
        r = np.exp(lp - norm[..., None])                                     # (B, n_pat, q)
        ll = (W * norm).sum(axis=1)
        wr = W[..., None] * r
        pi = wr.sum(axis=1) / W.sum(axis=1, keepdims=True)
        m = np.einsum("bpx,pj->bxj", wr, counts)                            # expected true x recorded
        if structure == "general":
            P = m / np.clip(m.sum(axis=2, keepdims=True), 1e-300, None)
        else:
            P = _symmetric_mstep(m, P)
        change = max(float(np.max(np.abs(pi - pi_old))), float(np.max(np.abs(P - P_old))))
        if change < _EM_TOL:
            break
        pi_old, P_old = pi, P
    return pi, P, ll


def _symmetric_mstep(m: np.ndarray, P: np.ndarray) -> np.ndarray:
    """Maximise sum m_xj log Pi_xj subject to Pi symmetric off the diagonal, rows summing to one.

    Stationarity gives ``s_ij = (m_ij + m_ji) / (m_ii / d_i + m_jj / d_j)`` with ``d_i =
    Pi_ii = 1 - sum_k s_ik``; iterated to a fixed point (closed form for two levels).
    """
    q = m.shape[1]
    off = ~np.eye(q, dtype=bool)
    pair = m + np.swapaxes(m, 1, 2)
    diag = np.einsum("bii->bi", m)
    if q == 2:
        e = pair[:, 0, 1] / np.clip(m.sum(axis=(1, 2)), 1e-300, None)
        out = np.empty_like(P)
        out[:, 0, 0] = out[:, 1, 1] = 1 - e
        out[:, 0, 1] = out[:, 1, 0] = e
        return out
    d = np.einsum("bii->bi", P).copy()
    for _ in range(200):
        denom = diag[:, :, None] / np.clip(d[:, :, None], 1e-12, None) + diag[:, None, :] / np.clip(d[:, None, :], 1e-12, None)
        s = np.where(off[None], pair / np.clip(denom, 1e-300, None), 0.0)
        d_new = np.clip(1.0 - s.sum(axis=2), 1e-9, None)
        if np.max(np.abs(d_new - d)) < 1e-13:
            d = d_new
            break
        d = d_new
    out = s.copy()
    out[:, np.arange(q), np.arange(q)] = d
    return out / out.sum(axis=2, keepdims=True)


def _bowker(table: np.ndarray) -> float:
    """p value of Bowker's (1948) test of symmetry of a square table (McNemar for 2 x 2)."""
    n = np.asarray(table, dtype=float)
    iu = np.triu_indices(n.shape[0], 1)
    a, b = n[iu], n.T[iu]
    use = (a + b) > 0
    if not use.any():
        return math.nan
    stat = float((((a - b) ** 2)[use] / (a + b)[use]).sum())
    return float(stats.chi2.sf(stat, int(use.sum())))


def _kappa(table: np.ndarray) -> float:
    n = np.asarray(table, dtype=float)
    tot = n.sum()
    if tot == 0:
        return math.nan
    po = np.trace(n) / tot
    pe = float((n.sum(axis=0) / tot) @ (n.sum(axis=1) / tot))
    return (po - pe) / (1 - pe) if pe < 1 else math.nan


def _levels_of(behaviour: str, values: pd.Series, codebook) -> list:
    if codebook is not None:
        from svcresearch.modelframe import find_variable

        var = find_variable(codebook, behaviour)
        if var is not None and var.value_set is not None:
            return [str(v) for v in var.value_set.levels]
    return sorted(values.dropna().astype(str).unique())


def validation_from_columns(data: pd.DataFrame, *, columns: Mapping[str, str], codebook=None,
                            unit: str = "encounter_id", subset: str | None = None) -> pd.DataFrame:
    """A validation table (true levels) from columns of the encounters, e.g. video-coded measures.

    Parameters
    ----------
    data : DataFrame
        Processed encounters.
    columns : mapping
        Behaviour -> column holding its validated level (same levels as the behaviour, or a
        yes/no boolean for a yes/no behaviour), e.g. ``{"warmth": "video_warmth"}``.
    codebook : Codebook, optional
        Gives the behaviour's levels (to translate booleans to its no/yes levels).
    unit : str
        Unit column.
    subset : str, optional
        A boolean column marking the validated rows (e.g. ``"video_coded"``); rows outside it
        and rows with a missing value are left out.

    Returns
    -------
    DataFrame
        ``encounter_id`` (``unit``), ``behaviour``, ``value`` -- the ``validation=`` input of
        :func:`estimate_misclassification`.
    """
    check_dataframe("data", data, columns=[unit])
    check_type("columns", columns, Mapping, what="a mapping behaviour -> column")
    rows = data if subset is None else data.loc[check_dataframe("data", data, columns=[subset])[subset]
                                                   .fillna(False).astype(bool).to_numpy()]
    parts = []
    for b, col in columns.items():
        check_dataframe("data", data, columns=[col])
        s = rows[col]
        if pd.api.types.is_bool_dtype(s.dtype) or str(s.dtype) == "boolean":
            levels = _levels_of(b, pd.Series(["no", "yes"]), codebook)
            s = s.astype("boolean").map({False: levels[0], True: levels[-1]})
        keep = s.notna().to_numpy()
        parts.append(pd.DataFrame({unit: rows[unit].to_numpy()[keep], "behaviour": b,
                                   "value": s.astype("string").to_numpy()[keep]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[unit, "behaviour", "value"])


def estimate_misclassification(coding_long: pd.DataFrame, *, codebook=None, behaviours: Sequence[str] | None = None,
                               validation: pd.DataFrame | None = None, structure: str | Mapping[str, str] = "symmetric",
                               unit: str = "encounter_id", rater: str = "coder", n_boot: int = 200,
                               confidence: float = 0.95, seed: Any = DEFAULT_SEED) -> Misclassification:
    """Misclassification matrix, prevalence and their uncertainty per code from double-coded data.

    Parameters
    ----------
    coding_long : DataFrame
        One row per judgement (``coding_long.parquet``): ``unit``, ``rater``, ``behaviour``,
        ``value`` and optional ``status`` (only ``observed`` judgements are used).
    codebook : Codebook, optional
        Gives each behaviour's levels in order (else the sorted values seen).
    behaviours : list of str, optional
        Which codes (default every behaviour with a unit judged twice or validated).
    validation : DataFrame, optional
        Known true levels of some units: columns ``unit``, ``behaviour``, ``value`` (an
        adjudicated or video-coded subsample; :func:`validation_from_columns`).
    structure : {"symmetric", "general"} or mapping behaviour -> structure
        ``"symmetric"``: ``Pi[i, j] == Pi[j, i]`` (Se == Sp), identified by two coders;
        ``"general"``: a free matrix, which needs ``validation`` rows of that behaviour.
    unit, rater : str
        Column names.
    n_boot : int
        Bootstrap resamples of the units (0 = none).
    confidence : float
        Coverage of the intervals in :meth:`Misclassification.matrices`.
    seed : int or SeedSequence
        Seed of the bootstrap (same seed, same numbers).

    Returns
    -------
    Misclassification
        ``[behaviour]`` -> :class:`CodeErrors`; ``.summary()`` one row per code, ``.matrices()``
        the tidy matrices with intervals.

    Notes
    -----
    Validated in ``tests/test_misclassification.py``: the two-coder yes/no case equals the
    closed form ``e = (1 - sqrt(1 - 2 d)) / 2`` (``d`` the disagreement share) and prevalence
    ``(p - e) / (1 - 2 e)``; Se, Sp and prevalence are recovered on simulated exchangeable coders
    (symmetric errors without validation, asymmetric errors with a validation subsample) and
    on a three-level code; the bootstrap intervals cover the simulated truth; same seed, same
    result.
    """
    check_dataframe("coding_long", coding_long, columns=[unit, rater, "behaviour", "value"])
    check_number("n_boot", n_boot, low=0, integer=True)
    check_confidence(confidence)
    if isinstance(structure, Mapping):
        for b, s in structure.items():
            check_option(f"structure[{b!r}]", s, STRUCTURES)
    else:
        check_option("structure", structure, STRUCTURES)
    data = coding_long
    if "status" in data.columns:
        data = data.loc[data["status"].astype("string").eq("observed").fillna(False).to_numpy()]
    data = data.loc[data["value"].notna().to_numpy()]
    if validation is not None:
        check_dataframe("validation", validation, columns=[unit, "behaviour", "value"])
        validation = validation.loc[validation["value"].notna().to_numpy()]
    available = sorted(data["behaviour"].astype(str).unique())
    if behaviours is None:
        names = available
    else:
        if isinstance(behaviours, str):
            behaviours = [behaviours]
        names = [str(b) for b in behaviours]
        for b in names:
            check_option("behaviours", b, available)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    children = dict(zip(names, root.spawn(len(names))))
    codes, notes = {}, {}
    for b in names:
        st = structure.get(b, "symmetric") if isinstance(structure, Mapping) else structure
        part = data.loc[data["behaviour"].astype(str).eq(b).to_numpy(), [unit, rater, "value"]]
        part = part.drop_duplicates(subset=[unit, rater], keep="first")
        levels = _levels_of(b, part["value"], codebook)
        pos = {lv: i for i, lv in enumerate(levels)}
        cat = part["value"].astype(str).map(pos)
        if cat.isna().any():
            bad = part["value"].astype(str)[cat.isna()].iloc[0]
            raise InputError(f"behaviour {b!r} has value {bad!r}, not one of its levels {levels}.", column="value")
        q = len(levels)
        if q < 2:
            notes[b] = "a single level: no misclassification to model"
            continue
        uc, units = pd.factorize(part[unit])
        counts = np.zeros((len(units), q))
        np.add.at(counts, (uc, cat.to_numpy(dtype=int)), 1.0)
        truth = np.full(len(units), -1)
        n_valid = 0
        if validation is not None:
            vb = validation.loc[validation["behaviour"].astype(str).eq(b).to_numpy()]
            if len(vb):
                vpos = vb["value"].astype(str).map(pos)
                if vpos.isna().any():
                    bad = vb["value"].astype(str)[vpos.isna()].iloc[0]
                    raise InputError(f"validation value {bad!r} of {b!r} is not one of its levels {levels}.",
                                     column="value")
                vmap = dict(zip(vb[unit], vpos.astype(int)))
                truth = np.array([vmap.get(u, -1) for u in units])
        informative = (counts.sum(axis=1) >= 2) | ((truth >= 0) & (counts.sum(axis=1) >= 1))
        n_double = int((counts.sum(axis=1) >= 2).sum())
        n_valid = int(((truth >= 0) & (counts.sum(axis=1) >= 1)).sum())
        if st == "general" and n_valid == 0:
            raise InputError(f"structure 'general' for {b!r} needs validated true levels (validation=): two "
                             f"exchangeable coders identify only a symmetric misclassification matrix.",
                             column="behaviour")
        if not informative.any():
            notes[b] = "no unit judged twice or validated"
            continue
        counts, truth = counts[informative], truth[informative]
        # distinct patterns with weights
        key = np.column_stack([counts, truth])
        pats, inv = np.unique(key, axis=0, return_inverse=True)
        w = np.bincount(inv.ravel(), minlength=len(pats)).astype(float)
        pc, pt = pats[:, :q], pats[:, q].astype(int)
        share = counts.sum(axis=0) / counts.sum()
        start_P = np.full((q, q), 0.05 / max(1, q - 1))
        np.fill_diagonal(start_P, 0.95)
        pi, P, ll = _em(pc, pt, w[None, :], st, start_P, share)
        pi, P = pi[0], P[0]
        if n_boot:
            rng = np.random.default_rng(children[b])
            n = int(w.sum())
            Wb = rng.multinomial(n, w / n, size=n_boot).astype(float)
            bpi, bP, _ = _em(pc, pt, Wb, st, P, pi)
        else:
            bpi, bP = np.zeros((0, q)), np.zeros((0, q, q))
        if np.any(np.diag(P) <= 0.5):
            warnings.warn(f"behaviour {b!r}: an estimated correct-classification probability is at most 0.5 "
                          f"({np.round(np.diag(P), 3).tolist()}); the code is barely better than chance.",
                          MisclassificationWarning, stacklevel=2)
        # the first two coders' table: kappa and Bowker's test of exchangeability
        raters = sorted(part[rater].astype(str).unique())
        table = np.zeros((q, q))
        pair = ()
        if len(raters) >= 2:
            pair = (raters[0], raters[1])
            wide = part.assign(_c=cat.to_numpy(dtype=int), _r=part[rater].astype(str)).pivot_table(
                index=unit, columns="_r", values="_c", aggfunc="first")
            both = wide[[pair[0], pair[1]]].dropna().astype(int).to_numpy()
            np.add.at(table, (both[:, 0], both[:, 1]), 1.0)
        codes[b] = CodeErrors(behaviour=b, levels=levels, prevalence=pi, matrix=P, boot_matrix=bP,
                              boot_prevalence=bpi, structure=st, n_double=n_double, n_validated=n_valid,
                              kappa=_kappa(table), exchangeability_p=_bowker(table), coders=pair, loglik=float(ll[0]))
    return Misclassification(codes=codes, confidence=confidence, notes=notes)


# ----------------------------------------------------------------------------------------------
# Consensus of the coders
# ----------------------------------------------------------------------------------------------
def consensus_codes(data: pd.DataFrame, coding_long: pd.DataFrame, *, misclassification: Misclassification,
                    unit: str = "encounter_id", rater: str = "coder") -> pd.DataFrame:
    """Encounters with every modelled code replaced by the coders' consensus where two or more coded it.

    Parameters
    ----------
    data : DataFrame
        Processed encounters (one row per ``unit``; codes as the cleaner wrote them, usually the
        primary coder's).
    coding_long : DataFrame
        Every judgement (``coding_long.parquet``).
    misclassification : Misclassification
        Gives each code's levels, matrix and prevalence (the MAP rule).

    Returns
    -------
    DataFrame
        A copy of ``data``; for each code of ``misclassification`` present in ``data``, rows
        whose code is observed and that have two or more observed judgements take the MAP
        consensus level; a column ``<behaviour>_n_codes`` (0 = not observed, 1 = one coder, k
        = consensus of k) tells :mod:`svcresearch.simex` which matrix applies to each row.

    Notes
    -----
    Rows that are not applicable or missing in ``data`` keep their value. Checked in
    ``tests/test_misclassification.py`` (consensus equals the agreed code; a disagreement goes
    to the more prevalent level for a symmetric yes/no code).
    """
    check_dataframe("data", data, columns=[unit])
    check_dataframe("coding_long", coding_long, columns=[unit, rater, "behaviour", "value"])
    check_type("misclassification", misclassification, Misclassification,
               what="a Misclassification (estimate_misclassification)")
    out = data.copy()
    cl = coding_long
    if "status" in cl.columns:
        cl = cl.loc[cl["status"].astype("string").eq("observed").fillna(False).to_numpy()]
    cl = cl.loc[cl["value"].notna().to_numpy()]
    for b, ce in misclassification.codes.items():
        if b not in out.columns:
            continue
        col = out[b]
        status_col = f"{b}_status"
        if status_col in out.columns:
            observed = out[status_col].astype("string").eq("observed").fillna(False).to_numpy()
        else:
            observed = col.notna().to_numpy()
        part = cl.loc[cl["behaviour"].astype(str).eq(b).to_numpy()].drop_duplicates(subset=[unit, rater])
        pos = {lv: i for i, lv in enumerate(ce.levels)}
        cat = part["value"].astype(str).map(pos)
        ok = cat.notna().to_numpy()
        unit_pos = pd.Index(out[unit]).get_indexer(part[unit].to_numpy()[ok])
        inside = unit_pos >= 0
        vals = np.zeros((len(out), ce.q), dtype=np.int64)
        np.add.at(vals, (unit_pos[inside], cat.to_numpy()[ok][inside].astype(int)), 1)
        k = vals.sum(axis=1)
        n_codes = np.where(observed, np.maximum(k, 1), 0)
        chosen = np.full(len(out), -1)
        base = int(k.max()) + 1 if len(k) else 1
        keys = vals @ (base ** np.arange(ce.q))
        for kk in sorted(set(k[(k >= 2) & observed].tolist())):
            rule = ce.consensus_rule(int(kk))
            lookup = {int(np.dot(c, base ** np.arange(ce.q))): lv for c, lv in rule.items()}
            sel = np.flatnonzero((k == kk) & observed)
            chosen[sel] = pd.Series(keys[sel]).map(lookup).to_numpy(dtype=int)
        change = chosen >= 0
        if change.any():
            new = np.asarray(ce.levels, dtype=object)[chosen[change]]
            if pd.api.types.is_bool_dtype(col.dtype) or str(col.dtype) == "boolean":
                new = pd.array([str(v) == ce.levels[-1] for v in new], dtype="boolean")
                values = col.astype("boolean").copy()
            elif isinstance(col.dtype, pd.CategoricalDtype):
                values = col.copy()
            else:
                values = col.astype(object).copy()
            values.iloc[np.flatnonzero(change)] = new
            out[b] = values
        out[f"{b}_n_codes"] = n_codes
    return out
