"""The command line contract (DESIGN.md §5): commands exist, are documented, and fail in one line."""
import subprocess
import sys

import pytest

from svcresearch import cli


@pytest.mark.parametrize("command", ["simulate", "clean", "reproduce"])
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


def test_failing_notebook_is_one_readable_line(tmp_path, capsys, monkeypatch):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from svcresearch import pipeline

    broken = tmp_path / "notebooks" / "00_broken.ipynb"
    broken.parent.mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell("import svcresearch\n1 / 0")]), broken)
    monkeypatch.setattr(pipeline, "list_notebooks", lambda folder=None: [broken])
    code = cli.main(["reproduce", "--processed", str(tmp_path / "processed"), "--reports", str(tmp_path / "reports")])
    # stderr also carries the cleaning progress bar; the error itself is one plain line
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 1
    assert len(err) == 1 and err[0].startswith("svcresearch reproduce: error: notebook 00_broken.ipynb")
    assert "ZeroDivisionError" in err[0] and "\x1b[" not in err[0] and "Traceback" not in err[0]
