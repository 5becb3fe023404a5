"""Command line: ``svcresearch simulate | clean | reproduce | use`` (contract: DESIGN.md §5).

User mistakes (bad input files, bad arguments) end with exit code 2 and one plain line on stderr
that names the file, the column and what was expected; never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from svcresearch import config
from svcresearch._validation import InputError

EXIT_USER_ERROR = 2
EXIT_FAILED = 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svcresearch",
        description="Clean coded service-interaction logs and test how behaviours predict satisfaction.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser(
        "simulate",
        help="write a complete simulated raw study (same seed -> identical files)",
        description=(
            "Write a complete simulated raw study: coding sheets (coder A for every encounter, coder B "
            "for a reliability subsample), BORIS exports of a video subsample, a post-encounter survey "
            "(SPSS .sav and Finnish-Excel CSV), an operations log, the codebook, study.yaml and "
            "ground_truth.json with every true parameter and injected fault. The generative model is "
            "documented in svcresearch.simulate. The same --seed gives byte-identical files."
        ),
    )
    sim.add_argument("--encounters", type=int, default=2400, help="number of encounters (default 2400)")
    sim.add_argument("--seed", type=int, default=config.DEFAULT_SEED, help=f"random seed (default {config.DEFAULT_SEED})")
    sim.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty unless --force)")
    sim.add_argument("--force", action="store_true", help="overwrite the simulator's files in a non-empty --out")
    sim.add_argument("--quiet", action="store_true", help="no progress output")

    cln = sub.add_parser(
        "clean",
        help="clean a raw study into analysis-ready, pseudonymised outputs",
        description=(
            "Read every file named in RAW/study.yaml, normalise it with the codebook, validate, link "
            "coding <-> operations <-> survey and write encounters.parquet, coding_long.parquet, "
            "quarantine.csv, cleaning_report.json/.md and datapackage.json to OUT. Exit 0 when it ran "
            "(quarantined rows are not a failure); exit 2 with one line when the input is unusable."
        ),
    )
    cln.add_argument("--raw", type=Path, default=None,
                     help="raw study folder (default: the active study, see `svcresearch use`)")
    cln.add_argument("--out", type=Path, default=None,
                     help="output folder (default: the study's processed folder, data/processed for data/raw)")
    cln.add_argument("--quiet", action="store_true", help="no progress output")

    rep = sub.add_parser(
        "reproduce",
        help="clean the active study, execute every notebook in order, fill its reports folder",
        description="Clean the raw study, then execute every notebook in notebooks/ in order (headless) "
        "into REPORTS/notebooks/ as .ipynb and .html; the notebooks fill REPORTS/figures and REPORTS/tables. "
        "Every notebook runs even when an earlier one fails; one line per notebook says ok or failed, "
        "the seconds it took and the error. Exit 1 when any notebook failed, 2 when the raw study is unusable.",
    )
    rep.add_argument("--raw", type=Path, default=None,
                     help="raw study folder (default: the active study, see `svcresearch use`)")
    rep.add_argument("--processed", type=Path, default=None,
                     help="processed folder (default: the study's, data/processed for data/raw)")
    rep.add_argument("--reports", type=Path, default=None,
                     help="reports folder (default: the study's, reports for data/raw)")

    use = sub.add_parser(
        "use",
        help="show or set the active study that every command and notebook works on",
        description="Without PATH: print the active study and its processed and reports folders. With "
        "PATH: make the raw study folder PATH (holding study.yaml) the active study for every process -- "
        "the CLI, make, and Jupyter kernels started from JupyterLab -- by recording it in the git-ignored "
        "file .svcresearch_study at the project root. --default goes back to data/raw. The environment "
        "variable SVCRESEARCH_DATA_RAW, when set, overrides the recorded study. Non-default studies "
        "keep their outputs in data/processed/studies/<name> and reports/studies/<name>.",
    )
    use.add_argument("path", type=Path, nargs="?", default=None, metavar="PATH",
                     help="raw study folder holding study.yaml")
    use.add_argument("--default", action="store_true", help="make the default study data/raw active again")
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        from svcresearch.simulate import simulate_study

        simulate_study(n_encounters=args.encounters, seed=args.seed, out=args.out,
                       overwrite=args.force, progress=not args.quiet)
        return 0
    if args.command == "clean":
        from svcresearch.clean import clean_study, report_notes

        raw = args.raw or config.data_raw()
        report = clean_study(raw, out=args.out or config.data_processed(raw=raw), progress=not args.quiet)
        for note in report_notes(report):
            print(f"svcresearch clean: note: {note}", file=sys.stderr)
        return 0
    if args.command == "reproduce":
        from svcresearch.pipeline import reproduce

        reproduce(raw=args.raw, processed=args.processed, reports=args.reports)
        return 0
    if args.command == "use":
        return _use(args)
    raise AssertionError(f"unhandled command {args.command}")  # argparse rejects unknown commands


def _use(args: argparse.Namespace) -> int:
    if args.default and args.path is not None:
        raise InputError("give either PATH or --default, not both.")
    if args.default or args.path is not None:
        config.use_study(None if args.default else args.path)
    raw = config.data_raw()
    source = {"environment": f"from {config.ENV_RAW}, which overrides {config.STUDY_FILE.name}",
              "project file": f"recorded in {config.STUDY_FILE}",
              "default": "the default study"}[config.active_study_source()]
    print(f"active study: {raw} ({source})")
    print(f"processed data: {config.data_processed()}")
    print(f"reports: {config.reports()}")
    if not (raw / "study.yaml").is_file():
        print(f"svcresearch use: warning: {raw / 'study.yaml'} does not exist; run `svcresearch use PATH` "
              "with a study folder or `svcresearch use --default`.", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    from svcresearch.pipeline import NotebookError

    try:
        return _run(args)
    except InputError as exc:
        return _fail(args.command, str(exc), EXIT_USER_ERROR)
    except OSError as exc:  # missing folder, a file where a folder is expected, no permission, ...
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args.command, f"{where}{exc.strerror or exc}", EXIT_USER_ERROR)
    except NotebookError as exc:
        # an analysis step failed: not a user-input error, but still one readable line
        return _fail(args.command, str(exc).splitlines()[0], EXIT_FAILED)


def _fail(command: str, message: str, code: int) -> int:
    print(f"svcresearch {command}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
