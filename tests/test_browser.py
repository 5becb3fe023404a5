"""The notebooks and the reports in a real browser: JupyterLab in headless Chromium, then the report index.

One JupyterLab server (started with the command ``make lab`` uses, :func:`svcresearch.lab.lab_command`)
serves a temporary copy of an analysis notebook on a free loopback port with a random token; the
kernel is the project's "svcresearch (.venv)" kernel, and the study is a small simulated one
cleaned into a temporary folder. Chromium (Debian ``chromium`` + ``chromium-driver``, driven by
Selenium) opens the notebook, runs all cells through Lab's Run menu, saves it through the File menu,
and the test checks that no cell shows an error, that a figure and a formatted table rendered, and
that the save left ``git status`` clean. A second test exports that executed notebook with
:func:`svcresearch.report_site.export_html`, writes the index, opens ``index.html`` and follows
every link. Screenshots go to ``$SVCRESEARCH_SCREENSHOTS`` (default: the test's temporary folder).

Skipped, with the reason, where Chromium, chromedriver or Selenium is missing (``.ci/run`` installs
them from Debian). The server is always stopped (its kernels shut down, then its process group).
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from svcresearch import lab, nbstrip, report_site

ROOT = Path(__file__).resolve().parents[1]
#: The notebook run in Lab: it saves a figure and tables and is quick on a small study.
NOTEBOOK = "01_clean_and_validate.ipynb"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
GIT = shutil.which("git")
RUN_ALL_TIMEOUT = 240  # seconds for "Run All": ~30 s on an idle 2-core machine, a guard against a hang


def _missing() -> str | None:
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "Chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver; .ci/run does this as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -c requirements.lock -e '.[dev]')"
    if GIT is None:
        return "git is not installed (the test checks that a save in Lab leaves git status clean)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=str(_missing()))


def _run(args, **kwargs):
    out = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert out.returncode == 0, f"{' '.join(map(str, args))} failed:\n{out.stderr[-2000:]}"
    return out.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:  # loopback only
        body = response.read()
    return json.loads(body) if body else None


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SVCRESEARCH_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """A small simulated study, cleaned: the folders the notebook's kernel sees through SVCRESEARCH_*."""
    base = tmp_path_factory.mktemp("study")
    cli = [sys.executable, "-m", "svcresearch"]
    _run([*cli, "simulate", "--encounters", "300", "--seed", "1", "--out", str(base / "raw")])
    _run([*cli, "clean", "--raw", str(base / "raw"), "--out", str(base / "processed")])
    return {"raw": base / "raw", "processed": base / "processed", "reports": base / "reports"}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git work tree holding a stripped copy of the notebook, with the filter `make setup` configures."""
    repo = tmp_path_factory.mktemp("project")
    (repo / "notebooks").mkdir()
    for name in (".gitattributes", ".gitignore"):  # the project's: checkpoints are ignored
        shutil.copy(ROOT / name, repo / name)
    copy = repo / "notebooks" / NOTEBOOK
    copy.write_text(nbstrip.strip_text((ROOT / "notebooks" / NOTEBOOK).read_text(encoding="utf-8")), encoding="utf-8")
    for args in (["init", "-q"], ["config", "user.email", "test@example.org"], ["config", "user.name", "test"],
                 ["config", "filter.svcresearch-strip.clean", f"'{sys.executable}' -m svcresearch.nbstrip"],
                 ["add", "."], ["commit", "-q", "-m", "notebook"]):
        _run([GIT, "-C", str(repo), *args])
    return repo


@pytest.fixture(scope="module")
def server(project, study, tmp_path_factory):
    """JupyterLab on a free loopback port with a random token; always stopped afterwards."""
    home = tmp_path_factory.mktemp("jupyter")
    kernel_prefix = home / "prefix"
    lab.install_kernel(prefix=kernel_prefix)  # the project's kernel, outside .venv for the test
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the DOM (Lab otherwise renders only the cells near the viewport)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}), encoding="utf-8")
    # no "get notified about Jupyter news?" prompt over the screenshots (there is no network anyway)
    (settings.parent / "apputils-extension").mkdir()
    (settings.parent / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false"}), encoding="utf-8")
    env = {**os.environ,
           "JUPYTER_PATH": str(kernel_prefix / "share" / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "SVCRESEARCH_DATA_RAW": str(study["raw"]), "SVCRESEARCH_DATA_PROCESSED": str(study["processed"]),
           "SVCRESEARCH_REPORTS": str(study["reports"]), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    env.pop("DISPLAY", None)
    port, token = _free_port(), secrets.token_hex(16)
    cmd = lab.lab_command(root_dir=project / "notebooks", port=port, token=token, ip="127.0.0.1",
                          open_browser=False,
                          extra=[f"--LabApp.user_settings_dir={home / 'settings'}",
                                 f"--LabApp.workspaces_dir={home / 'workspaces'}",
                                 "--ServerApp.port_retries=0", "--LabApp.news_url=None"])
    log = (home / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited ({proc.returncode}):\n{(home / 'server.log').read_text()[-3000:]}")
            try:
                _api(base, token, "/api/status")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer in 60 s:\n{(home / 'server.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "log": home / "server.log"}
    finally:
        try:
            for kernel in _api(base, token, "/api/kernels") or []:
                _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except Exception:  # noqa: BLE001 - the server may already be gone; the signals below still run
            pass
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if proc.poll() is not None:
                break
            os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, condition, timeout, what):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(condition, message=f"timed out: {what}")


def _menu(driver, menu: str, command: str):
    """Click a Lab menu-bar entry, then the item that runs ``command`` (as a user does)."""
    from selenium.webdriver.common.by import By

    labels = driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-itemLabel")
    next(label for label in labels if label.text.strip() == menu).click()
    item = _wait(driver, lambda d: next(iter(d.find_elements(
        By.CSS_SELECTOR, f'.lm-Menu-item[data-command="{command}"]')), False), 10, f"menu item {command}")
    item.click()


_PROMPTS_JS = """
return [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')]
  .map(c => (c.querySelector('.jp-InputPrompt') || {}).textContent || '').map(t => t.trim());
"""

_OUTPUTS_JS = """
const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
const imgs = [...panel.querySelectorAll('.jp-OutputArea-output img')]
  .filter(i => i.complete && i.naturalWidth > 50);
const tables = [...panel.querySelectorAll('.jp-OutputArea-output table')].map(t => ({
  header: [...t.querySelectorAll('thead th')].map(th => th.textContent.trim()),
  rows: [...t.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent.trim()))}));
const errors = [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Traceback|Error:|Exception:/.test(t));
return {images: imgs.length, tables: tables, errors: errors};
"""

#: a raw float as pandas prints it (six decimals or scientific notation) is not a formatted number
_RAW_NUMBER = re.compile(r"^-?\d+\.\d{5,}$|^-?\d+(\.\d+)?e[-+]\d+$|^(nan|NaN|None|<NA>)$")


@pytest.fixture(scope="module")
def executed_in_lab(server, browser, project, shots):
    """Open the notebook in Lab, Run All, Save; return the saved notebook's path and what rendered."""
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(f"{server['base']}/lab/tree/{NOTEBOOK}?token={server['token']}")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell"), 60,
          "the notebook's cells in Lab")
    # the project's kernel is started for the notebook (no kernel-selection dialog)
    _wait(driver, lambda d: any(nbstrip.KERNEL_DISPLAY_NAME in e.text for e in d.find_elements(
        By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Toolbar-kernelName")), 60, "the svcresearch kernel")
    _wait(driver, lambda d: [k["execution_state"] for k in _api(server["base"], server["token"], "/api/kernels")]
          == ["idle"], 60, "the kernel to be idle")
    _menu(driver, "Run", "runmenu:run-all")
    start = time.monotonic()

    def finished(d):
        prompts = d.execute_script(_PROMPTS_JS)
        return prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)

    try:
        _wait(driver, finished, RUN_ALL_TIMEOUT, "Run All to finish")
    finally:
        driver.save_screenshot(str(shots / "lab_after_run_all.png"))
    elapsed = time.monotonic() - start
    rendered = driver.execute_script(_OUTPUTS_JS)
    # scroll to the first figure for a second screenshot
    driver.execute_script("const i = document.querySelector('.jp-NotebookPanel .jp-OutputArea-output img');"
                          "if (i) i.scrollIntoView({block: 'center'});")
    driver.save_screenshot(str(shots / "lab_figure.png"))

    _menu(driver, "File", "docmanager:save")
    saved = project / "notebooks" / NOTEBOOK
    _wait(driver, lambda d: any(c.get("outputs") for c in json.loads(saved.read_text(encoding="utf-8"))["cells"]
                                if c["cell_type"] == "code"), 30, "the save to reach the disk")
    _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, ".jp-mod-dirty"), 30, "Lab to mark it saved")
    time.sleep(1)  # the post-save hook runs right after the file is written
    print(f"Run All took {elapsed:.1f} s")
    return {"path": saved, "rendered": rendered, "seconds": elapsed}


def test_run_all_in_jupyterlab_shows_no_error_and_renders_a_figure_and_a_table(executed_in_lab):
    rendered = executed_in_lab["rendered"]
    assert rendered["errors"] == [], f"a cell shows an error: {rendered['errors'][0][:500]}"
    saved = nbformat.read(executed_in_lab["path"], as_version=4)
    errors = [o for c in saved.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == [], f"{errors[0].ename}: {errors[0].evalue}" if errors else ""
    assert rendered["images"] >= 1, "no figure rendered"
    tables = [t for t in rendered["tables"] if t["header"] and t["rows"]]
    assert tables, "no table rendered"
    formatted = [t for t in tables if not any(_RAW_NUMBER.match(cell) for row in t["rows"] for cell in row)]
    assert formatted, f"every table shows raw numbers, e.g. {tables[0]['rows'][:2]}"


def test_saving_in_lab_leaves_git_status_clean(executed_in_lab, project):
    assert _run([GIT, "-C", str(project), "status", "--porcelain"]) == ""
    assert _run([GIT, "-C", str(project), "diff"]) == ""


def test_report_index_opens_and_every_link_resolves(executed_in_lab, study, browser, shots):
    from selenium.webdriver.common.by import By

    reports = study["reports"]
    notebook = nbformat.read(executed_in_lab["path"], as_version=4)
    (reports / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, reports / "notebooks" / NOTEBOOK)
    report, code = report_site.export_html(notebook, reports / "notebooks" / NOTEBOOK.replace(".ipynb", ".html"))
    index = report_site.write_index(reports)

    driver = browser
    driver.get(index.as_uri())
    assert driver.title.startswith("Reports")
    driver.save_screenshot(str(shots / "report_index.png"))
    images = driver.execute_script("return [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth]);")
    assert images and all(width > 0 for _, width in images), f"thumbnails that did not load: {images}"
    hrefs = driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href);")
    files = {Path(unquote(urlsplit(h).path)) for h in hrefs if urlsplit(h).scheme == "file"}
    assert all(urlsplit(h).scheme == "file" for h in hrefs), "the index links outside the reports folder"
    missing = sorted(str(f) for f in files if not f.is_file())
    assert not missing, f"links that do not resolve: {missing}"
    assert report in files and code in files
    assert any(f.parent.name == "figures" for f in files) and any(f.parent.name == "tables" for f in files)

    # follow every link the browser can show: the pages load, the images decode
    for target in sorted(files):
        driver.get(target.as_uri())
        if target.suffix == ".html":
            assert driver.find_elements(By.TAG_NAME, "body"), target
        elif target.suffix == ".png":  # Chromium shows an image file in an <img>
            width = driver.execute_script("const i = document.querySelector('img'); return i ? i.naturalWidth : 0;")
            assert width > 0, f"{target.name} does not display"
        elif target.suffix == ".svg":  # the document is the SVG itself
            width = driver.execute_script("const r = document.documentElement; return r.tagName === 'svg' ? "
                                          "r.getBoundingClientRect().width : 0;")
            assert width > 0, f"{target.name} does not display"

    # the notebook report: code hidden, contents that jump to sections, a link to the version with code
    driver.get(report.as_uri())
    assert not driver.find_elements(By.CSS_SELECTOR, ".jp-InputArea-editor")  # no code (Markdown is shown)
    toc = driver.find_elements(By.CSS_SELECTOR, "nav.svc-toc a")
    assert len(toc) >= 2
    assert all(driver.find_elements(By.ID, unquote(urlsplit(a.get_attribute("href")).fragment)) for a in toc)
    driver.save_screenshot(str(shots / "report_notebook.png"))
    driver.find_element(By.CSS_SELECTOR, "a.svc-other").click()
    _wait(driver, lambda d: d.current_url.endswith(".code.html"), 10, "the version with code")
    assert driver.find_elements(By.CSS_SELECTOR, ".jp-CodeCell .jp-InputArea-editor")
    driver.save_screenshot(str(shots / "report_notebook_code.png"))
