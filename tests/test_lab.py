"""`make lab`: the kernel it registers and the JupyterLab command it runs (root/user, display/headless)."""
import json
import sys

import pytest

from svcresearch import config, lab, nbstrip


def test_kernel_is_installed_into_the_given_prefix_and_runs_this_python(tmp_path):
    folder = lab.install_kernel(prefix=tmp_path)
    assert folder == tmp_path / "share" / "jupyter" / "kernels" / "svcresearch"
    spec = json.loads((folder / "kernel.json").read_text(encoding="utf-8"))
    assert spec["display_name"] == "svcresearch (.venv)" == nbstrip.KERNEL_DISPLAY_NAME
    assert spec["argv"][0] == sys.executable and spec["language"] == "python"
    assert lab.install_kernel(prefix=tmp_path) == folder  # idempotent


@pytest.mark.parametrize("euid, allow_root", [(0, True), (1000, False)])
def test_allow_root_only_for_root(euid, allow_root):
    cmd = lab.lab_command(euid=euid, open_browser=True)
    assert ("--allow-root" in cmd) is allow_root
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert f"--ServerApp.root_dir={config.notebooks_dir().resolve()}" in cmd
    assert "--ContentsManager.post_save_hook=svcresearch.nbstrip.refresh_git_index" in cmd


@pytest.mark.parametrize("environ, platform, expected", [
    ({}, "linux", False), ({"DISPLAY": ":0"}, "linux", True), ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
    ({}, "darwin", True), ({}, "win32", True)])
def test_no_browser_without_a_display(environ, platform, expected):
    assert lab.wants_browser(environ=environ, platform=platform) is expected
    cmd = lab.lab_command(open_browser=lab.wants_browser(environ=environ, platform=platform), euid=1000)
    assert ("--no-browser" in cmd) is (not expected)


def test_port_token_and_extra_options(tmp_path):
    cmd = lab.lab_command(root_dir=tmp_path, port=8899, token="abc", ip="127.0.0.1", open_browser=False,
                          euid=1000, extra=["--ServerApp.log_level=WARN"])
    assert {f"--ServerApp.root_dir={tmp_path.resolve()}", "--ServerApp.port=8899", "--IdentityProvider.token=abc",
            "--ServerApp.ip=127.0.0.1", "--no-browser"} <= set(cmd)
    assert cmd[-1] == "--ServerApp.log_level=WARN"
    with pytest.raises(ValueError, match="port"):
        lab.lab_command(port=70000)
