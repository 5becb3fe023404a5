"""Tests of svcresearch.mediation against pingouin.mediation_analysis and OLS identities."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg
import pytest

from svcresearch.mediation import mediation


@pytest.fixture(scope="module")
def data():
    return pg.read_dataset("mediation")  # pingouin's example data (X, M, Y, Mbin, ...)


@pytest.mark.parametrize("covar", [[], ["Mbin"]])
def test_matches_pingouin(data, covar):
    ours = mediation(data, x="X", m="M", y="Y", covariates=covar, n_boot=1000, seed=42,
                     ci_method="bias_corrected").set_index("path")
    ref = pg.mediation_analysis(data, x="X", m="M", y="Y", covar=covar or None, n_boot=1000,
                                seed=42).set_index("path")
    for ours_path, ref_path in (("a", "M ~ X"), ("total", "Total"), ("direct", "Direct"), ("indirect", "Indirect")):
        assert ours.loc[ours_path, "estimate"] == pytest.approx(ref.loc[ref_path, "coef"], rel=1e-10)
        assert ours.loc[ours_path, "std_error"] == pytest.approx(ref.loc[ref_path, "se"], rel=1e-9)
    # same seed -> same resamples as pingouin -> identical bias-corrected interval and p value
    assert ours.loc["indirect", "ci_low"] == pytest.approx(ref.loc["Indirect", "CI2.5"], rel=1e-9)
    assert ours.loc["indirect", "ci_high"] == pytest.approx(ref.loc["Indirect", "CI97.5"], rel=1e-9)
    assert ours.loc["indirect", "p_value"] == pytest.approx(ref.loc["Indirect", "pval"])
    for path in ("a", "total", "direct"):
        ref_path = {"a": "M ~ X", "total": "Total", "direct": "Direct"}[path]
        assert ours.loc[path, "ci_low"] == pytest.approx(ref.loc[ref_path, "CI2.5"], rel=1e-9)


def test_percentile_interval_close_to_bias_corrected(data):
    pct, boot = mediation(data, x="X", m="M", y="Y", n_boot=2000, seed=1, return_boot=True)
    pct = pct.set_index("path")
    bc = mediation(data, x="X", m="M", y="Y", n_boot=2000, seed=1, ci_method="bias_corrected").set_index("path")
    assert pct.loc["indirect", "ci_low"] == pytest.approx(np.quantile(boot, 0.025))
    assert abs(pct.loc["indirect", "ci_low"] - bc.loc["indirect", "ci_low"]) < 0.05
    assert abs(pct.loc["indirect", "ci_high"] - bc.loc["indirect", "ci_high"]) < 0.05


def test_total_equals_direct_plus_indirect(data):
    # Exact for OLS with the same covariates in every equation (MacKinnon 2008, eq. 3.4).
    res = mediation(data, x="X", m="M", y="Y", covariates=["W1"], n_boot=0).set_index("path")
    assert res.loc["total", "estimate"] == pytest.approx(res.loc["direct", "estimate"] + res.loc["indirect", "estimate"], rel=1e-10)
    assert res.loc["indirect", "estimate"] == pytest.approx(res.loc["a", "estimate"] * res.loc["b", "estimate"], rel=1e-12)
    assert np.isnan(res.loc["indirect", "ci_low"])


def test_deterministic_and_chunk_invariant(data):
    a, boot_a = mediation(data, x="X", m="M", y="Y", n_boot=300, seed=5, chunk=7, return_boot=True)
    b, boot_b = mediation(data, x="X", m="M", y="Y", n_boot=300, seed=5, chunk=300, return_boot=True)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(boot_a, boot_b)
    assert boot_a.shape == (300,)
    # the indirect row's bootstrap SD is the SD of the returned draws
    assert a.set_index("path").loc["indirect", "std_error"] == pytest.approx(np.std(boot_a, ddof=1), rel=1e-12)


def test_boolean_and_ordered_inputs_and_missing_rows():
    rng = np.random.default_rng(2)
    n = 400
    smile = pd.Categorical(rng.choice(["none", "polite", "genuine"], n), categories=["none", "polite", "genuine"], ordered=True)
    m = 4 + 0.5 * smile.codes + rng.normal(size=n)
    y = 1 + 0.3 * m + rng.normal(size=n)
    df = pd.DataFrame({"smile": smile, "genuine": pd.array(smile == "genuine", dtype="boolean"),
                       "m": m, "y": y})
    df.loc[:9, "m"] = np.nan
    res = mediation(df, x="genuine", m="m", y="y", n_boot=200, seed=0)
    assert res["n"].iloc[0] == n - 10
    res2 = mediation(df, x="smile", m="m", y="y", n_boot=0)
    assert res2.set_index("path").loc["a", "estimate"] == pytest.approx(0.5, abs=0.15)


def test_errors(data):
    with pytest.raises(ValueError, match="missing column"):
        mediation(data, x="X", m="nope", y="Y")
    with pytest.raises(ValueError, match="must be distinct"):
        mediation(data, x="X", m="X", y="Y")
    with pytest.raises(ValueError, match="`ci_method` must be one of"):
        mediation(data, x="X", m="M", y="Y", ci_method="bca")
    with pytest.raises(TypeError, match="`n_boot` must be an integer"):
        mediation(data, x="X", m="M", y="Y", n_boot=10.5)
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        mediation(data, x="X", m="M", y="Y", confidence=95)
    with pytest.raises(TypeError, match="`return_boot` must be bool"):
        mediation(data, x="X", m="M", y="Y", return_boot="yes")
    with pytest.raises(ValueError, match="`seed` must be in"):
        mediation(data, x="X", m="M", y="Y", seed=-1)


def test_proportion_mediated_is_a_row(data):
    res = mediation(data, x="X", m="M", y="Y", n_boot=0).set_index("path")
    assert res.index.tolist() == ["a", "b", "total", "direct", "indirect", "proportion_mediated"]
    assert res.loc["proportion_mediated", "estimate"] == pytest.approx(
        res.loc["indirect", "estimate"] / res.loc["total", "estimate"], rel=1e-12)
    # survives the pandas operations that drop DataFrame.attrs
    assert "proportion_mediated" in pd.concat([res.reset_index()])["path"].tolist()


def test_default_seed_is_the_package_seed_and_matches_pingouin(data):
    from svcresearch.config import DEFAULT_SEED

    a = mediation(data, x="X", m="M", y="Y", n_boot=300, ci_method="bias_corrected")
    b = mediation(data, x="X", m="M", y="Y", n_boot=300, ci_method="bias_corrected", seed=DEFAULT_SEED)
    pd.testing.assert_frame_equal(a, b)
    # same RandomState stream as pingouin under the same seed
    ref = pg.mediation_analysis(data, x="X", m="M", y="Y", n_boot=300, seed=DEFAULT_SEED).set_index("path")
    assert a.set_index("path").loc["indirect", "ci_low"] == pytest.approx(ref.loc["Indirect", "CI2.5"], rel=1e-9)


# --- model_mediation: the one definition of an indirect effect (notebook 05 and run_hypotheses) ----
def test_model_mediation_recovers_a_times_b_and_is_the_hypotheses_row():
    from test_hypotheses import CODEBOOK, DEFAULT, processed_frame

    from svcresearch import hypotheses as hyp
    from svcresearch.mediation import model_mediation
    from svcresearch.simulate._model import merge_parameters

    data = processed_frame(4000, 7)
    where = {"variable": "channel", "op": "==", "value": "face_to_face"}
    out = model_mediation(data, codebook=CODEBOOK, outcome="sat_overall", x="smile[genuine]", mediator="felt_valued",
                          terms=DEFAULT.model.terms, groups="employee", where=where)
    paths = out.set_index("path")
    assert paths.loc["indirect", "estimate"] == pytest.approx(paths.loc["a", "estimate"] * paths.loc["b", "estimate"])
    assert list(out["scale"]) == ["b", "log_odds", "log_odds", "log_odds"]
    # true a (latent felt-valued points, rounded to the 1-7 scale) and b (logit per point) of the simulator
    params = merge_parameters(None)
    assert paths.loc["a", "ci_low"] < params["mediator"]["a_genuine"] + 0.1
    assert paths.loc["b", "ci_low"] < params["latent"]["felt_valued_slope"] < paths.loc["b", "ci_high"]
    row = hyp.run_hypotheses(data, hypotheses=DEFAULT, codebook=CODEBOOK, claims=["H11"]).iloc[0]
    assert row["estimate"] == paths.loc["indirect", "estimate"] and row["ci_low"] == paths.loc["indirect", "ci_low"]


def test_model_mediation_says_why_not():
    from test_hypotheses import CODEBOOK, DEFAULT, processed_frame

    from svcresearch.mediation import model_mediation
    from svcresearch.modelframe import Note

    data = processed_frame(600, 3)
    out = model_mediation(data.drop(columns="felt_valued"), codebook=CODEBOOK, outcome="sat_overall",
                          x="smile[genuine]", mediator="felt_valued", terms=DEFAULT.model.terms)
    assert isinstance(out, Note) and "'felt_valued' is not in the data" in out
    few = model_mediation(data.iloc[:25], codebook=CODEBOOK, outcome="sat_overall", x="smile[genuine]",
                          mediator="felt_valued", terms=["greeting"])
    assert isinstance(few, Note) and "a model needs at least 30" in few
    with pytest.raises(ValueError, match="not a variable of the codebook"):
        model_mediation(data, codebook=CODEBOOK, outcome="sat_overall", x="grin", mediator="felt_valued")
