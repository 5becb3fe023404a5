"""Stage 6 — video: BORIS events → the codebook's BORIS variables, one row per encounter.

Each codebook variable with ``boris: {behavior, measure[, modifier]}`` (DESIGN §5) is computed
per observation from the events of its behaviour:

``occurred``    any event (yes/no)
``count``       number of events (a STATE event counts once)
``duration_s``  total STATE time (stop − start)
``share``       STATE time / observation duration (BORIS's observation or media duration, else
                the last event time; missing when that is 0 or unknown)
``latency_s``   start of the first event, from the observation start (media time 0)
``modifier``    the variable's value-set level named by the events' modifiers (aliases allowed);
                the highest level when several; the first level when the observation has no
                such event; missing (with a ``cell`` ledger entry per event) when its events carry
                no modifier that names a level
``modifier:``   (optional) counts only events carrying that modifier

An encounter without a BORIS observation gets missing values; an observation without events of
a declared behaviour gets 0 / no. Events are accounted like any other record (read = kept +
quarantined, per file): an observation id without digits (``invalid_id``), a second observation
of an already video-coded encounter (``duplicate_conflict``), an observation of no encounter
(``unlinked_video``), a behaviour no codebook variable declares (``unknown_behaviour``, named and
counted in the cleaning report), and the event checks of :func:`svcresearch.events.validate_events`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from svcresearch import codebook as cbmod
from svcresearch._validation import InputError
from svcresearch.codebook import Codebook, Variable, behaviour_key

from .identifiers import is_in
from .ledger import Ledger
from .read import repeated
from .spec import FileSpec


@dataclass
class Video:
    """Result of :func:`read_video`."""

    features: pd.DataFrame | None          # index: encounter_id; columns: BORIS variables' output names
    accounting: list = field(default_factory=list)   # per file: (spec, read, per-event status)
    link: tuple = (0, 0)                   # observations linked, observations with a usable id
    undeclared: dict = field(default_factory=dict)   # behaviour name as written -> events


def read_video(specs: list[FileSpec], codebook: Codebook, spine: pd.Index, ledger: Ledger, redact) -> Video:
    """Read every BORIS export of the study and compute the codebook's BORIS variables."""
    if not specs:
        return Video(features=None)
    from svcresearch import events as evmod
    from svcresearch import io

    parts = []
    for spec in specs:
        ev = io.read_boris(spec.path).copy()
        ev["source_file"] = repeated(spec.rel, len(ev)).set_axis(ev.index)
        parts.append(ev)
    events = pd.concat(parts, ignore_index=True)
    n = len(events)
    files = events["source_file"].to_numpy(dtype=object)
    rows = events["source_row"].to_numpy(dtype=np.int64)
    fmt = codebook.id_formats[codebook["encounter_id"].id_format] if codebook["encounter_id"].id_format else None
    raw_obs = events["observation_id"].astype("string")
    enc = cbmod.canonical_id(raw_obs, fmt) if fmt else raw_obs.str.strip()
    dropped = np.zeros(n, dtype=bool)

    def drop(mask, *, column, value, reason, detail):
        mask = mask & ~dropped
        if mask.any():
            ledger.add(file=files[mask], row=rows[mask], column=column,
                       value=np.asarray(value, dtype=object)[mask], reason=reason, scope="row",
                       detail=detail if np.isscalar(detail) else np.asarray(detail, dtype=object)[mask])
            dropped[mask] = True

    raw_obs_arr = redact.ids(raw_obs)
    bad_id = enc.isna().to_numpy()
    drop(bad_id, column="observation_id", value=raw_obs_arr, reason="invalid_id",
         detail=f"observation id has no digits (canonical {fmt})")
    # one observation per encounter: a second observation of the same encounter is a conflict
    obs_key = events["source_file"] + "\x1f" + raw_obs.fillna("")
    first_obs = pd.DataFrame({"enc": enc, "obs": obs_key}).dropna().drop_duplicates("enc")
    owner = enc.map(dict(zip(first_obs["enc"], first_obs["obs"])))
    second = (enc.notna() & (owner != obs_key)).fillna(False).to_numpy()
    drop(second, column="observation_id", value=raw_obs_arr, reason="duplicate_conflict",
         detail="the encounter was already video-coded in another observation; nothing guessed")
    linked = is_in(enc, spine) & ~bad_id
    drop(~linked & ~bad_id & ~second, column="observation_id", value=raw_obs_arr, reason="unlinked_video",
         detail="observation of an encounter that is not in the encounters")
    usable = ~bad_id & ~second
    n_obs = int(obs_key[usable].nunique())
    n_obs_linked = int(obs_key[usable & linked].nunique())
    # the encounters that were video-coded: every linked observation, whatever its events
    coded_obs = pd.Index(pd.unique(enc[linked & ~second].dropna())).astype("string")

    # behaviours that no codebook variable declares are reported, never turned into zeros
    declared = {v.boris.key for v in codebook.boris_variables}
    bkey = events["behavior"].astype("string").fillna("").map(behaviour_key).to_numpy(dtype=object)
    unknown = ~np.isin(bkey, list(declared)) & ~dropped
    undeclared: dict[str, int] = {}
    if unknown.any():
        names = events["behavior"].astype("string").fillna("").to_numpy(dtype=object)[unknown]
        for name, count in zip(*np.unique(names, return_counts=True)):
            undeclared[str(name)] = int(count)
        decl = ", ".join(sorted({v.boris.behavior for v in codebook.boris_variables})) or "none"
        drop(unknown, column="behavior", value=redact.codes(events["behavior"]), reason="unknown_behaviour",
             detail=f"no codebook variable declares this BORIS behaviour (boris: {{behavior: ...}}; declared: {decl})")

    _check_one_type_per_behaviour(events, bkey, ~dropped)
    keep = ~dropped
    ev = events.loc[keep].copy()
    ev["observation_id"] = enc[keep].astype("string")
    ev["_k"] = np.flatnonzero(keep)
    valid, vq = evmod.validate_events(ev.reset_index(drop=True))
    if len(vq):
        vq = vq.assign(value=redact.codes(vq["value"]))
    ledger.extend(vq, scope="row")
    if "_k" not in valid:
        raise RuntimeError("events.validate_events dropped the bookkeeping column; cannot account for events")
    kept_k = np.unique(valid["_k"].to_numpy())
    kept = np.zeros(n, dtype=bool)
    kept[kept_k] = True
    lost = keep & ~kept
    if lost.any():
        have = ledger.rows()
        if any((f, r) not in have for f, r in zip(files[lost], rows[lost])):
            raise RuntimeError("events.validate_events dropped events without a quarantine entry")

    valid = valid.assign(_bkey=bkey[valid["_k"].to_numpy()])
    observed = linked & ~second
    features = _features(valid, coded_obs, _observation_lengths(events.loc[observed], enc[observed], coded_obs),
                         codebook, ledger, redact)
    features["video_coded"] = True
    accounting = []
    for spec in specs:
        m = events["source_file"].to_numpy(dtype=object) == spec.rel
        accounting.append((spec, int(m.sum()), np.where(kept[m], "kept", "quarantined")))
    return Video(features=features, accounting=accounting, link=(n_obs_linked, n_obs), undeclared=undeclared)


def _check_one_type_per_behaviour(events: pd.DataFrame, bkey: np.ndarray, keep: np.ndarray) -> None:
    """A behaviour is either a STATE or a POINT event in an ethogram; both at once is unusable."""
    kind = events["behavior_type"].astype("string").str.upper().fillna("").to_numpy(dtype=object)
    frame = pd.DataFrame({"b": bkey[keep], "k": kind[keep], "f": events["source_file"].to_numpy(dtype=object)[keep]})
    frame = frame[frame["k"].isin(["STATE", "POINT"])]
    mixed = frame.groupby("b")["k"].nunique()
    if (mixed > 1).any():
        b = mixed.index[mixed > 1][0]
        files = sorted(set(frame.loc[frame["b"] == b, "f"]))
        raise InputError(f"BORIS behaviour {b!r} is coded both as STATE and as POINT events; expected one type per "
                         f"behaviour (fix the ethogram in BORIS and export again).", file=files[0], column="behavior")


def _observation_lengths(events: pd.DataFrame, enc: pd.Series, observations: pd.Index) -> np.ndarray:
    """Each observation's duration: BORIS's own (observation/media duration), else the last time
    of any of its events (whatever their behaviour or fate, so that dropping an event never
    changes the denominator of a share)."""
    pos = pd.Index(observations).get_indexer(enc.astype("string"))
    n_obs = len(observations)
    length = np.full(n_obs, np.nan)
    if "observation_duration_s" in events:
        od = pd.to_numeric(events["observation_duration_s"], errors="coerce").to_numpy(dtype=float)
        length = pd.Series(od).groupby(pos).max().reindex(range(n_obs)).to_numpy(dtype=float)
    times = np.fmax(pd.to_numeric(events["start_s"], errors="coerce").to_numpy(dtype=float),
                    pd.to_numeric(events["stop_s"], errors="coerce").to_numpy(dtype=float))
    last = pd.Series(times).groupby(pos).max().reindex(range(n_obs)).to_numpy(dtype=float)
    return np.where(np.isnan(length), last, length)


def _features(valid: pd.DataFrame, observations: pd.Index, length: np.ndarray, codebook: Codebook,
              ledger: Ledger, redact) -> pd.DataFrame:
    """One row per video-coded encounter, one column per BORIS variable (typed for the output)."""
    n_obs = len(observations)
    obs_pos = pd.Index(observations).get_indexer(valid["observation_id"].astype("string"))
    start = pd.to_numeric(valid["start_s"], errors="coerce").to_numpy(dtype=float)
    is_state = valid["behavior_type"].astype("string").str.upper().to_numpy(dtype=object) == "STATE"
    stop = np.where(is_state, pd.to_numeric(valid["stop_s"], errors="coerce").to_numpy(dtype=float), start)
    denom = np.where(length > 0, length, np.nan)
    mods = valid["modifiers"].astype("string").fillna("") if "modifiers" in valid else \
        pd.Series("", index=valid.index, dtype="string")
    tokens = mods.str.split("|")
    out = pd.DataFrame(index=pd.Index(observations, name="encounter_id"))
    for v in codebook.boris_variables:
        b = v.boris
        sel = valid["_bkey"].to_numpy(dtype=object) == b.key
        if b.modifier is not None:
            want = behaviour_key(b.modifier)
            sel &= tokens.map(lambda ts: any(behaviour_key(t) == want for t in ts)).to_numpy(dtype=bool)
        where = obs_pos[sel]
        counts = np.bincount(where, minlength=n_obs)
        if b.measure in ("duration_s", "share") and sel.any() and not is_state[sel].all():
            example = valid.loc[sel & ~is_state]
            raise InputError(f"codebook variable '{v.name}' measures {b.measure} of BORIS behaviour "
                             f"{b.behavior!r}, which this export codes as POINT events (no duration); expected "
                             f"a STATE behaviour or measure count/occurred/latency_s.",
                             file=example["source_file"].iat[0], column="behavior")
        if b.measure == "occurred":
            values = pd.array(counts > 0, dtype="boolean")
        elif b.measure == "count":
            values = pd.array(counts, dtype="Int64")
        elif b.measure in ("duration_s", "share"):
            total = np.bincount(where, weights=(stop - start)[sel], minlength=n_obs)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = total if b.measure == "duration_s" else total / denom
            values = np.asarray(values, dtype="float64")
        elif b.measure == "latency_s":
            values = pd.Series(start[sel]).groupby(where).min().reindex(range(n_obs)).to_numpy(dtype=float)
        else:
            values = _modifier_levels(v, valid.loc[sel], tokens[sel], where, n_obs, codebook, ledger, redact)
        out[v.out_name] = values
    return out


def _modifier_levels(v: Variable, events: pd.DataFrame, tokens: pd.Series, where: np.ndarray, n_obs: int,
                     codebook: Codebook, ledger: Ledger, redact):
    """Highest value-set level named by each observation's event modifiers (categorical)."""
    levels = list(v.value_set.levels)
    best = np.full(n_obs, -1, dtype=np.int64)
    has_event = np.bincount(where, minlength=n_obs) > 0
    flat = tokens.explode()
    flat = flat[flat.astype("string").str.strip().fillna("") != ""]
    if len(flat):
        res = cbmod.normalise(flat.astype("string").reset_index(drop=True), v, codebook)
        level = pd.Index(levels).get_indexer(res.values.astype("string").fillna("\x00"))
        owner = where[pd.Index(tokens.index).get_indexer(flat.index)]
        np.maximum.at(best, owner[level >= 0], level[level >= 0])
        unknown = level < 0
        if unknown.any():
            ev_rows = events.loc[flat.index[unknown]]
            ledger.add(file=ev_rows["source_file"].to_numpy(dtype=object), row=ev_rows["source_row"].to_numpy(),
                       column="modifiers", value=redact.codes(flat[unknown]),
                       reason="unknown_code", scope="cell",
                       detail=f"modifier names no level of '{v.name}' ({', '.join(levels)}); the event counts "
                              f"for the other measures")
    codes = np.where(has_event, best, 0)   # no such event: the first level (e.g. 'none')
    return pd.Categorical.from_codes(codes, categories=levels, ordered=v.type == "ordinal")
