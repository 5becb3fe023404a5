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
