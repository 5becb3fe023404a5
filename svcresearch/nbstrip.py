"""Strip notebooks for git: no outputs, no execution counts, no volatile metadata.

The analysis notebooks are committed without outputs (DESIGN.md §10). A researcher who runs and
saves a notebook in JupyterLab writes outputs, execution counts, the Python version and view state
into the file; the git *clean filter* set up by ``make setup``::

    # .gitattributes
    notebooks/*.ipynb filter=svcresearch-strip
    # .git/config (written by `make setup`)
    git config filter.svcresearch-strip.clean "<project>/.venv/bin/python -m svcresearch.nbstrip"

passes every notebook through :func:`strip_text` on its way into git, so ``git status`` stays clean
after a run-and-save and a commit never carries outputs. The working copy keeps its outputs.

Command line::

    python -m svcresearch.nbstrip                 # filter: notebook JSON on stdin, stripped on stdout
    python -m svcresearch.nbstrip NOTEBOOK ...    # strip files in place
    python -m svcresearch.nbstrip --check NOTEBOOK ...   # exit 1 naming files that are not stripped

Only the standard library is used, so the filter starts fast (git runs it once per changed
notebook on ``git status``/``git add``).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from svcresearch._validation import InputError, check_type

#: The project's Jupyter kernel, registered by ``make lab`` (see :mod:`svcresearch.lab`). Every
#: stripped notebook names it, so saving under another Python kernel does not dirty git.
KERNEL_NAME = "svcresearch"
KERNEL_DISPLAY_NAME = "svcresearch (.venv)"
KERNELSPEC = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}

#: Notebook-level metadata kept (besides ``kernelspec`` and ``language_info.name``); everything
#: else — ``widgets``, editor and extension state — is volatile.
NOTEBOOK_METADATA_KEPT = ("authors", "title")
#: Cell-level metadata kept; view state (``collapsed``, ``scrolled``, ``jupyter.source_hidden``,
#: ``execution`` timings, …) is dropped.
CELL_METADATA_KEPT = ("tags", "raw_mimetype", "format")

# nbformat.v4.rwbase: text/* and these mimetypes are stored as lists of lines
_SPLIT_MIMES = ("application/javascript", "image/svg+xml")


def _lines(text: Any) -> Any:
    """nbformat's on-disk form of multi-line text: a list of lines keeping their line ends."""
    if isinstance(text, list) and all(isinstance(line, str) for line in text):
        text = "".join(text)
    return text.splitlines(True) if isinstance(text, str) else text


def _cell_id(index: int, cell: dict) -> str:
    """A deterministic id for a cell that has none (notebooks older than nbformat 4.5)."""
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    return hashlib.sha1(f"{index}\0{cell.get('cell_type')}\0{source}".encode()).hexdigest()[:8]


def strip_notebook(notebook: dict) -> dict:
    """Return a stripped copy of a notebook given as its JSON dict (nbformat 4).

    Parameters
    ----------
    notebook : dict
        The parsed ``.ipynb`` JSON.

    Returns
    -------
    dict
        Code cells without outputs and execution counts; cell metadata reduced to
        :data:`CELL_METADATA_KEPT`; notebook metadata reduced to the project's
        :data:`KERNELSPEC`, ``language_info.name`` and :data:`NOTEBOOK_METADATA_KEPT`; nbformat
        4.5 with a cell id on every cell (ids already present are kept, missing ones are derived
        from the cell's position and source); multi-line text as lists of lines.

    Raises
    ------
    TypeError
        When ``notebook`` is not a dict.
    InputError
        When it is not an nbformat 4 notebook (no ``cells`` list or ``nbformat`` other than 4).

    Notes
    -----
    Stripping is idempotent, and its JSON (:func:`strip_text`) is byte-identical to what
    ``nbformat.writes`` (which JupyterLab uses to save) produces for the same notebook, so a
    stripped notebook that Lab opens and saves unchanged stays the same file
    (tests/test_nbstrip.py checks both, and that a notebook executed and saved leaves
    ``git status`` clean under the filter).
    """
    check_type("notebook", notebook, dict, what="a notebook's JSON object")
    if notebook.get("nbformat") != 4 or not isinstance(notebook.get("cells"), list):
        raise InputError(f"expected an nbformat 4 notebook with a list of cells, got nbformat "
                         f"{notebook.get('nbformat')!r}")
    nb = copy.deepcopy(notebook)
    metadata = nb.get("metadata") or {}
    kept = {key: metadata[key] for key in NOTEBOOK_METADATA_KEPT if key in metadata}
    kept["kernelspec"] = dict(KERNELSPEC)
    language = (metadata.get("language_info") or {}).get("name", "python")
    kept["language_info"] = {"name": language}
    nb["metadata"] = kept
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor", 0)), 5)

    seen: set[str] = set()
    for index, cell in enumerate(nb["cells"]):
        cell_id = cell.get("id")
        if not isinstance(cell_id, str) or not cell_id or cell_id in seen:
            cell_id = _cell_id(index, cell)
            while cell_id in seen:
                cell_id = hashlib.sha1(cell_id.encode()).hexdigest()[:8]
        seen.add(cell_id)
        cell["id"] = cell_id
        cell["metadata"] = {key: value for key, value in (cell.get("metadata") or {}).items()
                            if key in CELL_METADATA_KEPT}
        cell["source"] = _lines(cell.get("source", ""))
        for bundle in (cell.get("attachments") or {}).values():
            for mime, value in bundle.items():
                if mime.startswith("text/") or mime in _SPLIT_MIMES:
                    bundle[mime] = _lines(value)
                elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                    bundle[mime] = "".join(value)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


def strip_text(text: str) -> str:
    """Strip a notebook given as ``.ipynb`` text; the result is written as nbformat writes it.

    Parameters
    ----------
    text : str
        The notebook file's content.

    Returns
    -------
    str
        Sorted keys, one-space indent, non-ASCII kept, final newline (as ``nbformat.write``).

    Raises
    ------
    InputError
        When ``text`` is not JSON or not an nbformat 4 notebook.
    """
    check_type("text", text, str)
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not a notebook (invalid JSON at line {exc.lineno}, column {exc.colno})") from exc
    if not isinstance(notebook, dict):
        raise InputError("not a notebook (the JSON is not an object)")
    stripped = strip_notebook(notebook)
    return json.dumps(stripped, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def is_stripped(path: str | os.PathLike) -> bool:
    """True when the notebook file at ``path`` is already exactly as :func:`strip_text` writes it."""
    text = Path(path).read_text(encoding="utf-8")
    return strip_text(text) == text


def strip_file(path: str | os.PathLike) -> bool:
    """Strip the notebook at ``path`` in place (atomically); return True when the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    stripped = strip_text(text)
    if stripped == text:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(stripped)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def refresh_git_index(*, os_path: str | os.PathLike, model: Any = None, contents_manager: Any = None,
                      **_: Any) -> bool:
    """Jupyter post-save hook: after a save that changed only outputs, git shows the notebook clean.

    git decides a file is modified from its size alone when the size changed, before it would run
    the clean filter; so a notebook saved with outputs shows as modified although ``git diff`` is
    empty. When the saved file, passed through the filter, is exactly the blob in the index, this
    re-records the file's stat data in the index (``git update-index``; the staged content stays
    the same); a save with a real change is left alone. ``make lab`` installs it
    (``--ContentsManager.post_save_hook=svcresearch.nbstrip.refresh_git_index``).

    Parameters
    ----------
    os_path : path
        The file just saved (Jupyter passes ``os_path``, ``model`` and ``contents_manager``).

    Returns
    -------
    bool
        True when the index entry was refreshed. Never raises (a failing hook would fail the save).

    Notes
    -----
    Only files whose git ``filter`` attribute is ``svcresearch-strip`` and that git tracks are
    touched. Tested in tests/test_nbstrip.py (output-only save → clean; edited code → still
    modified, nothing staged) and through a real JupyterLab save in tests/test_browser.py.
    """
    import subprocess

    try:
        path = Path(os_path).resolve()
        if path.suffix != ".ipynb" or not path.is_file():
            return False

        def git(*args: str) -> str:
            out = subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True, text=True,
                                 timeout=30, check=False)
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip())
            return out.stdout.strip()

        top = Path(git("rev-parse", "--show-toplevel")).resolve()
        rel = path.relative_to(top).as_posix()
        if not git("-C", str(top), "check-attr", "filter", "--", rel).endswith(": filter: svcresearch-strip"):
            return False
        staged = git("-C", str(top), "rev-parse", "--verify", "--quiet", f":{rel}")
        if not staged or git("-C", str(top), "hash-object", "--", rel) != staged:
            return False
        git("-C", str(top), "update-index", "--", rel)
        return True
    except Exception:  # noqa: BLE001 - no git, not a repository, index locked: the save stands as is
        return False


def _filter(stdin, stdout, stderr) -> int:
    """The git clean filter: never loses content — input that is not a notebook passes unchanged."""
    raw = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode("utf-8")
    try:
        out = strip_text(raw.decode("utf-8")).encode("utf-8")
    except (UnicodeDecodeError, InputError) as exc:
        print(f"svcresearch.nbstrip: left unchanged: {exc}", file=stderr)
        out = raw
    if hasattr(stdout, "buffer"):
        stdout.buffer.write(out)
        stdout.buffer.flush()
    else:
        stdout.write(out.decode("utf-8"))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m svcresearch.nbstrip",
                                     description="Strip outputs, execution counts and volatile metadata "
                                                 "from Jupyter notebooks (stdin to stdout without files).")
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to strip in place")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 naming every notebook that is not stripped")
    args = parser.parse_args(argv)
    if not args.notebooks:
        if args.check:
            parser.error("--check needs notebook paths")
        return _filter(sys.stdin, sys.stdout, sys.stderr)
    status = 0
    for path in args.notebooks:
        try:
            if args.check:
                if not is_stripped(path):
                    print(f"{path}: not stripped (run python -m svcresearch.nbstrip {path})")
                    status = 1
            elif strip_file(path):
                print(f"{path}: stripped")
        except (OSError, UnicodeDecodeError, InputError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
