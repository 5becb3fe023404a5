"""Tests of the key-driver (LMG / Shapley R²) decomposition and Johnson's relative weights."""
from __future__ import annotations

from itertools import permutations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from svcresearch.drivers import key_drivers, relative_weights, shapley_from_r2, subset_r2


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(11)
    n = 500
    z = rng.normal(size=(n, 4))
    z[:, 1] += 0.6 * z[:, 0]                       # correlated predictors
    df = pd.DataFrame({"greet": z[:, 0] > 0, "smile": z[:, 1] > 0.2, "wait": np.exp(z[:, 2]),
                       "resolved": z[:, 3] > -0.8})
    df["sat"] = (0.5 * df.greet + 0.4 * df.smile - 0.2 * df.wait + 1.0 * df.resolved
                 + rng.normal(size=n))
    return df


def _r2_statsmodels(df, cols, y="sat"):
    if not cols:
        return 0.0
    X = sm.add_constant(df[list(cols)].astype(float))
    return sm.OLS(df[y].astype(float), X).fit().rsquared


def test_lmg_equals_brute_force_shapley_over_orderings(sample):
    preds = ["greet", "smile", "wait", "resolved"]
    got = key_drivers(sample, y="sat", predictors=preds, n_boot=0).set_index("predictor")
    # Independent reference: average R² increment over all 4! orders of entry, statsmodels OLS.
    cache = {}
    brute = dict.fromkeys(preds, 0.0)
    orders = list(permutations(preds))
    for order in orders:
        for k, p in enumerate(order):
            before = frozenset(order[:k])
            after = before | {p}
            for s in (before, after):
                if s not in cache:
                    cache[s] = _r2_statsmodels(sample, sorted(s))
            brute[p] += (cache[after] - cache[before]) / len(orders)
    for p in preds:
        assert got.loc[p, "lmg"] == pytest.approx(brute[p], abs=1e-12)


def test_efficiency_and_relative_weights(sample):
    preds = ["greet", "smile", "wait", "resolved"]
    got = key_drivers(sample, y="sat", predictors=preds, n_boot=200, seed=3)
    full = _r2_statsmodels(sample, preds)
    assert got["lmg"].sum() == pytest.approx(full, abs=1e-12)
    # model-level results are columns (survive pandas operations), the same on every row
    assert got["r2"].tolist() == pytest.approx([full] * 4, abs=1e-12)
    assert got["n"].tolist() == [len(sample)] * 4
    assert got.sort_values("predictor")["r2"].iloc[0] == pytest.approx(full, abs=1e-12)
    assert got["relative_weight"].sum() == pytest.approx(full, abs=1e-12)
    # Johnson's weights approximate LMG closely (Johnson 2000; LeBreton et al. 2004 report |diff| < .01)
    np.testing.assert_allclose(got["relative_weight"], got["lmg"], atol=0.01)
    assert got["share"].sum() == pytest.approx(1.0)
    assert (got["ci_low"] <= got["lmg"]).all() and (got["lmg"] <= got["ci_high"]).all()
    assert got["predictor"].iloc[0] == "resolved" and got["rank"].tolist() == [1, 2, 3, 4]


def test_subset_r2_matches_ols_for_every_subset(sample):
    preds = ["greet", "smile", "wait", "resolved"]
    corr = np.corrcoef(sample[preds + ["sat"]].astype(float).to_numpy(), rowvar=False)
    table = subset_r2(corr)
    for mask in range(1, 16):
        cols = [p for j, p in enumerate(preds) if mask >> j & 1]
        assert table[mask] == pytest.approx(_r2_statsmodels(sample, cols), abs=1e-12)


def test_two_uncorrelated_predictors_by_hand():
    # Uncorrelated predictors: LMG share = squared correlation with y (Grömping 2006, §2).
    corr = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.3], [0.5, 0.3, 1.0]])
    np.testing.assert_allclose(shapley_from_r2(subset_r2(corr), 2), [0.25, 0.09])
    np.testing.assert_allclose(relative_weights(corr), [0.25, 0.09])


def test_bootstrap_deterministic_and_permutation_equivariant(sample):
    preds = ["greet", "smile", "wait", "resolved"]
    a = key_drivers(sample, y="sat", predictors=preds, n_boot=100, seed=9, chunk=13)
    b = key_drivers(sample, y="sat", predictors=preds, n_boot=100, seed=9, chunk=100)
    pd.testing.assert_frame_equal(a, b)
    c = key_drivers(sample, y="sat", predictors=preds[::-1], n_boot=0).set_index("predictor")
    for p in preds:
        assert c.loc[p, "lmg"] == pytest.approx(a.set_index("predictor").loc[p, "lmg"], abs=1e-12)


def test_errors(sample):
    with pytest.raises(ValueError, match="2 to 12"):
        key_drivers(sample, y="sat", predictors=["greet"])
    with pytest.raises(ValueError, match="missing column"):
        key_drivers(sample, y="sat", predictors=["greet", "nope"])
    with pytest.raises(TypeError, match="list of column names"):
        key_drivers(sample, y="sat", predictors="greet")
    df = sample.assign(g2=sample["greet"])
    with pytest.raises(ValueError, match="collinear"):
        key_drivers(df, y="sat", predictors=["greet", "g2"], n_boot=0)


def test_default_seed_gives_identical_intervals(sample):
    preds = ["greet", "smile", "wait", "resolved"]
    a = key_drivers(sample, y="sat", predictors=preds, n_boot=50)
    b = key_drivers(sample, y="sat", predictors=preds, n_boot=50)
    pd.testing.assert_frame_equal(a, b)
    from svcresearch.config import DEFAULT_SEED

    pd.testing.assert_frame_equal(a, key_drivers(sample, y="sat", predictors=preds, n_boot=50, seed=DEFAULT_SEED))


@pytest.mark.parametrize("bad", [0, 1, 95])
def test_confidence_checked(sample, bad):
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        key_drivers(sample, y="sat", predictors=["greet", "smile"], confidence=bad)


def test_key_drivers_figure_draws_an_interval_that_excludes_its_estimate():
    # a percentile bootstrap interval need not contain the estimate (small samples): the bar must
    # still be drawn (matplotlib refuses negative error-bar lengths: 'xerr' must not contain negative values)
    import matplotlib
    matplotlib.use("Agg")
    from svcresearch.analysis import key_drivers_figure

    table = pd.DataFrame({"Predictor": ["A", "B"], "LMG R² share": [0.02, 0.10], "ci_low": [0.03, 0.05],
                          "ci_high": [0.08, 0.09]})
    fig = key_drivers_figure(table)
    segments = fig.axes[0].collections[-1].get_segments()
    lows = sorted(min(s[:, 0]) for s in segments)
    assert lows == pytest.approx([0.02, 0.05])
