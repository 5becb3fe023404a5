"""APA 7 tables and sentences, Excel-safe cells, umask, manifest, Finnish formatting (svcresearch.report).

Expected strings are written by hand from the APA Publication Manual, 7th ed. (§6.36 p values and
leading zeros, §6.43 intervals "95% CI [a, b]", §7.21 table notes); Finnish: decimal comma with
the leading zero, bounds separated by a semicolon ("95 %:n LV [1,51; 2,19]").
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pandas as pd
import pytest

from svcresearch import report
from svcresearch.labels import label_term, labels_from_codebook
from svcresearch.report import (apa_sentence, descriptives_table, excel_safe, format_ci, format_number, format_p,
                                hypotheses_table, regression_table, reliability_table, save_table)


def test_finnish_numbers():
    assert format_p(0.0001, language="fi") == "< 0,001"
    assert format_p(0.0344, language="fi") == "0,034"
    assert format_number(0.871, leading_zero=False, language="fi") == "0,87"
    assert format_ci(1.514, 2.19, language="fi") == "[1,51; 2,19]"
    assert format_ci(-0.5, 0.25, leading_zero=False) == "[-.50, .25]"
    with pytest.raises(ValueError, match="`language` must be one of 'en', 'fi'"):
        format_p(0.2, language="sv")


@pytest.mark.parametrize("value, expected", [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1+1", "'+1+1"), ("-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("-0.12", "-0.12"), ("-.5", "-.5"),
    ("+3", "+3"), ("-", "'-"), ("eye contact", "eye contact"), (-1.5, -1.5), (None, None),
])
def test_excel_safe(value, expected):
    assert excel_safe(value) == expected


def test_csv_and_markdown_cells_are_neutralised_but_numbers_stay_numbers(tmp_path):
    df = pd.DataFrame({"term": ["=1+1", "@x", "ok"], "estimate": [-0.5, 1.0, -2.25], "text": ["-0.30", "-x", "+y"]})
    csv_path, md_path = save_table(df, "inj", formats=("csv", "md"), folder=tmp_path)
    rows = list(csv.reader(csv_path.open(encoding="utf-8")))
    assert rows[1] == ["'=1+1", "-0.5", "-0.30"]
    assert rows[2] == ["'@x", "1.0", "'-x"]
    assert rows[3] == ["ok", "-2.25", "'+y"]
    back = pd.read_csv(csv_path)
    assert back["estimate"].tolist() == [-0.5, 1.0, -2.25]
    md = md_path.read_text(encoding="utf-8")
    assert "| '=1+1 | -0.50 | -0.30 |" in md and "| '@x |" in md


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_tables_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        paths = save_table(pd.DataFrame({"a": [1]}), "u", folder=tmp_path)
    finally:
        os.umask(old)
    for path in [*paths, tmp_path / "manifest.json"]:
        assert path.stat().st_mode & 0o777 == mode, path.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in paths] + ["manifest.json"])


def test_no_true_false_and_no_leftover_index(tmp_path):
    df = pd.DataFrame({"behaviour": ["a", "b", "c"], "finite": [True, False, True]}).iloc[[2, 0]]
    (md,) = save_table(df, "b", formats=("md",), folder=tmp_path)
    lines = md.read_text().splitlines()
    assert lines[0] == "| behaviour | finite |"  # the filtered index (2, 0) is not written
    assert lines[2:] == ["| c | yes |", "| a | yes |"]
    (fi,) = save_table(df.assign(finite=[False, True]), "bfi", formats=("md",), folder=tmp_path, language="fi")
    assert fi.read_text().splitlines()[2] == "| c | ei |"


def test_table_manifest_and_html(tmp_path, monkeypatch):
    monkeypatch.setenv("SVCRESEARCH_NOTEBOOK", "notebooks/04_models.ipynb")
    table = regression_table(_params(), labels={"eye_contact": "Eye contact"}, title="Main Model")
    paths = save_table(table, "main", number=4, folder=tmp_path, formats=("md", "html"))
    entry = json.loads((tmp_path / "manifest.json").read_text())["main"]
    assert entry == {"kind": "table", "files": ["main.html", "main.md"], "caption": "Main Model", "number": "4",
                     "note": table.attrs["note"], "source": "04_models.ipynb"}
    html = paths[1].read_text()
    assert "<strong>Table 4</strong>" in html and "<em>Main Model</em>" in html and "<em>Note.</em>" in html
    assert "<td style=\"text-align:left;padding:2px 8px;\">Eye contact</td>" in html


def _params():
    return pd.DataFrame({
        "term": ["1|2", "2|3", "eye_contact", "smile[genuine]", "resolved:empathy"],
        "estimate": [-2.0, -1.0, 0.5988, -0.2, 0.31],
        "std_error": [0.2, 0.2, 0.0941, 0.1, 0.15],
        "statistic": [0, 0, 6.3, -2.0, 2.07],
        "p_value": [0.0, 0.0, 0.00000002, 0.0456, 0.0388],
        "ci_low": [-2.4, -1.4, 0.4144, -0.396, 0.016],
        "ci_high": [-1.6, -0.6, 0.7832, -0.004, 0.604],
    })


def test_regression_table_cells_and_docx_numbers(tmp_path):
    import docx

    labels = {"eye_contact": "Eye contact", "smile": "Smile", "resolved": "Issue resolved", "empathy": "Empathy"}
    table = regression_table(_params(), labels=labels, odds_ratio=True)
    assert table.columns.tolist() == ["Predictor", "b", "SE", "OR", "95% CI (OR)", "p"]
    assert table.iloc[0].tolist() == ["Eye contact", "0.60", "0.09", "1.82", "[1.51, 2.19]", "< .001"]
    assert table.iloc[1].tolist() == ["Smile: genuine", "-0.20", "0.10", "0.82", "[0.67, 1.00]", ".046"]
    assert table.iloc[2, 0] == "Issue resolved × Empathy"
    assert len(table) == 3  # thresholds left out
    plain = regression_table(_params(), thresholds=True)
    assert plain.columns.tolist() == ["Predictor", "b", "SE", "95% CI", "p"] and len(plain) == 5
    assert plain.iloc[2, 3] == "[0.41, 0.78]"
    fi = regression_table(_params(), language="fi")
    assert fi.columns.tolist() == ["Selittäjä", "b", "KV", "95 %:n LV", "p"]
    assert fi.iloc[0].tolist() == ["Eye contact", "0,60", "0,09", "[0,41; 0,78]", "< 0,001"]

    (path,) = save_table(table, "reg", formats=("docx",), folder=tmp_path, number=2)
    doc = docx.Document(path)
    cells = [[c.text for c in row.cells] for row in doc.tables[0].rows]
    assert cells[0] == ["Predictor", "b", "SE", "OR", "95% CI (OR)", "p"]
    assert cells[1] == ["Eye contact", "0.60", "0.09", "1.82", "[1.51, 2.19]", "< .001"]
    assert cells[2] == ["Smile: genuine", "\u22120.20", "0.10", "0.82", "[0.67, 1.00]", ".046"]
    assert doc.paragraphs[-1].text.startswith("Note. b = regression coefficient")


def test_descriptives_table_counts_means_and_percentages():
    df = pd.DataFrame({"wait_min": [1.0, 2.0, 3.0, 6.0], "returning": [True, False, True, None],
                       "channel": pd.Categorical(["f2f", "f2f", "phone", "f2f"], categories=["f2f", "phone"])})
    table = descriptives_table(df, variables=["wait_min", "returning", "channel"], by="channel",
                               labels={"wait_min": "Waiting time", "channel": "Channel", "channel[f2f]": "Channel: face to face"})
    assert table.columns.tolist() == ["Variable", "face to face (n = 3)", "phone (n = 1)", "Total (n = 4)"]
    # wait for f2f: 1, 2, 6 -> M = 3.00, SD = 2.65; total 1, 2, 3, 6 -> M = 3.00, SD = 2.16
    assert table.iloc[0].tolist() == ["Waiting time, M (SD)", "3.00 (2.65)", "3.00", "3.00 (2.16)"]
    assert table.iloc[1].tolist() == ["Returning, n (%)", "1 (50.0%)", "1 (100.0%)", "2 (66.7%)"]
    assert table.iloc[2].tolist() == ["Channel, n (%)", "", "", ""]
    assert table.iloc[3].tolist() == ["\u2003face to face", "3 (100.0%)", "0 (0.0%)", "3 (75.0%)"]
    fi = descriptives_table(df, variables=["returning"], language="fi")
    assert fi.iloc[0].tolist() == ["Returning, n (%)", "2 (66,7 %)"]


def test_reliability_table_cells():
    rel = pd.DataFrame({"behaviour": ["eye_contact"], "n_units": [120], "kappa": [0.7123], "kappa_ci_low": [0.61],
                        "kappa_ci_high": [0.8], "alpha": [0.705], "alpha_ci_low": [0.6], "alpha_ci_high": [0.79]})
    table = reliability_table(rel, statistics=("kappa", "alpha"), labels={"eye_contact": "Eye contact"})
    assert table.iloc[0].tolist() == ["Eye contact", "120", ".71 [.61, .80]", ".70 [.60, .79]"]
    assert "(Krippendorff, 2004)" in table.attrs["note"]
    fi = reliability_table(rel, statistics=("alpha",), language="fi")
    assert fi.iloc[0, 2] == "0,70 [0,60; 0,79]"


def test_hypotheses_table_keeps_scales_apart():
    res = pd.DataFrame({"hypothesis": ["H1", "H10", "H12"], "term": ["eye_contact", "icc_employee", "referral"],
                        "expected": ["> 0", "> 0", "> 0"], "estimate": [0.61, 0.048, np.nan],
                        "ci_low": [0.4, 0.02, np.nan], "ci_high": [0.8, 0.11, np.nan],
                        "p_value": [0.0001, 0.003, np.nan], "p_holm": [0.0004, 0.006, np.nan],
                        "verdict": ["supported", "supported", "not testable"], "n": [1500, 1500, np.nan]})
    table = hypotheses_table(res, labels={"eye_contact": "Eye contact", "employee": "Employee"})
    assert table.columns.tolist() == ["Hypothesis", "Term", "Expected", "Scale", "Estimate", "95% CI", "p",
                                      "p (Holm)", "Verdict", "n"]
    assert table.iloc[0].tolist() == ["H1", "Eye contact", "positive", "Log odds", "0.61", "[0.40, 0.80]",
                                      "< .001", "< .001", "supported", "1500"]
    assert table.iloc[1].tolist()[1:8] == ["ICC, Employee", "positive", "ICC", ".05", "[.02, .11]", ".003", ".006"]
    assert table.iloc[2].tolist()[4:] == ["", "", "", "", "not testable", ""]
    fi = hypotheses_table(res, language="fi")
    assert fi.iloc[2, -2] == "ei testattavissa" and fi.iloc[1, 4] == "0,05"


ROW = {"term": "eye_contact", "estimate": 0.5988, "ci_low": 0.4144, "ci_high": 0.7832, "p_value": 0.00002}
LABELS = {"eye_contact": "Eye contact", "sat_overall": "Satisfaction", "smile": "Smile",
          "felt_valued": "Felt valued", "employee": "Employee"}


@pytest.mark.parametrize("kwargs, row, en, fi", [
    ({"odds_ratio": True, "outcome": "sat_overall"}, ROW,
     "Eye contact predicted higher satisfaction, OR = 1.82, 95% CI [1.51, 2.19], p < .001.",
     "Muuttujan Eye contact yhteys tulosmuuttujaan Satisfaction oli positiivinen, OR = 1,82, "
     "95 %:n LV [1,51; 2,19], p < 0,001."),
    ({"outcome": "sat_overall"}, {**ROW, "estimate": -0.05, "ci_low": -0.3, "ci_high": 0.2, "p_value": 0.412},
     "Eye contact did not significantly predict satisfaction, b = \u22120.05, 95% CI [\u22120.30, 0.20], p = .412.",
     "Muuttujan Eye contact yhteys tulosmuuttujaan Satisfaction ei ollut tilastollisesti merkitsevä, "
     "b = \u22120,05, 95 %:n LV [\u22120,30; 0,20], p = 0,412."),
    ({"kind": "contrast", "outcome": "sat_overall"},
     {"term": "smile[genuine] - smile[polite]", "estimate": 0.3, "ci_low": 0.1, "ci_high": 0.5, "p_value": 0.0034},
     "Smile: genuine was associated with higher satisfaction than smile: polite, b = 0.30, 95% CI [0.10, 0.50], "
     "p = .003.",
     "Vertailussa Smile: genuine vs. Smile: polite ero oli positiivinen, b = 0,30, 95 %:n LV [0,10; 0,50], "
     "p = 0,003."),
    ({"kind": "icc"}, {"term": "icc_employee", "estimate": 0.048, "ci_low": 0.021, "ci_high": 0.106, "p_value": 0.0001},
     "The intraclass correlation for employee was ICC = .05, 95% CI [.02, .11], p < .001.",
     "Sisäkorrelaatio (ryhmittely: Employee) oli ICC = 0,05, 95 %:n LV [0,02; 0,11], p < 0,001."),
    ({"kind": "indirect", "mediator": "felt_valued", "outcome": "sat_overall", "x": "smile"},
     {"term": "indirect: smile[genuine]", "estimate": 0.12, "ci_low": 0.05, "ci_high": 0.2},
     "The indirect effect of smile on satisfaction through felt valued was significant, ab = 0.12, "
     "95% CI [0.05, 0.20].",
     "Muuttujan Smile epäsuora vaikutus tulosmuuttujaan Satisfaction välittäjämuuttujan Felt valued kautta oli "
     "tilastollisesti merkitsevä, ab = 0,12, 95 %:n LV [0,05; 0,20]."),
    ({"kind": "reliability"}, {"behaviour": "eye_contact", "alpha": 0.724, "alpha_ci_low": 0.65, "alpha_ci_high": 0.79},
     "Krippendorff's \u03b1 for eye contact was .72, 95% CI [.65, .79].",
     "Krippendorffin \u03b1 muuttujalle Eye contact oli 0,72, 95 %:n LV [0,65; 0,79]."),
])
def test_apa_sentences_in_both_languages(kwargs, row, en, fi):
    assert apa_sentence(row, labels=LABELS, **kwargs) == en
    assert apa_sentence(pd.Series(row), labels=LABELS, language="fi", **kwargs) == fi


def test_apa_sentence_errors():
    with pytest.raises(ValueError, match="`kind` must be one of 'coefficient'"):
        apa_sentence(ROW, kind="anova")
    with pytest.raises(TypeError, match="`row` must be a mapping"):
        apa_sentence([1, 2])
    with pytest.raises(ValueError, match="no estimate"):
        apa_sentence({"term": "x"})


def test_labels_from_the_default_codebook():
    en = labels_from_codebook(None, "en")
    fi = labels_from_codebook(None, "fi")
    assert en["eye_contact"] != "eye_contact" and en["eye_contact"] != fi["eye_contact"]
    assert en["smile[genuine]"] == f"{en['smile']}: genuine" == en["smile[T.genuine]"]
    assert label_term("resolved:empathy", en) == f"{en['resolved']} \u00d7 {en['empathy']}"
    assert label_term("C(smile)[T.polite]", {}) == "Smile: polite"
    assert label_term("service_failure", {}) == "Service failure"
    with pytest.raises(ValueError, match="`language`"):
        labels_from_codebook(None, "de")
