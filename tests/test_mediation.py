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
    pct = mediation(data, x="X", m="M", y="Y", n_boot=2000, seed=1).set_index("path")
    bc = mediation(data, x="X", m="M", y="Y", n_boot=2000, seed=1, ci_method="bias_corrected").set_index("path")
    boot = pct.attrs["boot"]
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
    a = mediation(data, x="X", m="M", y="Y", n_boot=300, seed=5, chunk=7)
    b = mediation(data, x="X", m="M", y="Y", n_boot=300, seed=5, chunk=300)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(a.attrs["boot"], b.attrs["boot"])


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
