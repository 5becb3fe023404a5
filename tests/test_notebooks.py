"""Every notebook is committed clean and runs top to bottom headless on the default study.

The execution tests run the real main job (`svcresearch.pipeline.reproduce`) on the committed
`data/raw`, but into a temporary folder so the suite never touches the user's `data/processed`
or `reports/`.
"""
import ast
import json
from pathlib import Path

import pytest

from svcresearch import pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = pipeline.list_notebooks(ROOT / "notebooks")


def _code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == sorted(p.name[:2] for p in NOTEBOOKS)
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    for cell in _code_cells(path):
        assert not cell.get("outputs"), f"{path.name}: a code cell has outputs"
        assert cell.get("execution_count") is None, f"{path.name}: a code cell has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_functions_and_imports_svcresearch_first(path):
    cells = _code_cells(path)
    first = ast.parse("".join(cells[0]["source"]))
    imported = [n.module if isinstance(n, ast.ImportFrom) else n.names[0].name
                for n in first.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert any(name and name.startswith("svcresearch") for name in imported), \
        f"{path.name}: the first code cell must import from svcresearch"
    for cell in cells:
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"{path.name}: notebooks define no functions (found {type(defined[0]).__name__})"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_cells_have_no_branches_or_loops(path):
    """A cell is a step a student can follow: calls into the package, no `if`, loop or `def` (DESIGN §10)."""
    for cell in _code_cells(path):
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(l for l in source.splitlines() if not l.lstrip().startswith(("%", "!"))))
        found = [n for n in ast.walk(tree) if isinstance(n, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While,
                                                              ast.ListComp, ast.SetComp, ast.DictComp,
                                                              ast.GeneratorExp, ast.FunctionDef,
                                                              ast.AsyncFunctionDef, ast.Lambda))]
        assert not found, (f"{path.name}: a code cell has {type(found[0]).__name__} on line {found[0].lineno}: "
                           f"{source.splitlines()[found[0].lineno - 1].strip()!r}")


@pytest.fixture(scope="module")
def pipeline_dirs(tmp_path_factory):
    """Clean the committed default study once into a temporary processed folder."""
    base = tmp_path_factory.mktemp("reproduce")
    dirs = {"raw": ROOT / "data" / "raw", "processed": base / "processed", "reports": base / "reports"}
    pipeline.reproduce(**dirs, notebooks=[])  # cleaning step only
    return dirs


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_headless(path, pipeline_dirs):
    executed = pipeline.reproduce(**pipeline_dirs, notebooks=[path], clean=False)
    out = pipeline_dirs["reports"] / "notebooks"
    assert executed == [out / path.name]
    html = (out / path.name).with_suffix(".html").read_text(encoding="utf-8")
    assert "Traceback" not in html
    nb = json.loads((out / path.name).read_text(encoding="utf-8"))
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_names_no_variable_of_the_default_study(path):
    """Behaviours, outcomes and context come from the study's codebook, never from code cells."""
    import re

    from svcresearch.codebook import load_codebook

    codebook = load_codebook(ROOT / "data" / "raw" / "codebook.yaml")
    names = sorted({v.out_name for v in codebook.variables.values() if v.role != "id"} | set(codebook.scales))
    quoted = re.compile(r"""["'](%s)["'\[]""" % "|".join(map(re.escape, names)))
    for cell in _code_cells(path):
        found = quoted.findall("".join(cell["source"]))
        assert not found, f"{path.name}: code cell names default-study variable(s) {sorted(set(found))}"


def test_overview_notebooks_say_when_processed_data_belong_to_another_study(pipeline_dirs, tmp_path):
    """Study B active, processed data cleaned from the default study: the note, and no ground truth."""
    import shutil

    raw = tmp_path / "own"
    shutil.copytree(ROOT / "examples" / "own_study", raw)
    (raw / "ground_truth.json").write_text(json.dumps({"design": {"encounters": 999}}), encoding="utf-8")
    first = [p for p in NOTEBOOKS if p.name.startswith(("00_", "01_", "02_"))]
    executed = pipeline.reproduce(raw=raw, processed=pipeline_dirs["processed"], reports=tmp_path / "reports",
                                  notebooks=first, clean=False)
    for path in executed:
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                       for o in c.get("outputs", []) if o.get("output_type") == "stream")
        assert "were cleaned from study 'default-study', not from the active study 'own-pilot'" in text, path.name
        assert "999" not in text and "True effects and injected faults are known" not in text, path.name
    assert not (tmp_path / "reports" / "tables" / "table00_true_effects.csv").exists()
