"""The command line contract (DESIGN.md §5): commands exist, are documented, and fail in one line."""
import subprocess
import sys

import pytest

from svcresearch import cli


@pytest.mark.parametrize("command", ["simulate", "clean", "reproduce", "use"])
def test_every_command_is_documented(command, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])
    assert stop.value.code == 0
    assert "usage: svcresearch " + command in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    done = subprocess.run([sys.executable, "-m", "svcresearch", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "simulate" in done.stdout and "clean" in done.stdout and "reproduce" in done.stdout


def test_missing_raw_folder_is_one_line_exit_2(tmp_path, capsys):
    code = cli.main(["clean", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "nope" in err[0]
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_one_line_exit_2(tmp_path, capsys):
    from svcresearch.config import PROJECT_ROOT

    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    code = cli.main(["clean", "--raw", str(PROJECT_ROOT / "examples" / "own_study"), "--out", str(blocker), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "out" in err[0] and "Traceback" not in err[0]
    assert blocker.read_text() == "not a folder"


def test_simulate_via_cli_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert cli.main(["simulate", "--encounters", "120", "--seed", "5", "--out", str(tmp_path / name), "--quiet"]) == 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) >= 10
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_reproduce_runs_every_notebook_after_a_failure_and_exits_1(tmp_path, capsys, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from svcresearch import pipeline
    from svcresearch.config import PROJECT_ROOT

    folder = tmp_path / "notebooks"
    folder.mkdir()
    sources = {"00_first.ipynb": "import svcresearch\nprint('first ran')",
               "01_broken.ipynb": "import svcresearch\n1 / 0",
               "02_after.ipynb": "import svcresearch\nprint('after ran')"}
    for name, source in sources.items():
        nbformat.write(new_notebook(cells=[new_code_cell(source)]), folder / name)
    assert [p.name for p in pipeline.list_notebooks(folder)] == list(sources)
    monkeypatch.setenv("SVCRESEARCH_KEY", "cli-test-0123456789")
    original = pipeline.list_notebooks
    monkeypatch.setattr(pipeline, "list_notebooks", lambda folder_=None: original(folder))
    code = cli.main(["reproduce", "--raw", str(PROJECT_ROOT / "examples" / "own_study"),
                     "--processed", str(tmp_path / "processed"), "--reports", str(tmp_path / "reports")])
    captured = capsys.readouterr()
    assert code == 1
    summary = [line for line in captured.out.splitlines() if line.startswith(("ok", "failed"))]
    assert [line.split()[:2] for line in summary] == [["ok", "00_first.ipynb"], ["failed", "01_broken.ipynb"],
                                                       ["ok", "02_after.ipynb"]]
    assert summary[1].endswith("ZeroDivisionError: division by zero")
    assert all(line.split()[3] == "s" and float(line.split()[2]) > 0 for line in summary)
    executed = tmp_path / "reports" / "notebooks"
    assert (executed / "02_after.html").is_file() and "after ran" in (executed / "02_after.ipynb").read_text()
    # the failed notebook's report shows this run's error (never an earlier run's results)
    assert (executed / "01_broken.ipynb").is_file()
    assert "ZeroDivisionError" in (executed / "01_broken.html").read_text(encoding="utf-8")
    # and the index links every report, the failed one included
    assert "01_broken.html" in (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    # the error itself is one plain line on stderr (which also carries the cleaning progress)
    err = [line for line in captured.err.splitlines() if "error:" in line]
    assert err == ["svcresearch reproduce: error: 1 of 3 notebooks failed: 01_broken.ipynb "
                   "(ZeroDivisionError: division by zero)"]


def test_reproduce_raises_after_running_every_notebook(tmp_path, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from svcresearch import pipeline

    broken, fine = tmp_path / "00_broken.ipynb", tmp_path / "01_fine.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("raise ValueError('first line' + chr(10) + 'second line')")]), broken)
    nbformat.write(new_notebook(cells=[new_code_cell("import os\nprint(os.environ['SVCRESEARCH_NOTEBOOK'])")]), fine)
    with pytest.raises(pipeline.ReproduceError) as failure:
        pipeline.reproduce(processed=tmp_path / "p", reports=tmp_path / "r", notebooks=[broken, fine], clean=False)
    runs = failure.value.runs
    assert [(r.notebook, r.ok) for r in runs] == [("00_broken.ipynb", False), ("01_fine.ipynb", True)]
    assert runs[0].error == "ValueError: first line"
    assert "01_fine.ipynb" in (tmp_path / "r" / "notebooks" / "01_fine.ipynb").read_text()  # runner names the notebook
