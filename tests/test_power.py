"""Tests of svcresearch.power (analytic and simulated power, planning sentences) and of the
replication runner and recovery summary in svcresearch.recovery. All fast (seconds)."""
from __future__ import annotations

import json
import math
from functools import partial

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from svcresearch import power as pw
from svcresearch.recovery import (MAIN_MODEL, correction_replication, main, read_replications, recovery_targets,
                                  run_replications, summarise_recovery)

TINY = pw.PowerDesign(effect=math.log(2.0), n_encounters=240, n_employees=12, prevalence=0.5, kappa=0.8,
                      double_coded_share=0.3, behaviour="smile")


# --- analytic power --------------------------------------------------------------------------------
def test_continuous_power_equals_statsmodels_normal_ind_power():
    # statsmodels.stats.power.NormalIndPower().power(effect_size=d, nobs1=n1, ratio=1, alpha=.05): the
    # same two-sided normal approximation (an established implementation)
    from statsmodels.stats.power import NormalIndPower

    for d, n1 in ((0.2, 100), (0.5, 64), (0.8, 20)):
        ours = pw.analytic_power(n=2 * n1, effect=d, prevalence=0.5, family="continuous", outcome_sd=1.0)
        ref = NormalIndPower().power(effect_size=d, nobs1=n1, ratio=1.0, alpha=0.05)
        assert ours == pytest.approx(ref, abs=1e-12)


def test_cohen_1988_medium_effect_64_per_group_is_80_percent():
    # Cohen (1988), Statistical Power Analysis, Table 2.4.1: d = .50, two-sided alpha = .05, n = 64 per
    # group gives power .80 (t test); the normal approximation is .807
    value = pw.analytic_power(n=128, effect=0.5, prevalence=0.5, family="continuous")
    assert value == pytest.approx(0.80, abs=0.01)


def test_whitehead_two_categories_is_the_logistic_wald_formula():
    # Whitehead (1993) with two outcome categories (q, 1-q): 1 - q^3 - (1-q)^3 = 3 q (1-q), so
    # V = n1 n2 n q (1-q) / (n+1)^2 ~ n p(1-p) q(1-q): the binary-outcome Wald test of a log odds ratio
    # with its null variance 1 / (n p (1-p) q (1-q)) (e.g. Hsieh, Bloch & Larsen 1998, eq. 1)
    n, p, q, lor = 5000, 0.3, 0.4, math.log(1.25)
    z = stats.norm.ppf(0.975)
    ref = stats.norm.cdf(lor * math.sqrt(n * p * (1 - p) * q * (1 - q)) - z)
    ours = pw.analytic_power(n=n, effect=lor, prevalence=p, category_probabilities=(q, 1 - q))
    assert ours == pytest.approx(ref, abs=2e-3)


def test_whitehead_formula_of_hmisc_popower():
    # Hmisc::popower(p = c(.2, .5, .2, .1), odds.ratio = 2.5, n = 130): V = n1 n2 n / 3 / (n+1)^2 * (1 - sum p^3),
    # power = pnorm(|log OR| sqrt(V) - qnorm(.975)); computed by hand: 1 - sum p^3 = .858,
    # V = 65*65*130/3/131^2*.858 = 9.15363, power = pnorm(0.916291*3.025497 - 1.959964) = pnorm(0.81227) = .7917
    ours = pw.analytic_power(n=130, effect=math.log(2.5), prevalence=0.5, category_probabilities=(0.2, 0.5, 0.2, 0.1))
    v = 65 * 65 * 130 / 3 / 131 ** 2 * 0.858
    assert v == pytest.approx(9.15363, abs=1e-4)
    assert ours == pytest.approx(stats.norm.cdf(math.log(2.5) * math.sqrt(v) - stats.norm.ppf(0.975))
                                 + stats.norm.cdf(-math.log(2.5) * math.sqrt(v) - stats.norm.ppf(0.975)), abs=1e-12)
    assert ours == pytest.approx(0.7917, abs=5e-4)


def test_power_falls_with_coder_error_and_rises_with_n():
    base = dict(effect=math.log(1.3), prevalence=0.3, category_probabilities=(0.1, 0.2, 0.3, 0.4))
    assert pw.analytic_power(n=2000, kappa=0.6, **base) < pw.analytic_power(n=2000, kappa=0.9, **base) \
        < pw.analytic_power(n=2000, kappa=1.0, **base) < pw.analytic_power(n=4000, kappa=1.0, **base)
    assert pw.analytic_power(n=1000, effect=0.0, prevalence=0.5, category_probabilities=(0.5, 0.5)) \
        == pytest.approx(0.05, abs=1e-12)


def test_kappa_and_error_rate_are_inverse():
    # two coders with error rate e at prevalence .5: p_o = (1-e)^2 + e^2, p_e = .5, kappa = (1-2e)^2
    assert pw.kappa_of_error_rate(0.1, prevalence=0.5) == pytest.approx(0.64, abs=1e-12)
    for k, p in ((0.8, 0.5), (0.6, 0.1), (0.95, 0.3)):
        e = pw.error_rate_for_kappa(k, prevalence=p)
        assert pw.kappa_of_error_rate(e, prevalence=p) == pytest.approx(k, abs=1e-9)
    assert pw.error_rate_for_kappa(1.0, prevalence=0.2) == 0.0
    # dilution of a misclassified binary predictor at prevalence .5 is 1 - 2e (= sqrt(kappa))
    assert pw.attenuation(0.64, prevalence=0.5) == pytest.approx(0.8, abs=1e-9)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="category_probabilities"):
        pw.analytic_power(n=100, effect=0.3, category_probabilities=(0.5, 0.6))
    with pytest.raises(ValueError, match="family"):
        pw.analytic_power(n=100, effect=0.3, family="poisson")
    with pytest.raises(ValueError, match="kappa"):
        pw.PowerDesign(kappa=1.5)


# --- the runner -----------------------------------------------------------------------------------
def test_runner_deterministic_parallel_and_resumable(tmp_path):
    rep = partial(pw.power_replication, design=TINY)
    one = run_replications(rep, seeds=[0, 1, 2], n_jobs=1, progress=False)
    assert one["seed"].tolist() == [0, 1, 2] and one["converged"].all()
    path = tmp_path / "runs.jsonl"
    first = run_replications(rep, seeds=[0, 2], path=path, n_jobs=2, progress=False)
    assert first.attrs["n_run"] == 2
    with path.open("a", encoding="utf-8") as fh:          # a run killed while writing its last line
        fh.write('{"seed": 1, "rows": [{"estim')
    again = run_replications(rep, seeds=[0, 1, 2], path=path, n_jobs=2, progress=False)
    assert again.attrs["n_run"] == 1                       # only seed 1 was run now
    pd.testing.assert_frame_equal(again.reset_index(drop=True), one.reset_index(drop=True), check_exact=False,
                                  rtol=1e-12, check_dtype=False)
    assert sorted(read_replications(path)) == [0, 1, 2]


def _fails_on_odd(seed):
    if seed % 2:
        raise ValueError("odd seed")
    return pd.DataFrame({"x": [seed]})


def test_runner_records_failures_and_checks_inputs(tmp_path):
    out = run_replications(_fails_on_odd, seeds=[0, 1, 2], path=tmp_path / "r.jsonl", n_jobs=1, progress=False)
    assert out["x"].tolist() == [0, 2] and out.attrs["errors"] == {1: "ValueError: odd seed"}
    lines = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert {x["seed"] for x in lines} == {0, 1, 2}
    with pytest.raises(ValueError, match="distinct"):
        run_replications(_fails_on_odd, seeds=[1, 1], progress=False)
    with pytest.raises(TypeError, match="replicate"):
        run_replications("not a function", seeds=[1], progress=False)


def test_simulated_planned_study_has_the_coder_error_of_its_kappa():
    d = pw.PowerDesign(n_encounters=40_000, n_employees=100, prevalence=0.3, kappa=0.7, double_coded_share=0.0,
                       response_rate=1.0)
    data = pw.simulate_planned(d, seed=5)
    err = float((data["x"] != data["x_true"]).mean())
    assert err == pytest.approx(pw.error_rate_for_kappa(0.7, prevalence=0.3), abs=0.005)


# --- recovery summary ------------------------------------------------------------------------------
def test_summarise_recovery_bias_and_coverage_by_hand():
    res = pd.DataFrame({"arm": ["true_codes"] * 4, "hypothesis": ["H1"] * 4, "term": ["a"] * 4,
                        "estimate": [0.9, 1.1, 1.3, 0.7], "std_error": [0.2] * 4,
                        "ci_low": [0.5, 0.7, 1.05, 0.3], "ci_high": [1.3, 1.5, 1.7, 1.1]})
    tgt = pd.DataFrame({"hypothesis": ["H1"], "term": ["a"], "generative": [1.2], "pseudo_true": [1.0],
                        "pseudo_true_coded": [0.8]})
    s = summarise_recovery(res, targets=tgt).iloc[0]
    assert s["mean_estimate"] == pytest.approx(1.0) and s["bias"] == pytest.approx(0.0, abs=1e-12)
    sd = np.std([0.9, 1.1, 1.3, 0.7], ddof=1)
    assert s["empirical_sd"] == pytest.approx(sd) and s["bias_mc_se"] == pytest.approx(sd / 2)
    assert s["sd_se_ratio"] == pytest.approx(sd / 0.2)
    assert s["coverage"] == pytest.approx(0.75) and s["coverage_mc_se"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert s["coverage_generative"] == pytest.approx(0.75) and s["coverage_own_target"] == pytest.approx(0.75)


def test_recovery_targets_read_every_target_of_a_ground_truth():
    gt = {"hypotheses_generative": {"H1": {"a": 0.5}}, "hypotheses": {"H1": {"a": 0.48}},
          "hypotheses_pseudo_true_se": {"H1": {"a": 0.01}}, "hypotheses_pseudo_true_coded": {"H1": {"a": 0.4}},
          "model_terms": {"a": 0.5, "b": -1.0}, "model_terms_pseudo_true": {"a": 0.49},
          "model_terms_pseudo_true_coded": {"b": -0.9}}
    t = recovery_targets(gt).set_index(["hypothesis", "term"])
    assert t.loc[("H1", "a")].tolist() == [0.5, 0.48, 0.01, 0.4]
    assert t.loc[(MAIN_MODEL, "a"), "pseudo_true"] == 0.49 and np.isnan(t.loc[(MAIN_MODEL, "a"), "pseudo_true_se"])
    assert t.loc[(MAIN_MODEL, "b"), "pseudo_true_coded"] == -0.9 and np.isnan(t.loc[(MAIN_MODEL, "b"), "pseudo_true"])
    # an older ground truth without pseudo-true values: "hypotheses" are the generative values
    old = recovery_targets({"hypotheses": {"H1": {"a": 0.5}}}).set_index(["hypothesis", "term"])
    assert old.loc[("H1", "a"), "generative"] == 0.5 and np.isnan(old.loc[("H1", "a"), "pseudo_true"])


def test_corrected_arm_aims_at_the_true_codes_target():
    res = pd.DataFrame({"arm": ["pipeline", "corrected"], "hypothesis": [MAIN_MODEL] * 2, "term": ["a"] * 2,
                        "estimate": [0.8, 1.0], "std_error": [0.1, 0.1], "ci_low": [0.7, 0.95],
                        "ci_high": [0.85, 1.05]})
    tgt = pd.DataFrame({"hypothesis": [MAIN_MODEL], "term": ["a"], "generative": [1.0], "pseudo_true": [1.0],
                        "pseudo_true_coded": [0.8]})
    s = summarise_recovery(res, targets=tgt).set_index("arm")
    assert s.loc["pipeline", "coverage_own_target"] == 1.0 and s.loc["pipeline", "coverage"] == 0.0
    assert s.loc["corrected", "coverage_own_target"] == 1.0 and s.loc["corrected", "coverage"] == 1.0


def test_correction_replication_fits_the_main_model_three_ways():
    rows = correction_replication(11, n_encounters=900, n_sim=3)
    assert set(rows["arm"]) == {"true_codes", "pipeline", "corrected"} and set(rows["hypothesis"]) == {MAIN_MODEL}
    by_arm = rows.groupby("arm")["term"].apply(frozenset)
    assert by_arm["pipeline"] == by_arm["corrected"] == by_arm["true_codes"]
    assert {"greeting", "smile[genuine]", "wait_min", "channel[phone]"} <= by_arm["pipeline"]
    assert (rows["ci_low"] < rows["estimate"]).all() and (rows["estimate"] < rows["ci_high"]).all()
    wide = rows.pivot(index="term", columns="arm", values="estimate")
    # the correction moves coded behaviours (greeting is coded with error), and the true codes differ too
    assert wide.loc["greeting", "corrected"] != wide.loc["greeting", "pipeline"]
    assert wide.loc["greeting", "true_codes"] != wide.loc["greeting", "pipeline"]


def test_failed_seeds_are_kept_unless_retried(tmp_path):
    path = tmp_path / "r.jsonl"
    run_replications(_fails_on_odd, seeds=[0, 1], path=path, n_jobs=1, progress=False)
    kept = run_replications(_fails_on_odd, seeds=[0, 1], path=path, n_jobs=1, progress=False)
    assert kept.attrs["n_run"] == 0 and kept.attrs["errors"] == {1: "ValueError: odd seed"}
    again = run_replications(_fails_on_odd, seeds=[0, 1], path=path, n_jobs=1, progress=False, retry_failed=True)
    assert again.attrs["n_run"] == 1                                 # only the failed seed was run again


def test_a_runs_file_made_with_other_settings_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    run_replications(_fails_on_odd, seeds=[0, 2], path=path, n_jobs=1, progress=False, settings={"n_sim": 20})
    same = run_replications(_fails_on_odd, seeds=[0, 2, 4], path=path, n_jobs=1, progress=False,
                            settings={"n_sim": 20})
    assert same.attrs["n_run"] == 1 and same["x"].tolist() == [0, 2, 4]
    assert all(rec["settings"] == {"n_sim": 20} for rec in read_replications(path).values())
    with pytest.raises(ValueError, match="run with {'n_sim': 20}, this run has {'n_sim': 50}"):
        run_replications(_fails_on_odd, seeds=[0, 2], path=path, n_jobs=1, progress=False, settings={"n_sim": 50})


@pytest.mark.parametrize("argv, message", [
    (["--replications", "0"], "nothing to run"),
    (["--replications", "-3"], "0 or more"),
    (["--replications", "0", "--correction", "2", "--out", "x.csv"], "--out and --runs apply"),
    (["--replications", "5", "--n-sim", "10"], "only with --correction"),
    (["--correction", "5", "--n-sim", "1"], "at least 2"),
    (["--jobs", "0"], "--jobs must be at least 1"),
])
def test_recovery_command_line_refuses_what_would_do_nothing(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


# --- planning sentences ----------------------------------------------------------------------------
def _grid():
    rows = []
    for k, shift in ((1.0, 0.0), (0.8, 0.1)):
        for j in (24, 48):
            for n, p in ((1000, 0.55), (2000, 0.75), (3000, 0.85)):
                rows.append({"n_encounters": n, "n_employees": j, "double_coded_share": 0.3, "kappa": k,
                             "power": p - shift - (0.02 if j == 24 else 0.0), "power_mc_se": 0.03})
    g = pd.DataFrame(rows)
    g.attrs["design"] = pw.PowerDesign(effect=math.log(1.3), behaviour="smile", employees="employees")
    return g


def test_planning_sentence_interpolates_the_grid():
    g = _grid()
    # kappa .8, 48 employees: power .65 at 2,000 and .75 at 3,000 -> 2,000 + (.80-.65)/(.10)*1,000 = 3,500 (> grid)
    text = pw.planning_sentence(g, kappa=0.8)
    assert text.startswith("To detect OR = 1.3 for smile with 80% power at κ = .8 you need more than the 3,000 "
                           "encounters from 48 employees of the grid")
    # kappa 1, 48 employees: .75 at 2,000, .85 at 3,000 -> 2,500 encounters
    text = pw.planning_sentence(g, kappa=1.0)
    assert text.startswith("To detect OR = 1.3 for smile with 80% power at κ = 1 you need about 2,500 encounters "
                           "from 48 employees")
    req = pw.required_encounters(g, kappa=1.0)
    assert req.set_index("n_employees").loc[24, "required_encounters"] == pytest.approx(2000 + 0.07 / 0.1 * 1000)


def test_pseudo_true_cache_refuses_sets_computed_for_another_study(tmp_path, monkeypatch):
    from svcresearch.simulate import _pseudo

    monkeypatch.setattr(_pseudo, "CACHE", tmp_path / "pseudo_true.json")
    wrong = {c: {"n_encounters": 1000, "seed": _pseudo.PSEUDO_SEED, "codes": c} for c in _pseudo.CODES}
    with pytest.raises(ValueError, match="not for the default parameters"):
        _pseudo.write_cache(computed=wrong)
    stale = {c: {"n_encounters": _pseudo.PSEUDO_N, "seed": _pseudo.PSEUDO_SEED, "codes": c, "fingerprint": "0" * 64}
             for c in _pseudo.CODES}
    with pytest.raises(ValueError, match="not for the default parameters"):
        _pseudo.write_cache(computed=stale)
    assert not (tmp_path / "pseudo_true.json").exists()


def test_recovery_command_line_names_a_runs_file_with_other_settings(tmp_path, capsys):
    runs = tmp_path / "runs.jsonl"
    runs.write_text(json.dumps({"seed": 1, "rows": [], "settings": {"replication": "recovery_replication",
                                                                      "n_encounters": 600}}) + "\n")
    code = main(["--replications", "1", "--runs", str(runs), "--out", str(tmp_path / "out.csv")])
    err = capsys.readouterr().err
    assert code == 2 and str(runs) in err and "'n_encounters': 600" in err
    assert not (tmp_path / "out.csv").exists()
