"""Reports for readers: export_html (code hidden, contents, offline) and the index page (every link resolves)."""
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from svcresearch import report_site  # noqa: E402

SENTINEL = "value_of_secret_code_line = 41 + 1"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.srcs, self.remote = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.srcs.append(attrs["src"])
        # anything the browser would load by itself from another host
        for key in ("src", "href") if tag in ("script", "link", "img", "iframe") else ():
            if re.match(r"(https?:)?//", attrs.get(key) or ""):
                self.remote.append((tag, attrs[key]))


def _parse(text):
    parser = _Links()
    parser.feed(text)
    return parser


@pytest.fixture(scope="module")
def executed():
    """A small notebook run in a real kernel: headings, a figure, a table."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Small report\n\nIntro text."),
        nbformat.v4.new_code_cell(SENTINEL + "\nimport pandas as pd\n"
                                  "pd.DataFrame({'group': ['a', 'b'], 'n': [3, 4]})"),
        nbformat.v4.new_markdown_cell("## First section"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()"),
        nbformat.v4.new_markdown_cell("## Second section & more\n\n### A detail"),
    ]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_export_html_hides_code_has_contents_and_loads_nothing_remote(executed, tmp_path):
    path = tmp_path / "reports" / "notebooks" / "07_small.html"
    written = report_site.export_html(executed, path)
    assert written == [path, path.with_name("07_small.code.html")]
    reader, code = (p.read_text(encoding="utf-8") for p in written)

    assert "value_of_secret_code_line" not in reader and "value_of_secret_code_line" in code
    assert not re.search(r'class="jp-(In|Out)putPrompt', reader) and 'class="jp-InputPrompt' in code
    for page in (reader, code):
        links = _parse(page)
        assert links.remote == []
        assert "<script src" not in page
        assert "<title>Small report</title>" in page
        # the table of contents lists the sections (not the page title) and points at their anchors
        toc = re.search(r'<nav[^>]*class="svc-toc"[^>]*>(.*?)</nav>', page, flags=re.S).group(1)
        assert [html.unescape(unquote(h)) for h in re.findall(r'href="#([^"]+)"', toc)] == \
            ["First-section", "Second-section-&-more", "A-detail"]
        for anchor in re.findall(r'href="#([^"]+)"', toc):
            assert f'id="{anchor}"' in page
        assert re.search(r'<img[^>]+src="data:image/png;base64,', page)  # figure embedded
        assert "<table" in page
        assert 'href="../index.html"' in page
    assert 'href="07_small.code.html"' in reader and 'href="07_small.html"' in code


def test_export_html_checks_its_arguments(executed, tmp_path):
    with pytest.raises(TypeError, match="notebook"):
        report_site.export_html({"cells": []}, tmp_path / "a.html")
    with pytest.raises(ValueError, match="NAME.html"):
        report_site.export_html(executed, tmp_path / "a.code.html")
    with pytest.raises(ValueError, match="NAME.html"):
        report_site.export_html(executed, tmp_path / "a.pdf")


def _reports_folder(root: Path, executed) -> Path:
    """A reports folder as the pipeline leaves it: one output with a manifest entry, others without."""
    reports = root / "reports"
    (reports / "figures").mkdir(parents=True)
    (reports / "tables").mkdir()
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1])
    for ext in ("png", "svg", "pdf"):
        fig.savefig(reports / "figures" / f"wait_effect.{ext}")
        fig.savefig(reports / "figures" / f"raw_distributions.{ext}")
    plt.close(fig)
    (reports / "figures" / "manifest.json").write_text(json.dumps({"wait_effect": {
        "kind": "figure", "files": ["wait_effect.pdf", "wait_effect.png", "wait_effect.svg"],
        "caption": "Waiting lowers satisfaction", "source": "05_moderation.ipynb"}}), encoding="utf-8")
    (reports / "tables" / "sample by channel.md").write_text("**Sample by channel**\n\n| a |\n|---:|\n| 1 |\n",
                                                             encoding="utf-8")
    (reports / "tables" / "sample by channel.csv").write_text("a\n1\n", encoding="utf-8")
    (reports / "tables" / ".sample.csv.tmp").write_text("", encoding="utf-8")  # temp files are not outputs
    # the executed notebook names the figure it saved; the table's source is not recorded anywhere
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell('save_figure(fig, "raw_distributions")')]
    (reports / "notebooks").mkdir()
    nbformat.write(nb, reports / "notebooks" / "00_design.ipynb")
    report_site.export_html(executed, reports / "notebooks" / "00_design.html")
    return reports


def test_index_links_every_output_with_caption_and_source(executed, tmp_path):
    reports = _reports_folder(tmp_path, executed)
    index = report_site.write_index(reports)
    assert index == reports / "index.html"
    page = index.read_text(encoding="utf-8")
    links = _parse(page)
    assert links.remote == []

    targets = [unquote(urlsplit(h).path) for h in links.hrefs + links.srcs if not h.startswith("#")]
    for target in targets:
        assert (reports / target).is_file(), f"index links to a missing file: {target}"
    linked = {Path(t).name for t in targets}
    expected = {"00_design.html", "00_design.code.html", "00_design.ipynb", "sample by channel.md",
                "sample by channel.csv"} | {f"{s}.{e}" for s in ("wait_effect", "raw_distributions")
                                             for e in ("png", "svg", "pdf")}
    assert expected <= linked
    assert not any(n.startswith(".") or n == "manifest.json" for n in linked)
    for anchor in re.findall(r'href="#([^"]+)"', page):
        assert f'id="{anchor}"' in page

    found = report_site.collect_outputs(reports)
    figures = {f["name"]: f for f in found["figures"]}
    assert figures["wait_effect"]["caption"] == "Waiting lowers satisfaction"  # from the manifest
    assert figures["wait_effect"]["source"] == "05_moderation.ipynb" and figures["wait_effect"]["derived"] == []
    assert figures["raw_distributions"]["caption"] == "Raw distributions"  # from the file name
    assert figures["raw_distributions"]["source"] == "00_design.ipynb"  # from the executed notebook
    table = found["tables"][0]
    assert (table["name"], table["caption"], table["source"]) == ("sample by channel", "Sample by channel", None)
    assert found["notebooks"][0]["title"] == "Small report"
    assert "Waiting lowers satisfaction" in page and "Sample by channel" in page


def test_index_of_an_empty_or_missing_folder(tmp_path):
    page = report_site.write_index(tmp_path).read_text(encoding="utf-8")
    assert "No notebook reports yet" in page and "No figures yet" in page
    with pytest.raises(ValueError, match="not a folder"):
        report_site.write_index(tmp_path / "nope")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "manifest.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="manifest"):
        report_site.write_index(tmp_path)
