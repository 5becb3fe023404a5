"""The main job: clean the raw study, then execute every notebook headless and fill ``reports/``.

Notebooks are executed with nbclient in a fresh kernel each, in file-name order, with the working
directory set to ``notebooks/`` and the paths of :mod:`svcresearch.config` passed through the
environment, so the same notebooks run on the default study, on a user's study, and in the tests.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from svcresearch import config

_PATH_VARIABLES = {
    "raw": "SVCRESEARCH_DATA_RAW",
    "processed": "SVCRESEARCH_DATA_PROCESSED",
    "reports": "SVCRESEARCH_REPORTS",
}


class NotebookError(RuntimeError):
    """A notebook failed to execute; the message names the notebook, the error and the partial output."""


def list_notebooks(folder: Path | None = None) -> list[Path]:
    """The analysis notebooks in execution order (file-name order: ``00_…``, ``01_…``)."""
    folder = Path(folder) if folder is not None else config.notebooks_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(path: Path, *, out_dir: Path, timeout: int = 1200) -> Path:
    """Execute one notebook headless; write the executed ``.ipynb`` and ``.html`` to ``out_dir``.

    Raises
    ------
    NotebookError
        Naming the notebook and the error when a cell raises or the kernel dies.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    path = Path(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(path, as_version=4)
    # The kernel's own stderr (start-up chatter such as ipykernel's TCP notice) goes to a scratch
    # file that is shown only when the kernel fails; cell errors are in the notebook itself.
    with tempfile.TemporaryFile(mode="w+") as kernel_log:
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute(stderr=kernel_log)
        except CellExecutionError as exc:
            failed = out_dir / path.name
            nbformat.write(notebook, failed)
            # ename/evalue are the plain exception name and message (str(exc) carries ANSI colours)
            raise NotebookError(f"notebook {path.name} failed: {exc.ename}: {exc.evalue} "
                                f"(executed cells up to the error are in {failed})") from exc
        except Exception as exc:
            kernel_log.seek(0)
            raise NotebookError(f"notebook {path.name}: the kernel failed: {exc}\n{kernel_log.read()[-2000:]}") from exc
    executed = out_dir / path.name
    nbformat.write(notebook, executed)
    html, _ = HTMLExporter().from_notebook_node(notebook)
    executed.with_suffix(".html").write_text(html, encoding="utf-8")
    return executed


def reproduce(*, raw: Path | None = None, processed: Path | None = None, reports: Path | None = None,
              notebooks: list[Path] | None = None, clean: bool = True) -> list[Path]:
    """Clean ``raw`` into ``processed`` and execute every notebook into ``reports/notebooks``.

    Parameters
    ----------
    raw, processed, reports : path, optional
        Override the folders of :mod:`svcresearch.config` (defaults: ``data/raw``,
        ``data/processed``, ``reports``).
    notebooks : list of path, optional
        Which notebooks to run (default: all of ``notebooks/`` in order).
    clean : bool
        Run the cleaning step first (default True).

    Returns
    -------
    list of Path
        The executed notebooks.
    """
    overrides = {"raw": raw, "processed": processed, "reports": reports}
    saved = {var: os.environ.get(var) for var in _PATH_VARIABLES.values()}
    try:
        for key, value in overrides.items():
            if value is not None:
                os.environ[_PATH_VARIABLES[key]] = str(Path(value).resolve())
        if clean:
            from svcresearch.clean import clean_study, report_notes

            print(f"cleaning {config.data_raw()} -> {config.data_processed()}", flush=True)
            report = clean_study(config.data_raw(), out=config.data_processed(), progress=True)
            for note in report_notes(report):
                print(f"note: {note}", file=sys.stderr, flush=True)
        out_dir = config.reports() / "notebooks"
        executed = []
        for nb in notebooks if notebooks is not None else list_notebooks():
            start = time.perf_counter()
            print(f"executing {nb.name} ...", end=" ", flush=True)
            executed.append(execute_notebook(nb, out_dir=out_dir))
            print(f"{time.perf_counter() - start:.1f} s", flush=True)
        print(f"reports in {config.reports()}", file=sys.stdout, flush=True)
        return executed
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
