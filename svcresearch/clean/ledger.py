"""The quarantine ledger: one typed entry per withdrawn record or value (DESIGN §8).

Every stage adds its entries here and nothing else: the entry says which file, row and column,
the (redacted) raw value, the reason code, and its **scope** — ``row`` when the whole record was
not used (it counts as quarantined in read = kept + merged + quarantined) or ``cell`` when the
record was kept and only this value was set to missing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

QUARANTINE_COLUMNS = ["file", "row", "column", "value", "reason", "scope", "detail"]
SCOPES = ("row", "cell")
#: Reason codes of quarantine.csv (documented in docs/study_layout.md).
REASONS = ("unknown_code", "out_of_range", "duplicate_conflict", "source_conflict", "unparseable_time",
           "unpaired_event", "negative_duration", "overlapping_state", "unknown_behaviour", "unlinked_survey",
           "unlinked_coding", "unlinked_video", "missing_required", "invalid_id", "duplicate_response",
           "formula_without_value")


def broadcast(x, n: int) -> np.ndarray:
    """``x`` as an array of ``n`` values (a scalar repeated; Series/Index as strings)."""
    if isinstance(x, (pd.Series, pd.Index)):
        return x.astype("string").to_numpy()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        return np.array(x, dtype=object)
    return np.full(n, x, dtype=object)


class Ledger:
    """Collects quarantine entries as column arrays (cheap for many entries)."""

    def __init__(self):
        self._parts: list[pd.DataFrame] = []

    def add(self, *, file, row, column, value, reason, scope: str, detail) -> None:
        """Record one entry per element of ``row`` (other arguments: a scalar or one per row)."""
        if scope not in SCOPES:
            raise ValueError(f"`scope` must be one of {SCOPES}; got {scope!r}.")  # a bug, not user input
        n = len(row)
        if n == 0:
            return
        reasons = broadcast(reason, n)
        unknown = set(pd.unique(reasons)) - set(REASONS)
        if unknown:
            raise ValueError(f"unknown quarantine reason(s) {sorted(unknown)}")  # a bug, not user input
        self._parts.append(pd.DataFrame({
            "file": broadcast(file, n), "row": np.asarray(row, dtype=np.int64),
            "column": broadcast(column, n), "value": broadcast(value, n),
            "reason": reasons, "scope": np.full(n, scope, dtype=object), "detail": broadcast(detail, n),
        }))

    def extend(self, frame: pd.DataFrame, *, scope: str) -> None:
        """Add a table with columns ``file, row, column, value, reason, detail`` (e.g. from
        :func:`svcresearch.events.validate_events`)."""
        if len(frame):
            self.add(file=frame["file"].to_numpy(dtype=object), row=frame["row"].to_numpy(dtype=np.int64),
                     column=frame["column"].to_numpy(dtype=object), value=frame["value"].to_numpy(dtype=object),
                     reason=frame["reason"].to_numpy(dtype=object), scope=scope,
                     detail=frame["detail"].to_numpy(dtype=object))

    def rows(self) -> set:
        """``(file, row)`` of every entry so far."""
        q = self.frame()
        return set(zip(q["file"].to_numpy(), q["row"].to_numpy()))

    def frame(self) -> pd.DataFrame:
        """All entries in the order they were added (``quarantine.csv`` columns)."""
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "string")
                                 for c in QUARANTINE_COLUMNS})
        q = pd.concat(self._parts, ignore_index=True)
        for c in QUARANTINE_COLUMNS:
            if c != "row":
                q[c] = q[c].astype("string")
        return q


def fmt_value(x) -> str:
    """A raw value as quoted text for a detail message (``(blank)`` when empty)."""
    return "(blank)" if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else repr(str(x))
