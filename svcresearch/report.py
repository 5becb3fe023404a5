"""Journal-ready tables: one call writes CSV, Markdown, LaTeX and APA-7 Word files, byte-identical.

Every table the notebooks make goes through :func:`save_table`. The CSV keeps full precision (for
reuse); the Markdown, LaTeX and Word versions are formatted for reading with APA rules (p values as
``< .001`` / ``.034``; no leading zero for statistics that cannot exceed 1 such as correlations,
alpha, omega and ICC; an em dash for empty cells; a minus sign for negative numbers).

Why our own code: pandas' ``to_markdown`` needs ``tabulate`` (not a dependency), ``to_latex`` does
not write a table note and leaves escaping of cells to the caller, and no library writes APA-style
Word tables. python-docx also stamps the current time into the core properties and into every zip
entry, so two saves of the same table differ; :func:`save_table` pins both so that reruns of the
analysis give identical files (the promise of DESIGN.md §8).
"""
from __future__ import annotations

import datetime as _dt
import io
import math
import os
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svcresearch import config
from svcresearch._validation import check_dataframe, check_file_stem, check_number, check_option, check_type

FORMATS = ("csv", "md", "tex", "docx")

#: Empty cells in formatted tables (APA: a dash marks a cell that does not apply).
EMPTY = "\u2014"

#: Column-name tokens of statistics that cannot exceed 1 in absolute value (APA: no leading zero).
BOUNDED_TOKENS = frozenset({
    "r", "rho", "tau", "alpha", "omega", "icc", "kappa", "ac1", "r2", "rsq", "correlation",
    "proportion", "share", "\u03b1", "\u03c9", "\u03ba", "\u03c1", "\u03c4", "icc1", "icc2",
})

_P_NAME = re.compile(r"^(p|pval|p_value|p_values|p_holm|p_adj|p_adjusted|p_fdr|p_bonferroni|.*_p)$")
_COUNT_NAME = re.compile(r"^(n|df|count|k|n_[a-z0-9_]+|[a-z0-9_]+_n|df_[a-z0-9_]+)$")

# Fixed stamp for docx core properties and zip entries (the zip format cannot store dates < 1980).
_FIXED_TIME = _dt.datetime(2000, 1, 1, 0, 0, 0, tzinfo=_dt.timezone.utc)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


# ----------------------------------------------------------------------------------------------
# APA number formatting
# ----------------------------------------------------------------------------------------------
def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    try:
        return bool(isinstance(x, Real) and math.isnan(float(x)))
    except (TypeError, ValueError):
        return False


def format_number(x: Any, *, decimals: int = 2, leading_zero: bool = True) -> str:
    """Format one number with a fixed number of decimals (APA style).

    Parameters
    ----------
    x : float
        The number; missing values give an empty string.
    decimals : int
        Decimal places.
    leading_zero : bool
        False for statistics that cannot exceed 1 in absolute value (``.87``, ``-.12``).

    Returns
    -------
    str
        ASCII text with ``-`` for negative numbers (the writers turn it into a minus sign).
    """
    check_number("decimals", decimals, low=0, high=15, integer=True)
    if _is_missing(x):
        return ""
    text = f"{float(x):.{decimals}f}"
    if text.lstrip("-").strip("0.") == "":  # rounds to zero: no "-0.00"
        text = text.lstrip("-")
    if not leading_zero:
        text = re.sub(r"^(-?)0\.", r"\1.", text)
    return text


def format_p(p: Any, *, decimals: int = 3) -> Any:
    """Format p values the APA way: ``< .001``, ``.034``, ``> .999``; no leading zero.

    Parameters
    ----------
    p : float or array-like
        p value(s) in [0, 1]; missing values give an empty string.
    decimals : int
        2 or 3 (APA 7 allows both); p below ``10**-decimals`` is shown as ``< .001`` (``< .01``).

    Returns
    -------
    str, or a list / pandas Series of str for array-like input.

    Notes
    -----
    Rules from the APA Publication Manual, 7th ed., §6.36: exact p to two or three decimals, no
    leading zero, p below .001 as "p < .001". Values that would round to 1 are shown as
    ``> .999`` rather than the impossible-looking ``1.000``.
    """
    check_number("decimals", decimals, low=1, high=6, integer=True)
    if isinstance(p, pd.Series):
        return p.map(lambda v: format_p(v, decimals=decimals))
    if isinstance(p, (list, tuple, np.ndarray)):
        return [format_p(v, decimals=decimals) for v in p]
    if _is_missing(p):
        return ""
    if isinstance(p, bool) or not isinstance(p, Real):
        raise TypeError(f"`p` must be a number in [0, 1]; got {p!r}.")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"`p` must be in [0, 1]; got {p!r}.")
    floor = 10.0 ** (-decimals)
    if p < floor:
        return "< " + format_number(floor, decimals=decimals, leading_zero=False)
    if round(p, decimals) >= 1.0:
        return "> " + format_number(1.0 - floor, decimals=decimals, leading_zero=False)
    return format_number(p, decimals=decimals, leading_zero=False)


def format_ci(low: Any, high: Any, *, decimals: int = 2, leading_zero: bool = True) -> Any:
    """Format a confidence interval as ``[0.12, 0.34]`` (APA 7 §6.43).

    Parameters
    ----------
    low, high : float or pandas Series
        Interval bounds; a missing bound gives an empty string.
    decimals : int
    leading_zero : bool
        False for statistics bounded by 1 (``[.12, .34]``).

    Returns
    -------
    str, or a pandas Series of str when ``low`` is a Series.
    """
    if isinstance(low, pd.Series) or isinstance(high, pd.Series):
        lows, highs = pd.Series(low), pd.Series(high)
        if len(lows) != len(highs):
            raise ValueError(f"`low` and `high` must have the same length; got {len(lows)} and {len(highs)}.")
        return pd.Series([format_ci(a, b, decimals=decimals, leading_zero=leading_zero)
                          for a, b in zip(lows.tolist(), highs.tolist())], index=lows.index, dtype=object)
    if _is_missing(low) or _is_missing(high):
        return ""
    a = format_number(low, decimals=decimals, leading_zero=leading_zero)
    b = format_number(high, decimals=decimals, leading_zero=leading_zero)
    return f"[{a}, {b}]"


# ----------------------------------------------------------------------------------------------
# Cell formatting shared by the Markdown, LaTeX and Word writers
# ----------------------------------------------------------------------------------------------
def _is_bounded_name(name: str) -> bool:
    return any(tok in BOUNDED_TOKENS for tok in re.split(r"[_\s]+", str(name).lower()))


def _format_frame(data: pd.DataFrame, *, decimals: int | Mapping[str, int],
                  p_columns: Iterable[str] | None, bounded: Iterable[str] | None
                  ) -> tuple[list[str], list[list[str]], list[bool]]:
    """Return (header, rows of text, column-is-numeric) for display."""
    cols = [str(c) for c in data.columns]
    p_set = set(p_columns) if p_columns is not None else {c for c in cols if _P_NAME.match(c.lower())}
    b_set = set(bounded) if bounded is not None else {c for c in cols if _is_bounded_name(c)}
    out_cols: list[list[str]] = []
    numeric_flags: list[bool] = []
    for name, col in zip(cols, data.columns):
        series = data[col]
        dec = decimals.get(name, 2) if isinstance(decimals, Mapping) else decimals
        is_bool = pd.api.types.is_bool_dtype(series.dtype)
        is_num = pd.api.types.is_numeric_dtype(series.dtype) and not is_bool
        numeric_flags.append(bool(is_num))
        values = series.tolist()
        if is_num and name in p_set:
            cells = [format_p(v) if not _is_missing(v) else "" for v in values]
        elif is_num and pd.api.types.is_integer_dtype(series.dtype):
            cells = ["" if _is_missing(v) else f"{int(v)}" for v in values]
        elif is_num:
            present = [float(v) for v in values if not _is_missing(v)]
            integral_count = _COUNT_NAME.match(name.lower()) and all(float(v).is_integer() for v in present)
            if integral_count:
                cells = ["" if _is_missing(v) else f"{int(round(float(v)))}" for v in values]
            else:
                cells = [format_number(v, decimals=dec, leading_zero=name not in b_set) for v in values]
        else:
            cells = ["" if _is_missing(v) else str(v) for v in values]
        out_cols.append(cells)
    rows = [list(r) for r in zip(*out_cols)] if out_cols else []
    return cols, rows, numeric_flags


_NUMERIC_CELL = re.compile(r"^-\.?\d")


def _minus(text: str, minus: str) -> str:
    """Replace a leading hyphen of a number (also inside "[a, b]") by a typographic minus."""
    return re.sub(r"(^|[\[(,]\s?)-(?=\.?\d)", lambda m: m.group(1) + minus, text)


# ----------------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _to_markdown(header, rows, numeric, *, title, note) -> str:
    lines = []
    if title:
        lines += [f"**{_md_escape(title)}**", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_md_escape(c) if c != "" else EMPTY for c in row) + " |")
    if note:
        lines += ["", f"*Note.* {_md_escape(note)}"]
    return "\n".join(lines) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", EMPTY: "---", "\u2212": "$-$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``& % $ # _ { } ~ ^ \\ < >``) in plain text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def _to_latex(header, rows, numeric, *, title, note, label) -> str:
    spec = "".join("r" if n else "l" for n in numeric)
    out = [r"\begin{table}[htbp]", r"\centering", r"\begin{threeparttable}"]
    if title:
        out.append(r"\caption{" + latex_escape(title) + "}")
    out.append(r"\label{tab:" + re.sub(r"[^A-Za-z0-9:_-]", "-", label) + "}")
    out.append(r"\begin{tabular}{" + spec + "}")
    out.append(r"\toprule")
    out.append(" & ".join(latex_escape(h) for h in header) + r" \\")
    out.append(r"\midrule")
    for row in rows:
        cells = [latex_escape(_minus(c, "\u2212")) if c != "" else "---" for c in row]
        out.append(" & ".join(cells) + r" \\")
    out.append(r"\bottomrule")
    out.append(r"\end{tabular}")
    if note:
        out += [r"\begin{tablenotes}[flushleft]", r"\small",
                r"\item \textit{Note.} " + latex_escape(note), r"\end{tablenotes}"]
    out += [r"\end{threeparttable}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _set_cell_border(cell, **edges) -> None:
    """Set borders of one Word table cell, e.g. ``top="single"``, ``bottom="single"``."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = tc_pr.find(qn("w:tcBorders"))
    if borders is None:
        borders = OxmlElement("w:tcBorders")
        tc_pr.append(borders)
    for edge in ("top", "left", "bottom", "right"):
        el = OxmlElement(f"w:{edge}")
        kind = edges.get(edge, "nil")
        el.set(qn("w:val"), kind)
        if kind != "nil":
            el.set(qn("w:sz"), "6")
            el.set(qn("w:space"), "0")
            el.set(qn("w:color"), "000000")
        borders.append(el)


def _docx_bytes(header, rows, numeric, *, title, note, number) -> bytes:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(12)
    fmt = style.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)

    # APA 7 (§7.10): table number in bold, title on the next line in italic title case.
    if number is not None:
        p = doc.add_paragraph()
        p.add_run(f"Table {number}").bold = True
    if title:
        p = doc.add_paragraph()
        p.add_run(title).italic = True
        p.paragraph_format.space_after = Pt(6)

    table = doc.add_table(rows=len(rows) + 1, cols=len(header))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    # No table style: only the three horizontal rules below (APA: no vertical lines).
    tbl_pr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    tbl_pr.append(borders)

    def fill(cell, text, *, align_num, bold=False):
        cell.text = ""
        par = cell.paragraphs[0]
        run = par.add_run(text)
        run.bold = bold
        run.font.size = Pt(10)
        par.alignment = WD_ALIGN_PARAGRAPH.CENTER if align_num else WD_ALIGN_PARAGRAPH.LEFT

    last = len(rows)
    for j, h in enumerate(header):
        cell = table.cell(0, j)
        fill(cell, h, align_num=numeric[j] or j > 0)
        _set_cell_border(cell, top="single", bottom="single")
    for i, row in enumerate(rows, start=1):
        for j, text in enumerate(row):
            cell = table.cell(i, j)
            shown = _minus(text, "\u2212") if text != "" else EMPTY
            fill(cell, shown, align_num=numeric[j] or j > 0)
            _set_cell_border(cell, bottom="single" if i == last else "nil")
    # Header row repeats on every page of a long table.
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    hdr = OxmlElement("w:tblHeader")
    hdr.set(qn("w:val"), "true")
    tr_pr.append(hdr)

    if note:
        p = doc.add_paragraph()
        p.paragraph_format.space_before = Pt(6)
        p.add_run("Note.").italic = True
        p.add_run(" " + note)

    props = doc.core_properties
    props.author = "svcresearch"
    props.last_modified_by = "svcresearch"
    props.title = title or ""
    props.revision = 1
    props.created = _FIXED_TIME.replace(tzinfo=None)
    props.modified = _FIXED_TIME.replace(tzinfo=None)
    props.last_printed = _FIXED_TIME.replace(tzinfo=None)

    buffer = io.BytesIO()
    doc.save(buffer)
    return _normalise_zip(buffer.getvalue())


def _normalise_zip(blob: bytes) -> bytes:
    """Rewrite a zip with fixed entry times and attributes so equal content gives equal bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            fixed.create_system = 0
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file, and an error leaves the old file (or none) in place
    (DESIGN.md §8). Shared by :func:`save_table` and :func:`svcresearch.figures.save_figure`.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------
def save_table(data: pd.DataFrame, name: str, *, title: str | None = None, note: str | None = None,
               decimals: int | Mapping[str, int] = 2, formats: Sequence[str] = FORMATS,
               folder: str | Path | None = None, number: int | str | None = None,
               p_columns: Iterable[str] | None = None, bounded: Iterable[str] | None = None,
               index: bool | None = None) -> list[Path]:
    """Write a table as ``<folder>/<name>.{csv,md,tex,docx}``, deterministically.

    Parameters
    ----------
    data : pandas.DataFrame
        The table; column names become the header as given (rename them for print first).
    name : str
        File stem, e.g. ``"table1_sample"``; letters, digits, ``-``, ``_`` and ``.`` only.
    title : str, optional
        Table title (Markdown: bold line above; LaTeX: ``\\caption``; Word: italic line above).
    note : str, optional
        General note, printed below the table after "*Note.*".
    decimals : int or dict, default 2
        Decimal places of non-integer numeric columns in the formatted files; a dict maps column
        names to places (others 2). The CSV always keeps full precision.
    formats : sequence of {"csv", "md", "tex", "docx"}
    folder : path, optional
        Default :func:`svcresearch.config.tables_dir` (``reports/tables``).
    number : int or str, optional
        Table number; Word shows "Table <number>" in bold above the title (APA 7).
    p_columns : iterable of str, optional
        Columns formatted as p values; default every column named ``p``, ``p_value``, ``p_holm``,
        ``*_p`` and the like.
    bounded : iterable of str, optional
        Columns shown without a leading zero; default columns whose name contains a token such as
        ``r``, ``alpha``, ``omega``, ``icc``, ``kappa`` (see :data:`BOUNDED_TOKENS`).
    index : bool, optional
        Write the index as the first column(s); default only when it is not a plain 0..n-1 range.

    Returns
    -------
    list of Path
        The files written, in the order of ``formats``.

    Notes
    -----
    Validated by tests that parse each file back (CSV round trip to full precision, Markdown pipe
    structure, LaTeX escaping and booktabs rules, the Word table's borders, italics and note via
    python-docx) and that two saves give byte-identical files.
    """
    check_dataframe("data", data)
    check_file_stem(name)
    if title is not None:
        check_type("title", title, str)
    if note is not None:
        check_type("note", note, str)
    if isinstance(formats, str):
        formats = (formats,)
    check_type("formats", formats, (tuple, list), what="a tuple of format names")
    for fmt in formats:
        check_option("formats", fmt, FORMATS)
    if isinstance(decimals, Mapping):
        for key, value in decimals.items():
            check_number(f"decimals[{key!r}]", value, low=0, high=15, integer=True)
    else:
        check_number("decimals", decimals, low=0, high=15, integer=True)
    if len(data.columns) == 0:
        raise ValueError("`data` has no columns; nothing to write.")

    table = data
    if index is None:
        index = not (isinstance(data.index, pd.RangeIndex) and data.index.start == 0 and data.index.step == 1
                     and data.index.name is None)
    if index:
        table = data.reset_index()
    table = table.copy()
    table.columns = [str(c) for c in table.columns]
    if table.columns.duplicated().any():
        dup = table.columns[table.columns.duplicated()].tolist()
        raise ValueError(f"`data` has duplicated column names {dup}; rename them first.")

    folder = Path(folder) if folder is not None else config.tables_dir()
    folder.mkdir(parents=True, exist_ok=True)
    header, rows, numeric = _format_frame(table, decimals=decimals, p_columns=p_columns, bounded=bounded)

    written = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            payload = table.to_csv(index=False, lineterminator="\n").encode("utf-8")
        elif fmt == "md":
            payload = _to_markdown(header, rows, numeric, title=title, note=note).encode("utf-8")
        elif fmt == "tex":
            payload = _to_latex(header, rows, numeric, title=title, note=note, label=name).encode("utf-8")
        else:
            payload = _docx_bytes(header, rows, numeric, title=title, note=note, number=number)
        write_atomic(path, payload)
        written.append(path)
    return written
