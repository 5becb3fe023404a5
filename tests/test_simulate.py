"""The simulator: byte-identical reruns, the documented layout, configured rates, known truth.

Reference for effect recovery: statsmodels' ``OrderedModel`` (an independent ordinal-logit
estimator) fitted on the *true* behaviours, mediator and random effects of a simulation must
recover the coefficients and cut-points written in ``DEFAULT_PARAMETERS``/``ground_truth.json``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svcresearch._validation import InputError
from svcresearch.simulate import (DEFAULT_PARAMETERS, STUDY_FILES, design_matrix, simulate_study, study_truth)
from svcresearch.simulate._study import UNKNOWN_BINARY, UNKNOWN_SMILE

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
BEHAVIOURS = ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "explanation",
              "acknowledged_wait", "phone_use", "scripted", "upselling", "referral"]


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    gt = simulate_study(n_encounters=3000, seed=11, out=out)
    return out, gt


def _read_csv(path, sep=",", encoding="utf-8", header=0):
    return pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False, header=header)


def _file_rows(path: Path, sep: str, encoding: str) -> list[list[str]]:
    """Rows as a spreadsheet shows them: index 0 is spreadsheet row 1 (the header)."""
    text = path.read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))


def _digits(ids) -> np.ndarray:
    return np.array([int(re.sub(r"\D", "", s)) for s in ids])


# --- determinism ---------------------------------------------------------------------------------
def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate_study(n_encounters=400, seed=7, out=a)
    simulate_study(n_encounters=400, seed=7, out=b)
    simulate_study(n_encounters=400, seed=8, out=c)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert sorted(da) == sorted(STUDY_FILES)
    assert da == db
    differing = [f for f in da if da[f] != dc[f]]
    assert set(differing) >= set(STUDY_FILES) - {"codebook.yaml", "hypotheses.yaml"}


def test_committed_default_study_equals_a_fresh_regeneration(tmp_path):
    from svcresearch.config import DEFAULT_SEED

    raw = ROOT / "data" / "raw"
    study_yaml = (raw / "study.yaml").read_text(encoding="utf-8")
    n = int(re.search(r"--encounters (\d+)", study_yaml).group(1))
    simulate_study(n_encounters=n, seed=DEFAULT_SEED, out=tmp_path / "fresh")
    committed = {k: v for k, v in _digest(raw).items() if k != "README.md"}
    assert committed == _digest(tmp_path / "fresh")


# --- layout --------------------------------------------------------------------------------------
OPERATIONS = ["encounter_id", "service_point", "employee_id", "employee_name", "customer_id", "customer_name",
              "customer_email", "customer_phone", "channel", "start_time", "wait_min", "returning_customer",
              "service_failure", "duration_s"]
CODING = ["encounter_id", "coder", "coded_at", *BEHAVIOURS, "coder_comment"]
SURVEY = ["receipt_code", "responded_at", "sat_overall", "sat_1", "sat_2", "sat_3", "felt_valued", "tell_others",
          "post_online", "respondent_email", "open_feedback"]


def test_column_lists_are_the_documented_ones():
    # the expected lists above are copied from docs/study_layout.md; check they still are there
    doc = re.sub(r"\s+", " ", (ROOT / "docs" / "study_layout.md").read_text(encoding="utf-8"))
    for columns in (OPERATIONS, CODING):
        assert ", ".join(columns) in doc
    assert "receipt_code, responded_at, sat_overall (1–5), sat_1, sat_2, sat_3 (1–7), felt_valued (1–7)" in doc


def test_files_columns_and_formats_match_the_layout(study):
    out, _ = study
    assert list(_read_csv(out / "operations.csv").columns) == OPERATIONS
    assert list(_read_csv(out / "coding_coder_A.csv").columns) == CODING
    raw_b = (out / "coding_coder_B.csv").read_bytes()
    raw_b.decode("cp1252")
    assert list(_read_csv(out / "coding_coder_B.csv", sep=";", encoding="cp1252").columns) == CODING
    xlsx = pd.read_excel(out / "coding_coder_A_SP01.xlsx", sheet_name="coding", header=None, dtype=object)
    assert str(xlsx.iloc[0, 0]).startswith("Pilot coding sheet") and xlsx.iloc[0, 1:].isna().all()
    assert list(xlsx.iloc[1]) == CODING
    web_bytes = (out / "survey_web.csv").read_bytes()
    assert web_bytes.startswith(b"\xef\xbb\xbf")
    assert list(_read_csv(out / "survey_web.csv", sep=";", encoding="utf-8-sig").columns) == SURVEY
    import pyreadstat

    paper, meta = pyreadstat.read_sav(out / "survey_paper.sav")
    assert list(paper.columns) == SURVEY
    assert meta.variable_value_labels["sat_overall"][5.0] == "very satisfied"
    assert meta.variable_value_labels["tell_others"] == {1.0: "yes", 0.0: "no"}
    study_yaml = (out / "study.yaml").read_text(encoding="utf-8")
    for f in STUDY_FILES:
        if f not in ("study.yaml", "codebook.yaml", "ground_truth.json", "hypotheses.yaml"):
            assert f"path: {f}" in study_yaml
    assert "hypotheses: hypotheses.yaml" in study_yaml
    assert (out / "codebook.yaml").read_bytes() == \
        (ROOT / "svcresearch" / "simulate" / "resources" / "codebook.yaml").read_bytes()
    assert b"\r\n" in (out / "boris" / "video_tabular.csv").read_bytes()[:2000]


@pytest.mark.skipif(not (SHARED / "fixtures" / "boris").is_dir(), reason="../shared fixtures absent")
def test_boris_headers_are_those_of_real_exports(study):
    out, _ = study
    fix = SHARED / "fixtures" / "boris"
    real_agg = (fix / "service_aggregated_v9.tsv").read_text(encoding="utf-8").splitlines()[0]
    real_tab = (fix / "service_tabular_v8.csv").read_text(encoding="utf-8").splitlines()[0]
    assert (out / "boris" / "video_aggregated.tsv").read_text(encoding="utf-8").splitlines()[0] == real_agg
    assert (out / "boris" / "video_tabular.csv").read_text(encoding="utf-8").splitlines()[0] == real_tab


def test_ground_truth_has_every_section(study):
    out, gt = study
    on_disk = json.loads((out / "ground_truth.json").read_text(encoding="utf-8"))
    assert on_disk["seed"] == 11 and on_disk["n_encounters"] == 3000
    hyps = {e["hypothesis"] for e in on_disk["effects"]}
    assert hyps == {f"H{i}" for i in range(1, 13)}
    for e in on_disk["effects"]:
        assert set(e) >= {"hypothesis", "term", "true_value", "scale", "source", "assumption"}
    referral = [e for e in on_disk["effects"] if e["term"] == "referral"]
    assert referral[0]["true_value"] == 0.0
    icc = [e for e in on_disk["effects"] if e["term"] == "icc_employee"][0]["true_value"]
    assert 0.05 <= icc <= 0.10
    for f in on_disk["faults"]:
        assert set(f) >= {"fault", "file", "column", "rate", "count", "rows", "handling"}
        assert f["count"] == len(f["rows"])


# --- rates and structure ------------------------------------------------------------------------
def test_nonresponse_and_coder_b_share_are_as_configured(study):
    out, gt = study
    n = gt["n_encounters"]
    assert gt["design"]["n_responded"] / n == pytest.approx(0.70, abs=0.03)
    assert gt["design"]["n_coder_b"] / n == pytest.approx(0.30, abs=0.03)
    web = _read_csv(out / "survey_web.csv", sep=";", encoding="utf-8-sig")
    import pyreadstat

    paper, _ = pyreadstat.read_sav(out / "survey_paper.sav")
    dup = sum(f["count"] for f in gt["faults"] if f["fault"] == "duplicate_response")
    assert len(web) + len(paper) - dup == gt["design"]["n_responded"]
    b = _read_csv(out / "coding_coder_B.csv", sep=";", encoding="cp1252")
    dups = sum(f["count"] for f in gt["faults"] if f["file"] == "coding_coder_B.csv" and f["column"] is None)
    assert len(b) - dups == gt["design"]["n_coder_b"]
    video = gt["design"]["n_video"] / gt["design"]["n_face_to_face"]
    assert video == pytest.approx(0.10, abs=0.03)


def test_phone_encounters_have_no_eye_contact_or_smile_codes(study):
    out, gt = study
    truth = study_truth(n_encounters=3000, seed=11)
    for name, sep, enc in (("coding_coder_A.csv", ",", "utf-8"), ("coding_coder_B.csv", ";", "cp1252")):
        df = _read_csv(out / name, sep=sep, encoding=enc)
        phone = truth["channel_phone"][_digits(df["encounter_id"]) - 1]
        assert phone.sum() > 100
        for col in ("eye_contact", "smile"):
            assert set(df.loc[phone, col]) <= {"", "NA"}
            assert (df.loc[~phone, col] != "").mean() > 0.9


def test_coder_agreement_differs_by_behaviour(tmp_path):
    out = tmp_path / "s"
    simulate_study(n_encounters=8000, seed=3, out=out, fault_rates={k: 0.0 for k in (
        "exact_duplicate_coding", "conflicting_duplicate_coding", "encounter_id_drift", "label_variant",
        "whitespace_case", "missing_code", "unknown_code")})
    a = _read_csv(out / "coding_coder_A.csv").set_index("encounter_id")
    b = _read_csv(out / "coding_coder_B.csv", sep=";", encoding="cp1252").set_index("encounter_id")
    both = a.add_suffix("_a").join(b.add_suffix("_b"), how="inner")
    agree = {}
    for col in ("greeting", "smile"):
        ok = (both[col + "_a"].isin(["yes", "no", "none", "polite", "genuine"]))
        agree[col] = (both.loc[ok, col + "_a"] == both.loc[ok, col + "_b"]).mean()
    assert agree["greeting"] == pytest.approx(0.97, abs=0.02)
    assert agree["smile"] == pytest.approx(0.80, abs=0.04)
    smile = both[both["smile_a"].isin(["polite", "genuine"]) | both["smile_b"].isin(["polite", "genuine"])]
    wrong = smile[smile["smile_a"] != smile["smile_b"]]
    polite_genuine = wrong["smile_a"].isin(["polite", "genuine"]) & wrong["smile_b"].isin(["polite", "genuine"])
    assert polite_genuine.mean() > 0.5


# --- faults are where ground truth says --------------------------------------------------------
def test_fault_rows_point_at_the_injected_cells(study):
    out, gt = study
    files = {"operations.csv": (",", "utf-8"), "coding_coder_A.csv": (",", "utf-8"),
             "coding_coder_B.csv": (";", "cp1252"), "survey_web.csv": (";", "utf-8-sig"),
             "boris/video_tabular.csv": (",", "utf-8"), "boris/video_aggregated.tsv": ("\t", "utf-8")}
    rows = {f: _file_rows(out / f, *spec) for f, spec in files.items()}
    checked = set()
    for f in gt["faults"]:
        if f["file"] not in rows or not f["rows"]:
            continue
        table = rows[f["file"]]
        header = table[0]
        cells = [table[r - 1][header.index(f["column"])] if f["column"] else None for r in f["rows"]]
        kind = f["fault"]
        if kind == "unknown_code":
            allowed = UNKNOWN_SMILE if f["column"] == "smile" else UNKNOWN_BINARY
            assert set(cells) <= set(allowed)
        elif kind == "out_of_range":
            assert all(c in {"-3", "-1.5", "999", "6", "0", "99", "8", "77"} for c in cells)
        elif kind == "missing_code":
            assert set(cells) <= {"-99", "NA", "n/a", "ei tietoa", ""}
        elif kind == "unparseable_time":
            assert set(cells) <= {"klo 14", "32.13.2026 25.61", "??:??", "2026-02-30 10:00"}
        elif kind == "finnish_datetime":
            assert all(re.fullmatch(r"\d{1,2}\.\d{1,2}\.2026 \d\d\.\d\d", c) for c in cells)
        elif kind == "decimal_comma":
            assert all("," in c for c in cells)
        elif kind in ("exact_duplicate_row", "exact_duplicate_coding"):
            for r, o in zip(f["rows"], f["duplicate_of_rows"]):
                assert table[r - 1] == table[o - 1] and r != o
        elif kind in ("conflicting_duplicate_coding", "duplicate_response"):
            for r, o, col in zip(f["rows"], f["duplicate_of_rows"], f["changed_columns"]):
                diff = [h for h, x, y in zip(header, table[r - 1], table[o - 1]) if x != y]
                assert set(diff) <= {col}
        elif kind == "unpaired_start":
            assert set(cells) == {"START"}
            for r in f["rows"]:
                row = table[r - 1]
                key = (row[0], row[header.index("Behavior")])
                later = [x for x in table[r:] if (x[0], x[header.index("Behavior")]) == key]
                # BORIS pairs a START with the next event of the same behaviour: it must not be a STOP
                assert not later or later[0][header.index("Behavior type")] != "STOP"
        elif kind == "mistyped_receipt_code":
            assert all(int(re.sub(r"\D", "", c)) > gt["n_encounters"] for c in cells)
        else:
            continue
        checked.add(kind)
    assert {"unknown_code", "out_of_range", "missing_code", "exact_duplicate_coding", "unpaired_start",
            "conflicting_duplicate_coding", "finnish_datetime", "mistyped_receipt_code"} <= checked


def test_excel_rows_count_the_note_row(study):
    out, gt = study
    xlsx = pd.read_excel(out / "coding_coder_A_SP01.xlsx", header=None, dtype=object)
    for f in gt["faults"]:
        if f["file"] == "coding_coder_A_SP01.xlsx" and f["fault"] == "unknown_code" and f["rows"]:
            col = list(xlsx.iloc[1]).index(f["column"])
            values = {str(xlsx.iat[r - 1, col]) for r in f["rows"]}
            assert values <= set(UNKNOWN_BINARY + UNKNOWN_SMILE)


# --- the truth ------------------------------------------------------------------------------------
TERMS = ["eye_contact", "greeting", "smile", "resolved", "empathy", "wait_min", "acknowledged_wait", "apology",
         "explanation", "phone_use", "scripted", "upselling", "service_failure", "returning_customer", "referral"]


def test_ordinal_logit_recovers_the_true_coefficients_and_cutpoints():
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    t = study_truth(n_encounters=16000, seed=3)
    X = design_matrix({k: t[k] for k in TERMS} | {"channel_phone": t["channel_phone"]})
    names = list(X)
    exog = np.column_stack([X[k] for k in names] + [t["m"] - DEFAULT_PARAMETERS["mediator"]["mean"]])
    res = OrderedModel(t["sat_overall"], exog, offset=t["u_point"] + t["u_employee"], distr="logit").fit(
        method="bfgs", disp=False, maxiter=3000)
    beta = DEFAULT_PARAMETERS["latent"]["beta"] | {"b": DEFAULT_PARAMETERS["latent"]["felt_valued_slope"]}
    est = dict(zip(names + ["b"], res.params[: len(names) + 1]))
    se = dict(zip(names + ["b"], res.bse[: len(names) + 1]))
    z = {k: (est[k] - beta[k]) / se[k] for k in est}
    assert max(abs(v) for v in z.values()) < 4, z
    cut = res.model.transform_threshold_params(res.params)[1:-1]
    np.testing.assert_allclose(cut, DEFAULT_PARAMETERS["latent"]["thresholds"], atol=0.2)


def test_latent_employee_variance_and_mediator_paths():
    t = study_truth(n_encounters=40000, seed=5)
    # employees are nested in points, so the employee-mean variance of y* - eta estimates
    # var_employee + var_point (+ logistic noise / n_j, removed below)
    r = pd.DataFrame({"emp": t["employee"], "r": t["y_star"] - t["eta"]})
    g = r.groupby("emp")["r"].agg(["mean", "count"])
    between = g["mean"].var(ddof=1) - (np.pi ** 2 / 3 * (1 / g["count"])).mean()
    lat = DEFAULT_PARAMETERS["latent"]
    assert between == pytest.approx(lat["sd_employee"] ** 2 + lat["sd_service_point"] ** 2, abs=0.08)
    # a-paths: OLS of the latent mediator on smile dummies (numpy lstsq as the reference solver)
    Xm = np.column_stack([np.ones(t["n"]), t["smile"] == 1, t["smile"] == 2]).astype(float)
    coef = np.linalg.lstsq(Xm, t["m"], rcond=None)[0]
    med = DEFAULT_PARAMETERS["mediator"]
    np.testing.assert_allclose(coef, [med["mean"], med["a_polite"], med["a_genuine"]], atol=0.05)
    # ceiling: sat_overall is negatively skewed (Peterson & Wilson 1992)
    share = np.bincount(t["sat_overall"], minlength=6)[1:] / t["n"]
    assert share[3] + share[4] > 0.6 and share[0] < 0.08


def test_phone_encounters_have_no_visual_behaviours_in_truth():
    t = study_truth(n_encounters=2000, seed=1)
    assert not t["eye_contact"][t["channel_phone"]].any()
    assert not t["smile"][t["channel_phone"]].any()
    assert not t["apology"][~t["service_failure"]].any()
    assert not t["referral"][t["resolved"]].any()


# --- errors ---------------------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(InputError, match="n_encounters"):
        simulate_study(n_encounters=10, seed=1, out=tmp_path / "a")
    with pytest.raises(InputError, match="seed"):
        simulate_study(n_encounters=200, seed=-1, out=tmp_path / "a")
    with pytest.raises(TypeError, match="n_encounters"):
        simulate_study(n_encounters=200.5, seed=1, out=tmp_path / "a")
    with pytest.raises(ValueError, match="no key 'nope'"):
        simulate_study(n_encounters=200, seed=1, out=tmp_path / "a", parameters={"nope": 1})
    with pytest.raises(ValueError, match="unknown_code"):
        simulate_study(n_encounters=200, seed=1, out=tmp_path / "a", fault_rates={"unknown_code": 2.0})
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        simulate_study(n_encounters=200, seed=1, out=full)
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(InputError, match="found a file"):
        simulate_study(n_encounters=200, seed=1, out=afile)
    simulate_study(n_encounters=200, seed=1, out=full, overwrite=True)
    assert (full / "keep.txt").read_text() == "x"
    assert not (tmp_path / "a").exists()


def test_cli_reports_a_non_empty_out_in_one_line(tmp_path, capsys):
    from svcresearch import cli

    (tmp_path / "x.txt").write_text("x")
    code = cli.main(["simulate", "--encounters", "200", "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not empty" in err[0]
