"""Tests of svcresearch.reliability against published values, established libraries and loops.

Sources of expected numbers are given next to each; the loop implementations below are written
straight from the papers' formulas, independently of the vectorised module code.
"""
from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from svcresearch import reliability as rl
from svcresearch._validation import InputError

K = dict(unit="unit", rater="rater", value="value")
nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 coders x 12 units
# with missing values. The same table is irrCAC's `cac.raw4raters` data set.
KRIPP = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    "C": [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
}

# Fleiss (1971) psychiatric diagnoses: 30 subjects x 6 raters, 5 categories (R irr's `diagnoses`,
# copied from statsmodels' test_inter_rater.py, which pins irr::kappam.fleiss(diagnoses) = 0.4302445).
DIAGNOSES = np.array([
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
])

# Wikipedia "Fleiss' kappa", worked example: 10 subjects x 14 raters x 5 categories (counts).
WIKI_FLEISS = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])

# SAS PROC FREQ example table printed in statsmodels' test_inter_rater.py (TestUnweightedCohens).
SAS_TABLE = np.array([[0, 4, 1], [0, 8, 0], [0, 1, 5]])


def long_from_wide(wide: dict[str, list]) -> pd.DataFrame:
    rows = [(u, r, v) for r, vals in wide.items() for u, v in enumerate(vals, 1) if not pd.isna(v)]
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


def long_from_matrix(mat: np.ndarray) -> pd.DataFrame:
    """units x raters matrix (NaN = missing) -> long table."""
    rows = [(f"u{u}", f"r{r}", mat[u, r]) for u in range(mat.shape[0]) for r in range(mat.shape[1])
            if not np.isnan(mat[u, r])]
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


def long_from_table(table: np.ndarray) -> pd.DataFrame:
    """Two-rater contingency table (rows rater a, columns rater b) -> long table."""
    rows, u = [], 0
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            for _ in range(int(table[i, j])):
                rows += [(u, "a", i), (u, "b", j)]
                u += 1
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


def long_from_counts(counts: np.ndarray) -> pd.DataFrame:
    """Subjects x categories count table (Fleiss layout) -> long table with arbitrary rater ids."""
    rows = []
    for s, row in enumerate(counts):
        vals = np.repeat(np.arange(len(row)), row)
        rows += [(s, f"r{j}", int(v)) for j, v in enumerate(vals)]
    return pd.DataFrame(rows, columns=["unit", "rater", "value"])


# ---------------------------------------------------------------- loop reference implementations
def loop_unit_counts(df):
    cats = sorted(df["value"].unique())
    units = {}
    for u, v in zip(df["unit"], df["value"]):
        units.setdefault(u, {c: 0 for c in cats})[v] += 1
    return cats, units


def loop_weights(cats, weights):
    q = len(cats)
    w = [[1.0 if i == j else 0.0 for j in range(q)] for i in range(q)]
    if weights in ("linear", "quadratic"):
        span = max(cats) - min(cats)
        p = 1 if weights == "linear" else 2
        w = [[1 - (abs(cats[i] - cats[j]) / span) ** p for j in range(q)] for i in range(q)]
    return w


def loop_gwet(df, weights=None, chance="ac"):
    """Gwet (2014, ch. on multiple raters with missing ratings): pa over units with >= 2 ratings,
    pi_k averaged over all units; chance="ac" (AC1/AC2), "fleiss" or "bp"."""
    cats, units = loop_unit_counts(df)
    q = len(cats)
    w = loop_weights(cats, weights)
    tw = sum(sum(r) for r in w)
    pa_sum, n2 = 0.0, 0
    pi = [0.0] * q
    for counts in units.values():
        r = sum(counts.values())
        vec = [counts[c] for c in cats]
        for k in range(q):
            pi[k] += vec[k] / r / len(units)
        if r >= 2:
            n2 += 1
            s = 0.0
            for k in range(q):
                star = sum(w[k][l] * vec[l] for l in range(q))
                s += vec[k] * (star - 1)
            pa_sum += s / (r * (r - 1))
    pa = pa_sum / n2
    if chance == "ac":
        pe = tw / (q * (q - 1)) * sum(p * (1 - p) for p in pi)
    elif chance == "fleiss":
        pe = sum(w[k][l] * pi[k] * pi[l] for k in range(q) for l in range(q))
    else:
        pe = tw / q ** 2
    return pa, pe, (pa - pe) / (1 - pe)


def loop_ac1_two_raters(table):
    """Gwet (2008), two raters: AC1 and its variance (eq. for v(gamma_1), f = 0)."""
    n = table.sum()
    p = table / n
    q = p.shape[0]
    pa = sum(p[k, k] for k in range(q))
    pi = [(p[k, :].sum() + p[:, k].sum()) / 2 for k in range(q)]
    pe = sum(pk * (1 - pk) for pk in pi) / (q - 1)
    g = (pa - pe) / (1 - pe)
    t1 = sum(p[k, k] * (1 - pi[k]) for k in range(q)) / (q - 1)
    t2 = sum(p[k, l] * (1 - (pi[k] + pi[l]) / 2) ** 2 for k in range(q) for l in range(q)) / (q - 1) ** 2
    var = (pa * (1 - pa) - 4 * (1 - g) * (t1 - pa * pe) + 4 * (1 - g) ** 2 * (t2 - pe ** 2)) \
        / (n * (1 - pe) ** 2)
    return g, var


# ---------------------------------------------------------------- Krippendorff's alpha
@pytest.mark.parametrize("level, published", [
    # Krippendorff (2011), section C, printed to three decimals.
    ("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797),
])
def test_alpha_krippendorff_2011_worked_example(level, published):
    df = long_from_wide(KRIPP)
    alpha = rl.krippendorff_alpha(df, level=level, **K)
    assert round(alpha, 3) == published
    # the `krippendorff` package (Castro), raters x units matrix with NaN for missing
    ref = krippendorff.alpha(np.array(list(KRIPP.values())), level_of_measurement=level)
    assert alpha == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("level", rl.LEVELS)
def test_alpha_matches_krippendorff_package_random_missing(seed, level):
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=40)
    mat = np.where(rng.random((40, 3)) < 0.7, truth[:, None], rng.integers(1, 6, size=(40, 3))).astype(float)
    mat[rng.random(mat.shape) < 0.2] = np.nan
    ours = rl.krippendorff_alpha(long_from_matrix(mat), level=level, **K)
    ref = krippendorff.alpha(mat.T, level_of_measurement=level)   # krippendorff package
    assert ours == pytest.approx(ref, abs=1e-10)


def test_alpha_ordinal_strings_with_ordered_categorical_equal_numeric_codes():
    df = long_from_wide(KRIPP)
    labels = {1: "a", 2: "b", 3: "c", 4: "d", 5: "e"}
    as_cat = df.assign(value=pd.Categorical(df["value"].map(labels), categories=list("abcde"), ordered=True))
    assert rl.krippendorff_alpha(as_cat, level="ordinal", **K) == pytest.approx(
        rl.krippendorff_alpha(df, level="ordinal", **K), abs=1e-12)
    # explicit categories= gives the same as the ordered categorical
    as_str = df.assign(value=df["value"].map(labels))
    assert rl.krippendorff_alpha(as_str, level="ordinal", categories=list("abcde"), **K) == pytest.approx(
        rl.krippendorff_alpha(df, level="ordinal", **K), abs=1e-12)


# ---------------------------------------------------------------- Cohen's kappa
def test_cohen_kappa_wikipedia_example():
    # Wikipedia "Cohen's kappa", worked example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no;
    # p_o = 0.7, p_e = 0.5, kappa = 0.4.
    df = long_from_table(np.array([[20, 5], [10, 15]]))
    assert rl.cohen_kappa(df, **K) == pytest.approx(0.4, abs=1e-12)
    assert rl.percent_agreement(df, **K) == pytest.approx(0.7, abs=1e-12)


@pytest.mark.parametrize("weights, kappa, ase", [
    # SAS PROC FREQ printout in statsmodels' test_inter_rater.py: Simple Kappa 0.4842, ASE 0.1380,
    # 95% CL 0.2137-0.7547; Weighted Kappa (Cicchetti-Allison = linear) 0.4701, ASE 0.1457,
    # 95% CL 0.1845-0.7558. SAS's ASE is the Fleiss, Cohen & Everitt (1969) variance.
    (None, (0.4842, 0.2137, 0.7547), 0.1380),
    ("linear", (0.4701, 0.1845, 0.7558), 0.1457),
])
def test_cohen_kappa_sas_example(weights, kappa, ase):
    df = long_from_table(SAS_TABLE)
    res = rl.agreement_ci(df, method="cohen_kappa", weights=weights, ci_method="analytic", **K).iloc[0]
    assert round(res["estimate"], 4) == kappa[0]
    assert round(res["std_error"], 4) == ase
    assert round(res["ci_low"], 4) == kappa[1]
    assert round(res["ci_high"], 4) == kappa[2]


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_statsmodels(seed, weights):
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 10, size=(4, 4)) + 6 * np.eye(4, dtype=int)
    df = long_from_table(table)
    ref = cohens_kappa(table, wt=weights)    # statsmodels: kappa and FCE (1969) std_kappa
    res = rl.agreement_ci(df, method="cohen_kappa", weights=weights, ci_method="analytic", **K).iloc[0]
    assert res["estimate"] == pytest.approx(ref.kappa, abs=1e-12)
    assert res["std_error"] == pytest.approx(ref.std_kappa, abs=1e-12)
    assert rl.cohen_kappa(df, weights=weights, **K) == pytest.approx(ref.kappa, abs=1e-12)


# ---------------------------------------------------------------- Fleiss' kappa
def test_fleiss_kappa_fleiss_1971_diagnoses():
    # Fleiss (1971) data; irr::kappam.fleiss(diagnoses) = 0.4302445 (as pinned in statsmodels' tests;
    # the issue text quotes 0.430 for this table -- the Wikipedia 10 x 14 example gives 0.210, below).
    df = long_from_matrix(DIAGNOSES.astype(float))
    kappa = rl.fleiss_kappa(df, **K)
    assert kappa == pytest.approx(0.4302445, abs=1e-7)
    assert kappa == pytest.approx(sm_fleiss_kappa(aggregate_raters(DIAGNOSES)[0]), abs=1e-12)


def test_fleiss_kappa_wikipedia_example():
    # Wikipedia "Fleiss' kappa": P-bar = 0.378, P_e = 0.213, kappa = 0.210.
    df = long_from_counts(WIKI_FLEISS)
    assert round(rl.fleiss_kappa(df, **K), 3) == 0.210
    assert round(rl.percent_agreement(df, **K), 3) == 0.378
    assert rl.fleiss_kappa(df, **K) == pytest.approx(sm_fleiss_kappa(WIKI_FLEISS), abs=1e-12)


# ---------------------------------------------------------------- Gwet's AC1/AC2, BP, irrCAC
def test_irrcac_documented_results_for_krippendorff_example():
    # R irrCAC (Gwet), documented output for cac.raw4raters (= Krippendorff's 2011 table):
    #   gwet.ac1.raw:      pa 0.8181818, pe 0.1903212, coeff 0.77544, se 0.14295
    #   fleiss.kappa.raw:  pa 0.8181818, pe 0.2387153, coeff 0.76117, se 0.15302
    #   bp.coeff.raw:      pa 0.8181818, pe 0.2,       coeff 0.77273, se 0.14472
    df = long_from_wide(KRIPP)
    for method, coeff, se in [("gwet_ac1", 0.77544, 0.14295), ("fleiss_kappa", 0.76117, 0.15302),
                              ("brennan_prediger", 0.77273, 0.14472)]:
        res = rl.agreement_ci(df, method=method, ci_method="analytic", **K).iloc[0]
        assert round(res["estimate"], 5) == coeff, method
        assert round(res["std_error"], 5) == se, method
    assert round(rl.percent_agreement(df, **K), 7) == 0.8181818
    # the same coefficients from the loop implementation of Gwet's (2014) formulas
    for chance, fn in [("ac", rl.gwet_ac1), ("fleiss", rl.fleiss_kappa), ("bp", rl.brennan_prediger)]:
        pa, pe, coeff = loop_gwet(df, chance=chance)
        assert fn(df, **K) == pytest.approx(coeff, abs=1e-12)
    assert loop_gwet(df, chance="ac")[1] == pytest.approx(0.1903212, abs=1e-7)
    assert loop_gwet(df, chance="fleiss")[1] == pytest.approx(0.2387153, abs=1e-7)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_gwet_ac2_and_weighted_bp_match_loop(weights):
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 4, size=60)
    mat = np.where(rng.random((60, 3)) < 0.6, truth[:, None], rng.integers(0, 4, size=(60, 3))).astype(float)
    mat[rng.random(mat.shape) < 0.15] = np.nan
    df = long_from_matrix(mat)
    assert rl.gwet_ac2(df, weights=weights, **K) == pytest.approx(loop_gwet(df, weights, "ac")[2], abs=1e-12)
    assert rl.brennan_prediger(df, weights=weights, **K) == pytest.approx(loop_gwet(df, weights, "bp")[2], abs=1e-12)
    assert rl.fleiss_kappa(df, weights=weights, **K) == pytest.approx(loop_gwet(df, weights, "fleiss")[2], abs=1e-12)
    assert rl.percent_agreement(df, weights=weights, **K) == pytest.approx(loop_gwet(df, weights, "ac")[0], abs=1e-12)


@pytest.mark.parametrize("table", [np.array([[118, 5], [2, 0]]), np.array([[30, 4, 2], [3, 25, 5], [1, 2, 28]])])
def test_gwet_ac1_two_raters_matches_gwet_2008(table):
    # Gwet (2008), two raters: AC1 and variance; our SE uses the unbiased 1/(n(n-1)) factor of
    # irrCAC, Gwet's paper 1/n^2, so var_ours * (n-1)/n equals the paper's formula.
    df = long_from_table(table)
    g, var = loop_ac1_two_raters(table)
    res = rl.agreement_ci(df, method="gwet_ac1", ci_method="analytic", **K).iloc[0]
    n = table.sum()
    assert res["estimate"] == pytest.approx(g, abs=1e-12)
    assert res["std_error"] ** 2 * (n - 1) / n == pytest.approx(var, rel=1e-10)


def test_kappa_paradox_example_ac1_stays_high():
    # Prevalence paradox (Feinstein & Cicchetti 1990 style): 118 both "no", 5 + 2 disagreements.
    # p_o = 118/125 = 0.944; kappa < 0 although agreement is 94%; AC1 from the Gwet (2008) loop.
    df = long_from_table(np.array([[118, 5], [2, 0]]))
    assert rl.cohen_kappa(df, **K) < 0
    assert rl.gwet_ac1(df, **K) == pytest.approx(loop_ac1_two_raters(np.array([[118, 5], [2, 0]]))[0], abs=1e-12)
    assert rl.gwet_ac1(df, **K) > 0.9
    tab = rl.reliability_table(df.assign(behaviour="x"), behaviour="behaviour", n_boot=200, seed=1, **K)
    assert bool(tab.loc[0, "kappa_paradox"]) and "AC1" in tab.loc[0, "note"]


# ---------------------------------------------------------------- bootstrap
def test_bootstrap_replicates_equal_recomputation_on_resampled_units():
    # The vectorised replicates must equal the coefficients of explicitly resampled long tables,
    # drawn with the same generator: rng.integers(0, n_units, size=(B, n_units)) (one chunk here).
    df = long_from_wide(KRIPP)
    df2 = long_from_table(np.array([[10, 3, 1], [2, 12, 2], [0, 3, 9]]))
    B = 25
    for data, methods, level in [
        (df, ["percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1", "brennan_prediger"], "ordinal"),
        (df, ["krippendorff_alpha"], "interval"),
        (df2, ["cohen_kappa", "krippendorff_alpha"], "nominal"),
    ]:
        reps = rl.bootstrap_estimates(data, methods=methods, level=level, n_boot=B, seed=42, **K)
        units = np.array(sorted(data["unit"].unique()))
        idx = np.random.default_rng(42).integers(0, len(units), size=(B, len(units)))
        for b in [0, 7, 24]:
            parts = [data.loc[data["unit"] == units[i]].assign(unit=j) for j, i in enumerate(idx[b])]
            res = pd.concat(parts, ignore_index=True)
            for m in methods:
                kw = {"level": level} if m == "krippendorff_alpha" else {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", rl.ReliabilityWarning)
                    expected = getattr(rl, m)(res, **kw, **K)
                got = reps.loc[b, m]
                if np.isnan(expected):
                    assert np.isnan(got)
                else:
                    assert got == pytest.approx(expected, abs=1e-12), (m, b)


def test_bootstrap_is_seeded_and_agrees_with_analytic_se():
    df = rl.simulate_ratings(3000, prevalence=(0.6, 0.3, 0.1), accuracy=0.7, seed=3)
    a = rl.bootstrap_estimates(df, methods=["cohen_kappa", "gwet_ac1"], n_boot=400, seed=9, **K)
    b = rl.bootstrap_estimates(df, methods=["cohen_kappa", "gwet_ac1"], n_boot=400, seed=9, **K)
    c = rl.bootstrap_estimates(df, methods=["cohen_kappa", "gwet_ac1"], n_boot=400, seed=10, **K)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    # With 3000 units the bootstrap SD and the large-sample SE must agree closely (within 15%);
    # this is the only check of the AC2 / weighted-kappa / percent-agreement SEs (no published value).
    for m, w in [("cohen_kappa", None), ("cohen_kappa", "quadratic"), ("gwet_ac1", None),
                 ("gwet_ac2", "quadratic"), ("gwet_ac2", "linear"), ("fleiss_kappa", None),
                 ("brennan_prediger", None), ("percent_agreement", None)]:
        se = rl.agreement_ci(df, method=m, weights=w, ci_method="analytic", **K)["std_error"].iloc[0]
        boot = a[m] if m in a and w is None else \
            rl.bootstrap_estimates(df, methods=[m], weights=w, n_boot=400, seed=9, **K)[m]
        assert boot.std(ddof=1) == pytest.approx(se, rel=0.15), (m, w)


def test_agreement_ci_bootstrap_contains_estimate():
    df = long_from_wide(KRIPP)
    res = rl.agreement_ci(df, method="krippendorff_alpha", level="interval", n_boot=500, seed=1, **K).iloc[0]
    assert res["ci_low"] < res["estimate"] <= res["ci_high"] <= 1
    assert res["n_units"] == 12 and res["n_raters"] == 4 and res["n_judgements"] == 41


# ---------------------------------------------------------------- reliability_table
def test_reliability_table_rows_columns_levels():
    a = rl.simulate_ratings(300, prevalence=(0.5, 0.5), accuracy=0.9, seed=1).assign(behaviour="greeting")
    s = rl.simulate_ratings(300, prevalence=(0.3, 0.5, 0.2), accuracy=0.8, seed=2).assign(behaviour="smile")
    data = pd.concat([a, s], ignore_index=True)
    tab = rl.reliability_table(data, behaviour="behaviour", levels={"smile": "ordinal"}, n_boot=300, seed=4, **K)
    assert list(tab["behaviour"]) == ["greeting", "smile"]
    assert list(tab["level"]) == ["nominal", "ordinal"]
    assert all(c == c.lower() and " " not in c for c in tab.columns)
    row = tab.set_index("behaviour").loc["smile"]
    assert row["alpha"] == pytest.approx(rl.krippendorff_alpha(s, level="ordinal", **K), abs=1e-12)
    assert row["kappa"] == pytest.approx(rl.cohen_kappa(s, **K), abs=1e-12)
    assert row["ac1"] == pytest.approx(rl.gwet_ac1(s, **K), abs=1e-12)
    assert row["kappa_method"] == "cohen" and row["n_units"] == 300 and row["n_raters"] == 2
    for key in ("percent_agreement", "kappa", "alpha", "ac1"):
        assert (tab[f"{key}_ci_low"] <= tab[key]).all() and (tab[key] <= tab[f"{key}_ci_high"]).all()
    again = rl.reliability_table(data, behaviour="behaviour", levels={"smile": "ordinal"}, n_boot=300, seed=4, **K)
    pd.testing.assert_frame_equal(tab, again)
    # singly rated units are left out so every coefficient uses the same units
    extra = pd.DataFrame({"unit": ["solo"], "rater": ["r1"], "value": [1], "behaviour": ["smile"]})
    tab2 = rl.reliability_table(pd.concat([data, extra]), behaviour="behaviour", n_boot=50, seed=4, **K)
    assert tab2.set_index("behaviour").loc["smile", "n_units"] == 300
    # default level: ordinal for a numeric code with more than two values
    assert tab2.set_index("behaviour").loc["smile", "level"] == "ordinal"


def test_reliability_table_analytic_ci_and_bad_level():
    a = rl.simulate_ratings(200, seed=1).assign(behaviour="greeting")
    tab = rl.reliability_table(a, behaviour="behaviour", ci_method="analytic", **K)
    assert np.isnan(tab.loc[0, "alpha_ci_low"]) and np.isfinite(tab.loc[0, "kappa_ci_low"])
    with pytest.raises(ValueError, match="levels"):
        rl.reliability_table(a, behaviour="behaviour", levels={"greeting": "interal"}, **K)
    with pytest.raises(ValueError, match="not in column"):
        rl.reliability_table(a, behaviour="behaviour", levels={"smiel": "ordinal"}, **K)


@pytest.mark.parametrize("value, label", [
    # Landis & Koch (1977) bands
    (-0.1, "poor"), (0.0, "slight"), (0.2, "slight"), (0.21, "fair"), (0.41, "moderate"),
    (0.61, "substantial"), (0.81, "almost perfect"), (np.nan, "undefined"),
])
def test_interpret_kappa(value, label):
    assert rl.interpret_kappa(value) == label


def test_interpret_alpha():
    # Krippendorff (2004): >= .800 reliable, .667-.800 tentative, below unreliable
    assert [rl.interpret_alpha(x) for x in (0.8, 0.79, 0.667, 0.66)] == \
        ["reliable", "tentative", "tentative", "unreliable"]


def test_confusion_table_matches_crosstab():
    df = long_from_table(SAS_TABLE)
    tab = rl.confusion_table(df, **K)
    np.testing.assert_array_equal(tab.to_numpy(), SAS_TABLE)
    assert tab.index.name == "a" and tab.columns.name == "b"
    np.testing.assert_array_equal(rl.confusion_table(df, raters=("b", "a"), **K).to_numpy(), SAS_TABLE.T)


# ---------------------------------------------------------------- edge cases and errors
def test_one_rater_only_is_an_error():
    df = pd.DataFrame({"unit": [1, 2, 3], "rater": ["A"] * 3, "value": [1, 0, 1]})
    with pytest.raises(InputError, match="at least 2 raters.*'A'"):
        rl.krippendorff_alpha(df, **K)


def test_single_category_alpha_nan_with_reason():
    df = pd.DataFrame({"unit": [1, 1, 2, 2], "rater": ["A", "B"] * 2, "value": ["no"] * 4})
    with pytest.warns(rl.ReliabilityWarning, match="same category .'no'."):
        assert np.isnan(rl.krippendorff_alpha(df, **K))
    with pytest.warns(rl.ReliabilityWarning, match="undefined"):
        assert np.isnan(rl.cohen_kappa(df, **K))
    assert rl.percent_agreement(df, **K) == 1.0


def test_non_numeric_values_at_interval_level():
    df = pd.DataFrame({"unit": [1, 1, 2, 2], "rater": ["A", "B"] * 2, "value": ["yes", "no", "no", "no"]})
    with pytest.raises(InputError, match="column 'value'.*level='interval' needs numeric values"):
        rl.krippendorff_alpha(df, level="interval", **K)
    with pytest.raises(InputError, match="ordered values"):
        rl.krippendorff_alpha(df, level="ordinal", **K)
    with pytest.raises(InputError, match="weights='linear' needs ordered values"):
        rl.cohen_kappa(df, weights="linear", **K)


def test_cohen_kappa_needs_two_raters_per_unit():
    df = pd.DataFrame({"unit": [1, 1, 2, 3, 3], "rater": ["A", "B", "A", "A", "B"], "value": [1, 1, 0, 0, 1]})
    with pytest.raises(InputError, match="exactly two raters per unit.*unit 2"):
        rl.cohen_kappa(df, **K)
    three = long_from_matrix(DIAGNOSES[:5, :3].astype(float))
    with pytest.raises(InputError, match="exactly two raters; the data have 3"):
        rl.cohen_kappa(three, **K)
    # alpha and AC1 accept the incomplete unit
    assert np.isfinite(rl.krippendorff_alpha(df, **K)) and np.isfinite(rl.gwet_ac1(df, **K))


def test_missing_values_warn_and_are_dropped():
    df = long_from_wide(KRIPP)
    with_na = pd.concat([df, pd.DataFrame({"unit": [11], "rater": ["A"], "value": [np.nan]})])
    with pytest.warns(rl.ReliabilityWarning, match="1 of 42 judgement"):
        assert rl.krippendorff_alpha(with_na, **K) == pytest.approx(rl.krippendorff_alpha(df, **K))
    no_unit = df.astype({"unit": "object"})
    no_unit.loc[0, "unit"] = None
    with pytest.raises(InputError, match="column 'unit'"):
        rl.gwet_ac1(no_unit, **K)


def test_duplicate_judgements_and_bad_arguments():
    df = long_from_wide(KRIPP)
    with pytest.raises(InputError, match="repeat a \\(unit, rater\\) pair"):
        rl.krippendorff_alpha(pd.concat([df, df.iloc[:1]]), **K)
    with pytest.raises(ValueError, match="`level` must be one of .*got 'nominall'"):
        rl.krippendorff_alpha(df, level="nominall", **K)
    with pytest.raises(ValueError, match="`weights` must be one of"):
        rl.cohen_kappa(long_from_table(SAS_TABLE), weights="squared", **K)
    with pytest.raises(ValueError, match="`ci_method` must be one of"):
        rl.agreement_ci(df, method="gwet_ac1", ci_method="exact", **K)
    with pytest.raises(ValueError, match="`method` must be one of"):
        rl.agreement_ci(df, method="kappa", **K)
    with pytest.raises(ValueError, match="missing column.*'coder'"):
        rl.gwet_ac1(df, unit="unit", rater="coder", value="value")
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame"):
        rl.gwet_ac1(df.to_numpy(), **K)
    with pytest.raises(ValueError, match="no analytic standard error"):
        rl.agreement_ci(df, method="krippendorff_alpha", ci_method="analytic", **K)
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        rl.agreement_ci(df, method="gwet_ac1", ci_method="analytic", confidence=95, **K)
    with pytest.raises(ValueError, match="`confidence` must be strictly between 0 and 1"):
        rl.reliability_table(df.assign(behaviour="b"), behaviour="behaviour", confidence=0, **K)
    with pytest.raises(InputError, match="not among `categories`"):
        rl.gwet_ac1(df, categories=[1, 2, 3], **K)


def test_reliability_table_single_category_behaviour():
    # nobody ever used the phone: alpha and kappa undefined, AC1 and agreement are 1; the row says why
    df = pd.DataFrame({"unit": [1, 1, 2, 2, 3, 3], "rater": ["A", "B"] * 3, "value": [0.0] * 6,
                       "behaviour": ["phone_use"] * 6})
    tab = rl.reliability_table(df, behaviour="behaviour", n_boot=50, seed=1, **K)
    row = tab.iloc[0]
    assert np.isnan(row["alpha"]) and np.isnan(row["kappa"]) and row["alpha_label"] == "undefined"
    assert row["ac1"] == 1.0 and row["percent_agreement"] == 1.0
    assert "only one category" in row["note"]


def test_simulate_ratings_shape_and_checks():
    df = rl.simulate_ratings(50, n_raters=3, prevalence=(0.2, 0.8), accuracy=1.0, missing=0.1, seed=2)
    assert list(df.columns) == ["unit", "rater", "value"] and len(df) == 150
    assert df["value"].isna().any() and set(df["value"].dropna()) <= {0, 1}
    # accuracy 1: every observed judgement of a unit is the same, so agreement is perfect
    with pytest.warns(rl.ReliabilityWarning, match="missing"):
        assert rl.percent_agreement(df, **K) == 1.0
    with pytest.raises(ValueError, match="`prevalence`"):
        rl.simulate_ratings(10, prevalence=(0.5, 0.6))
    with pytest.raises(ValueError, match="`accuracy`"):
        rl.simulate_ratings(10, accuracy=1.5)
