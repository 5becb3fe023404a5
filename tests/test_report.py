"""Tests of svcresearch.report: APA number formatting and the four table writers."""
from __future__ import annotations

import io
import time
import zipfile

import numpy as np
import pandas as pd
import pytest

from svcresearch.report import format_ci, format_number, format_p, latex_escape, save_table


# --- APA formatting: expected strings from the APA Publication Manual, 7th ed., §6.36 (p values:
# "p = .034", "p < .001", no leading zero) and §6.36/6.43 (leading zero only for statistics that can
# exceed 1; intervals in square brackets "95% CI [0.12, 0.34]").
@pytest.mark.parametrize("p, expected", [
    (0.0001, "< .001"), (0.001, ".001"), (0.0344, ".034"), (0.05, ".050"), (0.5, ".500"),
    (0.0, "< .001"), (0.9999, "> .999"), (1.0, "> .999"), (np.nan, ""), (None, ""),
])
def test_format_p_apa(p, expected):
    assert format_p(p) == expected


def test_format_p_two_decimals_and_vector():
    assert format_p(0.004, decimals=2) == "< .01"
    assert format_p(0.034, decimals=2) == ".03"
    assert format_p([0.2, 0.00001]) == [".200", "< .001"]
    s = format_p(pd.Series([0.2, np.nan], index=[5, 6]))
    assert s.tolist() == [".200", ""] and s.index.tolist() == [5, 6]


def test_format_p_rejects_bad_input():
    with pytest.raises(ValueError, match="`p` must be in"):
        format_p(1.5)
    with pytest.raises(TypeError, match="`p`"):
        format_p("0.03")


def test_format_number_and_ci():
    assert format_number(0.8712, leading_zero=False) == ".87"
    assert format_number(-0.123, leading_zero=False) == "-.12"
    assert format_number(-0.001) == "0.00"  # never "-0.00"
    assert format_number(12.3456, decimals=1) == "12.3"
    assert format_ci(0.1234, 0.3456) == "[0.12, 0.35]"
    assert format_ci(-0.5, 0.25, leading_zero=False) == "[-.50, .25]"
    assert format_ci(np.nan, 1.0) == ""
    s = format_ci(pd.Series([0.1, 0.2]), pd.Series([0.3, 0.4]), decimals=1)
    assert s.tolist() == ["[0.1, 0.3]", "[0.2, 0.4]"]


def test_latex_escape_specials():
    assert latex_escape("a_b & 50% $x# {y} ~^\\ <") == (
        r"a\_b \& 50\% \$x\# \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{} \textless{}")


@pytest.fixture
def table():
    return pd.DataFrame({
        "term": ["eye_contact", "resolved & empathy", "x|y"],
        "estimate": [0.512345678901, -0.1204, np.nan],
        "p_value": [0.00001, 0.0344, 0.5],
        "r": [0.5, -0.3, 0.05],
        "n": [10.0, 12.0, 7.0],
        "k": pd.array([1, 2, None], dtype="Int64"),
    })


def test_save_table_writes_all_formats(tmp_path, table):
    paths = save_table(table, "t_demo", title="Effects of behaviours", note="Holm-adjusted; 50% of x_y.",
                       folder=tmp_path, number=2)
    assert [p.name for p in paths] == ["t_demo.csv", "t_demo.md", "t_demo.tex", "t_demo.docx", "t_demo.html"]

    # CSV: full precision round trip.
    back = pd.read_csv(paths[0])
    assert back["estimate"].iloc[0] == 0.512345678901
    assert back.columns.tolist() == table.columns.tolist()

    md = paths[1].read_text().splitlines()
    assert md[0] == "**Effects of behaviours**"
    assert md[2] == "| term | estimate | p_value | r | n | k |"
    assert md[3] == "|:---|---:|---:|---:|---:|---:|"
    assert md[4] == "| eye_contact | 0.51 | < .001 | .50 | 10 | 1 |"
    assert md[5] == "| resolved & empathy | -0.12 | .034 | -.30 | 12 | 2 |"
    assert md[6] == "| x\\|y | \u2014 | .500 | .05 | 7 | \u2014 |"
    assert md[-1] == "*Note.* Holm-adjusted; 50% of x_y."

    tex = paths[2].read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{threeparttable}",
                 r"\item \textit{Note.} Holm-adjusted; 50\% of x\_y.", r"\caption{Effects of behaviours}"):
        assert rule in tex
    assert r"resolved \& empathy & $-$0.12 & .034 & $-$.30 & 12 & 2 \\" in tex
    assert r"eye\_contact & 0.51 & \textless{} .001" in tex
    assert r"\begin{tabular}{lrrrrr}" in tex


def test_save_table_docx_is_apa(tmp_path, table):
    import docx
    from docx.oxml.ns import qn

    (path,) = save_table(table, "t_apa", title="Effects", note="A note.", folder=tmp_path,
                         formats=("docx",), number=3)
    doc = docx.Document(path)
    paras = doc.paragraphs
    assert paras[0].text == "Table 3" and paras[0].runs[0].bold
    assert paras[1].text == "Effects" and paras[1].runs[0].italic
    assert paras[-1].text == "Note. A note."
    assert paras[-1].runs[0].text == "Note." and paras[-1].runs[0].italic
    tab = doc.tables[0]
    assert [c.text for c in tab.rows[0].cells] == ["term", "estimate", "p_value", "r", "n", "k"]
    assert [c.text for c in tab.rows[2].cells][:4] == ["resolved & empathy", "\u22120.12", ".034", "\u2212.30"]

    def edge(cell, name):
        borders = cell._tc.tcPr.find(qn("w:tcBorders"))
        return borders.find(qn(f"w:{name}")).get(qn("w:val"))

    # APA: rules above and below the header and below the last row only; no vertical lines.
    for cell in tab.rows[0].cells:
        assert (edge(cell, "top"), edge(cell, "bottom"), edge(cell, "left")) == ("single", "single", "nil")
    for cell in tab.rows[1].cells:
        assert (edge(cell, "top"), edge(cell, "bottom"), edge(cell, "right")) == ("nil", "nil", "nil")
    for cell in tab.rows[-1].cells:
        assert edge(cell, "bottom") == "single"
    tbl_borders = tab._tbl.tblPr.find(qn("w:tblBorders"))
    assert {el.get(qn("w:val")) for el in tbl_borders} == {"nil"}
    assert doc.core_properties.last_modified_by == "svcresearch"


def test_save_table_byte_identical_across_runs(tmp_path, table, monkeypatch):
    first = {p.suffix: p.read_bytes() for p in save_table(table, "t_det", title="T", note="N", folder=tmp_path)}
    # A later wall clock must not change any byte (python-docx stamps zip entries with time.time()).
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 86_400 * 3 + 7)
    second = {p.suffix: p.read_bytes() for p in save_table(table, "t_det", title="T", note="N", folder=tmp_path)}
    assert first == second
    with zipfile.ZipFile(io.BytesIO(second[".docx"])) as zf:
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = zf.read("docProps/core.xml").decode()
        assert "2000-01-01T00:00:00Z" in core


def test_save_table_index_and_decimals(tmp_path):
    df = pd.DataFrame({"mean": [1.23456, 2.5]}, index=pd.Index(["a", "b"], name="group"))
    md_path, = save_table(df, "t_idx", folder=tmp_path, formats=("md",), decimals={"mean": 3})
    lines = md_path.read_text().splitlines()
    assert lines[0] == "| group | mean |" and lines[2] == "| a | 1.235 |"


def test_save_table_default_folder(tmp_path, monkeypatch, table):
    monkeypatch.setenv("SVCRESEARCH_REPORTS", str(tmp_path))
    paths = save_table(table, "t_default", formats=("csv",))
    assert paths == [tmp_path / "tables" / "t_default.csv"] and paths[0].exists()


def test_save_table_errors(tmp_path, table):
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame"):
        save_table([1, 2], "x", folder=tmp_path)
    with pytest.raises(ValueError, match="`formats` must be one of"):
        save_table(table, "x", formats=("pdf",), folder=tmp_path)
    with pytest.raises(ValueError, match="`name` must be a file stem"):
        save_table(table, "../evil", folder=tmp_path)
    with pytest.raises(ValueError, match="`decimals`"):
        save_table(table, "x", decimals=-1, folder=tmp_path)
    with pytest.raises(TypeError, match="`title`"):
        save_table(table, "x", title=3, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written after an argument error
