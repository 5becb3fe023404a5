"""Tests of svcresearch.io.read_table: sniffing, originals kept, line numbers, errors, round trips.

The independent reference for parsed cells is Python's ``csv`` module (and openpyxl/pyreadstat
writers for the files we read back); line numbers are counted by hand in the literal files.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svcresearch._validation import InputError
from svcresearch.io import read_table


def _write(path, text: str, encoding="utf-8", newline="\n"):
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def _cells(df: pd.DataFrame) -> list[list]:
    data = df.drop(columns=[c for c in ("source_row", "source_sheet") if c in df])
    return [[None if v is pd.NA else v for v in row] for row in data.astype(object).itertuples(index=False)]


# ---------------------------------------------------------------------------------------------
# text files
# ---------------------------------------------------------------------------------------------
def test_note_row_blank_lines_multiline_cells_and_line_numbers(tmp_path):
    # line 1 note, 2 blank, 3 header, 4-5 one record (quoted newline), 6 blank, 7 record
    p = _write(tmp_path / "coding.csv",
               'Coding sheet v2 – do not edit\n\nid;answer;wait\nE1;"Yes\nreally";"3,5"\n\nE2; y ;\n')
    df = read_table(p)
    assert list(df.columns) == ["id", "answer", "wait", "source_row"]
    assert _cells(df) == [["E1", "Yes\nreally", "3,5"], ["E2", " y ", None]]
    assert df["source_row"].tolist() == [4, 7]
    info = df.attrs["read_info"]
    assert info == {"file": str(p), "format": "csv", "encoding": "utf-8", "sep": ";", "decimal": ",",
                    "header_row": 3, "sheets": None, "empty_rows_dropped": 0}
    assert isinstance(df["id"].dtype, pd.StringDtype)


def test_values_are_kept_exactly_as_written(tmp_path):
    p = _write(tmp_path / "v.csv", 'a,b,c\n" Yes ",NA,-99\nkyllä,"",0012\n,,x\n')
    df = read_table(p)
    # no stripping, no NA-literal conversion, no numbers: only empty cells are missing
    assert _cells(df) == [[" Yes ", "NA", "-99"], ["kyllä", None, "0012"], [None, None, "x"]]
    assert df.attrs["read_info"]["decimal"] == "."


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("cp1252", "cp1252")])
def test_encoding_sniffing(tmp_path, encoding, expected):
    p = _write(tmp_path / "e.csv", "nimi;arvo\nÄänekoski;kyllä\nÖ;€\n", encoding=encoding)
    df = read_table(p)
    assert list(df.columns)[:2] == ["nimi", "arvo"]  # the BOM is not part of the first name
    assert _cells(df) == [["Äänekoski", "kyllä"], ["Ö", "€"]]
    assert df.attrs["read_info"]["encoding"] == expected


def test_cp1252_detected_beyond_the_sniff_window(tmp_path):
    # the first 256 KiB are ASCII (valid UTF-8); an ä far below must still switch to cp1252
    rows = "\n".join(f"E{i},ok" for i in range(40000))
    p = _write(tmp_path / "late.csv", f"id,v\n{rows}\nE_last,kyllä\n", encoding="cp1252")
    df = read_table(p)
    assert df.attrs["read_info"]["encoding"] == "cp1252"
    assert df["v"].iloc[-1] == "kyllä" and df["source_row"].iloc[-1] == 40002


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_sniffing_with_crlf(tmp_path, sep):
    text = sep.join(["a", "b", "c"]) + "\n" + sep.join(["1", "x y", "3.5"]) + "\n" + sep.join(["2", "", "4"]) + "\n"
    p = _write(tmp_path / "d.txt", text, newline="\r\n")
    df = read_table(p)
    assert df.attrs["read_info"]["sep"] == sep
    assert _cells(df) == [["1", "x y", "3.5"], ["2", None, "4"]]
    assert df["source_row"].tolist() == [2, 3]


def test_padded_note_row_from_excel_csv_is_skipped(tmp_path):
    # Excel writes a note row as 'text,,,' - as wide as the table, but nearly empty
    p = _write(tmp_path / "n.csv", "Coding sheet v2 – do not edit,,,\nid,a,b,c\n1,2,3,4\n5,6,7,8\n")
    df = read_table(p)
    assert list(df.columns) == ["id", "a", "b", "c", "source_row"]
    assert df.attrs["read_info"]["header_row"] == 2 and df["source_row"].tolist() == [3, 4]


def test_overrides_sep_encoding_header_row(tmp_path):
    p = _write(tmp_path / "o.csv", "title;x\nq;w\na;b\n1;2\n", encoding="cp1252")
    df = read_table(p, sep=";", encoding="cp1252", header_row=3, decimal=",")
    assert list(df.columns) == ["a", "b", "source_row"] and _cells(df) == [["1", "2"]]
    info = df.attrs["read_info"]
    assert (info["sep"], info["encoding"], info["header_row"], info["decimal"]) == (";", "cp1252", 3, ",")


def test_fully_empty_rows_are_dropped_and_counted(tmp_path):
    p = _write(tmp_path / "x.csv", "a,b\n1,2\n,\n3,4\n")
    df = read_table(p)
    assert _cells(df) == [["1", "2"], ["3", "4"]] and df["source_row"].tolist() == [2, 4]
    assert df.attrs["read_info"]["empty_rows_dropped"] == 1


def test_quote_inside_unquoted_field_falls_back_for_line_numbers(tmp_path):
    p = _write(tmp_path / "q.csv", 'a,b\n5" screen,1\n\n2,3\n')
    df = read_table(p)
    assert _cells(df) == [['5" screen', "1"], ["2", "3"]]
    assert df["source_row"].tolist() == [2, 4]


def test_agrees_with_csv_module_on_a_messy_file(tmp_path):
    rng = np.random.default_rng(3)
    vocab = ["yes", " Yes", "y", "", "kyllä", '"quoted"', "a,b", "x\ny", "3,5", "NA", "-99"]
    rows = [[str(i)] + list(rng.choice(vocab, 4)) for i in range(300)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([["id", "q1", "q2", "q3", "q4"]] + rows)
    p = _write(tmp_path / "m.csv", buf.getvalue())
    df = read_table(p)
    assert _cells(df) == [[c if c != "" else None for c in r] for r in rows]
    # line numbers: count the physical lines of each record as written
    lines, line = [], 2
    for r in rows:
        lines.append(line)
        line += 1 + sum(c.count("\n") for c in r)
    assert df["source_row"].tolist() == lines


# ---------------------------------------------------------------------------------------------
# Excel and SPSS
# ---------------------------------------------------------------------------------------------
def _xlsx(path, sheets: dict[str, list[list]]):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_xlsx_note_row_types_and_sheets(tmp_path):
    import datetime as dt

    p = _xlsx(tmp_path / "c.xlsx", {
        "coding": [["Coding sheet v2 – do not edit"], ["id", "code", "n", "when"],
                   ["E1", " Yes ", 3, dt.datetime(2026, 3, 2, 10, 15)], ["E2", None, 2.5, dt.datetime(2026, 3, 3)]],
        "more": [["id", "code", "n", "when"], ["E3", "no", 1, None]],
    })
    df = read_table(p)
    assert list(df.columns) == ["id", "code", "n", "when", "source_sheet", "source_row"]
    assert _cells(df) == [["E1", " Yes ", "3", "2026-03-02 10:15:00"], ["E2", None, "2.5", "2026-03-03"],
                          ["E3", "no", "1", None]]
    assert df["source_sheet"].tolist() == ["coding", "coding", "more"]
    assert df["source_row"].tolist() == [3, 4, 2]
    info = df.attrs["read_info"]
    assert info["format"] == "xlsx" and info["sheets"] == ["coding", "more"]
    assert info["header_row"] == {"coding": 2, "more": 1}

    one = read_table(p, sheet="more")
    assert _cells(one) == [["E3", "no", "1", None]] and one.attrs["read_info"]["header_row"] == 1
    with pytest.raises(InputError, match=r"c\.xlsx.*no sheet 'nope'.*'coding', 'more'"):
        read_table(p, sheet="nope")


def test_sav_value_labels_and_plain(tmp_path):
    import pyreadstat

    data = pd.DataFrame({"receipt_code": ["ENC-000001", "ENC-000002", ""], "sat_overall": [5.0, 6.0, np.nan],
                         "felt_valued": [1.0, 7.0, 4.0]})
    labels = {"sat_overall": {1.0: "erittäin tyytymätön", 5.0: "erittäin tyytyväinen"}}
    p = tmp_path / "s.sav"
    pyreadstat.write_sav(data, str(p), variable_value_labels=labels)
    df = read_table(p)
    # labelled codes become their labels; unlabelled codes (6) and unlabelled columns stay values
    assert _cells(df) == [["ENC-000001", "erittäin tyytyväinen", "1"], ["ENC-000002", "6", "7"],
                          [None, None, "4"]]
    assert df.attrs["value_labels"] == labels
    assert df["source_row"].tolist() == [1, 2, 3] and df.attrs["read_info"]["format"] == "sav"

    p2 = tmp_path / "plain.sav"
    pyreadstat.write_sav(data, str(p2))
    df2 = read_table(p2)
    assert df2["sat_overall"].tolist()[:2] == ["5", "6"] and df2.attrs["value_labels"] == {}


# ---------------------------------------------------------------------------------------------
# errors: one InputError naming the file
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, content, match", [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\n \n", "is empty"),
    ("header_only.csv", b"a,b,c\n", "no data rows"),
    ("dups.csv", b"a,b,a\n1,2,3\n", "duplicate column name"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "ragged row at line 3"),
    ("bad.csv", b"a,b\n\x81\x8d,1\n", "cannot be decoded"),
    ("bom_bad.csv", b"\xef\xbb\xbfa,b\n\xff,1\n", "not valid UTF-8"),
    ("unnamed.csv", b"a,,c\n1,2,3\n", "column 2 has values but no header"),
    ("reserved.csv", b"a,source_row\n1,2\n", "source_row"),
    ("data.json", b"{}", "unsupported extension"),
    ("binary.csv", b"a,b\x00\x00\n", "NUL bytes"),
    ("corrupt.xlsx", b"PK\x03\x04 this is not a workbook", "Excel workbook"),
    ("corrupt.sav", b"$FL2 nonsense", "SPSS"),
    ("empty.xlsx", b"", "is empty"),
])
def test_errors_name_the_file(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError, match=match) as err:
        read_table(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_header_only_xlsx(tmp_path):
    with pytest.raises(InputError, match="not found") as err:
        read_table(tmp_path / "nope.csv")
    assert "nope.csv" in str(err.value)
    p = _xlsx(tmp_path / "h.xlsx", {"s": [["a", "b"]]})
    with pytest.raises(InputError, match="h.xlsx.*no data rows"):
        read_table(p)


def test_argument_errors(tmp_path):
    p = _write(tmp_path / "a.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match="`sep` must be one of"):
        read_table(p, sep=":")
    with pytest.raises(ValueError, match="`decimal` must be one of"):
        read_table(p, decimal="x")
    with pytest.raises(ValueError, match="`header_row` must be in"):
        read_table(p, header_row=0)
    with pytest.raises(ValueError, match="`sheet` applies to Excel"):
        read_table(p, sheet="x")
    with pytest.raises(TypeError, match="`path` must be"):
        read_table(3)
    with pytest.raises(InputError, match="header_row=9"):
        read_table(p, header_row=9)


# ---------------------------------------------------------------------------------------------
# property: random string tables round-trip
# ---------------------------------------------------------------------------------------------
# cp1252 letters that are never UTF-8 continuation bytes: a cp1252 file of them cannot be valid
# UTF-8 by accident (with '€' or '–' it could: b'\xc4\x80' is both 'Ä€' and 'Ā').
_ALPHABET = st.sampled_from(list("abcXYZ019 .,;|-_'\"\näöåÄÖÅé"))
_cell = st.one_of(st.just(""), st.text(_ALPHABET, min_size=1, max_size=8))


@st.composite
def _tables(draw):
    ncol = draw(st.integers(2, 5))
    names = draw(st.lists(st.text(st.sampled_from(list("abcdefgh_äö")), min_size=1, max_size=6),
                          min_size=ncol, max_size=ncol, unique=True))
    nrow = draw(st.integers(1, 8))
    rows = [draw(st.lists(_cell, min_size=ncol, max_size=ncol)) for _ in range(nrow)]
    # a row of only empty cells is dropped by design; keep one value per row
    rows = [r if any(r) else ["v"] + r[1:] for r in rows]
    return names, rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=_tables(), sep=st.sampled_from([",", ";"]), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
       note=st.booleans(), crlf=st.booleans())
def test_round_trip_random_tables(tmp_path, table, sep, encoding, note, crlf):
    names, rows = table
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    if note:
        buf.write("Coding sheet v2 – do not edit".replace("–", "-") + ("\r\n" if crlf else "\n"))
    w.writerow(names)
    w.writerows(rows)
    p = tmp_path / "rt.csv"
    p.write_bytes(buf.getvalue().encode(encoding))
    df = read_table(p)
    assert list(df.columns) == names + ["source_row"]
    # csv.writer keeps \n inside quoted cells as is, pyarrow returns it unchanged
    assert _cells(df) == [[c if c != "" else None for c in r] for r in rows]
    first = 2 + int(note)
    expected_lines, line = [], first
    for r in rows:
        expected_lines.append(line)
        line += 1 + sum(c.count("\n") for c in r)
    assert df["source_row"].tolist() == expected_lines
    assert df.attrs["read_info"]["header_row"] == first - 1
