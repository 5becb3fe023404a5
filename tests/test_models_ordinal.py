"""fit_ordinal against R 4.2.2 (ordinal 2022.11.16): clm, nominal_test, predict, clmm.

Data shipped in tests/data:
- wine.csv: R's own ``ordinal::wine``, written with ``write.csv(ordinal::wine, "tests/data/wine.csv",
  row.names = FALSE)``.
- service_sim.csv: simulated service encounters (2,000 rows, 40 employees), generated once in Python
  with ``numpy.random.default_rng(20261122)`` (random-intercept logistic latent model, cutpoints
  -1, 0.2, 1.2, 2.4; the CSV itself is the fixture, so the numbers do not depend on regenerating
  it). In R it is read with
  ``s <- read.csv(...); logical columns <- s[[v]] %in% "True"; s$smile <- factor(s$smile,
  levels = c("none", "polite", "genuine")); s$sat_overall <- factor(s$sat_overall, ordered = TRUE)``.

Every expected number below was printed by R (``signif(x, 10)``); the R call is in the comment.
R names terms ``tempwarm``; formulaic names them ``temp[T.warm]``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svcresearch.models import OrdinalResult, fit_ordinal
from svcresearch.models import ordinal as ordmod

DATA = Path(__file__).resolve().parent / "data"
FE_TOL = 1e-4   # fixed-effects models
MM_TOL = 1e-3   # mixed models


@pytest.fixture(scope="module")
def wine():
    w = pd.read_csv(DATA / "wine.csv")
    w["rating"] = pd.Categorical(w["rating"], categories=[1, 2, 3, 4, 5], ordered=True)
    return w


@pytest.fixture(scope="module")
def sim():
    s = pd.read_csv(DATA / "service_sim.csv")
    s["smile"] = pd.Categorical(s["smile"], categories=["none", "polite", "genuine"])
    return s


def _check(result, expected, tol, col):
    got = result.params.set_index("term")[col]
    for term, value in expected.items():
        assert got[term] == pytest.approx(value, abs=tol), (term, got[term], value)


# ---- clm ---------------------------------------------------------------------------------------
# R: f1 <- clm(rating ~ temp + contact, data = wine); summary(f1)$coefficients; logLik(f1)
WINE_LOGIT = {
    "1|2": (-1.344383411, 0.5171020453), "2|3": (1.250808798, 0.4378802030),
    "3|4": (3.466886926, 0.5977604246), "4|5": (5.006404204, 0.7309063437),
    "temp[T.warm]": (2.503102008, 0.5286801008), "contact[T.yes]": (1.527797658, 0.4766226296),
}
WINE_LOGIT_LL = -86.49192337
# R: clm(rating ~ temp + contact, data = wine, link = "probit")
WINE_PROBIT = {
    "1|2": (-0.7732627288, 0.2828623571), "2|3": (0.7360214898, 0.2499388183),
    "3|4": (2.0446804640, 0.3218210139), "4|5": (2.9413449820, 0.3872592804),
    "temp[T.warm]": (1.4993745780, 0.2917903911), "contact[T.yes]": (0.8677435389, 0.2669070093),
}
WINE_PROBIT_LL = -85.76114836
# R: clm(rating ~ temp * contact, data = wine)
WINE_INTER = {
    "1|2": (-1.4112619650, 0.5453532343), "2|3": (1.1435536600, 0.5096555284),
    "3|4": (3.3770824870, 0.6381617212), "4|5": (4.9419822560, 0.7509112609),
    "temp[T.warm]": (2.3211842610, 0.7009479394), "contact[T.yes]": (1.3474604260, 0.6603556502),
    "temp[T.warm]:contact[T.yes]": (0.3595488802, 0.9238188484),
}
WINE_INTER_LL = -86.41620042


@pytest.mark.parametrize("formula,link,expected,ll", [
    ("rating ~ temp + contact", "logit", WINE_LOGIT, WINE_LOGIT_LL),
    ("rating ~ temp + contact", "probit", WINE_PROBIT, WINE_PROBIT_LL),
    ("rating ~ temp * contact", "logit", WINE_INTER, WINE_INTER_LL),
])
def test_clm_wine_matches_r(wine, formula, link, expected, ll):
    res = fit_ordinal(wine, formula, link=link)
    assert isinstance(res, OrdinalResult)
    assert list(res.params.columns) == ["term", "estimate", "std_error", "statistic", "p_value",
                                        "ci_low", "ci_high"]
    assert list(res.params["term"]) == list(expected)  # thresholds first, as clm
    _check(res, {k: v[0] for k, v in expected.items()}, FE_TOL, "estimate")
    _check(res, {k: v[1] for k, v in expected.items()}, FE_TOL, "std_error")
    assert res.loglik == pytest.approx(ll, abs=FE_TOL)
    assert res.aic == pytest.approx(-2 * ll + 2 * len(expected), abs=1e-3)
    assert res.nobs == 72 and res.n_dropped == 0 and res.converged and res.link == link
    assert res.variance_components is None
    assert res._design.collapsed  # 72 rows -> few covariate patterns: the weighted path


def test_clm_vcov_matches_r(wine):
    # R: vcov(clm(rating ~ temp + contact, data = wine))[c("2|3", "tempwarm"), ...]
    res = fit_ordinal(wine, "rating ~ temp + contact")
    v = res.vcov
    assert v.loc["2|3", "3|4"] == pytest.approx(0.1936171459, abs=FE_TOL)
    assert v.loc["1|2", "contact[T.yes]"] == pytest.approx(0.07482961022, abs=FE_TOL)
    assert v.loc["temp[T.warm]", "contact[T.yes]"] == pytest.approx(0.04813506841, abs=FE_TOL)


# R: g1 <- clm(sat_overall ~ eye_contact + greeting + smile + resolved * empathy + wait_min, data = s)
SIM_CLM = {
    "1|2": (-0.73762749690, 0.16557945440), "2|3": (0.35418217120, 0.16282448710),
    "3|4": (1.29878285300, 0.16507928180), "4|5": (2.42426576300, 0.17064860770),
    "eye_contact": (0.46019519080, 0.08747759102), "greeting": (0.32233688150, 0.10014921580),
    "smile[T.polite]": (0.16507343740, 0.09621918518),
    "smile[T.genuine]": (0.56562958310, 0.10837717300),
    "resolved": (0.87813729520, 0.11742224350), "empathy": (0.32714875270, 0.13475747350),
    "wait_min": (-0.06735705278, 0.01421340745),
    "resolved:empathy": (0.24307093790, 0.16788640370),
}


def test_clm_simulated_matches_r(sim):
    res = fit_ordinal(sim, "sat_overall ~ eye_contact + greeting + smile + resolved * empathy + wait_min")
    _check(res, {k: v[0] for k, v in SIM_CLM.items()}, FE_TOL, "estimate")
    _check(res, {k: v[1] for k, v in SIM_CLM.items()}, FE_TOL, "std_error")
    assert res.loglik == pytest.approx(-3023.605004, abs=FE_TOL)  # R: logLik(g1)
    assert not res._design.collapsed  # continuous wait_min: the full-matrix path


def test_collapsed_and_full_paths_agree(sim):
    """Frequency-weight collapsing is an exact rewrite of the likelihood."""
    from svcresearch.models._formula import build_design
    f = "sat_overall ~ eye_contact + greeting + smile + resolved * empathy"
    fits = []
    for collapse in (True, False):
        d = build_design(sim, f, collapse=collapse)
        y, _ = ordmod._outcome_levels(d.y, "sat_overall")
        lk = ordmod._Link("logit")
        fits.append(ordmod._fit_clm_arrays(d.X.to_numpy(), y, d.weights, 5, lk, max_iter=100,
                                           column_names=list(d.X.columns)))
        assert d.collapsed is collapse
    np.testing.assert_allclose(fits[0][0], fits[1][0], atol=1e-9)
    assert fits[0][1] == pytest.approx(fits[1][1], abs=1e-8)


# ---- proportional odds test --------------------------------------------------------------------
def test_nominal_test_wine_matches_r(wine):
    # R: nominal_test(clm(rating ~ temp + contact, data = wine))
    #          Df  logLik       AIC          LRT          Pr(>Chi)
    # temp      3 -84.90443482 187.8088696 3.1749771000 0.3654259436
    # contact   3 -86.20855323 190.4171065 0.5667402684 0.9040023898
    po = fit_ordinal(wine, "rating ~ temp + contact").proportional_odds_test().set_index("term")
    assert list(po.index) == ["temp", "contact"]
    assert po.loc["temp", "df"] == 3 and po.loc["contact", "df"] == 3
    assert po.loc["temp", "loglik"] == pytest.approx(-84.90443482, abs=FE_TOL)
    assert po.loc["temp", "lr_stat"] == pytest.approx(3.1749771000, abs=FE_TOL)
    assert po.loc["temp", "p_value"] == pytest.approx(0.3654259436, abs=FE_TOL)
    assert po.loc["contact", "lr_stat"] == pytest.approx(0.5667402684, abs=FE_TOL)
    assert po.loc["contact", "p_value"] == pytest.approx(0.9040023898, abs=FE_TOL)
    # warm wine never got rating 1 and cold never 5: temp's nominal effects diverge
    assert not po.loc["temp", "finite"] and po.loc["contact", "finite"]


def test_nominal_test_simulated_matches_r(sim):
    # R: nominal_test(clm(sat_overall ~ eye_contact + greeting + resolved, data = s))
    expected = {"eye_contact": (1.0720353690, 0.7838287808), "greeting": (5.4148034610, 0.1438240495),
                "resolved": (0.5239607892, 0.9135966641)}
    po = fit_ordinal(sim, "sat_overall ~ eye_contact + greeting + resolved").proportional_odds_test()
    po = po.set_index("term")
    for term, (lr, p) in expected.items():
        assert po.loc[term, "lr_stat"] == pytest.approx(lr, abs=FE_TOL)
        assert po.loc[term, "p_value"] == pytest.approx(p, abs=FE_TOL)


# ---- predictions and marginal effects ----------------------------------------------------------
NEWDATA = pd.DataFrame({"temp": ["cold", "warm", "warm"], "contact": ["no", "no", "yes"]})


@pytest.mark.parametrize("link,expected", [
    # R: predict(f1, newdata = nd, type = "prob")$fit  (nd = NEWDATA)
    ("logit", [[0.206790132400, 0.57064970430, 0.1922909373, 0.02361881639, 0.006650409639],
               [0.020887709340, 0.20141571640, 0.5015755428, 0.20049402370, 0.075627007770],
               [0.004608273511, 0.05380128431, 0.3042099408, 0.36359580980, 0.273784691600]]),
    # R: predict(f2, newdata = nd, type = "prob")$fit  (f2 = probit fit)
    ("probit", [[0.2196834544000, 0.54945773570, 0.2104156244, 0.01880923363, 0.001633951813],
                [0.0115240227500, 0.21110240170, 0.4846019970, 0.21811621700, 0.074655361520],
                [0.0008436416472, 0.05059132446, 0.3221256153, 0.34353227260, 0.282907146000]]),
])
def test_predict_proba_matches_r(wine, link, expected):
    res = fit_ordinal(wine, "rating ~ temp + contact", link=link)
    prob = res.predict_proba(NEWDATA)
    assert list(prob.columns) == ["1", "2", "3", "4", "5"]
    np.testing.assert_allclose(prob.to_numpy(), np.array(expected), atol=FE_TOL)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-12)


def test_marginal_effects_match_finite_differences(sim):
    """AMEs vs central differences of predict_proba; delta SEs vs a numerical Jacobian."""
    res = fit_ordinal(sim, "sat_overall ~ eye_contact + greeting + wait_min")
    X, _, w = res._model_data
    ame = res.marginal_effects()
    assert list(ame.columns[:2]) == ["term", "category"]
    h = 1e-3

    def d5(fun, h):
        # five-point central difference: truncation O(h^4), so nested differences stay precise
        return (-fun(2 * h) + 8 * fun(h) - 8 * fun(-h) + fun(-2 * h)) / (12 * h)

    def ame_of(params):
        th, be = params[:4], params[4:]
        eta = X @ be
        out = []
        for j in range(X.shape[1]):
            def mean_prob(shift):
                e = eta + shift * be[j]
                cum = res._link.cdf(th[None, :] - e[:, None])
                cum = np.column_stack([np.zeros(len(e)), cum, np.ones(len(e))])
                return (w / w.sum()) @ np.diff(cum, axis=1)
            out.append(d5(mean_prob, h))
        return np.concatenate(out)

    theta = np.concatenate([res.thresholds, res.beta])
    np.testing.assert_allclose(ame["estimate"], ame_of(theta), atol=1e-7)
    np.testing.assert_allclose(ame.groupby("term", sort=False)["estimate"].sum(), 0, atol=1e-12)
    jac = np.column_stack([d5(lambda t, e=e: ame_of(theta + t * e), 1e-3)
                           for e in np.eye(len(theta))])
    se = np.sqrt(np.diag(jac @ res.vcov.to_numpy() @ jac.T))
    np.testing.assert_allclose(ame["std_error"], se, rtol=1e-4)


# ---- clmm --------------------------------------------------------------------------------------
# R: m1 <- clmm(rating ~ temp + contact + (1 | judge), data = wine); summary(m1); VarCorr(m1)
WINE_CLMM_LAPLACE = {
    "1|2": (-1.623666924, 0.6824410320), "2|3": (1.513365183, 0.6037533304),
    "3|4": (4.228526688, 0.8089660503), "4|5": (6.088772558, 0.9724536542),
    "temp[T.warm]": (3.062996626, 0.5953761831), "contact[T.yes]": (1.834884922, 0.5125293320),
}
# R: m2 <- clmm(rating ~ temp + contact + (1 | judge), data = wine, nAGQ = 10)
WINE_CLMM_AGQ10 = {
    "1|2": (-1.623487452, 0.6833862582), "2|3": (1.512796039, 0.6044373530),
    "3|4": (4.227053455, 0.8089782154), "4|5": (6.086152280, 0.9719398347),
    "temp[T.warm]": (3.061890993, 0.5950763341), "contact[T.yes]": (1.833433365, 0.5121712435),
}


# R: sqrt(diag(vcov(m1)))["ST1"] and sqrt(diag(vcov(m2)))["ST1"]: SE of log(sigma)
@pytest.mark.parametrize("nagq,expected,ll,var,log_se", [
    (1, WINE_CLMM_LAPLACE, -81.56540929, 1.279460909, 0.35255082),
    (10, WINE_CLMM_AGQ10, -81.53246071, 1.287733134, 0.35187146),
])
def test_clmm_wine_matches_r(wine, nagq, expected, ll, var, log_se):
    res = fit_ordinal(wine, "rating ~ temp + contact", groups="judge", nagq=nagq)
    _check(res, {k: v[0] for k, v in expected.items()}, MM_TOL, "estimate")
    _check(res, {k: v[1] for k, v in expected.items()}, MM_TOL, "std_error")
    assert res.loglik == pytest.approx(ll, abs=MM_TOL)
    vc = res.variance_components
    assert list(vc.columns) == ["group", "variance", "std", "log_std_error"]
    assert vc["group"].tolist() == ["judge"]
    assert vc["variance"].iloc[0] == pytest.approx(var, abs=MM_TOL)
    assert vc["log_std_error"].iloc[0] == pytest.approx(log_se, abs=MM_TOL)
    assert vc["std"].iloc[0] == pytest.approx(np.sqrt(var), abs=MM_TOL)
    assert res.n_groups == 9 and res.converged


# R: clmm(sat_overall ~ eye_contact + greeting + smile + resolved * empathy + (1 | employee), data = s)
SIM_CLMM = {
    "1|2": (-0.5180037421, 0.18911125300), "2|3": (0.6603438652, 0.18705738020),
    "3|4": (1.6872313680, 0.19001256760), "4|5": (2.8933402400, 0.19660319400),
    "eye_contact": (0.5038705823, 0.08889382464), "greeting": (0.3193584272, 0.10207415420),
    "smile[T.polite]": (0.1971490831, 0.09789372864), "smile[T.genuine]": (0.6357324780, 0.11085328970),
    "resolved": (0.9289791285, 0.11931440970), "empathy": (0.3630407175, 0.13717115220),
    "resolved:empathy": (0.2330740474, 0.17131230430),
}
# same call with nAGQ = 7
SIM_CLMM_AGQ7 = {
    "1|2": (-0.5180356514, 0.18915572760), "2|3": (0.6603039947, 0.18710249220),
    "3|4": (1.6871766270, 0.19005807940), "4|5": (2.8932797200, 0.19664826920),
    "eye_contact": (0.5038644118, 0.08889326409), "greeting": (0.3193413759, 0.10207456980),
    "smile[T.polite]": (0.1971227696, 0.09789365481), "smile[T.genuine]": (0.6357100911, 0.11085284230),
    "resolved": (0.9289983120, 0.11931665950), "empathy": (0.3630691108, 0.13717339710),
    "resolved:empathy": (0.2330197503, 0.17131426270),
}


@pytest.mark.parametrize("nagq,expected,ll,var", [
    (1, SIM_CLMM, -2952.827952, 0.4247938297),
    (7, SIM_CLMM_AGQ7, -2952.763923, 0.4253026016),
])
def test_clmm_simulated_matches_r(sim, nagq, expected, ll, var):
    res = fit_ordinal(sim, "sat_overall ~ eye_contact + greeting + smile + resolved * empathy",
                      groups="employee", nagq=nagq)
    _check(res, {k: v[0] for k, v in expected.items()}, MM_TOL, "estimate")
    _check(res, {k: v[1] for k, v in expected.items()}, MM_TOL, "std_error")
    assert res.loglik == pytest.approx(ll, abs=MM_TOL)
    assert res.variance_components["variance"].iloc[0] == pytest.approx(var, abs=MM_TOL)


@pytest.mark.parametrize("nagq", [1, 5])
def test_clmm_analytic_gradient_matches_finite_differences(wine, nagq):
    res = fit_ordinal(wine, "rating ~ temp + contact", link="probit", groups="judge")
    X, y, w = res._model_data
    groups = res._design.groups
    model = ordmod._CLMM(X, y, w, groups, 5, int(groups.max()) + 1, ordmod._Link("probit"), nagq)
    psi = np.array([-0.9, 0.7, 2.1, 3.0, 1.4, 0.8, np.log(0.9)])
    _, grad = model.value_grad(psi)
    num = []
    for e in np.eye(len(psi)) * 1e-6:
        num.append((model.value_grad(psi + e, grad=False)[0]
                    - model.value_grad(psi - e, grad=False)[0]) / 2e-6)
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-6)


def test_summary_and_repr(wine):
    res = fit_ordinal(wine, "rating ~ temp + contact", groups="judge")
    text = res.summary()
    assert "1|2" in text and "judge" in text and "Laplace" in text
    assert repr(res) == text


# ---- errors ------------------------------------------------------------------------------------
def test_missing_values_dropped_and_counted(wine):
    w = wine.copy()
    w["temp"] = w["temp"].astype(object)
    w.loc[[0, 5, 9], "temp"] = None
    res = fit_ordinal(w, "rating ~ temp + contact")
    assert res.n_dropped == 3 and res.nobs == 69
    assert "dropped 3 rows" in res.summary()
    with pytest.raises(ValueError, match=r"3 of 72 rows have missing values .*'temp': 3"):
        fit_ordinal(w, "rating ~ temp + contact", missing="raise")
    with pytest.raises(ValueError, match="missing"):
        fit_ordinal(w, "rating ~ temp + contact", missing="ignore")


def test_empty_outcome_category_is_an_error(wine):
    w = wine.copy()
    w["rating"] = pd.Categorical(w["rating"].astype(int), categories=[0, 1, 2, 3, 4, 5], ordered=True)
    with pytest.raises(ValueError, match=r"never observed.*'0'.*remove_unused_categories"):
        fit_ordinal(w, "rating ~ temp + contact")


def test_single_observed_category_is_an_error(wine):
    w = wine.assign(rating=3)
    with pytest.raises(ValueError, match="Outcome 'rating' takes only one value in the used rows"):
        fit_ordinal(w, "rating ~ temp + contact", groups="judge")
    cat = wine.assign(rating=pd.Categorical(["3"] * len(wine), categories=["3"], ordered=True))
    with pytest.raises(ValueError, match="Outcome 'rating' takes only one value"):
        fit_ordinal(cat, "rating ~ temp")


def test_outcome_must_be_ordered_or_numeric(wine):
    w = wine.copy()
    w["rating_str"] = w["rating"].astype(str)
    with pytest.raises(ValueError, match="must be numeric .* or an ordered categorical"):
        fit_ordinal(w, "rating_str ~ temp")
    w["rating_cat"] = pd.Categorical(w["rating"].astype(int))
    with pytest.raises(ValueError, match="unordered categorical"):
        fit_ordinal(w, "rating_cat ~ temp")
    w["good"] = w["rating"].astype(int) > 3
    with pytest.raises(ValueError, match="fit_logistic"):
        fit_ordinal(w, "good ~ temp")


def test_separation_is_an_error():
    rng = np.random.default_rng(1)
    x = rng.random(200) < 0.5
    df = pd.DataFrame({"y": np.where(x, 3, rng.integers(1, 4, 200)), "x": x})
    with pytest.raises(ValueError, match=r"separation.*'x'"):
        fit_ordinal(df, "y ~ x")


def test_non_convergence_is_an_error(sim):
    with pytest.raises(ValueError, match=r"did not converge in max_iter=1 .*increase `max_iter`"):
        fit_ordinal(sim, "sat_overall ~ eye_contact + wait_min", max_iter=1)


def test_bad_arguments(wine):
    with pytest.raises(ValueError, match="`link` must be one of"):
        fit_ordinal(wine, "rating ~ temp", link="cauchit")
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        fit_ordinal(wine, "rating ~ temp", confidence=95)
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        fit_ordinal(wine, "rating ~ temp").marginal_effects(confidence=1.0)
    with pytest.raises(ValueError, match="not in `data`"):
        fit_ordinal(wine, "rating ~ temperature")
    with pytest.raises(ValueError, match="outcome 'score' is not a column"):
        fit_ordinal(wine, "score ~ temp")
    with pytest.raises(ValueError, match="exactly one '~'"):
        fit_ordinal(wine, "rating temp")
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame"):
        fit_ordinal(wine.to_dict(), "rating ~ temp")
    with pytest.raises(ValueError, match="`groups` column 'juror' is not in `data`"):
        fit_ordinal(wine, "rating ~ temp", groups="juror")
    with pytest.raises(ValueError, match="rank deficient"):
        fit_ordinal(wine.assign(t2=wine["temp"]), "rating ~ C(temp) + C(t2)")
    with pytest.raises(ValueError, match="fixed-effects models"):
        fit_ordinal(wine, "rating ~ temp", groups="judge").proportional_odds_test()


def test_results_do_not_depend_on_group_labels(sim):
    """Pseudonyms change with the key; the numbers must not change at all (not even in the last bit)."""
    relabelled = sim.copy()
    labels = sorted(sim["employee"].unique())
    # reversing the label order reverses any label-sorted summation order
    relabelled["employee"] = sim["employee"].map(dict(zip(labels, [f"x{i:03d}" for i in range(len(labels))][::-1])))
    a = fit_ordinal(sim, "sat_overall ~ eye_contact + greeting", groups="employee")
    b = fit_ordinal(relabelled, "sat_overall ~ eye_contact + greeting", groups="employee")
    assert a.params["estimate"].tolist() == b.params["estimate"].tolist()
    assert a.params["std_error"].tolist() == b.params["std_error"].tolist()
    assert a.loglik == b.loglik


# R 4.2.2, ordinal 2022.11.16, on a subset of the cleaned default study (tests/data/default_study_subset.csv):
# d$sat_overall <- factor(d$sat_overall, ordered = TRUE)
# f <- clmm(sat_overall ~ resolved * empathy + greeting + wait_min + (1 | employee), data = d, nAGQ = 5)
# coef(summary(f))[, 1:2]; logLik(f); VarCorr(f)
DEFAULT_STUDY_CLMM_AGQ5 = {
    "1|2": (-3.23241968, 0.241187349), "2|3": (-2.08117049, 0.206239859),
    "3|4": (-0.71746618, 0.193494395), "4|5": (1.12972911, 0.195893485),
    "resolved": (0.88325869, 0.155976873), "empathy": (0.23876117, 0.186372190),
    "greeting": (0.14730938, 0.134625634), "wait_min": (-0.11299859, 0.013502088),
    "resolved:empathy": (0.76182270, 0.219774011),
}


def test_clmm_on_the_cleaned_default_study_matches_r():
    data = pd.read_csv(Path(__file__).parent / "data" / "default_study_subset.csv")
    res = fit_ordinal(data, "sat_overall ~ resolved * empathy + greeting + wait_min", groups="employee", nagq=5)
    _check(res, {k: v[0] for k, v in DEFAULT_STUDY_CLMM_AGQ5.items()}, MM_TOL, "estimate")
    _check(res, {k: v[1] for k, v in DEFAULT_STUDY_CLMM_AGQ5.items()}, MM_TOL, "std_error")
    assert res.loglik == pytest.approx(-1786.700416, abs=MM_TOL)
    assert res.variance_components["variance"].iloc[0] == pytest.approx(0.1618913, abs=MM_TOL)


def test_confidence_sets_the_wald_coverage(wine):
    # Wald interval estimate +/- z_{(1+c)/2} * SE, as R's confint.default(clm(...), level = c)
    from scipy import stats

    p90 = fit_ordinal(wine, "rating ~ temp + contact", confidence=0.9).params
    z = stats.norm.ppf(0.95)
    np.testing.assert_allclose(p90["ci_high"] - p90["estimate"], z * p90["std_error"], rtol=1e-12)
