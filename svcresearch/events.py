"""Timed behaviour events (BORIS) → checked events → one row of video features per observation.

Why our own code: BORIS's own analysis functions live inside its Qt application, and generic
interval libraries do not know the quarantine rules of this project (DESIGN.md §8: every record
ends in exactly one place, with a reason code). The two steps are kept apart so the cleaner can
report what was dropped before any feature is computed:

* :func:`validate_events` splits events into valid ones and a quarantine table
  (``file, row, column, value, reason, detail``) with reason codes ``unparseable_time``,
  ``unpaired_event``, ``negative_duration`` and ``overlapping_state``; nothing is repaired or
  guessed.
* :func:`event_features` turns valid events into counts, presence, latencies, durations and
  shares of the encounter per behaviour, optionally the highest modifier of a behaviour and its
  timing by thirds of the encounter (Barger & Grandey 2006 coded expressions at the opening,
  transaction and closing), all by vectorised group-bys. The cleaner computes the study's own
  BORIS variables from its codebook (:mod:`svcresearch.clean.video`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from svcresearch._validation import check_dataframe, check_type

__all__ = ["validate_events", "event_features", "QUARANTINE_COLUMNS", "snake_case"]

QUARANTINE_COLUMNS = ["file", "row", "column", "value", "reason", "detail"]
_REQUIRED = ["observation_id", "subject", "behavior", "behavior_type", "start_s", "stop_s"]


def snake_case(name: str) -> str:
    """``'Uses name'`` → ``'uses_name'``: lower case, runs of other characters → ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _fmt(x: float) -> str:
    return "NA" if pd.isna(x) else f"{x:g}"


def _check_types(events: pd.DataFrame) -> np.ndarray:
    kind = events["behavior_type"].astype("string").str.upper().to_numpy(dtype=object, na_value=None)
    bad = ~np.isin(kind, ["STATE", "POINT"])
    if bad.any():
        vals = sorted({str(v) for v in kind[bad]})
        raise ValueError(f"`events` column 'behavior_type' must hold 'STATE' or 'POINT'; got {', '.join(vals)}.")
    return kind == "STATE"


def validate_events(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split events into valid ones and a quarantine table; nothing is repaired or guessed.

    Parameters
    ----------
    events : pandas.DataFrame
        As returned by :func:`svcresearch.io.read_boris`: at least ``observation_id, subject,
        behavior, behavior_type, start_s, stop_s``; ``source_file``, ``source_row`` and
        ``unparsed_time`` are used when present.

    Returns
    -------
    valid : pandas.DataFrame
        The events that passed, same columns and index as the input.
    quarantine : pandas.DataFrame
        One row per rejected event, columns ``file, row, column, value, reason, detail``.
        Reasons, checked in this order (an event gets the first that applies):

        ``unparseable_time``
            a time cell that is not a number (``value`` is the original text), a time that is
            infinite or negative, or a POINT event / a STATE event without any time;
        ``unpaired_event``
            a STATE START without STOP (``column`` ``stop_s``) or STOP without START
            (``column`` ``start_s``);
        ``negative_duration``
            ``stop_s < start_s``;
        ``overlapping_state``
            a STATE event of the same observation × subject × behavior starting before the
            previous kept one stopped (the later one is quarantined; touching is allowed).

    Notes
    -----
    Every input event is in exactly one of the two outputs (``len(valid) + len(quarantine) ==
    len(events)``), and the valid STATE events have ``stop_s >= start_s`` and do not overlap
    within observation × subject × behavior; both are checked by property-based tests
    (tests/test_events.py, hypothesis) and on hand-made cases with known answers.
    """
    check_dataframe("events", events, columns=_REQUIRED)
    n = len(events)
    is_state = _check_types(events)
    start = pd.to_numeric(events["start_s"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    stop = pd.to_numeric(events["stop_s"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if "unparsed_time" in events:
        unparsed = events["unparsed_time"].astype("string").to_numpy(dtype=object, na_value=None)
        has_unparsed = np.array([v is not None for v in unparsed], dtype=bool)
    else:
        unparsed = np.full(n, None, dtype=object)
        has_unparsed = np.zeros(n, dtype=bool)

    reason = np.full(n, None, dtype=object)
    column = np.full(n, None, dtype=object)
    value = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    codes = {c: pd.factorize(events[c], use_na_sentinel=False)
             for c in ("observation_id", "subject", "behavior")}

    def label(c, i):
        code, uniq = codes[c]
        return uniq[code[i]]

    def mark(mask, why, col, val, text):
        """Quarantine the events in ``mask`` not yet quarantined; texts only for those (speed)."""
        idx = np.flatnonzero(mask & (reason == None))  # noqa: E711 - elementwise on an object array
        for i in idx:
            where = f"'{label('behavior', i)}' ({label('subject', i)}, observation {label('observation_id', i)})"
            reason[i], column[i], value[i], detail[i] = why, col, val(i), text(i, where)

    none_time = np.isnan(start) & np.isnan(stop)
    mark(has_unparsed, "unparseable_time", "time", lambda i: unparsed[i],
         lambda i, w: f"time {unparsed[i]!r} of {w} is not a number")
    # a time is finite and not negative (media time); inf or -5 cannot be put in order
    with np.errstate(invalid="ignore"):
        bad_start = np.isinf(start) | (start < 0)
        bad_stop = np.isinf(stop) | (stop < 0)
    mark(bad_start, "unparseable_time", "start_s", lambda i: _fmt(start[i]),
         lambda i, w: f"start {_fmt(start[i])} s of {w} is not a finite, non-negative time")
    mark(bad_stop, "unparseable_time", "stop_s", lambda i: _fmt(stop[i]),
         lambda i, w: f"stop {_fmt(stop[i])} s of {w} is not a finite, non-negative time")
    mark((~is_state & np.isnan(start)) | (is_state & none_time), "unparseable_time", "start_s",
         lambda i: "NA", lambda i, w: f"{w} has no time")
    mark(is_state & ~np.isnan(start) & np.isnan(stop), "unpaired_event", "stop_s",
         lambda i: _fmt(start[i]), lambda i, w: f"START at {_fmt(start[i])} s of {w} has no STOP")
    mark(is_state & np.isnan(start) & ~np.isnan(stop), "unpaired_event", "start_s",
         lambda i: _fmt(stop[i]), lambda i, w: f"STOP at {_fmt(stop[i])} s of {w} has no START")
    with np.errstate(invalid="ignore"):
        negative = is_state & (stop < start)
    mark(negative, "negative_duration", "stop_s", lambda i: _fmt(stop[i]),
         lambda i, w: f"{w} stops at {_fmt(stop[i])} s before it starts at {_fmt(start[i])} s")

    # Overlaps among the STATE events still valid, per observation × subject × behavior.
    cand = np.flatnonzero(is_state & (reason == None))  # noqa: E711
    overlap = np.zeros(n, dtype=bool)
    prev_stop = np.full(n, np.nan)
    if len(cand) > 1:
        key = pd.DataFrame({c: codes[c][0][cand] for c in codes})
        gid = key.groupby(list(codes), sort=False).ngroup().to_numpy()
        order = np.lexsort((np.arange(len(cand)), stop[cand], start[cand], gid))
        g, a, b = gid[order], start[cand][order], stop[cand][order]
        new = np.ones(len(g), dtype=bool)
        new[1:] = g[1:] != g[:-1]
        # Fast check: the running maximum of all earlier stops in the group. When no start is
        # below it there is no overlap at all; otherwise walk only the groups that have one.
        run = pd.Series(b).groupby(g).cummax().to_numpy()
        prev = np.full(len(g), -np.inf)
        prev[1:] = run[:-1]
        prev[new] = -np.inf
        suspect = a < prev
        if suspect.any():
            bounds = np.flatnonzero(new)
            ends = np.append(bounds[1:], len(g))
            grp_of = np.cumsum(new) - 1
            flagged = np.zeros(len(g), dtype=bool)
            prev_kept = np.full(len(g), np.nan)
            for grp in np.unique(grp_of[suspect]):
                kept_stop = -np.inf
                for i in range(bounds[grp], ends[grp]):
                    if a[i] < kept_stop:
                        flagged[i] = True
                        prev_kept[i] = kept_stop
                    else:
                        kept_stop = max(kept_stop, b[i])
            overlap[cand[order[flagged]]] = True
            prev_stop[cand[order[flagged]]] = prev_kept[flagged]
    mark(overlap, "overlapping_state", "start_s", lambda i: _fmt(start[i]),
         lambda i, w: f"{w} starts at {_fmt(start[i])} s before the previous one stopped at "
                      f"{_fmt(prev_stop[i])} s")

    bad = reason != None  # noqa: E711
    file = (events["source_file"].astype("string") if "source_file" in events
            else pd.Series(pd.NA, index=events.index, dtype="string"))
    row = (pd.to_numeric(events["source_row"], errors="coerce").astype("Int64") if "source_row" in events
           else pd.Series(pd.NA, index=events.index, dtype="Int64"))
    quarantine = pd.DataFrame({
        "file": file.to_numpy()[bad],
        "row": row.to_numpy()[bad],
        "column": column[bad],
        "value": value[bad],
        "reason": reason[bad],
        "detail": detail[bad],
    })
    quarantine = quarantine.astype({"file": "string", "row": "Int64", "column": "string", "value": "string",
                                    "reason": "string", "detail": "string"})
    return events.loc[~bad], quarantine


def event_features(events: pd.DataFrame, *, durations: pd.Series | None = None,
                   behaviors: Mapping[str, str] | None = None,
                   modifier_levels: Mapping[str, Sequence[str]] | None = None,
                   phases: Sequence[str] = ()) -> pd.DataFrame:
    """One row of video features per observation, from valid events.

    Parameters
    ----------
    events : pandas.DataFrame
        The ``valid`` part of :func:`validate_events` (columns ``observation_id, behavior,
        behavior_type, start_s, stop_s``; ``modifiers`` and ``observation_duration_s`` used
        when present). Events that :func:`validate_events` would quarantine raise ValueError.
    durations : pandas.Series, optional
        Encounter duration in seconds indexed by ``observation_id``. Per observation, the
        encounter duration is taken from here, else from ``observation_duration_s``, else it
        is the last event time (``stop_s``).
    behaviors : mapping of str to {'STATE', 'POINT'}, optional
        Behaviours that get columns even when no event of them occurs (the study's ethogram).
    modifier_levels : mapping of str to list of str, optional
        Per behaviour, its modifiers in increasing order: adds ``<b>_modifier``, the highest
        listed modifier among the observation's events of ``b`` (ordered categorical; NA when
        none of its events carries a listed modifier).
    phases : list of str
        Behaviours whose timing by thirds of the encounter is wanted (Barger & Grandey 2006 coded
        expressions at the opening, transaction and closing): adds ``<b>_at_start``, ``<b>_at_middle``,
        ``<b>_at_end`` (pandas ``boolean``: an event overlaps the first / middle / last third;
        NA when the encounter duration is unknown).

    Returns
    -------
    pandas.DataFrame
        One row per ``observation_id`` (order of first appearance): ``observation_id``,
        ``encounter_duration_s``; for every behaviour ``b`` (snake case) ``<b>_count`` (int),
        ``<b>_present`` (bool), ``<b>_latency_s`` (start of its first event from media time 0;
        NaN without one) and, for STATE behaviours, ``<b>_duration_s`` (sum of stop − start) and
        ``<b>_share`` (duration / encounter duration; NaN when that is unknown or 0); then the
        modifier and phase columns asked for.

    Notes
    -----
    Validated on the service fixtures against ``service_expected.json`` (counts and STATE
    durations per observation and behaviour) and on hand-computed cases (tests/test_events.py);
    the vectorised result equals a plain per-observation loop on random data.
    """
    check_dataframe("events", events, columns=["observation_id", "behavior", "behavior_type", "start_s",
                                               "stop_s"])
    if durations is not None:
        check_type("durations", durations, pd.Series, what="a pandas Series indexed by observation_id")
    modifier_levels = dict(modifier_levels or {})
    for name, levels in modifier_levels.items():
        if isinstance(levels, str) or not all(isinstance(x, str) for x in levels) or not levels:
            raise TypeError(f"`modifier_levels` must map behaviour names to lists of modifier names; got "
                            f"{name!r}: {levels!r}.")
    if isinstance(phases, str):
        phases = [phases]
    full = events.assign(subject=events["subject"] if "subject" in events else "")
    _valid, quarantine = validate_events(full)
    if len(quarantine):
        reasons = ", ".join(sorted(set(quarantine["reason"])))
        raise ValueError(f"`events` holds {len(quarantine)} event(s) that validate_events quarantines "
                         f"({reasons}); pass the valid part of validate_events(events).")

    is_state = events["behavior_type"].astype("string").str.upper().to_numpy(dtype=object) == "STATE"
    bcode, braw = pd.factorize(events["behavior"].astype("string").fillna(""))
    snake_of = [snake_case(b) for b in braw]
    groups: dict[str, set] = {}
    for b, sn in zip(braw, snake_of):
        groups.setdefault(sn, set()).add(b)
    clash = {sn: v for sn, v in groups.items() if len(v) > 1}
    if clash:
        sn, v = next(iter(clash.items()))
        raise ValueError(f"`events` behaviours {sorted(v)} all become {sn!r} in snake case; expected "
                         "distinct behaviour names.")
    state_of: dict[str, bool] = {}
    for sn in groups:
        kinds = set(is_state[bcode == snake_of.index(sn)])
        if len(kinds) > 1:
            raise ValueError(f"`events` behaviour {sn!r} is coded both as STATE and as POINT; expected one "
                             "type per behaviour.")
        state_of[sn] = kinds.pop()
    for b, t in (behaviors or {}).items():
        if str(t).upper() not in ("STATE", "POINT"):
            raise ValueError(f"`behaviors` must map behaviour names to 'STATE' or 'POINT'; got {b!r}: {t!r}.")
        sb = snake_case(b)
        if sb in state_of and state_of[sb] != (str(t).upper() == "STATE"):
            raise ValueError(f"`behaviors` says {b!r} is {t} but the events code it as "
                             f"{'STATE' if state_of[sb] else 'POINT'}.")
        state_of.setdefault(sb, str(t).upper() == "STATE")
    names = sorted(state_of)
    col_of = {sn: k for k, sn in enumerate(names)}
    b = np.array([col_of[sn] for sn in snake_of], dtype=np.int64)[bcode]  # behaviour column per event
    o, obs = pd.factorize(events["observation_id"])  # order of first appearance
    n_obs, n_b = len(obs), len(names)
    start = pd.to_numeric(events["start_s"]).to_numpy(dtype=float)
    stop = pd.to_numeric(events["stop_s"]).to_numpy(dtype=float)
    stop = np.where(is_state, stop, start)

    # encounter duration: durations, else observation_duration_s, else the last event time
    obs_index = pd.Index(obs)
    enc = np.full(n_obs, np.nan)
    if durations is not None:
        enc = pd.to_numeric(durations, errors="coerce").reindex(obs_index).to_numpy(dtype=float)
    if "observation_duration_s" in events:
        od = pd.to_numeric(events["observation_duration_s"], errors="coerce").to_numpy(dtype=float)
        od_max = pd.Series(od).groupby(o).max().reindex(range(n_obs)).to_numpy(dtype=float)
        enc = np.where(np.isnan(enc), od_max, enc)
    last = pd.Series(np.fmax(start, stop)).groupby(o).max().reindex(range(n_obs)).to_numpy(dtype=float)
    enc = np.where(np.isnan(enc), last, enc)
    denom = np.where(enc > 0, enc, np.nan)

    cell = o * n_b + b
    counts = np.bincount(cell, minlength=n_obs * n_b).reshape(n_obs, n_b)
    dur = np.bincount(cell[is_state], weights=(stop - start)[is_state], minlength=n_obs * n_b).reshape(n_obs, n_b)
    first = np.full(n_obs * n_b, np.inf)
    np.minimum.at(first, cell, start)
    first = np.where(np.isinf(first), np.nan, first).reshape(n_obs, n_b)
    cols = {"observation_id": np.asarray(obs), "encounter_duration_s": enc}
    for k, sn in enumerate(names):
        cols[f"{sn}_count"] = counts[:, k].astype(np.int64)
        cols[f"{sn}_present"] = counts[:, k] > 0
        cols[f"{sn}_latency_s"] = first[:, k]
        if state_of[sn]:
            cols[f"{sn}_duration_s"] = dur[:, k]
            with np.errstate(invalid="ignore"):
                cols[f"{sn}_share"] = dur[:, k] / denom
    out = pd.DataFrame(cols)
    out["observation_id"] = out["observation_id"].astype(events["observation_id"].dtype)

    mods = events["modifiers"].astype("string").fillna("") if "modifiers" in events else None
    for name, levels in modifier_levels.items():
        sn = snake_case(name)
        rank = np.full(n_obs, -1, dtype=np.int64)
        sel = np.flatnonzero(b == col_of.get(sn, -1))
        if mods is not None and len(sel):
            tok = mods.iloc[sel].reset_index(drop=True).str.split("|").explode().str.strip()
            owner = o[sel][tok.index.to_numpy()]
            level = pd.Index(list(levels)).get_indexer(tok.fillna("").to_numpy(dtype=object))
            np.maximum.at(rank, owner[level >= 0], level[level >= 0])
        out[f"{sn}_modifier"] = pd.Categorical.from_codes(rank, categories=list(levels), ordered=True)

    unknown = np.isnan(enc)
    for name in phases:
        sn = snake_case(name)
        sel = np.flatnonzero(b == col_of.get(sn, -1))
        d_enc = enc[o[sel]]
        a, z = start[sel], stop[sel]
        for k, label in enumerate(("start", "middle", "end")):
            lo, hi = d_enc * k / 3, d_enc * (k + 1) / 3
            hit = ((a < hi) & (z > lo)) | ((a == z) & (a >= lo) & (a <= hi))
            anyhit = np.zeros(n_obs, dtype=bool)
            anyhit[o[sel][hit]] = True
            col = pd.array(anyhit, dtype="boolean")
            col[unknown] = pd.NA
            out[f"{sn}_at_{label}"] = col
    return out
