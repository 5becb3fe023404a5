"""The main job: clean the raw study, then execute every notebook headless and fill ``reports/``.

Notebooks are executed with nbclient in a fresh kernel each, in file-name order, with the working
directory set to ``notebooks/`` and the paths of :mod:`svcresearch.config` passed through the
environment, so the same notebooks run on the default study, on a user's study, and in the tests.
A notebook that fails does not stop the others: :func:`reproduce` runs every notebook, prints one
line per notebook (ok/failed, seconds, the error) and raises :class:`ReproduceError` at the end
when any failed.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from svcresearch import config

_PATH_VARIABLES = {
    "raw": config.ENV_RAW,
    "processed": config.ENV_PROCESSED,
    "reports": config.ENV_REPORTS,
}
#: Environment variable naming the notebook being executed (read by svcresearch.report's manifest).
NOTEBOOK_VARIABLE = "SVCRESEARCH_NOTEBOOK"


class NotebookError(RuntimeError):
    """A notebook failed to execute; the message names the notebook, the error and the partial output.

    Attributes ``notebook`` (file name), ``error`` (the exception as one line, e.g.
    ``"ValueError: ..."``) and ``executed`` (the partially executed notebook, or None).
    """

    def __init__(self, message: str, *, notebook: str = "", error: str = "", executed: Path | None = None):
        super().__init__(message)
        self.notebook = notebook
        self.error = error or message.splitlines()[0]
        self.executed = executed


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of executing one notebook in :func:`reproduce`."""

    notebook: str            # file name, e.g. "04_behaviours_predict_satisfaction.ipynb"
    ok: bool
    seconds: float
    executed: Path | None    # executed .ipynb in reports/notebooks (partial when it failed), or None
    error: str = ""          # "" when ok; otherwise the error as one line

    def line(self) -> str:
        """One summary line: status, notebook, seconds and (when failed) the error."""
        status = "ok" if self.ok else "failed"
        text = f"{status:<6}  {self.notebook}  {self.seconds:7.1f} s"
        return text + (f"  {self.error}" if self.error else "")


class ReproduceError(NotebookError):
    """One or more notebooks failed; raised by :func:`reproduce` after every notebook has run.

    ``runs`` holds a :class:`NotebookRun` per notebook, ``failed`` those that failed.
    """

    def __init__(self, runs: list[NotebookRun]):
        failed = [r for r in runs if not r.ok]
        shown = "; ".join(f"{r.notebook} ({r.error})" for r in failed)
        super().__init__(f"{len(failed)} of {len(runs)} notebook{'s' if len(runs) != 1 else ''} failed: {shown}",
                         notebook=failed[0].notebook if failed else "",
                         error=failed[0].error if failed else "",
                         executed=failed[0].executed if failed else None)
        self.runs = runs
        self.failed = failed


def _one_line(text: object) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


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

    from svcresearch.report_site import export_html

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
            # the reader's report shows the error, never an older successful run
            export_html(notebook, failed.with_suffix(".html"))
            # ename/evalue are the plain exception name and message (str(exc) carries ANSI colours)
            error = f"{exc.ename}: {_one_line(exc.evalue)}" if _one_line(exc.evalue) else str(exc.ename)
            raise NotebookError(f"notebook {path.name} failed: {error} "
                                f"(executed cells up to the error are in {failed})",
                                notebook=path.name, error=error, executed=failed) from exc
        except Exception as exc:
            kernel_log.seek(0)
            raise NotebookError(f"notebook {path.name}: the kernel failed: {exc}\n{kernel_log.read()[-2000:]}",
                                notebook=path.name,
                                error=f"the kernel failed: {type(exc).__name__}: {_one_line(exc)}") from exc
    executed = out_dir / path.name
    nbformat.write(notebook, executed)
    export_html(notebook, executed.with_suffix(".html"))
    return executed


def run_notebooks(notebooks: list[Path], *, out_dir: Path, timeout: int = 1200,
                  echo: bool = True) -> list[NotebookRun]:
    """Execute every notebook in ``notebooks`` in turn, whatever happens to the others.

    Parameters
    ----------
    notebooks : list of path
        Notebooks to execute, in order.
    out_dir : path
        Where the executed ``.ipynb`` and ``.html`` go (:func:`execute_notebook`).
    timeout : int
        Seconds allowed per cell.
    echo : bool
        Print each notebook's summary line (:meth:`NotebookRun.line`) as soon as it is done.

    Returns
    -------
    list of NotebookRun
        One per notebook, in order. A failed notebook's ``error`` is its exception in one line.
    """
    runs = []
    for nb in notebooks:
        nb = Path(nb)
        start = time.perf_counter()
        saved = os.environ.get(NOTEBOOK_VARIABLE)
        os.environ[NOTEBOOK_VARIABLE] = nb.name
        try:
            run = NotebookRun(nb.name, True, 0.0, execute_notebook(nb, out_dir=out_dir, timeout=timeout))
        except NotebookError as exc:
            run = NotebookRun(nb.name, False, 0.0, exc.executed, exc.error)
            if exc.executed is None:
                # the kernel died: no page of this run exists, and one left from an earlier
                # successful run would show results this run did not give
                (Path(out_dir) / nb.name).with_suffix(".html").unlink(missing_ok=True)
                (Path(out_dir) / nb.name).with_suffix(".code.html").unlink(missing_ok=True)
        finally:
            if saved is None:
                os.environ.pop(NOTEBOOK_VARIABLE, None)
            else:
                os.environ[NOTEBOOK_VARIABLE] = saved
        run = NotebookRun(run.notebook, run.ok, time.perf_counter() - start, run.executed, run.error)
        runs.append(run)
        if echo:
            print(run.line(), flush=True)
    return runs


def reproduce(*, raw: Path | None = None, processed: Path | None = None, reports: Path | None = None,
              notebooks: list[Path] | None = None, clean: bool = True) -> list[Path]:
    """Clean ``raw`` into ``processed`` and execute every notebook into ``reports/notebooks``.

    Every notebook runs even when an earlier one fails; each prints one summary line (ok/failed,
    seconds, the error in one line).

    Parameters
    ----------
    raw, processed, reports : path, optional
        Override the folders of :mod:`svcresearch.config` (defaults: the active study, and its
        processed and reports folders; see ``svcresearch use``).
    notebooks : list of path, optional
        Which notebooks to run (default: all of ``notebooks/`` in order; ``[]`` only cleans).
    clean : bool
        Run the cleaning step first (default True).

    Returns
    -------
    list of Path
        The executed notebooks (when all succeeded).

    Raises
    ------
    ReproduceError
        After every notebook has run, when any failed; ``.runs`` has the outcome of each.
    InputError
        When the raw study is unusable (from the cleaning step; no notebook runs then).
    """
    overrides = {"raw": raw, "processed": processed, "reports": reports}
    saved = {var: os.environ.get(var) for var in _PATH_VARIABLES.values()}
    try:
        for key, value in overrides.items():
            if value is not None:
                os.environ[_PATH_VARIABLES[key]] = str(Path(value).resolve())
        # Pin the three folders for the notebook kernels, so that they see exactly this study
        # (and not a `svcresearch use` made while reproduce runs).
        os.environ[config.ENV_RAW] = str(config.data_raw())
        os.environ[config.ENV_PROCESSED] = str(config.data_processed())
        os.environ[config.ENV_REPORTS] = str(config.reports())
        if clean:
            from svcresearch.clean import clean_study, report_notes

            print(f"cleaning {config.data_raw()} -> {config.data_processed()}", flush=True)
            report = clean_study(config.data_raw(), out=config.data_processed(), progress=True)
            for note in report_notes(report):
                print(f"note: {note}", file=sys.stderr, flush=True)
        todo = list(notebooks) if notebooks is not None else list_notebooks()
        runs = run_notebooks(todo, out_dir=config.reports() / "notebooks")
        if todo:
            from svcresearch.report_site import write_index

            print(f"report index: {write_index(config.reports())}", flush=True)
            n_ok = sum(r.ok for r in runs)
            print(f"{n_ok} of {len(runs)} notebook{'s' if len(runs) != 1 else ''} ran; reports in "
                  f"{config.reports()}", flush=True)
        if any(not r.ok for r in runs):
            raise ReproduceError(runs)
        return [r.executed for r in runs]
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
