"""The model API on hostile and sloppy inputs (issue 9, "Models").

Every unusable input ends in one readable error naming the column (and the first offending row
where there is one) and what was expected -- never a pandas/numpy message such as "unhashable
type" -- and badly scaled but valid predictors (x 1e6, epoch seconds) give the same fit as
well-scaled ones. Expected numbers are not hard-coded: they come from the same model fitted on
the well-scaled or cleaned data, which tests/test_models_ordinal.py and test_models_mixed.py pin
to R (ordinal::clm/clmm, lme4::lmer, glm, geepack).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svcresearch._validation import ColumnTypeError, InputError
from svcresearch.models import fit_logistic, fit_mixed, fit_ordinal

DATA = Path(__file__).resolve().parent / "data"
EPOCH = 1.7e9  # seconds since 1970: a time stamp in 2023


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(DATA / "sleepstudy.csv")


@pytest.fixture(scope="module")
def wine():
    return pd.read_csv(DATA / "wine.csv")


@pytest.fixture(scope="module")
def sim():
    """Two-level data with a continuous predictor: 60 groups of 10 rows."""
    rng = np.random.default_rng(20260309)
    n, G = 600, 60
    g = np.repeat(np.arange(G), n // G)
    x = rng.normal(0.0, 1.0, n)
    b = rng.random(n) < 0.4
    u = rng.normal(0.0, 0.6, G)[g]
    latent = 0.8 * x + 0.5 * b + u + rng.logistic(size=n)
    return pd.DataFrame({
        "g": [f"E{k:03d}" for k in g], "x": x, "b": b,
        "rating": 1 + np.searchsorted([-1.0, 0.0, 1.0, 2.0], latent),
        "yes": latent > 0.5,
        "score": 3.0 + 0.4 * x + 0.3 * b + u + rng.normal(0.0, 1.0, n),
    })


def _params(res):
    return res.params.set_index("term")


# ------------------------------------------------------------------------------------------------
# non-finite values
# ------------------------------------------------------------------------------------------------
def test_fit_mixed_rejects_an_infinite_outcome_naming_column_and_row(sleep):
    bad = sleep.copy()
    bad.loc[[3, 7], "Reaction"] = [np.inf, -np.inf]
    msg = ("column 'Reaction': `data` holds an infinite value (inf) at row 3 (index label); a model "
           "needs finite numbers: correct it, or set it to NaN to drop the row.")
    with pytest.raises(InputError) as err:
        fit_mixed(bad, "Reaction ~ Days", groups="Subject")
    assert str(err.value) == msg
    assert isinstance(err.value, ValueError) and err.value.column == "Reaction"


def test_fit_mixed_rejects_an_infinite_predictor(sleep):
    bad = sleep.assign(Days=sleep["Days"].astype(float))
    bad.loc[11, "Days"] = -np.inf
    with pytest.raises(ValueError, match=re.escape("column 'Days': `data` holds an infinite value "
                                                   "(-inf) at row 11 (index label)")):
        fit_mixed(bad, "Reaction ~ Days", groups="Subject")


def test_fit_ordinal_rejects_an_infinite_outcome(wine):
    bad = wine.assign(rating=wine["rating"].astype(float))
    bad.loc[5, "rating"] = np.inf
    with pytest.raises(ValueError, match=re.escape("column 'rating': `data` holds an infinite value "
                                                   "(inf) at row 5 (index label)")):
        fit_ordinal(bad, "rating ~ temp + contact")
    with pytest.raises(ValueError, match=r"column 'rating'.*infinite.*row 5"):
        fit_ordinal(bad, "rating ~ temp + contact", groups="judge")


def test_fit_logistic_rejects_an_infinite_predictor(sim):
    bad = sim.copy()
    bad.loc[42, "x"] = np.inf
    with pytest.raises(ValueError, match=re.escape("column 'x': `data` holds an infinite value (inf) "
                                                   "at row 42 (index label)")):
        fit_logistic(bad, "yes ~ x + b")


def test_an_infinity_in_a_row_dropped_for_missing_values_is_still_reported(wine):
    # an inf is never silently dropped, even where another column of the row is missing
    bad = wine.assign(rating=wine["rating"].astype(float), temp=wine["temp"].astype(object))
    bad.loc[5, "rating"] = np.inf
    bad.loc[5, "temp"] = None
    with pytest.raises(ValueError, match=r"column 'rating'.*infinite value \(inf\) at row 5"):
        fit_ordinal(bad, "rating ~ temp + contact")


def test_missing_outcome_rows_are_still_dropped_and_counted(wine, sleep):
    # docs/study_layout.md and the fitters: missing="drop" (default) drops rows with NaN/NA in a
    # used column and counts them; only infinities are refused
    w = wine.assign(rating=wine["rating"].astype(float))
    w.loc[[1, 2], "rating"] = np.nan
    res = fit_ordinal(w, "rating ~ temp + contact")
    ref = fit_ordinal(wine.drop(index=[1, 2]), "rating ~ temp + contact")
    assert res.n_dropped == 2 and res.nobs == 70
    np.testing.assert_allclose(res.params["estimate"], ref.params["estimate"], rtol=1e-10)
    s = sleep.copy()
    s.loc[[0, 1], "Reaction"] = np.nan
    res = fit_mixed(s, "Reaction ~ Days", groups="Subject")
    assert res.n_dropped == 2 and res.nobs == 178
    with pytest.raises(ValueError, match="2 of 180 rows have missing values"):
        fit_mixed(s, "Reaction ~ Days", groups="Subject", missing="raise")


def test_a_transformation_giving_infinity_names_the_design_column(sleep):
    with pytest.raises(ValueError, match=re.escape("Design column 'np.log(Days)' is not finite (-inf) "
                                                   "at row 0 (index label)")):
        fit_mixed(sleep, "Reaction ~ np.log(Days)", groups="Subject")


# ------------------------------------------------------------------------------------------------
# one row per group (lme4 refuses)
# ------------------------------------------------------------------------------------------------
def _one_row_per_subject(sleep):
    # one row per subject, with Days varying between subjects so the fixed effects are estimable
    rows = [grp.iloc[i % 10] for i, (_, grp) in enumerate(sleep.groupby("Subject", sort=False))]
    return pd.DataFrame(rows).reset_index(drop=True)


def test_fit_mixed_refuses_one_row_per_group_like_lme4(sleep):
    # lme4 (lmerControl(check.nobs.vs.nlev = "stop")): "number of levels of each grouping
    # factor must be < number of observations (problems: Subject)"
    one = _one_row_per_subject(sleep)
    msg = ("`groups` column 'Subject' has 18 levels in the 18 rows used (every group has a single "
           "row): the number of levels of each grouping factor must be < number of observations "
           "(as lme4::lmer requires); fit without `groups` or group by a coarser column.")
    with pytest.raises(ValueError) as err:
        fit_mixed(one, "Reaction ~ Days", groups="Subject")
    assert str(err.value) == msg


def test_fit_mixed_refuses_when_dropped_rows_leave_one_row_per_group(sleep):
    # the rule applies to the rows used, after missing values are dropped (lme4's model frame)
    s = sleep.copy()
    keep = s.groupby("Subject").cumcount() == s["Subject"].rank(method="dense").astype(int) % 10
    s.loc[~keep, "Reaction"] = np.nan
    with pytest.raises(ValueError, match=r"has 18 levels in the 18 rows used .* must be < number of "
                                         r"observations"):
        fit_mixed(s, "Reaction ~ Days", groups="Subject")


def test_fit_mixed_fits_with_one_more_row_than_groups(sleep):
    # lme4 fits when nlevels < nobs, even with most groups a single row: so do we
    one = _one_row_per_subject(sleep)
    extra = sleep[(sleep["Subject"] == one["Subject"].iloc[0]) & (sleep["Days"] == 9)]
    res = fit_mixed(pd.concat([one, extra], ignore_index=True), "Reaction ~ Days", groups="Subject")
    assert res.nobs == 19 and res.n_groups == 18


def test_fit_ordinal_notes_one_row_per_group_like_clmm(sim):
    # ordinal::clmm only warns (checkRanef = "warn"): "no. random effects (=60) >= no.
    # observations (=60)"; we fit and say so in .notes
    one = sim.groupby("g").head(1)
    res = fit_ordinal(one, "rating ~ x", groups="g")
    assert any(n.startswith("no. random effects (=60) >= no. observations (=60)") for n in res.notes)


# ------------------------------------------------------------------------------------------------
# cells of the wrong kind
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell,kind", [(["cold"], "list"), ({"t": "cold"}, "dict"),
                                       ({"cold"}, "set"), (("cold",), "tuple")])
def test_unhashable_cells_name_the_column(wine, cell, kind):
    bad = wine.assign(temp=wine["temp"].astype(object))
    bad.at[4, "temp"] = cell
    msg = (f"`data` column 'temp' holds a {kind} at row 4 (index label); a model needs one number, "
           f"label or yes/no value per cell.")
    for fit in (lambda: fit_ordinal(bad, "rating ~ temp"),
                lambda: fit_ordinal(bad, "rating ~ temp", groups="judge")):
        with pytest.raises(ColumnTypeError) as err:
            fit()
        assert str(err.value) == msg and "unhashable" not in str(err.value)
        assert isinstance(err.value, TypeError)


def test_unhashable_cells_in_outcome_and_groups(sleep):
    bad = sleep.assign(Reaction=sleep["Reaction"].astype(object))
    bad.at[2, "Reaction"] = [250.0]
    with pytest.raises(TypeError, match=re.escape("`data` column 'Reaction' holds a list at row 2")):
        fit_mixed(bad, "Reaction ~ Days", groups="Subject")
    bad = sleep.assign(Subject=sleep["Subject"].astype(object))
    bad.at[9, "Subject"] = {"id": 308}
    with pytest.raises(TypeError, match=re.escape("`data` column 'Subject' holds a dict at row 9")):
        fit_mixed(bad, "Reaction ~ Days", groups="Subject")


def test_numbers_stored_as_text_in_a_predictor_are_refused(sleep, wine, sim):
    s = sleep.assign(Days=sleep["Days"].astype(str))
    msg = ("`data` column 'Days' holds numbers stored as text (e.g. '0' at row 0 (index label)); a "
           "model predictor must be numeric: convert it with pd.to_numeric(data['Days']), or make it "
           "a pd.Categorical if the numbers are category codes.")
    with pytest.raises(ColumnTypeError) as err:
        fit_mixed(s, "Reaction ~ Days", groups="Subject")
    assert str(err.value) == msg
    x_text = sim.assign(x=sim["x"].round(3).map(lambda v: f"{v}").astype(object))
    for fit in (lambda: fit_ordinal(x_text, "rating ~ x + b"),
                lambda: fit_ordinal(x_text, "rating ~ x + b", groups="g"),
                lambda: fit_logistic(x_text, "yes ~ x + b")):
        with pytest.raises(TypeError, match=r"`data` column 'x' holds numbers stored as text .* must be "
                                            r"numeric"):
            fit()
    # also inside a formula call: C(x) of text numbers is refused the same way
    with pytest.raises(TypeError, match="column 'x' holds numbers stored as text"):
        fit_ordinal(x_text, "rating ~ C(x)")


def test_numbers_stored_as_text_in_the_outcome_are_refused(sleep, wine, sim):
    with pytest.raises(ColumnTypeError, match=r"Outcome 'Reaction' must be numeric for fit_mixed; got "
                                              r"dtype (str|object) \(numbers stored as text"):
        fit_mixed(sleep.assign(Reaction=sleep["Reaction"].astype(str)), "Reaction ~ Days",
                  groups="Subject")
    with pytest.raises(ColumnTypeError, match=r"Outcome 'rating' must be numeric \(e.g. ratings 1-5\) or "
                                              r"an ordered categorical"):
        fit_ordinal(wine.assign(rating=wine["rating"].astype(str)), "rating ~ temp")
    with pytest.raises(ColumnTypeError, match=r"Outcome 'yes' must be boolean or coded 0/1"):
        fit_logistic(sim.assign(yes=sim["yes"].astype(int).astype(str)), "yes ~ x")


def test_column_type_errors_are_also_value_errors():
    # callers that turn unusable input into one line catch ValueError (hypotheses, CLI)
    assert issubclass(ColumnTypeError, TypeError) and issubclass(ColumnTypeError, ValueError)


def test_a_column_mixing_numbers_and_text_is_refused(sleep):
    s = sleep.assign(Days=sleep["Days"].astype(object))
    s.at[6, "Days"] = "six"
    with pytest.raises(ColumnTypeError, match=re.escape("`data` column 'Days' mixes numbers and text (0 at "
                                                        "row 0 (index label), 'six' at row 6 (index "
                                                        "label))")):
        fit_mixed(s, "Reaction ~ Days", groups="Subject")


def test_text_labels_stay_categorical_predictors(wine):
    # the strict rule is only for text that is all numbers; labels are categories as before
    res = fit_ordinal(wine, "rating ~ temp + contact")
    assert list(res.params["term"])[-2:] == ["temp[T.warm]", "contact[T.yes]"]


def test_numbers_in_an_object_column_are_numbers(sleep):
    # an object column of Python numbers (e.g. after a concat) is numeric, not 10 categories
    obj = sleep.assign(Days=sleep["Days"].astype(object))
    res, ref = (fit_mixed(d, "Reaction ~ Days", groups="Subject") for d in (obj, sleep))
    assert list(res.params["term"]) == ["Intercept", "Days"]
    np.testing.assert_allclose(res.params["estimate"], ref.params["estimate"], rtol=1e-12)


def test_dates_durations_and_complex_numbers_are_refused(sim):
    stamped = sim.assign(t=pd.Timestamp("2026-03-02") + pd.to_timedelta(sim["x"], unit="D"))
    with pytest.raises(ColumnTypeError, match=re.escape(
            "`data` column 't' holds dates or durations (dtype datetime64[ns]); a model needs numbers: "
            "convert it first, e.g. (data['t'] - data['t'].min()).dt.total_seconds() / 86400 for days.")):
        fit_ordinal(stamped, "rating ~ t")
    waited = sim.assign(wait=pd.to_timedelta(sim["x"].abs(), unit="min"))
    with pytest.raises(TypeError, match=r"column 'wait' holds dates or durations .*total_seconds\(\) / 60"):
        fit_mixed(waited, "score ~ wait", groups="g")
    with pytest.raises(TypeError, match=re.escape("`data` column 'x' holds complex numbers (dtype complex128)")):
        fit_logistic(sim.assign(x=sim["x"] + 0j), "yes ~ x")


def test_a_duplicated_column_name_is_refused(sim):
    dup = pd.concat([sim, sim[["x"]]], axis=1)
    for fit in (lambda: fit_ordinal(dup, "rating ~ x"), lambda: fit_mixed(dup, "score ~ x", groups="g"),
                lambda: fit_logistic(dup, "yes ~ x")):
        with pytest.raises(ValueError, match=re.escape("`data` has more than one column named 'x'; rename or "
                                                       "drop the duplicates")):
            fit()


# ------------------------------------------------------------------------------------------------
# nullable pandas dtypes and categorical outcomes
# ------------------------------------------------------------------------------------------------
def test_nullable_dtypes_with_na_drop_rows_like_numpy_dtypes(sim):
    na_rows = [3, 50, 120]
    nullable = sim.assign(b=sim["b"].astype("boolean"), rating=sim["rating"].astype("Int64"),
                          x=sim["x"].astype("Float64"), yes=sim["yes"].astype("boolean"),
                          score=sim["score"].astype("Float64"))
    nullable.loc[na_rows[0], "b"] = pd.NA
    nullable.loc[na_rows[1], ["rating", "yes", "score"]] = pd.NA
    nullable.loc[na_rows[2], "x"] = pd.NA
    plain = sim.drop(index=na_rows)
    for fit in (lambda d: fit_ordinal(d, "rating ~ x + b"),
                lambda d: fit_ordinal(d, "rating ~ x + b", groups="g"),
                lambda d: fit_mixed(d, "score ~ x + b", groups="g"),
                lambda d: fit_logistic(d, "yes ~ x + b", cluster="g")):
        res, ref = fit(nullable), fit(plain)
        assert res.n_dropped == 3 and res.nobs == ref.nobs == 597
        assert list(res.params["term"]) == list(ref.params["term"])
        np.testing.assert_allclose(res.params[["estimate", "std_error"]], ref.params[["estimate", "std_error"]],
                                   rtol=1e-8)


def test_categorical_outcome_uses_its_category_order(wine):
    # levels come from the ordered categorical, not from sorting: reversing the order reverses
    # the thresholds' names and flips the signs of the coefficients
    num = fit_ordinal(wine, "rating ~ temp + contact")
    rev = wine.assign(rating=pd.Categorical(wine["rating"], categories=[5, 4, 3, 2, 1], ordered=True))
    res = fit_ordinal(rev, "rating ~ temp + contact")
    assert res.levels == ["5", "4", "3", "2", "1"]
    assert list(res.params["term"][:4]) == ["5|4", "4|3", "3|2", "2|1"]
    np.testing.assert_allclose(_params(res).loc[["temp[T.warm]", "contact[T.yes]"], "estimate"],
                               -_params(num).loc[["temp[T.warm]", "contact[T.yes]"], "estimate"], rtol=1e-8)
    np.testing.assert_allclose(res.thresholds, -num.thresholds[::-1], rtol=1e-8)
    with pytest.raises(ValueError, match="unordered categorical"):
        fit_ordinal(wine.assign(rating=pd.Categorical(wine["rating"])), "rating ~ temp")


# ------------------------------------------------------------------------------------------------
# badly scaled predictors: an exact reparametrisation, not a false separation / rank error
# ------------------------------------------------------------------------------------------------
SCALED_FITS = {
    "clm": lambda d: fit_ordinal(d, "rating ~ x + b"),
    "clm_probit": lambda d: fit_ordinal(d, "rating ~ x * b", link="probit"),
    "clmm": lambda d: fit_ordinal(d, "rating ~ x + b", groups="g"),
    "clmm_agq": lambda d: fit_ordinal(d, "rating ~ x + b", groups="g", nagq=5),
    "lmm_reml": lambda d: fit_mixed(d, "score ~ x + b", groups="g"),
    "lmm_ml": lambda d: fit_mixed(d, "score ~ x + b", groups="g", reml=False),
    "glm": lambda d: fit_logistic(d, "yes ~ x + b"),
    "glm_cluster": lambda d: fit_logistic(d, "yes ~ x + b", cluster="g"),
    "gee": lambda d: fit_logistic(d, "yes ~ x + b", groups="g", method="gee"),
}


def _slope_terms(res):
    return [t for t in res.params["term"] if "x" in t]


@pytest.mark.parametrize("name", list(SCALED_FITS))
@pytest.mark.parametrize("factor", [1e6, 1e-6])
def test_multiplying_a_predictor_divides_its_coefficient(sim, name, factor):
    fit = SCALED_FITS[name]
    ref, res = fit(sim), fit(sim.assign(x=sim["x"] * factor))
    rp, sp = _params(ref), _params(res)
    slopes = _slope_terms(ref)
    others = [t for t in rp.index if t not in slopes]
    np.testing.assert_allclose(sp.loc[slopes, "estimate"] * factor, rp.loc[slopes, "estimate"], rtol=1e-8)
    np.testing.assert_allclose(sp.loc[slopes, "std_error"] * factor, rp.loc[slopes, "std_error"], rtol=1e-8)
    np.testing.assert_allclose(sp.loc[others, ["estimate", "std_error"]], rp.loc[others, ["estimate", "std_error"]],
                               rtol=1e-8, atol=1e-12)
    # the whole covariance matrix: V = D V_ref D with D = 1/factor on the x rows
    d = np.where(rp.index.isin(slopes), 1 / factor, 1.0)
    np.testing.assert_allclose(res.vcov.to_numpy(), ref.vcov.to_numpy() * np.outer(d, d), rtol=1e-7,
                               atol=1e-12 * np.abs(ref.vcov.to_numpy()).max())
    if name == "lmm_reml":
        # REML's log|X'V^-1 X| depends on the scale of X, exactly as in lme4
        assert res.loglik == pytest.approx(ref.loglik - np.log(factor), rel=1e-10)
    elif name != "gee":
        assert res.loglik == pytest.approx(ref.loglik, rel=1e-10)
    if ref.variance_components is not None:
        np.testing.assert_allclose(res.variance_components["variance"], ref.variance_components["variance"],
                                   rtol=1e-7)


@pytest.mark.parametrize("name", list(SCALED_FITS))
def test_epoch_seconds_fit_like_days(sim, name):
    # x as a time stamp: 1.7e9 seconds + x days. Before the fix: "rank deficient" / "separation".
    fit = SCALED_FITS[name]
    ref = fit(sim)
    res = fit(sim.assign(x=EPOCH + sim["x"] * 86400.0))
    rp, sp = _params(ref), _params(res)
    slopes = _slope_terms(ref)
    np.testing.assert_allclose(sp.loc[slopes, "estimate"] * 86400.0, rp.loc[slopes, "estimate"], rtol=1e-8)
    np.testing.assert_allclose(sp.loc[slopes, "std_error"] * 86400.0, rp.loc[slopes, "std_error"], rtol=1e-8)
    if name != "gee":
        assert res.loglik == pytest.approx(ref.loglik - (np.log(86400.0) if name == "lmm_reml" else 0.0),
                                           rel=1e-10)
    assert res.converged
    if name.startswith("clm"):
        # same predicted probabilities for the same encounters
        np.testing.assert_allclose(res.predict_proba(sim.assign(x=EPOCH + sim["x"] * 86400.0).head(20)),
                                   ref.predict_proba(sim.head(20)), rtol=1e-7, atol=1e-12)


def test_scaled_predictor_keeps_proportional_odds_test_and_marginal_effects(sim):
    ref = fit_ordinal(sim, "rating ~ x + b")
    res = fit_ordinal(sim.assign(x=sim["x"] * 1e6), "rating ~ x + b")
    pr, ps = ref.proportional_odds_test(), res.proportional_odds_test()
    np.testing.assert_allclose(ps["lr_stat"], pr["lr_stat"], rtol=1e-6)
    mr, ms = ref.marginal_effects(), res.marginal_effects()
    xr = mr["term"] == "x"
    np.testing.assert_allclose(ms.loc[xr, "estimate"] * 1e6, mr.loc[xr, "estimate"], rtol=1e-8)
    np.testing.assert_allclose(ms.loc[~xr, "estimate"], mr.loc[~xr, "estimate"], rtol=1e-8)


def test_genuine_separation_is_still_reported_on_any_scale(sim):
    x = sim["x"] * 1e6
    sep = sim.assign(x=x, rating=np.where(x > 0, 5, 1), yes=x > 0)
    with pytest.raises(ValueError, match="separation"):
        fit_ordinal(sep, "rating ~ x")
    with pytest.raises(ValueError, match="separation"):
        fit_logistic(sep, "yes ~ x")


def test_genuine_rank_deficiency_is_still_reported_on_any_scale(sim):
    d = sim.assign(t=EPOCH + sim["x"] * 86400.0, t2=2 * (EPOCH + sim["x"] * 86400.0) + 5)
    for fit in (lambda: fit_ordinal(d, "rating ~ t + t2"), lambda: fit_mixed(d, "score ~ t + t2", groups="g"),
                lambda: fit_logistic(d, "yes ~ t + t2")):
        with pytest.raises(ValueError, match="rank deficient"):
            fit()
