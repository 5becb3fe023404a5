"""Notebook display of results: APA-formatted tables without an index column, and plain sentences.

A notebook step returns a table, a figure or a one-sentence :class:`~svcresearch.modelframe.Note`.
:func:`table` turns a DataFrame into a :class:`Table`, which *is* the DataFrame (full precision,
saved by :func:`svcresearch.analysis.save`) but shows itself formatted as the saved files are:
numbers by :func:`svcresearch.report.format_number` / :func:`~svcresearch.report.format_p`, no
leading zero for statistics bounded by 1, yes/no for booleans, a dash for empty cells, its title
above and its note below, and no index column. :class:`PlainNote` is a Note shown as the cell's
plain-text output.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from svcresearch._validation import check_dataframe, check_number, check_type
from svcresearch.modelframe import Note

__all__ = ["Table", "table", "PlainNote", "MAX_ROWS"]

#: Rows a table shows in a notebook; the saved files keep every row.
MAX_ROWS = 60


class PlainNote(Note):
    """A :class:`~svcresearch.modelframe.Note` shown as the cell's plain-text output (like ``print``).

    Used by the overview notebooks (00–02), whose one-sentence skips have always been plain output.
    """

    def _ipython_display_(self) -> None:
        print(str(self))


class Table(pd.DataFrame):
    """A DataFrame that shows itself as an APA table (see :func:`table`).

    Everything a DataFrame does works unchanged (and keeps full precision); only the notebook
    display (``_repr_html_``) and the text ``repr`` are formatted. ``attrs``: ``title``, ``note``,
    ``format`` (``decimals``, ``p_columns``, ``bounded`` of :func:`svcresearch.report.save_table`),
    ``max_rows``.
    """

    @property
    def _constructor(self):
        return Table

    def _formatted(self) -> tuple[list[str], list[list[str]], list[bool], str | None]:
        from svcresearch.report import _format_frame

        fmt = dict(self.attrs.get("format") or {})
        frame = pd.DataFrame(self)
        if any(n is not None for n in frame.index.names):
            frame = frame.reset_index()
        limit = int(self.attrs.get("max_rows") or MAX_ROWS)
        shown = frame.head(limit)
        header, rows, numeric = _format_frame(shown, decimals=fmt.get("decimals", 2), p_columns=fmt.get("p_columns"),
                                              bounded=fmt.get("bounded"))
        note = self.attrs.get("note") or None
        if len(frame) > limit:
            more = f"Showing the first {limit} of {len(frame):,} rows; the saved table has all of them."
            note = f"{note} {more}" if note else more
        return header, rows, numeric, note

    def _repr_html_(self) -> str:
        from svcresearch.report import _to_html

        header, rows, numeric, note = self._formatted()
        out = _to_html(header, rows, numeric, title=self.attrs.get("title"), note=note, number=None, language="en")
        return f'<div class="svcresearch-table">{out}</div>'

    def __repr__(self) -> str:
        from svcresearch.report import EMPTY

        header, rows, numeric, note = self._formatted()
        cells = [[c if c != "" else EMPTY for c in row] for row in rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]

        def line(values):
            return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

        out = [str(self.attrs["title"])] if self.attrs.get("title") else []
        out += [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
        if note:
            out.append(f"Note. {note}")
        return "\n".join(out)


def table(data: pd.DataFrame, *, title: str | None = None, note: str | None = None,
          decimals: int | Mapping[str, int] | None = None, p_columns: Iterable[str] | None = None,
          bounded: Iterable[str] | None = None, max_rows: int | None = None) -> Table:
    """A :class:`Table` of ``data`` (a copy, index dropped) that displays formatted.

    Parameters
    ----------
    data : pandas.DataFrame
        Columns already named for a reader (``"Behaviour"``, ``"Link rate"``); numbers at full
        precision.
    title, note : str, optional
        Shown above and below the table and used by :func:`svcresearch.report.save_table`
        (default: ``data.attrs``).
    decimals, p_columns, bounded : optional
        As in :func:`svcresearch.report.save_table`; stored in ``attrs["format"]`` so that the
        display and the saved files (:func:`svcresearch.analysis.save`) format numbers alike.
    max_rows : int, optional
        Rows shown in the notebook (default :data:`MAX_ROWS`); the data keep every row.

    Returns
    -------
    Table

    Notes
    -----
    Formatting is :func:`svcresearch.report._format_frame`, the code that writes the Markdown,
    LaTeX, HTML and Word files; tests/test_overview.py checks that a displayed table shows the
    same cells as the saved Markdown file and no index.
    """
    check_dataframe("data", data)
    for name, value in (("title", title), ("note", note)):
        if value is not None:
            check_type(name, value, str)
    if max_rows is not None:
        check_number("max_rows", max_rows, low=1, integer=True)
    out = Table(data.reset_index(drop=True).copy())
    out.attrs = {k: v for k, v in data.attrs.items() if k in ("title", "note")}
    if title is not None:
        out.attrs["title"] = title
    if note is not None:
        out.attrs["note"] = note
    fmt: dict[str, Any] = {}
    if decimals is not None:
        fmt["decimals"] = dict(decimals) if isinstance(decimals, Mapping) else decimals
    if p_columns is not None:
        fmt["p_columns"] = list(p_columns)
    if bounded is not None:
        fmt["bounded"] = list(bounded)
    if fmt:
        out.attrs["format"] = fmt
    if max_rows is not None:
        out.attrs["max_rows"] = int(max_rows)
    return out

