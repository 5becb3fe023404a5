"""Tests of svcresearch.io.read_boris on real BORIS exports and on small synthetic files.

Real files: ``shared/fixtures/boris`` (BORIS's own test files and a service example written in
the v9 aggregated and v8.9.11+ tabular layouts; see its README.md). Expected numbers come from
``service_expected.json`` and from reading the other files by eye (quoted next to each check).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svcresearch._validation import InputError
from svcresearch.io import BORIS_COLUMNS, read_boris

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIX = SHARED / "fixtures" / "boris"
needs_fixtures = pytest.mark.skipif(not FIX.is_dir(), reason="shared/fixtures/boris is not available")

KEY = ["observation_id", "subject", "behavior", "behavior_type", "start_s", "stop_s", "modifiers"]


def _events(df: pd.DataFrame) -> pd.DataFrame:
    """Comparable view: the event columns sorted, times rounded to BORIS's millisecond precision."""
    out = df[KEY].copy()
    out[["start_s", "stop_s"]] = out[["start_s", "stop_s"]].round(3)
    return out.astype({c: object for c in ["observation_id", "subject", "behavior", "behavior_type",
                                           "modifiers"]}) \
        .sort_values(["observation_id", "subject", "behavior", "start_s"]).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# real exports
# ---------------------------------------------------------------------------------------------
@needs_fixtures
@pytest.mark.parametrize("name", ["service_aggregated_v9.tsv", "service_tabular_v8.csv"])
def test_service_files_match_expected_totals(name):
    expected = json.loads((FIX / "service_expected.json").read_text())
    ev = read_boris(FIX / name)
    assert list(ev.columns) == BORIS_COLUMNS
    assert ev["stop_s"].notna().all() and ev["start_s"].notna().all()
    got = {}
    for (obs, beh), g in ev.groupby(["observation_id", "behavior"]):
        got.setdefault(obs, {})[beh] = (len(g), float(g["duration_s"].fillna(0).sum()))
    assert set(got) == set(expected)
    for obs, behaviours in expected.items():
        assert set(got[obs]) == set(behaviours), obs
        for beh, want in behaviours.items():
            count, duration = got[obs][beh]
            assert count == want["count"], (obs, beh)
            assert duration == pytest.approx(want["duration_s"], abs=1e-3), (obs, beh)
    # observation length: 'Coding duration' (v9) / 'Observation duration' (v8.9) = 141.428 s etc.
    lengths = ev.groupby("observation_id")["observation_duration_s"].first().to_dict()
    assert lengths == {"service-0001": 141.428, "service-0002": 167.179, "service-0003": 139.296}


@needs_fixtures
def test_service_tabular_and_aggregated_agree():
    agg = read_boris(FIX / "service_aggregated_v9.tsv")
    tab = read_boris(FIX / "service_tabular_v8.csv")
    pd.testing.assert_frame_equal(_events(agg), _events(tab))
    # the smile modifiers survive both layouts: 'genuine' (service-0001), 'polite' (service-0002)
    smiles = agg.loc[agg["behavior"] == "smile", "modifiers"].tolist()
    assert smiles == ["genuine", "polite"]
    # source rows point at the lines: aggregated row 3 is the smile; tabular START of it is line 3
    assert agg.loc[agg["behavior"] == "smile", "source_row"].tolist() == [3, 10]
    assert tab.loc[tab["behavior"] == "smile", "source_row"].tolist() == [3, 15]


@needs_fixtures
def test_v7_tabular_tsv_csv_and_project_agree():
    tsv = read_boris(FIX / "test_export_events_tabular.tsv")
    csv_ = read_boris(FIX / "test_export_events_tabular.csv")
    pd.testing.assert_frame_equal(tsv.drop(columns="source_file"), csv_.drop(columns="source_file"))
    # read by eye from the file: header on line 19, START/STOP pairs 3.300-7.750, 9.900-16.200,
    # 18.350-24.475 (subject1), 38.425-46.100 (subject2); 'Total length' 359.960
    assert tsv["start_s"].tolist() == [3.3, 9.9, 18.35, 38.425]
    assert tsv["stop_s"].tolist() == [7.75, 16.2, 24.475, 46.1]
    assert tsv["subject"].tolist() == ["subject1"] * 3 + ["subject2"]
    assert set(tsv["observation_id"]) == {"observation #1"} and set(tsv["behavior_type"]) == {"STATE"}
    assert tsv["source_row"].tolist() == [20, 22, 24, 26]
    assert (tsv["observation_duration_s"] == 359.96).all()
    proj = read_boris(FIX / "test.boris")
    pd.testing.assert_frame_equal(_events(tsv), _events(proj[proj["observation_id"] == "observation #1"]))


@needs_fixtures
def test_v7_aggregated_agrees_with_project():
    agg = read_boris(FIX / "test_export_aggregated_events_test_full_1.tsv")
    assert len(agg) == 18  # 18 data rows: 10 STATE + 8 POINT (counted in the file)
    assert (agg["behavior_type"] == "STATE").sum() == 10
    assert agg.loc[agg["behavior_type"] == "POINT", "duration_s"].isna().all()  # 'NA' in the file
    assert (agg["observation_duration_s"] == 539.92).all()  # 'Total length' = 179.96 + 359.96
    proj = read_boris(FIX / "test.boris")
    obs2 = proj[proj["observation_id"] == "observation #2"]
    pd.testing.assert_frame_equal(_events(agg), _events(obs2))
    # the project gives the same media length (sum of player #1's files)
    assert (obs2["observation_duration_s"] == 539.92).all()


@needs_fixtures
def test_headerless_rows_with_trailing_spaces_in_modifiers():
    ev = read_boris(FIX / "test_export_aggregated_events_test_full_with_trailing_spaces_in_modifiers.tsv")
    # four POINT rows of 'p' in 'test1 live'; modifiers 'a   |c ' etc. with the spaces stripped
    assert ev["modifiers"].tolist() == ["None|111", "None|c", "a|None", "a|c"]
    assert ev["start_s"].tolist() == [20.135, 26.007, 12.663, 4.151]
    assert (ev["start_s"] == ev["stop_s"]).all() and ev["duration_s"].isna().all()
    assert set(ev["observation_id"]) == {"test1 live"} and set(ev["subject"]) == {"No focal subject"}
    assert ev["source_row"].tolist() == [1, 2, 3, 4]
    assert ev["observation_duration_s"].isna().all()  # no header: not identifiable, not guessed


@needs_fixtures
def test_project_pairing_unpaired_start_and_modifiers():
    ev = read_boris(FIX / "test.boris")
    live = ev[ev["observation_id"] == "live not paired"]
    # 7 's' onsets/offsets: three pairs and a last START at 26.862 without STOP, kept with NaN stop
    s = live[live["behavior"] == "s"]
    assert s["start_s"].tolist() == [2.718, 12.926, 19.502, 26.862]
    assert s["stop_s"].tolist()[:3] == [10.478, 17.47, 24.318] and np.isnan(s["stop_s"].iloc[3])
    assert (live["behavior"] == "p").sum() == 5
    assert live["observation_duration_s"].isna().all()  # LIVE observation: no media length
    mods = ev[ev["observation_id"] == "modifiers"]
    r = mods[mods["behavior"] == "r"]
    # pairs are per modifier: r/m1 19.175-27.95 and r/None 30.425-40.825
    assert r[["start_s", "stop_s", "modifiers"]].values.tolist() == [[19.175, 27.95, "m1"], [30.425, 40.825, "None"]]
    assert mods.loc[mods["behavior"] == "q", "modifiers"].tolist() == ["m1", "m2", "m3"]
    # every raw event of the project is used once: STATE pairs count twice
    raw = json.loads((FIX / "test.boris").read_text())
    n_raw = sum(len(o["events"]) for o in raw["observations"].values())
    used = (ev["behavior_type"] == "POINT").sum() + ev.loc[ev["behavior_type"] == "STATE", ["start_s", "stop_s"]].notna().sum().sum()
    assert used == n_raw
    ev2 = read_boris(FIX / "test2.boris")
    raw2 = json.loads((FIX / "test2.boris").read_text())
    used2 = (ev2["behavior_type"] == "POINT").sum() + ev2.loc[ev2["behavior_type"] == "STATE", ["start_s", "stop_s"]].notna().sum().sum()
    assert used2 == sum(len(o["events"]) for o in raw2["observations"].values())


@needs_fixtures
def test_every_fixture_reads():
    for f in sorted(FIX.iterdir()):
        if f.suffix in (".tsv", ".csv", ".boris"):
            ev = read_boris(f)
            assert len(ev) > 0 and list(ev.columns) == BORIS_COLUMNS, f.name


# ---------------------------------------------------------------------------------------------
# synthetic files (no shared folder needed)
# ---------------------------------------------------------------------------------------------
V8_TAB_HEADER = ("Observation id,Observation date,Description,Observation duration,Observation type,Source,"
                 "Media duration (s),FPS,Subject,Behavior,Behavioral category,Modifier #1,Modifier #2,"
                 "Behavior type,Time,Media file name,Image index,Image file path,Comment")


def _v8_row(obs, beh, kind, t, m1="", m2=""):
    return f"{obs},2026-03-02,,120.0,Media file(s),player #1:x.mp4,120.0,25,employee,{beh},c,{m1},{m2},{kind},{t},x.mp4,1,NA,"


def test_tabular_unpaired_start_and_stop_are_kept(tmp_path):
    rows = [_v8_row("E1", "smile", "START", 1.0, "genuine"),
            _v8_row("E1", "smile", "STOP", 3.0, "genuine"),
            _v8_row("E1", "eye contact", "START", 4.0),   # START ... START: the first has no STOP
            _v8_row("E1", "eye contact", "START", 6.0),
            _v8_row("E1", "eye contact", "STOP", 8.0),
            _v8_row("E1", "eye contact", "STOP", 9.0),    # STOP without START
            _v8_row("E1", "greeting", "POINT", 0.5),
            _v8_row("E2", "nod", "POINT", "NA")]          # 'NA' time: kept, flagged later
    p = tmp_path / "tab.csv"
    p.write_text("\n".join([V8_TAB_HEADER] + rows) + "\n")
    ev = read_boris(p)
    got = ev[["behavior", "behavior_type", "start_s", "stop_s", "modifiers", "source_row"]]
    want = pd.DataFrame([
        ["smile", "STATE", 1.0, 3.0, "genuine", 2],
        ["eye contact", "STATE", 4.0, np.nan, "", 4],
        ["eye contact", "STATE", 6.0, 8.0, "", 5],
        ["eye contact", "STATE", np.nan, 9.0, "", 7],
        ["greeting", "POINT", 0.5, 0.5, "", 8],
        ["nod", "POINT", np.nan, np.nan, "", 9],
    ], columns=got.columns)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert ev["unparsed_time"].isna().all()  # 'NA' is missing, not unparseable
    assert (ev["observation_duration_s"] == 120.0).all()


def test_unparseable_time_is_kept_with_its_text(tmp_path):
    rows = [_v8_row("E1", "smile", "START", "1.5 s"), _v8_row("E1", "smile", "STOP", 3.0)]
    p = tmp_path / "bad_time.csv"
    p.write_text("\n".join([V8_TAB_HEADER] + rows) + "\n")
    ev = read_boris(p)
    assert len(ev) == 2
    bad = ev[ev["unparsed_time"].notna()]
    assert bad["unparsed_time"].tolist() == ["1.5 s"] and bad["source_row"].tolist() == [2]


def test_modifier_columns_join_like_the_pipe_column(tmp_path):
    rows = [_v8_row("E1", "m", "POINT", 1.0, " m1 ", "n2"), _v8_row("E1", "m", "POINT", 2.0, "m1", ""),
            _v8_row("E1", "m", "POINT", 3.0, "", "n1"), _v8_row("E1", "m", "POINT", 4.0, "NA", "NA")]
    p = tmp_path / "mods.csv"
    p.write_text("\n".join([V8_TAB_HEADER] + rows) + "\n")
    assert read_boris(p)["modifiers"].tolist() == ["m1|n2", "m1", "|n1", ""]


AGG_HEADER = ["Observation id", "Observation date", "Description", "Media file", "Total length", "FPS",
              "Subject", "Behavior", "Behavioral category", "Modifiers", "Behavior type", "Start (s)",
              "Stop (s)", "Duration (s)", "Comment start", "Comment stop"]
AGG_ROWS = [["E1", "2026", "", "x.mp4", "90.5", "25", "employee", "smile", "nv", "polite |", "STATE", "1.5", "4.0", "2.5", "", ""],
            ["E1", "2026", "", "x.mp4", "90.5", "25", "employee", "greeting", "v", "", "POINT", "0.5", "0.5", "NA", "", ""],
            ["E2", "2026", "", "y.mp4", "60", "25", "employee", "smile", "nv", "", "STATE", "2", "NA", "NA", "", ""]]


def test_v7_aggregated_tsv_and_xlsx(tmp_path):
    import openpyxl

    tsv = tmp_path / "agg.tsv"
    tsv.write_text("\n".join("\t".join(r) for r in [AGG_HEADER] + AGG_ROWS) + "\n")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Aggregated events"
    for r in [AGG_HEADER] + AGG_ROWS:
        ws.append([float(c) if c.replace(".", "").isdigit() else (c or None) for c in r])
    wb.save(tmp_path / "agg.xlsx")
    a = read_boris(tsv)
    b = read_boris(tmp_path / "agg.xlsx")
    pd.testing.assert_frame_equal(a.drop(columns="source_file"), b.drop(columns="source_file"))
    assert a["modifiers"].tolist() == ["polite", "", ""]
    assert a["duration_s"].tolist()[0] == 2.5 and np.isnan(a["stop_s"].iloc[2])  # 'NA' stop kept
    assert a["observation_duration_s"].tolist() == [90.5, 90.5, 60.0]
    assert a["source_row"].tolist() == [2, 3, 4]


def test_v7_tabular_several_observation_blocks(tmp_path):
    block = ("Observation id\t{obs}\n\nMedia file(s)\n\nPlayer #1\tv.mp4\n\n"
             "Time\tMedia file path\tTotal length\tFPS\tSubject\tBehavior\tBehavioral category\tModifier 1\tComment\tStatus\n"
             "1.0\tv.mp4\t50.0\t25\temployee\tsmile\t\tgenuine\t\tSTART\n"
             "2.0\tv.mp4\t50.0\t25\temployee\tsmile\t\tgenuine\t\tSTOP\n")
    p = tmp_path / "multi.tsv"
    p.write_text(block.format(obs="A") + "\n" + block.format(obs="B"))
    ev = read_boris(p)
    assert ev["observation_id"].tolist() == ["A", "B"]
    assert ev["modifiers"].tolist() == ["genuine", "genuine"] and ev["duration_s"].tolist() == [1.0, 1.0]
    assert ev["source_row"].tolist() == [8, 18]  # block B: header on line 17


@pytest.mark.parametrize("name, content, match", [
    ("x.tsv", "a\tb\tc\n1\t2\t3\n", "BORIS.*Behavior type"),
    ("y.csv", V8_TAB_HEADER + "\n" + _v8_row("E1", "s", "BEGIN", 1.0) + "\n", "'Behavior type' 'BEGIN'.*START, STOP, POINT"),
    ("z.boris", "{not json", "invalid JSON"),
    ("w.boris", json.dumps({"observations": {"o": {"events": [[1.0, "", "zz", "", ""]]}},
                            "behaviors_conf": {"0": {"type": "Point event", "code": "p"}}}), "'zz'.*not in the ethogram"),
    ("v.json", "{}", "unsupported extension"),
    ("e.tsv", "", "is empty"),
    ("h.csv", V8_TAB_HEADER + "\n", "no event rows|no recognisable"),
])
def test_boris_errors_name_the_file(tmp_path, name, content, match):
    p = tmp_path / name
    p.write_text(content)
    with pytest.raises(InputError, match=match) as err:
        read_boris(p)
    assert str(p) in str(err.value)


# ---------------------------------------------------------------------------------------------
# property: START/STOP pairing equals a plain sequential reference
# ---------------------------------------------------------------------------------------------
def _reference_pairs(seq):
    """Sequential pairing: a START opens; a STOP closes the open START or stands alone."""
    out, open_t = [], None
    for kind, t in sorted(seq, key=lambda x: x[1]):
        if kind == "START":
            if open_t is not None:
                out.append((open_t, None))
            open_t = t
        else:
            out.append((open_t, t) if open_t is not None else (None, t))
            open_t = None
    if open_t is not None:
        out.append((open_t, None))
    return sorted(out, key=lambda p: (p[0] if p[0] is not None else p[1], p[1] if p[1] is not None else -1))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["E1", "E2"]), st.sampled_from(["smile", "eye contact"]),
                          st.sampled_from(["START", "STOP"])), min_size=1, max_size=25))
def test_pairing_matches_sequential_reference(tmp_path, rows):
    # distinct times so that the order is unambiguous
    data = [(o, b, k, float(i)) for i, (o, b, k) in enumerate(rows)]
    p = tmp_path / "prop.csv"
    p.write_text("\n".join([V8_TAB_HEADER] + [_v8_row(o, b, k, t) for o, b, k, t in data]) + "\n")
    ev = read_boris(p)
    # every row is used exactly once
    assert ev[["start_s", "stop_s"]].notna().sum().sum() == len(data)
    for (o, b), g in ev.groupby(["observation_id", "behavior"]):
        seq = [(k, t) for oo, bb, k, t in data if oo == o and bb == b]
        got = [(None if np.isnan(x) else x, None if np.isnan(y) else y) for x, y in g[["start_s", "stop_s"]].values]
        key = lambda p: (p[0] if p[0] is not None else p[1], p[1] if p[1] is not None else -1)  # noqa: E731
        assert sorted(got, key=key) == _reference_pairs(seq)
        paired = g.dropna(subset=["start_s", "stop_s"])
        assert (paired["stop_s"] >= paired["start_s"]).all()


# ---------------------------------------------------------------------------------------------
# copy-on-write: numpy views handed out by pandas are read-only
# ---------------------------------------------------------------------------------------------
def _patch_readonly(monkeypatch):
    """Make every ndarray pandas hands out (``to_numpy``, ``np.asarray``) read-only.

    pandas 3 (copy-on-write) already returns read-only views whenever no copy is needed, so
    whether a given call is read-only depends on dtype and layout; this makes it so for every
    call, and any in-place numpy operation on such an array (``arr[mask] = ...``, ``|=``) raises
    ``ValueError: output array is read-only`` / ``assignment destination is read-only`` -- the
    failure once seen in ``read_boris`` under cProfile on a 20k study.
    """
    from pandas.core.base import IndexOpsMixin

    to_numpy, array = IndexOpsMixin.to_numpy, pd.Series.__array__

    def readonly(arr):
        if isinstance(arr, np.ndarray):
            arr = arr.view()
            arr.flags.writeable = False
        return arr

    monkeypatch.setattr(IndexOpsMixin, "to_numpy", lambda self, *a, **k: readonly(to_numpy(self, *a, **k)))
    monkeypatch.setattr(pd.Series, "__array__", lambda self, *a, **k: readonly(array(self, *a, **k)))


def _readonly_inputs(tmp_path):
    """Files covering every time path: unparseable, 'NA', unpaired START/STOP, POINT; one-header
    text (pyarrow path), v7 blocks (row-by-row path), aggregated with a bad start, a project."""
    rows = [_v8_row("E1", "smile", "START", 1.0, "genuine"), _v8_row("E1", "smile", "STOP", 3.0, "genuine"),
            _v8_row("E1", "eye contact", "START", "1.5 s"), _v8_row("E1", "eye contact", "START", 4.0),
            _v8_row("E1", "eye contact", "STOP", 9.0), _v8_row("E1", "eye contact", "STOP", 11.0),
            _v8_row("E1", "greeting", "POINT", 0.5), _v8_row("E2", "nod", "POINT", "NA")]
    tab = tmp_path / "tab.csv"
    tab.write_text("\n".join([V8_TAB_HEADER] + rows) + "\n")
    agg = tmp_path / "agg.tsv"
    bad = [list(AGG_ROWS[0])]
    bad[0][AGG_HEADER.index("Start (s)")] = "x1"
    agg.write_text("\n".join("\t".join(r) for r in [AGG_HEADER] + AGG_ROWS + bad) + "\n")
    out = [tab, agg]
    if FIX.is_dir():
        out += [FIX / "test_export_events_tabular.tsv", FIX / "test.boris"]
    return out


def test_read_boris_and_events_work_on_readonly_arrays(tmp_path, monkeypatch):
    from svcresearch.events import event_features, validate_events

    paths = _readonly_inputs(tmp_path)
    expected = []
    for p in paths:
        ev = read_boris(p)
        valid, quarantine = validate_events(ev)
        expected.append((ev, valid, quarantine, event_features(valid)))
    _patch_readonly(monkeypatch)
    assert not pd.Series([1.0, 2.0]).to_numpy().flags.writeable  # the patch is in force
    for p, (ev0, valid0, q0, feats0) in zip(paths, expected):
        ev = read_boris(p)
        valid, quarantine = validate_events(ev)
        pd.testing.assert_frame_equal(ev, ev0)
        pd.testing.assert_frame_equal(valid, valid0)
        pd.testing.assert_frame_equal(quarantine, q0)
        pd.testing.assert_frame_equal(event_features(valid), feats0)
    assert read_boris(paths[0])["unparsed_time"].dropna().tolist() == ["1.5 s"]
