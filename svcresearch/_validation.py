"""One argument-checking vocabulary for the whole package.

Every user-facing function checks its arguments with these helpers so that every error reads the
same: the parameter, what was expected, and what was passed. User mistakes raise
:class:`InputError` (a ``ValueError``) or ``TypeError``; the CLI turns them into one plain line.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
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


# ------------------------------------------------------------------------------------------------
# data columns handed to a model
# ------------------------------------------------------------------------------------------------
class ColumnTypeError(TypeError, ValueError):
    """A data column holds values of the wrong kind (a list in a cell, numbers stored as text, ...).

    A ``TypeError``; also a ``ValueError`` so that callers that report unusable input with
    ``except ValueError`` (the hypothesis table, the CLI) keep turning it into one line.
    """


_UNHASHABLE_KINDS = (list, dict, set, frozenset, tuple)


def _row_label(label: Any) -> str:
    return f"row {label!r} (index label)"


def _is_number(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Number) and not isinstance(v, (bool, np.bool_))


def check_model_column(name: str, column: str, values: pd.Series, *, role: str = "predictor") -> pd.Series:
    """Check the cells of one data column a model uses; return it with Python numbers made numeric.

    Parameters
    ----------
    name : str
        The parameter that holds the data (``"data"``), for the message.
    column : str
        The column's name, for the message.
    values : Series
    role : {"predictor", "outcome", "groups"}
        Predictors must not hold numbers stored as text (``"3"``, ``"4.5"``): they would silently
        become categories. Outcomes are checked by the fitter, which knows what it needs; group
        labels may be anything hashable.

    Returns
    -------
    Series
        ``values``, except that an ``object`` column holding only Python/NumPy numbers becomes
        ``float64`` and one holding only booleans becomes pandas ``boolean`` (missing values stay
        missing).

    Raises
    ------
    ColumnTypeError
        A cell holds a list, dict, set, tuple or array; a column mixes numbers and text; a
        predictor holds numbers stored as text; a column holds dates, durations or complex
        numbers (convert them to numbers first).
    """
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        how = ("(data[{c!r}] - data[{c!r}].min()).dt.total_seconds() / 86400 for days"
               if pd.api.types.is_datetime64_any_dtype(dtype)
               else "data[{c!r}].dt.total_seconds() / 60 for minutes").format(c=column)
        raise ColumnTypeError(
            f"`{name}` column {column!r} holds dates or durations (dtype {dtype}); a model needs "
            f"numbers: convert it first, e.g. {how}."
        )
    if pd.api.types.is_complex_dtype(dtype):
        raise ColumnTypeError(f"`{name}` column {column!r} holds complex numbers (dtype {dtype}); a "
                              f"model needs real numbers.")
    if not (dtype == object or isinstance(dtype, pd.StringDtype)):
        return values
    if isinstance(dtype, pd.StringDtype) and role != "predictor":
        return values  # only strings or NA: nothing to convert or refuse here
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal") and dtype == object:
        return pd.to_numeric(values).astype(float)
    if kind == "boolean" and dtype == object:
        return values.astype("boolean")
    if kind == "string":
        if role == "predictor" and numbers_as_text(values):
            present = values.dropna()
            raise ColumnTypeError(
                f"`{name}` column {column!r} holds numbers stored as text (e.g. "
                f"{present.iloc[0]!r} at {_row_label(present.index[0])}); a model predictor must be "
                f"numeric: convert it with pd.to_numeric(data[{column!r}]), or make it a "
                f"pd.Categorical if the numbers are category codes."
            )
        return values
    if kind in ("empty", "categorical", "bytes"):
        return values
    # mixed content: look at the cells themselves (only on this rare path)
    first_number = first_text = None
    for label, v in values.items():
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            continue
        if isinstance(v, _UNHASHABLE_KINDS) or isinstance(v, (np.ndarray, pd.Series)) or not _hashable(v):
            raise ColumnTypeError(
                f"`{name}` column {column!r} holds a {type(v).__name__} at {_row_label(label)}; a model "
                f"needs one number, label or yes/no value per cell."
            )
        if _is_number(v) and first_number is None:
            first_number = (label, v)
        elif isinstance(v, str) and first_text is None:
            first_text = (label, v)
    if first_number is not None and first_text is not None and role != "groups":
        raise ColumnTypeError(
            f"`{name}` column {column!r} mixes numbers and text ({first_number[1]!r} at "
            f"{_row_label(first_number[0])}, {first_text[1]!r} at {_row_label(first_text[0])}); a model "
            f"column must be numeric, or text labels (a category) throughout."
        )
    return values


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def numbers_as_text(values: pd.Series) -> bool:
    """True when every non-missing value of a text column parses as a number (``"3"``, ``"4.5"``)."""
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return False
    uniq = pd.unique(values.dropna())
    return bool(len(uniq)) and bool(pd.to_numeric(pd.Series(uniq, dtype=object), errors="coerce").notna().all())


def check_finite_column(name: str, column: str, values: pd.Series) -> None:
    """Raise an :class:`InputError` naming ``column`` and the first row holding +-inf.

    Missing values (NaN, NA) are not checked here: the model drops those rows and counts them.
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_float_dtype(dtype):
        return
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isinf(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"`{name}` holds an infinite value ({arr[i]:g}) at {_row_label(values.index[i])}; a model "
            f"needs finite numbers: correct it, or set it to NaN to drop the row.",
            column=column,
        )
