"""Stage 7 — consensus: every coder judgement coded as integers, the applicability rules applied
per judgement, and one value per encounter and behaviour.

Applicability: a behaviour whose codebook ``applicable_if`` conditions are false for the
encounter is ``not_applicable`` (value NA); a value coded anyway is set to missing with a
``cell`` entry (``out_of_range``). Conditions read the encounter's context (whatever file kind
supplied it, :mod:`.assemble`) or another behaviour as the same coder coded it. A missing
context value counts as applicable.

Consensus: the primary coder's judgement (``primary_coder`` in study.yaml, default ``A``); an
encounter the primary coder did not code takes the first other coder in alphabetical order;
where an adjudication file gives a value for a behaviour, that value wins.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from svcresearch.codebook import Codebook, Variable

from .identifiers import positions
from .ledger import Ledger

STATUS_LEVELS = ["observed", "missing", "not_applicable"]


def level_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Position of each value's string form in ``levels`` (-1 for NA or a value not listed)."""
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    pos = {lv: i for i, lv in enumerate(levels)}
    remap = np.array([pos.get(str(u), -1) for u in uniques] + [-1], dtype=np.int32)
    return remap[np.where(codes < 0, len(uniques), codes)]


def behaviour_levels(b: Variable, *columns: pd.Series) -> list[str]:
    """The levels a behaviour's values are coded against: its value set, else the values seen."""
    if b.value_set is not None:
        return list(b.value_set.levels)
    seen = pd.concat([c.astype("string") for c in columns if c is not None], ignore_index=True)
    return [str(u) for u in pd.unique(seen.dropna())]


def level_strings(codes: np.ndarray, levels: list[str]) -> pd.Series:
    """Codes back to a ``string`` Series (NA for -1)."""
    table = np.array(list(levels) + [None], dtype=object)
    return pd.Series(pd.array(table[np.where(codes < 0, len(levels), codes)], dtype="string"))


def typed_codes(codes: np.ndarray, levels: list[str], v: Variable) -> pd.Series:
    """:func:`.assemble.typed` of a behaviour given as level codes (no strings for the common types)."""
    vs = v.value_set
    if v.type == "binary":
        yes = levels.index(vs.levels[1])
        return pd.Series(pd.arrays.BooleanArray(codes == yes, codes < 0))
    if vs is not None and not vs.is_integer_scale and v.type not in ("datetime", "continuous", "count"):
        # levels are the value set's levels (see behaviour_levels), so codes are category codes
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(vs.levels),
                                                   ordered=v.type == "ordinal"))
    from .assemble import typed

    return typed(level_strings(codes, levels), v)


def not_applicable_mask(b: Variable, source) -> np.ndarray:
    """True where the codebook says ``b`` is *not* applicable (a missing context value counts
    as applicable); ``source(variable)`` gives the column a condition reads, or None."""
    applicable = None
    for cond in b.applicable_if:
        src = source(cond.variable)
        res = cond.evaluate(src)
        applicable = res if applicable is None else applicable & res
    if applicable is None:
        return None
    return (applicable == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712 - Kleene logic


@dataclass
class Codings:
    """Kept coding records sorted by encounter, coder, file, row, held as integer codes.

    ``enc`` indexes the spine, ``coder``/``file`` index ``coders``/``files``; ``order[i]`` is
    the row of the kept-codings frame that sorted record ``i`` came from; per behaviour,
    ``values[b]`` indexes ``levels[b]`` (-1 = NA) and ``status[b]`` indexes STATUS_LEVELS.
    ``chosen`` are the sorted records that give each coded encounter its consensus values,
    ``chosen_enc`` their encounters.
    """

    enc: np.ndarray
    coder: np.ndarray
    coders: list
    file: np.ndarray
    files: list
    row: np.ndarray
    order: np.ndarray
    chosen: np.ndarray
    chosen_enc: np.ndarray
    n_coders: np.ndarray
    levels: dict
    values: dict
    status: dict


def order_codings(coding: pd.DataFrame, spine: pd.Index, *, primary_coder: str) -> Codings:
    """Sort the kept codings and pick each encounter's consensus record.

    The consensus record is the primary coder's first record (file order, row order), else the
    first record of the first other coder in alphabetical order.
    """
    n = len(coding)
    if n and "coder" in coding:
        enc = positions(coding["encounter_id"], spine)
        coder, coders = pd.factorize(coding["coder"].astype("string"), sort=True)
        file, files = pd.factorize(coding["source_file"].astype("string"), sort=True)
        row = coding["source_row"].to_numpy(dtype=np.int64)
        # spine is sorted, so spine positions sort like the ids; lexsort is stable like the
        # original sort_values(kind="stable") on encounter_id, coder, source_file, source_row
        order = np.lexsort((row, file, coder, enc))
    else:
        enc = coder = file = row = order = np.zeros(0, dtype=np.int64)
        coders = files = []
    enc, coder, file, row = enc[order], np.asarray(coder)[order], np.asarray(file)[order], row[order]
    n_cod, n_enc = len(enc), len(spine)
    not_primary = np.array([c != primary_coder for c in coders], dtype=bool)[coder] \
        if n_cod else np.zeros(0, dtype=bool)
    pick = np.lexsort((np.arange(n_cod), not_primary, enc))
    first = np.ones(n_cod, dtype=bool)
    first[1:] = enc[pick][1:] != enc[pick][:-1]
    chosen = pick[first]
    new_pair = np.ones(n_cod, dtype=bool)   # rows are sorted by encounter, then coder
    new_pair[1:] = (enc[1:] != enc[:-1]) | (coder[1:] != coder[:-1])
    return Codings(enc=enc, coder=coder, coders=[str(c) for c in coders], file=file, files=[str(f) for f in files],
                   row=row, order=np.asarray(order), chosen=chosen, chosen_enc=enc[chosen],
                   n_coders=np.bincount(enc[new_pair], minlength=n_enc), levels={}, values={}, status={})


def code_behaviours(cod: Codings, coding: pd.DataFrame, adjud: pd.DataFrame | None, ctx: pd.DataFrame,
                    codebook: Codebook, ledger: Ledger, *, raw_values=None) -> None:
    """Code every judgement as integers and apply the applicability rules (fills ``cod``)."""
    order = cod.order
    behaviour_names = {b.name for b in codebook.behaviours}
    # behaviours that other behaviours' rules read (a rule on another behaviour's code)
    referenced = {c.variable for b in codebook.behaviours for c in b.applicable_if} & behaviour_names
    masked: dict[str, pd.Series] = {}   # behaviour values as the rules of later behaviours see them
    gathered: dict[str, pd.Series] = {}  # context columns, one row per coding record

    def source(variable):
        if variable in behaviour_names and variable in coding:
            if variable not in masked:
                masked[variable] = coding[variable].iloc[order].reset_index(drop=True)
            return masked[variable]
        if variable in ctx:
            # gathered once: most behaviours' rules read the same context column
            if variable not in gathered:
                gathered[variable] = ctx[variable].iloc[cod.enc].reset_index(drop=True)
            return gathered[variable]
        return pd.Series(pd.NA, index=pd.RangeIndex(len(order)))

    for b in codebook.behaviours:
        raw = coding[b.name] if b.name in coding else None
        adj = adjud[b.name] if adjud is not None and b.name in adjud else None
        levels = behaviour_levels(b, raw, adj)
        codes = level_codes(raw, levels)[order] if raw is not None else np.full(len(order), -1, np.int32)
        na_rule = not_applicable_mask(b, source)
        if na_rule is None:
            na_rule = np.zeros(len(order), dtype=bool)
        coded_inapplicable = na_rule & (codes >= 0)
        if coded_inapplicable.any():
            rule = " and ".join(c.describe() for c in b.applicable_if)
            where = np.flatnonzero(coded_inapplicable)
            files = np.array(cod.files, dtype=object)[cod.file[where]]
            # the value as the coder wrote it (``kyllä``), not its normalised level (``yes``)
            shown = raw_values(b, files, cod.row[where]) if raw_values is not None else \
                level_strings(codes[where], levels)
            ledger.add(file=files, row=cod.row[where],
                       column=b.column_in("coding"), value=shown, reason="out_of_range",
                       scope="cell", detail=f"coded although not applicable (rule: {rule} is false for this encounter)")
        status = np.where(na_rule, 2, np.where(codes >= 0, 0, 1)).astype(np.int8)
        codes = np.where(na_rule, -1, codes).astype(np.int32)
        if b.name in referenced:
            masked[b.name] = source(b.name).mask(na_rule)
        cod.levels[b.name], cod.values[b.name], cod.status[b.name] = levels, codes, status


class LongTable:
    """``coding_long``: every judgement, one row per (encounter, coder, behaviour), kept as
    integer codes and turned into arrow columns one row group at a time when written.

    Row ``i`` is record ``i // n_behaviours`` of the sorted codings (``Codings``: encounter,
    coder, file, row order) and behaviour ``i % n_behaviours`` (codebook order): the fixed row
    order of the output. Materialising all of it at once as strings took about 1.5 GB for a
    million encounters; a row group at a time it is a few dozen MB.
    """

    def __init__(self, cod: Codings, spine: pd.Index, codebook: Codebook):
        behaviours = list(codebook.behaviours)
        self.names = [b.name for b in behaviours]
        self.nb = len(behaviours)
        self.cod = cod
        self.num_rows = len(cod.enc) * self.nb
        # one list of output levels across behaviours; per behaviour a table from its own
        # level codes to that list and to the numeric code (last column: NA, for code -1)
        self.levels: list[str] = []
        for b in behaviours:
            for lv in (b.value_set.levels if b.value_set is not None else ()):
                if lv not in self.levels:
                    self.levels.append(lv)
        level_pos = {lv: i for i, lv in enumerate(self.levels)}
        width = max([len(cod.levels[b.name]) for b in behaviours], default=0) + 1
        self.value_of = np.full((self.nb, width), -1, dtype=np.int32)
        self.number_of = np.full((self.nb, width), np.nan)
        for j, b in enumerate(behaviours):
            own = cod.levels[b.name]
            self.value_of[j, :len(own)] = [level_pos.get(lv, -1) for lv in own]
            if b.value_set is not None:
                numbers = b.value_set.level_numbers()
                self.number_of[j, :len(own)] = [numbers.get(lv, np.nan) for lv in own]
        n = len(cod.enc)
        self.codes = np.empty((n, self.nb), dtype=np.int32)
        self.status = np.empty((n, self.nb), dtype=np.int8)
        for j, b in enumerate(behaviours):
            # code -1 (NA) indexes the last column of the tables above
            self.codes[:, j] = np.where(cod.values[b.name] < 0, width - 1, cod.values[b.name])
            self.status[:, j] = cod.status[b.name]
        self.ids = pa.array(pd.array(spine, dtype="string")).cast(pa.string())

    def __len__(self) -> int:
        return self.num_rows

    def slice(self, start: int, stop: int) -> pa.Table:
        """Rows ``start`` to ``stop`` as an arrow table (string columns, as written)."""
        i = np.arange(start, stop, dtype=np.int64)
        rec, j = np.divmod(i, max(self.nb, 1))
        own = self.codes[rec, j]
        cod = self.cod

        def dict_col(indices, dictionary):
            idx = pa.array(indices, mask=indices < 0) if (indices < 0).any() else pa.array(indices)
            if not isinstance(dictionary, pa.Array):
                dictionary = pa.array(dictionary, type=pa.string())
            return pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.string())

        return pa.table({
            "encounter_id": dict_col(cod.enc[rec], self.ids),
            "coder": dict_col(cod.coder[rec].astype(np.int64), cod.coders),
            "behaviour": dict_col(j.astype(np.int32), self.names),
            "value": dict_col(self.value_of[j, own], self.levels or ["_"]),
            "value_numeric": pa.array(self.number_of[j, own], type=pa.float64()),
            "status": dict_col(self.status[rec, j].astype(np.int32), STATUS_LEVELS),
            "source_file": dict_col(cod.file[rec].astype(np.int64), cod.files),
            "source_row": pa.array(cod.row[rec], type=pa.int64()),
        })


def coding_long(cod: Codings, spine: pd.Index, codebook: Codebook, redact) -> LongTable:
    """Every judgement; coder codes that are not short codes (a name, an e-mail) are hidden."""
    cod.coders = [str(c) for c in redact.codes(pd.Series(cod.coders, dtype="string"))]
    return LongTable(cod, spine, codebook)




@dataclass
class Consensus:
    """One value per encounter and behaviour (level codes into ``Codings.levels``) and its status."""

    values: dict          # behaviour -> int32 codes per encounter (-1 = NA)
    status: dict          # behaviour -> int8 STATUS_LEVELS code per encounter (-1 = nobody coded it)
    coded: np.ndarray     # bool per encounter: somebody coded it


def consensus(cod: Codings, *, n_enc: int, spine: pd.Index, adjud: pd.DataFrame | None,
              behaviours: list[Variable]) -> Consensus:
    """Each coded encounter's consensus record's values; an adjudicated value wins."""
    coded = np.zeros(n_enc, dtype=bool)
    coded[cod.chosen_enc] = True
    values, status = {}, {}
    for b in behaviours:
        values[b.name] = np.full(n_enc, -1, dtype=np.int32)
        values[b.name][cod.chosen_enc] = cod.values[b.name][cod.chosen]
        status[b.name] = np.full(n_enc, -1, dtype=np.int8)
        status[b.name][cod.chosen_enc] = cod.status[b.name][cod.chosen]
    if adjud is not None:
        # an adjudicated value wins, for encounters somebody coded
        a_enc = positions(adjud["encounter_id"], spine)
        for b in behaviours:
            if b.name not in adjud:
                continue
            a_codes = level_codes(adjud[b.name], cod.levels[b.name])
            ok = adjud[b.name].notna().to_numpy() & (a_enc >= 0)
            ok[ok] = coded[a_enc[ok]]
            values[b.name][a_enc[ok]] = a_codes[ok]
            status[b.name][a_enc[ok]] = 0
    return Consensus(values=values, status=status, coded=coded)
