"""The analysis notebooks run on a researcher's partial study, not only on the full default study.

Two studies: a small simulation reduced the way real studies are (one coder — coder B's sheet and
both BORIS exports dropped from ``study.yaml`` — and a codebook without ``upselling`` and
``referral``), and the shipped worked example ``examples/own_study`` (6 encounters, one coder, no
operations log). Every notebook must execute top to bottom on both; what cannot be computed is
skipped with one sentence. (Not-testable rows with their reasons are tested in
tests/test_hypotheses.py.)
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from svcresearch import pipeline
from svcresearch.clean import clean_study
from svcresearch.simulate import simulate_study

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = pipeline.list_notebooks(ROOT / "notebooks")


def _streams(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    text = [o["text"] for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "stream"]
    return "".join("".join(t) if isinstance(t, list) else t for t in text)


def _run(raw: Path, base: Path) -> dict[str, str]:
    processed, reports = base / "processed", base / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVCRESEARCH_KEY", "partial-study-test")
        clean_study(raw, out=processed, progress=False)
    executed = pipeline.reproduce(raw=raw, processed=processed, reports=reports, notebooks=NOTEBOOKS, clean=False)
    assert [p.name for p in executed] == [p.name for p in NOTEBOOKS]
    return {p.name[:2]: _streams(p) for p in executed} | {"reports": reports, "processed": processed}


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    base = tmp_path_factory.mktemp("partial")
    raw = base / "raw"
    simulate_study(n_encounters=600, seed=11, out=raw)
    study = yaml.safe_load((raw / "study.yaml").read_text(encoding="utf-8"))
    dropped = {"coding_coder_B.csv", "boris/video_aggregated.tsv", "boris/video_tabular.csv"}
    assert dropped <= {f["path"] for f in study["files"]}
    study["files"] = [f for f in study["files"] if f["path"] not in dropped]
    (raw / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    codebook = yaml.safe_load((raw / study["codebook"]).read_text(encoding="utf-8"))
    for name in ("upselling", "referral"):
        del codebook["variables"][name]
    (raw / study["codebook"]).write_text(yaml.safe_dump(codebook, sort_keys=False, allow_unicode=True),
                                         encoding="utf-8")
    # the researcher's hypotheses file follows the reduced codebook: H12 and H7's upselling row go
    hyp = yaml.safe_load((raw / study["hypotheses"]).read_text(encoding="utf-8"))
    hyp["model"]["terms"] = [t for t in hyp["model"]["terms"] if t not in ("upselling", "referral")]
    hyp["hypotheses"] = [h for h in hyp["hypotheses"] if h["id"] != "H12"]
    h7 = next(h for h in hyp["hypotheses"] if h["id"] == "H7")
    h7["tests"] = [t for t in h7["tests"] if t["term"] != "upselling"]
    (raw / study["hypotheses"]).write_text(yaml.safe_dump(hyp, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return _run(raw, base)


def test_partial_study_reduced_codebook_and_one_coder(partial):
    encounters = pd.read_parquet(partial["processed"] / "encounters.parquet")
    assert "referral" not in encounters.columns and "upselling" not in encounters.columns
    tables = partial["reports"] / "tables"
    # 02: one coder -> one sentence, no reliability outputs
    assert "Reliability skipped: this study has 1 coder(s) (A)" in partial["02"]
    assert not (tables / "reliability_by_behaviour.csv").exists()
    # 04/05: enough data, so the models ran and their tables were written
    for name in ("table1_sample", "main_model", "proportional_odds", "simple_slopes", "mediation", "key_drivers"):
        assert (tables / f"{name}.csv").exists(), name
    main = pd.read_csv(tables / "main_model.csv")
    assert not main.iloc[:, 0].astype(str).str.contains("Referred|upselling", case=False).any()
    # 06: the study's own 16 rows, all tested, with the note's Holm family
    hyp = pd.read_csv(tables / "hypotheses.csv")
    assert len(hyp) == 16 and "H12" not in set(hyp["H"])
    # every row is tested, except where the subset model is too sparse to estimate (one coder leaves
    # ~55 rated service failures for H6's model): then the reason says so and the Holm family shrinks
    untested = hyp[hyp["Verdict"] == "not testable"]
    assert set(untested["H"]) <= {"H6"}
    assert untested["Reason"].str.contains("separates|not finite|could not be fitted").all()
    family = "over the 16 rows" if untested.empty else f"over the {16 - len(untested)} tested rows"
    assert f"Holm correction {family}" in (tables / "hypotheses.md").read_text(encoding="utf-8")
    assert any((partial["reports"] / "figures").glob("hypotheses_forest.*"))
    # ground truth of the cleaned simulated study is shown
    assert "True value" in hyp.columns


@pytest.fixture(scope="module")
def own_study(tmp_path_factory):
    return _run(ROOT / "examples" / "own_study", tmp_path_factory.mktemp("own"))


def _results(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            text = o.get("text") or data.get("text/markdown") or data.get("text/plain") or ""
            out.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(out)


def test_own_study_pilot_every_model_skipped_with_a_sentence(own_study):
    tables = own_study["reports"] / "tables"
    notebooks = own_study["reports"] / "notebooks"
    text = {p.name[:2]: _results(p) for p in notebooks.glob("0[3-6]_*.ipynb")}
    assert "Reliability skipped" in own_study["02"]
    assert "Scale reliability skipped" in text["03"] and (tables / "table1_sample.csv").exists()
    # no hypotheses file: the main model is the first outcome on the coded behaviours, too few rows
    assert "has no hypotheses file" in text["06"]
    assert "a model needs at least 30" in text["04"]
    assert "Not estimated: " in text["05"]
    for name in ("main_model", "simple_slopes", "mediation", "key_drivers", "hypotheses", "reliability_by_behaviour"):
        assert not (tables / f"{name}.csv").exists(), name
    # no simulated truth is drawn on an own study
    assert not any((own_study["reports"] / "figures").glob("main_model_coefficients.*"))


def test_study_without_survey_files_runs_the_overview_notebooks(tmp_path):
    # the overview notebooks (study design, cleaning) show what a study has and say what it lacks
    raw = tmp_path / "raw"
    simulate_study(n_encounters=300, seed=5, out=raw)
    study = yaml.safe_load((raw / "study.yaml").read_text(encoding="utf-8"))
    study["files"] = [f for f in study["files"] if f["kind"] != "survey"]
    (raw / "study.yaml").write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVCRESEARCH_KEY", "partial-study-test")
        clean_study(raw, out=tmp_path / "processed", progress=False)
    overview = [p for p in NOTEBOOKS if p.name[:2] in ("00", "01")]
    executed = pipeline.reproduce(raw=raw, processed=tmp_path / "processed", reports=tmp_path / "reports",
                                  notebooks=overview, clean=False)
    assert "No survey file with an ordinal outcome in this study" in _streams(executed[0])
    _streams(executed[1])
