"""``make lab``: register the project's Jupyter kernel and open the notebooks in JupyterLab.

The kernel "svcresearch (.venv)" is installed into the project's own environment
(``<sys.prefix>/share/jupyter/kernels/svcresearch``, like ``ipykernel install --sys-prefix``), so
nothing outside the project is touched. Lab starts on ``notebooks/``; kernels started from it see
the active study through :mod:`svcresearch.config` (``svcresearch use PATH`` records it in a
project file), so no environment variable is needed. When the active study has no processed data
(or they were cleaned from another study or an earlier version of it), it is cleaned first.

Command line (``make lab [STUDY=PATH]`` runs it)::

    python -m svcresearch.lab [--study PATH] [--port N] [--no-clean] [JUPYTER-LAB-OPTIONS ...]
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from svcresearch import config
from svcresearch._validation import InputError, check_number
from svcresearch.nbstrip import KERNEL_DISPLAY_NAME, KERNEL_NAME


def install_kernel(*, prefix: str | os.PathLike | None = None) -> Path:
    """Register the project's kernel ("svcresearch (.venv)") for this Python; return its folder.

    Parameters
    ----------
    prefix : path, optional
        Installation prefix; default ``sys.prefix`` (the project's ``.venv``). The kernel spec is
        written to ``<prefix>/share/jupyter/kernels/svcresearch`` and runs this interpreter.

    Notes
    -----
    Same as ``python -m ipykernel install --prefix PREFIX --name svcresearch --display-name
    "svcresearch (.venv)"``; idempotent. The browser test (tests/test_browser.py) installs it
    into a temporary prefix and runs a notebook with it in JupyterLab.
    """
    from ipykernel.kernelspec import install

    prefix = str(prefix) if prefix is not None else sys.prefix
    return Path(install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, prefix=prefix))


def wants_browser(*, environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Lab may open a browser: not on a Linux/BSD machine without a display."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin")):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def lab_command(*, root_dir: str | os.PathLike | None = None, port: int | None = None,
                token: str | None = None, open_browser: bool | None = None, euid: int | None = None,
                ip: str | None = None, extra: Sequence[str] = ()) -> list[str]:
    """The JupyterLab command line ``make lab`` runs (also used by the browser test).

    Parameters
    ----------
    root_dir : path, optional
        Folder Lab serves; default ``notebooks/``.
    port : int, optional
        Port; default Lab's (8888, or the next free one).
    token : str, optional
        Access token; default Lab generates one and prints the URL with it.
    open_browser : bool, optional
        Default :func:`wants_browser` (no browser without a display; Lab then prints the URL).
    euid : int, optional
        Effective user id; default the current one. ``--allow-root`` is added only for root.
    ip : str, optional
        Address to listen on; default Lab's (localhost).
    extra : sequence of str
        Further ``jupyter lab`` options, passed through unchanged.

    Returns
    -------
    list of str
        ``[python, "-m", "jupyterlab", ...]`` with this interpreter; saving a notebook runs
        :func:`svcresearch.nbstrip.refresh_git_index`.
    """
    root = Path(root_dir) if root_dir is not None else config.notebooks_dir()
    if port is not None:
        check_number("port", port, low=1, high=65535, integer=True)
    if open_browser is None:
        open_browser = wants_browser()
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root.resolve()}",
           # a save that changed only outputs leaves `git status` clean (see svcresearch.nbstrip)
           "--ContentsManager.post_save_hook=svcresearch.nbstrip.refresh_git_index",
           # no update checks against the network
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if port is not None:
        cmd.append(f"--ServerApp.port={int(port)}")
    if token is not None:
        cmd.append(f"--IdentityProvider.token={token}")
    if ip is not None:
        cmd.append(f"--ServerApp.ip={ip}")
    if not open_browser:
        cmd.append("--no-browser")
    if euid == 0:
        cmd.append("--allow-root")
    cmd.extend(extra)
    return cmd


def ensure_processed(*, clean: bool = True) -> str:
    """Clean the active study when its processed data are missing or belong to another study.

    Returns
    -------
    str
        One line saying which study and processed folder the notebooks will use.
    """
    from svcresearch.study import current

    study = current()
    if not study.processed_matches:
        if not clean:
            return f"study '{study.name}' ({study.raw_dir}): {study.provenance_note}"
        print(f"cleaning study '{study.name}' ({study.raw_dir}) -> {study.processed_dir}", flush=True)
        from svcresearch.clean import clean_study

        clean_study(study.raw_dir, out=study.processed_dir, progress=True)
    source = config.active_study_source()
    how = {"default": "the default study", "project file": "set by `svcresearch use`",
           "environment": "from SVCRESEARCH_DATA_RAW"}.get(source, source)
    return f"active study '{study.name}' ({how}): {study.raw_dir}; processed data in {study.processed_dir}"


def main(argv: Sequence[str] | None = None) -> int:
    """Register the kernel, make the active study's processed data current, and exec JupyterLab."""
    parser = argparse.ArgumentParser(prog="python -m svcresearch.lab",
                                     description="Open the notebooks in JupyterLab on the active study "
                                                 "with the project's kernel. Unknown options go to jupyter lab.")
    parser.add_argument("--study", type=Path, help="make this raw study folder the active one first "
                                                   "(as `svcresearch use PATH`)")
    parser.add_argument("--port", type=int, help="port for JupyterLab (default 8888 or the next free)")
    parser.add_argument("--no-clean", action="store_true",
                        help="do not clean the active study when its processed data are missing or stale")
    args, extra = parser.parse_known_args(argv)
    try:
        if args.study is not None:
            config.use_study(args.study)
        kernel = install_kernel()
        print(f"kernel '{KERNEL_DISPLAY_NAME}' registered in {kernel}", flush=True)
        print(ensure_processed(clean=not args.no_clean), flush=True)
        cmd = lab_command(port=args.port, extra=extra)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "--no-browser" in cmd:
        print("no display: open the http://127.0.0.1:...?token=... URL that JupyterLab prints below "
              "in a browser (over ssh: forward the port first, e.g. ssh -L 8888:localhost:8888 HOST).", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
