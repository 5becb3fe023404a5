"""Paper assets: notebook 07 on the default study, and the generated reports/README.md.

* ``write_reports_readme`` on a temporary reports folder (manifests written by the real
  ``save_figure`` / ``save_table``): every file linked, captions (a ``|`` escaped), widths,
  sources, byte-identical reruns, an empty folder, a file instead of a folder.
* Notebook 07 executed once on the committed default study (cleaned into a temporary folder):
  each paper figure's PDF MediaBox is its declared column width (89 / 140 / 183 mm), the Word
  tables hold the numbers of the results (recomputed here by ``run_hypotheses`` and the main
  model's fit, formatted by the APA helpers), and reports/README.md lists each file with its
  caption.
"""
from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from svcresearch import analysis, config, paper, pipeline  # noqa: E402
from svcresearch.figures import save_figure  # noqa: E402
from svcresearch.report import format_ci, format_number, format_p, read_manifest, save_table  # noqa: E402
from svcresearch.study import current  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "07_figures_and_tables_for_paper.ipynb"
MM = 25.4


def _pdf_width_mm(path: Path) -> float:
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", path.read_bytes())
    assert box, f"{path.name}: no MediaBox"
    return float(box.group(1)) / 72 * MM


def _docx_rows(path: Path) -> list[list[str]]:
    import docx

    table = docx.Document(str(path)).tables[0]
    return [[c.text for c in row.cells] for row in table.rows]


# --- the README writer on its own --------------------------------------------------------------

def test_reports_readme_lists_every_file_with_caption_width_and_source(tmp_path):
    reports = tmp_path / "reports"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    save_figure(fig, "fig_a", width="single", folder=reports / "figures", caption="Line | of identity",
                source="/somewhere/05_x.ipynb")
    plt.close(fig)
    save_table(pd.DataFrame({"x": [1.5], "y": ["a"]}), "tab_b", title="A small table", number=2,
               folder=reports / "tables", source="03_y.ipynb")
    save_table(pd.DataFrame({"x": [1]}), "tab_c", folder=reports / "tables", formats=("csv",))

    path = paper.write_reports_readme(reports)
    assert path == reports / "README.md"
    text = path.read_text(encoding="utf-8")
    fig_row = next(line for line in text.splitlines() if "`fig_a`" in line)
    assert "Line \\| of identity" in fig_row and "89 mm (single)" in fig_row and "05_x.ipynb" in fig_row
    for fmt in ("pdf", "svg", "png"):
        assert f"[{fmt}](figures/fig_a.{fmt})" in fig_row
    tab_row = next(line for line in text.splitlines() if "`tab_b`" in line)
    assert "A small table" in tab_row and "| 2 |" in tab_row and "03_y.ipynb" in tab_row
    for fmt in ("csv", "docx", "html", "md", "tex"):
        assert f"[{fmt}](tables/tab_b.{fmt})" in tab_row
    untitled = next(line for line in text.splitlines() if "`tab_c`" in line)
    assert "[csv](tables/tab_c.csv)" in untitled and "docx" not in untitled and "\u2014" in untitled
    # same manifests, same bytes; a deleted file is no longer linked
    first = path.read_bytes()
    assert paper.write_reports_readme(reports).read_bytes() == first
    (reports / "tables" / "tab_c.csv").unlink()
    again = paper.write_reports_readme(reports).read_text(encoding="utf-8")
    assert "`tab_c` | \u2014 | \u2014 | missing |" in again


def test_reports_readme_of_an_empty_folder_and_a_file(tmp_path):
    text = paper.write_reports_readme(tmp_path / "empty").read_text(encoding="utf-8")
    assert "No figures recorded." in text and "No tables recorded." in text
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="is a file"):
        paper.write_reports_readme(tmp_path / "file")
    with pytest.raises(TypeError, match="reports_dir"):
        paper.write_reports_readme(3)


# --- notebook 07 on the default study ----------------------------------------------------------

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Clean the default study and execute notebook 07 into a temporary reports folder."""
    base = tmp_path_factory.mktemp("paper")
    dirs = {"raw": ROOT / "data" / "raw", "processed": base / "processed", "reports": base / "reports"}
    pipeline.reproduce(**dirs, notebooks=[NOTEBOOK])
    study = current(raw=dirs["raw"], processed=dirs["processed"])
    return dirs | {"study": study}


#: Declared width (mm) of each paper figure on the default study (three interactions: double-column slopes).
WIDTHS = {"paper_fig_outcome_distribution": 89, "paper_fig_reliability": 89, "paper_fig_hypotheses_forest": 183,
          "paper_fig_hypotheses_forest_fi": 183, "paper_fig_predicted_probabilities": 140,
          "paper_fig_simple_slopes": 183, "paper_fig_mediation": 89}
TABLES = ("paper_table1_descriptives", "paper_table2_reliability", "paper_table3_regression",
          "paper_table4_hypotheses", "paper_table4_hypotheses_fi", "paper_apa_sentences")


def test_every_paper_figure_exists_at_its_column_width(run):
    figures = run["reports"] / "figures"
    manifest = read_manifest(figures)
    for name, mm in WIDTHS.items():
        for fmt in ("pdf", "svg", "png"):
            assert (figures / f"{name}.{fmt}").is_file(), f"{name}.{fmt}"
        assert _pdf_width_mm(figures / f"{name}.pdf") == pytest.approx(mm, abs=0.3), name
        entry = manifest[name]
        assert entry["source"] == NOTEBOOK.name and entry["caption"], name
        assert entry["column"] == {89: "single", 140: "onehalf", 183: "double"}[mm]
    for name in TABLES:
        for fmt in ("docx", "tex", "md", "html", "csv"):
            assert (run["reports"] / "tables" / f"{name}.{fmt}").is_file(), f"{name}.{fmt}"


def test_word_tables_hold_the_numbers_of_the_results(run):
    study = run["study"]
    tables = run["reports"] / "tables"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.ENV_RAW, str(run["raw"]))
        mp.setenv(config.ENV_PROCESSED, str(run["processed"]))
        results = analysis.hypotheses_results(study, analysis.study_hypotheses(study), seed=config.DEFAULT_SEED)
        model = analysis.main_model(study)

    rows = _docx_rows(tables / "paper_table4_hypotheses.docx")
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Hypothesis", "Term"] and len(body) == len(results)
    col = {name: header.index(name) for name in ("Estimate", "95% CI", "p", "p (Holm)", "Verdict", "n")}
    for cells, (_, r) in zip(body, results.iterrows()):
        icc = r["scale"] == "icc"
        assert cells[0] == r["hypothesis"]
        assert cells[col["Estimate"]] == format_number(r["estimate"], leading_zero=not icc).replace("-", "\u2212")
        assert cells[col["95% CI"]] == format_ci(r["ci_low"], r["ci_high"], leading_zero=not icc).replace("-", "\u2212")
        assert cells[col["p"]] == format_p(r["p_value"]) and cells[col["p (Holm)"]] == format_p(r["p_holm"])
        assert cells[col["Verdict"]] == r["verdict"] and cells[col["n"]] == str(int(r["n"]))
    fi = _docx_rows(tables / "paper_table4_hypotheses_fi.docx")
    assert fi[0][:2] == ["Hypoteesi", "Termi"] and len(fi) == len(rows)
    assert fi[1][col["Estimate"]] == format_number(results["estimate"].iloc[0], language="fi").replace("-", "\u2212")

    params = model.params()
    effects = params.loc[~params["term"].astype(str).str.contains("|", regex=False)].reset_index(drop=True)
    reg = _docx_rows(tables / "paper_table3_regression.docx")
    b = reg[0].index("b")
    thresholds = [row for row in reg[1:] if row[0].startswith("Threshold ")]
    assert len(thresholds) == len(params) - len(effects) and all(row[reg[0].index("OR")] == "\u2014"
                                                                 for row in thresholds)
    shown = [row for row in reg[1:] if not row[0].startswith("Threshold ")]
    assert [row[b] for row in shown] == [format_number(v).replace("-", "\u2212") for v in effects["estimate"]]
    assert [row[reg[0].index("OR")] for row in shown] == [format_number(v) for v in np.exp(effects["estimate"])]

    sentences = pd.read_csv(tables / "paper_apa_sentences.csv")
    tested = results.loc[results["verdict"] != "not testable"]
    assert list(sentences["H"]) == list(tested["hypothesis"])
    assert sentences["English"].str.endswith(".").all() and sentences["Finnish"].str.endswith(".").all()
    assert sentences["English"].str.contains(r"(?:OR|ICC|ab) = ").all()


def test_readme_lists_each_paper_file_with_its_caption(run):
    readme = (run["reports"] / "README.md").read_text(encoding="utf-8")
    for folder in ("figures", "tables"):
        manifest = read_manifest(run["reports"] / folder)
        names = [n for n in manifest if n.startswith(paper.PREFIX)]
        assert len(names) == (len(WIDTHS) if folder == "figures" else len(TABLES))
        for name in names:
            line = next(line for line in readme.splitlines() if f"`{name}`" in line)
            caption = " ".join(str(manifest[name]["caption"]).split()).replace("|", "\\|")
            assert caption in line, name
            for file in manifest[name]["files"]:
                assert f"({folder}/{file})" in line
            assert NOTEBOOK.name in line
