"""Hostile and sloppy inputs to the readers, the normaliser and privacy (issue 9).

Each case states the exact expected outcome: a correct value, NA / a problem code the cleaner turns
into a quarantine entry, a field in ``read_info``, or one InputError line naming the file.
"""
from __future__ import annotations

import re

import pandas as pd
import pytest

from svcresearch._validation import InputError
from svcresearch._yaml import MAX_BYTES, load_yaml
from svcresearch.codebook import load_codebook

# --------------------------------------------------------------------------------------------- YAML


def _one_line_error(path, **kw) -> str:
    with pytest.raises(InputError) as exc:
        load_yaml(path, what="study.yaml", **kw)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_yaml_alias_bomb_refused_at_first_anchor(tmp_path):
    p = tmp_path / "study.yaml"
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("description: [*i,*i,*i,*i,*i,*i,*i,*i,*i]")
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _one_line_error(p).endswith("line 1: YAML anchor '&a' is not allowed; expected plain values "
                                       "without anchors or aliases.")


def test_yaml_alias_without_anchor_definition_and_merge_refused(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text("name: x\ndescription: *nothere\n", encoding="utf-8")
    assert "line 2: YAML alias '*nothere' is not allowed" in _one_line_error(p)


def test_yaml_duplicated_key_names_both_lines(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text("name: x\nfiles:\n  - path: a.csv\nfiles:\n  - path: b.csv\n", encoding="utf-8")
    assert _one_line_error(p).endswith("line 4: duplicated key 'files' (first at line 2); expected each "
                                       "key once in a mapping.")


def test_yaml_duplicated_key_in_nested_mapping(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text("files:\n  - path: a.csv\n    kind: survey\n    kind: coding\n", encoding="utf-8")
    assert "line 4: duplicated key 'kind' (first at line 3)" in _one_line_error(p)


def test_yaml_size_cap(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_bytes(b"# " + b"x" * MAX_BYTES + b"\nname: x\n")
    assert "expected a YAML file of at most 5 MB" in _one_line_error(p)


def test_yaml_not_utf8_names_line_and_byte(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_bytes(b"name: ok\ndescription: caf\xe9\n")
    assert _one_line_error(p).endswith("line 2: byte 0xe9 is not UTF-8; expected study.yaml saved as UTF-8.")


def test_yaml_deep_nesting_is_one_line(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text("[" * 20000 + "]" * 20000 + "\n", encoding="utf-8")
    assert "nested more than 64 levels deep" in _one_line_error(p)


def test_yaml_python_tag_and_syntax_error(tmp_path):
    p = tmp_path / "study.yaml"
    p.write_text('x: !!python/object/apply:os.system ["true"]\n', encoding="utf-8")
    assert "line 1: not valid YAML (could not determine a constructor" in _one_line_error(p)
    p.write_text("x: [1, 2\ny: 3\n", encoding="utf-8")
    assert "line 2: not valid YAML" in _one_line_error(p)


def test_yaml_booleans_switch_and_bom(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_bytes("\ufeffa: yes\nb: [no, 1]\n".encode("utf-8"))
    assert load_yaml(p, what="x") == {"a": True, "b": [False, 1]}
    assert load_yaml(p, what="x", booleans=False) == {"a": "yes", "b": ["no", 1]}


def test_yaml_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nothere.yaml: hypotheses file not found"):
        load_yaml(tmp_path / "nothere.yaml", what="hypotheses file")


def test_codebook_uses_strict_loader(tmp_path):
    from svcresearch.codebook import default_codebook_path
    text = default_codebook_path().read_text(encoding="utf-8")
    p = tmp_path / "cb.yaml"
    p.write_text(text + "\nvalue_sets: {}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cb.yaml: line \d+: duplicated key 'value_sets'"):
        load_codebook(p)


# -------------------------------------------------------------------------------------- identifiers
@pytest.mark.parametrize("raw, fmt, want", [
    # accepted: prefix in any ASCII case with at most one separator, leading zeros, whitespace
    ("ENC-000123", "ENC-{:06d}", "ENC-000123"), ("enc 123", "ENC-{:06d}", "ENC-000123"),
    ("Enc_123", "ENC-{:06d}", "ENC-000123"), ("123", "ENC-{:06d}", "ENC-000123"),
    ("  ENC123\t", "ENC-{:06d}", "ENC-000123"), ("E-00012", "E-{:05d}", "E-00012"),
    ("e12", "E-{:05d}", "E-00012"), (" 00012", "E-{:05d}", "E-00012"), ("0", "E-{:05d}", "E-00000"),
    ("ENC-0001234", "ENC-{:06d}", "ENC-001234"), ("sp3", "SP{:02d}", "SP03"),
    # an integer-valued spreadsheet decimal
    ("128.0", "ENC-{:06d}", "ENC-000128"), ("128,0", "ENC-{:06d}", "ENC-000128"),
    ("128.00", "ENC-{:06d}", "ENC-000128"),
    # refused (was: every digit in the value read as one number)
    ("ENC-000123-2", "ENC-{:06d}", None), ("ENC-000008 take 2", "ENC-{:06d}", None),
    ("1.29e2", "ENC-{:06d}", None), ("12.5", "ENC-{:06d}", None), ("128.01", "ENC-{:06d}", None),
    ("ENC-128.0", "ENC-{:06d}", None), ("-99", "ENC-{:06d}", None), ("+12", "ENC-{:06d}", None),
    ("1234567", "ENC-{:06d}", "ENC-1234567"), ("ENC-1000000", "ENC-{:06d}", "ENC-1000000"),
    ("E-123456", "E-{:05d}", "E-123456"), ("1" * 19, "ENC-{:06d}", None),
    ("enc12", "E-{:05d}", None), ("ENC--12", "ENC-{:06d}", None), ("EN-12", "ENC-{:06d}", None),
    ("12 34", "ENC-{:06d}", None), ("٣", "ENC-{:06d}", None), ("\u212a12", "K{:03d}", None),
    ("ENC-", "ENC-{:06d}", None), ("", "ENC-{:06d}", None), ("=HYPERLINK(1)", "ENC-{:06d}", None),
])
def test_canonical_id_strict_grammar(raw, fmt, want):
    from svcresearch.codebook import canonical_id
    got = canonical_id(pd.Series([raw], dtype="string"), fmt).iloc[0]
    assert (got is pd.NA) if want is None else (got == want)


def test_wrong_links_become_invalid_id_in_normalise():
    from svcresearch.codebook import normalise
    cb = load_codebook()
    raw = pd.Series(["ENC-000123-2", "128.0", "1.29e2", "ENC-000008 take 2", "12.5", "enc 8", "-99"])
    r = normalise(raw, cb["encounter_id"], cb)
    assert r.values.tolist()[1] == "ENC-000128" and r.values.tolist()[5] == "ENC-000008"
    assert r.problem.tolist() == ["invalid_id", pd.NA, "invalid_id", "invalid_id", "invalid_id", pd.NA, pd.NA]
    assert r.missing.tolist() == [False] * 6 + [True]  # -99 is a missing code, not an id


# ----------------------------------------------------------------------------------------- encoding
def test_one_cp1252_line_in_a_utf8_file_is_decoded_alone(tmp_path):
    from svcresearch.io import read_table
    lines = ["id;vastaus"] + [f"{i};jokseenkin eri mieltä" for i in range(1, 1400)]
    lines.insert(700, "E700;täysin samaa mieltä")
    p = tmp_path / "survey.csv"
    body = "\n".join(lines[:700]).encode("utf-8") + b"\n" + lines[700].encode("cp1252") + b"\n" + \
        "\n".join(lines[701:]).encode("utf-8") + b"\n"
    p.write_bytes(body)
    df = read_table(p)
    assert set(df["vastaus"]) == {"jokseenkin eri mieltä", "täysin samaa mieltä"}  # no 'Ã¤'
    info = df.attrs["read_info"]
    assert info["encoding"] == "utf-8"
    assert info["mixed_encoding_lines"] == {"count": 1, "first_lines": [701]}
    assert df.loc[df["id"] == "E700", "source_row"].item() == 701


def test_mixed_lines_beyond_the_sniff_window_and_count(tmp_path):
    from svcresearch.io import read_table
    head = "id,v\n" + "".join(f"{i},äö\n" for i in range(40_000))  # > 256 KiB of valid UTF-8
    tail = b"".join(f"x{i},kyll".encode() + b"\xe4\n" for i in range(12))  # cp1252 'ä'
    p = tmp_path / "late.csv"
    p.write_bytes(head.encode("utf-8") + tail)
    df = read_table(p)
    info = df.attrs["read_info"]
    first = 40_002  # header line 1, 40,000 UTF-8 rows on lines 2..40,001
    assert info["encoding"] == "utf-8"
    assert info["mixed_encoding_lines"] == {"count": 12, "first_lines": list(range(first, first + 10))}
    assert df["v"].iloc[0] == "äö" and df["v"].iloc[-1] == "kyllä"


def test_plain_cp1252_file_stays_cp1252_without_mixed_lines(tmp_path):
    from svcresearch.io import read_table
    p = tmp_path / "c.csv"
    p.write_bytes("nimi;arvo\nÄänekoski;kyllä\nÖ;€\n".encode("cp1252"))
    df = read_table(p)
    assert df.attrs["read_info"]["encoding"] == "cp1252"
    assert "mixed_encoding_lines" not in df.attrs["read_info"]
    assert df["arvo"].tolist() == ["kyllä", "€"]


def test_byte_invalid_in_both_encodings_names_the_line(tmp_path):
    from svcresearch.io import read_table
    p = tmp_path / "b.csv"
    p.write_bytes("a,b\n1,ä\n".encode("utf-8") + b"2,\x81\n")  # 0x81 is undefined in cp1252
    with pytest.raises(InputError, match=r"b.csv: cannot be decoded: line 3, byte 0x81 is invalid in UTF-8 "
                                         r"and cp1252"):
        read_table(p)


# ------------------------------------------------------------------------------------------ numbers
@pytest.mark.parametrize("raw, decimal, want", [
    ("1,234.5", None, 1234.5), ("1.234,5", None, 1234.5), ("1,234,567", None, 1234567.0),
    ("1.234.567,25", ".", 1234567.25), ("1 234,5", None, 1234.5), ("1\u00a0234.5", ",", 1234.5),
    ("12,000", ".", 12000.0), ("12,000", ",", 12.0), ("12.000", ",", 12000.0), ("12.000", ".", 12.0),
    ("12,5", ",", 12.5), ("12,5", ".", 12.5), ("0,500", None, 0.5), ("\u22123,5", None, -3.5),
    ("1.5e-3", None, 0.0015), ("5.", None, 5.0),
    # never numbers
    ("12,000", None, None), ("1e999", None, None), ("inf", None, None), ("-Infinity", None, None),
    ("nan", None, None), ("NaN", ".", None), ("1,23,456", None, None), ("1.234.5", None, None),
    ("1,234,5", ",", None), ("12 5", None, None), ("0x1A", None, None), ("1_000", None, None),
])
def test_parse_number_thousands_and_non_finite(raw, decimal, want):
    from svcresearch.codebook import parse_number
    got = parse_number(pd.Series([raw]), decimal=decimal).iloc[0]
    assert (pd.isna(got) if want is None else got == want), got


def test_parse_number_infers_the_mark_from_the_column():
    from svcresearch.codebook import parse_number
    assert parse_number(pd.Series(["12,000", "3.5"])).tolist() == [12000.0, 3.5]  # a '.' column
    assert parse_number(pd.Series(["12,000", "3,5"])).tolist() == [12.0, 3.5]     # a ',' column
    with pytest.raises(ValueError, match="`decimal` must be one of"):
        parse_number(pd.Series(["1"]), decimal=";")


def test_normalise_numbers_report_unknown_code():
    from svcresearch.codebook import normalise
    cb = load_codebook()
    r = normalise(pd.Series(["12,000", "1e999", "inf", "2,5", "1,234.5"]), cb["wait_min"], cb, decimal=".")
    assert r.values.tolist()[3] == 2.5
    # 12000 and 1234.5 minutes parse as numbers and are out of the codebook's range [0, 240]
    assert r.problem.tolist() == ["out_of_range", "unknown_code", "unknown_code", pd.NA, "out_of_range"]


def test_read_info_decimal_ignores_ambiguous_thousands(tmp_path):
    from svcresearch.io import read_table
    p = tmp_path / "n.csv"
    p.write_text("id,amount\n1,\"12,000\"\n2,\"13,500\"\n3,2.5\n", encoding="utf-8")
    assert read_table(p).attrs["read_info"]["decimal"] == "."


# -------------------------------------------------------------------------------------------- dates
@pytest.mark.parametrize("raw", ["22.11.1026 14.05", "1000-01-01", "2.3.2150", "1899-12-31 23:59"])
def test_dates_outside_1900_2100_are_unparseable_time(raw):
    from svcresearch.codebook import normalise
    cb = load_codebook()
    r = normalise(pd.Series([raw, "1900-01-01", "31.12.2100 23.59"]), cb["start_time"], cb)
    assert r.problem.tolist() == ["unparseable_time", pd.NA, pd.NA]


def test_excel_serial_only_when_the_column_is_xlsx_numbers():
    from svcresearch.codebook import normalise
    cb = load_codebook()
    raw = pd.Series(["46083.43", "2026-03-02 10:15"])
    text = normalise(raw, cb["start_time"], cb)
    assert text.problem.tolist() == ["unparseable_time", pd.NA]
    xlsx = normalise(raw, cb["start_time"], cb, excel_serials=True)
    assert xlsx.values.tolist() == [pd.Timestamp("2026-03-02 10:19:12"), pd.Timestamp("2026-03-02 10:15")]


# ------------------------------------------------------------------------- xlsx formulas and numbers
def test_xlsx_formulas_without_cached_values_are_reported(tmp_path):
    import openpyxl

    from svcresearch.io import read_table
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "coding"
    ws.append(["Sheet of 2026"])  # a note row above the header
    ws.append(["encounter_id", "wait_min", "start"])
    ws.append(["ENC-000001", 3, 46083.43])
    ws.append(["ENC-000002", "=B3*2", 46084.5])   # openpyxl writes formulas without cached values
    ws.append(["ENC-000003", "=SUM(B3:B4)", 46085])
    p = tmp_path / "f.xlsx"
    wb.save(p)
    df = read_table(p)
    assert df["wait_min"].isna().tolist() == [False, True, True]
    info = df.attrs["read_info"]
    assert info["formula_cells_without_value"] == {"count": 2, "first_cells": ["coding!B4", "coding!B5"]}
    assert df.attrs["formula_cells_without_value"] == [
        {"sheet": "coding", "row": 4, "column": "wait_min", "cell": "B4"},
        {"sheet": "coding", "row": 5, "column": "wait_min", "cell": "B5"}]
    assert info["excel_numeric_columns"] == ["wait_min", "start"]


def test_xlsx_formula_with_cached_value_is_its_value(tmp_path):
    import zipfile

    import openpyxl

    from svcresearch.io import read_table
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "v"])
    ws.append(["a", "=1+1"])
    src, p = tmp_path / "src.xlsx", tmp_path / "cached.xlsx"
    wb.save(src)
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<f>1+1</f><v></v>", b"<f>1+1</f><v>2</v>").replace(
                    b"<f>1+1</f></c>", b"<f>1+1</f><v>2</v></c>")
                assert b"<v>2</v>" in data
            zout.writestr(item, data)
    df = read_table(p)
    assert df["v"].tolist() == ["2"]
    assert "formula_cells_without_value" not in df.attrs["read_info"]


# -------------------------------------------------------------------------------------------- BORIS
_TAB_HEADER = ("Observation id,Observation date,Description,Observation duration,Observation type,Source,"
               "Media duration (s),FPS,Subject,Behavior,Behavioral category,Modifier #1,Behavior type,Time,"
               "Media file name,Image index,Image file path,Comment")


def _tab_row(obs, behavior, kind, time):
    return (f"{obs},2026-03-02 10:15:00,,60.0,Media file(s),player #1:a.mp4,60.0,25.00,employee,{behavior},"
            f"nonverbal,,{kind},{time},a.mp4,1,NA,")


def test_boris_garbage_row_is_quarantined_not_fatal(tmp_path):
    from svcresearch.events import validate_events
    from svcresearch.io import read_boris
    lines = [_TAB_HEADER, _tab_row("ENC-000001", "smile", "START", "1.0"),
             "oops this line was pasted here", _tab_row("ENC-000001", "smile", "STOP", "3.5"),
             _tab_row("ENC-000001", "greeting", "POINT", "0.5")]
    p = tmp_path / "boris.csv"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ev = read_boris(p)
    assert len(ev) == 3 and ev["source_row"].tolist() == [2, 3, 5]
    bad = ev[ev["source_row"] == 3].iloc[0]
    assert bad["unparsed_time"] == "oops this line was pasted here" and pd.isna(bad["start_s"])
    valid, quarantine = validate_events(ev)
    assert valid["behavior"].tolist() == ["smile", "greeting"] and valid["duration_s"].iloc[0] == 2.5
    assert quarantine[["row", "reason", "value"]].values.tolist() == [
        [3, "unparseable_time", "oops this line was pasted here"]]


def test_boris_file_of_only_garbage_is_one_line(tmp_path):
    from svcresearch.io import read_boris
    p = tmp_path / "boris.csv"
    p.write_text(_TAB_HEADER + "\n" + _tab_row("E1", "smile", "MAYBE", "1") + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"boris.csv: row 2 has 'Behavior type' 'MAYBE'; expected one of "
                                         r"START, STOP, POINT"):
        read_boris(p)


@pytest.mark.parametrize("time", ["1e999", "Infinity", "-inf", "nan", "-2.5", "0x10", "12s"])
def test_boris_non_finite_or_negative_times_are_unparseable(tmp_path, time):
    from svcresearch.events import validate_events
    from svcresearch.io import read_boris
    p = tmp_path / "boris.csv"
    p.write_text("\n".join([_TAB_HEADER, _tab_row("E1", "greeting", "POINT", time),
                            _tab_row("E1", "greeting", "POINT", "2")]) + "\n", encoding="utf-8")
    ev = read_boris(p)
    assert ev["unparsed_time"].tolist()[0] == time and pd.isna(ev["start_s"].iloc[0])
    valid, quarantine = validate_events(ev)
    assert len(valid) == 1 and quarantine["reason"].tolist() == ["unparseable_time"]


def test_validate_events_refuses_infinite_and_negative_times():
    from svcresearch.events import validate_events
    ev = pd.DataFrame({"observation_id": ["o"] * 4, "subject": ["s"] * 4, "behavior": ["a", "b", "c", "d"],
                       "behavior_type": ["STATE", "STATE", "POINT", "STATE"],
                       "start_s": [0.0, -1.0, float("inf"), 1.0], "stop_s": [float("inf"), 2.0, float("inf"), 2.0]})
    valid, quarantine = validate_events(ev)
    assert valid["behavior"].tolist() == ["d"]
    assert quarantine[["column", "reason"]].values.tolist() == [
        ["stop_s", "unparseable_time"], ["start_s", "unparseable_time"], ["start_s", "unparseable_time"]]


def _project(observations, behaviors=None):
    return {"behaviors_conf": behaviors if behaviors is not None else
            {"0": {"code": "smile", "type": "State event"}, "1": {"code": "greeting", "type": "Point event"}},
            "observations": observations}


@pytest.mark.parametrize("project, expected", [
    (_project([["o1"]]), r"is not a BORIS project \('observations' is a list\); expected a mapping"),
    (_project({"o1": {"events": "not a list"}}), r"observation 'o1' is not a BORIS observation"),
    (_project({"o1": {"events": [[1.0, "", "smile", ""], 5]}}), r"observation 'o1' event 2 is '5'"),
    (_project({"o1": {"events": []}}, behaviors={"0": "smile"}), r"an ethogram entry is str"),
    (_project({"o1": {"events": [[1.0, "", "wave", ""]]}}), r"behavior 'wave' that is not in the ethogram"),
    ([1, 2, 3], r"no 'observations' or 'behaviors_conf'"),
])
def test_boris_project_wrong_types_are_one_line(tmp_path, project, expected):
    import json

    from svcresearch.io import read_boris
    p = tmp_path / "x.boris"
    p.write_text(json.dumps(project), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        read_boris(p)
    assert "x.boris" in str(exc.value) and "\n" not in str(exc.value)
    assert re.search(expected, str(exc.value)), str(exc.value)


def test_boris_project_deep_nesting_and_non_numeric_times(tmp_path):
    import json

    from svcresearch.events import validate_events
    from svcresearch.io import read_boris
    p = tmp_path / "deep.boris"
    p.write_text('{"observations": ' + "[" * 100_000 + "]" * 100_000 + ', "behaviors_conf": {}}', encoding="utf-8")
    with pytest.raises(InputError, match=r"deep.boris: is not a BORIS project \(JSON nested too deeply\)"):
        read_boris(p)
    p = tmp_path / "times.boris"
    events = [["abc", "", "greeting", ""], [1e999, "", "greeting", ""], [-3, "", "greeting", ""],
              [2.0, "", "greeting", ""], [[1, 2], "", "greeting", ""]]
    p.write_text(json.dumps(_project({"o1": {"events": events}})), encoding="utf-8")
    ev = read_boris(p)
    assert ev["unparsed_time"].tolist() == ["abc", "inf", "-3", pd.NA, "[1, 2]"]
    valid, quarantine = validate_events(ev)
    assert valid["start_s"].tolist() == [2.0] and len(quarantine) == 4


# --------------------------------------------------------------------------------------------- keys
def test_key_trailing_newline_does_not_change_pseudonyms(tmp_path, monkeypatch):
    import warnings

    from svcresearch import privacy
    monkeypatch.setenv(privacy.KEY_ENV, "k3y-Zq8!pW2#rT5v")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good key gives no warning
        plain = privacy.load_key()
        monkeypatch.setenv(privacy.KEY_ENV, "k3y-Zq8!pW2#rT5v\n")
        assert privacy.load_key() == plain == b"k3y-Zq8!pW2#rT5v"
        monkeypatch.setenv(privacy.KEY_ENV, "  k3y-Zq8!pW2#rT5v \r\n")
        assert privacy.load_key() == plain
    monkeypatch.delenv(privacy.KEY_ENV)
    path = tmp_path / "key"
    path.write_text("k3y-Zq8!pW2#rT5v\n\n")
    path.chmod(0o600)
    assert privacy.load_key(key_path=path) == plain
    ids = pd.Series(["E-00012"])
    assert privacy.pseudonymise(ids, prefix="emp", key=plain).tolist() == \
        privacy.pseudonymise(ids, prefix="emp", key=privacy.load_key(key_path=path)).tolist()


@pytest.mark.parametrize("key", ["aaaaaaaaaaaaaaaa", "abababababababababab", "1234567123456712345"])
def test_weak_key_warns(monkeypatch, key):
    from svcresearch import privacy
    monkeypatch.setenv(privacy.KEY_ENV, key)
    with pytest.warns(UserWarning, match=r"SVCRESEARCH_KEY is trivially weak \(\d distinct characters; "
                                         r"expected at least 8\)"):
        assert privacy.load_key() == key.encode()


@pytest.mark.parametrize("mode, who", [(0o644, "its group and every user"), (0o640, "its group"),
                                       (0o604, "every user")])
def test_readable_key_file_warns(tmp_path, monkeypatch, mode, who):
    import os
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    from svcresearch import privacy
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    path = tmp_path / "key"
    path.write_text("k3y-Zq8!pW2#rT5v\n")
    path.chmod(mode)
    with pytest.warns(UserWarning, match=f"can be read by {who} \\(mode {mode:o}\\).*chmod 600"):
        assert privacy.load_key(key_path=path) == b"k3y-Zq8!pW2#rT5v"


# ----------------------------------------------------------------------------- bounded scan of cells
@pytest.mark.parametrize("text", [
    "a" * (1 << 20) + "@",                      # the quadratic case of the unbounded e-mail regex
    ("a" * 63 + "@b.cc ") * ((1 << 20) // 70),  # many addresses with a maximal local part
    "@" * (1 << 20), "1" * (1 << 20), "+358 " * ((1 << 20) // 5),
])
def test_scan_of_a_1_mib_cell_is_bounded(text):
    import time

    from svcresearch import privacy
    t = time.perf_counter()
    hits = privacy.scan_frame(pd.DataFrame({"c": [text]}))
    elapsed = time.perf_counter() - t
    # measured 0.1-0.8 s on a shared 2-core machine; the unbounded regex needed > 300 s
    assert elapsed < 5, elapsed
    # the same hits as the pattern run from every position (checked on a 4 KiB piece: the full
    # finditer is what was quadratic)
    piece = text[:4096]
    want = [m.group(0) for m in privacy.EMAIL_PATTERN.finditer(piece)]
    assert privacy._find_emails(piece) == want
    if text.startswith("aaa"):
        assert len(hits) == (0 if text.endswith("@") else (1 << 20) // 70)


@pytest.mark.parametrize("text, want", [
    ("a@b.fi", ["a@b.fi"]), ("x" * 70 + "@b.fi", ["x" * 64 + "@b.fi"]), ("a@b.fi@c.fi", ["a@b.fi"]),
    ("mail a@b.fi, c.d@e.example.com.", ["a@b.fi", "c.d@e.example.com"]), ("a@b", []), ("@b.fi", []),
    ("a@@b.fi", []), ("a.@b.c.d.e.f.g.h.i.j.fi", []), ("a@b.c.d.e.f.g.h.i.fi", ["a@b.c.d.e.f.g.h.i.fi"]),
])
def test_find_emails_equals_the_pattern(text, want):
    from svcresearch import privacy
    assert privacy._find_emails(text) == want == [m.group(0) for m in privacy.EMAIL_PATTERN.finditer(text)]
