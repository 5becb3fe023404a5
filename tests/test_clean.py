"""clean_study end to end on a simulated study: accounting, injected faults, privacy, determinism,
atomic writes, output schemas (docs/study_layout.md "Processed outputs") and the consensus rule."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from svcresearch import cli, clean, config
from svcresearch.clean import write as clean_write
from svcresearch.clean import REASONS, clean_study
from svcresearch.io import read_table
from svcresearch.simulate import simulate_study

ENCOUNTER_COLUMNS = (
    ["encounter_id", "service_point", "employee", "customer", "channel", "start_time", "wait_min",
     "returning_customer", "service_failure", "duration_s", "coded_at", "responded_at"]
    + ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "explanation",
       "acknowledged_wait", "phone_use", "scripted", "upselling", "referral"]
)
BEHAVIOURS = ENCOUNTER_COLUMNS[12:]
VIDEO = ["video_coded", "video_eye_contact_count", "video_eye_contact_duration_s", "video_eye_contact_share",
         "video_smile_count", "video_smile_duration_s", "video_smile_share", "video_smile_type",
         "video_greeting_present", "video_greeting_latency_s", "video_nod_count"]
SURVEY = ["responded", "survey_mode", "sat_overall", "sat_1", "sat_2", "sat_3", "sat_scale", "felt_valued",
          "tell_others", "post_online"]


def _hash_tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    raw = root / "raw"
    simulate_study(n_encounters=500, seed=3, out=raw)
    key = root / "key"
    before = _hash_tree(raw)
    report = clean_study(raw, out=root / "out1", progress=False, key_path=key)
    clean_study(raw, out=root / "out2", progress=False, key_path=key)
    return {"root": root, "raw": raw, "out": root / "out1", "out2": root / "out2", "key": key,
            "before": before, "report": report,
            "enc": pd.read_parquet(root / "out1" / "encounters.parquet"),
            "long": pd.read_parquet(root / "out1" / "coding_long.parquet"),
            "q": pd.read_csv(root / "out1" / "quarantine.csv", dtype=str, keep_default_na=False),
            "truth": json.loads((raw / "ground_truth.json").read_text())}


def test_raw_files_unchanged(study):
    assert _hash_tree(study["raw"]) == study["before"]


def test_default_study_raw_unchanged(tmp_path, monkeypatch):
    # the shipped data/raw, hashed before and after a clean (outputs go to a temp folder)
    raw = config.default_raw()
    if not (raw / "study.yaml").exists():
        pytest.skip("data/raw has no study")
    monkeypatch.setenv("SVCRESEARCH_KEY", "test-0123456789abcdef")
    before = _hash_tree(raw)
    clean_study(raw, out=tmp_path / "out", progress=False)
    assert _hash_tree(raw) == before


def test_two_runs_byte_identical(study):
    for name in clean.OUTPUT_FILES:
        assert (study["out"] / name).read_bytes() == (study["out2"] / name).read_bytes(), name


def test_every_record_accounted_for(study):
    rep = json.loads((study["out"] / "cleaning_report.json").read_text())
    assert rep == json.loads(json.dumps(study["report"]))
    q = study["q"]
    for e in rep["files"]:
        assert e["read"] == e["kept"] + e["merged"] + e["quarantined"], e
        dropped = q[(q["file"] == e["file"]) & q["scope"].eq("row")]["row"].nunique()
        assert dropped == e["quarantined"], e["file"]
        assert sum(e["rows_quarantined_by_reason"].values()) == e["quarantined"]
    # read counts are the raw record counts as the readers see them
    spec = {f["path"]: f for f in yaml.safe_load((study["raw"] / "study.yaml").read_text())["files"]}
    for e in rep["files"]:
        if e["kind"] != "boris":
            opts = {k: v for k, v in spec[e["file"]].items() if k in ("sheet",)}
            assert e["read"] == len(read_table(study["raw"] / e["file"], **opts))
    # the encounters table holds every operations encounter that was kept
    ops = next(e for e in rep["files"] if e["kind"] == "operations")
    assert len(study["enc"]) == ops["kept"]
    assert set(q["reason"]) <= set(REASONS)
    # coding_long: one row per kept coding record and behaviour
    coded = sum(e["kept"] for e in rep["files"] if e["kind"] == "coding")
    assert len(study["long"]) == coded * len(BEHAVIOURS)


def _entries(q, file, row, column=None):
    m = (q["file"] == file) & (q["row"] == str(row))
    if column is not None:
        m &= q["column"] == column
    return q[m]


def test_injected_faults_handled_as_ground_truth_says(study):
    q, long_ = study["q"], study["long"]
    rep = {e["file"]: e for e in study["report"]["files"]}
    raw_cache = {}
    checked = 0
    for f in study["truth"]["faults"]:
        handling, file, col = f["handling"], f["file"], f["column"]
        for row in f["rows"]:
            here = _entries(q, file, row, col) if col else _entries(q, file, row)
            if handling.startswith("quarantine:"):
                reason = handling.split(":")[1]
                hits = _entries(q, file, row)
                ok = (hits["reason"] == reason).any()
                if not ok and reason == "duplicate_response":
                    # an exact copy of another response is merged (one documented rule for all
                    # exact duplicates), so it must be byte-identical to a kept response
                    if file not in raw_cache:
                        raw_cache[file] = read_table(study["raw"] / file)
                    t = raw_cache[file]
                    me = t[t["source_row"] == row].drop(columns="source_row")
                    same = t.drop(columns="source_row").eq(me.iloc[0]).fillna(
                        t.drop(columns="source_row").isna() & me.iloc[0].isna()).all(axis=1)
                    ok = same.sum() >= 2 and hits.empty
                assert ok, (f["fault"], file, row, hits.to_dict("records"))
            elif handling == "merge":
                assert here.empty, (f["fault"], file, row)
            elif handling.startswith("normalise"):
                problems = here[here["reason"].isin(["unknown_code", "invalid_id", "unparseable_time"])
                                | (here["reason"].eq("out_of_range") & ~here["detail"].str.contains("not applicable"))]
                assert problems.empty, (f["fault"], file, row, problems.to_dict("records"))
                if handling == "normalise:missing" and f["column"] in BEHAVIOURS:
                    v = long_[(long_["source_file"] == file) & (long_["source_row"] == row)
                              & (long_["behaviour"] == col)]
                    assert v["value"].isna().all() and (v["status"] != "observed").all()
            checked += 1
        if handling == "merge":
            assert rep[file]["merged"] == f["count"], (file, rep[file]["merged"], f["count"])
    assert checked > 300


def test_normalised_variants_reach_the_outputs(study):
    # label variants / whitespace of coded behaviours become yes/no with status observed
    long_ = study["long"]
    for f in study["truth"]["faults"]:
        if f["fault"] in ("label_variant", "whitespace_case") and f["column"] in BEHAVIOURS and f["rows"]:
            v = long_[(long_["source_file"] == f["file"]) & long_["source_row"].isin(f["rows"])
                      & (long_["behaviour"] == f["column"])]
            assert v.loc[v["status"] == "observed", "value"].notna().all()
            assert set(v["value"].dropna()) <= {"yes", "no", "none", "polite", "genuine"}


def test_no_personal_data_in_outputs(study):
    raw = study["raw"]
    ops = read_table(raw / "operations.csv")
    secrets = set()
    for c in ("employee_name", "customer_name", "customer_email", "customer_phone"):
        secrets |= set(ops[c].dropna().str.strip())
    for name in ("survey_web.csv", "survey_paper.sav"):
        s = read_table(raw / name)
        secrets |= set(s["respondent_email"].dropna().str.strip())
    secrets = {s for s in secrets if len(s) >= 5}
    assert len(secrets) > 100
    text = ""
    for name in ("quarantine.csv", "cleaning_report.json", "cleaning_report.md", "datapackage.json"):
        text += (study["out"] / name).read_text(encoding="utf-8")
    for name in ("encounters.parquet", "coding_long.parquet"):
        df = pd.read_parquet(study["out"] / name)
        text += df.astype("string").to_csv()
    leaked = [s for s in secrets if s in text]
    assert leaked == []
    # raw employee identifiers are pseudonymised, comments never written
    assert not study["enc"]["employee"].str.match(r"^E-\d+").any()
    assert study["enc"]["employee"].str.fullmatch(r"emp_[0-9a-f]{10}").all()
    for f in study["truth"]["faults"]:
        if f["fault"] == "pii_in_free_text":
            assert _entries(study["q"], f["file"], f["rows"][0] if f["rows"] else -1, f["column"]).empty
    from svcresearch.privacy import scan_frame

    for frame in (study["enc"], study["long"], study["q"]):
        assert scan_frame(frame).empty


def test_encounters_schema(study):
    enc = study["enc"]
    expected = (ENCOUNTER_COLUMNS + [b + "_status" for b in BEHAVIOURS] + ["double_coded"] + VIDEO + SURVEY)
    assert list(enc.columns) == expected
    assert enc["encounter_id"].is_unique and enc["encounter_id"].str.fullmatch(r"ENC-\d{6}").all()
    assert enc["encounter_id"].is_monotonic_increasing
    assert enc["customer"].dropna().str.fullmatch(r"cus_[0-9a-f]{10}").all()
    assert list(enc["channel"].cat.categories) == ["face_to_face", "phone"]
    assert str(enc["start_time"].dtype).startswith("datetime64")
    for c in ["returning_customer", "service_failure"] + [b for b in BEHAVIOURS if b != "smile"]:
        assert str(enc[c].dtype) == "boolean", c
    assert enc["smile"].cat.ordered and list(enc["smile"].cat.categories) == ["none", "polite", "genuine"]
    for b in BEHAVIOURS:
        assert set(enc[b + "_status"].astype(str)) <= {"observed", "missing", "not_applicable"}
        # value present exactly when observed
        assert (enc[b].notna() == (enc[b + "_status"] == "observed")).all(), b
    phone = enc["channel"] == "phone"
    assert (enc.loc[phone, "eye_contact_status"] == "not_applicable").all()
    assert (enc.loc[phone, "smile_status"] == "not_applicable").all()
    assert (enc.loc[enc["service_failure"] == False, "apology_status"] == "not_applicable").all()  # noqa: E712
    for c in ["sat_overall", "sat_1", "sat_2", "sat_3", "felt_valued"]:
        assert str(enc[c].dtype) == "Int64"
    assert enc["sat_overall"].dropna().between(1, 5).all() and enc["sat_1"].dropna().between(1, 7).all()
    full = enc[["sat_1", "sat_2", "sat_3"]].notna().all(axis=1)
    np.testing.assert_allclose(enc.loc[full, "sat_scale"],
                               enc.loc[full, ["sat_1", "sat_2", "sat_3"]].astype(float).mean(axis=1))
    assert enc.loc[~full, "sat_scale"].isna().all()
    assert (enc["responded"] == enc["survey_mode"].notna()).all()
    assert enc.loc[~enc["video_coded"], "video_smile_count"].isna().all()
    assert enc["video_coded"].sum() > 0 and enc["video_eye_contact_count"].notna().sum() == enc["video_coded"].sum()


def test_coding_long_and_quarantine_schema(study):
    long_, q = study["long"], study["q"]
    assert list(long_.columns) == ["encounter_id", "coder", "behaviour", "value", "value_numeric", "status",
                                   "source_file", "source_row"]
    assert list(q.columns) == ["file", "row", "column", "value", "reason", "scope", "detail"]
    assert set(q["scope"]) <= {"row", "cell"}
    num = long_["value"].map({"no": 0, "yes": 1, "none": 0, "polite": 1, "genuine": 2})
    np.testing.assert_array_equal(num.to_numpy(dtype=float, na_value=np.nan), long_["value_numeric"].to_numpy())
    assert set(long_["coder"]) == {"A", "B"}
    assert not long_.duplicated(["encounter_id", "coder", "behaviour"]).any()


def test_consensus_is_primary_coder(study):
    enc, long_ = study["enc"].set_index("encounter_id"), study["long"]
    a = long_[long_["coder"] == "A"].pivot(index="encounter_id", columns="behaviour", values="value")
    for b in ["greeting", "resolved", "smile"]:
        got = enc.loc[a.index, b].astype("string")
        want = a[b].map({"yes": "True", "no": "False"}) if b != "smile" else a[b]
        pd.testing.assert_series_equal(got.fillna("NA"), want.astype("string").fillna("NA").reindex(got.index),
                                       check_names=False)
    double = long_.groupby("encounter_id")["coder"].nunique() >= 2
    assert enc["double_coded"].sum() == double.sum()


def test_adjudication_file_overrides(study, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(study["raw"], raw)
    long_ = study["long"]
    both = long_[(long_["behaviour"] == "greeting") & long_["status"].eq("observed")]
    enc_id = both.groupby("encounter_id")["coder"].nunique().loc[lambda s: s >= 2].index[0]
    a_value = both[(both["encounter_id"] == enc_id) & (both["coder"] == "A")]["value"].iloc[0]
    flipped = "no" if a_value == "yes" else "yes"
    (raw / "adjudication.csv").write_text(f"encounter_id,greeting\n{enc_id},{flipped}\nENC-999999,yes\n")
    spec = yaml.safe_load((raw / "study.yaml").read_text())
    spec["adjudication"] = "adjudication.csv"
    (raw / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    rep = clean_study(raw, out=tmp_path / "out", progress=False, key_path=study["key"])
    enc = pd.read_parquet(tmp_path / "out" / "encounters.parquet").set_index("encounter_id")
    assert bool(enc.loc[enc_id, "greeting"]) == (flipped == "yes")
    adj = next(e for e in rep["files"] if e["file"] == "adjudication.csv")
    assert (adj["read"], adj["kept"], adj["quarantined"]) == (2, 1, 1)
    assert "adjudication" in rep["consensus_rule"]
    # it decides only greeting: the other behaviours are not "missing" from it
    assert adj["missing_columns"] == []
    assert "adjudication.csv has no column" not in (tmp_path / "out" / "cleaning_report.md").read_text()


def test_datapackage_checksums_and_schema(study):
    pkg = json.loads((study["out"] / "datapackage.json").read_text())
    names = [r["path"] for r in pkg["resources"]]
    assert names == ["encounters.parquet", "coding_long.parquet", "quarantine.csv", "cleaning_report.json",
                     "cleaning_report.md"]
    for r in pkg["resources"]:
        data = (study["out"] / r["path"]).read_bytes()
        assert r["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
        assert r["bytes"] == len(data)
    enc_schema = pkg["resources"][0]["schema"]
    assert [f["name"] for f in enc_schema["fields"]] == list(study["enc"].columns)
    fields = {f["name"]: f for f in enc_schema["fields"]}
    assert fields["smile"]["categories"] == ["none", "polite", "genuine"]
    assert fields["eye_contact"]["svc:applicable_if"] == ["channel == 'face_to_face'"]
    assert "wall" not in json.dumps(pkg) and "202" not in json.dumps(pkg["resources"][0]["schema"]["fields"][0])


def test_failure_leaves_no_partial_outputs(study, tmp_path, monkeypatch):
    calls = []
    real = clean_write._write_parquet

    def boom(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(df, path)

    monkeypatch.setattr(clean_write, "_write_parquet", boom)
    out = tmp_path / "processed"
    with pytest.raises(OSError):
        clean_study(study["raw"], out=out, progress=False, key_path=study["key"])
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # temp folder removed too


def test_existing_other_files_kept_and_outputs_replaced(study, tmp_path):
    out = tmp_path / "processed"
    out.mkdir()
    (out / "README.md").write_text("keep me")
    (out / "quarantine.csv").write_text("stale")
    clean_study(study["raw"], out=out, progress=False, key_path=study["key"])
    assert (out / "README.md").read_text() == "keep me"
    assert (out / "quarantine.csv").read_bytes() == (study["out"] / "quarantine.csv").read_bytes()


def test_cli_clean_and_progress(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SVCRESEARCH_KEY", "cli-0123456789abcdef")
    assert cli.main(["clean", "--raw", str(study["raw"]), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "clean" in err  # tqdm bar on stderr
    assert (tmp_path / "o" / "encounters.parquet").exists()


def test_own_study_example(tmp_path, monkeypatch, capsys):
    example = config.PROJECT_ROOT / "examples" / "own_study"
    raw = tmp_path / "own"
    shutil.copytree(example, raw, ignore=shutil.ignore_patterns("processed", "__pycache__"))
    import subprocess
    import sys

    if (raw / "make_coding_sheet.py").exists():
        subprocess.run([sys.executable, str(raw / "make_coding_sheet.py"), str(raw)], check=True)
    monkeypatch.setenv("SVCRESEARCH_KEY", "own-0123456789abcdef")
    assert cli.main(["clean", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet"]) == 0, \
        capsys.readouterr().err
    enc = pd.read_parquet(tmp_path / "out" / "encounters.parquet")
    rep = json.loads((tmp_path / "out" / "cleaning_report.json").read_text())
    assert len(enc) == 6 and enc["video_coded"].sum() == 3
    assert {e["kind"] for e in rep["files"]} == {"coding", "boris", "survey"}
    q = pd.read_csv(tmp_path / "out" / "quarantine.csv")
    assert set(q["reason"]) == {"unknown_code", "unlinked_survey"}
