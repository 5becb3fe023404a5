"""Tests of svcresearch.scales against published values, pingouin, statsmodels and exact models."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats
from statsmodels.multivariate.factor import Factor

from svcresearch.scales import cronbach_alpha, mcdonald_omega, one_factor_ml, scale_score


@pytest.fixture(scope="module")
def wide_missing():
    # pingouin's bundled data set whose alpha its docs give from R psych::alpha.
    return pg.read_dataset("cronbach_wide_missing")


def test_alpha_matches_psych_published(wide_missing):
    items = list(wide_missing.columns)
    # R: psych::alpha(data, use="complete.obs") -> raw_alpha 0.8016949 (pingouin docs, cronbach_alpha).
    listwise = cronbach_alpha(wide_missing, items=items, nan_policy="listwise")
    assert listwise["estimate"].iloc[0] == pytest.approx(0.8016949152542373, abs=1e-12)
    assert listwise["n"].iloc[0] == 9
    # R: psych::alpha(data, use="pairwise") -> 0.7326608; Feldt CI [.435, .909] (pingouin docs).
    pairwise = cronbach_alpha(wide_missing, items=items, nan_policy="pairwise")
    assert pairwise["estimate"].iloc[0] == pytest.approx(0.732660835214447, abs=1e-12)
    assert pairwise[["ci_low", "ci_high"]].round(3).iloc[0].tolist() == [0.435, 0.909]


def test_alpha_listwise_ci_uses_rows_actually_used(wide_missing):
    # Feldt (1987) interval by hand with the 9 complete rows and 11 items. (pingouin plugs in all 12
    # rows here, which overstates the precision; we deliberately differ.)
    res = cronbach_alpha(wide_missing, items=list(wide_missing.columns))
    a, n, k = 0.8016949152542373, 9, 11
    low = 1 - (1 - a) * stats.f.isf(0.025, n - 1, (n - 1) * (k - 1))
    high = 1 - (1 - a) * stats.f.isf(0.975, n - 1, (n - 1) * (k - 1))
    assert res["ci_low"].iloc[0] == pytest.approx(low) and res["ci_high"].iloc[0] == pytest.approx(high)


def test_alpha_matches_pingouin_on_complete_data():
    rng = np.random.default_rng(7)
    f = rng.normal(size=250)
    df = pd.DataFrame({f"i{j}": f * (0.5 + 0.2 * j) + rng.normal(size=250) for j in range(5)})
    ours = cronbach_alpha(df, items=list(df.columns), confidence=0.9)
    ref_alpha, ref_ci = pg.cronbach_alpha(df, ci=0.9)
    assert ours["estimate"].iloc[0] == pytest.approx(ref_alpha, abs=1e-12)
    np.testing.assert_allclose(ours[["ci_low", "ci_high"]].iloc[0].round(3), ref_ci)


def test_alpha_equals_reliability_for_tau_equivalent_population():
    # Tau-equivalent items (equal loadings 1, error variances 1,2,3): reliability of the sum is
    # (k*1)^2 / ((k*1)^2 + 6) = 9/15 and alpha equals it exactly (Lord & Novick 1968, Thm 4.4.3).
    # A sample drawn with covariance exactly Sigma (whitened) gives that value to float precision.
    sigma = np.ones((3, 3)) + np.diag([1.0, 2.0, 3.0])
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 3))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    x = z @ np.linalg.cholesky(sigma).T
    res = cronbach_alpha(pd.DataFrame(x, columns=["a", "b", "c"]), items=["a", "b", "c"])
    assert res["estimate"].iloc[0] == pytest.approx(9 / 15, abs=1e-10)


def test_one_factor_ml_recovers_congeneric_population():
    lam = np.array([0.9, 0.7, 0.5, 1.2, 0.3])
    psi = np.array([0.5, 0.8, 1.0, 0.6, 1.5])
    sigma = np.outer(lam, lam) + np.diag(psi)
    got_lam, got_psi = one_factor_ml(sigma)
    np.testing.assert_allclose(got_lam, lam, atol=1e-7)
    np.testing.assert_allclose(got_psi, psi, atol=1e-7)


def test_one_factor_ml_matches_statsmodels():
    rng = np.random.default_rng(3)
    lam = np.array([0.9, 0.7, 0.5, 1.2])
    sigma = np.outer(lam, lam) + np.diag([0.5, 0.8, 1.0, 0.6])
    x = rng.multivariate_normal(np.zeros(4), sigma, size=400)
    corr = np.corrcoef(x, rowvar=False)
    ours_lam, ours_psi = one_factor_ml(corr)
    ref = Factor(x, n_factor=1, method="ml").fit()  # statsmodels ML factor analysis (correlation scale)
    ref_lam = ref.loadings.ravel() * np.sign(ref.loadings.sum())
    np.testing.assert_allclose(ours_lam, ref_lam, atol=2e-6)
    np.testing.assert_allclose(ours_psi, ref.uniqueness, atol=2e-6)


def test_omega_on_population_congeneric_matrix():
    # Data whose sample covariance is exactly the congeneric Sigma: omega is known analytically,
    # (sum lambda)^2 / ((sum lambda)^2 + sum psi) = 3.3^2 / (3.3^2 + 2.9).
    lam = np.array([0.9, 0.7, 0.5, 1.2])
    psi = np.array([0.5, 0.8, 1.0, 0.6])
    sigma = np.outer(lam, lam) + np.diag(psi)
    rng = np.random.default_rng(11)
    z = rng.normal(size=(300, 4))
    z = (z - z.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False)).T)
    df = pd.DataFrame(z @ np.linalg.cholesky(sigma).T, columns=list("abcd"))
    res = mcdonald_omega(df, items=list("abcd"))
    assert res["estimate"].iloc[0] == pytest.approx(3.3**2 / (3.3**2 + 2.9), abs=1e-8)
    # Omega exceeds alpha for congeneric (unequal-loading) items.
    assert res["estimate"].iloc[0] > cronbach_alpha(df, items=list("abcd"))["estimate"].iloc[0]


def test_omega_three_items_by_hand():
    # Just-identified one-factor model: lambda_1^2 = s12*s13/s23 etc., psi_i = s_ii - lambda_i^2.
    rng = np.random.default_rng(5)
    f = rng.normal(size=200)
    df = pd.DataFrame({"x": 0.8 * f + rng.normal(size=200), "y": 0.6 * f + rng.normal(size=200),
                       "z": 1.1 * f + rng.normal(size=200)})
    s = np.cov(df.to_numpy(), rowvar=False)
    l1 = np.sqrt(s[0, 1] * s[0, 2] / s[1, 2])
    l2 = np.sqrt(s[0, 1] * s[1, 2] / s[0, 2])
    l3 = np.sqrt(s[0, 2] * s[1, 2] / s[0, 1])
    psi = np.diag(s) - np.array([l1, l2, l3]) ** 2
    expected = (l1 + l2 + l3) ** 2 / ((l1 + l2 + l3) ** 2 + psi.sum())
    res = mcdonald_omega(df, items=["x", "y", "z"], n_boot=200, seed=1)
    assert res["estimate"].iloc[0] == pytest.approx(expected, abs=1e-7)
    assert res["ci_low"].iloc[0] < expected < res["ci_high"].iloc[0]
    again = mcdonald_omega(df, items=["x", "y", "z"], n_boot=200, seed=1)
    pd.testing.assert_frame_equal(res, again)
    # without a seed the package's DEFAULT_SEED is used: same inputs, same interval
    from svcresearch.config import DEFAULT_SEED

    default = mcdonald_omega(df, items=["x", "y", "z"], n_boot=50)
    pd.testing.assert_frame_equal(default, mcdonald_omega(df, items=["x", "y", "z"], n_boot=50))
    pd.testing.assert_frame_equal(default, mcdonald_omega(df, items=["x", "y", "z"], n_boot=50, seed=DEFAULT_SEED))


def test_scale_score_by_hand():
    df = pd.DataFrame({"a": [1, 2, np.nan, 7], "b": [3, 2, np.nan, 7], "c": [5, np.nan, 4, 1]})
    assert scale_score(df, items=["a", "b", "c"]).tolist()[0] == 3.0
    got = scale_score(df, items=["a", "b", "c"], min_items=2)
    assert got.iloc[:2].tolist() == [3.0, 2.0] and np.isnan(got.iloc[2]) and got.iloc[3] == 5.0
    rev = scale_score(df, items=["a", "b", "c"], reverse=["c"], scale_range=(1, 7), min_items=1)
    assert rev.tolist() == [(1 + 3 + 3) / 3, 2.0, 4.0, (7 + 7 + 7) / 3]
    summed = scale_score(df, items=["a", "b", "c"], min_items=2, method="sum")
    assert summed.iloc[1] == 6.0  # prorated: mean 2 x 3 items


def test_scale_errors():
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    with pytest.raises(ValueError, match="missing column"):
        cronbach_alpha(df, items=["a", "q"])
    with pytest.raises(TypeError, match="column 'b' must be numeric"):
        cronbach_alpha(df, items=["a", "b"])
    with pytest.raises(TypeError, match="not a single string"):
        mcdonald_omega(df, items="a")
    with pytest.raises(ValueError, match="`nan_policy` must be one of"):
        cronbach_alpha(df, items=["a", "a2"], nan_policy="drop")
    with pytest.raises(ValueError, match="outside `scale_range`"):
        scale_score(pd.DataFrame({"a": [1, 9], "b": [1, 2]}), items=["a", "b"], scale_range=(1, 7))
    with pytest.raises(ValueError, match="`reverse` needs `scale_range"):
        scale_score(pd.DataFrame({"a": [1, 2], "b": [1, 2]}), items=["a", "b"], reverse=["a"])
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        cronbach_alpha(pd.DataFrame({"a": [1, 2, 3], "b": [2, 2, 3]}), items=["a", "b"], confidence=1.0)
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        mcdonald_omega(pd.DataFrame({"a": [1, 2, 3], "b": [2, 2, 3]}), items=["a", "b"], confidence=0)
