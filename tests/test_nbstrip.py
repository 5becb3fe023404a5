"""Notebooks stay clean in git: the stripper, the git clean filter, and the committed notebooks."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from svcresearch import nbstrip

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
GIT = shutil.which("git")


def _lab_saved_notebook() -> dict:
    """A notebook as JupyterLab saves it after a run: outputs, counts, view state, full language_info."""
    return {
        "nbformat": 4, "nbformat_minor": 4,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                              "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                              "pygments_lexer": "ipython3", "version": "3.11.7"},
            "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}},
            "title": "Kept",
        },
        "cells": [
            {"cell_type": "markdown", "metadata": {"jp-MarkdownHeadingCollapsed": True},
             "source": ["# Title\n", "Umlauts stay: äö — and so do line ends\n"]},
            {"cell_type": "code", "execution_count": 7,
             "metadata": {"scrolled": True, "tags": ["keep-me"], "execution": {"iopub.status.busy": "2026-01-01"},
                          "jupyter": {"source_hidden": True}, "trusted": True},
             "source": "x = 1\nprint(x)",
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]},
                         {"output_type": "display_data", "metadata": {},
                          "data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}}]},
            {"cell_type": "raw", "metadata": {"raw_mimetype": "text/latex", "collapsed": False}, "source": "\\LaTeX"},
            {"cell_type": "markdown", "metadata": {}, "source": "![a](attachment:a.png)",
             "attachments": {"a.png": {"image/png": "iVBORw0KGgo="}}},
        ],
    }


def test_strip_removes_outputs_counts_and_volatile_metadata():
    stripped = nbstrip.strip_notebook(_lab_saved_notebook())
    code = stripped["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["metadata"] == {"tags": ["keep-me"]}
    assert stripped["cells"][0]["metadata"] == {}
    assert stripped["cells"][2]["metadata"] == {"raw_mimetype": "text/latex"}
    assert stripped["cells"][3]["attachments"] == {"a.png": {"image/png": "iVBORw0KGgo="}}
    assert stripped["metadata"] == {"kernelspec": nbstrip.KERNELSPEC, "language_info": {"name": "python"},
                                    "title": "Kept"}
    # nbformat 4.5: every cell gets an id (derived, so stripping twice gives the same file)
    assert stripped["nbformat_minor"] == 5
    ids = [c["id"] for c in stripped["cells"]]
    assert len(set(ids)) == 4 and ids == [c["id"] for c in nbstrip.strip_notebook(_lab_saved_notebook())["cells"]]


def test_stripped_text_is_what_nbformat_writes_and_is_idempotent():
    text = nbstrip.strip_text(json.dumps(_lab_saved_notebook()))
    node = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
    nbformat.validate(node)  # a valid nbformat 4.5 notebook
    # JupyterLab saves through nbformat.write: the same bytes, so opening and saving changes nothing
    assert text == nbformat.writes(node) + "\n"
    assert nbstrip.strip_text(text) == text
    assert "äö —" in text  # non-ASCII kept as is, like nbformat


def test_ids_that_exist_are_kept_and_duplicates_replaced():
    nb = _lab_saved_notebook()
    for cell, cid in zip(nb["cells"], ["a1", "a1", "b2", "c3"]):
        cell["id"] = cid
    ids = [c["id"] for c in nbstrip.strip_notebook(nb)["cells"]]
    assert ids[0] == "a1" and ids[2:] == ["b2", "c3"] and ids[1] not in {"a1", "b2", "c3"}


def test_errors_name_what_was_expected():
    with pytest.raises(ValueError, match="nbformat 4"):
        nbstrip.strip_notebook({"nbformat": 3, "worksheets": []})
    with pytest.raises(TypeError, match="notebook"):
        nbstrip.strip_notebook(["cells"])
    with pytest.raises(ValueError, match="invalid JSON at line 1"):
        nbstrip.strip_text("{not json")


def _run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)


def test_command_line_filter_check_and_in_place(tmp_path):
    raw = json.dumps(_lab_saved_notebook())
    # filter mode: stdin -> stdout; input that is not a notebook passes through unchanged, exit 0
    out = _run([sys.executable, "-m", "svcresearch.nbstrip"], input=raw)
    assert out.returncode == 0 and out.stdout == nbstrip.strip_text(raw)
    out = _run([sys.executable, "-m", "svcresearch.nbstrip"], input="<<<<<<< HEAD\n")
    assert out.returncode == 0 and out.stdout == "<<<<<<< HEAD\n" and "left unchanged" in out.stderr

    path = tmp_path / "a.ipynb"
    path.write_text(raw, encoding="utf-8")
    check = _run([sys.executable, "-m", "svcresearch.nbstrip", "--check", str(path)])
    assert check.returncode == 1 and "not stripped" in check.stdout
    assert _run([sys.executable, "-m", "svcresearch.nbstrip", str(path)]).returncode == 0
    assert nbstrip.is_stripped(path)
    assert _run([sys.executable, "-m", "svcresearch.nbstrip", "--check", str(path)]).returncode == 0


def _git(repo, *args):
    out = _run([GIT, "-C", str(repo), *args])
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(GIT is None, reason="git is not installed")
def test_executed_and_saved_notebook_leaves_git_status_clean(tmp_path):
    """A notebook run and saved (outputs, counts, kernel metadata) is unchanged for git under the filter."""
    repo = tmp_path / "project"
    (repo / "notebooks").mkdir(parents=True)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "test@example.org")
    _git(repo, "config", "user.name", "test")
    # what `make setup` configures, with this interpreter
    _git(repo, "config", "filter.svcresearch-strip.clean", f"'{sys.executable}' -m svcresearch.nbstrip")
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A small analysis"),
                nbformat.v4.new_code_cell("import pandas as pd\nfrom svcresearch import config\n"
                                          "pd.DataFrame({'a': [1, 2]})"),
                nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nprint('done')")]
    path = repo / "notebooks" / "01_small.ipynb"
    nbformat.write(nb, path)
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "stripped notebook")
    committed = _git(repo, "show", "HEAD:notebooks/01_small.ipynb")
    assert committed == nbstrip.strip_text(committed)

    executed = nbformat.read(path, as_version=4)
    NotebookClient(executed, timeout=120, kernel_name="python3").execute()
    executed.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                       "name": "python3"}
    executed.metadata["language_info"] = {"name": "python", "version": sys.version.split()[0]}
    nbformat.write(executed, path)  # as JupyterLab saves
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert any(c.get("outputs") for c in on_disk["cells"] if c["cell_type"] == "code"), "nothing was executed"

    # git sees a different size and calls the file modified before filtering, but the content
    # it would commit is unchanged; the post-save hook `make lab` installs re-records the stat
    assert _git(repo, "diff") == ""
    assert nbstrip.refresh_git_index(os_path=path) is True
    assert _git(repo, "status", "--porcelain") == ""
    _git(repo, "add", "notebooks")  # committing stores nothing new
    assert _git(repo, "status", "--porcelain") == "" and _git(repo, "diff", "--cached") == ""

    # an edit to the code is still seen (the filter strips outputs, not changes); the hook stages nothing
    executed.cells[1].source += "\n# changed"
    nbformat.write(executed, path)
    assert nbstrip.refresh_git_index(os_path=path) is False
    assert _git(repo, "status", "--porcelain").strip() == "M notebooks/01_small.ipynb"
    assert _git(repo, "diff", "--cached") == ""
    assert "+    \"# changed\"" in _git(repo, "diff") and "outputs\": [\n     {" not in _git(repo, "diff")
    # outside a repository, or for other files, the hook does nothing and never raises
    assert nbstrip.refresh_git_index(os_path=tmp_path / "missing.ipynb") is False


def _committed(path: Path) -> str:
    """The notebook as git has it (the index), else the file: what a fresh clone gets."""
    if GIT is not None:
        rel = path.relative_to(ROOT).as_posix()
        out = _run([GIT, "-C", str(ROOT), "show", f":{rel}"])
        if out.returncode == 0:
            return out.stdout
    return path.read_text(encoding="utf-8")


def test_gitattributes_routes_the_notebooks_through_the_filter():
    lines = (ROOT / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "notebooks/*.ipynb filter=svcresearch-strip" in lines


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_already_stripped(path):
    text = _committed(path)
    assert nbstrip.strip_text(text) == text, (
        f"{path.name} is not committed stripped: run `make setup` (installs the git filter), then "
        f"`git add --renormalize notebooks/` or `python -m svcresearch.nbstrip notebooks/*.ipynb`")
