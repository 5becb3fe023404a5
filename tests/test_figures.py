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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.pdf", "demo.png"]
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
