"""Codebook loading/validation, the normaliser, and the schemas derived from the codebook."""
from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from svcresearch._validation import InputError
from svcresearch.codebook import (canonical_id, codebook_from_dict, default_codebook_path, load_codebook,
                                  normalise, normalise_key, parse_datetime, parse_number)

CB = load_codebook()
BEHAVIOURS = ["eye_contact", "greeting", "smile", "resolved", "empathy", "apology", "explanation",
              "acknowledged_wait", "phone_use", "scripted", "upselling", "referral"]


def _raw_default():
    return yaml.safe_load(default_codebook_path().read_text(encoding="utf-8"))


# --- loading -----------------------------------------------------------------------------------
def test_default_codebook_matches_study_layout():
    # docs/study_layout.md lists these behaviours, in this order, for coding sheets
    assert [b.name for b in CB.behaviours] == BEHAVIOURS
    assert CB["smile"].value_set.levels == ("none", "polite", "genuine")
    assert CB["encounter_id"].column_in("survey") == "receipt_code"
    assert CB["employee_id"].out_name == "employee" and CB["employee_id"].pseudonymise == "emp"
    pii = {v.name for v in CB.variables.values() if v.role == "pii"}
    assert pii == {"employee_name", "customer_name", "customer_email", "customer_phone", "coder_comment",
                   "respondent_email", "open_feedback"}
    assert not any(CB.output_allowed(CB[n]) for n in pii)
    assert [c.describe() for c in CB["eye_contact"].applicable_if] == ["channel == 'face_to_face'"]
    assert CB.scales["sat_scale"]["items"] == ["sat_1", "sat_2", "sat_3"]


def test_unquoted_yes_no_stay_level_names(tmp_path):
    # YAML 1.1 would read the unquoted `no`/`yes` as booleans; the codebook keeps them as written
    text = default_codebook_path().read_text(encoding="utf-8").replace('levels: ["no", "yes"]',
                                                                       "levels: [no, yes]")
    assert "levels: [no, yes]" in text
    p = tmp_path / "cb.yaml"
    p.write_text(text, encoding="utf-8")
    assert load_codebook(p).value_sets["yes_no"].levels == ("no", "yes")


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["variables"]["smile"].__setitem__("role", "feeling"), ["smile", "role"]),
    (lambda d: d["variables"]["smile"].__setitem__("type", "fuzzy"), ["smile", "type"]),
    (lambda d: d["variables"]["smile"].__setitem__("value_set", "grin"), ["smile", "grin"]),
    (lambda d: d["variables"]["greeting"].pop("value_set"), ["greeting", "value_set"]),
    (lambda d: d["variables"]["greeting"].__setitem__("sources", ["video"]), ["greeting", "sources"]),
    (lambda d: d["variables"]["wait_min"].__setitem__("range", [5, 1]), ["wait_min", "range"]),
    (lambda d: d["variables"]["apology"]["applicable_if"][0].__setitem__("variable", "mood"),
     ["apology", "mood"]),
    (lambda d: d["variables"]["apology"]["applicable_if"][0].__setitem__("op", "~="), ["apology", "op"]),
    (lambda d: d["variables"]["greeting"].__setitem__("colour", "red"), ["greeting", "colour"]),
    (lambda d: d["value_sets"]["yes_no"]["aliases"]["no"].append("k"), ["yes_no", "'k'"]),
    (lambda d: d["value_sets"]["yes_no"]["aliases"]["yes"].append("-99"), ["yes_no", "missing code"]),
    (lambda d: d["id_formats"].__setitem__("encounter", "ENC-%06d"), ["id_formats", "encounter"]),
    (lambda d: d["variables"].pop("encounter_id"), ["encounter_id"]),
    (lambda d: d["variables"]["greeting"].__setitem__("allow_in_output", True), ["greeting", "allow_in_output"]),
    (lambda d: d["variables"].__setitem__("Bad Name", copy.deepcopy(d["variables"]["greeting"])),
     ["Bad Name", "snake_case"]),  # a copy: a shared dict would be dumped as a YAML alias (refused)
])
def test_invalid_codebook_names_file_and_variable(tmp_path, mutate, words):
    d = _raw_default()
    mutate(d)
    p = tmp_path / "my_codebook.yaml"
    p.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    with pytest.raises(InputError) as exc:
        load_codebook(p)
    msg = str(exc.value)
    assert "my_codebook.yaml" in msg and "\n" not in msg
    for w in words:
        assert w in msg


def test_codebook_not_yaml_or_missing(tmp_path):
    p = tmp_path / "cb.yaml"
    p.write_text("variables: [unclosed", encoding="utf-8")
    with pytest.raises(InputError, match="cb.yaml"):
        load_codebook(p)
    with pytest.raises(InputError, match="nothere.yaml"):
        load_codebook(tmp_path / "nothere.yaml")


# --- normaliser: examples from docs/study_layout.md -----------------------------------------------
def _norm(values, var):
    r = normalise(pd.Series(values, dtype="string"), CB[var], CB)
    return r.values.tolist(), r.problem.tolist(), r.missing.tolist()


def test_binary_aliases_missing_and_unknown():
    vals, prob, miss = _norm([" Yes", "y", "1", "kyllä", "K", "TRUE", "Ei", "no", "0", "N", "FALSE",
                              "-99", "NA", "n/a", "ei tietoa", None, "jep"], "eye_contact")
    assert vals[:11] == ["yes"] * 6 + ["no"] * 5
    assert miss[11:16] == [True] * 5 and all(v is pd.NA for v in vals[11:])
    assert prob[16] == "unknown_code" and not miss[16]


def test_smile_and_likert_labels():
    vals, prob, _ = _norm(["aito", "kohtelias", "ei", "2", " Genuine ", "laugh"], "smile")
    assert vals[:5] == ["genuine", "polite", "none", "genuine", "genuine"] and prob[5] == "unknown_code"
    vals, prob, _ = _norm(["erittäin tyytyväinen", "Tyytymätön", "4", "4,0", "6", "0", "99", "3.5"],
                          "sat_overall")
    assert vals[:4] == [5, 2, 4, 4]
    assert prob[4:] == ["out_of_range"] * 4


def test_dates_decimals_ids():
    s = parse_datetime(pd.Series(["22.11.2026 14.05", "2.3.2026 10.15", "2026-03-02 10:15", "31.2.2026 10.00"]))
    assert s.tolist()[:3] == [pd.Timestamp("2026-11-22 14:05"), pd.Timestamp("2026-03-02 10:15"),
                              pd.Timestamp("2026-03-02 10:15")]
    assert pd.isna(s.iloc[3])  # 31 February does not exist
    assert parse_number(pd.Series(["3,5", "2", " 1.25 ", "x"])).tolist()[:3] == [3.5, 2.0, 1.25]
    ids = canonical_id(pd.Series(["E-00012", "e12", " 00012", "none"]), "E-{:05d}")
    assert ids.tolist()[:3] == ["E-00012"] * 3 and ids.iloc[3] is pd.NA
    vals, prob, _ = _norm(["ENC-000123", "enc 123", "123", "ENC-X"], "encounter_id")
    assert vals[:3] == ["ENC-000123"] * 3 and prob[3] == "invalid_id"
    vals, prob, _ = _norm(["3,5", "-1", "500", "abc"], "wait_min")
    assert vals[0] == 3.5 and prob[1:] == ["out_of_range", "out_of_range", "unknown_code"]


def test_normalise_maps_unique_values_once(monkeypatch):
    # vectorised: a 300,000-row column with three spellings is matched as three unique values
    import svcresearch.codebook as cbm

    seen = []
    real = cbm._keys
    monkeypatch.setattr(cbm, "_keys", lambda values: seen.append(len(values)) or real(values))
    r = normalise(pd.Series(["yes", "no", "K"] * 100_000, dtype="string"), CB["greeting"], CB)
    assert seen == [3]
    assert r.values.value_counts().to_dict() == {"yes": 200_000, "no": 100_000}


# --- property-based ---------------------------------------------------------------------------------
YES_NO = CB.value_sets["yes_no"]
SPELLINGS = sorted(YES_NO.lookup)
MISSING = sorted(CB.missing_codes)


@st.composite
def _variant(draw, words):
    w = draw(st.sampled_from(words))
    w = "".join(c.upper() if draw(st.booleans()) else c for c in w)
    return draw(st.sampled_from(["", " ", "  ", "\t"])) + w + draw(st.sampled_from(["", " ", "  "]))


@settings(max_examples=150, deadline=None)
@given(st.lists(_variant(SPELLINGS), min_size=1, max_size=30))
def test_alias_mapping_ignores_case_and_whitespace(raw):
    r = normalise(pd.Series(raw, dtype="string"), CB["greeting"], CB)
    expected = [YES_NO.lookup[normalise_key(x)] for x in raw]
    assert r.values.tolist() == expected
    assert r.problem.isna().all() and not r.missing.any()


_ANY = st.one_of(_variant(SPELLINGS), _variant(MISSING[1:]), st.text(max_size=8), st.none())


@settings(max_examples=150, deadline=None)
@given(st.lists(_ANY, min_size=1, max_size=40), st.sampled_from(["greeting", "smile", "sat_overall",
                                                                  "wait_min", "encounter_id", "start_time"]))
def test_conservation_and_idempotence(raw, var):
    v = CB[var]
    r = normalise(pd.Series(raw, dtype="string"), v, CB)
    has_value = r.values.notna().to_numpy()
    has_problem = r.problem.notna().to_numpy()
    missing = r.missing.to_numpy()
    # conservation: every input is exactly one of mapped, missing, reported
    assert np.all(has_value.astype(int) + has_problem.astype(int) + missing.astype(int) == 1)
    # idempotence: normalising the normalised values changes nothing
    again_in = r.values.astype("string") if v.type != "datetime" else \
        r.values.dt.strftime("%Y-%m-%d %H:%M:%S").astype("string")
    again = normalise(again_in, v, CB)
    pd.testing.assert_series_equal(again.values.reset_index(drop=True), r.values.reset_index(drop=True),
                                   check_dtype=False, check_names=False)
    assert again.problem.isna().all()


# --- derived schemas --------------------------------------------------------------------------------
def test_table_schema_and_pandera_from_codebook():
    schema = CB.table_schema(["encounter_id", "smile", "sat_overall", "wait_min", "greeting"],
                             primary_key=["encounter_id"])
    f = {x["name"]: x for x in schema["fields"]}
    assert f["smile"]["categories"] == ["none", "polite", "genuine"] and f["smile"]["categoriesOrdered"]
    assert f["sat_overall"]["type"] == "integer" and f["sat_overall"]["constraints"] == {"minimum": 1.0,
                                                                                          "maximum": 5.0}
    assert f["greeting"]["type"] == "boolean" and f["greeting"]["svc:label_fi"] == "Tervehdys"
    with pytest.raises(ValueError, match="mystery"):
        CB.table_schema(["mystery"])
    import pandera.errors

    good = pd.DataFrame({"encounter_id": ["ENC-000001", "ENC-000002"],
                         "sat_overall": pd.array([5, None], dtype="Int64"),
                         "smile": pd.Categorical(["none", None], categories=["none", "polite", "genuine"],
                                                 ordered=True)})
    schema = CB.to_pandera(columns=list(good.columns))
    schema.validate(good)
    bad = good.assign(sat_overall=pd.array([6, None], dtype="Int64"))
    with pytest.raises(pandera.errors.SchemaError):
        schema.validate(bad)
    dup = good.assign(encounter_id=["ENC-000001", "ENC-000001"])
    with pytest.raises(pandera.errors.SchemaError):
        schema.validate(dup)


def test_editing_the_codebook_changes_behaviour_without_code(tmp_path):
    # a researcher adds an alias and a new missing code in YAML only
    d = _raw_default()
    d["value_sets"]["yes_no"]["aliases"]["yes"].append("jep")
    d["missing_codes"].append("en tiedä")
    cb = codebook_from_dict(copy.deepcopy(d))
    r = normalise(pd.Series(["jep", "En  Tiedä"], dtype="string"), cb["greeting"], cb)
    assert r.values.tolist()[0] == "yes" and r.missing.tolist() == [False, True]
    assert re.fullmatch(r"[a-z_]+", cb.name.replace("-", "_"))


# --- date-times: the separator prefilter changes nothing -----------------------------------------
def _parse_datetime_every_layout(values: pd.Series) -> pd.Series:
    """Reference: every remaining value tried against every layout in DATETIME_FORMATS order, with
    no prefilter (the implementation before the prefilter, kept here to compare against); Excel
    serials on; years outside 1900-2100 are NaT."""
    from svcresearch.codebook import DATETIME_FORMATS

    s = values.astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    todo = s.notna()
    for fmt in DATETIME_FORMATS:
        parsed = pd.to_datetime(s[todo], format=fmt, errors="coerce")
        ok = parsed.notna()
        out.loc[ok[ok].index] = parsed[ok].astype("datetime64[us]")
        todo.loc[ok[ok].index] = False
    num = parse_number(s[todo])
    serial = num.where((num > 20000) & (num < 80000))
    ok = serial.notna()
    conv = pd.Timestamp("1899-12-30") + pd.to_timedelta(serial[ok] * 86400, unit="s").dt.round("s")
    out.loc[ok[ok].index] = conv.astype("datetime64[us]")
    return out.mask((out.dt.year < 1900) | (out.dt.year > 2100))


# date-like text: fields of 1-4 digits (sometimes signed or space-padded) joined by the
# separators the layouts use and by ones they don't, with "klo", "T", "Z" and stray letters
_FIELD = st.from_regex(r"[ +\-]?[0-9]{1,4}", fullmatch=True)
_SEP = st.sampled_from(["-", ":", ".", "/", " ", "T", " klo ", " KLO ", "  ", ",", "Z", "t", ""])


@st.composite
def _date_like(draw):
    fields = draw(st.lists(_FIELD, min_size=1, max_size=7))
    text = fields[0]
    for f in fields[1:]:
        text += draw(_SEP) + f
    return text + draw(st.sampled_from(["", "", "Z", " ", ".5", "+02:00"]))


_WELL_FORMED = ["2026-03-02 10:15", "2026-03-02 10:15:30", "2026-03-02T10:15:30", "2026-03-02T10:15",
                "2.3.2026 10.15", "02.03.2026 10:15", "2.3.2026 10.15.30", "2.3.2026 10:15:30",
                "2.3.2026 klo 10.15", "2.3.2026 KLO 10.15", "2.3.2026", "2026-03-02",
                "2026-03-02 10:15:30.123456", "02/03/2026 10:15", "46083.43", "46083,5", "2026-3-2 8:05",
                " 2.3.2026\t10.15 ", "2026-03-02  10:15", "31.2.2026", "2026-13-01", "abc", "", None]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_date_like(), st.sampled_from(_WELL_FORMED)), min_size=1, max_size=25))
def test_parse_datetime_prefilter_matches_trying_every_layout(raw):
    values = pd.Series(raw, dtype="string")
    pd.testing.assert_series_equal(parse_datetime(values, excel_serials=True), _parse_datetime_every_layout(values))


def test_parse_datetime_keeps_index_and_first_matching_layout():
    values = pd.Series(_WELL_FORMED, index=np.arange(len(_WELL_FORMED))[::-1] * 3, dtype="string")
    got = parse_datetime(values, excel_serials=True)
    pd.testing.assert_series_equal(got, _parse_datetime_every_layout(values))
    # hand-checked: ISO minute layout, Finnish dot layout with "klo", Excel serial 46083.43 days
    # after 1899-12-30 = 2026-03-02 10:19:12 (46083 days, 0.43 * 86400 s = 37152 s)
    by_text = dict(zip(_WELL_FORMED, got))
    assert by_text["2026-03-02 10:15"] == pd.Timestamp("2026-03-02 10:15")
    assert by_text["2.3.2026 KLO 10.15"] == pd.Timestamp("2026-03-02 10:15")
    assert by_text["46083.43"] == pd.Timestamp("2026-03-02 10:19:12")
    # Excel stores times as fractions of a day; 0.430001 d = 37152.0864 s, rounded to the second
    assert parse_datetime(pd.Series(["46083.430001"], dtype="string"), excel_serials=True).iloc[0] == \
        pd.Timestamp("2026-03-02 10:19:12")
    assert pd.isna(by_text["31.2.2026"]) and pd.isna(by_text["abc"])


# --- identifiers: one strict grammar; values already canonical are kept as they are ------------
_ID_TEXT = st.lists(st.sampled_from(["ENC-", "enc", "E-", "e", "S2-", "s2", "ID", "X", "-", "_", " ", "\u00a0", "0",
                                     "00", "7", "123456", "000001", "٣", "x", "ä", "", "1234567", ".0", ",00",
                                     ".5", "e2", "\u212a"]), max_size=4).map("".join)


def _ascii_prefix_len(text: str, word: str) -> int:
    """len(word) when ``text`` starts with ``word`` in any ASCII case, else 0."""
    head = text[:len(word)]
    same = len(head) == len(word) and all(
        a == b or (a.isascii() and b.isascii() and a.lower() == b.lower()) for a, b in zip(head, word))
    return len(word) if same and word else 0


def _grammar_reference(value, fmt):
    """The grammar of canonical_id's docstring, one value at a time in plain Python."""
    if value is None:
        return pd.NA
    prefix, width, suffix = re.fullmatch(r"([^{}]*)\{:0(\d+)d\}([^{}]*)", fmt).groups()
    t = value.strip()
    decimal = re.fullmatch(r"([0-9]+)[.,]0+", t)
    if decimal:
        digits = decimal.group(1)
    else:
        pre, suf = prefix.rstrip(" _-"), suffix.lstrip(" _-")
        n = _ascii_prefix_len(t, pre)
        if n:
            t = t[n:]
            t = t[1:] if t[:1] in (" ", "_", "-") else t
        if suf and len(t) >= len(suf) and _ascii_prefix_len(t[len(t) - len(suf):], suf):
            t = t[:len(t) - len(suf)]
            t = t[:-1] if t[-1:] in (" ", "_", "-") else t
        if not re.fullmatch(r"[0-9]+", t, flags=re.ASCII):
            return pd.NA
        digits = t
    significant = digits.lstrip("0") or "0"
    return pd.NA if len(significant) > 18 else f"{prefix}{int(significant):0{width}d}{suffix}"


@settings(max_examples=300, deadline=None)
@given(st.lists(_ID_TEXT | st.none(), min_size=1, max_size=30),
       st.sampled_from(["ENC-{:06d}", "E-{:05d}", "S2-{:04d}", "{:03d}", "ID{:06d}x"]))
def test_canonical_id_matches_a_per_value_reference_of_the_grammar(raw, fmt):
    # reference: the grammar of the docstring applied to each value in plain Python (this also
    # checks the fast path for values already canonical and the index)
    values = pd.Series(raw, index=np.arange(len(raw))[::-1], dtype="string")
    want = pd.Series([_grammar_reference(v, fmt) for v in raw], index=values.index, dtype="string")
    pd.testing.assert_series_equal(canonical_id(values, fmt), want)
    # hand-checked examples: an already canonical id is unchanged, others are rebuilt
    assert canonical_id(pd.Series(["ENC-000123", "enc 123", "ENC-0001234"]), "ENC-{:06d}").tolist() == \
        ["ENC-000123", "ENC-000123", "ENC-001234"]
