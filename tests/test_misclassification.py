"""Misclassification models from double-coded data and the MC-SIMEX correction.

Expected numbers come from closed forms written out in each test (no R: ``apt-cache policy
r-cran-simex`` finds no Debian package of R's simex here, so no published mcsimex run could be
reproduced; the closed forms below replace it).
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy.linalg import fractional_matrix_power
import pandas as pd
import pytest

from svcresearch import modelframe as mfm
from svcresearch._validation import InputError
from svcresearch.codebook import load_codebook
from svcresearch.misclassification import (CodeErrors, Misclassification, consensus_codes, estimate_misclassification,
                                           matrix_power)
from svcresearch.simex import _Refitter, mcsimex

CB = load_codebook()


def _two_coders(n, P, prevalence, *, seed, levels=("no", "yes"), behaviour="greeting", n_single=0):
    """Long judgements of two exchangeable coders (and ``n_single`` units coded by A only)."""
    rng = np.random.default_rng(seed)
    q = len(levels)
    N = n + n_single
    truth = rng.choice(q, size=N, p=prevalence)
    cum = np.cumsum(np.asarray(P), axis=1)
    rows = []
    for coder, units in (("A", np.arange(N)), ("B", np.arange(n))):
        u = rng.random(len(units))
        obs = np.minimum((u[:, None] > cum[truth[units]]).sum(axis=1), q - 1)
        rows.append(pd.DataFrame({"encounter_id": [f"E{i:05d}" for i in units], "coder": coder,
                                  "behaviour": behaviour, "value": np.asarray(levels)[obs], "status": "observed"}))
    return pd.concat(rows, ignore_index=True), truth


def test_two_coder_yes_no_equals_closed_form():
    e_true, pi_true = 0.08, 0.3
    P = [[1 - e_true, e_true], [e_true, 1 - e_true]]
    long, _ = _two_coders(3000, P, [1 - pi_true, pi_true], seed=1)
    m = estimate_misclassification(long, codebook=CB, n_boot=0)["greeting"]
    wide = long.pivot(index="encounter_id", columns="coder", values="value")
    d = float((wide["A"] != wide["B"]).mean())           # disagreement share
    p = float((long["value"] == "yes").mean())           # recorded 'yes' share
    e = (1 - math.sqrt(1 - 2 * d)) / 2                   # d = 2 e (1 - e)
    assert m.matrix[0, 1] == pytest.approx(e, abs=1e-7)
    assert m.matrix[1, 0] == pytest.approx(e, abs=1e-7)
    assert m.prevalence[1] == pytest.approx((p - e) / (1 - 2 * e), abs=1e-7)


def test_symmetric_errors_recovered_with_intervals_covering_truth():
    e_true, pi_true = 0.06, 0.25
    P = np.array([[1 - e_true, e_true], [e_true, 1 - e_true]])
    long, _ = _two_coders(4000, P, [1 - pi_true, pi_true], seed=2)
    mc = estimate_misclassification(long, codebook=CB, n_boot=300, seed=3)
    s = mc.summary().iloc[0]
    assert s["sensitivity"] == pytest.approx(1 - e_true, abs=0.01)
    assert s["specificity"] == pytest.approx(1 - e_true, abs=0.01)
    assert mc["greeting"].prevalence[1] == pytest.approx(pi_true, abs=0.02)
    assert s["sensitivity_ci_low"] < 1 - e_true < s["sensitivity_ci_high"]
    assert s["error_rate_ci_low"] < e_true < s["error_rate_ci_high"]
    assert s["exchangeability_p"] > 0.01


def test_asymmetric_se_sp_need_and_use_validation():
    se, sp, pi_true = 0.85, 0.97, 0.3
    P = np.array([[sp, 1 - sp], [1 - se, se]])
    long, truth = _two_coders(3000, P, [1 - pi_true, pi_true], seed=4)
    with pytest.raises(InputError, match="validated"):
        estimate_misclassification(long, codebook=CB, structure="general", n_boot=0)
    ids = [f"E{i:05d}" for i in range(1500)]
    validation = pd.DataFrame({"encounter_id": ids, "behaviour": "greeting",
                               "value": np.asarray(["no", "yes"])[truth[:1500]]})
    m = estimate_misclassification(long, codebook=CB, structure="general", validation=validation, n_boot=0)
    assert m["greeting"].matrix[1, 1] == pytest.approx(se, abs=0.02)
    assert m["greeting"].matrix[0, 0] == pytest.approx(sp, abs=0.01)
    assert m["greeting"].prevalence[1] == pytest.approx(pi_true, abs=0.02)


def test_three_level_symmetric_matrix_recovered():
    P = np.array([[0.90, 0.07, 0.03], [0.07, 0.88, 0.05], [0.03, 0.05, 0.92]])
    long, _ = _two_coders(8000, P, [0.35, 0.40, 0.25], seed=5, levels=("none", "polite", "genuine"),
                          behaviour="smile")
    m = estimate_misclassification(long, codebook=CB, n_boot=0)["smile"]
    assert m.levels == ["none", "polite", "genuine"]
    np.testing.assert_allclose(m.matrix, P, atol=0.015)
    np.testing.assert_allclose(m.prevalence, [0.35, 0.40, 0.25], atol=0.02)


def test_same_seed_same_bootstrap_and_a_different_seed_differs():
    P = [[0.95, 0.05], [0.05, 0.95]]
    long, _ = _two_coders(500, P, [0.5, 0.5], seed=6)
    a = estimate_misclassification(long, codebook=CB, n_boot=50, seed=7)
    b = estimate_misclassification(long, codebook=CB, n_boot=50, seed=7)
    c = estimate_misclassification(long, codebook=CB, n_boot=50, seed=8)
    np.testing.assert_array_equal(a["greeting"].boot_matrix, b["greeting"].boot_matrix)
    assert not np.array_equal(a["greeting"].boot_matrix, c["greeting"].boot_matrix)


def test_matrix_power_composes_and_handles_non_embeddable_matrices():
    P = np.array([[0.9, 0.08, 0.02], [0.05, 0.9, 0.05], [0.02, 0.1, 0.88]])
    half = matrix_power(P, 0.5)
    np.testing.assert_allclose(half @ half, P, atol=1e-10)
    hard = np.array([[0.876, 0.123, 0.001], [0.013, 0.982, 0.005], [0.046, 0.134, 0.820]])
    out = matrix_power(hard, 0.5)
    assert out.min() >= 0 and np.allclose(out.sum(axis=1), 1)
    with pytest.raises(ValueError, match="eigenvalues"):
        matrix_power(np.array([[0.3, 0.7], [0.7, 0.3]]), 0.5)


def test_matrix_power_of_a_matrix_with_complex_eigenvalues():
    # errors that run one way round the three levels (a circulant matrix): eigenvalues 1 and
    # 0.85 +- 0.052i, as estimated smile matrices sometimes are (2 of 72 replicated default studies)
    P = np.array([[0.9, 0.08, 0.02], [0.02, 0.9, 0.08], [0.08, 0.02, 0.9]])
    assert np.abs(np.linalg.eigvals(P).imag).max() > 0.05
    half = matrix_power(P, 0.5)
    assert np.isrealobj(half) and half.min() >= 0 and np.allclose(half.sum(axis=1), 1)
    np.testing.assert_allclose(half @ half, P, atol=1e-10)          # the principal square root
    np.testing.assert_allclose(matrix_power(P, 1.5), half @ P, atol=1e-10)
    # a valid principal power must be returned as it is, not projected (scipy's Schur-based power)
    Q = np.array([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.1, 0.0, 0.9]])
    principal = np.real(fractional_matrix_power(Q, 1.5))
    assert principal.min() > 0.003
    np.testing.assert_allclose(matrix_power(Q, 1.5), principal, atol=1e-12)


def _errors(e, pi=(0.5, 0.5), behaviour="greeting"):
    P = np.array([[1 - e, e], [e, 1 - e]])
    return CodeErrors(behaviour=behaviour, levels=["no", "yes"], prevalence=np.asarray(pi), matrix=P,
                      boot_matrix=np.zeros((0, 2, 2)), boot_prevalence=np.zeros((0, 2)), structure="symmetric",
                      n_double=0, n_validated=0, kappa=math.nan, exchangeability_p=math.nan)


def test_consensus_agrees_and_breaks_ties_towards_the_more_prevalent_level():
    mc = Misclassification(codes={"greeting": _errors(0.1, pi=(0.2, 0.8))})
    long = pd.DataFrame({"encounter_id": ["E1", "E1", "E2", "E2", "E3"], "coder": ["A", "B", "A", "B", "A"],
                         "behaviour": "greeting", "value": ["no", "no", "no", "yes", "no"], "status": "observed"})
    data = pd.DataFrame({"encounter_id": ["E1", "E2", "E3"], "greeting": pd.array([False, False, False], dtype="boolean"),
                         "greeting_status": ["observed"] * 3})
    out = consensus_codes(data, long, misclassification=mc)
    assert out["greeting"].tolist() == [False, True, False]
    assert out["greeting_n_codes"].tolist() == [2, 2, 1]
    # consensus matrix of the MAP rule: agreement, or the majority level 'yes' on a disagreement
    e = 0.1
    C = mc["greeting"].consensus_matrix(2)
    np.testing.assert_allclose(C, [[(1 - e) ** 2, 1 - (1 - e) ** 2], [e ** 2, 1 - e ** 2]], atol=1e-12)


def _linear_data(n, beta, e, seed):
    rng = np.random.default_rng(seed)
    x = rng.random(n) < 0.5
    flip = rng.random(n) < e
    y = 1.0 + beta * x + rng.standard_normal(n)
    return pd.DataFrame({"encounter_id": [f"E{i}" for i in range(n)], "duration_s": y,
                         "greeting": pd.array(x ^ flip, dtype="boolean"), "greeting_status": "observed"})


def test_mcsimex_linear_model_matches_its_closed_form():
    # OLS of y on a balanced binary covariate with a symmetric error e: the slope at total error
    # Pi^(1 + lambda) is beta * (1 - 2e)^(1 + lambda) (p* stays 1/2), so MC-SIMEX's quadratic
    # extrapolant through lambda = 0, .5, 1, 1.5, 2 must land where the same quadratic through
    # that exact curve lands; the exact correction (lambda -> -1 of the exponential) is beta.
    beta, e, n = 1.0, 0.1, 40_000
    data = _linear_data(n, beta, e, seed=11)
    mc = Misclassification(codes={"greeting": _errors(e)})
    res = mcsimex(data, codebook=CB, outcome="duration_s", terms=["greeting"], misclassification=mc, n_sim=40, seed=1)
    row = res.params.set_index("term").loc["greeting"]
    naive = row["estimate_naive"]
    grid = np.array([0, 0.5, 1, 1.5, 2])
    curve = naive * (1 - 2 * e) ** grid
    quad_at_minus_one = np.polyval(np.polyfit(grid, curve, 2), -1.0)
    assert row["estimate"] == pytest.approx(quad_at_minus_one, abs=0.01)
    assert naive == pytest.approx(beta * (1 - 2 * e), abs=0.03)
    assert abs(row["estimate"] - beta) < abs(naive - beta) / 3          # most of the shrinkage undone
    assert row["std_error"] >= row["std_error_naive"]
    assert row["ci_low"] < beta < row["ci_high"]
    curve_sim = res.curve.loc[res.curve["term"] == "greeting"].set_index("lambda")["estimate"]
    np.testing.assert_allclose(curve_sim.to_numpy(), curve, atol=0.01)


def test_mcsimex_is_deterministic_with_a_seed():
    data = _linear_data(2000, 1.0, 0.1, seed=12)
    mc = Misclassification(codes={"greeting": _errors(0.1)})
    kw = dict(codebook=CB, outcome="duration_s", terms=["greeting"], misclassification=mc, n_sim=5)
    a = mcsimex(data, seed=3, **kw).params
    b = mcsimex(data, seed=3, **kw).params
    c = mcsimex(data, seed=4, **kw).params
    pd.testing.assert_frame_equal(a, b)
    assert a["estimate"].iloc[0] != c["estimate"].iloc[0]


@pytest.mark.parametrize("groups", [None, "employee"])
def test_fast_ordinal_refit_equals_fit_ordinal(groups):
    rng = np.random.default_rng(13)
    n = 800
    emp = rng.integers(0, 20, n)
    g = rng.random(n) < 0.7
    r = rng.random(n) < 0.6
    ystar = 0.5 * g + 0.8 * r + rng.normal(0, 0.7, 20)[emp] + rng.logistic(size=n)
    data = pd.DataFrame({"encounter_id": [f"E{i}" for i in range(n)], "employee": [f"emp{e}" for e in emp],
                         "sat_overall": pd.array(np.searchsorted([-1.0, 0.0, 1.0, 2.0], ystar) + 1, dtype="Int64"),
                         "greeting": pd.array(g, dtype="boolean"), "resolved": pd.array(r, dtype="boolean")})
    frame = mfm.model_frame(data, codebook=CB, outcome="sat_overall", terms=["greeting", "resolved"], groups=groups)
    naive = frame.fit()
    refit = _Refitter(frame, naive, link="logit", nagq=1)
    d = frame.data.copy()
    flip = rng.random(len(d)) < 0.1
    d[frame.columns["greeting"]] = np.where(flip, 1 - d[frame.columns["greeting"]], d[frame.columns["greeting"]])
    est, cov = refit.fit(d, variance=True)
    ref = replace(frame, data=d).fit()
    p = ref.params().set_index("term")
    np.testing.assert_allclose(est, p.loc[frame.terms, "estimate"].to_numpy(), atol=2e-4)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), p.loc[frame.terms, "std_error"].to_numpy(), rtol=1e-3)


def test_bad_arguments_are_named():
    data = _linear_data(200, 1.0, 0.1, seed=14)
    mc = Misclassification(codes={"greeting": _errors(0.1)})
    with pytest.raises(ValueError, match="lambdas"):
        mcsimex(data, codebook=CB, outcome="duration_s", terms=["greeting"], misclassification=mc, lambdas=[1])
    with pytest.raises(ValueError, match="extrapolation"):
        mcsimex(data, codebook=CB, outcome="duration_s", terms=["greeting"], misclassification=mc, extrapolation="cubic")
    with pytest.raises(TypeError, match="misclassification"):
        mcsimex(data, codebook=CB, outcome="duration_s", terms=["greeting"], misclassification={"greeting": 0.1})
    with pytest.raises(ValueError, match="structure"):
        estimate_misclassification(pd.DataFrame({"encounter_id": [], "coder": [], "behaviour": [], "value": []}),
                                   structure="free")
