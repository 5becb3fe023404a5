"""Reports for readers: notebook HTML without code, and one index page linking every output.

:func:`export_html` writes an executed notebook twice: ``NAME.html`` for readers (code cells and
prompts hidden, a table of contents from the headings) and ``NAME.code.html`` with the code, each
linking to the other. :func:`write_index` writes ``reports/index.html``, which links every notebook
report, figure (``figures/*.{png,pdf,svg}``) and table (``tables/*``) with its caption and the
notebook it came from.

Both pages work offline and alone: CSS is inlined, images are embedded or linked relatively, and
no script or stylesheet is loaded from anywhere (nbconvert's default template pulls require.js,
MathJax and mermaid from a CDN; the template here leaves them out, so LaTeX in Markdown shows as
its source).

Captions and sources come from the manifests that :func:`svcresearch.figures.save_figure` and
:func:`svcresearch.report.save_table` keep beside their files (``figures/manifest.json``,
``tables/manifest.json``: ``{name: {kind, files, caption, source, ...}}``). Where an output has no
entry, the caption is the table's Markdown title (its bold first line) or the humanised file name,
and the source is the executed notebook (``notebooks/*.ipynb``) whose code or output names the file.
"""
from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

from svcresearch._validation import InputError, check_type

#: File types listed in the index; any other file in ``figures/`` or ``tables/`` is not an output.
FIGURE_FORMATS = ("png", "svg", "pdf")
TABLE_FORMATS = ("html", "md", "csv", "docx", "tex", "xlsx")
MANIFEST = "manifest.json"
CODE_SUFFIX = ".code.html"

_TEMPLATE_NAME = "svcresearch_report.html.j2"
# Extends nbconvert's "lab" template: no CDN scripts (require.js, MathJax, mermaid, widgets), a
# header linking the other version and the index, and a place for the table of contents.
_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_css -%}
<style type="text/css">
{{ resources.svcresearch.css }}
</style>
{%- endblock html_head_css -%}
{%- block body_header -%}
<body class="jp-Notebook svc-report" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
<header class="svc-bar">{{ resources.svcresearch.bar }}</header>
<div class="svc-page">
<nav class="svc-toc" aria-label="Contents"><!--svcresearch-toc--></nav>
<main>
{%- endblock body_header -%}
{% block body_footer %}
</main>
</div>
</body>
{% endblock body_footer %}
"""

_REPORT_CSS = """
body.jp-Notebook.svc-report { margin: 0; padding: 0; }
.svc-bar { position: sticky; top: 0; z-index: 10; background: #f4f6f8; border-bottom: 1px solid #d0d7de;
  padding: 6px 16px; font: 13px/1.5 system-ui, sans-serif; display: flex; gap: 16px; }
.svc-bar a { color: #0b5cad; text-decoration: none; }
.svc-bar .svc-where { color: #57606a; margin-left: auto; }
.svc-page { display: flex; align-items: flex-start; }
.svc-toc { position: sticky; top: 36px; flex: 0 0 240px; max-height: calc(100vh - 48px); overflow-y: auto;
  padding: 12px 8px 12px 16px; font: 13px/1.45 system-ui, sans-serif; border-right: 1px solid #e5e8eb; }
.svc-toc:empty { display: none; }
.svc-toc p { margin: 0 0 6px; font-weight: 600; color: #24292f; }
.svc-toc ol { list-style: none; margin: 0; padding: 0; }
.svc-toc li { margin: 2px 0; }
.svc-toc li.svc-l2 { padding-left: 10px; } .svc-toc li.svc-l3 { padding-left: 22px; font-size: 12px; }
.svc-toc a { color: #24292f; text-decoration: none; } .svc-toc a:hover { text-decoration: underline; }
.svc-page > main { flex: 1 1 auto; min-width: 0; max-width: 1100px; padding: 8px 24px 48px; }
@media (max-width: 900px) { .svc-page { display: block; } .svc-toc { position: static; max-height: none;
  border-right: 0; border-bottom: 1px solid #e5e8eb; } }
@media print { .svc-bar, .svc-toc { display: none; } }
"""

_INDEX_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #24292f; margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 26px; margin: 12px 0 4px; } h2 { font-size: 20px; margin: 28px 0 8px;
  border-bottom: 1px solid #d0d7de; padding-bottom: 4px; } h3 { font-size: 16px; margin: 18px 0 6px; }
.lead { color: #57606a; margin: 0 0 12px; }
a { color: #0b5cad; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid #e5e8eb; }
th { border-bottom: 2px solid #8c959f; font-weight: 600; }
.files a { margin-right: 8px; white-space: nowrap; }
.muted { color: #6e7781; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 16px; }
figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; background: #fff; }
figure img { display: block; width: 100%; height: 190px; object-fit: contain; background: #fafbfc; }
figcaption { font-size: 14px; margin-top: 6px; }
nav.toc a { margin-right: 14px; }
"""


# ----------------------------------------------------------------------------------------------
# Notebook reports
# ----------------------------------------------------------------------------------------------
class _Headings(HTMLParser):
    """Collect ``<h1>``–``<h3>`` elements that carry an ``id`` (nbconvert gives Markdown headings one)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings: list[tuple[int, str, str]] = []
        self._open: tuple[int, str] | None = None
        self._text: list[str] = []
        self._skip = 0
        self.title: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("h1", "h2", "h3") and self._open is None:
            self._open = (int(tag[1]), attrs.get("id") or "")
            self._text = []
        elif self._open is not None and tag == "a" and "anchor-link" in (attrs.get("class") or ""):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == "a" and self._skip:
            self._skip -= 1
        elif self._open is not None and tag == f"h{self._open[0]}":
            level, anchor = self._open
            text = " ".join("".join(self._text).split())
            if text:
                if level == 1 and self.title is None:
                    self.title = text
                if anchor:
                    self.headings.append((level, anchor, text))
            self._open = None

    def handle_data(self, data):
        if self._open is not None and not self._skip:
            self._text.append(data)


def _toc_html(headings: list[tuple[int, str, str]]) -> str:
    if sum(1 for level, _, _ in headings if level == 1) == 1 and headings[0][0] == 1:
        headings = headings[1:]  # the notebook's title heads the page; the contents list its sections
    if len(headings) < 2:
        return ""
    top = min(level for level, _, _ in headings)
    items = "".join(f'<li class="svc-l{level - top + 1}"><a href="#{html.escape(anchor, quote=True)}">'
                    f"{html.escape(text)}</a></li>" for level, anchor, text in headings)
    return f"<p>Contents</p><ol>{items}</ol>"


def _exporter(*, code: bool):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file=_TEMPLATE_NAME,
                        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
                        exclude_input=not code, exclude_input_prompt=not code,
                        exclude_output_prompt=not code, embed_images=True)


def _render(notebook, *, code: bool, stem: str, other: str, index_href: str | None) -> str:
    links = []
    if index_href:
        links.append(f'<a href="{html.escape(index_href, quote=True)}">All reports</a>')
    label = "Hide the code" if code else "Show the code"
    links.append(f'<a class="svc-other" href="{html.escape(quote(other), quote=True)}">{label}</a>')
    links.append(f'<span class="svc-where">{html.escape(stem)}.ipynb</span>')
    resources = {"metadata": {"name": stem},
                 "svcresearch": {"css": _REPORT_CSS, "bar": " ".join(links)}}
    body, _ = _exporter(code=code).from_notebook_node(notebook, resources=resources)
    parser = _Headings()
    parser.feed(body)
    body = body.replace("<!--svcresearch-toc-->", _toc_html(parser.headings), 1)
    if parser.title and "title" not in notebook.get("metadata", {}):
        body = re.sub(r"<title>.*?</title>", lambda _: f"<title>{html.escape(parser.title)}</title>", body,
                      count=1, flags=re.S)
    return body


def _write_text(path: Path, text: str) -> None:
    """Atomic write (temp file + rename, DESIGN.md §8)."""
    from svcresearch.report import write_atomic

    write_atomic(path, text.encode("utf-8"))


def export_html(notebook, path: str | os.PathLike, *, index: str | os.PathLike | None = "../index.html") -> list[Path]:
    """Write an executed notebook as a report for readers and as a version with code.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        The executed notebook (``nbformat.read(..., as_version=4)``).
    path : path
        The reader's report, e.g. ``reports/notebooks/03_describe_sample.html``. The version with
        code is written beside it as ``03_describe_sample.code.html``.
    index : path or None, default ``"../index.html"``
        Link to the report index, relative to ``path``'s folder; None for no link.

    Returns
    -------
    list of Path
        ``[path, code_path]``.

    Raises
    ------
    TypeError
        When ``notebook`` is not a notebook node.
    InputError
        When ``path`` does not end in ``.html``.

    Notes
    -----
    The reader's version hides code cells and prompts (nbconvert ``exclude_input``); both carry a
    table of contents built from the Markdown headings (h1–h3) and load nothing from the network
    (no ``<script src>`` or ``<link href>`` to another host). Checked in tests/test_report_site.py
    on a small executed notebook (headings, hidden code, embedded figure, no remote URL), and in a
    real browser in tests/test_browser.py.
    """
    import nbformat

    check_type("notebook", notebook, nbformat.NotebookNode, what="an nbformat NotebookNode")
    path = Path(path)
    if path.suffix != ".html" or path.name.endswith(CODE_SUFFIX):
        raise InputError(f"`path` must name the reader's report NAME.html (not NAME{CODE_SUFFIX}); "
                         f"got {str(path)!r}")
    stem = path.name[: -len(".html")]
    code_path = path.with_name(stem + CODE_SUFFIX)
    path.parent.mkdir(parents=True, exist_ok=True)
    index_href = None if index is None else Path(index).as_posix()
    _write_text(path, _render(notebook, code=False, stem=stem, other=code_path.name, index_href=index_href))
    _write_text(code_path, _render(notebook, code=True, stem=stem, other=path.name, index_href=index_href))
    return [path, code_path]


# ----------------------------------------------------------------------------------------------
# The index page
# ----------------------------------------------------------------------------------------------
def _humanise(stem: str) -> str:
    text = re.sub(r"[_\-]+", " ", stem).strip()
    return text[:1].upper() + text[1:] if text else stem


def _read_manifest(folder: Path) -> dict[str, dict]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a valid manifest (a JSON object of outputs expected): {exc}", file=path) from None
    if not isinstance(data, dict):
        raise InputError("not a valid manifest (a JSON object of outputs expected).", file=path)
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


def _outputs(folder: Path, formats: tuple[str, ...]) -> dict[str, list[Path]]:
    """Output stem -> its files in ``formats`` order (hidden, temporary and manifest files skipped)."""
    found: dict[str, list[Path]] = {}
    if not folder.is_dir():
        return found
    for file in sorted(folder.iterdir()):
        if not file.is_file() or file.name.startswith(".") or file.name == MANIFEST:
            continue
        ext = file.suffix.lower().lstrip(".")
        if ext in formats:
            found.setdefault(file.stem, []).append(file)
    for files in found.values():
        files.sort(key=lambda f: formats.index(f.suffix.lower().lstrip(".")))
    return found


def _markdown_title(md: Path) -> str | None:
    try:
        first = md.read_text(encoding="utf-8").lstrip().splitlines()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    match = re.fullmatch(r"\*\*(.+)\*\*", first.strip())
    return re.sub(r"\\(.)", r"\1", match.group(1)) if match else None


def _notebook_texts(folder: Path) -> dict[str, str]:
    """Executed notebook name -> its code and text outputs (to find which one wrote an output)."""
    texts = {}
    for nb_path in sorted(folder.glob("*.ipynb")):
        try:
            nb = json.loads(nb_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        parts = []
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code":
                continue
            source = cell.get("source", "")
            parts.append("".join(source) if isinstance(source, list) else str(source))
            for out in cell.get("outputs", []):
                text = out.get("text") or (out.get("data") or {}).get("text/plain") or ""
                parts.append("".join(text) if isinstance(text, list) else str(text))
        texts[nb_path.name] = "\n".join(parts)
    return texts


def _guess_source(stem: str, texts: Mapping[str, str]) -> str | None:
    pattern = re.compile(r"""(?<![\w.-])["']?""" + re.escape(stem) + r"""(?:["']|\.(?:png|svg|pdf|csv|md|tex|docx|html)\b)""")
    hits = [name for name, text in texts.items() if pattern.search(text)]
    return hits[0] if len(hits) == 1 else None


def _report_title(report: Path) -> str:
    try:
        head = report.read_text(encoding="utf-8")[:20000]
    except (OSError, UnicodeDecodeError):
        return report.stem
    match = re.search(r"<title>(.*?)</title>", head, flags=re.S)
    return html.unescape(match.group(1)).strip() if match and match.group(1).strip() else report.stem


def collect_outputs(reports_dir: str | os.PathLike) -> dict[str, Any]:
    """What :func:`write_index` lists: notebook reports, figures and tables with caption and source.

    Parameters
    ----------
    reports_dir : path
        A reports folder (``reports/`` or ``reports/studies/<slug>``).

    Returns
    -------
    dict
        ``notebooks``: list of ``{name, title, report, code, notebook}`` (paths relative to
        ``reports_dir``, None when absent); ``figures`` and ``tables``: lists of
        ``{name, caption, source, files, number, note, derived}`` where ``source`` is a notebook
        file name or None and ``derived`` says that caption or source was not in the manifest.
    """
    root = Path(reports_dir)
    nb_dir = root / "notebooks"
    notebooks = []
    if nb_dir.is_dir():
        for report in sorted(nb_dir.glob("*.html")):
            if report.name.endswith(CODE_SUFFIX):
                continue
            stem = report.name[: -len(".html")]
            code = report.with_name(stem + CODE_SUFFIX)
            executed = report.with_name(stem + ".ipynb")
            notebooks.append({
                "name": stem + ".ipynb", "title": _report_title(report),
                "report": report.relative_to(root).as_posix(),
                "code": code.relative_to(root).as_posix() if code.is_file() else None,
                "notebook": executed.relative_to(root).as_posix() if executed.is_file() else None})
    texts = None
    result: dict[str, Any] = {"notebooks": notebooks}
    for kind, sub, formats in (("figures", "figures", FIGURE_FORMATS), ("tables", "tables", TABLE_FORMATS)):
        folder = root / sub
        manifest = _read_manifest(folder)
        items = []
        for stem, files in _outputs(folder, formats).items():
            entry = manifest.get(stem, {})
            caption = entry.get("caption")
            source = entry.get("source")
            derived = []
            if not caption and kind == "tables":
                caption = _markdown_title(folder / f"{stem}.md")
            if not caption:
                caption, _ = _humanise(stem), derived.append("caption")
            if not source:
                if texts is None:
                    texts = _notebook_texts(nb_dir) if nb_dir.is_dir() else {}
                source = _guess_source(stem, texts)
                derived.append("source")
            items.append({"name": stem, "caption": str(caption), "source": Path(source).name if source else None,
                          "files": [f.relative_to(root).as_posix() for f in files],
                          "number": entry.get("number"), "note": entry.get("note"), "derived": derived})
        result[kind] = items
    return result


def _a(href: str, text: str, **attrs: str) -> str:
    extra = "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in attrs.items())
    return f'<a href="{html.escape(quote(href, safe="/#"), quote=True)}"{extra}>{html.escape(text)}</a>'


def write_index(reports_dir: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write ``<reports_dir>/index.html`` linking every notebook report, figure and table.

    Parameters
    ----------
    reports_dir : path
        The reports folder holding ``notebooks/``, ``figures/`` and ``tables/`` (any may be absent).
    title : str, optional
        Page heading; default "Reports" plus the study's name when ``reports_dir`` is a per-study
        folder (``reports/studies/<slug>``).

    Returns
    -------
    Path
        The index file.

    Raises
    ------
    InputError
        When ``reports_dir`` is not a folder, or a manifest there is not valid JSON.

    Notes
    -----
    All links are relative, so the folder can be moved or zipped; the page embeds its CSS and no
    script. Figures are grouped by the notebook that made them and shown as thumbnails (the PNG, or
    the SVG when there is no PNG). Tests: tests/test_report_site.py (every link resolves, captions
    from the manifest and, without one, from file names and executed notebooks) and
    tests/test_browser.py (the page opened and every link followed in Chromium).
    """
    root = Path(reports_dir)
    if not root.is_dir():
        raise InputError("not a folder; expected a reports folder (with notebooks/, figures/, tables/).", file=root)
    if title is None:
        title = "Reports" if root.parent.name != "studies" else f"Reports — study {root.name}"
    check_type("title", title, str)
    found = collect_outputs(root)
    notebook_reports = {nb["name"]: nb for nb in found["notebooks"]}

    def source_cell(source: str | None) -> str:
        if not source:
            return '<span class="muted">—</span>'
        nb = notebook_reports.get(source)
        return _a(nb["report"], source) if nb else html.escape(source)

    def files_cell(files: list[str]) -> str:
        return '<span class="files">' + "".join(_a(f, Path(f).suffix.lstrip(".").upper()) for f in files) + "</span>"

    parts = [f"<h1>{html.escape(title)}</h1>",
             '<p class="lead">The executed notebooks as reports (code hidden; each links a version with '
             "code), and every figure and table they saved, with its caption and the notebook it came from.</p>",
             '<nav class="toc">' + _a("#notebooks", "Notebooks") + _a("#figures", "Figures")
             + _a("#tables", "Tables") + "</nav>"]

    parts.append('<h2 id="notebooks">Notebooks</h2>')
    if found["notebooks"]:
        rows = []
        for nb in found["notebooks"]:
            n_fig = sum(1 for f in found["figures"] if f["source"] == nb["name"])
            n_tab = sum(1 for t in found["tables"] if t["source"] == nb["name"])
            other = [_a(nb["code"], "with code")] if nb["code"] else []
            if nb["notebook"]:
                other.append(_a(nb["notebook"], "notebook (.ipynb)"))
            rows.append(f"<tr><td>{_a(nb['report'], nb['title'])}<br><span class=\"muted\">{html.escape(nb['name'])}"
                        f"</span></td><td class=\"files\">{''.join(other)}</td>"
                        f"<td>{n_fig} figure{'s' if n_fig != 1 else ''}, {n_tab} table{'s' if n_tab != 1 else ''}</td></tr>")
        parts.append("<table><thead><tr><th>Report</th><th>Also</th><th>Outputs</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
    else:
        parts.append('<p class="muted">No notebook reports yet (run <code>svcresearch reproduce</code>).</p>')

    parts.append('<h2 id="figures">Figures</h2>')
    if found["figures"]:
        order = [nb["name"] for nb in found["notebooks"]]
        groups: dict[str | None, list[dict]] = {}
        for fig in found["figures"]:
            groups.setdefault(fig["source"], []).append(fig)
        for source in sorted(groups, key=lambda s: (s is None, order.index(s) if s in order else len(order), s or "")):
            heading = "From " + source_cell(source) if source else "Source not recorded"
            parts.append(f"<h3>{heading}</h3><div class=\"figures\">")
            for fig in groups[source]:
                thumb = next((f for f in fig["files"] if f.endswith(".png")), None) or \
                    next((f for f in fig["files"] if f.endswith(".svg")), None)
                img = (f'<a href="{html.escape(quote(thumb), quote=True)}"><img loading="lazy" src="'
                       f'{html.escape(quote(thumb), quote=True)}" alt="{html.escape(fig["caption"], quote=True)}"></a>'
                       if thumb else "")
                parts.append(f"<figure id=\"figure-{html.escape(fig['name'], quote=True)}\">{img}<figcaption>"
                             f"{html.escape(fig['caption'])}<br>{files_cell(fig['files'])}"
                             f"<span class=\"muted\">{html.escape(fig['name'])}</span></figcaption></figure>")
            parts.append("</div>")
    else:
        parts.append('<p class="muted">No figures yet.</p>')

    parts.append('<h2 id="tables">Tables</h2>')
    if found["tables"]:
        rows = []
        order = [nb["name"] for nb in found["notebooks"]]

        def table_order(tab):  # by notebook (in run order), then table number, then name
            source, number = tab["source"], str(tab.get("number") or "")
            return (order.index(source) if source in order else len(order), source or "",
                    (0, int(number)) if number.isdigit() else (1, 0), tab["name"])

        for tab in sorted(found["tables"], key=table_order):
            number = f"Table {html.escape(str(tab['number']))}. " if tab.get("number") else ""
            note = f"<br><span class=\"muted\">{html.escape(str(tab['note']))}</span>" if tab.get("note") else ""
            rows.append(f"<tr id=\"table-{html.escape(tab['name'], quote=True)}\"><td>{number}"
                        f"{html.escape(tab['caption'])}{note}</td><td>{files_cell(tab['files'])}</td>"
                        f"<td>{source_cell(tab['source'])}</td></tr>")
        parts.append("<table><thead><tr><th>Table</th><th>Files</th><th>From notebook</th></tr></thead><tbody>"
                     + "".join(rows) + "</tbody></table>")
    else:
        parts.append('<p class="muted">No tables yet.</p>')

    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{_INDEX_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(parts) + "\n</main>\n</body>\n</html>\n")
    path = root / "index.html"
    _write_text(path, page)
    return path
