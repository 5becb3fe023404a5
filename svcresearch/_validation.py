"""One argument-checking vocabulary for the whole package.

Every user-facing function checks its arguments with these helpers so that every error reads the
same: the parameter, what was expected, and what was passed. User mistakes raise
:class:`InputError` (a ``ValueError``) or ``TypeError``; the CLI turns them into one plain line.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd


class InputError(ValueError):
    """A problem with the user's input that should be reported as one plain line.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    file, column : str, optional
        Where the problem is; prefixed to the message so the line names them.
    """

    def __init__(self, message: str, *, file: Any = None, column: str | None = None):
        where = []
        if file is not None:
            where.append(f"{file}")
        if column is not None:
            where.append(f"column '{column}'")
        self.file = None if file is None else str(file)
        self.column = column
        self.reason = message
        super().__init__((": ".join([", ".join(where), message])) if where else message)


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise raise a ValueError naming them."""
    allowed = list(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"`{name}` must be one of {shown}; got {value!r}.")
    return value


def check_type(name: str, value: Any, types: type | tuple[type, ...], *, what: str | None = None) -> Any:
    """Return ``value`` if it is an instance of ``types``; otherwise raise TypeError."""
    if not isinstance(value, types):
        if what is None:
            tt = types if isinstance(types, tuple) else (types,)
            what = " or ".join(t.__name__ for t in tt)
        raise TypeError(f"`{name}` must be {what}; got {type(value).__name__}.")
    return value


def check_dataframe(name: str, data: Any, *, columns: Iterable[str] = ()) -> pd.DataFrame:
    """Check that ``data`` is a DataFrame holding ``columns``; return it."""
    check_type(name, data, pd.DataFrame, what="a pandas DataFrame")
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(
            f"`{name}` is missing column(s) {', '.join(map(repr, missing))}; "
            f"it has {', '.join(map(repr, data.columns))}."
        )
    return data


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 integer: bool = False) -> Any:
    """Check that ``value`` is a (integer) number within [low, high]; return it."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"`{name}` must be {'an integer' if integer else 'a number'}; got {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"`{name}` must be in {rng}; got {value!r}.")
    return value


def check_confidence(value: Any, *, name: str = "confidence") -> float:
    """Check a confidence level (coverage of an interval) in the open interval (0, 1); return it.

    Every function with an interval calls its coverage ``confidence`` and checks it here, so the
    message is the same everywhere.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a number strictly between 0 and 1 (e.g. 0.95); got {value!r}.")
    if not 0.0 < value < 1.0:  # also rejects NaN
        raise ValueError(f"`{name}` must be strictly between 0 and 1 (e.g. 0.95); got {value!r}.")
    return float(value)


_FILE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_file_stem(value: Any, *, name: str = "name") -> str:
    """Check a file stem for an output file (letters, digits, '.', '_', '-'; no folders); return it.

    Keeps ``save_table(df, "../x")`` and ``save_figure(fig, "/tmp/x")`` inside their folder.
    """
    check_type(name, value, str)
    if not _FILE_STEM.fullmatch(value) or ".." in value:
        raise ValueError(f"`{name}` must be a file stem of letters, digits, '.', '_' or '-' (no folder "
                         f"or '..'); got {value!r}.")
    return value
