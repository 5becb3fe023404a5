"""Project paths in one place.

Notebooks and the CLI take every path from here. Each can be redirected with an environment
variable (used by the test suite to run the whole pipeline in a temporary folder):
``SVCRESEARCH_DATA_RAW``, ``SVCRESEARCH_DATA_PROCESSED``, ``SVCRESEARCH_REPORTS``.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEED = 20261122


def _path(env: str, default: Path) -> Path:
    value = os.environ.get(env)
    return Path(value).resolve() if value else default


def data_raw() -> Path:
    """Folder of the raw study (read-only)."""
    return _path("SVCRESEARCH_DATA_RAW", PROJECT_ROOT / "data" / "raw")


def data_processed() -> Path:
    """Folder of the cleaned, analysis-ready outputs."""
    return _path("SVCRESEARCH_DATA_PROCESSED", PROJECT_ROOT / "data" / "processed")


def reports() -> Path:
    """Folder of generated figures, tables and executed notebooks."""
    return _path("SVCRESEARCH_REPORTS", PROJECT_ROOT / "reports")


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
