"""Write the raw files of the Apteekki study (a pharmacy counter and phone line) next to this script.

Run: ``python examples/apteekki/make_study.py [--seed 20260415] [--out FOLDER]``. The same seed
gives byte-identical files. Written: ``koodaus_A.xlsx`` (coder A, every encounter),
``koodaus_B.csv`` (coder B, the ~30 % reliability subsample), ``boris/apteekki_video.tsv``
(BORIS v8.22.17+ aggregated export of ~60 filmed counter encounters) and ``kysely.csv`` (the
receipt's web survey). ``study.yaml``, ``codebook.yaml`` and ``hypotheses.yaml`` are written by
hand and are not touched.

What a researcher would not know but this script does (the truth the analysis should find):

* 300 encounters with 12 pharmacists (random intercept, SD :data:`PHARMACIST_SD` on the 0-10
  scale); 70 % at the counter, 30 % on the phone line; a queue (``Kiire``) in 35 %.
* Trust in the advice (1-7, the mediator) rises with checking understanding, warmth and using
  the name (:data:`TRUST`).
* Likelihood to recommend (0-10) = :data:`RECOMMEND` effects + 0.45 per point of trust + the
  pharmacist's intercept + noise (SD :data:`NOISE_SD`), rounded and clipped to 0-10. Humour has
  **no** effect (the truly null claim P4). The effects the hypotheses model estimates (without
  trust in the model) are total effects: direct + 0.45 × the effect on trust (``TOTAL_EFFECTS``).
* Faults on purpose: unknown codes, drifted identifiers, label variants, one exact and one
  conflicting duplicate coding, a behaviour coded on a call where it is not applicable, a survey
  row that links to no encounter, an out-of-range rating, a BORIS observation of no encounter
  (``APT-00999``) and a BORIS behaviour the codebook does not declare (``keskeytys``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SEED = 20260415
N_ENCOUNTERS = 300
N_PHARMACISTS = 12
SHARE_CODER_B = 0.30
N_VIDEO = 60
RESPONSE_RATE = 0.72

PHARMACIST_SD = 0.7
NOISE_SD = 1.3
TRUST = {"intercept": 3.9, "checks_understanding": 1.0, "warmth_some": 0.5, "warmth_high": 0.9,
         "uses_name": 0.3}
TRUST_NOISE_SD = 1.0
TRUST_SLOPE = 0.45           # recommend points per trust point (centred at 4)
RECOMMEND = {"intercept": 5.4, "uses_name": 0.8, "humour": 0.0, "open_question": 0.7, "busy": -0.4,
             "open_question:busy": -0.9, "checks_understanding": 0.7, "warmth_some": 0.4,
             "warmth_high": 1.1, "shows_package": 0.7, "call": -0.3, "nod": 0.25}
TOTAL_EFFECTS = {k: RECOMMEND.get(k, 0.0) + TRUST_SLOPE * TRUST.get(k, 0.0)
                 for k in ("uses_name", "humour", "checks_understanding", "warmth_some", "warmth_high")}

HEADER = ["Asiointi", "Koodaaja", "Palvelukanava", "Työntekijä", "Kiire", "Käyttää nimeä", "Huumori",
          "Avoin kysymys", "Varmistaa ymmärryksen", "Näyttää pakkauksen", "Lämpö", "Kommentti"]
YES = ["kyllä", "kyllä", "kyllä", "K", "k", "1", "x", "Kyllä "]
NO = ["ei", "ei", "ei", "E", "0", "Ei", " ei"]
WARMTH = {0: ["ei", "ei lainkaan", "0"], 1: ["jonkin verran", "jonkin verran", "1", "vähän"],
          2: ["paljon", "paljon", "2", "Paljon"]}
MODE = {0: ["tiski", "Tiski", "tiskillä"], 1: ["puhelin", "Puhelin", "puh"]}
FIXED_TIME = (2026, 4, 15, 12, 0, 0)

BORIS_HEADER = ["Observation id", "Observation date", "Description", "Observation type", "Source",
                "Time offset (s)", "Coding duration", "Media duration (s)", "FPS (frame/s)", "toimipiste",
                "Subject", "Observation duration by subject by observation", "Behavior", "Behavioral category",
                "Modifier #1", "Behavior type", "Start (s)", "Stop (s)", "Duration (s)", "Media file name",
                "Image index start", "Image index stop", "Image file path start", "Image file path stop",
                "Comment start", "Comment stop"]


def simulate(seed: int = SEED) -> dict:
    """The true encounters: context, behaviours, video events and survey answers (no faults yet)."""
    rng = np.random.default_rng(seed)
    n = N_ENCOUNTERS
    pharmacist = rng.integers(1, N_PHARMACISTS + 1, size=n)
    u = rng.normal(0, PHARMACIST_SD, size=N_PHARMACISTS + 1)
    call = rng.random(n) < 0.30
    busy = rng.random(n) < 0.35
    style = rng.normal(0, 0.5, size=N_PHARMACISTS + 1)[pharmacist]   # some pharmacists do more of everything

    def coded(p):
        return rng.random(n) < 1 / (1 + np.exp(-(np.log(p / (1 - p)) + style)))

    uses_name = coded(0.35)
    humour = coded(0.25)
    open_question = coded(0.5)
    checks = coded(0.45)
    shows = coded(0.55) & ~call
    warmth = np.searchsorted(np.cumsum([0.25, 0.45]), rng.random(n))       # 0 none, 1 some, 2 high
    video = np.zeros(n, dtype=bool)
    video[rng.choice(np.flatnonzero(~call), size=N_VIDEO, replace=False)] = True
    nods = np.where(video, rng.poisson(1.2 + 1.0 * checks), 0)
    trust_latent = (TRUST["intercept"] + TRUST["checks_understanding"] * checks + TRUST["warmth_some"] * (warmth == 1)
                    + TRUST["warmth_high"] * (warmth == 2) + TRUST["uses_name"] * uses_name
                    + rng.normal(0, TRUST_NOISE_SD, n))
    trust = np.clip(np.rint(trust_latent), 1, 7).astype(int)
    r = RECOMMEND
    latent = (r["intercept"] + r["uses_name"] * uses_name + r["humour"] * humour + r["open_question"] * open_question
              + r["busy"] * busy + r["open_question:busy"] * open_question * busy
              + r["checks_understanding"] * checks + r["warmth_some"] * (warmth == 1) + r["warmth_high"] * (warmth == 2)
              + r["shows_package"] * shows + r["call"] * call + r["nod"] * (nods - 1.7) * video
              + TRUST_SLOPE * (trust_latent - 4) + u[pharmacist] + rng.normal(0, NOISE_SD, n))
    recommend = np.clip(np.rint(latent), 0, 10).astype(int)
    responded = rng.random(n) < RESPONSE_RATE
    return {"rng": rng, "pharmacist": pharmacist, "call": call, "busy": busy, "uses_name": uses_name,
            "humour": humour, "open_question": open_question, "checks": checks, "shows": shows, "warmth": warmth,
            "video": video, "nods": nods, "trust": trust, "recommend": recommend, "responded": responded}


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def _yn(rng, value: bool) -> str:
    return _pick(rng, YES if value else NO)


def coding_rows(t: dict, *, coder: str, encounters: np.ndarray, flip: float) -> list[list]:
    """One coding-sheet row per encounter; coder B disagrees with probability ``flip`` per code."""
    rng = t["rng"]
    rows = []
    for i in encounters:
        def code(value, i=i):
            if rng.random() < flip:
                value = not value
            return _yn(rng, bool(value))
        warmth = int(t["warmth"][i])
        if rng.random() < flip:
            warmth = int(np.clip(warmth + _pick(rng, [-1, 1]), 0, 2))
        enc = f"APT-{i + 1:05d}"
        if coder == "A" and rng.random() < 0.03:
            enc = _pick(rng, [f"apt {i + 1}", f"{i + 1:05d}", f"APT {i + 1:05d}"])
        call = bool(t["call"][i])
        who = f"F-{t['pharmacist'][i]:03d}" if rng.random() >= 0.03 else f"f{t['pharmacist'][i]}"
        rows.append([enc, coder, _pick(rng, MODE[int(call)]), who, _yn(rng, t["busy"][i]),
                     code(t["uses_name"][i]), code(t["humour"][i]), code(t["open_question"][i]),
                     code(t["checks"][i]), _pick(rng, ["NA", "", ""]) if call else code(t["shows"][i]),
                     _pick(rng, WARMTH[warmth]), None])
    return rows


def with_faults_a(rows: list[list], t: dict) -> list[list]:
    """Coder A's sheet with the faults a real sheet has (positions fixed, documented in README.md)."""
    rows = [list(r) for r in rows]
    rows[10][6] = "joo?"                 # unknown code (Huumori)
    rows[41][7] = "ehkä"                 # unknown code (Avoin kysymys)
    rows[77][10] = "kohtalainen"         # unknown code (Lämpö)
    rows[120][5] = "eos"                 # missing code
    call_row = next(i for i, r in enumerate(rows) if r[2].lower().startswith("puh") and i > 150)
    rows[call_row][9] = "kyllä"          # coded on a call, where the codebook says not applicable
    rows[5][11] = "asiakas Virtanen soitti 040 765 4321 takaisin"    # free text with personal data
    rows[200][11] = "ääni katkeili"
    exact = list(rows[30])               # an exact duplicate (same values, another spelling)
    exact[5] = "kyllä" if exact[5].strip().lower() in [y.strip().lower() for y in YES] else "ei"
    conflict = list(rows[60])            # a conflicting duplicate: the same encounter coded twice
    conflict[6] = "ei" if conflict[6].strip().lower() in [y.strip().lower() for y in YES] else "kyllä"
    return rows[:31] + [exact] + rows[31:61] + [conflict] + rows[61:]


def write_xlsx(path: Path, rows: list[list], *, title: str, sheet: str) -> None:
    """An Excel sheet with a title row above the header, byte-identical for the same rows."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([title])
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    stamp = dt.datetime(*FIXED_TIME)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "apteekki"
    buf = io.BytesIO()
    wb.save(buf)
    # zip members carry the time they were written: rewrite them with a fixed time
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":   # openpyxl stamps the save time here
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp.isoformat().encode() + b"Z", data)
            dst.writestr(member, data)


def write_csv(path: Path, header: list[str], rows: list[list], *, sep: str, encoding: str) -> None:
    lines = [sep.join(header)] + [sep.join("" if v is None else str(v) for v in r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))


def boris_rows(t: dict) -> list[list]:
    """Events of the filmed counter encounters in BORIS's aggregated layout (v8.22.17+)."""
    rng = t["rng"]
    out = []
    filmed = list(np.flatnonzero(t["video"]))
    # an observation filmed for the study whose encounter was never coded (links to nothing)
    filmed.append(998)
    for k, i in enumerate(filmed):
        obs = f"APT-{i + 1:05d}"
        if k % 17 == 3:
            obs = f"apt{i + 1}"           # the observation id as typed in BORIS
        length = round(float(rng.uniform(80, 260)), 3)
        real = i < N_ENCOUNTERS
        events = []
        # katse (gaze at the customer): STATE episodes, more with warmth
        warm = int(t["warmth"][i]) if real else 1
        t0 = float(rng.uniform(0.5, 6.0))
        n_gaze = int(rng.integers(1, 3 + warm)) if k != 11 else 0   # one customer filmed from behind: no gaze coded
        for _ in range(n_gaze):
            dur = float(rng.uniform(4, 18 + 10 * warm))
            if t0 + dur >= length - 1:
                break
            events.append(("katse", "nonverbal", "", "STATE", t0, t0 + dur))
            t0 += dur + float(rng.uniform(3, 25))
        nods = int(t["nods"][i]) if real else 2
        for _ in range(nods):
            at = float(rng.uniform(2, length - 2))
            events.append(("nyökkäys", "nonverbal", "", "POINT", at, at))
        humour = bool(t["humour"][i]) if real else False
        n_laugh = int(rng.poisson(1.5)) if humour else int(rng.random() < 0.25)
        for _ in range(n_laugh):
            at = float(rng.uniform(5, length - 2))
            kind = "yhteinen" if humour and rng.random() < 0.7 else "kohtelias"
            events.append(("nauru", "vocal", kind, "POINT", at, at))
        if k == 7:                        # a behaviour added to the ethogram later, not in the codebook
            for at in (30.0, 95.5):
                events.append(("keskeytys", "context", "", "POINT", at, at))
        events.sort(key=lambda e: (e[4], e[0]))
        media = f"{obs}.mp4"
        for beh, cat, mod, btype, start, stop in events:
            fps = 25.0
            dur = "NA" if btype == "POINT" else f"{stop - start:.3f}"
            out.append([obs, f"2026-03-{1 + i % 28:02d} {9 + i % 8:02d}:{(7 * i) % 60:02d}:00", "", "Media file",
                        f"player #1:{media}", "0.000", f"{length:.3f}", f"{length:.3f}", f"{fps:.2f}",
                        "Keskusapteekki", "farmaseutti", f"{length:.3f}", beh, cat, mod, btype,
                        f"{start:.3f}", f"{stop:.3f}", dur, media, str(int(start * fps)), str(int(stop * fps)),
                        "NA", "NA", "", ""])
    return out


def survey_rows(t: dict) -> list[list]:
    """The web survey: one row per responding encounter (shuffled, as exported)."""
    rng = t["rng"]
    labels = {1: "täysin eri mieltä", 2: "eri mieltä", 6: "samaa mieltä", 7: "täysin samaa mieltä"}
    rows = []
    for i in np.flatnonzero(t["responded"]):
        trust = int(t["trust"][i])
        trust_text = labels[trust] if trust in labels and rng.random() < 0.15 else str(trust)
        day, minute = 1 + i % 28, (11 * i) % 60
        email = f"asiakas{i + 1}@example.fi" if rng.random() < 0.2 else ""
        rows.append([f"APT-{i + 1:05d}", f"{day}.3.2026 {17 + i % 5}.{minute:02d}", str(int(t["recommend"][i])),
                     trust_text, email])
    order = rng.permutation(len(rows))
    rows = [rows[j] for j in order]
    rows[12][2] = "11"                  # out of range (0-10)
    rows[40][0] = "APT-03000"           # a mistyped receipt code: links to no encounter
    return rows


def main(out: Path = HERE, *, seed: int = SEED) -> list[Path]:
    """Write the study's raw files into ``out``; returns their paths."""
    out = Path(out)
    (out / "boris").mkdir(parents=True, exist_ok=True)
    t = simulate(seed)
    rng = t["rng"]
    every = np.arange(N_ENCOUNTERS)
    a_rows = with_faults_a(coding_rows(t, coder="A", encounters=every, flip=0.0), t)
    b_enc = np.sort(rng.choice(every, size=int(round(SHARE_CODER_B * N_ENCOUNTERS)), replace=False))
    b_rows = coding_rows(t, coder="B", encounters=b_enc, flip=0.08)
    paths = [out / "koodaus_A.xlsx", out / "koodaus_B.csv", out / "boris" / "apteekki_video.tsv", out / "kysely.csv"]
    write_xlsx(paths[0], a_rows, title="Apteekki – koodauslomake, koodaaja A (kevät 2026)", sheet="koodaus")
    write_csv(paths[1], HEADER, b_rows, sep=";", encoding="cp1252")
    write_csv(paths[2], BORIS_HEADER, boris_rows(t), sep="\t", encoding="utf-8")
    write_csv(paths[3], ["Kuitti", "Vastattu", "Suosittelu", "Luottamus", "Sähköposti"], survey_rows(t), sep=";",
              encoding="utf-8-sig")
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    for p in main(args.out, seed=args.seed):
        print(p)
