"""Journal-ready figures: one style, vector and raster files, byte-identical on every run.

Every figure the notebooks make goes through :func:`save_figure`, which writes PDF and SVG (vector,
fonts embedded as Type 42 / text) and a 300-dpi PNG, with creation dates and random ids removed so
that the same data give the same files. Each file is rendered in memory and written atomically
(temporary file + rename, the same writer as :func:`svcresearch.report.save_table`), so an
interrupted run never leaves a truncated figure behind.
"""
from __future__ import annotations

import io
from pathlib import Path

# No backend is forced: in a notebook matplotlib's inline backend shows each figure in the executed
# notebook and its HTML; in a script on a machine without a screen matplotlib falls back to Agg.
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from svcresearch import config
from svcresearch._validation import check_file_stem, check_option, check_type
from svcresearch.report import write_atomic

FORMATS = ("pdf", "svg", "png")

#: Single-column and double-column widths (inches) common to APA-style journals.
WIDTH_SINGLE = 3.5
WIDTH_DOUBLE = 7.0

_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "figure.dpi": 100,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "svcresearch",
}


def set_style() -> None:
    """Apply the toolkit's journal style to matplotlib (and seaborn, which uses it)."""
    plt.rcParams.update(_STYLE)


def save_figure(fig, name: str, *, formats: tuple[str, ...] = FORMATS, folder: Path | None = None) -> list[Path]:
    """Save ``fig`` as ``<folder>/<name>.<fmt>`` for each format, deterministically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem, e.g. ``"raw_distributions"``; letters, digits, ``-``, ``_`` and ``.`` only (the
        files stay inside ``folder``).
    formats : tuple of {"pdf", "svg", "png"}
    folder : path, optional
        Default ``reports/figures``.

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    Tested for byte-identical files on a second run, embedded TrueType fonts and editable SVG
    text (tests/test_figures.py).
    """
    check_type("fig", fig, Figure, what="a matplotlib Figure")
    check_file_stem(name)
    if isinstance(formats, str):
        formats = (formats,)
    check_type("formats", formats, (tuple, list), what="a tuple of format names")
    for fmt in formats:
        check_option("formats", fmt, FORMATS)
    folder = Path(folder) if folder is not None else config.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    metadata = {
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        "svg": {"Date": None, "Creator": None},
        "png": {"Software": None},
    }
    written = []
    with plt.rc_context(_STYLE):
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, metadata=metadata[fmt])
            write_atomic(path, buffer.getvalue())
            written.append(path)
    return written
