"""The active study as one object: its folders, codebook, hypotheses, data and provenance.

Notebooks start with ``study = svcresearch.study.current()`` and take everything study-specific
from it: the behaviours and their labels (the codebook), the hypotheses file, the processed data,
and the ground truth -- which is read **only** when the processed data were cleaned from this
very raw study (``cleaning_report.json`` records the study's name and checksum), so a
researcher's own estimates are never drawn against a simulated study's true values.

Which study is active is decided by :mod:`svcresearch.config` (``SVCRESEARCH_DATA_RAW``, else
``svcresearch use PATH``, else ``data/raw``).
"""
from __future__ import annotations

import html
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from svcresearch import config
from svcresearch._validation import InputError, check_option

LANGUAGES = ("en", "fi")


class Study:
    """A raw study with the processed data and reports that belong to it.

    Build it with :func:`current`. Attributes: ``name``, ``raw_dir``, ``processed_dir``,
    ``reports_dir``, ``spec`` (the parsed ``study.yaml``), ``codebook``, ``hypotheses_path``,
    ``ground_truth``, ``provenance_note``; methods :meth:`encounters`, :meth:`coding_long`,
    :meth:`cleaning_report`, :meth:`label`, :meth:`describe`, :meth:`cleaning_summary`.
    """

    def __init__(self, raw_dir: Path, *, processed_dir: Path, reports_dir: Path, active: bool = True):
        from svcresearch.clean import load_study
        from svcresearch.codebook import load_codebook

        self.raw_dir = Path(raw_dir).resolve()
        self.processed_dir = Path(processed_dir).resolve()
        self.reports_dir = Path(reports_dir).resolve()
        self._active = active
        self.spec = load_study(self.raw_dir)
        self.codebook = load_codebook(self.spec.codebook_path)

    # --- identity ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The study's name (``study.yaml`` ``name``, else its folder name)."""
        return self.spec.name

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def hypotheses_path(self) -> Path | None:
        """The study's hypotheses file named in ``study.yaml`` (``hypotheses:``), or None."""
        return self.spec.hypotheses_path

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the raw study's own files (:func:`svcresearch.clean.study_checksum`)."""
        from svcresearch.clean import study_checksum

        return study_checksum(self.spec)

    @property
    def behaviours(self) -> list[str]:
        """Names of the coded behaviours, in codebook order."""
        return [v.name for v in self.codebook.behaviours]

    @property
    def outcomes(self) -> list[str]:
        """Output names of the codebook's outcome variables, in codebook order."""
        return [v.out_name for v in self.codebook.variables.values() if v.role == "outcome"]

    # --- provenance --------------------------------------------------------------------------
    @cached_property
    def _processed_origin(self) -> tuple[str, dict | None]:
        """(state, report): state is ok | missing | unreadable | unrecorded | other_study | changed."""
        path = self.processed_dir / "cleaning_report.json"
        if not path.is_file():
            return "missing", None
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return "unreadable", None
        if not isinstance(report, dict):
            return "unreadable", None
        if not report.get("study_checksum"):
            return "unrecorded", report
        if report.get("study") != self.name:
            return "other_study", report
        if report["study_checksum"] != self.checksum:
            return "changed", report
        return "ok", report

    @property
    def processed_matches(self) -> bool:
        """Whether the processed data were cleaned from exactly this raw study."""
        return self._processed_origin[0] == "ok"

    def _clean_command(self) -> str:
        # the plain command cleans the right folders only when no environment override is in play
        overridden = any(os.environ.get(v) for v in (config.ENV_RAW, config.ENV_PROCESSED))
        if (self._active and not overridden and self.raw_dir == config.data_raw()
                and self.processed_dir == config.data_processed()):
            return "`svcresearch clean`"
        return f"`svcresearch clean --raw {self.raw_dir} --out {self.processed_dir}`"

    @property
    def provenance_note(self) -> str:
        """One sentence when the processed data do not belong to this raw study; "" when they do."""
        state, report = self._processed_origin
        where, cmd = self.processed_dir, self._clean_command()
        if state == "ok":
            return ""
        if state == "missing":
            also = " (or `svcresearch reproduce`)" if cmd == "`svcresearch clean`" else ""
            return (f"There are no processed data for study '{self.name}' in {where}; run {cmd}{also} "
                    f"to create them.")
        if state == "unreadable":
            return (f"The cleaning report in {where} cannot be read, so it is unknown which study the "
                    f"processed data belong to; run {cmd} to clean study '{self.name}' again.")
        if state == "unrecorded":
            return (f"The processed data in {where} do not record which raw study they were cleaned from "
                    f"(an older version of svcresearch wrote them); run {cmd} to clean the active study "
                    f"'{self.name}' again.")
        if state == "other_study":
            return (f"The processed data in {where} were cleaned from study '{report.get('study')}', not "
                    f"from the active study '{self.name}'; run {cmd} to clean '{self.name}', or "
                    f"`svcresearch use PATH` to make the other study active.")
        return (f"The processed data in {where} were cleaned from an earlier version of study "
                f"'{self.name}' (its study.yaml, codebook, hypotheses or raw files have changed since); "
                f"run {cmd} to clean it again.")

    @cached_property
    def ground_truth(self) -> dict | None:
        """The raw study's ``ground_truth.json``, or None.

        Read only when the processed data were cleaned from this very raw study (same name and
        checksum) and the raw folder holds ``ground_truth.json``; a study whose truth is unknown,
        or processed data from another study, give None (see :attr:`ground_truth_note`).
        """
        path = self.raw_dir / "ground_truth.json"
        if not self.processed_matches or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not valid UTF-8 JSON ({exc}).", file=path) from None

    @property
    def ground_truth_note(self) -> str:
        """One sentence saying why there is no ground truth; "" when :attr:`ground_truth` is set."""
        if self.ground_truth is not None:
            return ""
        if not (self.raw_dir / "ground_truth.json").is_file():
            return (f"Study '{self.name}' has no ground_truth.json: its true effects are unknown, so "
                    f"sections that compare estimates with the truth are skipped.")
        return ("The ground truth is not used because the processed data were not cleaned from this "
                "raw study (see the provenance note above).")

    # --- data --------------------------------------------------------------------------------
    def _processed_file(self, name: str) -> Path:
        path = self.processed_dir / name
        if not path.is_file():
            raise InputError(f"not found; run {self._clean_command()} to write the processed data of "
                             f"study '{self.name}'.", file=path)
        return path

    def encounters(self) -> pd.DataFrame:
        """``encounters.parquet``: one row per encounter, analysis-ready (a fresh copy per call)."""
        return pd.read_parquet(self._processed_file("encounters.parquet"))

    def coding_long(self) -> pd.DataFrame:
        """``coding_long.parquet``: every coder judgement, one row each (a fresh copy per call)."""
        return pd.read_parquet(self._processed_file("coding_long.parquet"))

    def quarantine(self) -> pd.DataFrame:
        """``quarantine.csv`` as text columns (every record or value the cleaner set aside)."""
        return pd.read_csv(self._processed_file("quarantine.csv"), dtype=str, keep_default_na=False)

    def cleaning_report(self) -> dict:
        """``cleaning_report.json`` as a dict."""
        path = self._processed_file("cleaning_report.json")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"not valid UTF-8 JSON ({exc}); run {self._clean_command()} again.",
                             file=path) from None

    # --- labels ------------------------------------------------------------------------------
    def label(self, variable: str, language: str = "en") -> str:
        """Readable label of a codebook variable (by name or output name) or scale.

        Falls back to ``variable`` itself for names the codebook does not hold.
        """
        check_option("language", language, LANGUAGES)
        var = self.codebook.variables.get(variable)
        if var is None:
            var = next((v for v in self.codebook.variables.values() if v.out_name == variable), None)
        if var is not None:
            return var.label_fi if language == "fi" else var.label_en
        scale = self.codebook.scales.get(variable)
        if isinstance(scale, dict):
            return str(scale.get("label_fi" if language == "fi" else "label_en") or variable)
        return str(variable)

    def labels(self, language: str = "en") -> dict[str, str]:
        """Mapping from every variable's name and output name (and scale) to its label."""
        check_option("language", language, LANGUAGES)
        out = {}
        for name, var in self.codebook.variables.items():
            text = var.label_fi if language == "fi" else var.label_en
            out[name] = out[var.out_name] = text
        for name in self.codebook.scales:
            out[name] = self.label(name, language)
        return out

    # --- plain-language summaries ------------------------------------------------------------
    def describe(self) -> str:
        """A few plain sentences on the study's design, generated from study.yaml and the codebook."""
        kinds: dict[str, int] = {}
        for f in self.spec.files:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        files = _join([f"{n} {_KIND_WORDS.get(k, k)}{'' if n == 1 else 's'}" for k, n in kinds.items()])
        behaviours = [self.label(b) for b in self.behaviours]
        outcomes = [self.label(o) for o in self.outcomes]
        video = [self.label(v.name) for v in self.codebook.boris_variables]
        parts = [f"Study '{self.name}' has {len(self.spec.files)} raw file{'s' if len(self.spec.files) != 1 else ''} "
                 f"({files})."]
        parts.append(f"Its codebook defines {len(behaviours)} coded behaviour{'s' if len(behaviours) != 1 else ''}"
                     + (f" ({_join(behaviours)})" if behaviours else "") + ", "
                     + (f"the outcome{'s' if len(outcomes) != 1 else ''} {_join(outcomes)}" if outcomes
                        else "no outcome") + ".")
        if video:
            parts.append(f"{len(video)} video measure{'s' if len(video) != 1 else ''} come{'s' if len(video) == 1 else ''} "
                         f"from BORIS events ({_join(video)}).")
        parts.append(f"Hypotheses are pre-registered in {self.hypotheses_path.name}." if self.hypotheses_path
                     else "The study names no hypotheses file.")
        parts.append("Its true effects are known (ground_truth.json)." if self.ground_truth is not None
                     else self.ground_truth_note)
        return " ".join(parts)

    def cleaning_summary(self) -> str:
        """Plain sentences on what the cleaner did, generated from ``cleaning_report.json``."""
        report = self.cleaning_report()
        totals = report.get("totals", {})
        n_files = len(report.get("files", []))
        text = [f"The cleaner read {totals.get('read', 0):,} raw records from {n_files} file"
                f"{'s' if n_files != 1 else ''}: {totals.get('kept', 0):,} kept, {totals.get('merged', 0):,} "
                f"merged as exact duplicates and {totals.get('quarantined', 0):,} quarantined."]
        reasons = sorted(report.get("quarantine_entries_by_reason", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        if reasons:
            shown = _join([f"{reason.replace('_', ' ')} ({count:,} entr{'y' if count == 1 else 'ies'})" for reason, count in reasons[:3]])
            text.append(f"The most frequent quarantine reasons were {shown}.")
        cov = report.get("encounters", {})
        if cov:
            n = cov.get("encounters", 0)
            text.append(f"The analysis table has {n:,} encounters; {cov.get('coded', 0):,} coded, "
                        f"{cov.get('double_coded', 0):,} coded by two coders, {cov.get('video_coded', 0):,} "
                        f"with video coding and {cov.get('responded', 0):,} with a survey response.")
        rates = {k: v for k, v in report.get("link_rates", {}).items() if v.get("rate") is not None}
        if rates:
            low = {k: v["rate"] for k, v in rates.items() if v["rate"] < 0.95}
            text.append("Every file kind linked to the encounters at 95% or more." if not low else
                        "Link rates below 95%: " + _join([f"{k} {r:.1%}" for k, r in low.items()]) + ".")
        if self.provenance_note:
            text.append(self.provenance_note)
        return " ".join(text)

    # --- display -----------------------------------------------------------------------------
    def _summary_rows(self) -> list[tuple[str, str]]:
        return [
            ("study", self.name),
            ("raw data", str(self.raw_dir)),
            ("processed data", str(self.processed_dir)),
            ("reports", str(self.reports_dir)),
            ("behaviours", str(len(self.behaviours))),
            ("outcomes", ", ".join(self.outcomes) or "none"),
            ("hypotheses", self.hypotheses_path.name if self.hypotheses_path else "none"),
            ("ground truth", "yes" if self.ground_truth is not None else "no"),
        ]

    def __repr__(self) -> str:
        lines = [f"{k}: {v}" for k, v in self._summary_rows()]
        if self.provenance_note:
            lines.append(f"note: {self.provenance_note}")
        return "Study(\n  " + "\n  ".join(lines) + "\n)"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(v)}</td></tr>" for k, v in self._summary_rows())
        note = (f"<p><strong>Note:</strong> {html.escape(self.provenance_note)}</p>"
                if self.provenance_note else "")
        return f"<table>{rows}</table>{note}"


_KIND_WORDS = {"coding": "coding sheet", "boris": "BORIS export", "survey": "survey file",
               "operations": "operations log"}


def _join(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def current(*, raw: str | Path | None = None, processed: str | Path | None = None) -> Study:
    """The active study (or the study in ``raw``) with its processed data and reports folders.

    Parameters
    ----------
    raw : path, optional
        Raw study folder; default :func:`svcresearch.config.data_raw` (``SVCRESEARCH_DATA_RAW``,
        else ``svcresearch use``, else ``data/raw``).
    processed : path, optional
        Processed folder; default :func:`svcresearch.config.data_processed` for that study.

    Returns
    -------
    Study

    Raises
    ------
    InputError
        When ``raw`` holds no valid ``study.yaml`` or codebook (one line naming the file).

    Notes
    -----
    Provenance (``provenance_note``, ``ground_truth``) compares ``cleaning_report.json``'s
    ``study`` and ``study_checksum`` with the raw study; tested in ``tests/test_study.py`` with
    processed data from one study and another study active.
    """
    active = raw is None
    raw_dir = Path(raw) if raw is not None else config.data_raw()
    processed_dir = Path(processed) if processed is not None else config.data_processed(raw=raw_dir)
    return Study(raw_dir, processed_dir=processed_dir, reports_dir=config.reports(raw=raw_dir),
                 active=active and processed is None)
