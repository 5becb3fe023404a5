"""Turn the true encounters into the raw files of docs/study_layout.md, with injected faults."""
from __future__ import annotations

import datetime as dt

import numpy as np

from svcresearch.simulate import _faults as F
from svcresearch.simulate._model import BEHAVIOURS, SMILE_LEVELS
from svcresearch.simulate._writers import S, as_str

#: Default fault rates (share of eligible cells or rows). ``simulate_study(fault_rates=...)``
#: overrides single entries; all of them are written to ground_truth.json.
DEFAULT_FAULT_RATES: dict = {
    # operations.csv
    "operations_exact_duplicate": 0.005,
    "employee_id_drift": 0.03,
    "channel_variant": 0.05,
    "finnish_datetime": 0.25,
    "unparseable_time": 0.005,
    "decimal_comma": 0.10,
    "missing_code_wait": 0.01,
    "out_of_range_wait": 0.005,
    "label_variant_operations": 0.03,
    "whitespace_case_operations": 0.02,
    # coding sheets
    "exact_duplicate_coding": 0.01,
    "conflicting_duplicate_coding": 0.005,
    "encounter_id_drift": 0.03,
    "label_variant": 0.03,
    "whitespace_case": 0.02,
    "missing_code": 0.01,
    "unknown_code": 0.004,
    "pii_in_comment": 0.02,
    # BORIS
    "observation_id_drift": 0.05,
    "unpaired_start": 0.02,
    # survey
    "receipt_code_drift": 0.05,
    "mistyped_receipt_code": 0.01,
    "out_of_range_survey": 0.01,
    "missing_code_survey": 0.01,
    "likert_label": 0.10,
    "label_variant_survey": 0.03,
    "duplicate_response": 0.005,
    "pii_in_feedback": 0.03,
}

FIRST_NAMES = ["Matti", "Anna", "Juha", "Laura", "Mikko", "Sanna", "Jukka", "Maria", "Timo", "Heidi",
               "Pekka", "Johanna", "Antti", "Kaisa", "Ville", "Elina", "Sami", "Riikka", "Janne", "Päivi",
               "Tuomas", "Minna", "Olli", "Tiina", "Ari", "Noora", "Kari", "Satu", "Jari", "Aino"]
LAST_NAMES = ["Virtanen", "Korhonen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine", "Heikkinen",
              "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen", "Heinonen", "Niemi",
              "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen", "Tuominen", "Rantanen",
              "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen", "Ahonen"]
ASCII_FOLD = {"ä": "a", "ö": "o", "å": "a", "Ä": "A", "Ö": "O"}

COMMENTS = ["asiakas kiireinen", "customer in a hurry", "ääni katkesi hetkeksi", "noisy background",
            "kamera osittain peitossa", "long queue behind", "asiakas palasi kysymään lisää",
            "unclear whether resolved", "työntekijä vaihtui kesken", "tarkista kohta 2:10"]
FEEDBACK = ["Kiitos hyvästä palvelusta!", "Jonotus kesti liian kauan.", "Ystävällinen palvelu.",
            "Asia jäi hoitamatta.", "Great service, thank you.", "The clerk was on the phone the whole time.",
            "Hyvä, mutta hidas.", "Tunsin itseni tervetulleeksi.", "Nobody said hello.", "Ok."]
LIKERT5_FI = ["erittäin tyytymätön", "tyytymätön", "ei tyytyväinen eikä tyytymätön", "tyytyväinen",
              "erittäin tyytyväinen"]
LIKERT7_FI = ["täysin eri mieltä", "eri mieltä", "jokseenkin eri mieltä", "ei samaa eikä eri mieltä",
              "jokseenkin samaa mieltä", "samaa mieltä", "täysin samaa mieltä"]
SMILE_VARIANTS = {"none": ["ei", "0", "No smile"], "polite": ["kohtelias", "1", "Polite"],
                  "genuine": ["aito", "2", "Genuine"]}
UNKNOWN_BINARY = ["maybe", "jep", "3", "yes?", "ok"]
UNKNOWN_SMILE = ["big", "3", "virne", "laugh"]


# --- formatting helpers ---------------------------------------------------------------------------
def num_str(x) -> np.ndarray:
    return np.asarray(x).astype(np.int64).astype(S)


def zpad(x, width: int) -> np.ndarray:
    return np.strings.zfill(num_str(x), width)


def enc_ids(idx) -> np.ndarray:
    return np.strings.add("ENC-", zpad(np.asarray(idx) + 1, 6))


def iso_minutes(t: np.ndarray) -> np.ndarray:
    return np.strings.replace(np.datetime_as_string(t, unit="m").astype(S), "T", " ")


def iso_seconds(t: np.ndarray) -> np.ndarray:
    return np.strings.replace(np.datetime_as_string(t, unit="s").astype(S), "T", " ")


def finnish_datetime(t: np.ndarray) -> np.ndarray:
    """``22.11.2026 14.05`` (day and month without leading zeros, as Finnish Excel shows them)."""
    t = t.astype("datetime64[m]")
    day_ = t.astype("datetime64[D]")
    month_ = t.astype("datetime64[M]")
    year = t.astype("datetime64[Y]").astype(np.int64) + 1970
    month = month_.astype(np.int64) % 12 + 1
    day = (day_ - month_.astype("datetime64[D]")).astype(np.int64) + 1
    mins = (t - day_.astype("datetime64[m]")).astype(np.int64)
    out = np.strings.add(num_str(day), ".")
    out = np.strings.add(np.strings.add(out, num_str(month)), ".")
    out = np.strings.add(np.strings.add(out, num_str(year)), " ")
    out = np.strings.add(np.strings.add(out, zpad(mins // 60, 2)), ".")
    return np.strings.add(out, zpad(mins % 60, 2))


def fixed3(ms: np.ndarray) -> np.ndarray:
    """Milliseconds (int) -> seconds with three decimals, as BORIS prints them."""
    ms = np.asarray(ms, dtype=np.int64)
    return np.strings.add(np.strings.add(num_str(ms // 1000), "."), zpad(ms % 1000, 3))


def yes_no(x) -> np.ndarray:
    return np.where(np.asarray(x, bool), "yes", "no").astype(S)


def names(first_idx, last_idx) -> np.ndarray:
    f = np.asarray(FIRST_NAMES, dtype=S)[np.asarray(first_idx) % len(FIRST_NAMES)]
    l_ = np.asarray(LAST_NAMES, dtype=S)[np.asarray(last_idx) % len(LAST_NAMES)]
    return np.strings.add(np.strings.add(f, " "), l_)


def ascii_lower(x: np.ndarray) -> np.ndarray:
    out = np.strings.lower(x)
    for k, v in ASCII_FOLD.items():
        out = np.strings.replace(out, k.lower(), v)
    return out


def person_name(idx) -> np.ndarray:
    idx = np.asarray(idx, dtype=np.int64)
    return names(idx * 7 + 3, idx // len(FIRST_NAMES) + idx * 11)


def phone_numbers(rng, k) -> np.ndarray:
    return np.strings.add(np.strings.add("+358 40 ", zpad(rng.integers(0, 1000, k), 3)),
                          np.strings.add(" ", zpad(rng.integers(0, 10000, k), 4)))


def emails(name: np.ndarray, salt) -> np.ndarray:
    local = np.strings.replace(ascii_lower(name), " ", ".")
    return np.strings.add(np.strings.add(local, num_str(salt)), "@example.fi")


def drift_encounter_ids(rng):
    def make(values):
        digits = np.strings.replace(np.strings.strip(values), "ENC-", "")
        num = num_str(digits.astype(np.int64))
        k = rng.integers(0, 4, len(values))
        out = np.strings.add("enc", num)
        out[k == 1] = digits[k == 1]
        out[k == 2] = np.strings.add("ENC", num[k == 2])
        out[k == 3] = np.strings.add(" ", values[k == 3])
        return out
    return make


# --- operations -------------------------------------------------------------------------------------
def operations_table(t: dict, rng, rates: dict) -> F.Table:
    n = t["n"]
    emp, cust = t["employee"], t["customer"]
    cust_names = person_name(cust + 1000)
    email = emails(cust_names, cust % 97)
    email[rng.random(n) < 0.35] = ""
    phone = phone_numbers(np.random.default_rng(rng.integers(2**32)), n)
    phone[rng.random(n) < 0.15] = ""
    cols = {
        "encounter_id": enc_ids(np.arange(n)),
        "service_point": np.strings.add("SP", zpad(t["service_point"] + 1, 2)),
        "employee_id": np.strings.add("E-", zpad(emp + 1, 5)),
        "employee_name": person_name(emp),
        "customer_id": np.strings.add("C-", zpad(cust + 1, 6)),
        "customer_name": cust_names,
        "customer_email": email,
        "customer_phone": phone,
        "channel": np.where(t["channel_phone"], "phone", "face_to_face").astype(S),
        "start_time": iso_minutes(t["start"]),
        "wait_min": t["wait_min"].astype(S),
        "returning_customer": yes_no(t["returning_customer"]),
        "service_failure": yes_no(t["service_failure"]),
        "duration_s": num_str(t["duration_s"]),
    }
    tab = F.Table("operations.csv", cols, rng=rng, first_data_row=2)
    tab.duplicates("exact_duplicate_row", rates["operations_exact_duplicate"], "merge")

    def emp_drift(values):
        num = num_str(np.strings.replace(values, "E-", "").astype(np.int64))
        k = rng.integers(0, 4, len(values))
        out = np.strings.add("e", num)
        out[k == 1] = np.strings.add(" ", zpad(num[k == 1].astype(np.int64), 5))
        out[k == 2] = np.strings.add("E", num[k == 2])
        out[k == 3] = np.strings.add("E-", num[k == 3])
        return out

    tab.cell_fault("id_format_drift", "employee_id", rates["employee_id_drift"], "normalise", emp_drift)

    def channel_variant(values):
        out = F.choice(rng, ["F2F", "kasvokkain", "Face-to-face"], len(values))
        ph = values == "phone"
        out[ph] = F.choice(rng, ["puhelin", "Phone "], int(ph.sum()))
        return out

    tab.cell_fault("label_variant", "channel", rates["channel_variant"], "normalise", channel_variant)
    tab.cell_fault("unparseable_time", "start_time", rates["unparseable_time"], "quarantine:unparseable_time",
                   F.constant_choice(rng, ["klo 14", "32.13.2026 25.61", "??:??", "2026-02-30 10:00"]))
    tab.cell_fault("finnish_datetime", "start_time", rates["finnish_datetime"], "normalise",
                   lambda v: finnish_datetime(np.asarray(np.strings.replace(v, " ", "T").tolist(),
                                                         dtype="datetime64[m]")))
    tab.cell_fault("out_of_range", "wait_min", rates["out_of_range_wait"], "quarantine:out_of_range",
                   F.constant_choice(rng, ["-3", "-1.5", "999"]))
    tab.cell_fault("missing_code", "wait_min", rates["missing_code_wait"], "normalise:missing",
                   F.constant_choice(rng, F.MISSING_CODES))
    tab.cell_fault("decimal_comma", "wait_min", rates["decimal_comma"], "normalise",
                   lambda v: np.strings.replace(v, ".", ","))
    for col in ("returning_customer", "service_failure"):
        tab.cell_fault("label_variant", col, rates["label_variant_operations"], "normalise", F.yes_no_variant(rng))
        tab.cell_fault("whitespace_case", col, rates["whitespace_case_operations"], "normalise", F.whitespace_case(rng))
    return tab


# --- coding sheets ----------------------------------------------------------------------------------
def coded_values(t: dict, idx: np.ndarray, rng, coder_rates: dict, drift_t=None) -> dict:
    """Observed codes of one coder for encounters ``idx`` ('' / 'NA' where not applicable)."""
    out = {}
    k = len(idx)
    factor = 1.0 if drift_t is None else 1.0 + drift_t
    coded_resolved = None
    for b in BEHAVIOURS:
        err = rng.random(k) < coder_rates[b] * factor
        applicable = t["applicable"].get(b)
        app = np.ones(k, bool) if applicable is None else applicable[idx]
        if b == "referral":
            # the coder follows the codebook rule on their OWN resolved code: referral is coded
            # exactly when they coded resolved = no (true referral is 0 when truly resolved)
            app = ~coded_resolved
        if b == "smile":
            true = t["smile"][idx].astype(np.int64)
            adjacent = rng.random(k) < coder_rates["_smile_adjacent"]
            # confusions: polite<->genuine and none->polite are "adjacent"; the rest jump to the other level
            adj_target = np.array([1, 2, 1])[true]
            far_target = np.array([2, 0, 0])[true]
            obs = np.where(err, np.where(adjacent, adj_target, far_target), true)
            vals = np.asarray(SMILE_LEVELS, dtype=S)[obs]
        else:
            obs = t[b][idx] ^ err
            vals = yes_no(obs)
            if b == "resolved":
                coded_resolved = obs
        if b in ("eye_contact", "smile"):
            na = np.where(rng.random(k) < 0.5, "NA", "").astype(S)
            vals = np.where(app, vals, na)
        else:
            vals = np.where(app, vals, "")
        out[b] = as_str(vals)
    return out


def coding_table(t: dict, idx: np.ndarray, coder: str, file: str, rng, rates: dict, coder_rates: dict,
                 *, first_data_row: int, drift: float | None = None) -> F.Table:
    k = len(idx)
    lag = (rng.integers(1, 11, k) * 1440 + rng.integers(-180, 240, k)).astype("timedelta64[m]")
    coded_at = t["start"][idx] + lag
    drift_t = None if drift is None else drift * idx / max(1, t["n"] - 1)
    codes = coded_values(t, idx, rng, coder_rates, drift_t)
    comment = np.full(k, "", dtype=S)
    has = rng.random(k) < coder_rates["_comment_share"]
    comment[has] = F.choice(rng, COMMENTS, int(has.sum()))
    cols = {"encounter_id": enc_ids(idx), "coder": np.full(k, coder, dtype=S),
            "coded_at": iso_minutes(coded_at), **codes, "coder_comment": comment}
    tab = F.Table(file, cols, rng=rng, first_data_row=first_data_row)
    tab.duplicates("exact_duplicate_coding", rates["exact_duplicate_coding"], "merge")
    always = ["greeting", "resolved", "empathy", "phone_use", "scripted", "upselling"]
    tab.duplicates("conflicting_duplicate_coding", rates["conflicting_duplicate_coding"],
                   "quarantine:duplicate_conflict", change_columns=always,
                   change=lambda v: np.where(v == "yes", "no", "yes").astype(S))
    tab.cell_fault("id_format_drift", "encounter_id", rates["encounter_id_drift"], "normalise",
                   drift_encounter_ids(rng))
    for b in BEHAVIOURS:
        observed = (tab.cols[b] != "") & (tab.cols[b] != "NA")
        unknown = UNKNOWN_SMILE if b == "smile" else UNKNOWN_BINARY
        tab.cell_fault("unknown_code", b, rates["unknown_code"], "quarantine:unknown_code",
                       F.constant_choice(rng, unknown), eligible=observed)
        tab.cell_fault("missing_code", b, rates["missing_code"], "normalise:missing",
                       F.constant_choice(rng, F.MISSING_CODES), eligible=observed)
        if b == "smile":
            def smile_variant(values):
                out = values.copy()
                for level, variants in SMILE_VARIANTS.items():
                    m = values == level
                    out[m] = F.choice(rng, variants, int(m.sum()))
                return out
            tab.cell_fault("label_variant", b, rates["label_variant"], "normalise", smile_variant, eligible=observed)
        else:
            tab.cell_fault("label_variant", b, rates["label_variant"], "normalise", F.yes_no_variant(rng),
                           eligible=observed)
        tab.cell_fault("whitespace_case", b, rates["whitespace_case"], "normalise", F.whitespace_case(rng),
                       eligible=observed)
    cust_names = person_name(t["customer"][idx] + 1000)

    def pii_comment(values):
        # the positions are not passed to make(); names are drawn from the whole sheet's customers
        who = cust_names[rng.integers(0, k, len(values))]
        lead = F.choice(rng, ["Asiakas ", "customer ", "Asiakkaan nimi: ", "spoke with "], len(values))
        return np.strings.add(lead, who)

    tab.cell_fault("pii_in_free_text", "coder_comment", rates["pii_in_comment"], "drop_pii", pii_comment)
    return tab


# --- BORIS --------------------------------------------------------------------------------------------
BORIS_AGGREGATED = ["Observation id", "Observation date", "Description", "Observation type", "Source",
                    "Time offset (s)", "Coding duration", "Media duration (s)", "FPS (frame/s)", "site",
                    "Subject", "Observation duration by subject by observation", "Behavior",
                    "Behavioral category", "Modifier #1", "Behavior type", "Start (s)", "Stop (s)",
                    "Duration (s)", "Media file name", "Image index start", "Image index stop",
                    "Image file path start", "Image file path stop", "Comment start", "Comment stop"]
BORIS_TABULAR = ["Observation id", "Observation date", "Description", "Observation duration",
                 "Observation type", "Source", "Time offset (s)", "Media duration (s)", "FPS", "site",
                 "Subject", "Behavior", "Behavioral category", "Modifier #1", "Behavior type", "Time",
                 "Media file name", "Image index", "Image file path", "Comment"]
BEHAVIOR_NAMES = np.asarray(["eye contact", "smile", "greeting", "nod"], dtype=S)
BEHAVIOR_CATEGORY = np.asarray(["nonverbal", "nonverbal", "verbal", "nonverbal"], dtype=S)


def boris_events(t: dict, vid: np.ndarray, rng, params: dict) -> dict:
    """Timed events (ms) of the video subsample, consistent with the true behaviours."""
    v = params["video"]
    dur_ms = (t["duration_s"][vid] * 1000).astype(np.int64) + rng.integers(0, 1000, len(vid))
    obs, beh, start, stop, mod = [], [], [], [], []
    k = len(vid)
    # greeting POINT: latency of a few seconds
    g = t["greeting"][vid]
    lat = np.exp(np.log(v["greeting_latency_median_s"]) + 0.4 * rng.standard_normal(k))
    lat_ms = np.clip((lat * 1000).astype(np.int64), 300, 12000)
    obs.append(np.flatnonzero(g)); beh.append(np.full(int(g.sum()), 2)); start.append(lat_ms[g]); stop.append(lat_ms[g])
    mod.append(np.zeros(int(g.sum()), np.int64))
    # nod POINT when the waiting customer was acknowledged (while the customer approaches)
    a = t["acknowledged_wait"][vid]
    nod = rng.integers(200, 3000, k)
    obs.append(np.flatnonzero(a)); beh.append(np.full(int(a.sum()), 3)); start.append(nod[a]); stop.append(nod[a])
    mod.append(np.zeros(int(a.sum()), np.int64))
    # eye contact STATE bouts: several when coded yes, at most one glance otherwise
    n_bouts = np.where(t["eye_contact"][vid], 2 + rng.poisson(2.0, k), (rng.random(k) < 0.3).astype(np.int64))
    _bouts(0, n_bouts, dur_ms, rng, obs, beh, start, stop, mod, share=(0.35, 0.45))
    # smile STATE bouts with modifier = the true smile (1 polite, 2 genuine): greeting/transaction/closing
    sm = t["smile"][vid].astype(np.int64)
    n_sm = np.where(sm > 0, 1 + rng.integers(0, 3, k), 0)
    _bouts(1, n_sm, dur_ms, rng, obs, beh, start, stop, mod, share=(0.05, 0.10), modifier=sm)
    ev = {"obs": np.concatenate(obs), "beh": np.concatenate(beh), "start": np.concatenate(start),
          "stop": np.concatenate(stop), "mod": np.concatenate(mod)}
    order = np.lexsort((ev["beh"], ev["start"], ev["obs"]))
    ev = {key: val[order] for key, val in ev.items()}
    ev["dur_ms"] = dur_ms
    return ev


def _bouts(code, n_bouts, dur_ms, rng, obs, beh, start, stop, mod, *, share, modifier=None):
    """Non-overlapping bouts: the media is cut into ``n`` equal segments, one bout in each."""
    o = np.repeat(np.arange(len(n_bouts)), n_bouts)
    first = np.cumsum(n_bouts) - n_bouts
    j = np.arange(len(o)) - np.repeat(first, n_bouts)
    seg = dur_ms[o] // np.maximum(n_bouts[o], 1)
    length = (seg * (share[0] + share[1] * rng.random(len(o)))).astype(np.int64) + 400
    length = np.minimum(length, (seg * 0.9).astype(np.int64))
    s = j * seg + ((seg - length) * rng.random(len(o))).astype(np.int64)
    obs.append(o); beh.append(np.full(len(o), code)); start.append(s); stop.append(s + length)
    mod.append(np.zeros(len(o), np.int64) if modifier is None else modifier[o])


def boris_tables(t: dict, vid: np.ndarray, rng, rates: dict, params: dict) -> tuple[F.Table, F.Table, dict]:
    ev = boris_events(t, vid, rng, params)
    k = len(vid)
    in_tab = rng.random(k) < 0.5
    fps = params["video"]["fps"]
    obs_id = enc_ids(vid)
    drift = rng.random(k) < rates["observation_id_drift"]
    drifted = drift_encounter_ids(rng)(obs_id[drift]) if drift.any() else obs_id[drift]
    obs_date = iso_seconds(t["start"][vid].astype("datetime64[s]"))
    site = np.strings.add("SP", zpad(t["service_point"][vid] + 1, 2))
    dur = fixed3(ev["dur_ms"])
    mod_names = np.asarray(["", "polite", "genuine"], dtype=S)

    # aggregated (v8.22.17+ / v9)
    sel = ~in_tab[ev["obs"]]
    o = ev["obs"][sel]
    st, sp, be, mo = ev["start"][sel], ev["stop"][sel], ev["beh"][sel], ev["mod"][sel]
    media = np.strings.add(obs_id[o], ".mp4")
    is_state = be < 2
    n_rows = len(o)
    na = np.full(n_rows, "NA", S)
    agg = {
        "Observation id": obs_id[o], "Observation date": obs_date[o], "Description": np.full(n_rows, "", S),
        "Observation type": np.full(n_rows, "Media file", S), "Source": np.strings.add("player #1:", media),
        "Time offset (s)": np.full(n_rows, "0.000", S), "Coding duration": dur[o], "Media duration (s)": dur[o],
        "FPS (frame/s)": np.full(n_rows, f"{fps:.2f}", S), "site": site[o], "Subject": np.full(n_rows, "employee", S),
        "Observation duration by subject by observation": dur[o], "Behavior": BEHAVIOR_NAMES[be],
        "Behavioral category": BEHAVIOR_CATEGORY[be], "Modifier #1": mod_names[mo],
        "Behavior type": np.where(is_state, "STATE", "POINT").astype(S), "Start (s)": fixed3(st),
        "Stop (s)": fixed3(sp), "Duration (s)": np.where(is_state, fixed3(sp - st), na),
        "Media file name": media, "Image index start": num_str(np.rint(st / 1000 * fps)),
        "Image index stop": num_str(np.rint(sp / 1000 * fps)), "Image file path start": na,
        "Image file path stop": na, "Comment start": np.full(n_rows, "", S), "Comment stop": np.full(n_rows, "", S),
    }
    agg_tab = F.Table("boris/video_aggregated.tsv", agg, rng=rng, first_data_row=2)
    rows_drift = np.flatnonzero(drift[o])
    agg_tab.set_cells("id_format_drift", "Observation id", rates["observation_id_drift"], "normalise", rows_drift,
                      _drift_lookup(obs_id, drift, drifted, o[rows_drift]), unit="observation")

    # tabular (v8.9.11+): STATE -> START and STOP rows, POINT -> one row
    sel = in_tab[ev["obs"]]
    o, st, sp, be, mo = ev["obs"][sel], ev["start"][sel], ev["stop"][sel], ev["beh"][sel], ev["mod"][sel]
    bout = np.arange(len(o))
    is_state = be < 2
    rows_o = np.concatenate([o, o[is_state]])
    rows_t = np.concatenate([st, sp[is_state]])
    rows_b = np.concatenate([be, be[is_state]])
    rows_m = np.concatenate([mo, mo[is_state]])
    rows_kind = np.concatenate([np.where(is_state, 0, 2), np.full(int(is_state.sum()), 1)])  # 0 START 1 STOP 2 POINT
    rows_bout = np.concatenate([bout, bout[is_state]])
    # unpaired START: drop the STOP row of a few bouts
    n_state = int(is_state.sum())
    unpaired = np.zeros(len(rows_o), bool)
    drop = np.zeros(len(rows_o), bool)
    if n_state:
        cand = rng.random(len(o)) < rates["unpaired_start"]
        cand &= is_state
        if not cand.any() and rates["unpaired_start"] > 0:
            cand[np.flatnonzero(is_state)[rng.integers(0, n_state)]] = True
        drop = (rows_kind == 1) & cand[rows_bout]
        unpaired = (rows_kind == 0) & cand[rows_bout]
    keep = ~drop
    order = np.lexsort((rows_kind[keep] == 1, rows_t[keep], rows_o[keep]))
    ro, rt, rb, rm, rk = (a[keep][order] for a in (rows_o, rows_t, rows_b, rows_m, rows_kind))
    unpaired = unpaired[keep][order]
    n_rows = len(ro)
    media = np.strings.add(obs_id[ro], ".mp4")
    tab = {
        "Observation id": obs_id[ro], "Observation date": obs_date[ro], "Description": np.full(n_rows, "", S),
        "Observation duration": dur[ro], "Observation type": np.full(n_rows, "Media file(s)", S),
        "Source": np.strings.add("player #1:", media), "Time offset (s)": np.full(n_rows, "0.000", S),
        "Media duration (s)": dur[ro], "FPS": np.full(n_rows, f"{fps:.2f}", S), "site": site[ro],
        "Subject": np.full(n_rows, "employee", S), "Behavior": BEHAVIOR_NAMES[rb],
        "Behavioral category": BEHAVIOR_CATEGORY[rb], "Modifier #1": mod_names[rm],
        "Behavior type": np.asarray(["START", "STOP", "POINT"], dtype=S)[rk], "Time": fixed3(rt),
        "Media file name": media, "Image index": num_str(np.rint(rt / 1000 * fps)),
        "Image file path": np.full(n_rows, "NA", S), "Comment": np.full(n_rows, "", S),
    }
    tab_tab = F.Table("boris/video_tabular.csv", tab, rng=rng, first_data_row=2)
    rows_drift = np.flatnonzero(drift[ro])
    tab_tab.set_cells("id_format_drift", "Observation id", rates["observation_id_drift"], "normalise", rows_drift,
                      _drift_lookup(obs_id, drift, drifted, ro[rows_drift]), unit="observation")
    tab_tab.set_cells("unpaired_start", "Behavior type", rates["unpaired_start"], "quarantine:unpaired_event",
                      np.flatnonzero(unpaired), tab["Behavior type"][unpaired], unit="state event")
    # an observation in which nothing was coded has no row in an events export (as in BORIS):
    # count what the exports hold, and say how many sampled observations they cannot show
    has_events = np.zeros(k, bool)
    has_events[ev["obs"]] = True
    info = {"n_video": int(has_events.sum()), "n_aggregated": int((~in_tab & has_events).sum()),
            "n_tabular": int((in_tab & has_events).sum()), "n_video_without_events": int((~has_events).sum()),
            "video_encounters": (vid + 1)}
    return agg_tab, tab_tab, info


def _drift_lookup(obs_id, drift, drifted, o):
    full = obs_id.copy()
    full[np.flatnonzero(drift)] = drifted
    return full[o]


# --- survey -------------------------------------------------------------------------------------------
def survey_tables(t: dict, rng, rates: dict, params: dict):
    n = t["n"]
    sv = params["survey"]
    responded = rng.random(n) < sv["response_rate"]
    paper = responded & ~t["channel_phone"] & (rng.random(n) < sv["paper_share_face_to_face"])
    web = responded & ~paper
    lag = (rng.integers(20, 72 * 60, n)).astype("timedelta64[m]")
    resp_at = t["start"] + lag
    email_given = rng.random(n) < sv["email_share"]
    resp_email = emails(person_name(t["customer"] + 1000), t["customer"] % 89)
    fb = np.full(n, "", dtype=S)
    has_fb = rng.random(n) < sv["feedback_share"]
    fb[has_fb] = F.choice(rng, FEEDBACK, int(has_fb.sum()))
    out = {}
    for mode, mask in (("paper", paper), ("web", web)):
        idx = np.flatnonzero(mask)
        k = len(idx)
        em = np.where(email_given[idx], resp_email[idx], "").astype(S)
        if mode == "web":
            yn = lambda x: np.where(np.asarray(x, bool), "kyllä", "ei").astype(S)  # noqa: E731  Finnish web tool
            cols = {"receipt_code": enc_ids(idx), "responded_at": finnish_datetime(resp_at[idx])}
        else:
            yn = lambda x: np.where(np.asarray(x, bool), "1", "0").astype(S)  # noqa: E731  SPSS 1 = yes, 0 = no
            cols = {"receipt_code": enc_ids(idx), "responded_at": iso_minutes(resp_at[idx])}
        for item in ("sat_overall", "sat_1", "sat_2", "sat_3", "felt_valued"):
            cols[item] = num_str(t[item][idx])
        cols["tell_others"] = yn(t["tell_others"][idx])
        cols["post_online"] = yn(t["post_online"][idx])
        cols["respondent_email"] = em
        cols["open_feedback"] = fb[idx]
        file = "survey_paper.sav" if mode == "paper" else "survey_web.csv"
        # .sav rows are case numbers (SPSS Data View); the CSV has a header row
        tab = F.Table(file, cols, rng=rng, first_data_row=1 if mode == "paper" else 2)
        if mode == "web":
            def other_answers(values):
                # always a different answer, so the second response conflicts with the first
                return num_str((values.astype(np.int64) - 1 + rng.integers(1, 5, len(values))) % 5 + 1)
            tab.duplicates("duplicate_response", rates["duplicate_response"], "quarantine:duplicate_response",
                           change_columns=["sat_overall"], change=other_answers)
        tab.cell_fault("id_format_drift", "receipt_code", rates["receipt_code_drift"], "normalise",
                       drift_encounter_ids(rng))
        big = n + 1 + rng.integers(0, max(1, 999_999 - n), k) if n < 900_000 else n + 1 + rng.integers(0, 10**6, k)
        mistyped = np.strings.add("ENC-", zpad(big, 6))
        tab.cell_fault("mistyped_receipt_code", "receipt_code", rates["mistyped_receipt_code"],
                       "quarantine:unlinked_survey", lambda v: mistyped[: len(v)])
        for item, bad in (("sat_overall", ["6", "0", "99"]), ("sat_1", ["0", "8", "77"]), ("sat_2", ["0", "8", "77"]),
                          ("sat_3", ["0", "8", "77"]), ("felt_valued", ["0", "8"])):
            tab.cell_fault("out_of_range", item, rates["out_of_range_survey"], "quarantine:out_of_range",
                           F.constant_choice(rng, bad))
            codes = ["-99"] if mode == "paper" else ["NA", "ei tietoa", "", "-99"]
            tab.cell_fault("missing_code", item, rates["missing_code_survey"], "normalise:missing",
                           F.constant_choice(rng, codes))
            if mode == "web":
                labels = np.asarray(LIKERT5_FI if item == "sat_overall" else LIKERT7_FI, dtype=S)
                tab.cell_fault("likert_label", item, rates["likert_label"], "normalise",
                               lambda v, labels=labels: labels[v.astype(np.int64) - 1])
        if mode == "web":
            for item in ("tell_others", "post_online"):
                def variant(values):
                    out = F.choice(rng, F.NO_VARIANTS, len(values))
                    yes = values == "kyllä"
                    out[yes] = F.choice(rng, F.YES_VARIANTS, int(yes.sum()))
                    return out
                tab.cell_fault("label_variant", item, rates["label_variant_survey"], "normalise", variant)

        def pii_feedback(values):
            who = person_name(rng.integers(0, 10_000, len(values)))
            k2 = rng.integers(0, 3, len(values))
            tail = np.strings.add(" - soita ", phone_numbers(rng, len(values)))
            tail[k2 == 1] = np.strings.add(" - ", emails(who[k2 == 1], 7))
            tail[k2 == 2] = ""
            lead = F.choice(rng, ["Palvelija ", "Kiitos ", "Clerk ", "Ask for "], len(values))
            return np.strings.add(np.strings.add(lead, who), tail)

        tab.cell_fault("pii_in_free_text", "open_feedback", rates["pii_in_feedback"], "drop_pii", pii_feedback)
        out[mode] = tab
    info = {"n_responded": int(responded.sum()), "n_paper": int(paper.sum()), "n_web": int(web.sum())}
    return out["paper"], out["web"], info


def note_row() -> str:
    return ("Pilot coding sheet, service point SP01, coder A. Codes: yes/no; smile none/polite/genuine; "
            "leave blank when not applicable.")


def xlsx_rows(cols: dict) -> tuple[list[str], list[list]]:
    """Rows for openpyxl: coded_at as a datetime cell, 1/0 as numbers, TRUE/FALSE as booleans."""
    header = list(cols)
    lists = {k: v.tolist() for k, v in cols.items()}
    lists["coded_at"] = [dt.datetime.strptime(s, "%Y-%m-%d %H:%M") for s in lists["coded_at"]]
    conv = {"1": 1, "0": 0, "TRUE": True, "FALSE": False, "2": 2, "3": 3}
    for b in BEHAVIOURS:
        lists[b] = [conv.get(s, s) if s != "" else None for s in lists[b]]
    lists["coder_comment"] = [s if s != "" else None for s in lists["coder_comment"]]
    n = len(lists["encounter_id"])
    return header, [[lists[h][i] for h in header] for i in range(n)]
