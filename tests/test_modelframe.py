"""Tests of svcresearch.modelframe on a small codebook of its own (no default-study variable).

The codebook has a binary behaviour that applies only at the desk, a nominal behaviour with named
levels, a Likert-type ordinal predictor, a count, a context category and three outcomes (ordinal,
binary, continuous). Expected codings are written out by hand; OLS is checked against statsmodels.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from svcresearch import modelframe as mfm
from svcresearch.codebook import codebook_from_dict

CODEBOOK = codebook_from_dict({
    "format_version": 1, "name": "test-study",
    "value_sets": {"yn": {"levels": ["no", "yes"], "numeric": {"no": 0, "yes": 1}},
                   "tone": {"levels": ["flat", "warm", "cheerful"]},
                   "place": {"levels": ["desk", "chat"]},
                   "l5": {"levels": [1, 2, 3, 4, 5]}},
    "variables": {
        "encounter_id": {"label_en": "Visit", "label_fi": "Käynti", "role": "id", "type": "nominal", "sources": ["coding"],
                  "required": True},
        "place": {"label_en": "Place", "label_fi": "Paikka", "role": "context", "type": "nominal",
                  "value_set": "place", "sources": ["coding"]},
        "staff": {"label_en": "Staff", "label_fi": "Henkilö", "role": "context", "type": "nominal",
                  "sources": ["coding"]},
        "uses_name": {"label_en": "Uses name", "label_fi": "Käyttää nimeä", "role": "behaviour", "type": "binary",
                      "value_set": "yn", "sources": ["coding"],
                      "applicable_if": [{"variable": "place", "op": "==", "value": "desk"}]},
        "tone": {"label_en": "Tone", "label_fi": "Sävy", "role": "behaviour", "type": "nominal",
                 "value_set": "tone", "sources": ["coding"]},
        "humour": {"label_en": "Humour", "label_fi": "Huumori", "role": "behaviour", "type": "binary",
                   "value_set": "yn", "sources": ["coding"]},
        "never_coded": {"label_en": "Never coded", "label_fi": "Ei koodattu", "role": "behaviour",
                        "type": "binary", "value_set": "yn", "sources": ["coding"]},
        "effort": {"label_en": "Effort", "label_fi": "Vaiva", "role": "context", "type": "ordinal",
                   "value_set": "l5", "sources": ["coding"]},
        "nods": {"label_en": "Nods", "label_fi": "Nyökkäykset", "role": "behaviour", "type": "count",
                 "sources": ["coding"]},
        "rating": {"label_en": "Rating", "label_fi": "Arvio", "role": "outcome", "type": "ordinal",
                   "value_set": "l5", "sources": ["coding"]},
        "returns": {"label_en": "Returns", "label_fi": "Palaa", "role": "outcome", "type": "binary",
                    "value_set": "yn", "sources": ["coding"]},
        "minutes": {"label_en": "Minutes", "label_fi": "Minuutit", "role": "outcome", "type": "continuous",
                    "sources": ["coding"]},
    }})


def frame(n=400, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    place = np.where(rng.random(n) < 0.6, "desk", "chat")
    uses = rng.random(n) < 0.5
    tone = rng.choice(["flat", "warm", "cheerful"], n)
    humour = rng.random(n) < 0.3
    effort = rng.integers(1, 6, n)
    nods = rng.poisson(2, n)
    staff = rng.integers(0, 12, n)
    eta = (0.8 * (uses & (place == "desk")) + 0.5 * (tone == "warm") + 1.0 * (tone == "cheerful")
           + 0.4 * humour - 0.3 * effort + rng.normal(0, 0.6, 12)[staff])
    latent = eta + rng.logistic(size=n)
    rating = np.digitize(latent, [-2.5, -1.2, 0.3, 1.8]) + 1
    df = pd.DataFrame({
        "place": pd.Categorical(place, categories=["desk", "chat"]),
        "staff": pd.array([f"s{s}" for s in staff], dtype="string"),
        "uses_name": pd.array(np.where(place == "desk", uses, False), dtype="boolean"),
        "uses_name_status": pd.Categorical(np.where(place == "desk", "observed", "not_applicable")),
        "tone": pd.Categorical(tone, categories=["flat", "warm", "cheerful"]),
        "humour": pd.array(humour, dtype="boolean"),
        "never_coded": pd.array([pd.NA] * n, dtype="boolean"),
        "effort": pd.array(effort, dtype="Int64"),
        "nods": pd.array(nods, dtype="Int64"),
        "rating": pd.array(rating, dtype="Int64"),
        "returns": pd.array(latent > 0.5, dtype="boolean"),
        "minutes": latent + rng.normal(0, 1, n),
    })
    df.loc[place == "chat", "uses_name"] = pd.NA
    return df


@pytest.fixture(scope="module")
def data():
    return frame()


def test_coding_per_type(data):
    mf = mfm.model_frame(data, codebook=CODEBOOK, outcome="rating", terms=["uses_name", "tone", "effort", "nods"])
    assert mf.family == "ordinal" and mf.n_used == mf.n_rated == len(data)
    assert mf.terms == ["uses_name", "tone[warm]", "tone[cheerful]", "effort", "nods"]
    d = mf.data
    chat = data["place"].eq("chat").to_numpy()
    # not applicable (chat) -> 0; applicable -> the code
    assert (d[mf.internal("uses_name")].to_numpy()[chat] == 0).all()
    assert (d[mf.internal("uses_name")].to_numpy()[~chat] == data["uses_name"].to_numpy(dtype=float)[~chat]).all()
    # dummies vs the first level; a Likert-type ordinal and a count as numbers
    assert (d[mf.internal("tone[warm]")] == data["tone"].eq("warm").astype(float).to_numpy()).all()
    assert (d[mf.internal("effort")] == data["effort"].astype(float).to_numpy()).all()
    assert mf.formula.startswith(f"{mf.outcome_column} ~ ")
    assert mf.readable(mf.internal("tone[cheerful]")) == "tone[cheerful]"


def test_not_applicable_from_the_codebook_rule_without_a_status_column(data):
    mf = mfm.model_frame(data.drop(columns="uses_name_status"), codebook=CODEBOOK, outcome="rating",
                         terms=["uses_name"])
    assert mf.n_used == len(data) and mf.dropped_by == {"uses_name": 0}


def test_complete_cases_on_this_models_variables_only(data):
    d = data.copy()
    d.loc[:19, "humour"] = pd.NA
    d.loc[10:29, "effort"] = pd.NA
    d.loc[:4, "rating"] = pd.NA
    mf = mfm.model_frame(d, codebook=CODEBOOK, outcome="rating", terms=["humour", "effort", "never_coded", "tone"])
    # never_coded has no value at all: left out with its reason, costs no row
    assert mf.dropped_terms["never_coded"].startswith("'never_coded' has no value among the 395 rated")
    assert mf.n_rated == 395 and mf.dropped_by == {"humour": 15, "effort": 20, "tone": 0}
    assert mf.n_used == 395 - 25          # rows 5-29 lack humour or effort
    other = mfm.model_frame(d, codebook=CODEBOOK, outcome="rating", terms=["tone"])
    assert other.n_used == 395 and other.dropped_by == {"tone": 0}
    assert "rows lacking Effort (20), Humour (15)" in mf.describe()


def test_absent_and_constant_terms_are_dropped_with_a_reason(data):
    d = data.drop(columns="nods").assign(humour=pd.array([True] * len(data), dtype="boolean"))
    mf = mfm.model_frame(d, codebook=CODEBOOK, outcome="rating", terms=["nods", "humour", "tone", "humour:tone"])
    assert mf.dropped_terms["nods"] == "'nods' is not in the data"
    assert mf.dropped_terms["humour"].startswith("'humour' is constant (1) in the")
    assert mf.terms == ["tone[warm]", "tone[cheerful]"]


def test_where_and_interactions(data):
    mf = mfm.model_frame(data, codebook=CODEBOOK, outcome="rating", terms=["humour", "tone", "humour:tone"],
                         where={"variable": "place", "op": "==", "value": "desk"})
    assert mf.n_rated == int(data["place"].eq("desk").sum())
    assert "humour:tone[warm]" in mf.terms and "humour:tone[cheerful]" in mf.terms
    col = mf.data[mf.columns["humour"]] * mf.data[mf.columns["tone[warm]"]]
    assert col.sum() > 0 and "among encounters with Place == desk" in mf.describe()


def test_fitter_by_outcome_type(data):
    terms = ["humour", "tone", "effort"]
    ordinal = mfm.model_frame(data, codebook=CODEBOOK, outcome="rating", terms=terms, groups="staff").fit()
    binary = mfm.model_frame(data, codebook=CODEBOOK, outcome="returns", terms=terms, groups="staff").fit()
    linear = mfm.model_frame(data, codebook=CODEBOOK, outcome="minutes", terms=terms, groups="staff").fit()
    ols = mfm.model_frame(data, codebook=CODEBOOK, outcome="minutes", terms=terms).fit()
    assert ordinal.result.kind == "ordinal" and ordinal.result.variance_components is not None
    assert binary.result.kind == "logistic" and linear.result.kind == "mixed" and ols.result.kind == "ols"
    for fit in (ordinal, binary, linear, ols):
        assert fit.ok and set(fit.frame.terms) <= set(fit.params()["term"])
        assert fit.coefficients().set_index("term").loc["tone[cheerful]", "estimate"] > 0
    c = ordinal.contrast({"tone[cheerful]": 1, "tone[warm]": -1})
    p = ordinal.params().set_index("term")["estimate"]
    assert c["estimate"].iloc[0] == pytest.approx(p["tone[cheerful]"] - p["tone[warm]"])


def test_ols_matches_statsmodels(data):
    mf = mfm.model_frame(data, codebook=CODEBOOK, outcome="minutes", terms=["humour", "tone", "effort"])
    res = mfm.fit_ols(mf.data, mf.formula)
    X = sm.add_constant(mf.data[[mf.columns[t] for t in mf.terms]])
    ref = sm.OLS(mf.data[mf.outcome_column].to_numpy(float), X).fit()
    np.testing.assert_allclose(res.params["estimate"], ref.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.params["std_error"], ref.bse.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.params["ci_low"], ref.conf_int()[0].to_numpy(), rtol=1e-10)
    assert res.loglik == pytest.approx(ref.llf, rel=1e-12)


def test_problems_are_sentences_not_tracebacks(data):
    few = mfm.model_frame(data.iloc[:20], codebook=CODEBOOK, outcome="rating", terms=["humour"])
    assert few.problem == "only 20 rated encounters with complete values; a model needs at least 30"
    assert not few.fit().ok and few.fit().problem == few.problem
    const = mfm.model_frame(data.assign(rating=pd.array([3] * len(data), dtype="Int64")), codebook=CODEBOOK,
                            outcome="rating", terms=["humour"])
    assert const.problem == "Rating takes a single value in the 400 rows used"
    # complete separation: every humorous encounter returns, none of the others
    sep = data.assign(returns=data["humour"].astype("boolean"))
    fit = mfm.model_frame(sep, codebook=CODEBOOK, outcome="returns", terms=["humour", "effort"]).fit()
    assert not fit.ok and fit.problem and "\n" not in fit.problem
    lost = data.copy()
    lost.loc[:380, "effort"] = pd.NA
    mf = mfm.model_frame(lost, codebook=CODEBOOK, outcome="rating", terms=["humour", "effort"])
    assert mf.problem.endswith("most were lost to missing 'effort' (381 of 400 rated rows)")
    missing = mfm.model_frame(data.drop(columns="rating"), codebook=CODEBOOK, outcome="rating", terms=["humour"])
    assert missing.problem == "the outcome 'rating' is not in the data"


def test_groups_fall_back_with_a_note(data):
    mf = mfm.model_frame(data.drop(columns="staff"), codebook=CODEBOOK, outcome="rating", terms=["humour"],
                         groups="staff")
    assert mf.groups is None and mf.groups_note == "column 'staff' is not in the data"
    one = mfm.model_frame(data.assign(staff="s1"), codebook=CODEBOOK, outcome="rating", terms=["humour"],
                          groups="staff")
    assert one.groups is None and "1 distinct value" in one.groups_note


def test_errors(data):
    with pytest.raises(ValueError, match="'recommend' is not a variable of the codebook"):
        mfm.model_frame(data, codebook=CODEBOOK, outcome="recommend")
    with pytest.raises(ValueError, match="'wink' is not a variable of the codebook"):
        mfm.model_frame(data, codebook=CODEBOOK, outcome="rating", terms=["humour:wink"])
    with pytest.raises(ValueError, match="cannot be a model term"):
        mfm.model_frame(data, codebook=CODEBOOK, outcome="rating", terms=["encounter_id"])
    with pytest.raises(ValueError, match="must be one of"):
        mfm.model_frame(data.assign(tone=data["tone"].astype(str).replace("warm", "hot")), codebook=CODEBOOK,
                        outcome="rating", terms=["tone"])


def test_note_renders_as_plain_text():
    note = mfm.Note("Not estimated: too few rows.")
    assert repr(note) == "Not estimated: too few rows." and note._repr_markdown_() == str(note)


def test_fit_ols_is_exact_under_epoch_second_scaling():
    # a predictor in epoch seconds (1.7e9 + days * 86400) gives the days fit's slope and SE / 86400
    from svcresearch.modelframe import fit_ols

    rng = np.random.default_rng(1)
    days = rng.uniform(0, 30, 200)
    y = 2 + 0.5 * days + rng.normal(size=200)
    by_day = fit_ols(pd.DataFrame({"y": y, "x": days}), "y ~ x").params.set_index("term")
    by_second = fit_ols(pd.DataFrame({"y": y, "x": 1.7e9 + days * 86400}), "y ~ x").params.set_index("term")
    np.testing.assert_allclose(by_second.loc["x", ["estimate", "std_error"]].to_numpy(float) * 86400,
                               by_day.loc["x", ["estimate", "std_error"]].to_numpy(float), rtol=1e-8)
