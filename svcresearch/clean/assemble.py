"""Stage 8 — assemble ``encounters.parquet``: one row per encounter, every codebook variable
that may be output, typed by the codebook.

Any file kind supplies what the codebook's ``sources`` say. A variable with one value per
encounter (context, identifiers, outcomes, allowed personal data) may come from several kinds;
the value is taken by this **precedence**, first non-missing wins:

* outcomes (role ``outcome``): survey > coding > operations — the customer's own answer first;
* everything else: operations > coding > survey — the administrative record first, then what
  the coders observed, then what the customer reported.

A coding sheet supplies the encounter's consensus record's value (:mod:`.consensus`); how often
the coders disagreed is counted in the cleaning report. Where a lower-precedence source holds a
different value, that value is not used and gets a ``cell`` entry (reason ``source_conflict``)
naming the value that was.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from svcresearch.codebook import Codebook, Variable

from .consensus import STATUS_LEVELS, Codings, consensus, not_applicable_mask, typed_codes
from .identifiers import positions
from .ledger import Ledger

PRECEDENCE = {"outcome": ("survey", "coding", "operations"), "other": ("operations", "coding", "survey")}
SURVEY_MODES = ["paper", "web"]


def precedence(v: Variable) -> tuple[str, ...]:
    """File kinds in the order their values win for ``v``."""
    return PRECEDENCE["outcome" if v.role == "outcome" else "other"]


def encounter_variables(codebook: Codebook) -> list[Variable]:
    """Variables with one value per encounter: all but the encounter id, the coder, coded
    behaviours (one value per judgement) and BORIS measures (computed from events)."""
    coded = {b.name for b in codebook.behaviours}
    return [v for v in codebook.variables.values()
            if v.name not in ("encounter_id", "coder") and v.name not in coded and v.boris is None]


def by_spine_position(frame: pd.DataFrame, pos: np.ndarray, n: int) -> pd.DataFrame:
    """``frame.reindex(spine)`` for a frame with one row per encounter, by spine positions.

    ``pos`` is each row's spine position (-1: not in the spine) and ``n`` the spine's length.
    Reindexing by integer positions gives the same rows, NA rows and dtype promotions as
    reindexing by the id strings, without pandas turning a million ids into Python objects.
    """
    by_pos = frame.iloc[np.flatnonzero(pos >= 0)]
    by_pos.index = pd.Index(pos[pos >= 0])
    return by_pos.reindex(pd.RangeIndex(n)).reset_index(drop=True)


def per_encounter_sources(kept: dict, cod: Codings, coding: pd.DataFrame, spine: pd.Index,
                          codebook: Codebook) -> dict:
    """Per file kind, one row per encounter (spine order) of that kind's values + file and row.

    ``kept`` maps ``operations`` and ``survey`` to their kept records (unique per encounter after
    the duplicate stage); coding values are the consensus record's.
    """
    wanted = {v.name for v in encounter_variables(codebook)}
    out = {}
    for kind in ("operations", "survey"):
        frame = kept.get(kind)
        if frame is None or not len(frame):
            continue
        cols = [c for c in frame.columns if c in wanted] + ["source_file", "source_row"]
        frame = frame.drop_duplicates("encounter_id")
        out[kind] = by_spine_position(frame[cols], positions(frame["encounter_id"], spine), len(spine))
    cols = [c for c in coding.columns if c in wanted]
    if cols and len(cod.chosen):
        rows = coding.iloc[cod.order[cod.chosen]][cols + ["source_file", "source_row"]]
        out["coding"] = by_spine_position(rows, cod.chosen_enc, len(spine))
    return out


def merge_context(sources: dict, codebook: Codebook, ledger: Ledger, redact, *,
                  tables: list) -> tuple[pd.DataFrame, dict]:
    """One column per encounter variable with data, values by :data:`PRECEDENCE`.

    Returns the merged frame (spine order, normalised values) and, per variable, the kinds that
    supplied it. ``tables`` (the read files) give the raw value of a value that is not used.
    """
    n = len(next(iter(sources.values()))) if sources else 0
    merged = pd.DataFrame(index=pd.RangeIndex(n))
    supplied: dict[str, list] = {}
    for v in encounter_variables(codebook):
        kinds = [k for k in precedence(v) if k in sources and v.name in sources[k]]
        if not kinds:
            continue
        supplied[v.name] = kinds
        value = sources[kinds[0]][v.name]
        if len(kinds) == 1:
            merged[v.name] = value
            continue
        chosen_kind = pd.Series(np.where(value.notna(), kinds[0], None), dtype="object")
        for k in kinds[1:]:
            other = sources[k][v.name]
            fill = value.isna() & other.notna()
            value = value.where(~fill, other)
            chosen_kind[fill.to_numpy()] = k
        for k in kinds:
            other = sources[k][v.name]
            text, used = other.astype("string"), value.astype("string")
            differs = (other.notna() & value.notna() & (text != used)).to_numpy(dtype=bool)
            if not differs.any():
                continue
            src = sources[k]
            winner = chosen_kind.to_numpy()[differs]
            win_file = np.array([sources[w]["source_file"].iat[i] if w else "" for w, i in
                                 zip(winner, np.flatnonzero(differs))], dtype=object)
            win_row = np.array([sources[w]["source_row"].iat[i] if w else -1 for w, i in
                                zip(winner, np.flatnonzero(differs))], dtype=object)
            shown = redact(v, used[differs])
            files = src["source_file"].to_numpy(dtype=object)[differs]
            rows = src["source_row"].to_numpy()[differs].astype(np.int64)
            ledger.add(file=files, row=rows, column=v.column_in(k),
                       value=redact(v, raw_cells(tables, v.name, files, rows)), reason="source_conflict",
                       scope="cell",
                       detail=[f"value not used: {f} row {r} gives {s!r} and {w} comes first for "
                               f"'{v.name}' (precedence {' > '.join(precedence(v))})"
                               for f, r, s, w in zip(win_file, win_row, shown, winner)])
        merged[v.name] = value
    return merged, supplied


def raw_cells(tables: list, name: str, files: np.ndarray, rows: np.ndarray) -> pd.Series:
    """The raw cells of variable ``name`` at (file, row) pairs, as read."""
    out = np.full(len(files), None, dtype=object)
    for t in tables:
        mine = files == t.spec.rel
        if not mine.any() or name not in t.raw:
            continue
        at = pd.Index(t.data["source_row"].to_numpy()).get_indexer(rows[mine])
        vals = t.raw[name].to_numpy(dtype=object, na_value=None)
        out[np.flatnonzero(mine)] = [vals[i] if i >= 0 else None for i in at]
    return pd.Series(out, dtype="string")


def typed(col: pd.Series, v: Variable) -> pd.Series:
    """Output dtype of a normalised codebook variable (docs/study_layout.md)."""
    col = col.reset_index(drop=True)
    vs = v.value_set
    if v.type == "binary":
        yes = vs.levels[1]
        s = col.astype("string")
        return pd.Series(pd.array(np.where(s.isna(), None, s == yes), dtype="boolean")) if len(s) else \
            pd.Series(pd.array([], dtype="boolean"))
    if v.type == "datetime":
        return pd.to_datetime(col, errors="coerce").astype("datetime64[us]")
    if v.type == "continuous":
        return pd.to_numeric(col, errors="coerce").astype("float64")
    if v.type == "count":
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    if vs is not None and vs.is_integer_scale:
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    if vs is not None:
        return pd.Series(pd.Categorical(col.astype("string").to_numpy(dtype=object),
                                        categories=list(vs.levels), ordered=v.type == "ordinal"))
    return col.astype("string")


def assemble(*, spine: pd.Index, ctx: pd.DataFrame, cod: Codings, adjud: pd.DataFrame | None, video,
             survey: pd.DataFrame, survey_modes: dict, codebook: Codebook, key: bytes,
             primary_coder: str) -> pd.DataFrame:
    """The encounters table (column order: docs/study_layout.md)."""
    from svcresearch import privacy

    enc = pd.DataFrame({"encounter_id": pd.array(spine, dtype="string")})
    n_enc = len(enc)
    empty = pd.Series(pd.NA, index=pd.RangeIndex(n_enc))
    outcomes = []
    for v in encounter_variables(codebook):
        if not codebook.output_allowed(v):
            continue
        if v.role == "outcome":
            outcomes.append(v)
            continue
        col = ctx[v.name] if v.name in ctx else empty
        if v.pseudonymise:
            enc[v.out_name] = privacy.pseudonymise(col.astype("string"), prefix=v.pseudonymise, key=key)
        else:
            enc[v.out_name] = typed(col, v)
    behaviours = codebook.behaviours
    cons = consensus(cod, n_enc=n_enc, spine=spine, adjud=adjud, behaviours=behaviours)
    for b in behaviours:
        enc[b.name] = typed_codes(cons.values[b.name], cod.levels[b.name], b)
    # encounters nobody coded: applicability still follows from the encounter's context

    def ctx_source(variable):
        return ctx[variable] if variable in ctx else empty

    uncoded = ~cons.coded
    for b in behaviours:
        st = cons.status[b.name]
        if uncoded.any():
            na_rule = not_applicable_mask(b, ctx_source)
            na_rule = np.zeros(n_enc, dtype=bool) if na_rule is None else na_rule
            st = np.where(uncoded, np.where(na_rule, 2, 1), st).astype(np.int8)
        enc[b.name + "_status"] = pd.Categorical.from_codes(st, categories=STATUS_LEVELS)
    enc["double_coded"] = cod.n_coders >= 2
    # video: no BORIS observation -> missing, observation without the behaviour -> 0 / no
    enc["video_coded"] = False
    feats = video.features if video is not None else None
    if feats is not None:
        v_pos = positions(pd.Series(feats.index.array), spine)
        placed = by_spine_position(feats, v_pos, n_enc)
        enc["video_coded"] = placed["video_coded"].astype("boolean").fillna(False).astype(bool).to_numpy()
    for v in codebook.boris_variables:
        col = placed[v.out_name] if feats is not None else None
        enc[v.out_name] = _boris_typed(col, v, n_enc)
    # survey
    responded = np.zeros(n_enc, dtype=bool)
    mode = np.full(n_enc, None, dtype=object)
    if len(survey):
        s = survey.drop_duplicates("encounter_id")
        s_pos = positions(s["encounter_id"], spine)
        ok = s_pos >= 0
        responded[s_pos[ok]] = True
        mode[s_pos[ok]] = s["source_file"].map(survey_modes).to_numpy(dtype=object)[ok]
    enc["responded"] = responded
    enc["survey_mode"] = pd.Categorical(mode, categories=SURVEY_MODES)
    for v in outcomes:
        enc[v.out_name] = typed(ctx[v.name] if v.name in ctx else empty, v)
    for sname, sspec in codebook.scales.items():
        items = enc[[codebook[i].out_name for i in sspec["items"]]].astype("Float64")
        score = items.mean(axis=1, skipna=False).astype("float64")
        # place right after its last item
        pos = max(enc.columns.get_loc(codebook[i].out_name) for i in sspec["items"]) + 1
        enc.insert(pos, sname, score.to_numpy())
    return enc.reset_index(drop=True)


def _boris_typed(col, v: Variable, n: int) -> pd.Series:
    """A BORIS variable's output column (NA where the encounter has no observation)."""
    if col is None:
        col = pd.Series(pd.NA, index=pd.RangeIndex(n))
    col = col.reset_index(drop=True)
    if v.type == "binary":
        return col.astype("boolean")
    if v.type == "count":
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    if v.type == "continuous":
        return pd.to_numeric(col, errors="coerce").astype("float64")
    return pd.Series(pd.Categorical(col.astype("string").to_numpy(dtype=object), categories=list(v.value_set.levels),
                                    ordered=v.type == "ordinal"))
