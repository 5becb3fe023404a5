"""Tests of the hypotheses file (load_hypotheses) and the hypotheses table (run_hypotheses).

The study frame is built from the simulator's true encounters (``svcresearch.simulate.study_truth``)
in the processed schema of docs/study_layout.md — true behaviours without coder error, MCAR survey
nonresponse, not-applicable cells as NA with ``<behaviour>_status`` — so that every true value is
the estimand of the model (no misclassification attenuation). The default study's codebook and
hypotheses file are the simulator's resources (what ``svcresearch simulate`` writes).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import svcresearch.hypotheses as hyp
from svcresearch._validation import InputError
from svcresearch.codebook import load_codebook
from svcresearch.simulate import study_truth
from svcresearch.simulate._model import BEHAVIOURS, SMILE_LEVELS, hypothesis_truths, merge_parameters

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "svcresearch" / "simulate" / "resources"
CODEBOOK = load_codebook(RESOURCES / "codebook.yaml")
DEFAULT = hyp.load_hypotheses(RESOURCES / "hypotheses.yaml", codebook=CODEBOOK)


def processed_frame(n: int, seed: int) -> pd.DataFrame:
    t = study_truth(n_encounters=n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    responded = rng.random(n) < 0.7
    df = pd.DataFrame({"employee": pd.array([f"emp_{e:03d}" for e in t["employee"]], dtype="string"),
                       "channel": pd.Categorical(np.where(t["channel_phone"], "phone", "face_to_face"),
                                                 categories=["face_to_face", "phone"]),
                       "wait_min": t["wait_min"].astype(float),
                       "service_failure": pd.array(t["service_failure"], dtype="boolean"),
                       "returning_customer": pd.array(t["returning_customer"], dtype="boolean")})
    applicable = t["applicable"]
    for b in BEHAVIOURS:
        if b == "smile":
            continue
        ok = applicable.get(b, np.ones(n, dtype=bool))
        df[b] = pd.array(np.where(ok, t[b], False), dtype="boolean")
        df.loc[~ok, b] = pd.NA
        df[f"{b}_status"] = pd.Categorical(np.where(ok, "observed", "not_applicable"),
                                           categories=["observed", "missing", "not_applicable"])
    smile = pd.Series(np.array(SMILE_LEVELS, dtype=object)[t["smile"]])
    smile[~applicable["smile"]] = None
    df["smile"] = pd.Categorical(smile, categories=list(SMILE_LEVELS), ordered=True)
    df["smile_status"] = pd.Categorical(np.where(applicable["smile"], "observed", "not_applicable"),
                                        categories=["observed", "missing", "not_applicable"])
    df["sat_overall"] = pd.array(np.where(responded, t["sat_overall"], 0), dtype="Int64")
    df.loc[~responded, "sat_overall"] = pd.NA
    df["felt_valued"] = pd.array(np.where(responded, t["felt_valued"], 0), dtype="Int64")
    df.loc[~responded, "felt_valued"] = pd.NA
    return df


@pytest.fixture(scope="module")
def study():
    return processed_frame(4000, 7)


@pytest.fixture(scope="module")
def truth():
    return {"hypotheses": hypothesis_truths(merge_parameters(None))}


@pytest.fixture(scope="module")
def table(study, truth):
    return hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, ground_truth=truth)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "hypotheses.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the default study's file -------------------------------------------------------------------
def test_default_file_has_h1_to_h12_with_sources_by_title():
    reg = DEFAULT.registry()
    assert reg["hypothesis"].unique().tolist() == [f"H{i}" for i in range(1, 13)]
    assert reg.groupby("hypothesis", sort=False).size().loc[["H3", "H4", "H5", "H7"]].tolist() == [3, 2, 2, 3]
    assert reg.set_index("term").loc["apology - explanation", "subset"] == "service_failure == yes"
    assert (reg.loc[reg.hypothesis.isin(["H1", "H3", "H11"]), "subset"] == "channel == face_to_face").all()
    assert set(reg["kind"]) == set(hyp.KINDS)
    # sources cite articles by title, never by a file hash
    assert reg["source"].str.len().gt(10).all()
    assert not reg["source"].str.contains(r"[0-9a-f]{12}").any()
    assert DEFAULT.model.outcome == "sat_overall" and DEFAULT.model.groups == "employee"


def test_table_shape_and_verdict_rule(table):
    assert table.columns.tolist() == hyp.COLUMNS + ["true_value", "ci_covers_truth"]
    assert len(table) == 18 and (table["reason"] == "").all()
    assert set(table["verdict"]) <= set(hyp.VERDICTS)
    sig = table["p_holm"] < 0.05
    positive = table["expected"] == "> 0"
    right = np.where(positive, table["estimate"] > 0, table["estimate"] < 0)
    assert (table.loc[sig & right, "verdict"] == "supported").all()
    assert (table.loc[~sig, "verdict"] == "not supported").all()
    assert (table["p_holm"] >= table["p_value"] - 1e-15).all()
    assert table.attrs["note"].startswith("Estimates on the latent logit scale")
    assert "Holm correction over the 18 rows" in table.attrs["note"]


def test_same_estimates_as_the_hand_built_table_it_replaces(table):
    # run_hypotheses of commit 50568e8 (hand-coded H1-H12, MAIN_TERMS and analysis_frame) on
    # processed_frame(4000, 7): the generic file-driven version must give the same numbers
    old_estimate = [0.2708290285, 0.1021560165, 0.1884591565, 0.3902510707, 0.2017919143, 1.0882431919,
                    0.6141915117, -0.1167195151, 0.0330869666, -0.0494303775, -0.522868803, -0.2125405521,
                    -0.2391337025, 0.1827353447, 0.1219032184, 0.0890084901, 0.2106476905, 0.1910415855]
    old_se = [0.0979358012, 0.105063188, 0.1019016486, 0.113149199, 0.1111925398, 0.1305569583, 0.1665558481,
              0.0115007665, 0.0205174648, 0.2536944568, 0.1262349526, 0.080360096, 0.0923381471, 0.2029923834,
              0.2423401359, 0.0174215632, 0.0348427793, 0.1445188751]
    np.testing.assert_allclose(table["estimate"], old_estimate, atol=2e-10)
    np.testing.assert_allclose(table["std_error"], old_se, atol=2e-10)


def test_truth_recovery(table):
    known = table.dropna(subset=["true_value"])
    assert len(known) == 18
    assert known["ci_covers_truth"].mean() >= 0.75
    rows = table.set_index("term")
    assert rows.loc["referral", "verdict"] != "supported"          # truly null
    for term in ("resolved", "wait_min", "icc_employee", "indirect: smile[genuine]"):
        assert rows.loc[term, "verdict"] == "supported", term


def test_deterministic_and_claim_selection(study, truth, table):
    again = hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, ground_truth=truth)
    pd.testing.assert_frame_equal(table, again)
    sub = hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, claims=["H4", "H12"])
    assert sub["hypothesis"].tolist() == ["H4", "H4", "H12"]
    np.testing.assert_allclose(sub["estimate"], table.loc[table.hypothesis.isin(["H4", "H12"]), "estimate"])


def test_true_values_come_from_the_file_by_claim_and_label():
    gt = {"hypotheses": {"H1": {"eye_contact": 0.4}}}
    assert hyp.true_value(gt, "H1", "eye_contact") == 0.4
    assert np.isnan(hyp.true_value(gt, "H2", "greeting")) and np.isnan(hyp.true_value(None, "H1", "x"))


def test_shipped_ground_truth_has_a_value_for_every_default_row():
    gt = hyp.load_ground_truth(ROOT / "data" / "raw" / "ground_truth.json")
    for claim in DEFAULT.claims:
        for t in claim.tests:
            assert np.isfinite(hyp.true_value(gt, claim.id, t.label)), (claim.id, t.label)
    assert hyp.true_model_terms(gt)["channel[phone]"] == gt["parameters"]["latent"]["beta"]["channel[phone]"]


# --- loader errors: one line naming the file, the entry and what was expected ---------------------
GOOD_MODEL = "model:\n  outcome: sat_overall\n  terms: [greeting, resolved]\n"


@pytest.mark.parametrize("body, message", [
    ("hypotheses:\n  - {id: A, term: greeting, expected: positive}\n", "'model' must be a mapping"),
    (GOOD_MODEL.replace("sat_overall", "recommend") + "hypotheses:\n  - {id: A, term: greeting, expected: positive}\n",
     "outcome 'recommend' is not a variable of the codebook"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, term: greting, expected: positive}\n",
     "hypothesis A: term 'greting': 'greting' is not a variable of the codebook"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, term: greeting, expected: up}\n",
     "hypothesis A: 'expected' must be one of positive, negative, nonzero; got 'up'"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, term: greeting, icc: employee, expected: positive}\n",
     "hypothesis A needs exactly one of term, contrast, interaction, icc, mediation; it has term, icc"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, contrast: 'smile[big] - smile[polite]', expected: positive}\n",
     "'big' is not a level of 'smile'"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, contrast: 'greeting resolved', expected: positive}\n",
     "hypothesis A: contrast could not read"),
    (GOOD_MODEL + "hypotheses:\n  - id: A\n    tests:\n      - {term: greeting, expected: positive}\n"
     "      - {interaction: [resolved], expected: positive}\n",
     "hypothesis A, test 2: 'interaction' must be a list of two or more variable names"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, term: greeting, expected: positive}\n"
     "  - {id: A, term: resolved, expected: positive}\n", "hypotheses entry 2: id 'A' is used twice"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, term: greeting, expected: positive, where: {variable: channel}}\n",
     "hypothesis A: 'where' must be {variable, op, value}"),
    (GOOD_MODEL + "hypotheses:\n  - {id: A, mediation: {x: smile}, expected: positive}\n",
     "hypothesis A: 'mediation' must be {x: VARIABLE, mediator: VARIABLE}"),
    (GOOD_MODEL + "hypotheses: [\n", "not a valid UTF-8 YAML file"),
])
def test_loader_errors_name_file_and_entry(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(InputError) as info:
        hyp.load_hypotheses(path, codebook=CODEBOOK)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="hypotheses file not found"):
        hyp.load_hypotheses(tmp_path / "nope.yaml", codebook=CODEBOOK)


def test_parse_contrast_weights():
    assert hyp.parse_contrast("-service_failure - resolved") == {"service_failure": -1.0, "resolved": -1.0}
    assert hyp.parse_contrast("smile[genuine] - smile[polite]") == {"smile[genuine]": 1.0, "smile[polite]": -1.0}
    assert hyp.parse_contrast("2*a + 0.5 b:c") == {"a": 2.0, "b:c": 0.5}
    assert hyp.parse_contrast({"a": 1, "b": -1}) == {"a": 1.0, "b": -1.0}


# --- each kind of claim on a file of its own --------------------------------------------------
def test_each_claim_kind_and_nonzero(tmp_path, study, table):
    path = write(tmp_path, """
model:
  outcome: sat_overall
  groups: employee
  terms: [greeting, resolved, empathy, resolved:empathy, wait_min, service_failure]
hypotheses:
  - {id: T, term: greeting, expected: nonzero}
  - {id: C, contrast: "-service_failure - resolved", expected: negative}
  - {id: I, interaction: [resolved, empathy], expected: positive}
  - {id: N, term: scripted, expected: negative}
  - {id: W, term: eye_contact, expected: positive, where: {variable: channel, op: "==", value: face_to_face}}
  - {id: R, icc: employee, expected: positive}
  - {id: M, mediation: {x: "smile[genuine]", mediator: felt_valued}, expected: positive,
     where: {variable: channel, op: "==", value: face_to_face}}
""")
    h = hyp.load_hypotheses(path, codebook=CODEBOOK)
    res = hyp.run_hypotheses(study, hypotheses=h, codebook=CODEBOOK).set_index("hypothesis")
    assert (res["reason"] == "").all()
    assert res.loc["T", "expected"] == "!= 0" and res.loc["T", "kind"] == "term"
    assert res.loc["C", "term"] == "-service_failure - resolved" and res.loc["C", "kind"] == "contrast"
    # a variable not in model.terms (scripted) is added for its claim only
    assert res.loc["N", "n"] == res.loc["T", "n"]
    assert res.loc["R", "scale"] == "icc" and 0 < res.loc["R", "estimate"] < 0.3
    assert res.loc["M", "scale"] == "indirect" and res.loc["M", "estimate"] > 0
    assert res.loc["W", "subset"] == "channel == face_to_face" and res.loc["W", "n"] < res.loc["T", "n"]
    # nonzero: supported when significant either way; flipping the sign of "expected" flips the verdict
    assert res.loc["I", "verdict"] == "supported"
    assert res.loc["C", "verdict"] in ("supported", "not supported")
    flipped = hyp.run_hypotheses(study, codebook=CODEBOOK, hypotheses=hyp.hypotheses_from_dict(
        {"model": {"outcome": "sat_overall", "terms": ["resolved"]},
         "hypotheses": [{"id": "X", "term": "resolved", "expected": "negative"},
                        {"id": "Y", "term": "resolved", "expected": "nonzero"}]}, codebook=CODEBOOK))
    assert flipped["verdict"].tolist() == ["opposite direction", "supported"]


def test_binary_and_continuous_outcomes(study):
    # a yes/no outcome (logistic) and a continuous one (linear mixed) from the same ratings
    noise = np.random.default_rng(3).normal(0, 0.5, len(study))
    data = study.assign(tell_others=study["sat_overall"].ge(4).astype("boolean"),
                        duration_s=study["sat_overall"].astype(float) + noise)
    data.loc[study["sat_overall"].isna(), "tell_others"] = pd.NA
    for outcome, scale, icc_ok in (("tell_others", "log_odds", False), ("duration_s", "b", True)):
        h = hyp.hypotheses_from_dict({"model": {"outcome": outcome, "groups": "employee",
                                                "terms": ["greeting", "resolved"]},
                                      "hypotheses": [{"id": "A", "term": "resolved", "expected": "positive"},
                                                     {"id": "B", "icc": "employee", "expected": "positive"}]},
                                     codebook=CODEBOOK)
        res = hyp.run_hypotheses(data, hypotheses=h, codebook=CODEBOOK).set_index("hypothesis")
        assert res.loc["A", "verdict"] == "supported" and res.loc["A", "scale"] == scale
        assert (res.loc["B", "verdict"] != "not testable") == icc_ok


# --- partial studies: not testable rows with their reason, outside the Holm family -------------------
def test_partial_frame_untestable_rows_named_and_outside_holm(study):
    part = study.drop(columns=["upselling", "upselling_status", "referral", "referral_status", "employee"])
    part["scripted"] = pd.array([pd.NA] * len(part), dtype="boolean")
    res = hyp.run_hypotheses(part, hypotheses=DEFAULT, codebook=CODEBOOK)
    rows = res.set_index("term")
    assert rows.loc["upselling", "reason"] == "'upselling' is not in the data"
    assert rows.loc["referral", "reason"] == "'referral' is not in the data"
    assert rows.loc["scripted", "reason"].startswith("'scripted' has no value among the")
    assert "employee" in rows.loc["icc_employee", "reason"]
    untested = res["verdict"] == "not testable"
    assert untested.sum() == 4 and res.loc[untested, "estimate"].isna().all()
    assert res.loc[untested, "p_holm"].isna().all()
    assert f"over the {(~untested).sum()} tested rows" in res.attrs["note"]
    # the never-coded scripted does not cost any other row its model: same n as with it present
    full_n = hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, claims=["H2"])["n"].iloc[0]
    assert rows.loc["greeting", "n"] == full_n


def test_empty_mediator_and_too_few_rows_are_reasons(study):
    part = study.assign(felt_valued=pd.array([pd.NA] * len(study), dtype="Int64"))
    res = hyp.run_hypotheses(part, hypotheses=DEFAULT, codebook=CODEBOOK, claims=["H11"])
    assert "'felt_valued' has no value among the" in res["reason"].iloc[0]
    small = hyp.run_hypotheses(study.iloc[:40], hypotheses=DEFAULT, codebook=CODEBOOK)
    assert (small["verdict"] == "not testable").all()
    assert small["reason"].str.contains("a model needs at least 30").any()
    assert "not applied (no row could be tested)" in small.attrs["note"]


def test_errors(study):
    with pytest.raises(TypeError, match="hypotheses"):
        hyp.run_hypotheses(study, hypotheses=["H1"], codebook=CODEBOOK)
    with pytest.raises(ValueError, match="claims"):
        hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, claims=["H99"])
    with pytest.raises(ValueError, match="link"):
        hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, link="cauchit")


def test_model_from_codebook_is_the_first_outcome_on_the_coded_behaviours():
    spec = hyp.model_from_codebook(CODEBOOK)
    assert spec.outcome == "sat_overall" and spec.groups is None
    assert list(spec.terms) == [v.out_name for v in CODEBOOK.behaviours]


def test_package_names_no_default_study_variable_outside_simulate():
    names = ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "phone_use", "scripted",
             "upselling", "referral", "felt_valued", "sat_overall", "service_failure", "wait_min"]
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b")
    for module in ("hypotheses.py", "modelframe.py", "mediation.py", "analysis.py", "drivers.py", "effects.py"):
        text = (ROOT / "svcresearch" / module).read_text(encoding="utf-8")
        found = pattern.findall(text)
        assert not found, f"{module} names {sorted(set(found))}"


def test_no_public_name_looks_like_a_pytest_test():
    from svcresearch import analysis, modelframe
    for module in (hyp, analysis, modelframe):
        assert not [n for n in dir(module) if n.startswith("test")]


def test_derived_tables_share_the_fitted_models_instead_of_copying_them(table):
    # pandas deep-copies attrs into every derived frame; the fits (with their data) must be shared
    models = table.attrs["models"]
    derived = table.iloc[[0]].rename(columns={"term": "row"})
    assert derived.attrs["models"] is models
    assert table["term"].attrs["models"] is models            # a column is a derived frame too


def test_ground_truth_with_pseudo_true_values_adds_the_coded_limit(study):
    gt = {"hypotheses_generative": {"H2": {"greeting": 0.35}}, "hypotheses": {"H2": {"greeting": 0.33}},
          "hypotheses_pseudo_true_coded": {"H2": {"greeting": 0.29}}}
    out = hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, ground_truth=gt, claims=["H2"])
    assert out.columns.tolist()[-3:] == ["true_value", "ci_covers_truth", "true_value_coded"]
    assert out[["true_value", "true_value_coded"]].iloc[0].tolist() == [0.33, 0.29]
    assert "True value: the pseudo-true value" in out.attrs["note"]
    assert "what this table's estimates converge to" in out.attrs["note"]
    assert "aim at the true value" in hyp.truth_note(gt, corrected=True)
    plain = hyp.run_hypotheses(study, hypotheses=DEFAULT, codebook=CODEBOOK, ground_truth={"hypotheses": gt["hypotheses"]},
                               claims=["H2"])
    assert "true_value_coded" not in plain.columns and "True value: from the study's" in plain.attrs["note"]
