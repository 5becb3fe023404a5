"""Figures are journal-ready files that are byte-identical when the same data are drawn again."""
import hashlib

import matplotlib.pyplot as plt
import pytest

from svcresearch.figures import WIDTH_SINGLE, save_figure, set_style


def _draw():
    set_style()
    fig, ax = plt.subplots(figsize=(WIDTH_SINGLE, 2.4))
    ax.plot([1, 2, 3], [0.2, 0.5, 0.4], marker="o")
    ax.set_xlabel("encounter third")
    ax.set_ylabel("share smiling")
    return fig


def test_every_format_is_written_and_identical_on_a_second_run(tmp_path):
    first = save_figure(_draw(), "demo", folder=tmp_path / "a")
    second = save_figure(_draw(), "demo", folder=tmp_path / "b")
    assert [p.suffix for p in first] == [".pdf", ".svg", ".png"]
    for a, b in zip(first, second):
        assert a.stat().st_size > 1000
        assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest(), a.name
    plt.close("all")


def test_vector_files_keep_text_as_text(tmp_path):
    pdf, svg = save_figure(_draw(), "demo", formats=("pdf", "svg"), folder=tmp_path)
    assert b"encounter third" in svg.read_bytes()  # svg.fonttype none: editable text, not paths
    assert b"/FontFile2" in pdf.read_bytes()  # TrueType (Type 42) fonts embedded, as journals ask
    plt.close("all")


def test_unknown_format_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="`formats` must be one of 'pdf', 'svg', 'png', 'tiff'; got 'jpg'"):
        save_figure(_draw(), "demo", formats=("jpg",), folder=tmp_path)
    plt.close("all")


@pytest.mark.parametrize("name", ["../escape", "sub/escape", "/tmp/escape", "", ".hidden", "a..b"])
def test_name_must_be_a_file_stem_inside_the_folder(tmp_path, name):
    folder = tmp_path / "figs"
    with pytest.raises(ValueError, match="`name` must be a file stem"):
        save_figure(_draw(), name, folder=folder)
    assert not (tmp_path / "escape.pdf").exists()
    assert not folder.exists() or list(folder.iterdir()) == []
    plt.close("all")


def test_fig_must_be_a_matplotlib_figure(tmp_path):
    with pytest.raises(TypeError, match="`fig` must be a matplotlib Figure; got int"):
        save_figure(3, "demo", folder=tmp_path)
    _, ax = plt.subplots()
    with pytest.raises(TypeError, match="`fig` must be a matplotlib Figure; got Axes"):
        save_figure(ax, "demo", folder=tmp_path)
    assert list(tmp_path.iterdir()) == []
    plt.close("all")


def test_write_is_atomic_and_a_failed_render_keeps_the_old_file(tmp_path, monkeypatch):
    (pdf,) = save_figure(_draw(), "demo", formats=("pdf",), folder=tmp_path)
    before = pdf.read_bytes()
    fig = _draw()

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        save_figure(fig, "demo", formats=("pdf",), folder=tmp_path)
    assert pdf.read_bytes() == before
    # the file is replaced in one step: no temporary files are left behind either way
    save_figure(_draw(), "demo", formats=("pdf", "png"), folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.pdf", "demo.png", "manifest.json"]
    plt.close("all")


def test_atomic_writer_cleans_up_when_the_rename_fails(tmp_path, monkeypatch):
    import os

    from svcresearch import report

    target = tmp_path / "t.bin"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        report.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


# --- paper files: exact widths, fonts, dpi, determinism, umask, manifest -----------------------
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
from PIL import Image

from svcresearch import figures
from svcresearch.figures import COLUMN_WIDTHS, paper_theme

_MEDIABOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")


def _pdf_size_in(path):
    w, h = _MEDIABOX.search(path.read_bytes()).groups()
    return float(w) / 72, float(h) / 72


def _wide_content():
    with paper_theme():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1], label="a label long enough to need room on the page")
        ax.set_ylabel("a long axis label that a tight bounding box would have grown the figure for")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# 89 / 140 / 183 mm (Elsevier, Springer and APA journal column widths) and a width in inches.
@pytest.mark.parametrize("width, inches", [("single", 89 / 25.4), ("onehalf", 140 / 25.4),
                                           ("double", 183 / 25.4), (4.25, 4.25)])
def test_pdf_width_equals_the_declared_column_width(tmp_path, width, inches):
    pdf, png = save_figure(_wide_content(), "w", width=width, height=2.5, formats=("pdf", "png"), folder=tmp_path)
    w, h = _pdf_size_in(pdf)
    assert abs(w - inches) < 0.01 and abs(h - 2.5) < 0.01
    with Image.open(png) as im:
        assert abs(im.size[0] - inches * 600) <= 1  # matplotlib truncates to whole pixels
    plt.close("all")


def test_fonts_embedded_as_truetype_and_no_type3(tmp_path):
    with paper_theme(serif=True):
        fig, ax = plt.subplots()
        ax.set_title("Serif title ± α κ − ×")
    (pdf,) = save_figure(fig, "fonts", width="single", formats=("pdf",), folder=tmp_path)
    raw = pdf.read_bytes()
    assert b"/FontFile2" in raw
    assert b"/Type3" not in raw and b"/Subtype /Type3" not in raw
    assert b"STIX" in raw  # the serif face was used
    plt.close("all")


def test_png_and_tiff_record_their_dpi_and_are_deterministic(tmp_path):
    first = save_figure(_draw(), "r", width="single", formats=("png", "tiff"), folder=tmp_path / "a")
    second = save_figure(_draw(), "r", width="single", formats=("png", "tiff"), folder=tmp_path / "b")
    for a, b in zip(first, second):
        with Image.open(a) as im:
            assert [round(v) for v in im.info["dpi"]] == [600, 600]
        assert a.read_bytes() == b.read_bytes(), a.name
    (png,) = save_figure(_draw(), "r2", formats=("png",), dpi=1200, folder=tmp_path)
    with Image.open(png) as im:
        assert round(im.info["dpi"][0]) == 1200
    with pytest.raises(ValueError, match="`dpi`"):
        save_figure(_draw(), "r3", dpi=150, folder=tmp_path)
    plt.close("all")


def test_svg_text_or_paths(tmp_path):
    (text,) = save_figure(_draw(), "t", formats=("svg",), folder=tmp_path / "t")
    (paths,) = save_figure(_draw(), "t", formats=("svg",), folder=tmp_path / "p", svg_text="paths")
    assert b"encounter third" in text.read_bytes() and b"<text" in text.read_bytes()
    assert b"<text" not in paths.read_bytes() and b"<path" in paths.read_bytes()  # glyphs drawn as paths
    plt.close("all")


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        written = save_figure(_draw(), "u", formats=("pdf", "png"), folder=tmp_path)
    finally:
        os.umask(old)
    for path in [*written, tmp_path / "manifest.json"]:
        assert path.stat().st_mode & 0o777 == mode, path.name
    plt.close("all")


def test_manifest_records_caption_source_and_merges(tmp_path, monkeypatch):
    monkeypatch.setenv("SVCRESEARCH_NOTEBOOK", "/somewhere/notebooks/06_hypotheses.ipynb")
    save_figure(_draw(), "one", width="double", caption="First figure.", folder=tmp_path)
    save_figure(_draw(), "two", formats=("png",), caption="Second.", source="07_paper.ipynb", folder=tmp_path)
    before = (tmp_path / "manifest.json").read_bytes()
    save_figure(_draw(), "one", width="double", caption="First figure.", folder=tmp_path)
    assert (tmp_path / "manifest.json").read_bytes() == before  # deterministic, merged
    data = json.loads(before)
    assert data["one"] == {"caption": "First figure.", "column": "double", "dpi": 600,
                           "files": ["one.pdf", "one.png", "one.svg"], "height_in": 2.4, "kind": "figure",
                           "source": "06_hypotheses.ipynb", "width_in": round(183 / 25.4, 4)}
    assert data["two"]["source"] == "07_paper.ipynb" and data["two"]["files"] == ["two.png"]
    plt.close("all")


def test_theme_is_not_applied_on_import_and_is_restored():
    code = ("import matplotlib as m; before = dict(m.rcParams); import svcresearch.figures; "
            "assert dict(m.rcParams) == before")
    subprocess.run([sys.executable, "-c", code], check=True)
    size = plt.rcParams["font.size"]
    with paper_theme(font_size=7):
        assert plt.rcParams["font.size"] == 7 and plt.rcParams["pdf.fonttype"] == 42
    assert plt.rcParams["font.size"] == size
    with pytest.raises(ValueError, match="`font_size`"):
        with paper_theme(font_size=12):
            pass


def test_width_must_be_a_column_name_or_inches(tmp_path):
    with pytest.raises(ValueError, match="`width` must be one of 'single', 'onehalf', 'double'"):
        save_figure(_draw(), "x", width="triple", folder=tmp_path)
    with pytest.raises(TypeError, match="`width`"):
        save_figure(_draw(), "x", width=[3], folder=tmp_path)
    plt.close("all")


# --- the plots: readable labels, one panel per scale, every plot renders ------------------------
LABELS = {"eye_contact": "Eye contact", "resolved": "Issue resolved", "empathy": "Empathy shown",
          "employee": "Employee", "smile": "Smile", "felt_valued": "Felt valued",
          "sat_overall": "Overall satisfaction", "channel": "Channel"}


def _results(with_kind=True):
    df = pd.DataFrame({
        "hypothesis": ["P1", "P2", "P2", "P3", "P4", "P5"],
        "term": ["eye_contact", "resolved", "resolved:empathy", "icc_employee", "indirect: smile[genuine]",
                 "greeting"],
        "estimate": [0.6, 1.1, 0.4, 0.05, 0.12, np.nan],
        "ci_low": [0.3, 0.8, -0.1, 0.02, 0.04, np.nan], "ci_high": [0.9, 1.4, 0.9, 0.11, 0.2, np.nan]})
    if with_kind:
        df["kind"] = ["term", "term", "interaction", "icc", "mediation", "term"]
    return df


def _svg_text(fig, tmp_path, name):
    (svg,) = save_figure(fig, name, formats=("svg",), folder=tmp_path, manifest=False)
    return svg.read_text(encoding="utf-8")


@pytest.mark.parametrize("with_kind", [True, False])
def test_forest_plot_has_one_panel_per_scale_and_readable_labels(tmp_path, with_kind):
    fig = figures.forest_plot(_results(with_kind), labels=LABELS)
    main_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_xlabel()]
    assert [ax.get_xlabel() for ax in main_axes] == [
        "Estimate (log odds), 95% CI", "Intraclass correlation (ICC), 95% CI", "Indirect effect, 95% CI"]
    text = _svg_text(fig, tmp_path, "forest")
    for shown in ("Eye contact", "Issue resolved × Empathy shown", "ICC, Employee", "P1", "P4"):
        assert shown in text, shown
    for code in ("eye_contact", "resolved:empathy", "icc_employee"):
        assert code not in text
    fi = figures.forest_plot(_results(), labels=LABELS, language="fi")
    assert fi.axes[0].get_xlabel() == "Estimaatti (log-vetosuhde), 95 %:n LV"
    plt.close("all")


def test_forest_plot_scale_column_wins_and_errors_name_columns():
    df = _results().assign(scale=["b", "b", "b", "b", "b", "b"])
    fig = figures.forest_plot(df, scale_labels={"b": "Points on the 1-7 scale"})
    assert len([ax for ax in fig.axes if ax.get_xlabel()]) == 1
    with pytest.raises(ValueError, match="missing column"):
        figures.forest_plot(df.drop(columns="ci_low"))
    with pytest.raises(ValueError, match="`language` must be one of 'en', 'fi'"):
        figures.forest_plot(df, language="sv")
    plt.close("all")


def test_every_plot_renders_to_png_at_its_width(tmp_path):
    proba = pd.DataFrame([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7]], index=["No eye contact", "Eye contact"],
                         columns=[1, 2, 3])
    long = proba.reset_index(names="scenario").melt(id_vars="scenario", var_name="category",
                                                    value_name="probability")
    slopes = pd.DataFrame({"focal": "resolved", "moderator": "empathy", "moderator_value": [0.0, 1.0],
                           "estimate": [0.5, 1.0], "ci_low": [0.2, 0.7], "ci_high": [0.8, 1.3]})
    rel = pd.DataFrame({"behaviour": ["eye_contact", "smile"], "alpha": [0.7, 0.85],
                        "alpha_ci_low": [0.6, 0.8], "alpha_ci_high": [0.8, 0.9]})
    med = pd.DataFrame({"path": ["a", "b", "total", "direct", "indirect"], "estimate": [0.8, 0.3, 0.4, 0.15, 0.24],
                        "ci_low": [0.5, 0.2, 0.2, -0.05, 0.1], "ci_high": [1.1, 0.4, 0.6, 0.35, 0.4],
                        "p_value": [1e-5, 1e-4, 0.001, 0.2, 0.001]})
    rng = np.random.default_rng(0)
    sat = pd.DataFrame({"sat_overall": rng.integers(1, 6, 200), "channel": rng.choice(["a", "b"], 200),
                        "scale": rng.normal(5, 1, 200)})
    made = {
        "forest": (figures.forest_plot(_results(), labels=LABELS), "double"),
        "proba_wide": (figures.predicted_probabilities_plot(proba), "onehalf"),
        "proba_long": (figures.predicted_probabilities_plot(long), "onehalf"),
        "slopes": (figures.simple_slopes_plot(slopes, labels=LABELS, width="single"), "single"),
        "reliability": (figures.reliability_plot(rel, labels=LABELS), "single"),
        "mediation": (figures.mediation_diagram(med, x="smile", mediator="felt_valued", outcome="sat_overall",
                                                labels=LABELS), "single"),
        "distribution": (figures.distribution_plot(sat, outcome="sat_overall", by="channel", labels=LABELS), "single"),
        "histogram": (figures.distribution_plot(sat, outcome="scale", language="fi"), "single"),
    }
    for name, (fig, width) in made.items():
        (png,) = save_figure(fig, name, width=width, formats=("png",), folder=tmp_path)
        with Image.open(png) as im:
            assert abs(im.size[0] - COLUMN_WIDTHS[width] * 600) <= 1, name
    plt.close("all")


def test_reliability_thresholds_are_labelled(tmp_path):
    rel = pd.DataFrame({"behaviour": ["eye_contact"], "alpha": [0.7]})
    text = _svg_text(figures.reliability_plot(rel, labels=LABELS), tmp_path, "rel")
    assert ".667" in text and "tentative" in text and ".800" in text and "reliable" in text
    with pytest.raises(ValueError, match="`threshold_labels` must have one label per threshold"):
        figures.reliability_plot(rel, thresholds=(0.7,), threshold_labels=("a", "b"))
    plt.close("all")


def test_predicted_probabilities_must_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        figures.predicted_probabilities_plot(pd.DataFrame({"1": [0.5], "2": [0.2]}, index=["x"]))
    plt.close("all")
