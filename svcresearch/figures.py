"""Journal-ready figures: a paper theme, exact column widths, vector and raster files, byte-identical.

Draw inside ``with paper_theme():`` (7-9 pt type, thin lines, the Okabe-Ito colour-blind-safe
palette cycled together with distinct markers and line styles so that series stay apart in
greyscale; ``serif=True`` for journals that ask for a serif face). Nothing is changed on import.
Save with :func:`save_figure`, which sets the figure to exactly the journal column width
(``"single"`` 89 mm, ``"onehalf"`` 140 mm, ``"double"`` 183 mm, or inches), lays it out with
matplotlib's constrained layout (never a tight bounding box, which would change the width), and
writes PDF and SVG (vector) and PNG (and optionally TIFF) at 600 dpi:

- PDF: TrueType fonts embedded as Type 42 (``/FontFile2``), no Type 3 fonts;
- SVG: text stays text (``svg.fonttype = "none"``: editable in Illustrator/Inkscape, set in the
  font named in the file, DejaVu Sans / STIX by default); ``svg_text="paths"`` draws glyphs as
  paths instead (exact look, not editable);
- PNG/TIFF: the dpi is recorded in the file (PNG ``pHYs``, TIFF resolution tags);
- no creation dates, tool versions or random ids, so the same figure gives the same bytes.

Every file is written atomically and follows the user's umask
(:func:`svcresearch.report.write_atomic`). Each save records the figure in
``<folder>/manifest.json`` (caption, source notebook, files; see
:func:`svcresearch.report.update_manifest`), which the report index reads.

The plot functions (:func:`forest_plot`, :func:`predicted_probabilities_plot`,
:func:`simple_slopes_plot`, :func:`reliability_plot`, :func:`mediation_diagram`,
:func:`distribution_plot`) take tidy result tables, ``labels=`` (variable/term -> readable label,
see :func:`svcresearch.labels.labels_from_codebook`) and ``language="en" | "fi"``, and return the
Figure. They hold no study-specific names.
"""
from __future__ import annotations

import contextlib
import io
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# No backend is forced: in a notebook matplotlib's inline backend shows each figure in the executed
# notebook and its HTML; in a script on a machine without a screen matplotlib falls back to Agg.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.figure import Figure

from svcresearch import config
from svcresearch._validation import check_dataframe, check_file_stem, check_number, check_option, check_type
from svcresearch.labels import WORDS, check_labels, check_language, label_term, labels_from_codebook
from svcresearch.report import (SCALE_LABELS, current_source, format_ci, format_number, result_scales,
                                update_manifest, write_atomic)

__all__ = [
    "FORMATS", "ALL_FORMATS", "WIDTH_SINGLE", "WIDTH_ONEHALF", "WIDTH_DOUBLE", "COLUMN_WIDTHS", "OKABE_ITO",
    "MARKERS", "LINESTYLES", "paper_theme", "theme_rc", "set_style", "save_figure", "forest_plot",
    "predicted_probabilities_plot", "simple_slopes_plot", "reliability_plot", "mediation_diagram",
    "distribution_plot", "labels_from_codebook",
]

#: Formats written by default; ``"tiff"`` can be added.
FORMATS = ("pdf", "svg", "png")
ALL_FORMATS = ("pdf", "svg", "png", "tiff")

_MM = 1 / 25.4
#: Column widths (inches) of Elsevier/Springer/APA journals: 89 mm, 140 mm and 183 mm.
WIDTH_SINGLE = 89 * _MM
WIDTH_ONEHALF = 140 * _MM
WIDTH_DOUBLE = 183 * _MM
COLUMN_WIDTHS = {"single": WIDTH_SINGLE, "onehalf": WIDTH_ONEHALF, "double": WIDTH_DOUBLE}

#: Okabe & Ito (2008) colour-blind-safe palette, ordered so that neighbours differ in lightness too.
OKABE_ITO = ("#000000", "#E69F00", "#0072B2", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442")
#: Markers and line styles cycled with the colours (series stay distinct in greyscale).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)), (0, (8, 2)))
_HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++", "oo", "--")

_SAVE_RC = {
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "svcresearch",
    "savefig.bbox": None,
    "savefig.pad_inches": 0.0,
    "savefig.transparent": False,
    "savefig.facecolor": "white",
    "path.simplify": True,
}

_ACTIVE = [0]  # depth of active paper_theme contexts (plot functions then keep the caller's theme)
_GLOBAL = [False]  # set_style() applied the theme globally


def theme_rc(*, serif: bool = False, font_size: float = 8.0) -> dict[str, Any]:
    """The paper theme's matplotlib rcParams (see :func:`paper_theme`)."""
    check_type("serif", serif, bool)
    check_number("font_size", font_size, low=7, high=9)
    rc = {
        "font.family": "serif" if serif else "sans-serif",
        "font.sans-serif": ["DejaVu Sans"],
        "font.serif": ["STIXGeneral", "DejaVu Serif"],
        "mathtext.fontset": "stix" if serif else "dejavusans",
        "font.size": font_size,
        "axes.titlesize": font_size + 1 if font_size < 9 else font_size,
        "axes.titleweight": "normal",
        "axes.labelsize": font_size,
        "xtick.labelsize": font_size - 1 if font_size > 7 else font_size,
        "ytick.labelsize": font_size - 1 if font_size > 7 else font_size,
        "legend.fontsize": font_size - 1 if font_size > 7 else font_size,
        "legend.title_fontsize": font_size,
        "legend.frameon": False,
        "figure.titlesize": font_size + 1 if font_size < 9 else font_size,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.5,
        "axes.edgecolor": "0.15",
        "axes.labelcolor": "0.0",
        "axes.titlepad": 4.0,
        "axes.prop_cycle": cycler(color=list(OKABE_ITO)) + cycler(marker=list(MARKERS))
        + cycler(linestyle=list(LINESTYLES)),
        "xtick.major.width": 0.5,
        "ytick.major.width": 0.5,
        "xtick.major.size": 2.5,
        "ytick.major.size": 2.5,
        "xtick.color": "0.15",
        "ytick.color": "0.15",
        "lines.linewidth": 0.9,
        "lines.markersize": 3.5,
        "patch.linewidth": 0.5,
        "hatch.linewidth": 0.5,
        "errorbar.capsize": 0,
        "grid.linewidth": 0.4,
        "grid.color": "0.85",
        "figure.dpi": 150,
        "figure.constrained_layout.use": True,
        "savefig.dpi": 600,
        **_SAVE_RC,
    }
    return rc


@contextlib.contextmanager
def paper_theme(serif: bool = False, *, font_size: float = 8.0):
    """Context manager applying the paper theme to the figures created inside it.

    Parameters
    ----------
    serif : bool
        STIX (a Times-like face shipped with matplotlib) instead of DejaVu Sans.
    font_size : float
        Base size in points, 7 to 9 (tick labels and legends one point smaller, titles one larger).

    Examples
    --------
    >>> with paper_theme():
    ...     fig = forest_plot(results, labels=labels)
    ...     save_figure(fig, "hypotheses_forest", width="double")

    Notes
    -----
    The fonts ship with matplotlib, so the files are the same on every machine. Colours are the
    Okabe-Ito palette, cycled with markers and line styles (greyscale-safe).
    """
    _ACTIVE[0] += 1
    try:
        with plt.rc_context(theme_rc(serif=serif, font_size=font_size)):
            yield
    finally:
        _ACTIVE[0] -= 1


def set_style(serif: bool = False) -> None:
    """Apply the paper theme globally (for notebooks that style every figure; prefer :func:`paper_theme`).

    Unlike :func:`paper_theme` it does not switch every new figure to constrained layout, so
    existing code that calls ``fig.tight_layout()`` runs without warnings; :func:`save_figure`
    lays each figure out with constrained layout anyway.
    """
    rc = theme_rc(serif=serif)
    rc.pop("figure.constrained_layout.use")
    plt.rcParams.update(rc)
    _GLOBAL[0] = True


@contextlib.contextmanager
def _theme(serif: bool | None):
    """The caller's theme when one is active and ``serif`` is None; else the paper theme."""
    if serif is None and (_ACTIVE[0] > 0 or _GLOBAL[0]):
        yield
    else:
        with paper_theme(serif=bool(serif)):
            yield


def _resolve_width(width: Any, *, name: str = "width") -> float:
    if isinstance(width, str):
        check_option(name, width, tuple(COLUMN_WIDTHS))
        return COLUMN_WIDTHS[width]
    check_number(name, width, low=1.0, high=20.0)
    return float(width)


def _column_name(width_in: float) -> str | None:
    for key, value in COLUMN_WIDTHS.items():
        if abs(value - width_in) < 1e-6:
            return key
    return None


def save_figure(fig, name: str, *, width: str | float | None = None, height: float | None = None,
                formats: Sequence[str] = FORMATS, folder: str | Path | None = None, dpi: int = 600,
                caption: str | None = None, source: str | None = None, svg_text: str = "text",
                manifest: bool = True) -> list[Path]:
    """Save ``fig`` as ``<folder>/<name>.<fmt>`` at an exact physical size, deterministically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    name : str
        File stem, e.g. ``"hypotheses_forest"``; letters, digits, ``-``, ``_`` and ``.`` only (the
        files stay inside ``folder``).
    width : {"single", "onehalf", "double"} or float, optional
        Column width (89 / 140 / 183 mm) or inches. Default: the figure's current width.
    height : float, optional
        Inches; default the figure's current height.
    formats : sequence of {"pdf", "svg", "png", "tiff"}
    folder : path, optional
        Default :func:`svcresearch.config.figures_dir` (``reports/figures``).
    dpi : int, default 600
        Resolution of PNG and TIFF (recorded in the files); at least 300.
    caption : str, optional
        Figure caption for the manifest (and the report index).
    source : str, optional
        Producing notebook for the manifest; default ``$SVCRESEARCH_NOTEBOOK`` (set by the
        notebook runner), then ``$JPY_SESSION_NAME`` (JupyterLab), else none.
    svg_text : {"text", "paths"}
        SVG text as ``<text>`` elements (editable; default) or as glyph paths.
    manifest : bool, default True
        Record the figure in ``<folder>/manifest.json``.

    Returns
    -------
    list of Path
        The files written, in the order of ``formats`` (the manifest not included).

    Notes
    -----
    The figure is resized in place to ``width`` x ``height`` and laid out by constrained layout
    (a figure made with another layout engine or none is switched to it when matplotlib allows);
    files are saved without ``bbox_inches="tight"``, so their size is exactly the declared one.
    Tested (tests/test_figures.py): PDF MediaBox width equals the column width to 0.01 in, fonts
    embedded as ``/FontFile2`` with no Type 3 font, PNG dpi read back by Pillow, byte-identical
    files on a second save, file modes follow the umask.
    """
    check_type("fig", fig, Figure, what="a matplotlib Figure")
    check_file_stem(name)
    if isinstance(formats, str):
        formats = (formats,)
    check_type("formats", formats, (tuple, list), what="a tuple of format names")
    for fmt in formats:
        check_option("formats", fmt, ALL_FORMATS)
    check_number("dpi", dpi, low=300, high=2400, integer=True)
    check_option("svg_text", svg_text, ("text", "paths"))
    if caption is not None:
        check_type("caption", caption, str)
    w_now, h_now = fig.get_size_inches()
    w = _resolve_width(width) if width is not None else float(w_now)
    h = float(h_now) if height is None else float(check_number("height", height, low=0.5, high=30.0))
    folder = Path(folder) if folder is not None else config.figures_dir()
    folder.mkdir(parents=True, exist_ok=True)

    fig.set_size_inches(w, h, forward=True)
    engine = fig.get_layout_engine()
    if engine is None or type(engine).__name__ != "ConstrainedLayoutEngine":
        try:
            fig.set_layout_engine("constrained")
        except RuntimeError:  # e.g. colorbars laid out by another engine: keep it
            pass
    metadata = {
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
        "svg": {"Date": None, "Creator": None},
        "png": {"Software": None},
        "tiff": None,
    }
    rc = dict(_SAVE_RC, **{"svg.fonttype": "none" if svg_text == "text" else "path"})
    written = []
    with plt.rc_context(rc):
        for fmt in formats:
            path = folder / f"{name}.{fmt}"
            buffer = io.BytesIO()
            kwargs: dict[str, Any] = {"format": fmt, "bbox_inches": None}
            if metadata[fmt] is not None:
                kwargs["metadata"] = metadata[fmt]
            if fmt in ("png", "tiff"):
                kwargs["dpi"] = dpi
            if fmt == "tiff":
                kwargs["pil_kwargs"] = {"compression": "tiff_lzw"}
            fig.savefig(buffer, **kwargs)
            write_atomic(path, buffer.getvalue())
            written.append(path)
    if manifest:
        update_manifest(folder, name, {
            "kind": "figure", "files": sorted(p.name for p in written), "caption": caption,
            "source": current_source(source), "width_in": round(w, 4), "height_in": round(h, 4),
            "column": _column_name(w), "dpi": dpi})
    return written


# ----------------------------------------------------------------------------------------------
# Shared pieces of the plots
# ----------------------------------------------------------------------------------------------
_WORDS = {
    "en": {"estimate": "Estimate", "log_odds": "Estimate (log odds)", "coefficient": "Estimate (b)",
           "icc": "Intraclass correlation (ICC)",
           "indirect": "Indirect effect", "ci": "{c}% CI", "probability": "Predicted probability",
           "category": "Rating", "slope": "Simple slope", "slope_of": "Slope of {x}", "share": "Share",
           "count": "Count", "tentative": "tentative", "reliable": "reliable", "at": "at",
           "indirect_effect": "Indirect effect", "direct": "direct", "total": "total"},
    "fi": {"estimate": "Estimaatti", "log_odds": "Estimaatti (log-vetosuhde)", "coefficient": "Estimaatti (b)",
           "icc": "Sisäkorrelaatio (ICC)",
           "indirect": "Epäsuora vaikutus", "ci": "{c} %:n LV", "probability": "Ennustettu todennäköisyys",
           "category": "Arvio", "slope": "Yksinkertainen kulmakerroin", "slope_of": "Muuttujan {x} kulmakerroin",
           "share": "Osuus", "count": "Lukumäärä", "tentative": "alustava", "reliable": "luotettava",
           "at": "kun", "indirect_effect": "Epäsuora vaikutus", "direct": "suora", "total": "kokonais"},
}


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width=width, break_long_words=False)) or str(text)


def _columns(data: pd.DataFrame, name: str, **columns: str) -> None:
    check_dataframe(name, data, columns=list(columns.values()))


def _new_figure(width: Any, height: float, **kwargs) -> tuple[Figure, Any]:
    w = _resolve_width(width)
    check_number("height", height, low=0.5, high=30.0)
    fig = plt.figure(figsize=(w, height), layout="constrained")
    return fig, kwargs


def _ci_label(language: str, confidence: float) -> str:
    c = f"{confidence * 100:g}"
    return _WORDS[language]["ci"].format(c=c.replace(".", ",") if language == "fi" else c)


# ----------------------------------------------------------------------------------------------
# Forest plot of claims, one panel per scale
# ----------------------------------------------------------------------------------------------
def forest_plot(data: pd.DataFrame, *, hypothesis: str = "hypothesis", term: str = "term",
                estimate: str = "estimate", ci_low: str = "ci_low", ci_high: str = "ci_high",
                scale: str = "scale", kind: str = "kind", labels: Mapping[str, str] | None = None,
                language: str = "en", scale_labels: Mapping[str, str] | None = None,
                confidence: float = 0.95, width: str | float = "double", height: float | None = None,
                serif: bool | None = None) -> Figure:
    """Forest plot of tested claims, grouped by hypothesis, one panel per scale.

    Parameters
    ----------
    data : pandas.DataFrame
        Results, one row per estimate (e.g. :func:`svcresearch.hypotheses.run_hypotheses`): the
        columns named by ``hypothesis, term, estimate, ci_low, ci_high``. Rows without a finite
        estimate (not testable) are left out.
    scale, kind : str
        Column giving each row's scale (used as is) or kind (``term``/``contrast``/
        ``interaction`` -> log odds, ``icc`` -> ICC, ``mediation`` -> indirect effect); without
        either the scale is read from the term (see :func:`svcresearch.report.result_scales`).
        Each scale gets its own panel and x axis: scales are never mixed on one axis.
    labels : mapping, optional
        Term -> readable label (:func:`labels_from_codebook`); other terms are humanised.
    language : {"en", "fi"}
    scale_labels : mapping, optional
        Scale key -> axis label, overriding the defaults ("Estimate (log odds)", "Intraclass
        correlation (ICC)", "Indirect effect").
    confidence : float
        Coverage of the intervals (axis label only).
    width : {"single", "onehalf", "double"} or float
    height : float, optional
        Inches; default grows with the number of rows.
    serif : bool, optional
        Theme face; None keeps an active :func:`paper_theme` (else the sans-serif theme).

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Filled markers: the interval excludes the reference (0; for ICC no reference line); open
    markers: it includes it. Hypotheses alternate on light grey bands. Rendered on synthetic
    results and inspected (tests/test_figures.py renders it).
    """
    _columns(data, "data", hypothesis=hypothesis, term=term, estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    check_language(language)
    labels = check_labels(labels)
    scales = result_scales(data, scale=scale, kind=kind, term=term)
    rows = data.assign(_scale=scales.to_numpy())
    rows = rows.loc[np.isfinite(pd.to_numeric(rows[estimate], errors="coerce").astype(float))]
    if rows.empty:
        raise ValueError("`data` has no row with a finite estimate to plot.")
    order = list(dict.fromkeys(["log_odds", *rows["_scale"].tolist()]))
    order = [s for s in order if s in set(rows["_scale"])]
    words = _WORDS[language]
    axis_labels = {"log_odds": words["log_odds"], "icc": words["icc"], "indirect": words["indirect"],
                   "b": words["coefficient"]}
    axis_labels.update(scale_labels or {})
    counts = [int((rows["_scale"] == s).sum()) for s in order]
    if height is None:
        height = min(9.0, 0.55 + sum(0.16 * n + 0.45 for n in counts))
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        axes = fig.subplots(len(order), 1, gridspec_kw={"height_ratios": [n + 1.2 for n in counts]},
                            squeeze=False)[:, 0]
        for ax, key in zip(axes, order):
            part = rows.loc[rows["_scale"] == key].reset_index(drop=True)
            hyps = list(dict.fromkeys(part[hypothesis].astype(str)))
            ypos, y, bands, ticks, groups = [], 0.0, [], [], []
            for i, h in enumerate(hyps):
                members = part.index[part[hypothesis].astype(str) == h].tolist()
                start = y
                for k, idx in enumerate(members):
                    # the hypothesis id once per group; a wrapped label gets the room of its lines
                    text = _wrap(label_term(part.loc[idx, term], labels, language=language), 56)
                    lines = text.count("\n") + 1
                    y -= 0.3 * (lines - 1)
                    ypos.append((idx, y))
                    ticks.append((y, text))
                    y -= 1.0 + 0.3 * (lines - 1)
                bands.append((start + 0.5, y + 0.5, i % 2 == 0))
                groups.append(((start + y + 1.0) / 2, h))
                y -= 0.35
            for top, bottom, shade in bands:
                if shade:
                    ax.axhspan(bottom, top, color="0.94", lw=0, zorder=0)
            reference = None if key == "icc" else 0.0
            if reference is not None:
                ax.axvline(reference, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
            for idx, yy in ypos:
                est = float(part.loc[idx, estimate])
                lo, hi = float(part.loc[idx, ci_low]), float(part.loc[idx, ci_high])
                ax.plot([lo, hi], [yy, yy], color="0.1", lw=0.9, marker="", ls="-", zorder=2)
                excludes = reference is None or not (lo <= reference <= hi)
                ax.plot([est], [yy], marker="o", ms=4, color="0.1", mfc="0.1" if excludes else "white",
                        mew=0.8, ls="", zorder=3)
            ax.set_yticks([t for t, _ in ticks], [text for _, text in ticks])
            ax.tick_params(axis="y", length=0)
            ax.spines["left"].set_visible(False)
            ids = ax.secondary_yaxis("right")  # hypothesis ids, one per group, at the group's centre
            ids.set_yticks([c for c, _ in groups], [h for _, h in groups])
            ids.tick_params(axis="y", length=0)
            ids.spines["right"].set_visible(False)
            ax.set_ylim(y + 0.35 + 0.5 - 0.3, 0.8)
            ax.set_xlabel(f"{axis_labels.get(key, key)}, {_ci_label(language, confidence)}")
            if key == "icc":
                ax.set_xlim(left=0.0)
    return fig


# ----------------------------------------------------------------------------------------------
# Predicted category probabilities
# ----------------------------------------------------------------------------------------------
def predicted_probabilities_plot(data: pd.DataFrame, *, scenario: str = "scenario", category: str = "category",
                                 probability: str = "probability", labels: Mapping[str, str] | None = None,
                                 language: str = "en", category_label: str | None = None,
                                 width: str | float = "onehalf", height: float | None = None,
                                 serif: bool | None = None) -> Figure:
    """Stacked bars of predicted outcome-category probabilities, one bar per scenario (behaviour).

    Parameters
    ----------
    data : pandas.DataFrame
        Long: one row per scenario and category with the columns ``scenario, category,
        probability``; or wide, as :meth:`OrdinalResult.predict_proba` returns it (index =
        scenario, one column per category), recognised when ``probability`` is not a column.
    labels : mapping, optional
        Scenario -> label (scenarios not in it are humanised).
    language : {"en", "fi"}
    category_label : str, optional
        Legend title (default "Rating" / "Arvio").
    width, height, serif
        As in :func:`forest_plot`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Categories in their order (categorical order, else as they first appear) from light to dark
    blue (lightness alone tells them apart in greyscale); shares of 8% or more are printed in the
    bars. Each bar sums to 1 when the probabilities do (checked to 1e-6; otherwise ValueError).
    """
    check_type("data", data, pd.DataFrame, what="a pandas DataFrame")
    check_language(language)
    labels = check_labels(labels)
    if probability in data.columns:
        _columns(data, "data", scenario=scenario, category=category, probability=probability)
        wide = data.pivot_table(index=scenario, columns=category, values=probability, sort=False, observed=True)
        if isinstance(data[category].dtype, pd.CategoricalDtype):
            wide = wide[[c for c in data[category].cat.categories if c in wide.columns]]
        wide = wide.reindex(list(dict.fromkeys(data[scenario])))
    else:
        wide = data.copy()
        if not all(pd.api.types.is_numeric_dtype(wide[c].dtype) for c in wide.columns):
            raise ValueError(f"`data` must be long (columns {scenario!r}, {category!r}, {probability!r}) or wide "
                             f"(one numeric column per category); it has {list(data.columns)}.")
    totals = wide.sum(axis=1).to_numpy(dtype=float)
    if not np.allclose(totals, 1.0, atol=1e-6):
        raise ValueError(f"`data`: the probabilities of each scenario must sum to 1; got sums {np.round(totals, 4).tolist()}.")
    words = _WORDS[language]
    n_cat = wide.shape[1]
    if height is None:
        height = 0.9 + 0.28 * len(wide)
    colours = plt.get_cmap("Blues")(np.linspace(0.18, 0.92, n_cat))
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        ax = fig.add_subplot()
        ypos = np.arange(len(wide))[::-1]
        left = np.zeros(len(wide))
        names = [_wrap(label_term(s, labels, language=language), 34) for s in wide.index]
        for j, (colour, cat) in enumerate(zip(colours, wide.columns)):
            values = wide[cat].to_numpy(dtype=float)
            ax.barh(ypos, values, left=left, color=colour, edgecolor="white", linewidth=0.4, height=0.72,
                    label=str(cat))
            lum = 0.2126 * colour[0] + 0.7152 * colour[1] + 0.0722 * colour[2]
            for y, l, v in zip(ypos, left, values):
                if v >= 0.08:
                    text = format_number(100 * v, decimals=0, language=language)
                    ax.text(l + v / 2, y, text, ha="center", va="center", fontsize="x-small",
                            color="white" if lum < 0.5 else "black")
            left += values
        ax.set_yticks(ypos, names)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(
            lambda v, _: format_number(100 * v, decimals=0, language=language) + (" %" if language == "fi" else "%")))
        ax.set_xlabel(words["probability"])
        ax.legend(title=category_label or words["category"], ncol=n_cat, loc="lower center",
                  bbox_to_anchor=(0.5, 1.0), handlelength=1.2, columnspacing=0.9, borderaxespad=0.2)
    return fig


# ----------------------------------------------------------------------------------------------
# Simple slopes
# ----------------------------------------------------------------------------------------------
def simple_slopes_plot(data: pd.DataFrame, *, focal: str = "focal", moderator: str = "moderator",
                       moderator_value: str = "moderator_value", estimate: str = "estimate",
                       ci_low: str = "ci_low", ci_high: str = "ci_high", labels: Mapping[str, str] | None = None,
                       language: str = "en", value_labels: Mapping[Any, str] | None = None,
                       ylabel: str | None = None, confidence: float = 0.95, width: str | float = "double",
                       height: float = 2.2, serif: bool | None = None) -> Figure:
    """Simple slopes of a focal predictor at values of a moderator, one panel per pair.

    Parameters
    ----------
    data : pandas.DataFrame
        :func:`svcresearch.effects.simple_slopes` output (several pairs may be concatenated):
        ``focal, moderator, moderator_value, estimate, ci_low, ci_high``.
    labels : mapping, optional
        Variable -> label for the panel titles and x axes.
    language : {"en", "fi"}
    value_labels : mapping, optional
        Moderator value -> tick label; default 0/1 -> no/yes (ei/kyllä), others as numbers.
    ylabel : str, optional
        Default "Simple slope (log odds), 95% CI".
    confidence, width, height, serif
        As in :func:`forest_plot`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The panels share the y axis (same scale); a dashed line marks zero.
    """
    _columns(data, "data", focal=focal, moderator=moderator, moderator_value=moderator_value,
             estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    check_language(language)
    labels = check_labels(labels)
    if data.empty:
        raise ValueError("`data` has no rows to plot.")
    words = _WORDS[language]
    pairs = list(dict.fromkeys(zip(data[focal].astype(str), data[moderator].astype(str))))
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        axes = fig.subplots(1, len(pairs), sharey=True, squeeze=False)[0]
        for ax, (f, m) in zip(axes, pairs):
            part = data.loc[(data[focal].astype(str) == f) & (data[moderator].astype(str) == m)]
            values = part[moderator_value].astype(float).to_numpy()
            x = np.arange(len(values))
            est = part[estimate].astype(float).to_numpy()
            err = [est - part[ci_low].astype(float).to_numpy(), part[ci_high].astype(float).to_numpy() - est]
            ax.axhline(0, color="0.45", lw=0.6, ls=(0, (3, 2)), zorder=1)
            ax.errorbar(x, est, yerr=err, fmt="o-", color="0.1", ms=4, lw=0.9, elinewidth=0.9, capsize=2, zorder=2)

            def tick(v):
                if value_labels is not None and v in value_labels:
                    return str(value_labels[v])
                if v in (0.0, 1.0):
                    return WORDS[language]["yes" if v == 1.0 else "no"]
                return format_number(v, decimals=2, language=language)

            ax.set_xticks(x, [tick(v) for v in values])
            ax.set_xlim(-0.5, len(values) - 0.5)
            ax.set_xlabel(_wrap(label_term(m, labels, language=language), 30))
            focal_label = label_term(f, labels, language=language)
            if language == "en" and not focal_label[1:2].isupper():
                focal_label = focal_label[:1].lower() + focal_label[1:]
            ax.set_title(_wrap(words["slope_of"].format(x=focal_label), 34))
        axes[0].set_ylabel(ylabel or f"{words['slope']} ({SCALE_LABELS[language]['log_odds'].lower()}),\n"
                                     f"{_ci_label(language, confidence)}")
    return fig


# ----------------------------------------------------------------------------------------------
# Reliability with labelled thresholds
# ----------------------------------------------------------------------------------------------
def reliability_plot(data: pd.DataFrame, *, item: str = "behaviour", estimate: str = "alpha",
                     ci_low: str | None = None, ci_high: str | None = None,
                     thresholds: Sequence[float] = (0.667, 0.800),
                     threshold_labels: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                     language: str = "en", xlabel: str | None = None, confidence: float = 0.95,
                     width: str | float = "single", height: float | None = None,
                     serif: bool | None = None) -> Figure:
    """Reliability coefficient per item with its interval and labelled threshold lines.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per item, e.g. :func:`svcresearch.reliability.reliability_table` output.
    item, estimate : str
        Columns of the item name and the coefficient (default Krippendorff's ``alpha``).
    ci_low, ci_high : str, optional
        Interval columns; default ``<estimate>_ci_low`` / ``<estimate>_ci_high`` when present.
    thresholds : sequence of float
        Reference lines, default Krippendorff's (2004) .667 and .800.
    threshold_labels : sequence of str, optional
        Their labels; default ".667 tentative" / ".800 reliable" (".667" and ".800" when other
        thresholds are given).
    labels, language, xlabel, confidence, width, height, serif
        As in :func:`forest_plot`; ``xlabel`` defaults to "Krippendorff's α, 95% CI" for alpha.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Items sorted from lowest to highest coefficient (highest on top). Rendered and inspected.
    """
    ci_low = ci_low or (f"{estimate}_ci_low" if f"{estimate}_ci_low" in getattr(data, "columns", []) else None)
    ci_high = ci_high or (f"{estimate}_ci_high" if f"{estimate}_ci_high" in getattr(data, "columns", []) else None)
    needed = {"item": item, "estimate": estimate}
    if ci_low and ci_high:
        needed |= {"ci_low": ci_low, "ci_high": ci_high}
    _columns(data, "data", **needed)
    check_language(language)
    labels = check_labels(labels)
    thresholds = [float(check_number("thresholds", t, low=-1.0, high=1.0)) for t in thresholds]
    words = _WORDS[language]
    if threshold_labels is None:
        default = [0.667, 0.8]
        names = [words["tentative"], words["reliable"]]
        threshold_labels = [
            format_number(t, decimals=3, leading_zero=False, language=language)
            + (f"\n{names[default.index(round(t, 3))]}" if round(t, 3) in default else "")
            for t in thresholds]
    if len(threshold_labels) != len(thresholds):
        raise ValueError(f"`threshold_labels` must have one label per threshold ({len(thresholds)}); "
                         f"got {len(threshold_labels)}.")
    rows = data.loc[pd.to_numeric(data[estimate], errors="coerce").notna()].copy()
    rows = rows.sort_values(estimate, kind="mergesort").reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"`data` has no finite {estimate!r} to plot.")
    if height is None:
        height = 0.95 + 0.2 * len(rows)
    stat_names = {"alpha": "Krippendorff's \u03b1" if language == "en" else "Krippendorffin \u03b1",
                  "kappa": "\u03ba", "ac1": "AC1", "percent_agreement": words["share"]}
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        ax = fig.add_subplot()
        y = np.arange(len(rows))
        est = rows[estimate].astype(float).to_numpy()
        if ci_low and ci_high:
            lo = rows[ci_low].astype(float).to_numpy()
            hi = rows[ci_high].astype(float).to_numpy()
            ax.hlines(y, lo, hi, color="0.1", lw=0.9, zorder=2)
            low_edge = np.nanmin(np.r_[lo, est])
        else:
            low_edge = np.nanmin(est)
        ax.plot(est, y, "o", color="0.1", ms=3.5, ls="", zorder=3)
        order = np.argsort(thresholds)
        for rank, k in enumerate(order):
            t, text = thresholds[k], threshold_labels[k]
            ax.axvline(t, color="0.4", lw=0.6, ls=[(0, (3, 2)), "-", ":", "-."][k % 4], zorder=1)
            # labels of neighbouring lines point away from each other so they cannot overlap
            ha = "center" if len(order) == 1 else "right" if rank == 0 else "left" if rank == len(order) - 1 else "center"
            offset = {"right": -2, "left": 2, "center": 0}[ha]
            ax.annotate(text, (t, 1.0), xycoords=ax.get_xaxis_transform(), xytext=(offset, 2),
                        textcoords="offset points", ha=ha, va="bottom", fontsize="x-small", color="0.25",
                        linespacing=1.0, multialignment=ha if ha != "center" else "center")
        ax.set_yticks(y, [_wrap(label_term(v, labels, language=language), 28) for v in rows[item]])
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set_xlim(min(0.0, float(np.floor(low_edge * 10) / 10)), 1.0)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(
            lambda v, _: format_number(v, decimals=0, language=language) if abs(v - round(v)) < 1e-9
            else format_number(v, decimals=1, leading_zero=False, language=language)))
        ax.set_xlabel(xlabel or f"{stat_names.get(estimate, label_term(estimate))}, {_ci_label(language, confidence)}")
    return fig


# ----------------------------------------------------------------------------------------------
# Mediation path diagram
# ----------------------------------------------------------------------------------------------
def mediation_diagram(data: pd.DataFrame, *, x: str, mediator: str, outcome: str, path: str = "path",
                      estimate: str = "estimate", ci_low: str = "ci_low", ci_high: str = "ci_high",
                      p_value: str = "p_value", labels: Mapping[str, str] | None = None, language: str = "en",
                      decimals: int = 2, confidence: float = 0.95, width: str | float = "single",
                      height: float = 2.0, serif: bool | None = None) -> Figure:
    """Path diagram X -> M -> Y with the a, b, c' (and c) coefficients and the indirect effect.

    Parameters
    ----------
    data : pandas.DataFrame
        :func:`svcresearch.mediation.mediation` output: rows ``path`` = ``a``, ``b``, ``direct``
        (c'), ``total`` (c, optional) and ``indirect`` with ``estimate, ci_low, ci_high``
        (``p_value`` optional).
    x, mediator, outcome : str
        Variable names (or labels) of the boxes.
    labels, language, decimals, confidence, width, height, serif
        As in :func:`forest_plot`.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Coefficients are written APA style (``a = 0.45*``, stars for p < .05 / .01 / .001 when p is
    given); the indirect effect with its interval is printed under the diagram. Rendered and
    inspected.
    """
    _columns(data, "data", path=path, estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    check_language(language)
    labels = check_labels(labels)
    table = data.set_index(data[path].astype(str))
    for needed in ("a", "b", "direct", "indirect"):
        if needed not in table.index:
            raise ValueError(f"`data` has no {needed!r} row in column {path!r}; it has {list(table.index)}.")
    words = _WORDS[language]

    def coef(key):
        v = float(table.loc[key, estimate])
        text = format_number(v, decimals=decimals, language=language).replace("-", "\u2212")
        if p_value in table.columns and pd.notna(table.loc[key, p_value]):
            p = float(table.loc[key, p_value])
            text += "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""
        return text

    ind = table.loc["indirect"]
    ind_text = (f"{words['indirect_effect']} ab = "
                f"{format_number(float(ind[estimate]), decimals=decimals, language=language)}, "
                f"{_ci_label(language, confidence)} "
                f"{format_ci(float(ind[ci_low]), float(ind[ci_high]), decimals=decimals, language=language)}"
                ).replace("-", "\u2212")
    direct = f"c\u2032 = {coef('direct')}"
    if "total" in table.index:
        direct += f" (c = {coef('total')})"
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        box = {"boxstyle": "round,pad=0.4,rounding_size=0.1", "facecolor": "white", "edgecolor": "0.1",
               "linewidth": 0.7}
        pos = {"x": (0.14, 0.36), "m": (0.5, 0.83), "y": (0.86, 0.36)}
        texts = {k: _wrap(label_term(v, labels, language=language), 16)
                 for k, v in (("x", x), ("m", mediator), ("y", outcome))}
        # X hugs the left edge and Y the right edge, so long labels (Finnish compounds) stay inside.
        pos = {"x": (0.015, pos["x"][1]), "m": pos["m"], "y": (0.985, pos["y"][1])}
        align = {"x": "left", "m": "center", "y": "right"}
        boxes = {key: ax.text(px, py, texts[key], ha=align[key], va="center", bbox=box, zorder=3,
                              multialignment="center")
                 for key, (px, py) in pos.items()}
        fig.canvas.draw()  # the boxes must exist before the arrows are clipped to them
        inv = ax.transAxes.inverted()
        ext = {k: inv.transform(t.get_bbox_patch().get_window_extent()) for k, t in boxes.items()}
        pos = {k: ((e[0][0] + e[1][0]) / 2, pos[k][1]) for k, e in ext.items()}
        for a, b in (("x", "m"), ("m", "y"), ("x", "y")):
            ax.annotate("", xy=pos[b], xytext=pos[a], zorder=2, arrowprops={
                "arrowstyle": "-|>", "color": "0.1", "lw": 0.8, "mutation_scale": 7, "shrinkA": 1.5,
                "shrinkB": 1.5, "patchA": boxes[a].get_bbox_patch(), "patchB": boxes[b].get_bbox_patch()})
        mid_a = ((pos["x"][0] + pos["m"][0]) / 2, (pos["x"][1] + pos["m"][1]) / 2)
        mid_b = ((pos["m"][0] + pos["y"][0]) / 2, (pos["m"][1] + pos["y"][1]) / 2)
        ax.annotate(f"a = {coef('a')}", mid_a, xytext=(-5, 3), textcoords="offset points", ha="right", va="bottom")
        ax.annotate(f"b = {coef('b')}", mid_b, xytext=(5, 3), textcoords="offset points", ha="left", va="bottom")
        gap_centre = (ext["x"][1][0] + ext["y"][0][0]) / 2
        ax.annotate(direct, (gap_centre, pos["x"][1]), xytext=(0, -4), textcoords="offset points", ha="center",
                    va="top")
        stars = ("*p < 0,05. **p < 0,01. ***p < 0,001." if language == "fi" else "*p < .05. **p < .01. ***p < .001.")
        has_p = p_value in table.columns and table[p_value].notna().any()
        ax.text(0.5, 0.0, ind_text + (f"\n{stars}" if has_p else ""), ha="center", va="bottom",
                fontsize="small", linespacing=1.3)
    return fig


# ----------------------------------------------------------------------------------------------
# Outcome distribution
# ----------------------------------------------------------------------------------------------
def distribution_plot(data: pd.DataFrame, *, outcome: str, by: str | None = None,
                      labels: Mapping[str, str] | None = None, language: str = "en",
                      levels: Sequence[Any] | None = None, max_levels: int = 11, share: bool = True,
                      width: str | float = "single", height: float = 2.0, serif: bool | None = None) -> Figure:
    """Distribution of an outcome (e.g. satisfaction): bars per rating, optionally by group.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent.
    outcome : str
        Outcome column. With at most ``max_levels`` distinct values (a rating scale) each value
        gets a bar; otherwise a histogram.
    by : str, optional
        Grouping column: side-by-side bars (Okabe-Ito colours plus hatching, greyscale-safe).
    labels : mapping, optional
        Variable / ``var[level]`` -> label for the axis and the legend.
    language : {"en", "fi"}
    levels : sequence, optional
        Rating values to show (default: categorical order or the sorted observed values), so that
        an unused category still gets a (zero) bar.
    max_levels : int
    share : bool
        Bars show shares of each group's non-missing values (default) or counts.
    width, height, serif
        As in :func:`forest_plot`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _columns(data, "data", outcome=outcome, **({"by": by} if by is not None else {}))
    check_language(language)
    labels = check_labels(labels)
    check_number("max_levels", max_levels, low=2, high=100, integer=True)
    words = _WORDS[language]
    values = data[outcome]
    if values.dropna().empty:
        raise ValueError(f"`data`: column {outcome!r} has no values to plot.")
    groups = [(None, data)]
    if by is not None:
        col = data[by]
        glevels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                   else sorted(col.dropna().unique().tolist(), key=str))
        groups = [(g, data.loc[col == g]) for g in glevels]
    if levels is None:
        levels = (list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype)
                  else sorted(values.dropna().unique().tolist()))
    discrete = len(levels) <= max_levels
    with _theme(serif):
        fig, _ = _new_figure(width, height)
        ax = fig.add_subplot()
        n = len(groups)
        if discrete:
            x = np.arange(len(levels))
            bw = 0.8 / n
            for i, (g, part) in enumerate(groups):
                present = part[outcome].dropna()
                counts = np.array([(present == lv).sum() for lv in levels], dtype=float)
                heights = counts / max(len(present), 1) if share else counts
                name = None
                if g is not None:
                    full = labels.get(f"{by}[{g}]")
                    name = full.split(": ", 1)[1] if full and ": " in full else str(g).replace("_", " ")
                    name = name[:1].upper() + name[1:]  # a legend entry starts a label: "Face to face"
                    name = f"{name} (n = {len(present)})"
                ax.bar(x - 0.4 + bw * (i + 0.5), heights, width=bw * 0.92, color=OKABE_ITO[1 + i % 7] if n > 1 else "0.35",
                       hatch=_HATCHES[i % len(_HATCHES)] if n > 1 else None, edgecolor="0.1", linewidth=0.4,
                       label=name)
            # whole numbers stored as floats (a 0-10 score read as float) are shown without ".0"
            ax.set_xticks(x, [str(int(lv)) if isinstance(lv, (float, np.floating)) and float(lv).is_integer()
                              else str(lv) for lv in levels])
        else:
            for i, (g, part) in enumerate(groups):
                present = pd.to_numeric(part[outcome], errors="coerce").dropna()
                ax.hist(present, bins=20, histtype="step" if n > 1 else "stepfilled",
                        density=False, color=OKABE_ITO[1 + i % 7] if n > 1 else "0.5",
                        linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=0.9,
                        label=None if g is None else str(g).replace("_", " "),
                        weights=np.full(len(present), 1 / max(len(present), 1)) if share else None)
        if share:
            ax.yaxis.set_major_formatter(plt.FuncFormatter(
                lambda v, _: format_number(100 * v, decimals=0, language=language) + (" %" if language == "fi" else "%")))
        ax.set_xlabel(label_term(outcome, labels, language=language))
        ax.set_ylabel(words["share"] if share else words["count"])
        if n > 1:
            ax.legend(title=label_term(by, labels, language=language), loc="upper left", handlelength=1.4)
    return fig
