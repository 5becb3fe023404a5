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
    with pytest.raises(ValueError, match="`formats` must be one of 'pdf', 'svg', 'png'; got 'jpg'"):
        save_figure(_draw(), "demo", formats=("jpg",), folder=tmp_path)
    plt.close("all")
