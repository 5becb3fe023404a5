"""The codebook drives the cleaner: any file kind supplies what its `sources` say (with the
documented precedence), BORIS variables come from `boris:` declarations, and every codebook
variable's fate is reported. A hand-made study whose every expected value is worked out below."""
from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from svcresearch.clean import clean_study

CODEBOOK = """
format_version: 1
name: sources-test
id_formats: {encounter: "ENC-{:06d}", employee: "T{:03d}"}
value_sets:
  yes_no: {levels: ["no", "yes"], aliases: {"no": [ei], "yes": [kyllä]}}
  place: {levels: [desk, phone]}
variables:
  encounter_id: {role: id, type: nominal, id_format: encounter, required: true,
                 sources: [operations, coding, boris, survey], source_columns: {coding: asiointi, survey: asiointi}}
  coder: {role: id, type: nominal, required: true, sources: [coding], source_columns: {coding: koodaaja}}
  channel: {role: context, type: nominal, value_set: place, sources: [operations, coding],
            source_columns: {coding: kanava}}
  employee_id: {role: id, type: nominal, id_format: employee, pseudonymise: emp, output_name: employee,
                sources: [coding], source_columns: {coding: tyontekija}}
  uses_name: {role: behaviour, type: binary, value_set: yes_no, sources: [coding],
              source_columns: {coding: nimi}, applicable_if: [{variable: channel, op: "==", value: desk}]}
  humour: {role: behaviour, type: binary, value_set: yes_no, sources: [coding], source_columns: {coding: huumori}}
  recommend: {role: outcome, type: continuous, range: [0, 10], sources: [survey, coding],
              source_columns: {survey: suosittelu, coding: suosittelu}}
  never_coded: {role: context, type: continuous, sources: [operations]}
  video_nod: {role: behaviour, type: binary, value_set: yes_no, boris: {behavior: Nyökkäys, measure: occurred}}
  video_nods: {role: behaviour, type: count, boris: {behavior: nyökkäys, measure: count}}
  video_gaze_share: {role: behaviour, type: continuous, range: [0, 1], boris: {behavior: katse, measure: share}}
  video_gaze_latency_s: {role: behaviour, type: continuous, boris: {behavior: katse, measure: latency_s}}
"""
HEADER = ("Observation id\tObservation date\tDescription\tObservation type\tSource\tTime offset (s)\tCoding duration\t"
          "Media duration (s)\tFPS (frame/s)\tSubject\tObservation duration by subject by observation\tBehavior\t"
          "Behavioral category\tModifier #1\tBehavior type\tStart (s)\tStop (s)\tDuration (s)\tMedia file name\t"
          "Image index start\tImage index stop\tImage file path start\tImage file path stop\tComment start\tComment stop")


def _event(obs, behaviour, kind, start, stop):
    dur = "NA" if kind == "POINT" else f"{stop - start:.3f}"
    return "\t".join([obs, "2026-03-02 10:00:00", "", "Media file", f"player #1:{obs}.mp4", "0.000", "100.000",
                      "100.000", "25.00", "tt", "100.000", behaviour, "", "", kind, f"{start:.3f}", f"{stop:.3f}",
                      dur, f"{obs}.mp4", "0", "0", "NA", "NA", "", ""])


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    raw = root / "raw"
    (raw / "boris").mkdir(parents=True)
    (raw / "codebook.yaml").write_text(CODEBOOK, encoding="utf-8")
    (raw / "study.yaml").write_text(textwrap.dedent("""
        name: sources-test
        codebook: codebook.yaml
        files:
          - {path: operations.csv, kind: operations}
          - {path: koodit.csv, kind: coding}
          - {path: kysely.csv, kind: survey}
          - {path: boris/video.tsv, kind: boris}
        """), encoding="utf-8")
    # encounter 2: operations says desk, the coding sheet phone -> operations wins, coding value quarantined
    (raw / "operations.csv").write_text("encounter_id,channel,never_coded\n1,desk,\n2,desk,\n3,phone,\n4,desk,\n",
                                        encoding="utf-8")
    # employee and channel only on the coding sheet; the outcome on the sheet too (survey wins where both)
    (raw / "koodit.csv").write_text(
        "asiointi,koodaaja,kanava,tyontekija,nimi,huumori,suosittelu\n"
        "1,A,desk,T001,kyllä,ei,\n"
        "2,A,phone,T001,ei,kyllä,\n"
        "3,A,phone,T002,,ei,5\n"
        "4,A,desk,T002,kyllä,kyllä,9\n", encoding="utf-8")
    (raw / "kysely.csv").write_text("asiointi,suosittelu\n1,8\n2,3\n3,7\n", encoding="utf-8")
    lines = [HEADER,
             _event("ENC-000001", "Nyökkäys", "POINT", 2.0, 2.0),
             _event("ENC-000001", "nyökkäys", "POINT", 5.0, 5.0),
             _event("ENC-000001", "katse", "STATE", 10.0, 35.0),
             _event("ENC-000002", "nauru", "POINT", 4.0, 4.0),          # undeclared: reported, not a zero
             _event("ENC-000099", "katse", "STATE", 1.0, 2.0)]          # links to no encounter
    (raw / "boris" / "video.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = root / "out"
    key = root / "key"
    key.write_text("sources-test-key-0123456789", encoding="utf-8")
    report = clean_study(raw, out=out, progress=False, key_path=key)
    return {"report": report, "enc": pd.read_parquet(out / "encounters.parquet").set_index("encounter_id"),
            "q": pd.read_csv(out / "quarantine.csv", keep_default_na=False)}


def test_context_from_coding_sheet_and_precedence(cleaned):
    enc, q = cleaned["enc"], cleaned["q"]
    # operations comes first for context: encounter 2 stays desk; the sheet's 'phone' is not used
    assert enc["channel"].astype(str).tolist() == ["desk", "desk", "phone", "desk"]
    conflict = q[q["reason"] == "source_conflict"]
    chan = conflict[conflict["column"] == "kanava"]
    assert chan[["file", "row", "value", "scope"]].values.tolist() == [["koodit.csv", 3, "phone", "cell"]]
    assert "operations.csv row 3" in chan["detail"].iat[0] and "operations > coding > survey" in chan["detail"].iat[0]
    # the employee comes from the coding sheet only, pseudonymised
    assert enc["employee"].str.fullmatch(r"emp_[0-9a-f]{10}").all() and enc["employee"].nunique() == 2
    # applicability reads the merged context: encounter 3 is phone, so uses_name is not applicable
    assert enc["uses_name_status"].astype(str).tolist() == ["observed", "observed", "not_applicable", "observed"]


def test_outcome_from_survey_then_coding(cleaned):
    enc, q = cleaned["enc"], cleaned["q"]
    # survey first: 8, 3, 7; encounter 4 has no survey answer, so the coding sheet's 9 is used
    assert enc["recommend"].tolist() == [8.0, 3.0, 7.0, 9.0]
    rec = q[(q["reason"] == "source_conflict") & (q["column"] == "suosittelu")]
    assert rec[["file", "row", "value"]].values.tolist() == [["koodit.csv", 4, "5"]]
    assert enc["responded"].tolist() == [True, True, True, False]


def test_boris_variables_missing_vs_zero(cleaned):
    enc = cleaned["enc"]
    assert enc["video_coded"].tolist() == [True, True, False, False]
    # encounter 1: two nods (names matched ignoring case), gaze 25 s of 100 s from 10 s on
    assert enc.loc["ENC-000001", ["video_nod", "video_nods"]].tolist() == [True, 2]
    assert enc.loc["ENC-000001", "video_gaze_share"] == pytest.approx(0.25)
    assert enc.loc["ENC-000001", "video_gaze_latency_s"] == pytest.approx(10.0)
    # encounter 2 was observed without these behaviours: no / 0 (latency missing)
    assert enc.loc["ENC-000002", ["video_nod", "video_nods", "video_gaze_share"]].tolist() == [False, 0, 0.0]
    assert pd.isna(enc.loc["ENC-000002", "video_gaze_latency_s"])
    # encounters 3 and 4 were never filmed: missing, not zero
    assert enc.loc[["ENC-000003", "ENC-000004"], ["video_nod", "video_nods", "video_gaze_share"]].isna().all().all()
    assert str(enc["video_nod"].dtype) == "boolean" and str(enc["video_nods"].dtype) == "Int64"


def test_undeclared_behaviour_and_unlinked_observation_reported(cleaned):
    q, report = cleaned["q"], cleaned["report"]
    unknown = q[q["reason"] == "unknown_behaviour"]
    assert unknown[["file", "row", "value", "scope"]].values.tolist() == [["boris/video.tsv", 5, "nauru", "row"]]
    unlinked = q[q["reason"] == "unlinked_video"]
    assert unlinked[["row", "value"]].values.tolist() == [[6, "ENC-000099"]]
    assert report["undeclared_boris_behaviours"] == {"nauru": 1}
    video = next(e for e in report["files"] if e["kind"] == "boris")
    assert (video["read"], video["kept"], video["quarantined"]) == (5, 3, 2)
    assert report["link_rates"]["video"] == {"linked": 2, "total": 3, "rate": round(2 / 3, 6)}


def test_every_variable_accounted_for_in_the_report(cleaned):
    variables = cleaned["report"]["variables"]
    assert set(variables) == set(json.loads(json.dumps(list(variables))))
    assert variables["channel"]["precedence"] == ["operations", "coding"]
    assert variables["recommend"]["precedence"] == ["survey", "coding"]
    assert variables["recommend"]["read_from"] == ["koodit.csv", "kysely.csv"]
    assert variables["coder"]["output"] is None and "coding_long" in variables["coder"]["note"]
    # read but never filled: named with the reason, column present and empty
    assert variables["never_coded"]["output"] == "never_coded" and variables["never_coded"]["values"] == 0
    assert "no usable value" in variables["never_coded"]["note"]
    assert cleaned["enc"]["never_coded"].isna().all()
