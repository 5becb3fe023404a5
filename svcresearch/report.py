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
import secrets
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svcresearch import config
from svcresearch._validation import (check_confidence, check_dataframe, check_file_stem, check_number, check_option,
                                     check_type)
from svcresearch.labels import (LANGUAGES, WORDS, check_labels, check_language, humanise, label_term,
                                labels_from_codebook)

FORMATS = ("csv", "md", "tex", "docx", "html")

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


def format_number(x: Any, *, decimals: int = 2, leading_zero: bool = True, language: str = "en") -> str:
    """Format one number with a fixed number of decimals (APA style).

    Parameters
    ----------
    x : float
        The number; missing values give an empty string.
    decimals : int
        Decimal places.
    leading_zero : bool
        False for statistics that cannot exceed 1 in absolute value (``.87``, ``-.12``).
    language : {"en", "fi"}
        ``"fi"`` writes a decimal comma and always keeps the leading zero (``0,87``): Finnish
        typography (and Finnish journals such as *Psykologia*) use the decimal comma, and a bare
        ``,87`` is not Finnish usage, so the APA no-leading-zero rule applies to English only.

    Returns
    -------
    str
        ASCII text with ``-`` for negative numbers (the writers turn it into a minus sign).
    """
    check_number("decimals", decimals, low=0, high=15, integer=True)
    check_language(language)
    if _is_missing(x):
        return ""
    text = f"{float(x):.{decimals}f}"
    if text.lstrip("-").strip("0.") == "":  # rounds to zero: no "-0.00"
        text = text.lstrip("-")
    if language == "fi":
        return text.replace(".", ",")
    if not leading_zero:
        text = re.sub(r"^(-?)0\.", r"\1.", text)
    return text


def format_p(p: Any, *, decimals: int = 3, language: str = "en") -> Any:
    """Format p values the APA way: ``< .001``, ``.034``, ``> .999``; no leading zero.

    Parameters
    ----------
    p : float or array-like
        p value(s) in [0, 1]; missing values give an empty string.
    decimals : int
        2 or 3 (APA 7 allows both); p below ``10**-decimals`` is shown as ``< .001`` (``< .01``).
    language : {"en", "fi"}
        ``"fi"``: decimal comma with the leading zero, ``< 0,001`` (see :func:`format_number`).

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
    check_language(language)
    if isinstance(p, pd.Series):
        return p.map(lambda v: format_p(v, decimals=decimals, language=language))
    if isinstance(p, (list, tuple, np.ndarray)):
        return [format_p(v, decimals=decimals, language=language) for v in p]
    if _is_missing(p):
        return ""
    if isinstance(p, bool) or not isinstance(p, Real):
        raise TypeError(f"`p` must be a number in [0, 1]; got {p!r}.")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"`p` must be in [0, 1]; got {p!r}.")
    floor = 10.0 ** (-decimals)
    kw = {"decimals": decimals, "leading_zero": False, "language": language}
    if p < floor:
        return "< " + format_number(floor, **kw)
    if round(p, decimals) >= 1.0:
        return "> " + format_number(1.0 - floor, **kw)
    return format_number(p, **kw)


def format_ci(low: Any, high: Any, *, decimals: int = 2, leading_zero: bool = True, language: str = "en") -> Any:
    """Format a confidence interval as ``[0.12, 0.34]`` (APA 7 §6.43).

    Parameters
    ----------
    low, high : float or pandas Series
        Interval bounds; a missing bound gives an empty string.
    decimals : int
    leading_zero : bool
        False for statistics bounded by 1 (``[.12, .34]``).
    language : {"en", "fi"}
        ``"fi"``: decimal commas, bounds separated by a semicolon (``[0,12; 0,34]``).

    Returns
    -------
    str, or a pandas Series of str when ``low`` is a Series.
    """
    check_language(language)
    if isinstance(low, pd.Series) or isinstance(high, pd.Series):
        lows, highs = pd.Series(low), pd.Series(high)
        if len(lows) != len(highs):
            raise ValueError(f"`low` and `high` must have the same length; got {len(lows)} and {len(highs)}.")
        return pd.Series([format_ci(a, b, decimals=decimals, leading_zero=leading_zero, language=language)
                          for a, b in zip(lows.tolist(), highs.tolist())], index=lows.index, dtype=object)
    if _is_missing(low) or _is_missing(high):
        return ""
    a = format_number(low, decimals=decimals, leading_zero=leading_zero, language=language)
    b = format_number(high, decimals=decimals, leading_zero=leading_zero, language=language)
    return f"[{a}; {b}]" if language == "fi" else f"[{a}, {b}]"


# ----------------------------------------------------------------------------------------------
# Cell formatting shared by the Markdown, LaTeX and Word writers
# ----------------------------------------------------------------------------------------------
def _is_bounded_name(name: str) -> bool:
    return any(tok in BOUNDED_TOKENS for tok in re.split(r"[_\s]+", str(name).lower()))


def _format_frame(data: pd.DataFrame, *, decimals: int | Mapping[str, int],
                  p_columns: Iterable[str] | None, bounded: Iterable[str] | None, language: str = "en"
                  ) -> tuple[list[str], list[list[str]], list[bool]]:
    """Return (header, rows of text, column-is-numeric) for display."""
    cols = [str(c) for c in data.columns]
    p_set = set(p_columns) if p_columns is not None else {c for c in cols if _P_NAME.match(c.lower())}
    b_set = set(bounded) if bounded is not None else {c for c in cols if _is_bounded_name(c)}
    words = WORDS[language]
    out_cols: list[list[str]] = []
    numeric_flags: list[bool] = []
    for name, col in zip(cols, data.columns):
        series = data[col]
        dec = decimals.get(name, 2) if isinstance(decimals, Mapping) else decimals
        is_bool = pd.api.types.is_bool_dtype(series.dtype)
        is_num = pd.api.types.is_numeric_dtype(series.dtype) and not is_bool
        values = series.tolist()
        if is_bool or (series.dtype == object and all(isinstance(v, (bool, np.bool_)) or _is_missing(v)
                                                       for v in values) and not series.isna().all()):
            # APA tables show words, never True/False.
            cells = ["" if _is_missing(v) else words["yes" if bool(v) else "no"] for v in values]
            is_num = False
        elif is_num and name in p_set:
            cells = [format_p(v, language=language) if not _is_missing(v) else "" for v in values]
        elif is_num and pd.api.types.is_integer_dtype(series.dtype):
            cells = ["" if _is_missing(v) else f"{int(v)}" for v in values]
        elif is_num:
            present = [float(v) for v in values if not _is_missing(v)]
            integral_count = _COUNT_NAME.match(name.lower()) and all(float(v).is_integer() for v in present)
            if integral_count:
                cells = ["" if _is_missing(v) else f"{int(round(float(v)))}" for v in values]
            else:
                cells = [format_number(v, decimals=dec, leading_zero=name not in b_set, language=language)
                         for v in values]
        else:
            cells = ["" if _is_missing(v) else str(v) for v in values]
            present_cells = [c for c in cells if c != ""]
            # Pre-formatted statistics ("0.51", "< .001", "[0.12, 0.34]", "3.2 (1.1)") align like numbers.
            is_num = bool(present_cells) and all(_LOOKS_NUMERIC.match(c) for c in present_cells)
        numeric_flags.append(bool(is_num))
        out_cols.append(cells)
    rows = [list(r) for r in zip(*out_cols)] if out_cols else []
    return cols, rows, numeric_flags


_LOOKS_NUMERIC = re.compile(r"^\s*([<>]\s?)?[-\u2212]?[\[(]?[-\u2212]?[\d.,]")


_NUMERIC_CELL = re.compile(r"^-\.?\d")


def _minus(text: str, minus: str) -> str:
    """Replace a leading hyphen of a number (also inside "[a, b]") by a typographic minus."""
    return re.sub(r"(^|[\[(,]\s?)-(?=\.?\d)", lambda m: m.group(1) + minus, text)


# ----------------------------------------------------------------------------------------------
# Spreadsheet safety
# ----------------------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def excel_safe(value: Any) -> Any:
    """Neutralise a text cell that a spreadsheet would run as a formula (CSV/formula injection).

    Parameters
    ----------
    value : Any
        A cell. Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
        leading apostrophe (OWASP "CSV injection" advice) unless it is a plain number such as
        ``-0.12`` (a genuine negative number stays a number). Other values are returned unchanged.

    Returns
    -------
    Any
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def _excel_safe_frame(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out.columns = [excel_safe(c) for c in out.columns]
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col].dtype) or pd.api.types.is_bool_dtype(out[col].dtype)):
            out[col] = out[col].map(excel_safe).astype(out[col].dtype if out[col].dtype == object else object)
    return out


# ----------------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    text = excel_safe(str(text).replace("\r", " "))
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _to_markdown(header, rows, numeric, *, title, note, language="en") -> str:
    lines = []
    if title:
        lines += [f"**{_md_escape(title)}**", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_md_escape(c) if c != "" else EMPTY for c in row) + " |")
    if note:
        lines += ["", f"*{'Huom.' if language == 'fi' else 'Note.'}* {_md_escape(note)}"]
    return "\n".join(lines) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", EMPTY: "---", "\u2212": "$-$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters (``& % $ # _ { } ~ ^ \\ < >``) in plain text."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))


def _to_latex(header, rows, numeric, *, title, note, label, language="en") -> str:
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
                r"\item \textit{" + ("Huom." if language == "fi" else "Note.") + "} " + latex_escape(note),
                r"\end{tablenotes}"]
    out += [r"\end{threeparttable}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _to_html(header, rows, numeric, *, title, note, number, language) -> str:
    import html

    def esc(text):
        return html.escape(str(text), quote=True)

    rule = "border-top:1px solid #000;"
    out = [f'<table class="apa-table" lang="{language}" style="border-collapse:collapse;">']
    if number is not None or title:
        cap = []
        if number is not None:
            cap.append(f"<strong>{'Taulukko' if language == 'fi' else 'Table'} {esc(number)}</strong>")
        if title:
            cap.append(f"<em>{esc(title)}</em>")
        out.append('<caption style="text-align:left;caption-side:top;">' + "<br>".join(cap) + "</caption>")
    align = ["right" if n else "left" for n in numeric]
    out.append("<thead><tr>" + "".join(
        f'<th style="{rule}border-bottom:1px solid #000;text-align:{a};padding:2px 8px;">{esc(h)}</th>'
        for h, a in zip(header, align)) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(rows):
        last = rule.replace("top", "bottom") if i == len(rows) - 1 else ""
        out.append("<tr>" + "".join(
            f'<td style="{last}text-align:{a};padding:2px 8px;">{esc(_minus(c, chr(0x2212)) if c != "" else EMPTY)}</td>'
            for c, a in zip(row, align)) + "</tr>")
    out.append("</tbody>")
    if note:
        out.append(f'<tfoot><tr><td colspan="{len(header)}" style="text-align:left;padding-top:4px;">'
                   f"<em>{'Huom.' if language == 'fi' else 'Note.'}</em> {esc(note)}</td></tr></tfoot>")
    out.append("</table>")
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


def _docx_bytes(header, rows, numeric, *, title, note, number, language="en") -> bytes:
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
        p.add_run(f"{'Taulukko' if language == 'fi' else 'Table'} {number}").bold = True
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
        p.add_run("Huom." if language == "fi" else "Note.").italic = True
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

    Notes
    -----
    The temporary file is created with mode ``0o666`` filtered by the process umask (as ``open``
    would), not with :func:`tempfile.mkstemp`, whose fixed ``0o600`` made every report private
    to its owner whatever the umask. Tested in tests/test_report.py (umask 022 -> 0644, 002 ->
    0664, 077 -> 0600).
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"could not create a temporary file next to {path}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ----------------------------------------------------------------------------------------------
# Manifest: which figure/table came from which notebook, with its caption
# ----------------------------------------------------------------------------------------------
MANIFEST = "manifest.json"

#: Environment variable naming the notebook being executed (set by the notebook runner).
SOURCE_VARIABLE = "SVCRESEARCH_NOTEBOOK"


def current_source(source: str | os.PathLike | None = None) -> str | None:
    """Name of the notebook (or script) that produces an output.

    ``source`` if given; else ``$SVCRESEARCH_NOTEBOOK`` (set by the notebook runner); else
    ``$JPY_SESSION_NAME`` (set by Jupyter Server in a kernel started from JupyterLab); else None.
    Only the file name is kept, so the manifest does not depend on where the project lives.
    """
    for value in (source, os.environ.get(SOURCE_VARIABLE), os.environ.get("JPY_SESSION_NAME")):
        if value not in (None, ""):
            return Path(str(value)).name
    return None


def read_manifest(folder: str | Path) -> dict[str, dict]:
    """Read ``<folder>/manifest.json`` (an empty dict when there is none).

    Returns
    -------
    dict
        Output name -> entry; see :func:`update_manifest` for the entry's keys.
    """
    import json

    path = Path(folder) / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid manifest (JSON object expected): {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a valid manifest (JSON object expected).")
    return data


def update_manifest(folder: str | Path, name: str, entry: Mapping[str, Any]) -> Path:
    """Merge one output's entry into ``<folder>/manifest.json`` (atomically) and return its path.

    The manifest is one JSON object, keys sorted, two-space indent, UTF-8, newline at the end, no
    dates (so reruns give the same bytes). Each key is an output's name (the file stem) and each
    value an object with::

        kind     "figure" or "table"
        files    file names written in the folder, e.g. ["fig.pdf", "fig.svg", "fig.png"]
        caption  caption (figures) or title (tables), or null
        source   notebook that wrote it (see current_source), or null
        ...      figures: width_in, height_in, column ("single"/"onehalf"/"double"/null), dpi;
                 tables: number, note

    Saving an output again replaces its entry; other entries are kept.
    """
    import json

    folder = Path(folder)
    data = read_manifest(folder)
    data[str(name)] = dict(entry)
    payload = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    path = folder / MANIFEST
    write_atomic(path, payload.encode("utf-8"))
    return path


# ----------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------
def save_table(data: pd.DataFrame, name: str, *, title: str | None = None, note: str | None = None,
               decimals: int | Mapping[str, int] = 2, formats: Sequence[str] = FORMATS,
               folder: str | Path | None = None, number: int | str | None = None,
               p_columns: Iterable[str] | None = None, bounded: Iterable[str] | None = None,
               index: bool | None = None, language: str = "en", source: str | None = None,
               manifest: bool = True) -> list[Path]:
    """Write a table as ``<folder>/<name>.{csv,md,tex,docx,html}``, deterministically.

    Parameters
    ----------
    data : pandas.DataFrame
        The table; column names become the header as given (rename them for print first).
    name : str
        File stem, e.g. ``"table1_sample"``; letters, digits, ``-``, ``_`` and ``.`` only.
    title : str, optional
        Table title (Markdown: bold line above; LaTeX: ``\\caption``; Word: italic line above);
        default ``data.attrs["title"]``.
    note : str, optional
        General note, printed below the table after "*Note.*"; default ``data.attrs["note"]``
        (set by :func:`regression_table` and the other table builders).
    decimals : int or dict, default 2
        Decimal places of non-integer numeric columns in the formatted files; a dict maps column
        names to places (others 2). The CSV always keeps full precision.
    formats : sequence of {"csv", "md", "tex", "docx", "html"}
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
        Write the index as the first column(s); default only when the index is named (an unnamed
        index, e.g. left over from filtering, is never written as a column).
    language : {"en", "fi"}
        Language of the formatted files: decimal comma and "Taulukko"/"Huom." in Finnish;
        booleans become yes/no (kyllä/ei) in every formatted file.
    source : str, optional
        Notebook that produced the table, for the manifest (default :func:`current_source`:
        ``$SVCRESEARCH_NOTEBOOK``).
    manifest : bool, default True
        Record the table in ``<folder>/manifest.json`` (see :func:`update_manifest`).

    Returns
    -------
    list of Path
        The files written, in the order of ``formats`` (the manifest not included).

    Notes
    -----
    Every text cell of the CSV and Markdown files that a spreadsheet would run as a formula is
    neutralised with a leading apostrophe (:func:`excel_safe`); numbers, including negative ones,
    stay numbers. Files follow the process umask (:func:`write_atomic`).
    Validated by tests that parse each file back (CSV round trip to full precision, Markdown pipe
    structure, LaTeX escaping and booktabs rules, the Word table's borders, italics and note via
    python-docx) and that two saves give byte-identical files.
    """
    check_dataframe("data", data)
    check_file_stem(name)
    check_language(language)
    if note is None and isinstance(data.attrs.get("note"), str):
        note = data.attrs["note"]
    if title is None and isinstance(data.attrs.get("title"), str):
        title = data.attrs["title"]
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
        index = any(n is not None for n in data.index.names)
    if index:
        table = data.reset_index()
    table = table.copy()
    table.columns = [str(c) for c in table.columns]
    if table.columns.duplicated().any():
        dup = table.columns[table.columns.duplicated()].tolist()
        raise ValueError(f"`data` has duplicated column names {dup}; rename them first.")

    folder = Path(folder) if folder is not None else config.tables_dir()
    folder.mkdir(parents=True, exist_ok=True)
    header, rows, numeric = _format_frame(table, decimals=decimals, p_columns=p_columns, bounded=bounded,
                                          language=language)

    written = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            payload = _excel_safe_frame(table).to_csv(index=False, lineterminator="\n").encode("utf-8")
        elif fmt == "md":
            payload = _to_markdown(header, rows, numeric, title=title, note=note, language=language).encode("utf-8")
        elif fmt == "tex":
            payload = _to_latex(header, rows, numeric, title=title, note=note, label=name,
                                language=language).encode("utf-8")
        elif fmt == "html":
            payload = _to_html(header, rows, numeric, title=title, note=note, number=number,
                               language=language).encode("utf-8")
        else:
            payload = _docx_bytes(header, rows, numeric, title=title, note=note, number=number, language=language)
        write_atomic(path, payload)
        written.append(path)
    if manifest:
        update_manifest(folder, name, {
            "kind": "table", "files": sorted(p.name for p in written), "caption": title,
            "number": None if number is None else str(number), "note": note,
            "source": current_source(source)})
    return written


# ----------------------------------------------------------------------------------------------
# APA 7 tables built from result frames (formatted text, readable labels, a note in attrs)
# ----------------------------------------------------------------------------------------------
#: Scale keys of estimates and their axis/column labels.
SCALE_LABELS = {
    "en": {"log_odds": "Log odds", "icc": "ICC", "indirect": "Indirect effect", "b": "b"},
    "fi": {"log_odds": "Log-vetosuhde", "icc": "ICC", "indirect": "Epäsuora vaikutus", "b": "b"},
}

#: Which scale a result row's kind (hypotheses.yaml: term | contrast | interaction | icc | mediation)
#: is on.
KIND_SCALES = {"term": "log_odds", "coefficient": "log_odds", "coef": "log_odds", "contrast": "log_odds",
               "interaction": "log_odds", "main": "log_odds", "icc": "icc", "mediation": "indirect",
               "indirect": "indirect"}

_TEXT = {
    "en": {"predictor": "Predictor", "variable": "Variable", "se": "SE", "ci": "{c}% CI", "total": "Total",
           "behaviour": "Behaviour", "units": "n", "agreement": "Agreement", "hypothesis": "Hypothesis",
           "term": "Term", "expected": "Expected", "estimate": "Estimate", "scale": "Scale", "verdict": "Verdict",
           "p_holm": "p (Holm)", "m_sd": "M (SD)", "n_pct": "n (%)",
           "positive": "positive", "negative": "negative", "nonzero": "nonzero"},
    "fi": {"predictor": "Selittäjä", "variable": "Muuttuja", "se": "KV", "ci": "{c} %:n LV", "total": "Yhteensä",
           "behaviour": "Toiminta", "units": "n", "agreement": "Yhtäpitävyys", "hypothesis": "Hypoteesi",
           "term": "Termi", "expected": "Odotettu", "estimate": "Estimaatti", "scale": "Asteikko",
           "verdict": "Tulos", "p_holm": "p (Holm)", "m_sd": "ka (kh)", "n_pct": "n (%)",
           "positive": "positiivinen", "negative": "negatiivinen", "nonzero": "nollasta poikkeava"},
}

_VERDICTS = {"en": {}, "fi": {"supported": "tuettu", "not supported": "ei tuettu",
                              "opposite direction": "vastakkainen suunta", "not testable": "ei testattavissa"}}

_THRESHOLD = re.compile(r"^[^|\s]+\|[^|\s]+$")


def _ci_header(language: str, confidence: float) -> str:
    return _TEXT[language]["ci"].format(c=f"{confidence * 100:g}".replace(".", "," if language == "fi" else "."))


def _finish(table: pd.DataFrame, note: str | None, title: str | None = None) -> pd.DataFrame:
    table = table.reset_index(drop=True)
    table.attrs["note"] = note
    if title is not None:
        table.attrs["title"] = title
    return table


def result_scales(data: pd.DataFrame, *, scale: str = "scale", kind: str = "kind", term: str = "term") -> pd.Series:
    """Scale of each estimate in a results table: ``"log_odds"``, ``"icc"``, ``"indirect"`` or as given.

    Parameters
    ----------
    data : pandas.DataFrame
        A results table (e.g. :func:`svcresearch.hypotheses.run_hypotheses`).
    scale, kind, term : str
        Column names. The ``scale`` column is used as is when present; otherwise ``kind`` is
        mapped by :data:`KIND_SCALES`; otherwise the scale is read from the term name
        (``icc...`` -> ICC, ``indirect...`` -> indirect effect, anything else log odds).

    Returns
    -------
    pandas.Series of str, aligned with ``data``.
    """
    check_dataframe("data", data)
    if scale in data.columns:
        return data[scale].astype(object).where(data[scale].notna(), "log_odds").astype(str)
    if kind in data.columns:
        return data[kind].map(lambda k: KIND_SCALES.get(str(k).lower(), str(k))).astype(str)
    if term in data.columns:
        terms = data[term].astype(str).str.lower()
        return pd.Series(np.where(terms.str.startswith("icc"), "icc",
                                  np.where(terms.str.startswith("indirect"), "indirect", "log_odds")),
                         index=data.index, dtype=object)
    return pd.Series("log_odds", index=data.index, dtype=object)


def regression_table(data: pd.DataFrame, *, labels: Mapping[str, str] | None = None, language: str = "en",
                     odds_ratio: bool = False, confidence: float = 0.95, decimals: int = 2,
                     thresholds: bool = False, title: str | None = None) -> pd.DataFrame:
    """APA 7 regression table: predictor, b, SE, (OR,) 95% CI, p — formatted text.

    Parameters
    ----------
    data : pandas.DataFrame
        Tidy coefficients (a model's ``.params``): ``term, estimate, std_error, ci_low, ci_high,
        p_value``.
    labels : mapping, optional
        Term/variable -> readable label (:func:`labels_from_codebook`); others are humanised.
    language : {"en", "fi"}
    odds_ratio : bool
        Add ``OR`` = exp(b) and give the interval for the OR (logit models).
    confidence : float
        Coverage of the intervals in ``data`` (for the header only).
    decimals : int
        Decimals of b, SE, OR and the interval (the same in every row).
    thresholds : bool
        Keep ordinal thresholds (terms ``1|2``, ...); by default they are left out. Kept, they
        are labelled "Threshold 1|2" and have no odds ratio (an em dash).
    title : str, optional
        Stored in ``attrs["title"]`` for :func:`save_table`.

    Returns
    -------
    pandas.DataFrame
        Text cells; ``attrs["note"]`` holds the table note, used by :func:`save_table`.

    Notes
    -----
    Formatting rules of the APA Publication Manual (7th ed.) §6.36, §6.43, §7.21; tested in
    tests/test_report_apa.py against hand-written expected cells.
    """
    check_dataframe("data", data, columns=["term", "estimate", "std_error", "ci_low", "ci_high", "p_value"])
    check_language(language)
    labels = check_labels(labels)
    check_confidence(confidence)
    check_number("decimals", decimals, low=0, high=6, integer=True)
    rows = data if thresholds else data.loc[~data["term"].astype(str).str.match(_THRESHOLD)]
    t = _TEXT[language]
    kw = {"decimals": decimals, "language": language}
    cut = rows["term"].astype(str).str.match(_THRESHOLD).to_numpy()
    threshold_word = "Kynnys" if language == "fi" else "Threshold"
    out = pd.DataFrame({t["predictor"]: [f"{threshold_word} {x}" if c else label_term(x, labels, language=language)
                                         for x, c in zip(rows["term"], cut)],
                        "b": [format_number(v, **kw) for v in rows["estimate"]],
                        t["se"]: [format_number(v, **kw) for v in rows["std_error"]]})
    ci = _ci_header(language, confidence)
    if odds_ratio:
        # a threshold is a cut-point on the latent scale, not an effect: it has no odds ratio
        out["OR"] = [EMPTY if c else format_number(np.exp(v), **kw) for v, c in zip(rows["estimate"], cut)]
        ors = format_ci(np.exp(rows["ci_low"].astype(float)), np.exp(rows["ci_high"].astype(float)), **kw).tolist()
        out[f"{ci} (OR)"] = [EMPTY if c else v for v, c in zip(ors, cut)]
    else:
        out[ci] = format_ci(rows["ci_low"], rows["ci_high"], **kw).tolist()
    out["p"] = [format_p(v, language=language) for v in rows["p_value"]]
    if language == "fi":
        note = ("b = regressiokerroin; KV = keskivirhe" + ("; OR = vetosuhde" if odds_ratio else "")
                + "; LV = luottamusväli.")
    else:
        note = ("b = regression coefficient; SE = standard error" + ("; OR = odds ratio" if odds_ratio else "")
                + "; CI = confidence interval.")
    return _finish(out, note, title)


def _level_label(var: str, level: Any, labels: Mapping[str, str], language: str) -> str:
    if isinstance(level, (bool, np.bool_)):
        return WORDS[language]["yes" if level else "no"]
    full = labels.get(f"{var}[{level}]")
    if full and ": " in full:
        return full.split(": ", 1)[1]
    return str(level).replace("_", " ")


def descriptives_table(data: pd.DataFrame, *, variables: Sequence[str], by: str | None = None,
                       labels: Mapping[str, str] | None = None, language: str = "en", decimals: int = 2,
                       title: str | None = None) -> pd.DataFrame:
    """APA "Table 1": M (SD) for numeric variables, n (%) for categories, by group and in total.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (e.g. encounters).
    variables : list of str
        Columns, in the order shown. Numeric columns (not boolean) give one row ``M (SD)``;
        boolean columns one row ``n (%)`` of the true/yes value; other columns (categories, text)
        a heading row and one indented row per level (categorical order, else sorted).
    by : str, optional
        Grouping column: one column per group (``Group (n = N)``) before the total.
    labels, language, decimals, title
        As in :func:`regression_table`; percentages have one decimal.

    Returns
    -------
    pandas.DataFrame
        Text cells; percentages are of the non-missing values of the column in that group
        (stated in ``attrs["note"]``).

    Notes
    -----
    Counts, means and SDs (ddof = 1) checked by hand on a small frame in tests/test_report_apa.py.
    """
    check_dataframe("data", data, columns=list(variables) + ([by] if by is not None else []))
    check_language(language)
    labels = check_labels(labels)
    check_number("decimals", decimals, low=0, high=6, integer=True)
    t = _TEXT[language]
    groups: list[tuple[str, pd.DataFrame]] = []
    if by is not None:
        col = data[by]
        levels = (list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype)
                  else sorted(col.dropna().unique().tolist(), key=str))
        for level in levels:
            part = data.loc[col == level]
            groups.append((f"{_level_label(by, level, labels, language)} (n = {len(part)})", part))
    groups.append((f"{t['total']} (n = {len(data)})", data))

    def pct(k, n):
        text = format_number(100.0 * k / n, decimals=1, language=language) if n else ""
        return f"{k} ({text}{' %' if language == 'fi' else '%'})" if n else ""

    rows: list[list[str]] = []
    for var in variables:
        label = label_term(var, labels, language=language)
        series = data[var]
        is_bool = pd.api.types.is_bool_dtype(series.dtype) or (
            series.dtype == object and series.dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all()
            and series.notna().any())
        if is_bool:
            cells = []
            for _, part in groups:
                present = part[var].dropna()
                cells.append(pct(int(present.astype(bool).sum()), len(present)))
            rows.append([f"{label}, {t['n_pct']}", *cells])
        elif pd.api.types.is_numeric_dtype(series.dtype):
            cells = []
            for _, part in groups:
                values = pd.to_numeric(part[var], errors="coerce").dropna()
                if len(values) == 0:
                    cells.append("")
                    continue
                sd = values.std(ddof=1) if len(values) > 1 else float("nan")
                m = format_number(values.mean(), decimals=decimals, language=language)
                cells.append(f"{m} ({format_number(sd, decimals=decimals, language=language)})" if len(values) > 1 else m)
            rows.append([f"{label}, {t['m_sd']}", *cells])
        else:
            levels = (list(series.cat.categories) if isinstance(series.dtype, pd.CategoricalDtype)
                      else sorted(series.dropna().unique().tolist(), key=str))
            rows.append([f"{label}, {t['n_pct']}", *[""] * len(groups)])
            for level in levels:
                cells = []
                for _, part in groups:
                    present = part[var].dropna()
                    cells.append(pct(int((present == level).sum()), len(present)))
                rows.append(["\u2003" + _level_label(var, level, labels, language), *cells])
    out = pd.DataFrame(rows, columns=[t["variable"], *[name for name, _ in groups]])
    note = ("Percentages are of the non-missing values in each column." if language == "en"
            else "Prosenttiosuudet on laskettu kunkin sarakkeen havaituista arvoista.")
    return _finish(out, note, title)


_RELIABILITY_NAMES = {
    "en": {"percent_agreement": "Agreement", "kappa": "\u03ba", "alpha": "\u03b1", "ac1": "AC1", "omega": "\u03c9"},
    "fi": {"percent_agreement": "Yhtäpitävyys", "kappa": "\u03ba", "alpha": "\u03b1", "ac1": "AC1", "omega": "\u03c9"},
}


def reliability_table(data: pd.DataFrame, *, item: str = "behaviour",
                      statistics: Sequence[str] = ("percent_agreement", "kappa", "alpha", "ac1"),
                      labels: Mapping[str, str] | None = None, language: str = "en", confidence: float = 0.95,
                      decimals: int = 2, title: str | None = None) -> pd.DataFrame:
    """APA table of inter-coder reliability: one row per behaviour, ``estimate [CI]`` per coefficient.

    Parameters
    ----------
    data : pandas.DataFrame
        :func:`svcresearch.reliability.reliability_table` output: ``item`` plus, per statistic,
        the columns ``<statistic>``, ``<statistic>_ci_low``, ``<statistic>_ci_high``
        (intervals optional); ``n_units`` when present becomes the n column.
    item : str
        Column naming the behaviour / item.
    statistics : sequence of str
        Coefficient columns, in order (all are bounded by 1: shown without a leading zero).
    labels, language, confidence, decimals, title
        As in :func:`regression_table`.

    Returns
    -------
    pandas.DataFrame
        Text cells, e.g. ``".72 [.65, .79]"``; ``attrs["note"]`` names the coefficients and the
        .667/.800 conventions for alpha (Krippendorff, 2004).

    Notes
    -----
    Cells checked against hand-formatted values in tests/test_report_apa.py.
    """
    check_dataframe("data", data, columns=[item, *statistics])
    check_language(language)
    labels = check_labels(labels)
    check_confidence(confidence)
    t = _TEXT[language]
    kw = {"decimals": decimals, "leading_zero": False, "language": language}
    out = pd.DataFrame({t["behaviour"]: [label_term(x, labels, language=language) for x in data[item]]})
    if "n_units" in data.columns:
        out[t["units"]] = ["" if _is_missing(v) else str(int(v)) for v in data["n_units"]]
    for stat in statistics:
        est = [format_number(v, **kw) for v in data[stat]]
        lo, hi = f"{stat}_ci_low", f"{stat}_ci_high"
        if lo in data.columns and hi in data.columns:
            ci = format_ci(data[lo], data[hi], **kw).tolist()
            est = [f"{e} {c}".strip() if e else "" for e, c in zip(est, ci)]
        out[_RELIABILITY_NAMES[language].get(stat, humanise(stat))] = est
    c = f"{confidence * 100:g}"
    if language == "fi":
        note = (f"Hakasulkeissa {c} %:n luottamusväli. \u03ba = Cohenin (kaksi koodaajaa) tai Fleissin kappa; "
                "\u03b1 = Krippendorffin alfa; AC1 = Gwetin AC1. \u03b1 \u2265 0,800 luotettava, "
                "\u2265 0,667 alustavien päätelmien raja (Krippendorff, 2004).")
    else:
        note = (f"{c}% confidence intervals in brackets. \u03ba = Cohen's (two coders) or Fleiss' kappa; "
                "\u03b1 = Krippendorff's alpha; AC1 = Gwet's AC1. \u03b1 \u2265 .800 reliable, \u2265 .667 "
                "acceptable for tentative conclusions (Krippendorff, 2004).")
    return _finish(out, note, title)


def _expected_text(value: Any, language: str) -> str:
    v = str(value).strip().lower()
    t = _TEXT[language]
    if v in ("> 0", ">0", "positive", "+", "1", "+1"):
        return t["positive"]
    if v in ("< 0", "<0", "negative", "-", "-1"):
        return t["negative"]
    if v in ("!= 0", "nonzero", "two-sided"):
        return t["nonzero"]
    return "" if _is_missing(value) else str(value)


def hypotheses_table(data: pd.DataFrame, *, labels: Mapping[str, str] | None = None, language: str = "en",
                     scale: str = "scale", kind: str = "kind", confidence: float = 0.95, decimals: int = 2,
                     title: str | None = None) -> pd.DataFrame:
    """APA table of tested claims: hypothesis, term, expected sign, scale, estimate, CI, p, Holm p, verdict, n.

    Parameters
    ----------
    data : pandas.DataFrame
        Results with ``hypothesis, term, estimate, ci_low, ci_high`` and optionally ``expected,
        p_value, p_holm, verdict, n`` and a ``scale`` or ``kind`` column (see
        :func:`result_scales`).
    labels, language, confidence, decimals, title
        As in :func:`regression_table`.
    scale, kind : str
        Column names of the scale / kind of each estimate.

    Returns
    -------
    pandas.DataFrame
        Text cells; ICC rows are written without a leading zero (bounded by 1). A ``Scale``
        column says which scale each estimate is on, so no column mixes scales silently.

    Notes
    -----
    Tested in tests/test_report_apa.py.
    """
    check_dataframe("data", data, columns=["hypothesis", "term", "estimate", "ci_low", "ci_high"])
    check_language(language)
    labels = check_labels(labels)
    check_confidence(confidence)
    t = _TEXT[language]
    scales = result_scales(data, scale=scale, kind=kind)
    out = pd.DataFrame({t["hypothesis"]: data["hypothesis"].astype(str).tolist(),
                        t["term"]: [label_term(x, labels, language=language) for x in data["term"]]})
    if "expected" in data.columns:
        out[t["expected"]] = [_expected_text(v, language) for v in data["expected"]]
    out[t["scale"]] = [SCALE_LABELS[language].get(s, humanise(s)) for s in scales]
    bounded_rows = [s == "icc" for s in scales]
    out[t["estimate"]] = [format_number(v, decimals=decimals, leading_zero=not b, language=language)
                          for v, b in zip(data["estimate"], bounded_rows)]
    out[_ci_header(language, confidence)] = [
        format_ci(lo, hi, decimals=decimals, leading_zero=not b, language=language)
        for lo, hi, b in zip(data["ci_low"], data["ci_high"], bounded_rows)]
    if "p_value" in data.columns:
        out["p"] = [format_p(v, language=language) for v in data["p_value"]]
    if "p_holm" in data.columns:
        out[t["p_holm"]] = [format_p(v, language=language) for v in data["p_holm"]]
    if "verdict" in data.columns:
        out[t["verdict"]] = ["" if _is_missing(v) else _VERDICTS[language].get(str(v), str(v)) for v in data["verdict"]]
    if "n" in data.columns:
        out["n"] = ["" if _is_missing(v) else str(int(v)) for v in data["n"]]
    if language == "fi":
        note = "LV = luottamusväli; Holm = Holmin korjaama p-arvo. ICC = sisäkorrelaatio."
    else:
        note = "CI = confidence interval; Holm = Holm-adjusted p value; ICC = intraclass correlation."
    return _finish(out, note, title)


# ----------------------------------------------------------------------------------------------
# APA sentences
# ----------------------------------------------------------------------------------------------
SENTENCE_KINDS = ("coefficient", "contrast", "icc", "indirect", "reliability")

_STAT_NAMES = {
    "en": {"alpha": "Krippendorff's \u03b1", "kappa": "Cohen's \u03ba", "ac1": "Gwet's AC1",
           "omega": "McDonald's \u03c9", "cronbach_alpha": "Cronbach's \u03b1", "percent_agreement": "agreement"},
    "fi": {"alpha": "Krippendorffin \u03b1", "kappa": "Cohenin \u03ba", "ac1": "Gwetin AC1",
           "omega": "McDonaldin \u03c9", "cronbach_alpha": "Cronbachin \u03b1", "percent_agreement": "yhtäpitävyys"},
}


def _get(row: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in row and not _is_missing(row[name]):
            return row[name]
    return None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def apa_sentence(row: Mapping[str, Any] | pd.Series, *, kind: str = "coefficient", language: str = "en",
                 labels: Mapping[str, str] | None = None, outcome: str | None = None, odds_ratio: bool = False,
                 statistic: str = "alpha", x: str | None = None, mediator: str | None = None,
                 group: str | None = None, confidence: float = 0.95, decimals: int = 2, p: str = "p_value") -> str:
    """One APA 7 sentence reporting a result row, in English or Finnish.

    Parameters
    ----------
    row : mapping or pandas.Series
        ``term, estimate, ci_low, ci_high`` and optionally the p value column ``p``. For
        ``kind="reliability"`` the row may instead hold ``<statistic>``,
        ``<statistic>_ci_low``/``_ci_high`` and ``behaviour`` or ``item`` (a reliability table row).
    kind : {"coefficient", "contrast", "icc", "indirect", "reliability"}
    language : {"en", "fi"}
        English follows APA 7 (no leading zero for p and bounded statistics). Finnish uses the
        decimal comma with the leading zero (``p < 0,001``), ``95 %:n LV [a; b]`` (bounds
        separated by a semicolon because the comma is the decimal mark) and wording that needs no
        inflection of the labels ("Muuttujan X yhteys tulosmuuttujaan Y oli positiivinen").
    labels : mapping, optional
        Term/variable -> label (:func:`labels_from_codebook`).
    outcome : str, optional
        The outcome (a variable name or label), e.g. ``"recommend"`` -> "likelihood to recommend".
    odds_ratio : bool
        Report exp(b) as ``OR`` with the exponentiated interval (coefficients and contrasts).
    statistic : str
        Reliability coefficient: ``alpha`` (Krippendorff), ``kappa``, ``ac1``, ``omega``,
        ``cronbach_alpha``.
    x, mediator : str, optional
        Predictor and mediator of an indirect effect (default: read from the row's ``x`` and
        ``mediator``/``m`` fields, else the term).
    group : str, optional
        Grouping of an ICC (default: the row's ``group`` field or the term after ``icc_``).
    confidence : float
    decimals : int
    p : str
        Name of the p value field (e.g. ``"p_holm"``).

    Returns
    -------
    str
        E.g. "Using the customer's name predicted a higher likelihood to recommend, OR = 1.82, 95% CI [1.51, 2.19],
        p < .001."

    Notes
    -----
    A result is described as an effect ("predicted higher") when its interval excludes zero (or,
    without an interval, when p < 1 - confidence); otherwise as not significant. Tested on
    hand-written expected sentences in both languages (tests/test_report_apa.py).
    """
    check_type("row", row, (Mapping, pd.Series), what="a mapping or pandas Series (one result row)")
    check_option("kind", kind, SENTENCE_KINDS)
    check_language(language)
    labels = check_labels(labels)
    check_confidence(confidence)
    check_number("decimals", decimals, low=0, high=6, integer=True)
    row = dict(row.items()) if isinstance(row, pd.Series) else dict(row)
    fi = language == "fi"
    c = f"{confidence * 100:g}"
    ci_name = f"{c} %:n LV" if fi else f"{c}% CI"

    def num(v, bounded=False):
        return format_number(v, decimals=decimals, leading_zero=not bounded, language=language).replace("-", "\u2212")

    def ci_text(lo, hi, bounded=False):
        if lo is None or hi is None:
            return ""
        return ", " + ci_name + " " + format_ci(lo, hi, decimals=decimals, leading_zero=not bounded,
                                                language=language).replace("-", "\u2212")

    def p_text():
        value = _get(row, p)
        if value is None:
            return ""
        shown = format_p(float(value), language=language)
        return ", p " + (shown if shown[0] in "<>" else "= " + shown)

    if kind == "reliability":
        est = _get(row, statistic, "estimate")
        lo = _get(row, f"{statistic}_ci_low", "ci_low")
        hi = _get(row, f"{statistic}_ci_high", "ci_high")
        item = _get(row, "behaviour", "item", "variable", "term")
        if est is None:
            raise ValueError(f"`row` has no value for {statistic!r} or 'estimate'; it has {sorted(row)}.")
        name = _STAT_NAMES[language].get(statistic, statistic)
        what = label_term(item, labels, language=language) if item is not None else None
        if fi:
            head = f"{name} muuttujalle {what} oli" if what else f"{name} oli"
        else:
            head = f"{name} for {_lower_first(what)} was" if what else f"{name} was"
        return f"{head} {num(est, True)}{ci_text(lo, hi, True)}{p_text()}."

    est = _get(row, "estimate")
    if est is None:
        raise ValueError(f"`row` has no estimate; it has {sorted(row)}.")
    est = float(est)
    lo, hi = _get(row, "ci_low"), _get(row, "ci_high")
    term = str(_get(row, "term") or "")
    if lo is not None and hi is not None:
        significant = not (float(lo) <= 0.0 <= float(hi)) if kind != "icc" else float(lo) > 0.0
    else:
        pv = _get(row, p)
        significant = pv is not None and float(pv) < 1.0 - confidence
    out_label = None if outcome is None else label_term(outcome, labels, language=language)

    if kind == "icc":
        grp = group or _get(row, "group") or (term[4:] if term.startswith("icc_") else None)
        g = label_term(grp, labels, language=language) if grp else None
        if fi:
            head = f"Sisäkorrelaatio (ryhmittely: {g}) oli" if g else "Sisäkorrelaatio oli"
        else:
            head = f"The intraclass correlation for {_lower_first(g)} was" if g else "The intraclass correlation was"
        return f"{head} ICC = {num(est, True)}{ci_text(lo, hi, True)}{p_text()}."

    if kind == "indirect":
        xv = x or _get(row, "x") or (term.split(":", 1)[1].strip() if term.startswith("indirect:") else term)
        mv = mediator or _get(row, "mediator", "m")
        xl = label_term(xv, labels, language=language)
        ml = label_term(mv, labels, language=language) if mv else None
        stat = f"ab = {num(est)}{ci_text(lo, hi)}{p_text()}"
        if fi:
            text = f"Muuttujan {xl} epäsuora vaikutus"
            if out_label:
                text += f" tulosmuuttujaan {out_label}"
            if ml:
                text += f" välittäjämuuttujan {ml} kautta"
            verdict = "oli tilastollisesti merkitsevä" if significant else "ei ollut tilastollisesti merkitsevä"
            return f"{text} {verdict}, {stat}."
        text = f"The indirect effect of {_lower_first(xl)}"
        if out_label:
            text += f" on {_lower_first(out_label)}"
        if ml:
            text += f" through {_lower_first(ml)}"
        verdict = "was significant" if significant else "was not significant"
        return f"{text} {verdict}, {stat}."

    # coefficient / contrast
    if odds_ratio:
        stat = (f"OR = {num(np.exp(est))}"
                + (ci_text(float(np.exp(float(lo))), float(np.exp(float(hi)))) if lo is not None and hi is not None else "")
                + p_text())
    else:
        stat = f"b = {num(est)}{ci_text(lo, hi)}{p_text()}"
    up = est > 0
    if kind == "contrast":
        parts = [s.strip() for s in term.split(" - ")] if " - " in term else [term, None]
        a = label_term(parts[0], labels, language=language)
        b = label_term(parts[1], labels, language=language) if parts[1] else None
        if fi:
            subject = f"Vertailussa {a} vs. {b}" if b else f"Vertailussa {a}"
            verdict = (f"ero oli {'positiivinen' if up else 'negatiivinen'}" if significant
                       else "ero ei ollut tilastollisesti merkitsevä")
            return f"{subject} {verdict}, {stat}."
        if significant and out_label and b:
            return (f"{a} was associated with {'higher' if up else 'lower'} {_lower_first(out_label)} than "
                    f"{_lower_first(b)}, {stat}.")
        if significant:
            return f"The difference between {_lower_first(a)} and {_lower_first(b or '')} was {'positive' if up else 'negative'}, {stat}."
        return (f"{a} and {_lower_first(b or '')} did not differ significantly"
                + (f" in {_lower_first(out_label)}" if out_label else "") + f", {stat}.")
    subject = label_term(term, labels, language=language)
    if fi:
        text = f"Muuttujan {subject} yhteys" + (f" tulosmuuttujaan {out_label}" if out_label else "")
        verdict = (f"oli {'positiivinen' if up else 'negatiivinen'}" if significant
                   else "ei ollut tilastollisesti merkitsevä")
        return f"{text} {verdict}, {stat}."
    if out_label:
        if significant:
            return f"{subject} predicted {'higher' if up else 'lower'} {_lower_first(out_label)}, {stat}."
        return f"{subject} did not significantly predict {_lower_first(out_label)}, {stat}."
    if significant:
        return f"{subject} had a {'positive' if up else 'negative'} effect, {stat}."
    return f"The effect of {_lower_first(subject)} was not significant, {stat}."
