"""fit_mixed against lme4::lmer and fit_logistic against glm / sandwich::vcovCL / geepack::geeglm.

R 4.2.2, lme4 1.1.31. Data in tests/data: sleepstudy.csv (``write.csv(lme4::sleepstudy, ...,
row.names = FALSE)``) and service_sim.csv (see tests/test_models_ordinal.py; in R the logical
columns are ``s[[v]] %in% "True"`` and ``smile`` is ``factor(smile, levels = c("none", "polite",
"genuine"))``). Expected numbers were printed by R with ``signif(x, 10)``; the call is in the comment.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svcresearch.models import LogisticResult, MixedResult, fit_logistic, fit_mixed

DATA = Path(__file__).resolve().parent / "data"
FE_TOL = 1e-4
MM_TOL = 1e-3
SIM_RHS = "eye_contact + greeting + smile + resolved * empathy"


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def sim():
    s = pd.read_csv(DATA / "service_sim.csv")
    s["smile"] = pd.Categorical(s["smile"], categories=["none", "polite", "genuine"])
    return s


def _check(res, expected, tol):
    p = res.params.set_index("term")
    for term, (est, se) in expected.items():
        assert p.loc[term, "estimate"] == pytest.approx(est, abs=tol), term
        assert p.loc[term, "std_error"] == pytest.approx(se, abs=tol), term


def _rel(value, rel=MM_TOL):
    return pytest.approx(value, rel=rel)


@pytest.mark.parametrize("reml,expected,ll,var_subject,var_resid", [
    # R: l1 <- lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy); summary(l1); logLik(l1);
    #    print(VarCorr(l1), comp = "Variance")
    (True, {"Intercept": (251.40510480, 9.7467162690), "Days": (10.46728596, 0.8042214289)},
     -893.2325427, 1378.17851, 960.45658),
    # R: l2 <- lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy, REML = FALSE)
    (False, {"Intercept": (251.40510480, 9.5061851930), "Days": (10.46728596, 0.8017354217)},
     -897.0393215, 1296.87005, 954.52783),
])
def test_lmer_sleepstudy(sleep, reml, expected, ll, var_subject, var_resid):
    res = fit_mixed(sleep, "Reaction ~ Days", groups="Subject", reml=reml)
    assert isinstance(res, MixedResult)
    _check(res, expected, MM_TOL)
    assert res.loglik == pytest.approx(ll, abs=MM_TOL)
    vc = res.variance_components.set_index("group")
    assert list(vc.index) == ["Subject", "Residual"]
    # variances are ~1e3: compare relatively (lme4 prints 5 decimals)
    assert vc.loc["Subject", "variance"] == _rel(var_subject, 1e-5)
    assert vc.loc["Residual", "variance"] == _rel(var_resid, 1e-5)
    assert vc.loc["Subject", "std"] == _rel(np.sqrt(var_subject), 1e-5)
    assert res.aic == pytest.approx(-2 * ll + 2 * 4, abs=MM_TOL)  # AIC(l1): 2 fixed + 2 variances
    assert res.nobs == 180 and res.n_groups == 18 and res.converged


def test_lmer_simulated(sim):
    # R: lmer(sat_scale ~ eye_contact + greeting + smile + resolved * empathy + (1 | employee), data = s)
    expected = {
        "Intercept": (3.82416603600, 0.10089020250), "eye_contact": (0.26295405610, 0.04901555164),
        "greeting": (0.20653718500, 0.05648965518), "smile[T.polite]": (0.07572349479, 0.05378442944),
        "smile[T.genuine]": (0.30610696580, 0.06042607648), "resolved": (0.57852428160, 0.06557571421),
        "empathy": (0.14513774060, 0.07661818432), "resolved:empathy": (0.22500512220, 0.09503163511),
    }
    res = fit_mixed(sim, f"sat_scale ~ {SIM_RHS}", groups="employee")
    _check(res, expected, MM_TOL)
    assert res.loglik == pytest.approx(-2886.095459, abs=MM_TOL)
    vc = res.variance_components.set_index("group")["variance"]
    assert vc["employee"] == pytest.approx(0.12043610, abs=MM_TOL)
    assert vc["Residual"] == pytest.approx(0.99742796, abs=MM_TOL)
    assert "statistic" in res.params and (res.params["statistic"] ==
                                          res.params["estimate"] / res.params["std_error"]).all()


def test_fit_mixed_errors(sim, sleep):
    with pytest.raises(ValueError, match="must be numeric for fit_mixed"):
        fit_mixed(sim, "tell_others ~ greeting", groups="employee")
    with pytest.raises(ValueError, match="`groups` column 'emp' is not in `data`"):
        fit_mixed(sim, "sat_scale ~ greeting", groups="emp")
    with pytest.raises(TypeError, match="`reml` must be bool"):
        fit_mixed(sleep, "Reaction ~ Days", groups="Subject", reml="yes")
    one = sleep.assign(g="a")
    with pytest.raises(ValueError, match="single group"):
        fit_mixed(one, "Reaction ~ Days", groups="g")
    # constant outcome in the rows used: named, instead of "math domain error" from log(RSS = 0)
    flat = sleep.assign(Reaction=250.0)
    with pytest.raises(ValueError, match=r"Outcome 'Reaction' is constant \(250\) in the 180 rows used"):
        fit_mixed(flat, "Reaction ~ Days", groups="Subject")
    partly = sleep.assign(Reaction=np.where(sleep["Days"] > 0, 250.0, np.nan))
    with pytest.raises(ValueError, match="Outcome 'Reaction' is constant"):
        fit_mixed(partly, "Reaction ~ Days", groups="Subject")
    with pytest.raises(ValueError, match="Outcome 'Reaction' is fitted exactly"):
        fit_mixed(sleep.assign(Reaction=2.0 * sleep["Days"] + 1), "Reaction ~ Days", groups="Subject")
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        fit_mixed(sleep, "Reaction ~ Days", groups="Subject", confidence=1.5)
    miss = sleep.copy()
    miss.loc[:4, "Days"] = np.nan
    res = fit_mixed(miss, "Reaction ~ Days", groups="Subject")
    assert res.n_dropped == 5 and res.nobs == 175
    with pytest.raises(ValueError, match="5 of 180 rows have missing values"):
        fit_mixed(miss, "Reaction ~ Days", groups="Subject", missing="raise")


def test_fit_mixed_boundary_fit_is_reported(sleep):
    # no between-subject variation left once every subject's mean is removed: variance 0
    centred = sleep.assign(Reaction=sleep["Reaction"]
                           - sleep.groupby("Subject")["Reaction"].transform("mean"))
    res = fit_mixed(centred, "Reaction ~ Days", groups="Subject")
    assert res.variance_components["variance"].iloc[0] == pytest.approx(0, abs=1e-6)
    assert any("boundary" in n for n in res.notes)


# ---- logistic -------------------------------------------------------------------------------------
# R: b1 <- glm(tell_others ~ eye_contact + greeting + smile + resolved * empathy, data = s,
#              family = binomial); summary(b1)$coefficients; logLik(b1)
GLM = {
    "Intercept": (-1.48235635400, 0.1817829255), "eye_contact": (0.54932087740, 0.1018289512),
    "greeting": (0.34354452120, 0.1170428813), "smile[T.polite]": (0.07152165065, 0.1106329378),
    "smile[T.genuine]": (0.44355600650, 0.1242728532), "resolved": (0.55161811060, 0.1369897232),
    "empathy": (0.30816658310, 0.1596652517), "resolved:empathy": (0.23872874250, 0.1960579397),
}
# R: sqrt(diag(sandwich::vcovCL(b1, cluster = ~employee)))   (sandwich's default: HC0, G/(G-1))
VCOVCL_SE = [0.17961946890, 0.10688541460, 0.12115559500, 0.10342138180, 0.09985858293,
             0.10545119830, 0.15292440490, 0.19517133440]
# R: geeglm(tell_others ~ ..., id = emp_id, data = s, family = binomial, corstr = "exchangeable")
GEE = {
    "Intercept": (-1.46550998600, 0.17000332030), "eye_contact": (0.54274070150, 0.10194055610),
    "greeting": (0.33453754630, 0.11801775190), "smile[T.polite]": (0.07406205688, 0.09707352553),
    "smile[T.genuine]": (0.45842465760, 0.10099212280), "resolved": (0.54852705920, 0.10583949370),
    "empathy": (0.30153527900, 0.15291088250), "resolved:empathy": (0.22945812770, 0.19526792630),
}


def test_glm_matches_r(sim):
    res = fit_logistic(sim, f"tell_others ~ {SIM_RHS}")
    assert isinstance(res, LogisticResult) and res.link == "logit"
    _check(res, GLM, FE_TOL)
    assert res.loglik == pytest.approx(-1320.366674, abs=FE_TOL)
    assert res.aic == pytest.approx(2 * 1320.366674 + 2 * 8, abs=1e-3)


def test_cluster_robust_se_matches_vcovcl(sim):
    res = fit_logistic(sim, f"tell_others ~ {SIM_RHS}", cluster="employee")
    np.testing.assert_allclose(res.params["estimate"], [v[0] for v in GLM.values()], atol=FE_TOL)
    np.testing.assert_allclose(res.params["std_error"], VCOVCL_SE, atol=FE_TOL)
    assert res.n_groups == 40


def test_gee_exchangeable_matches_geeglm(sim):
    res = fit_logistic(sim, f"tell_others ~ {SIM_RHS}", groups="employee", method="gee")
    # geepack and statsmodels estimate the exchangeable correlation with slightly different
    # moment formulas (0.03376 vs 0.03363 here), so estimates agree to ~3e-5, SEs to ~1e-5
    _check(res, GEE, FE_TOL)
    assert res.working_correlation == pytest.approx(0.03375698835, abs=5e-4)
    assert np.isnan(res.loglik)


def test_fit_logistic_errors(sim):
    with pytest.raises(ValueError, match="must be boolean or coded 0/1"):
        fit_logistic(sim, "sat_overall ~ greeting")
    with pytest.raises(ValueError, match="`method` must be one of"):
        fit_logistic(sim, "tell_others ~ greeting", method="probit")
    with pytest.raises(ValueError, match="method='gee' needs the cluster column"):
        fit_logistic(sim, "tell_others ~ greeting", method="gee")
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        fit_logistic(sim, "tell_others ~ greeting", confidence=0)
    with pytest.raises(ValueError, match="separation"):
        fit_logistic(sim.assign(perfect=sim["tell_others"]), "tell_others ~ greeting + perfect")
