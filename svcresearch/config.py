"""Project paths in one place, and the active study.

Notebooks, the CLI and ``make`` take every path from here, so all of them see the same study.

The **active study** is the raw study folder everything works on. It comes from, in order:

1. the environment variable ``SVCRESEARCH_DATA_RAW`` (the test suite and ``reproduce --raw`` use it);
2. the git-ignored project file ``.svcresearch_study`` at the project root, written by
   ``svcresearch use PATH`` (so a Jupyter kernel started from JupyterLab sees it too);
3. the default study ``data/raw``.

Processed data and reports live next to the study they belong to: the default study uses
``data/processed`` and ``reports``; any other study ``data/processed/studies/<slug>`` and
``reports/studies/<slug>``, where ``<slug>`` is the study's ``name`` from its ``study.yaml`` (the
folder name when it has none) in lower case. ``SVCRESEARCH_DATA_PROCESSED`` and
``SVCRESEARCH_REPORTS`` override both. The processed outputs also record which raw study they were
cleaned from (``cleaning_report.json``: ``study`` and ``study_checksum``), so
:mod:`svcresearch.study` can say when they do not belong to the active study.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from svcresearch._validation import InputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 20261122

#: Environment variables that override the folders (highest precedence).
ENV_RAW = "SVCRESEARCH_DATA_RAW"
ENV_PROCESSED = "SVCRESEARCH_DATA_PROCESSED"
ENV_REPORTS = "SVCRESEARCH_REPORTS"

#: The git-ignored project file that records the active study (``svcresearch use PATH``).
STUDY_FILE = PROJECT_ROOT / ".svcresearch_study"


def _env_path(env: str) -> Path | None:
    value = os.environ.get(env)
    return Path(value).expanduser().resolve() if value else None


def default_raw() -> Path:
    """The default (simulated) study shipped with the project: ``data/raw``."""
    return PROJECT_ROOT / "data" / "raw"


def recorded_study() -> Path | None:
    """The study folder recorded in the project file by ``svcresearch use``, or None.

    Relative paths in the file are read relative to the project root.
    """
    try:
        text = STUDY_FILE.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    path = Path(text.splitlines()[0].strip()).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def active_study_source() -> str:
    """Where :func:`data_raw` comes from: ``"environment"``, ``"project file"`` or ``"default"``."""
    if _env_path(ENV_RAW) is not None:
        return "environment"
    if recorded_study() is not None:
        return "project file"
    return "default"


def data_raw() -> Path:
    """Folder of the active raw study (read-only).

    ``SVCRESEARCH_DATA_RAW`` if set, else the study recorded by ``svcresearch use``, else
    ``data/raw``.
    """
    return _env_path(ENV_RAW) or recorded_study() or default_raw()


def is_default_study(raw: str | Path | None = None) -> bool:
    """Whether ``raw`` (default: the active study) is the project's ``data/raw``."""
    raw = Path(raw).resolve() if raw is not None else data_raw()
    return raw == default_raw().resolve()


def study_slug(raw: str | Path | None = None) -> str:
    """Folder-safe name of a study: its ``study.yaml`` ``name`` (else the folder name), lower case.

    Used for the per-study folders ``data/processed/studies/<slug>`` and ``reports/studies/<slug>``.
    An unreadable ``study.yaml`` falls back to the folder name (the cleaner reports the problem).
    """
    raw = Path(raw).resolve() if raw is not None else data_raw()
    name = raw.name
    try:
        import yaml

        spec = yaml.safe_load((raw / "study.yaml").read_text(encoding="utf-8"))
        if isinstance(spec, dict) and spec.get("name"):
            name = str(spec["name"])
    except Exception:  # noqa: BLE001 - unreadable or malformed study.yaml: the folder name
        pass
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "study"


def data_processed(*, raw: str | Path | None = None) -> Path:
    """Folder of the cleaned, analysis-ready outputs of ``raw`` (default: the active study).

    ``SVCRESEARCH_DATA_PROCESSED`` if set; ``data/processed`` for the default study;
    ``data/processed/studies/<slug>`` for any other.
    """
    env = _env_path(ENV_PROCESSED)
    if env is not None:
        return env
    base = PROJECT_ROOT / "data" / "processed"
    return base if is_default_study(raw) else base / "studies" / study_slug(raw)


def reports(*, raw: str | Path | None = None) -> Path:
    """Folder of generated figures, tables and executed notebooks of ``raw`` (default: active study).

    ``SVCRESEARCH_REPORTS`` if set; ``reports`` for the default study; ``reports/studies/<slug>``
    for any other.
    """
    env = _env_path(ENV_REPORTS)
    if env is not None:
        return env
    base = PROJECT_ROOT / "reports"
    return base if is_default_study(raw) else base / "studies" / study_slug(raw)


def figures_dir() -> Path:
    path = reports() / "figures"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tables_dir() -> Path:
    path = reports() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def notebooks_dir() -> Path:
    """Folder of the analysis notebooks (inputs, committed without outputs)."""
    return PROJECT_ROOT / "notebooks"


def use_study(path: str | Path | None) -> Path:
    """Make ``path`` the active study for every process (``svcresearch use``); None: the default.

    Parameters
    ----------
    path : str, Path or None
        A raw study folder holding a valid ``study.yaml``. None removes the project file, so the
        default study ``data/raw`` is active again.

    Returns
    -------
    Path
        The active study folder afterwards (resolved).

    Raises
    ------
    InputError
        When ``path`` is not a folder with a valid ``study.yaml`` (one line naming the file and
        what was expected); the project file is then left unchanged.

    Notes
    -----
    The path is recorded relative to the project root when the study lies inside the project,
    absolute otherwise. ``SVCRESEARCH_DATA_RAW``, when set, still takes precedence over the file.
    Tested in ``tests/test_study.py`` (round trip, errors, precedence).
    """
    if path is None:
        STUDY_FILE.unlink(missing_ok=True)
        return data_raw()
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InputError("not a folder; expected a raw study folder holding study.yaml.", file=folder)
    if not (folder / "study.yaml").is_file():
        raise InputError("no study.yaml in this folder; expected a raw study folder holding study.yaml "
                         "(docs/own_data.md).", file=folder)
    from svcresearch.clean import load_study

    load_study(folder)  # raises InputError on a malformed study.yaml or a file it names that is missing
    if folder == default_raw().resolve():
        STUDY_FILE.unlink(missing_ok=True)
        return data_raw()
    try:
        recorded = folder.relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        recorded = str(folder)
    tmp = STUDY_FILE.with_name(STUDY_FILE.name + ".tmp")
    tmp.write_text(recorded + "\n", encoding="utf-8")
    os.replace(tmp, STUDY_FILE)
    return data_raw()
