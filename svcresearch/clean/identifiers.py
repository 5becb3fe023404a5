"""Stage 3 — identifiers: records without a usable required identifier are quarantined, and
encounter ids are looked up against the encounters (the "spine") by one arrow hash lookup."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from svcresearch.codebook import Codebook

from .ledger import Ledger
from .read import Table, drop_rows, problem_detail


def drop_unidentified(tables: list[Table], *, codebook: Codebook, ledger: Ledger, redact) -> None:
    """Quarantine records whose required variable (encounter id, coder) is missing or invalid."""
    for t in tables:
        for name, prob in t.problem.items():
            v = codebook[name]
            if not v.required:
                continue
            p = prob.to_numpy(dtype=object)
            bad = pd.notna(p)
            col = v.column_in(t.spec.kind)
            if bad.any():
                drop_rows(t, bad, column=name, reason=str(p[bad][0]) if len(set(p[bad])) == 1 else "invalid_id",
                          detail=problem_detail(v, codebook), ledger=ledger, redact=redact, codebook=codebook)
            miss = t.missing[name] & ~bad
            if miss.any():
                drop_rows(t, miss, column=name, reason="missing_required",
                          detail=f"'{col}' is required (codebook variable '{name}')",
                          ledger=ledger, redact=redact, codebook=codebook)


def is_in(values: pd.Series, index) -> np.ndarray:
    """Membership of each value in ``index`` (NA is never a member)."""
    return positions(values, index) >= 0


def positions(values, index) -> np.ndarray:
    """Position of each value in ``index`` (its first occurrence), -1 where absent or NA.

    An arrow hash lookup (``pyarrow.compute.index_in``) on the string data as it is: pandas'
    ``Index.get_indexer`` and ``Series.isin`` first turn a million arrow strings into Python
    objects on both sides, which took ~0.5 s per lookup against the spine.
    """
    def arrow_strings(x) -> pa.ChunkedArray:
        # pa.array gives a ChunkedArray for a multi-chunk column (after concat); wrapping that in
        # pa.chunked_array([...]) again would convert it value by value
        arr = pa.array(pd.array(x, dtype="string"))
        arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
        return arr.cast(pa.large_string())

    needles, haystack = arrow_strings(values), arrow_strings(index).combine_chunks()
    found = pc.index_in(needles, value_set=haystack, skip_nulls=True)
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)
