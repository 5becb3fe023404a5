"""svcresearch.overview (notebooks 00–02) and svcresearch.display on small cleaned studies.

Expected numbers come from the cleaner's own outputs (cleaning_report.json, quarantine.csv,
encounters.parquet) and the simulator's ground_truth.json, not from the code under test.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from svcresearch import analysis, overview, paper  # noqa: E402
from svcresearch.clean import clean_study  # noqa: E402
from svcresearch.display import PlainNote, Table, table  # noqa: E402
from svcresearch.modelframe import Note  # noqa: E402
from svcresearch.simulate import simulate_study  # noqa: E402
from svcresearch.study import current  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _clean(raw: Path, out: Path) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVCRESEARCH_KEY", "overview-test-key-0001")
        clean_study(raw, out=out, progress=False)
    return out


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    base = tmp_path_factory.mktemp("overview")
    simulate_study(n_encounters=300, seed=3, out=base / "raw")
    _clean(base / "raw", base / "processed")
    return current(raw=base / "raw", processed=base / "processed")


@pytest.fixture(scope="module")
def one_coder(tmp_path_factory):
    base = tmp_path_factory.mktemp("one_coder")
    raw = base / "raw"
    simulate_study(n_encounters=200, seed=4, out=raw)
    spec = yaml.safe_load((raw / "study.yaml").read_text(encoding="utf-8"))
    spec["files"] = [f for f in spec["files"] if f["path"] != "coding_coder_B.csv"]
    (raw / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    _clean(raw, base / "processed")
    return current(raw=raw, processed=base / "processed")


# --- display ------------------------------------------------------------------------------------

def test_table_displays_like_its_saved_markdown_without_index(tmp_path):
    data = pd.DataFrame({"Behaviour": ["Greeting", "Smile"], "κ": [0.81234, -0.05], "p": [1e-9, 0.0312],
                         "Rate": [0.0049, 0.5], "Coded": [True, False]}, index=[7, 9])
    shown = table(data, title="A title", note="A note.", decimals={"Rate": 3})
    assert isinstance(shown, Table) and isinstance(shown, pd.DataFrame)
    assert list(shown.index) == [0, 1] and shown["κ"].iloc[0] == 0.81234   # full precision kept
    html = shown._repr_html_()
    for cell in ("Greeting", ".81", "\u2212.05", "&lt; .001", ".031", "0.005", "0.500", "yes", "no", "A title",
                 "A note."):
        assert cell in html, cell
    assert ">7<" not in html and ">9<" not in html   # no index column
    analysis.save(shown, "shown", folder=tmp_path, formats=("md",), manifest=False)
    md = (tmp_path / "shown.md").read_text(encoding="utf-8")
    assert "| Greeting | .81 | < .001 | 0.005 | yes |" in md   # the display's format is the file's
    text = repr(shown)
    assert text.splitlines()[0] == "A title" and "0.81234" not in text and "Note. A note." in text


def test_table_shows_at_most_max_rows_and_says_so():
    shown = table(pd.DataFrame({"n": range(100)}), max_rows=5)
    html = shown._repr_html_()
    assert html.count("<tr>") == 1 + 5 + 1   # header, five rows, note
    assert "first 5 of 100 rows" in html and len(shown) == 100


def test_plain_note_prints_itself(capsys):
    note = PlainNote("One sentence.")
    assert isinstance(note, Note) and analysis.save(note, "never_written") is note
    note._ipython_display_()
    assert capsys.readouterr().out == "One sentence.\n"


@pytest.mark.parametrize("bad, match", [({"title": 3}, "title"), ({"max_rows": 0}, "max_rows")])
def test_table_rejects_bad_arguments(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        table(pd.DataFrame({"a": [1]}), **bad)


# --- notebook 00 ---------------------------------------------------------------------------------

def test_study_design_steps_on_a_simulated_study(simulated):
    truth = json.loads((simulated.raw_dir / "ground_truth.json").read_text(encoding="utf-8"))
    files = overview.raw_files(simulated)
    assert list(files["File"]) == [f.rel for f in simulated.spec.files]
    effects = overview.true_effects(simulated)
    assert list(effects["Term"]) == [e["term"] for e in truth["effects"]]
    assert effects["True value"].tolist() == pytest.approx([e["true_value"] for e in truth["effects"]])
    faults = overview.injected_faults(simulated)
    assert faults["Count"].sum() == sum(f["count"] for f in truth["faults"])
    assert "source" not in " ".join(effects.columns).lower()   # sources/… paths are not in the repository
    assert isinstance(overview.raw_distributions(simulated), matplotlib.figure.Figure)
    boris = overview.boris_events(simulated)
    assert boris["Declared in codebook"].all()
    codebook = overview.codebook_table(simulated)
    assert "pii" not in set(codebook["Role"]) and len(codebook) > len(simulated.behaviours)


def test_study_design_steps_say_what_an_own_study_lacks():
    own = current(raw=ROOT / "examples" / "own_study", processed=ROOT / "examples" / "own_study" / "none")
    for step in (overview.design_table, overview.true_effects, overview.injected_faults):
        out = step(own)
        assert isinstance(out, PlainNote) and out == own.ground_truth_note
    assert isinstance(overview.boris_events(own), Table)   # the example has a BORIS export
    assert isinstance(overview.raw_files(own), Table)


# --- notebook 01 ---------------------------------------------------------------------------------

def test_cleaning_steps_account_for_every_record(simulated):
    report = simulated.cleaning_report()
    quarantine = simulated.quarantine()
    files = overview.cleaning_files(simulated)
    assert files["Read"].sum() == report["totals"]["read"] and files["Accounted for"].all()
    reasons = overview.quarantine_reasons(simulated)
    assert reasons["Entries"].sum() == len(quarantine)
    dropped = reasons.loc[reasons["Effect"] == "record dropped", "Entries"].sum()
    assert dropped == (quarantine["scope"] == "row").sum()
    by_file = overview.quarantine_by_file(simulated)
    assert by_file.drop(columns="File").to_numpy().sum() == len(quarantine)
    fates = overview.variables_fate(simulated)
    assert list(fates["Variable"]) == list(report["variables"])
    status = overview.behaviour_status(simulated)
    n = len(simulated.encounters())
    assert (status[["Observed", "Missing", "Not applicable"]].sum(axis=1) == n).all()
    links = overview.link_rates(simulated)
    assert links["Link rate"].tolist() == pytest.approx([v["rate"] for v in report["link_rates"].values()])
    examples = overview.normalisation_examples(simulated)
    assert (examples["Raw"] != examples["Normalised"]).all()
    assert isinstance(overview.quarantine_figure(simulated), matplotlib.figure.Figure)


def test_cleaning_steps_are_skipped_with_one_sentence_for_another_studys_data(simulated):
    other = current(raw=ROOT / "examples" / "own_study", processed=simulated.processed_dir)
    assert not other.processed_matches
    for step in (overview.cleaning_files, overview.quarantine_reasons, overview.quarantine_figure,
                 overview.link_rates, overview.variables_fate, overview.normalisation_examples,
                 overview.behaviour_status, overview.consensus):
        assert isinstance(step(other), PlainNote), step.__name__
    assert other.provenance_note in overview.cleaning_status(other)
    assert overview.cleaning_summary(other) == other.provenance_note


# --- notebook 02 ---------------------------------------------------------------------------------

def test_reliability_steps_equal_the_paper_builder(simulated):
    results = overview.coder_reliability(simulated, n_boot=50, seed=1)
    reference = paper.coder_reliability(simulated, n_boot=50, seed=1)
    pd.testing.assert_frame_equal(pd.DataFrame(results), pd.DataFrame(reference))
    printed = overview.reliability_table(results, simulated)
    assert list(printed["α"]) == list(results["alpha"])
    assert "κ 95% CI" in printed.columns and "coders A, B" in printed.attrs["title"]
    assert printed.attrs["format"]["bounded"] == ["Agreement", "κ", "α", "AC1"]
    attenuation = overview.attenuation_table(results, simulated)
    assert attenuation["Slope retained"].tolist() == pytest.approx(sorted(results["alpha"].clip(lower=0)))
    double = overview.double_coding(simulated)
    assert set(double["Behaviour"]) == {simulated.label(b) for b in results["behaviour"]}
    for figure in (overview.reliability_figure(results, simulated), overview.confusion_figure(results, simulated)):
        assert isinstance(figure, matplotlib.figure.Figure)
    assert isinstance(overview.reliability_summary(results, simulated), Note)


def test_one_coder_skips_reliability_with_one_sentence_handed_on(one_coder):
    note = overview.double_coding(one_coder)
    assert isinstance(note, PlainNote) and note.startswith("Reliability skipped: this study has 1 coder(s) (A)")
    results = overview.coder_reliability(one_coder, n_boot=10)
    assert results == note
    for step in (overview.reliability_table, overview.reliability_figure, overview.confusion_figure,
                 overview.attenuation_table, overview.reliability_summary):
        assert step(results, one_coder) is results, step.__name__
