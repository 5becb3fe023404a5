"""Tests of contrasts, simple slopes, ICC, the variance-component LR test and Holm's correction.

References are independent of the code under test: refits of recoded models (statsmodels OLS and
statsmodels' OrderedModel), statsmodels' own Wald tests and multipletests, and hand formulas.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.miscmodels.ordinal_model import OrderedModel
from statsmodels.stats.multitest import multipletests

from pathlib import Path

from scipy import stats as st

from svcresearch.effects import contrast, icc, icc_interval, lr_test_variance_component, resolve_term, simple_slopes
from svcresearch.models import fit_ordinal
from svcresearch.multiplicity import holm


@pytest.fixture(scope="module")
def moderated():
    rng = np.random.default_rng(42)
    n = 600
    df = pd.DataFrame({"resolved": rng.random(n) < 0.7, "empathy": rng.random(n) < 0.5,
                       "wait": rng.gamma(2.0, 2.0, n)})
    df["y"] = (0.8 * df.resolved + 0.3 * df.empathy + 0.6 * df.resolved * df.empathy
               - 0.1 * df.wait + rng.normal(size=n))
    df["r"] = df.resolved.astype(float)
    df["e"] = df.empathy.astype(float)
    df["e_rev"] = 1.0 - df["e"]
    # ordinal outcome for the ordinal-model check
    df["ycat"] = pd.cut(df["y"], [-np.inf, -0.5, 0.5, 1.5, np.inf], labels=False)
    return df


def test_simple_slopes_equal_refits_with_recoded_moderator_ols(moderated):
    fit = smf.ols("y ~ r * e + wait", moderated).fit()
    refit = smf.ols("y ~ r * e_rev + wait", moderated).fit()   # moderator reversed: slope at e=1
    got = simple_slopes(fit, focal="r", moderator="e", at=[0, 1]).set_index("moderator_value")
    assert got.loc[0.0, "estimate"] == pytest.approx(fit.params["r"], rel=1e-10)
    assert got.loc[0.0, "std_error"] == pytest.approx(fit.bse["r"], rel=1e-10)
    assert got.loc[1.0, "estimate"] == pytest.approx(refit.params["r"], rel=1e-10)
    assert got.loc[1.0, "std_error"] == pytest.approx(refit.bse["r"], rel=1e-10)
    # z interval (models report Wald z), so compare with the normal-based interval of the refit
    assert got.loc[1.0, "ci_low"] == pytest.approx(refit.params["r"] - 1.959963984540054 * refit.bse["r"], rel=1e-9)


def test_simple_slopes_equal_refits_ordinal_model(moderated):
    fit = OrderedModel.from_formula("ycat ~ r * e + wait", moderated, distr="logit").fit(
        method="newton", disp=False, tol=1e-12, maxiter=200)
    refit = OrderedModel.from_formula("ycat ~ r * e_rev + wait", moderated, distr="logit").fit(
        method="newton", disp=False, tol=1e-12, maxiter=200)
    got = simple_slopes(fit, focal="r", moderator="e", at=(0.0, 1.0)).set_index("moderator_value")
    assert got.loc[1.0, "estimate"] == pytest.approx(refit.params["r"], abs=1e-5)
    assert got.loc[1.0, "std_error"] == pytest.approx(refit.bse["r"], rel=1e-3)
    assert got.loc[0.0, "estimate"] == pytest.approx(fit.params["r"], abs=1e-12)


def test_simple_slopes_continuous_focal_and_boolean_term_names(moderated):
    # formula with boolean columns -> terms like 'resolved[T.True]'; focal continuous (wait)
    fit = smf.ols("y ~ resolved * empathy + wait * empathy", moderated).fit()
    got = simple_slopes(fit, focal="wait", moderator="empathy", at=[0, 1])
    refit = smf.ols("y ~ resolved * e_rev + wait * e_rev", moderated).fit()
    assert got["estimate"].iloc[1] == pytest.approx(refit.params["wait"], rel=1e-9)
    assert resolve_term(fit.params.index, "resolved:empathy") == "resolved[T.True]:empathy[T.True]"


def test_contrast_matches_statsmodels_wald(moderated):
    fit = smf.ols("y ~ r + e + wait", moderated).fit(use_t=False)
    got = contrast(fit, {"r": 1, "e": -1}, label="r - e")
    ref = fit.t_test("r - e = 0")   # statsmodels Wald test (normal reference with use_t=False)
    assert got["contrast"].iloc[0] == "r - e"
    assert got["estimate"].iloc[0] == pytest.approx(float(ref.effect[0]), rel=1e-10)
    assert got["std_error"].iloc[0] == pytest.approx(float(ref.sd[0, 0]), rel=1e-10)
    assert got["p_value"].iloc[0] == pytest.approx(float(ref.pvalue), rel=1e-8)
    low, high = ref.conf_int()[0]
    assert (got["ci_low"].iloc[0], got["ci_high"].iloc[0]) == (pytest.approx(low), pytest.approx(high))


def test_contrast_accepts_tidy_model_results():
    # the svcresearch.models result shape: tidy params + vcov DataFrame
    params = pd.DataFrame({"term": ["1|2", "a", "b"], "estimate": [0.1, 0.5, 0.2]})
    vcov = pd.DataFrame([[1, 0, 0], [0, 0.04, 0.01], [0, 0.01, 0.09]], index=params.term, columns=params.term)
    res = SimpleNamespace(params=params, vcov=vcov)
    got = contrast(res, {"a": 1, "b": -1})
    assert got["estimate"].iloc[0] == pytest.approx(0.3)
    assert got["std_error"].iloc[0] == pytest.approx(math.sqrt(0.04 + 0.09 - 2 * 0.01))


def test_effect_errors(moderated):
    fit = smf.ols("y ~ r + e", moderated).fit()
    with pytest.raises(ValueError, match="`focal:moderator` 'r:e' is not a term"):
        simple_slopes(fit, focal="r", moderator="e")
    with pytest.raises(ValueError, match="`weights` 'zz' is not a term"):
        contrast(fit, {"zz": 1})
    with pytest.raises(TypeError, match="`result` must be a fitted model"):
        contrast(object(), {"r": 1})
    with pytest.raises(TypeError, match="`at` must be a number"):
        simple_slopes(smf.ols("y ~ r * e", moderated).fit(), focal="r", moderator="e", at=["high"])


def _vc(rows, link=None):
    return SimpleNamespace(variance_components=pd.DataFrame(rows, columns=["group", "variance", "std"]), link=link)


def test_icc_latent_and_linear_by_hand():
    # Latent-scale ICC (Snijders & Bosker 2012, eq. 17.3): 0.3 / (0.3 + pi^2/3) for logit, 0.3/1.3 probit.
    assert icc(_vc([["employee", 0.3, math.sqrt(0.3)]], link="logit")) == pytest.approx(0.3 / (0.3 + math.pi**2 / 3))
    assert icc(_vc([["employee", 0.3, math.sqrt(0.3)]], link="probit")) == pytest.approx(0.3 / 1.3)
    assert icc(_vc([["employee", 2.0, 1.41], ["Residual", 6.0, 2.45]])) == pytest.approx(0.25)
    # R 4.2, ordinal: VarCorr(clmm(SURENESS ~ PROD + (1|RESP), data=soup)) -> RESP variance
    # 0.3115407 (sd 0.5581583); latent ICC = 0.3115407 / (0.3115407 + pi^2/3) = 0.0865052.
    assert icc(_vc([["RESP", 0.3115407, 0.5581583]], link="logit")) == pytest.approx(0.0865052, abs=1e-6)
    with pytest.raises(ValueError, match="`link` must be one of"):
        icc(_vc([["employee", 0.3, 0.5]], link=None))
    with pytest.raises(TypeError, match="variance_components"):
        icc(SimpleNamespace(variance_components=None))
    # the link is checked even where a linear model's residual makes it irrelevant
    with pytest.raises(ValueError, match="`link` must be one of None, 'logit', 'probit'; got 'cloglog2'"):
        icc(_vc([["employee", 2.0, 1.41], ["Residual", 6.0, 2.45]]), link="cloglog2")


def test_icc_from_linear_mixed_model_matches_anova_icc():
    # Balanced one-way design: REML variance estimates equal the ANOVA (method of moments) ones, so
    # the ICC equals pingouin's ICC1 (Shrout & Fleiss 1979). statsmodels MixedLM is the fitter here.
    import pingouin as pg

    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 8)
    y = rng.normal(size=30)[g] * 0.7 + rng.normal(size=g.size)
    df = pd.DataFrame({"g": g, "y": y, "rater": np.tile(np.arange(8), 30)})
    fit = smf.mixedlm("y ~ 1", df, groups=df["g"]).fit(reml=True)
    res = _vc([["g", float(fit.cov_re.iloc[0, 0]), 0.0], ["Residual", float(fit.scale), 0.0]])
    ref = pg.intraclass_corr(df, targets="g", raters="rater", ratings="y").set_index("Type").loc["ICC(1,1)", "ICC"]
    assert icc(res) == pytest.approx(ref, abs=1e-5)


def test_lr_test_variance_component_boundary():
    full, reduced = SimpleNamespace(loglik=-100.0), SimpleNamespace(loglik=-101.92)
    got = lr_test_variance_component(full, reduced)
    # LR = 3.84 -> naive chi2(1) p = .0500; the 50:50 mixture halves it (Self & Liang 1987).
    assert got["statistic"].iloc[0] == pytest.approx(3.84)
    assert got["p_value"].iloc[0] == pytest.approx(0.5 * 0.050043521248705, rel=1e-6)
    same = lr_test_variance_component(SimpleNamespace(loglik=-5.0), SimpleNamespace(loglik=-5.0))
    assert same["p_value"].iloc[0] == 1.0


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.uniform(0, 0.2, size=rng.integers(1, 15)) ** 2
        np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    with_nan = np.array([0.01, np.nan, 0.04, 0.03])
    got = holm(with_nan)
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])
    s = holm(pd.Series([0.5, 0.001], index=["a", "b"]))
    assert s.index.tolist() == ["a", "b"] and s["b"] == pytest.approx(0.002)
    with pytest.raises(ValueError, match="lie in"):
        holm([0.5, 1.5])


def test_icc_interval_on_wine_clmm():
    """ICC interval from R's SE of log(sigma): clmm(rating ~ temp + contact + (1|judge), wine)."""
    wine = pd.read_csv(Path(__file__).parent / "data" / "wine.csv")
    res = fit_ordinal(wine, "rating ~ temp + contact", groups="judge")
    table = icc_interval(res)
    assert table.columns.tolist() == ["estimate", "std_error", "ci_low", "ci_high"] and len(table) == 1
    out = table.iloc[0]
    # R 4.2 ordinal: VarCorr variance 1.279461, sqrt(diag(vcov(fit)))["ST1"] = 0.35255082
    sigma2, log_se, c = 1.279461, 0.35255082, np.pi ** 2 / 3
    z = st.norm.ppf(0.975)
    low_var = sigma2 * np.exp(-2 * z * log_se)
    high_var = sigma2 * np.exp(2 * z * log_se)
    assert out["estimate"] == pytest.approx(sigma2 / (sigma2 + c), abs=1e-4)
    assert out["ci_low"] == pytest.approx(low_var / (low_var + c), abs=1e-3)
    assert out["ci_high"] == pytest.approx(high_var / (high_var + c), abs=1e-3)
    assert 0 < out["ci_low"] < out["estimate"] < out["ci_high"] < 1
    assert out["std_error"] > 0


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, float("nan")])
def test_confidence_must_be_strictly_between_0_and_1(bad):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"r": rng.integers(0, 2, 200), "e": rng.integers(0, 2, 200)})
    df["y"] = df["r"] + df["e"] + rng.normal(size=200)
    fit = smf.ols("y ~ r * e", df).fit()
    message = "`confidence` must be strictly between 0 and 1"
    with pytest.raises(ValueError, match=message):
        contrast(fit, {"r": 1}, confidence=bad)
    with pytest.raises(ValueError, match=message):
        simple_slopes(fit, focal="r", moderator="e", confidence=bad)


def test_confidence_sets_the_coverage():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"r": rng.integers(0, 2, 200), "e": rng.integers(0, 2, 200)})
    df["y"] = df["r"] + df["e"] + rng.normal(size=200)
    fit = smf.ols("y ~ r * e", df).fit()
    row = contrast(fit, {"r": 1}, confidence=0.9).iloc[0]
    # statsmodels conf_int(alpha=0.10) on the same normal reference (use_t=False)
    ref = fit.t_test("r = 0", use_t=False).conf_int(alpha=0.10)[0]
    assert row["ci_low"] == pytest.approx(ref[0], rel=1e-10) and row["ci_high"] == pytest.approx(ref[1], rel=1e-10)
