"""Fault injection with bookkeeping: every changed cell or inserted row is logged for ground truth.

A :class:`Table` holds a raw file's columns (numpy string arrays) in their base order. Faults are
applied to cells that no earlier fault touched (one fault per cell, so a quarantined cell has
exactly one explanation) and rows picked as duplicate sources are kept pristine. ``finish``
inserts the duplicate rows and translates positions into the row numbers a spreadsheet shows
(1-based, counting note and header rows).
"""
from __future__ import annotations

import numpy as np

from svcresearch.simulate._writers import S, as_str

YES_VARIANTS = ["Yes", "y", "1", "kyllä", "K", "TRUE"]
NO_VARIANTS = ["Ei", "no", "0", "N", "FALSE"]
MISSING_CODES = ["-99", "NA", "n/a", "ei tietoa", ""]


class Table:
    """Columns of one raw file plus the faults injected into it."""

    def __init__(self, file: str, columns: dict[str, np.ndarray], *, rng: np.random.Generator,
                 first_data_row: int):
        self.file = file
        self.cols = {k: as_str(v).copy() for k, v in columns.items()}
        self.n = len(next(iter(self.cols.values()))) if self.cols else 0
        self.rng = rng
        self.first_data_row = first_data_row
        self.touched = {k: np.zeros(self.n, bool) for k in self.cols}
        self.reserved = np.zeros(self.n, bool)
        self._cell_faults: list[dict] = []
        self._dups: list[dict] = []
        self.group_rows = None   # optional: rows of the same unit (BORIS observation) share a fault

    # -- selection -------------------------------------------------------------------------------
    def pick(self, rate: float, eligible=None, column: str | None = None) -> np.ndarray:
        ok = ~self.reserved
        if eligible is not None:
            ok &= np.asarray(eligible, bool)
        if column is not None:
            ok &= ~self.touched[column]
        return np.flatnonzero(ok & (self.rng.random(self.n) < rate))

    # -- faults ----------------------------------------------------------------------------------
    def cell_fault(self, fault: str, column: str, rate: float, handling: str, make, *, eligible=None,
                   **extra) -> np.ndarray:
        """Replace cells of ``column`` chosen at ``rate`` by ``make(current_values)``."""
        pos = self.pick(rate, eligible, column)
        if len(pos):
            self.cols[column][pos] = as_str(make(self.cols[column][pos]))
            self.touched[column][pos] = True
        self._cell_faults.append({"fault": fault, "column": column, "rate": rate, "pos": pos,
                                  "handling": handling, **extra})
        return pos

    def set_cells(self, fault: str, column: str, rate: float, handling: str, pos: np.ndarray, values,
                  **extra) -> None:
        """Log a fault whose positions the caller chose (e.g. whole BORIS observations)."""
        pos = np.asarray(pos, dtype=np.int64)
        if len(pos):
            self.cols[column][pos] = as_str(values)
            self.touched[column][pos] = True
        self._cell_faults.append({"fault": fault, "column": column, "rate": rate, "pos": pos,
                                  "handling": handling, **extra})

    def duplicates(self, fault: str, rate: float, handling: str, *, change_columns=None, change=None,
                   eligible=None) -> None:
        """Reserve source rows now; copies (optionally with one changed cell) are inserted in ``finish``."""
        pos = np.flatnonzero(~self.reserved & (self.rng.random(self.n) < rate)
                             & (True if eligible is None else np.asarray(eligible, bool)))
        self.reserved[pos] = True
        for col in self.touched.values():
            col[pos] = True
        changed = None
        if change_columns is not None and len(pos):
            changed = np.asarray(change_columns)[self.rng.integers(0, len(change_columns), len(pos))]
        self._dups.append({"fault": fault, "rate": rate, "pos": pos, "handling": handling,
                           "changed": changed, "change": change,
                           "offset": self.rng.integers(1, 40, len(pos))})

    # -- output ----------------------------------------------------------------------------------
    def finish(self) -> tuple[dict[str, np.ndarray], list[dict]]:
        n = self.n
        keys = [np.arange(n, dtype=float)]
        sources = [np.arange(n)]
        for d in self._dups:
            keys.append(np.minimum(d["pos"] + d["offset"], n - 1) + 0.5)
            sources.append(d["pos"])
        key = np.concatenate(keys)
        src = np.concatenate(sources)
        order = np.argsort(key, kind="stable")
        final_of_entry = np.empty(len(key), dtype=np.int64)
        final_of_entry[order] = np.arange(len(key))
        cols = {k: v[src[order]] for k, v in self.cols.items()}
        entries = []
        for f in self._cell_faults:
            rows = np.sort(final_of_entry[f["pos"]]) + self.first_data_row
            entry = {"fault": f["fault"], "file": self.file, "column": f["column"], "rate": f["rate"],
                     "count": int(len(rows)), "handling": f["handling"]}
            entry.update({k: v for k, v in f.items() if k not in ("fault", "column", "rate", "pos", "handling")})
            entry["rows"] = rows.tolist()
            entries.append(entry)
        start = n
        for d in self._dups:
            idx = np.arange(start, start + len(d["pos"]))
            start += len(d["pos"])
            rows = final_of_entry[idx] + self.first_data_row
            orig = final_of_entry[d["pos"]] + self.first_data_row
            entry = {"fault": d["fault"], "file": self.file, "column": None, "rate": d["rate"],
                     "count": int(len(rows)), "handling": d["handling"]}
            if d["changed"] is not None and len(rows):
                fin = final_of_entry[idx]
                changed_cols = []
                for col_name in np.unique(d["changed"]):
                    m = d["changed"] == col_name
                    cols[str(col_name)][fin[m]] = as_str(d["change"](cols[str(col_name)][fin[m]]))
                s = np.argsort(rows)
                changed_cols = [str(c) for c in d["changed"][s]]
                entry["rows"] = rows[s].tolist()
                entry["duplicate_of_rows"] = orig[s].tolist()
                entry["changed_columns"] = changed_cols
            else:
                s = np.argsort(rows)
                entry["rows"] = rows[s].tolist()
                entry["duplicate_of_rows"] = orig[s].tolist()
            entries.append(entry)
        return cols, entries


def choice(rng: np.random.Generator, options: list[str], k: int) -> np.ndarray:
    return np.asarray(options, dtype=S)[rng.integers(0, len(options), k)]


def yes_no_variant(rng):
    def make(values):
        out = choice(rng, NO_VARIANTS, len(values))
        yes = np.strings.lower(np.strings.strip(values)) == "yes"
        out[yes] = choice(rng, YES_VARIANTS, int(yes.sum()))
        return out
    return make


def whitespace_case(rng):
    def make(values):
        k = rng.integers(0, 4, len(values))
        out = values.copy()
        out[k == 0] = np.strings.upper(values[k == 0])
        out[k == 1] = np.strings.add(" ", values[k == 1])
        out[k == 2] = np.strings.add(np.strings.upper(values[k == 2]), " ")
        out[k == 3] = np.strings.add(np.strings.add("  ", values[k == 3]), "  ")
        return out
    return make


def constant_choice(rng, options):
    return lambda values: choice(rng, options, len(values))
