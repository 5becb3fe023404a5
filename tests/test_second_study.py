"""The second worked study, ``examples/apteekki``, runs end to end on the codebook and hypotheses alone.

A pharmacy counter and phone line, unlike the default study in every study-specific respect:
its own behaviour names, Finnish column headers (``source_columns``), the context on the coding
sheets and no operations log, its own BORIS ethogram (``boris:`` declarations), an outcome on a
0–10 scale (linear mixed model) and its own ``hypotheses.yaml`` (P1–P9). The tests clean it, run
every notebook on it, and check that

* its raw files are exactly what its generator writes (so the committed data are reproducible);
* its behaviours, context and BORIS measures reach ``encounters.parquet`` — the BORIS measures
  recomputed here independently from the raw export (pandas on the TSV), missing without an
  observation and 0 / no for an observation without the behaviour;
* the undeclared BORIS behaviour and the observation of no encounter are reported, by name and
  count, never turned into zeros;
* the hypotheses table has the study's own claims, its main-model estimate equals statsmodels'
  REML fit of the same model, the truly null claim (P4, humour) is not supported and the large
  effects are;
* no name of the default study appears in what the toolkit writes for this study.

Truth (``examples/apteekki/README.md``, from the generator's constants): using the name +0.94,
checking understanding +1.15, humour 0, pharmacist SD 0.7 on the 0–10 scale.
"""
from __future__ import annotations

import importlib.util
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from svcresearch import pipeline
from svcresearch.clean import clean_study

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "examples" / "apteekki"
RAW_FILES = ("koodaus_A.xlsx", "koodaus_B.csv", "boris/apteekki_video.tsv", "kysely.csv")
BEHAVIOURS = ("uses_name", "humour", "open_question", "checks_understanding", "shows_package", "warmth")
BORIS_VARIABLES = ("gaze_share", "gaze_duration_s", "gaze_latency_s", "nod_count", "laughed", "shared_laughs",
                   "laugh_type")
#: The default study's variable and level names (docs/study_layout.md). Generic vocabulary of the
#: toolkit that every study's outputs use (file kinds such as "survey" and "operations", the
#: columns ``responded``/``survey_mode``, "phone number" in redaction notes) is not listed.
DEFAULT_NAMES = ("eye_contact", "eye contact", "greeting", "smile", "resolved", "empathy", "apology",
                 "explanation", "acknowledged_wait", "phone_use", "scripted", "upselling", "referral",
                 "sat_overall", "sat_scale", "felt_valued", "face_to_face", "channel", "employee", "wait_min",
                 "service_failure", "returning_customer", "service_point", "tell_others", "post_online")
NAME_RX = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(re.escape(n) for n in DEFAULT_NAMES) + r")(?![A-Za-z0-9_])",
                     re.IGNORECASE)


def _load_generator():
    spec = importlib.util.spec_from_file_location("apteekki_make_study", STUDY / "make_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Clean the study and execute every notebook on it (reports in a temporary folder)."""
    base = tmp_path_factory.mktemp("apteekki")
    processed, reports = base / "processed", base / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVCRESEARCH_KEY", "second-study-test-key")
        report = clean_study(STUDY, out=processed, progress=False)
        notebooks = pipeline.list_notebooks(ROOT / "notebooks")
        executed = pipeline.reproduce(raw=STUDY, processed=processed, reports=reports, notebooks=notebooks,
                                      clean=False)
    return {"notebooks": notebooks, "report": report, "processed": processed, "reports": reports, "executed": executed,
            "encounters": pd.read_parquet(processed / "encounters.parquet"),
            "quarantine": pd.read_csv(processed / "quarantine.csv", dtype=str, keep_default_na=False)}


def _raw_events() -> pd.DataFrame:
    """The BORIS export read with pandas alone, the observation id in canonical form."""
    ev = pd.read_csv(STUDY / "boris" / "apteekki_video.tsv", sep="\t", dtype=str, keep_default_na=False)
    digits = ev["Observation id"].str.replace(r"\D", "", regex=True).astype(int)
    ev["encounter_id"] = digits.map("APT-{:05d}".format)
    for col in ("Start (s)", "Stop (s)", "Observation duration by subject by observation"):
        ev[col] = ev[col].astype(float)
    return ev


# --- the raw study ------------------------------------------------------------------------------

def test_committed_raw_files_are_what_the_generator_writes(tmp_path):
    gen = _load_generator()
    gen.main(tmp_path)
    for rel in RAW_FILES:
        assert (tmp_path / rel).read_bytes() == (STUDY / rel).read_bytes(), rel
    total = sum(p.stat().st_size for p in STUDY.rglob("*") if p.is_file())
    assert total < 200_000


def test_raw_headers_are_finnish_and_mapped_by_the_codebook():
    from svcresearch.codebook import load_codebook

    cb = load_codebook(STUDY / "codebook.yaml")
    header = pd.read_csv(STUDY / "koodaus_B.csv", sep=";", encoding="cp1252", nrows=0).columns
    assert "Käyttää nimeä" in header and "uses_name" not in header
    for name in BEHAVIOURS:
        assert cb[name].column_in("coding") in header, name
    assert [v.name for v in cb.behaviours] == list(BEHAVIOURS)
    assert [v.name for v in cb.boris_variables] == list(BORIS_VARIABLES)


# --- cleaning -----------------------------------------------------------------------------------

def test_behaviours_and_context_from_the_coding_sheets_reach_encounters(run):
    enc = run["encounters"]
    report = run["report"]
    assert report["study"] == "apteekki"
    assert report["encounters"]["encounters"] == len(enc) and report["encounters"]["double_coded"] >= 0.25 * len(enc)
    for name in BEHAVIOURS:
        assert name in enc and f"{name}_status" in enc, name
        observed = enc.loc[enc[f"{name}_status"] == "observed", name]
        assert 0.05 < observed.astype(str).value_counts(normalize=True).max() < 0.95, name   # coded, and it varies
    assert list(enc["warmth"].cat.categories) == ["none", "some", "high"] and enc["warmth"].cat.ordered
    # context read from the coding sheets (no operations log): Finnish values through the value sets
    assert set(enc["service_mode"].dropna()) == {"counter", "call"}
    assert enc["busy"].dtype == "boolean" and enc["busy"].notna().all()
    assert enc["pharmacist"].str.fullmatch(r"far_[0-9a-f]{10}").all() and enc["pharmacist"].nunique() == 12
    # the applicability rule reads that context: no package to show on a call
    call = enc["service_mode"] == "call"
    assert (enc.loc[call, "shows_package_status"] == "not_applicable").all()
    assert (enc.loc[~call, "shows_package_status"] != "not_applicable").all()
    assert enc.loc[call, "shows_package"].isna().all()
    # the outcome is on its own scale
    assert enc["recommend"].dtype == "float64" and enc["recommend"].dropna().between(0, 10).all()
    assert enc["recommend"].nunique() > 5


def test_two_coders_give_a_reliability_sample(run):
    from svcresearch.reliability import cohen_kappa

    long = pd.read_parquet(run["processed"] / "coding_long.parquet")
    both = long[(long["behaviour"] == "uses_name") & (long["status"] == "observed")]
    both = both[both.groupby("encounter_id")["coder"].transform("nunique") == 2]
    assert both["encounter_id"].nunique() >= 80
    # coder B disagrees with probability 0.08 per code in the generator: kappa well above .6
    assert cohen_kappa(both, unit="encounter_id", rater="coder", value="value") > 0.7


def test_boris_variables_match_the_raw_export(run):
    enc = run["encounters"].set_index("encounter_id")
    ev = _raw_events()
    ev = ev[ev["encounter_id"].isin(enc.index)]
    observed = sorted(ev["encounter_id"].unique())
    assert enc["video_coded"].sum() == len(observed) == 60
    # no observation -> missing, for every BORIS variable
    unfilmed = enc.loc[~enc.index.isin(observed)]
    for name in BORIS_VARIABLES:
        assert unfilmed[name].isna().all(), name
    filmed = enc.loc[observed]
    by = ev.groupby("encounter_id")
    gaze = ev[ev["Behavior"] == "katse"].assign(d=lambda e: e["Stop (s)"] - e["Start (s)"]).groupby("encounter_id")
    nods = ev[ev["Behavior"] == "nyökkäys"].groupby("encounter_id").size()
    laughs = ev[ev["Behavior"] == "nauru"]
    shared = laughs[laughs["Modifier #1"] == "yhteinen"].groupby("encounter_id").size()
    length = by["Observation duration by subject by observation"].max()
    np.testing.assert_allclose(filmed["gaze_duration_s"], gaze["d"].sum().reindex(observed, fill_value=0), atol=1e-9)
    np.testing.assert_allclose(filmed["gaze_share"], gaze["d"].sum().reindex(observed, fill_value=0) / length,
                               atol=1e-9)
    np.testing.assert_allclose(filmed["gaze_latency_s"], gaze["Start (s)"].min().reindex(observed), atol=1e-9)
    assert (filmed["nod_count"].astype(int) == nods.reindex(observed, fill_value=0)).all()
    assert (filmed["shared_laughs"].astype(int) == shared.reindex(observed, fill_value=0)).all()
    has_laugh = laughs.groupby("encounter_id").size().reindex(observed, fill_value=0) > 0
    assert (filmed["laughed"].astype(bool) == has_laugh).all()
    kind = laughs.groupby("encounter_id")["Modifier #1"].agg(
        lambda m: "shared" if (m == "yhteinen").any() else "courtesy").reindex(observed, fill_value="absent")
    assert (filmed["laugh_type"].astype(str) == kind).all()
    # an observation without events of a behaviour: 0 / no / first level, latency missing
    no_laugh = filmed[~has_laugh]
    assert len(no_laugh) and (no_laugh["shared_laughs"] == 0).all() and (~no_laugh["laughed"]).all()
    assert (no_laugh["laugh_type"] == "absent").all()
    no_gaze = filmed[filmed["gaze_duration_s"] == 0]
    assert len(no_gaze) == 1 and no_gaze["gaze_share"].iat[0] == 0 and np.isnan(no_gaze["gaze_latency_s"].iat[0])


def test_undeclared_behaviour_and_unlinked_observation_are_reported(run):
    q, report = run["quarantine"], run["report"]
    ev = _raw_events()
    undeclared = q[q["reason"] == "unknown_behaviour"]
    assert set(undeclared["value"]) == {"keskeytys"}
    assert len(undeclared) == (ev["Behavior"] == "keskeytys").sum() == 2
    assert report["undeclared_boris_behaviours"] == {"keskeytys": 2}
    md = (run["processed"] / "cleaning_report.md").read_text(encoding="utf-8")
    assert "keskeytys" in md and "unknown_behaviour" in md
    unlinked = q[q["reason"] == "unlinked_video"]
    orphan = ev[ev["encounter_id"] == "APT-00999"]
    assert len(orphan) and len(unlinked) == len(orphan) and set(unlinked["value"]) == {"APT-00999"}
    assert report["link_rates"]["video"]["total"] == 61 and report["link_rates"]["video"]["linked"] == 60
    # the other faults the generator put in (README.md table)
    assert set(q.loc[q["reason"] == "unknown_code", "value"]) == {"joo?", "ehkä", "kohtalainen"}
    conflict = q[q["reason"] == "duplicate_conflict"]
    assert len(conflict) == 2 and "APT-00061" in conflict["detail"].iat[0]
    assert set(q.loc[q["reason"] == "unlinked_survey", "value"]) == {"APT-00061", "APT-03000"}
    assert "APT-00061" not in set(run["encounters"]["encounter_id"])
    for f in report["files"]:
        assert f["read"] == f["kept"] + f["merged"] + f["quarantined"], f["file"]


# --- hypotheses ---------------------------------------------------------------------------------

def test_hypotheses_table_has_the_studys_own_claims(run):
    import statsmodels.formula.api as smf

    from svcresearch.codebook import load_codebook
    from svcresearch.hypotheses import run_hypotheses

    enc = run["encounters"]
    table = run_hypotheses(enc, hypotheses=STUDY / "hypotheses.yaml", codebook=load_codebook(STUDY / "codebook.yaml"))
    assert list(dict.fromkeys(table["hypothesis"])) == [f"P{i}" for i in range(1, 10)]
    assert not table["hypothesis"].str.match(r"H\d").any()
    row = table.set_index("hypothesis")
    assert (row["verdict"] != "not testable").all(), row.loc[row["verdict"] == "not testable", "reason"].to_dict()
    # P6 is tested at the counter only, P7 on the filmed encounters only (complete cases per model)
    assert row.at["P6", "n"] < row.at["P1", "n"] and row.at["P7", "n"] <= enc["video_coded"].sum()
    # the truth: large effects supported, humour (truly null) not
    assert row.at["P1", "verdict"] == "supported" and row.at["P2", "verdict"] == "supported"
    assert row.at["P4", "verdict"] != "supported"
    # docs/own_data.md (step 9) and examples/apteekki/README.md state this table's verdicts
    assert set(row.index[row["verdict"] == "supported"]) == {"P1", "P2", "P3", "P6", "P8", "P9"}
    # P1 is the main model's coefficient: statsmodels' REML linear mixed model of the same frame
    d = enc.dropna(subset=["recommend", "uses_name", "humour", "open_question", "checks_understanding", "warmth",
                           "service_mode", "busy"]).copy()
    for c in ("uses_name", "humour", "open_question", "checks_understanding", "busy"):
        d[c] = d[c].astype(float)
    d["warmth_some"] = (d["warmth"] == "some").astype(float)
    d["warmth_high"] = (d["warmth"] == "high").astype(float)
    d["call"] = (d["service_mode"] == "call").astype(float)
    ref = smf.mixedlm("recommend ~ uses_name + humour + open_question + checks_understanding + warmth_some"
                      " + warmth_high + call + busy + open_question:busy", d, groups=d["pharmacist"]).fit(reml=True)
    assert row.at["P1", "n"] == len(d)
    assert row.at["P1", "estimate"] == pytest.approx(ref.params["uses_name"], abs=2e-3)
    assert row.at["P3", "estimate"] == pytest.approx(ref.params["warmth_high"] - ref.params["warmth_some"], abs=2e-3)
    assert row.at["P5", "estimate"] == pytest.approx(ref.params["open_question:busy"], abs=2e-3)


def test_the_notebooks_report_the_studys_hypotheses(run):
    assert [p.name for p in run["executed"]] == [p.name for p in run["notebooks"]]
    assert len(run["executed"]) >= 7
    table = pd.read_csv(run["reports"] / "tables" / "hypotheses.csv")
    assert list(table.iloc[:, 0]) == [f"P{i}" for i in range(1, 10)]


# --- nothing of the default study ---------------------------------------------------------------

def _texts(folder: Path):
    """(file, text) of everything a reader sees in a processed or reports folder: text files,
    Word tables, parquet column names and values, and the *outputs* of executed notebooks
    (their code and markdown are the same for every study; tests/test_notebooks.py checks the code)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        suffix = path.suffix.lower()
        if suffix in (".csv", ".md", ".tex", ".html", ".json", ".svg", ".txt"):
            if path.parent.name == "notebooks" and suffix == ".html":
                continue   # the rendered notebook: its outputs are checked in the .ipynb
            yield path, path.read_text(encoding="utf-8", errors="replace")
        elif suffix == ".docx":
            with zipfile.ZipFile(path) as z:
                yield path, re.sub(r"<[^>]+>", "", z.read("word/document.xml").decode("utf-8"))
        elif suffix == ".parquet":
            frame = pd.read_parquet(path)
            yield path, " ".join(frame.columns) + "\n" + frame.astype(str).to_csv(index=False)
        elif suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            parts = []
            for cell in nb["cells"]:
                for out in cell.get("outputs", []):
                    parts.append("".join(out.get("text", "")))
                    for mime, value in out.get("data", {}).items():
                        if mime.startswith("text/") or mime.endswith("json"):
                            parts.append(value if isinstance(value, str) else json.dumps(value))
            yield path, "\n".join(parts)


def test_no_default_study_name_in_any_output(run):
    checked, found = 0, []
    for folder in (run["processed"], run["reports"]):
        for path, text in _texts(folder):
            checked += 1
            for m in NAME_RX.finditer(text):
                found.append(f"{path.relative_to(folder.parent)}: {text[max(0, m.start() - 60):m.end() + 30]!r}")
    assert checked >= 20
    assert not found, "\n".join(found[:10])
    # and the study's own names are there
    tables = "".join(t for p, t in _texts(run["reports"] / "tables"))
    assert "Uses the customer's name" in tables and "Likelihood to recommend" in tables


def test_an_own_study_shows_no_simulated_truth(run):
    from svcresearch.study import current

    study = current(raw=STUDY, processed=run["processed"])
    assert study.name == "apteekki" and study.processed_matches
    assert study.behaviours == list(BEHAVIOURS)
    assert study.ground_truth is None


# --- the docs tell the truth about the example --------------------------------------------------

def _subset(doc, actual, where: str) -> None:
    """Every key of the documented mapping has the example file's value (nested)."""
    if isinstance(doc, dict):
        assert isinstance(actual, dict), where
        for key, value in doc.items():
            assert key in actual, f"{where}.{key} is in docs/own_data.md but not in the example"
            _subset(value, actual[key], f"{where}.{key}")
    else:
        assert doc == actual, f"{where}: docs/own_data.md says {doc!r}, the example has {actual!r}"


def test_docs_snippets_are_the_examples_files():
    import yaml

    text = (ROOT / "docs" / "own_data.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]
    study = yaml.safe_load((STUDY / "study.yaml").read_text(encoding="utf-8"))
    codebook = yaml.safe_load((STUDY / "codebook.yaml").read_text(encoding="utf-8"))
    hyp = yaml.safe_load((STUDY / "hypotheses.yaml").read_text(encoding="utf-8"))
    kinds = set()
    for block in blocks:
        if "files" in block:
            kinds.add("study")
            assert block["files"] == study["files"] and block["hypotheses"] == study["hypotheses"]
        elif "hypotheses" in block:
            kinds.add("hypotheses")
            assert block["model"] == hyp["model"]
            by_id = {c["id"]: c for c in hyp["hypotheses"]}
            for claim in block["hypotheses"]:
                _subset(claim, by_id.get(claim["id"]), claim["id"])
        else:
            variables = block.get("variables", block)
            if isinstance(variables, dict):
                for name, spec in variables.items():
                    kinds.add("variables")
                    _subset(spec, codebook["variables"].get(name), name)
            for key in ("missing_codes", "id_formats"):
                if key in block:
                    assert block[key] == codebook[key], key
            for name, spec in (block.get("value_sets") or {}).items():
                _subset(spec, codebook["value_sets"][name], name)
    assert kinds == {"study", "hypotheses", "variables"}
