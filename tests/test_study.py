"""The active study (`svcresearch use`), the Study object and its provenance check.

The project file is redirected to a temporary path (``config.STUDY_FILE``) so that the tests never
change the active study of the checkout they run in.
"""
import json
import shutil
from pathlib import Path

import pytest

from svcresearch import cli, config, study
from svcresearch._validation import InputError
from svcresearch.clean import clean_study, load_study, study_checksum

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "examples" / "own_study"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A temporary project file and no folder overrides from the environment."""
    monkeypatch.setattr(config, "STUDY_FILE", tmp_path / ".svcresearch_study")
    for var in (config.ENV_RAW, config.ENV_PROCESSED, config.ENV_REPORTS):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SVCRESEARCH_KEY", "study-test-0123456789")


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory):
    """Study A (a copy of examples/own_study) and study B (the same files, another name), A cleaned."""
    base = tmp_path_factory.mktemp("studies")
    a, b = base / "a", base / "b"
    shutil.copytree(OWN, a)
    shutil.copytree(OWN, b)
    spec = (b / "study.yaml").read_text(encoding="utf-8")
    name = load_study(a).name
    (b / "study.yaml").write_text(spec.replace(f"name: {name}", "name: study-b"), encoding="utf-8")
    assert load_study(b).name == "study-b"
    (a / "ground_truth.json").write_text(json.dumps({"design": {"encounters": 3}}), encoding="utf-8")
    (b / "ground_truth.json").write_text(json.dumps({"design": {"encounters": 4}}), encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv("SVCRESEARCH_KEY", "study-test-0123456789")
    try:
        clean_study(a, out=base / "processed_a", progress=False)
    finally:
        mp.undo()
    return {"a": a, "b": b, "processed_a": base / "processed_a"}


def test_use_round_trip(tmp_path, capsys):
    assert config.data_raw() == config.default_raw()
    assert cli.main(["use", str(OWN)]) == 0
    assert config.STUDY_FILE.read_text(encoding="utf-8").strip() == "examples/own_study"  # inside the project: relative
    assert config.data_raw() == OWN.resolve()
    assert config.active_study_source() == "project file"
    slug = config.study_slug(OWN)
    assert slug == load_study(OWN).name.lower()
    assert config.data_processed() == ROOT / "data" / "processed" / "studies" / slug
    assert config.reports() == ROOT / "reports" / "studies" / slug
    capsys.readouterr()
    assert cli.main(["use"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"active study: {OWN.resolve()}")
    assert cli.main(["use", "--default"]) == 0
    assert not config.STUDY_FILE.exists()
    assert config.data_raw() == config.default_raw()
    assert config.data_processed() == ROOT / "data" / "processed"
    assert config.reports() == ROOT / "reports"


def test_use_outside_the_project_records_an_absolute_path(tmp_path, two_studies):
    config.use_study(two_studies["b"])
    assert Path(config.STUDY_FILE.read_text(encoding="utf-8").strip()) == two_studies["b"].resolve()
    assert config.data_processed().name == "study-b"


def test_environment_overrides_the_project_file(tmp_path, monkeypatch, two_studies):
    config.use_study(two_studies["b"])
    monkeypatch.setenv(config.ENV_RAW, str(two_studies["a"]))
    assert config.data_raw() == two_studies["a"].resolve()
    assert config.active_study_source() == "environment"
    monkeypatch.setenv(config.ENV_PROCESSED, str(tmp_path / "p"))
    monkeypatch.setenv(config.ENV_REPORTS, str(tmp_path / "r"))
    assert config.data_processed() == tmp_path / "p" and config.reports() == tmp_path / "r"


@pytest.mark.parametrize("make", ["missing", "no_study_yaml", "bad_codebook"])
def test_use_rejects_a_folder_without_a_study_in_one_line(make, tmp_path, capsys):
    target = tmp_path / "target"
    if make != "missing":
        target.mkdir()
    if make == "bad_codebook":
        (target / "study.yaml").write_text("name: x\ncodebook: nope.yaml\nfiles: [{path: a.csv, kind: coding}]\n",
                                           encoding="utf-8")
    config.use_study(OWN)
    before = config.STUDY_FILE.read_text(encoding="utf-8")
    assert cli.main(["use", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("svcresearch use: error:") and str(target) in err[0]
    assert {"missing": "not a folder", "no_study_yaml": "no study.yaml",
            "bad_codebook": "nope.yaml"}[make] in err[0]
    assert config.STUDY_FILE.read_text(encoding="utf-8") == before  # unchanged


def test_use_path_and_default_together_is_an_error(capsys):
    assert cli.main(["use", str(OWN), "--default"]) == 2
    assert "not both" in capsys.readouterr().err


def test_study_matching_its_processed_data(two_studies):
    s = study.current(raw=two_studies["a"], processed=two_studies["processed_a"])
    assert s.processed_matches and s.provenance_note == ""
    assert s.ground_truth == {"design": {"encounters": 3}}
    report = s.cleaning_report()
    assert report["study"] == s.name and report["study_checksum"] == study_checksum(load_study(two_studies["a"]))
    assert len(s.encounters()) == report["encounters"]["encounters"]
    assert set(s.coding_long()["behaviour"].unique()) <= set(s.behaviours)
    assert s.hypotheses_path == load_study(two_studies["a"]).hypotheses_path
    assert s.name in repr(s) and s.name in s._repr_html_()


def test_processed_data_of_another_study_give_the_provenance_sentence_and_no_truth(two_studies):
    s = study.current(raw=two_studies["b"], processed=two_studies["processed_a"])
    a_name = load_study(two_studies["a"]).name
    assert not s.processed_matches
    assert s.ground_truth is None  # b has a ground_truth.json, but the processed data are a's
    note = s.provenance_note
    assert f"cleaned from study '{a_name}', not from the active study 'study-b'" in note
    assert "svcresearch clean" in note and note.count(". ") == 0  # one sentence
    assert "not cleaned from this raw study" in s.ground_truth_note
    assert note in repr(s)


def test_an_edited_raw_study_no_longer_matches(tmp_path, two_studies):
    raw = tmp_path / "a"
    shutil.copytree(two_studies["a"], raw)
    s = study.current(raw=raw, processed=two_studies["processed_a"])
    assert s.processed_matches  # same name and files: the same study wherever it lies
    with open(raw / "codebook.yaml", "a", encoding="utf-8") as fh:
        fh.write("\n# edited\n")
    s = study.current(raw=raw, processed=two_studies["processed_a"])
    assert not s.processed_matches and s.ground_truth is None
    assert "earlier version" in s.provenance_note


def test_no_processed_data(tmp_path, two_studies):
    s = study.current(raw=two_studies["a"], processed=tmp_path / "empty")
    assert "There are no processed data" in s.provenance_note and s.ground_truth is None
    with pytest.raises(InputError, match="encounters.parquet: not found"):
        s.encounters()
    assert s.describe().startswith(f"Study '{s.name}' has")


def test_current_follows_the_active_study(two_studies):
    config.use_study(two_studies["a"])
    s = study.current()
    assert s.raw_dir == two_studies["a"].resolve()
    assert s.processed_dir == config.data_processed()
    assert s.reports_dir == config.reports()


def test_labels_come_from_the_codebook(two_studies):
    s = study.current(raw=two_studies["a"], processed=two_studies["processed_a"])
    for name in s.behaviours:
        var = s.codebook[name]
        assert s.label(name) == var.label_en and s.label(name, language="fi") == var.label_fi
    assert s.label("not_a_variable") == "not_a_variable"
    with pytest.raises(ValueError, match="language"):
        s.label(s.behaviours[0], language="sv")


def test_cleaning_summary_is_generated_from_the_report(two_studies):
    s = study.current(raw=two_studies["a"], processed=two_studies["processed_a"])
    report = s.cleaning_report()
    text = s.cleaning_summary()
    assert f"read {report['totals']['read']:,} raw records" in text
    assert f"{report['encounters']['encounters']:,} encounters" in text
