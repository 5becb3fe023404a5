"""Tests of svcresearch.events: quarantine rules and the per-observation video features.

References: hand-computed small cases (numbers worked out in the comments), the BORIS service
fixtures' ``service_expected.json``, and a plain per-observation Python loop written here
independently of the vectorised code.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcresearch.events import QUARANTINE_COLUMNS, event_features, snake_case, validate_events
from svcresearch.io import read_boris

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIX = SHARED / "fixtures" / "boris"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason="shared/fixtures/boris is not available")


def _ev(rows, **extra):
    """rows: (obs, behavior, type, start, stop[, modifiers])"""
    recs = []
    for i, r in enumerate(rows):
        obs, beh, kind, a, b = r[:5]
        recs.append({"observation_id": obs, "subject": "employee", "behavior": beh, "behavior_type": kind,
                     "start_s": a, "stop_s": b, "duration_s": (b - a) if kind == "STATE" else np.nan,
                     "modifiers": r[5] if len(r) > 5 else "", "source_file": "f.tsv", "source_row": i + 2})
    df = pd.DataFrame(recs)
    for k, v in extra.items():
        df[k] = v
    return df


# ---------------------------------------------------------------------------------------------
# validate_events
# ---------------------------------------------------------------------------------------------
def test_each_reason_once():
    nan = np.nan
    ev = _ev([
        ("E1", "smile", "STATE", 1.0, 3.0),        # valid
        ("E1", "smile", "STATE", 5.0, nan),        # START without STOP
        ("E1", "smile", "STATE", nan, 9.0),        # STOP without START
        ("E1", "eye contact", "STATE", 8.0, 6.0),  # stop < start
        ("E1", "eye contact", "STATE", 0.0, 10.0),  # valid
        ("E1", "eye contact", "STATE", 5.0, 20.0),  # starts before 10 -> overlapping
        ("E1", "eye contact", "STATE", 12.0, 15.0),  # starts after the kept one stopped at 10: valid
        ("E1", "eye contact", "STATE", 15.0, 16.0),  # touching 15 is not overlapping: valid
        ("E1", "greeting", "POINT", nan, nan),     # POINT without time
        ("E1", "nod", "POINT", 2.0, 2.0),          # valid
        ("E2", "smile", "STATE", nan, nan),        # unparseable (text kept)
    ], unparsed_time=[None] * 10 + ["1,5"])
    valid, q = validate_events(ev)
    assert list(q.columns) == QUARANTINE_COLUMNS
    assert valid["source_row"].tolist() == [2, 6, 8, 9, 11]
    got = q[["row", "column", "value", "reason"]].astype(object).values.tolist()
    assert got == [
        [3, "stop_s", "5", "unpaired_event"],
        [4, "start_s", "9", "unpaired_event"],
        [5, "stop_s", "6", "negative_duration"],
        [7, "start_s", "5", "overlapping_state"],
        [10, "start_s", "NA", "unparseable_time"],
        [12, "time", "1,5", "unparseable_time"],
    ]
    assert (q["file"] == "f.tsv").all()
    assert q["detail"].iloc[3] == ("'eye contact' (employee, observation E1) starts at 5 s before the previous "
                                   "one stopped at 10 s")
    assert len(valid) + len(q) == len(ev)


def test_overlap_is_per_subject_and_behavior():
    ev = _ev([("E1", "smile", "STATE", 0.0, 10.0, "polite"), ("E1", "smile", "STATE", 5.0, 8.0, "genuine"),
              ("E1", "eye contact", "STATE", 5.0, 8.0), ("E2", "smile", "STATE", 5.0, 8.0)])
    ev.loc[3, "subject"] = "employee"
    valid, q = validate_events(ev)
    # only the genuine smile inside the polite one overlaps (same observation × subject × behavior)
    assert q["row"].tolist() == [3] and q["reason"].tolist() == ["overlapping_state"]
    ev.loc[1, "subject"] = "customer"
    assert len(validate_events(ev)[1]) == 0


def test_validate_argument_errors():
    with pytest.raises(ValueError, match="missing column.*'stop_s'"):
        validate_events(pd.DataFrame({"observation_id": [], "subject": [], "behavior": [],
                                      "behavior_type": [], "start_s": []}))
    with pytest.raises(ValueError, match="'behavior_type' must hold 'STATE' or 'POINT'; got START"):
        validate_events(_ev([("E1", "s", "START", 1.0, 2.0)]))
    with pytest.raises(TypeError, match="`events` must be a pandas DataFrame"):
        validate_events([1, 2])


@needs_fixtures
def test_fixture_project_unpaired_start_is_quarantined():
    ev = read_boris(FIX / "test.boris")
    valid, q = validate_events(ev)
    # 'live not paired' ends with an 's' START at 26.862 s without STOP (see test_boris.py)
    assert q[["value", "reason"]].values.tolist() == [["26.862", "unpaired_event"]]
    assert q["file"].iloc[0].endswith("test.boris") and len(valid) == len(ev) - 1


def _reference_validate(ev: pd.DataFrame) -> dict[int, str]:
    """Plain loop: reason per source_row, in the documented order."""
    reasons = {}
    for r in ev.itertuples():
        a, b = r.start_s, r.stop_s
        if r.behavior_type == "POINT":
            if np.isnan(a):
                reasons[r.source_row] = "unparseable_time"
        elif np.isnan(a) and np.isnan(b):
            reasons[r.source_row] = "unparseable_time"
        elif np.isnan(a) or np.isnan(b):
            reasons[r.source_row] = "unpaired_event"
        elif b < a:
            reasons[r.source_row] = "negative_duration"
    rest = ev[(ev["behavior_type"] == "STATE") & ~ev["source_row"].isin(list(reasons))]
    for _, g in rest.groupby(["observation_id", "subject", "behavior"]):
        kept = -np.inf
        for r in g.sort_values(["start_s", "stop_s", "source_row"]).itertuples():
            if r.start_s < kept:
                reasons[r.source_row] = "overlapping_state"
            else:
                kept = max(kept, r.stop_s)
    return reasons


_time = st.one_of(st.just(np.nan), st.integers(0, 20).map(float))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["E1", "E2"]), st.sampled_from(["smile", "nod", "eye contact"]),
                          _time, _time), min_size=1, max_size=30))
def test_validate_conservation_and_valid_states(rows):
    recs = [(o, b, "POINT" if b == "nod" else "STATE", a, (a if b == "nod" else z)) for o, b, a, z in rows]
    ev = _ev(recs)
    valid, q = validate_events(ev)
    # every event is in exactly one place
    assert len(valid) + len(q) == len(ev)
    assert sorted(valid["source_row"].tolist() + q["row"].tolist()) == ev["source_row"].tolist()
    # valid states: both times, stop >= start, no overlap within observation × subject × behavior
    vs = valid[valid["behavior_type"] == "STATE"]
    assert vs[["start_s", "stop_s"]].notna().all().all() and (vs["stop_s"] >= vs["start_s"]).all()
    for _, g in vs.groupby(["observation_id", "subject", "behavior"]):
        g = g.sort_values(["start_s", "stop_s"])
        assert (g["start_s"].to_numpy()[1:] >= np.maximum.accumulate(g["stop_s"].to_numpy())[:-1]).all()
    assert dict(zip(q["row"].astype(int), q["reason"])) == _reference_validate(ev)


# ---------------------------------------------------------------------------------------------
# event_features
# ---------------------------------------------------------------------------------------------
def test_features_hand_computed():
    ev = _ev([
        ("E1", "greeting", "POINT", 2.0, 2.0),
        ("E1", "Eye contact", "STATE", 3.0, 13.0),
        ("E1", "Eye contact", "STATE", 20.0, 25.0),
        ("E1", "smile", "STATE", 4.0, 6.0, "polite"),
        ("E1", "smile", "STATE", 50.0, 70.0, "genuine"),
        ("E2", "smile", "STATE", 1.0, 2.0, "polite"),
        ("E2", "nod", "POINT", 30.0, 30.0),
    ], observation_duration_s=[90.0] * 5 + [np.nan] * 2)
    f = event_features(ev, modifier_levels={"smile": ["polite", "genuine"]}, phases=["smile"]
                       ).set_index("observation_id")
    assert list(f.columns) == ["encounter_duration_s", "eye_contact_count", "eye_contact_present",
                               "eye_contact_latency_s", "eye_contact_duration_s", "eye_contact_share",
                               "greeting_count", "greeting_present", "greeting_latency_s", "nod_count",
                               "nod_present", "nod_latency_s", "smile_count", "smile_present", "smile_latency_s",
                               "smile_duration_s", "smile_share", "smile_modifier",
                               "smile_at_start", "smile_at_middle", "smile_at_end"]
    e1, e2 = f.loc["E1"], f.loc["E2"]
    # E1: duration 90 (observation_duration_s); eye contact 10 + 5 = 15 s -> share 15/90
    assert e1["encounter_duration_s"] == 90.0 and e1["eye_contact_count"] == 2
    assert e1["eye_contact_duration_s"] == 15.0 and e1["eye_contact_share"] == pytest.approx(15 / 90)
    # smiles 2 + 20 = 22 s; thirds [0,30) [30,60) [60,90]: 4-6 in the first, 50-70 in 2nd and 3rd
    assert e1["smile_duration_s"] == 22.0 and e1["smile_modifier"] == "genuine"
    assert (e1["smile_at_start"], e1["smile_at_middle"], e1["smile_at_end"]) == (True, True, True)
    assert e1["eye_contact_latency_s"] == 3.0 and e1["smile_latency_s"] == 4.0
    assert e1["greeting_latency_s"] == 2.0 and e1["nod_count"] == 0 and not e1["nod_present"]
    # E2: no duration -> last event time 30 s; thirds [0,10) [10,20) [20,30]; smile 1-2 s polite
    assert e2["encounter_duration_s"] == 30.0 and e2["smile_share"] == pytest.approx(1 / 30)
    assert e2["smile_modifier"] == "polite" and np.isnan(e2["greeting_latency_s"]) and not e2["greeting_present"]
    assert (e2["smile_at_start"], e2["smile_at_middle"], e2["smile_at_end"]) == (True, False, False)
    assert e2["eye_contact_duration_s"] == 0.0 and e2["eye_contact_count"] == 0
    assert f["smile_modifier"].cat.ordered and list(f["smile_modifier"].cat.categories) == ["polite", "genuine"]

    # durations override; ethogram behaviours without events get columns; a modifier nobody used is NA
    g = event_features(ev, durations=pd.Series({"E1": 180.0}), behaviors={"frown": "STATE"},
                       modifier_levels={"nod": ["slight", "deep"]}).set_index("observation_id")
    assert g.loc["E1", "encounter_duration_s"] == 180.0 and g.loc["E2", "encounter_duration_s"] == 30.0
    assert g.loc["E1", "eye_contact_share"] == pytest.approx(15 / 180)
    assert np.isnan(g.loc["E1", "nod_latency_s"]) and g.loc["E2", "nod_latency_s"] == 30.0
    assert g["nod_modifier"].isna().all()
    assert g["frown_count"].tolist() == [0, 0] and g["frown_share"].tolist() == [0.0, 0.0]


def test_features_errors():
    bad = _ev([("E1", "smile", "STATE", 5.0, np.nan)])
    with pytest.raises(ValueError, match="validate_events quarantines.*unpaired_event"):
        event_features(bad)
    with pytest.raises(ValueError, match="both as STATE and as POINT"):
        event_features(_ev([("E1", "smile", "STATE", 1.0, 2.0), ("E1", "smile", "POINT", 3.0, 3.0)]))
    with pytest.raises(ValueError, match="become 'eye_contact'"):
        event_features(_ev([("E1", "eye contact", "STATE", 1.0, 2.0), ("E1", "Eye-contact", "STATE", 3.0, 4.0)]))
    with pytest.raises(ValueError, match="`behaviors` says 'smile' is POINT"):
        event_features(_ev([("E1", "smile", "STATE", 1.0, 2.0)]), behaviors={"smile": "POINT"})
    with pytest.raises(TypeError, match="`durations` must be"):
        event_features(_ev([("E1", "smile", "STATE", 1.0, 2.0)]), durations={"E1": 3})
    with pytest.raises(TypeError, match="`modifier_levels` must map"):
        event_features(_ev([("E1", "smile", "STATE", 1.0, 2.0)]), modifier_levels={"smile": "genuine"})


def test_snake_case():
    assert snake_case("eye contact") == "eye_contact" and snake_case(" Eye-Contact ") == "eye_contact"
    assert snake_case("Smile (genuine)") == "smile_genuine"


@needs_fixtures
@pytest.mark.parametrize("name", ["service_aggregated_v9.tsv", "service_tabular_v8.csv"])
def test_features_on_service_fixtures(name):
    expected = json.loads((FIX / "service_expected.json").read_text())
    valid, q = validate_events(read_boris(FIX / name))
    assert len(q) == 0
    f = event_features(valid, modifier_levels={"smile": ["polite", "genuine"]}).set_index("observation_id")
    for obs, behaviours in expected.items():
        for beh, want in behaviours.items():
            b = snake_case(beh)
            assert f.loc[obs, f"{b}_count"] == want["count"]
            if f"{b}_duration_s" in f:
                assert f.loc[obs, f"{b}_duration_s"] == pytest.approx(want["duration_s"], abs=1e-3)
    # from the files: smile 'genuine' in service-0001, 'polite' in service-0002, none in service-0003;
    # first greeting at 2.459 / 1.887 / 3.448 s
    assert f["smile_modifier"].tolist()[:2] == ["genuine", "polite"] and pd.isna(f["smile_modifier"].iloc[2])
    assert f["greeting_latency_s"].tolist() == [2.459, 1.887, 3.448]
    # service-0001: 55.67 s of eye contact in 141.428 s
    assert f.loc["service-0001", "eye_contact_share"] == pytest.approx(55.67 / 141.428, abs=1e-6)


def _loop_features(ev: pd.DataFrame) -> pd.DataFrame:
    """Independent per-observation loop over the same definitions."""
    names = sorted({snake_case(b) for b in ev["behavior"]})
    state = {snake_case(b): t == "STATE" for b, t in zip(ev["behavior"], ev["behavior_type"])}
    out = []
    for obs in pd.unique(ev["observation_id"]):
        g = ev[ev["observation_id"] == obs]
        d = g["observation_duration_s"].max()
        if np.isnan(d):
            d = np.nanmax(np.r_[g["start_s"].to_numpy(), g["stop_s"].to_numpy()])
        row = {"observation_id": obs, "encounter_duration_s": d}
        for b in names:
            gb = g[g["behavior"].map(snake_case) == b]
            row[f"{b}_count"] = len(gb)
            row[f"{b}_present"] = len(gb) > 0
            if state[b]:
                tot = float((gb["stop_s"] - gb["start_s"]).sum())
                row[f"{b}_duration_s"] = tot
                row[f"{b}_share"] = tot / d if d > 0 else np.nan
            row[f"{b}_latency_s"] = gb["start_s"].min() if len(gb) else np.nan
        sm = g[g["behavior"] == "smile"]
        mods = {m for s in sm["modifiers"] for m in s.split("|")}
        row["smile_modifier"] = "genuine" if "genuine" in mods else "polite" if "polite" in mods else "nan"
        for k, lab in enumerate(["start", "middle", "end"]):
            lo, hi = d * k / 3, d * (k + 1) / 3
            row[f"smile_at_{lab}"] = bool(any((a < hi and z > lo) or (a == z and lo <= a <= hi)
                                              for a, z in zip(sm["start_s"], sm["stop_s"])))
        out.append(row)
    return pd.DataFrame(out)


def test_features_equal_a_plain_loop_on_random_events():
    rng = np.random.default_rng(11)
    rows = []
    for i in range(60):
        t = 0.0
        for _ in range(rng.integers(1, 9)):
            beh = rng.choice(["greeting", "eye contact", "smile", "nod"])
            t += rng.uniform(0, 10)
            kind = "STATE" if beh in ("eye contact", "smile") else "POINT"
            z = t + rng.uniform(0, 8) if kind == "STATE" else t
            mod = rng.choice(["genuine", "polite", "", "polite|x"]) if beh == "smile" else ""
            rows.append((f"ENC-{i:03d}", beh, kind, round(t, 3), round(z, 3), mod))
            t = z
    dur = [float(rng.choice([np.nan, 120.0])) for _ in rows]
    ev = _ev(rows, observation_duration_s=dur)
    ev["observation_duration_s"] = ev.groupby("observation_id")["observation_duration_s"].transform("max")
    valid, q = validate_events(ev)
    assert len(q) == 0  # sequential, non-overlapping by construction
    got = event_features(valid, modifier_levels={"smile": ["polite", "genuine"]}, phases=["smile"])
    want = _loop_features(valid)
    got = got.astype({c: object for c in got.columns if c.startswith("smile_at") or c in ("smile_modifier",
                                                                                              "observation_id")})
    for c in want.columns:
        g, w = got[c].tolist(), want[c].tolist()
        if isinstance(w[0], float):
            np.testing.assert_allclose(np.array(g, float), np.array(w, float), rtol=1e-12, equal_nan=True, err_msg=c)
        else:
            assert [str(x) for x in g] == [str(x) for x in w], c
