"""Clean a raw study into analysis-ready, pseudonymised outputs (DESIGN §4, §8).

``clean_study(raw_dir, out=...)`` runs named stages, each a module of this package, around one
ledger of quarantine entries:

=====================  =======================================================================
:mod:`.spec`           study.yaml parsed and checked; the study's checksum
:mod:`.ledger`         the quarantine ledger (typed entries; ``row`` or ``cell`` scope)
:mod:`.read`           read each file, find the codebook's columns, normalise them
:mod:`.identifiers`    records without a usable required identifier; id lookups
:mod:`.duplicates`     exact duplicates merged, conflicting ones quarantined
(linking, here)        coding and survey records of no encounter quarantined
:mod:`.video`          BORIS events → the codebook's BORIS variables
:mod:`.consensus`      judgements coded, applicability rules, one value per encounter
:mod:`.assemble`       encounter variables from any file kind (precedence), typed table
:mod:`.report`         the cleaning report and what became of every codebook variable
:mod:`.write`          atomic, byte-identical outputs with a Frictionless data package
=====================  =======================================================================

Why our own pipeline: the guarantees are the point — every raw record ends in exactly one place
(kept, merged as an exact duplicate, or quarantined with a reason, file, row, column and original
value), raw files are never written, outputs are written atomically and byte-identically on every
run, and no personal data reaches ``data/processed``. General tools (pandera, Frictionless,
Great Expectations) validate tables but do not do this bookkeeping across linked files.

Rules (documented here once; docs/own_data.md repeats them for researchers)
---------------------------------------------------------------------------
* **Cell problems** (unknown code, out-of-range value, unparseable time, a value coded where the
  codebook says the behaviour is not applicable, a value that a higher-precedence source
  contradicts) set that value to missing (or not used) and are listed in ``quarantine.csv`` with
  scope ``cell``; the record is kept.
* **Record problems** drop the record (scope ``row``): a missing or invalid required identifier,
  a conflicting duplicate, a record that links to no encounter, a BORIS event of a behaviour that
  no codebook variable declares.
* **Duplicates** are judged after normalisation: records with the same key (operations and
  survey: encounter; coding: encounter × coder; video: encounter) whose analysed values agree
  are exact duplicates — the first (file order, row order) is kept and the others counted as
  merged; if they disagree on any analysed value, every copy is quarantined with its value
  (nothing is guessed).
* **Encounters** are the operations log's (when the study has one; otherwise every encounter
  that was coded).
* **Sources**: every file kind supplies the variables whose codebook ``sources`` name it. A value
  per encounter found in several kinds is taken by precedence (outcomes: survey > coding >
  operations; everything else: operations > coding > survey; :mod:`.assemble`).
* **Consensus** for ``encounters.parquet``: the primary coder's judgement (``primary_coder`` in
  study.yaml, default ``A``); an encounter the primary coder did not code takes the first other
  coder in alphabetical order; where an adjudication file (study.yaml ``adjudication``) gives a
  value for a behaviour, that value wins. ``coding_long.parquet`` keeps every judgement.
* **Not applicable vs missing**: a behaviour whose codebook ``applicable_if`` conditions are false
  for the encounter has status ``not_applicable`` (value NA); an applicable behaviour without a
  valid code has status ``missing``. When a context value needed by a rule is itself missing,
  the behaviour is treated as applicable.
* **Video**: BORIS variables are missing for encounters without an observation and 0 / no for
  an observation without events of their behaviour (:mod:`.video`).
* **Privacy**: only codebook variables reach the outputs; pii columns only with
  ``allow_in_output: true``; employee and customer identifiers are replaced by keyed-hash
  pseudonyms (:mod:`svcresearch.privacy`); quarantined identifier values are pseudonymised and
  anything looking like an e-mail address or phone number is redacted from ``quarantine.csv``.
* **Nothing silently discarded**: the cleaning report lists every codebook variable with its
  output column, or the reason it has none, and the files it was read from.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from svcresearch import codebook as cbmod
from svcresearch._validation import InputError, check_type
from svcresearch.codebook import Codebook

from .assemble import assemble, encounter_variables, merge_context, per_encounter_sources, raw_cells
from .consensus import STATUS_LEVELS, code_behaviours, coding_long, order_codings
from .duplicates import resolve_duplicates
from .identifiers import drop_unidentified, is_in
from .ledger import QUARANTINE_COLUMNS, REASONS, Ledger
from .read import Table, drop_rows, kept_records, make_redactor, read_file
from .report import build_report, file_report, report_notes, variables_report
from .spec import FileSpec, StudySpec, load_study, study_checksum
from .video import read_video
from .write import OUTPUT_FILES, write_outputs

__all__ = ["clean_study", "load_study", "study_checksum", "report_notes", "StudySpec", "FileSpec",
           "QUARANTINE_COLUMNS", "REASONS", "OUTPUT_FILES", "STATUS_LEVELS"]


def clean_study(raw_dir: str | Path, *, out: str | Path, progress: bool = True,
                key_path: str | Path | None = None) -> dict:
    """Clean the raw study in ``raw_dir`` and write the processed outputs to ``out``.

    Parameters
    ----------
    raw_dir : str or Path
        Folder holding ``study.yaml`` (format: docs/study_layout.md). Never written.
    out : str or Path
        Output folder (created). Its files ``encounters.parquet``, ``coding_long.parquet``,
        ``quarantine.csv``, ``cleaning_report.json``, ``cleaning_report.md`` and
        ``datapackage.json`` are replaced; other files in it are left alone.
    progress : bool
        Show a tqdm progress bar (stderr).
    key_path : str or Path, optional
        Pseudonymisation key file (default: ``SVCRESEARCH_KEY`` or ``.svcresearch_key``; see
        :func:`svcresearch.privacy.load_key`).

    Returns
    -------
    dict
        The cleaning report (as written to ``cleaning_report.json``).

    Raises
    ------
    InputError
        When an input is unusable (missing study.yaml or file, bad codebook, missing required
        column, unreadable file, ...): one line naming the file, the column and what was
        expected. Nothing is written then.

    Notes
    -----
    Every raw record is accounted for: per file, read = kept + merged + quarantined (checked in
    the code before anything is written, and by ``tests/test_clean.py`` against the faults the
    simulator injected and lists in ``ground_truth.json``). Outputs are computed in memory,
    written into a temporary folder next to ``out`` and moved into place only when all of them
    were written; two runs give byte-identical files (``tests/test_clean.py``).
    """
    from svcresearch import privacy

    check_type("raw_dir", raw_dir, (str, Path), what="a path")
    check_type("out", out, (str, Path), what="a path")
    raw_dir = Path(raw_dir).resolve()
    out = Path(out).resolve()
    if out == raw_dir or raw_dir in out.parents:
        raise InputError("the output folder must not be inside the raw study folder (raw data is never "
                         "written).", file=out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; expected a folder for the processed outputs (--out).", file=out)
    study = load_study(raw_dir)
    codebook = cbmod.load_codebook(study.codebook_path)
    key = privacy.load_key(key_path=key_path)
    steps = len(study.files) + (1 if study.adjudication else 0) + 4
    bar = _progress(steps, progress)
    try:
        result = _clean(study, codebook, key, bar)
    finally:
        bar.close()
    write_outputs(result, out)
    return result["report"]


class _NoBar:
    def update(self, n=1):
        pass

    def set_description(self, s):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="clean", unit="step", leave=False)


def _analysed(codebook: Codebook, kind: str) -> list[str]:
    """Variables of ``kind`` whose values decide whether two records are the same (duplicates)."""
    coded = {b.name for b in codebook.behaviours}
    per_encounter = {v.name for v in encounter_variables(codebook) if codebook.output_allowed(v)}
    return [v.name for v in codebook.for_kind(kind) if v.name in coded or v.name in per_encounter]


def _clean(study: StudySpec, codebook: Codebook, key: bytes, bar) -> dict:
    from svcresearch import privacy

    ledger = Ledger()
    redact = make_redactor(codebook, key)
    tables: dict[str, list[Table]] = {"operations": [], "coding": [], "survey": []}
    boris_specs: list[FileSpec] = []
    for spec in study.files:
        bar.set_description(f"read {spec.rel}")
        if spec.kind == "boris":
            boris_specs.append(spec)
        else:
            tables[spec.kind].append(read_file(spec, codebook, ledger, redact))
        bar.update()
    adjud = None
    if study.adjudication is not None:
        adjud = read_file(study.adjudication, codebook, ledger, redact, adjudication=True)
        bar.update()

    bar.set_description("identifiers and duplicates")
    all_tables = [t for kind in ("operations", "coding", "survey") for t in tables[kind]]
    if adjud is not None:
        all_tables.append(adjud)
    drop_unidentified(all_tables, codebook=codebook, ledger=ledger, redact=redact)
    for kind, key_cols, reason, what in (
            ("operations", ["encounter_id"], "duplicate_conflict", "operations records"),
            ("coding", ["encounter_id", "coder"], "duplicate_conflict", "codings by the same coder"),
            ("survey", ["encounter_id"], "duplicate_response", "survey responses")):
        resolve_duplicates(tables[kind], key=key_cols, compare=_analysed(codebook, kind), reason=reason, what=what,
                           ledger=ledger, redact=redact, codebook=codebook)
    if adjud is not None:
        resolve_duplicates([adjud], key=["encounter_id"], compare=[b.name for b in codebook.behaviours],
                           reason="duplicate_conflict", what="adjudications", ledger=ledger, redact=redact,
                           codebook=codebook)
    bar.update()

    bar.set_description("link")
    ops = kept_records(tables["operations"])
    spine = pd.Index((ops if tables["operations"] else kept_records(tables["coding"]))["encounter_id"].unique())
    spine = spine.sort_values()
    origin = "operations log" if tables["operations"] else "coded encounters"
    link_counts = {}
    for kind, reason in (("coding", "unlinked_coding"), ("survey", "unlinked_survey")):
        total = linked = 0
        for t in tables[kind]:
            kept = t.kept()
            ok = is_in(t.data["encounter_id"], spine)
            total += int(kept.sum())
            linked += int((kept & ok).sum())
            drop_rows(t, kept & ~ok, column="encounter_id", reason=reason, detail=f"encounter not in the {origin}",
                      ledger=ledger, redact=redact, codebook=codebook)
        link_counts[kind] = (linked, total)
    if adjud is not None:
        ok = is_in(adjud.data["encounter_id"], spine)
        drop_rows(adjud, adjud.kept() & ~ok, column="encounter_id", reason="unlinked_coding",
                  detail="adjudicated encounter not in the encounters", ledger=ledger, redact=redact,
                  codebook=codebook)
    bar.update()

    bar.set_description("video")
    video = read_video(boris_specs, codebook, spine, ledger, redact)
    link_counts["video"] = video.link
    bar.update()

    bar.set_description("encounters")
    coding = kept_records(tables["coding"])
    survey = kept_records(tables["survey"])
    adjud_kept = kept_records([adjud]).drop_duplicates("encounter_id") if adjud is not None else None
    cod = order_codings(coding, spine, primary_coder=study.primary_coder)
    sources = per_encounter_sources({"operations": ops, "survey": survey}, cod, coding, spine, codebook)
    ctx, supplied = merge_context(sources, codebook, ledger, redact, tables=all_tables)
    code_behaviours(cod, coding, adjud_kept, ctx, codebook, ledger,
                    raw_values=lambda v, files, rows: redact(v, raw_cells(all_tables, v.name, files, rows)))
    encounters = assemble(spine=spine, ctx=ctx, cod=cod, adjud=adjud_kept, video=video, survey=survey,
                          survey_modes={t.spec.rel: t.spec.mode for t in tables["survey"]}, codebook=codebook,
                          key=key, primary_coder=study.primary_coder)
    long_table = coding_long(cod, spine, codebook, redact)
    bar.update()

    # --- report ---------------------------------------------------------------------------------
    qframe = ledger.frame()
    qframe = qframe.sort_values(["file", "row", "column", "reason", "value", "detail"], kind="stable",
                                na_position="first").reset_index(drop=True)
    # a safety net behind the redaction of every raw value (redact.py): a cell that still holds
    # something personal is hidden, never written and never a reason to abort the run
    for column in ("value", "detail", "column"):
        hits = privacy.scan_frame(qframe, columns=[column])
        if len(hits):
            qframe.loc[hits["row"].unique(), column] = "<redacted: looked like an e-mail address or phone number>"
    files_report = []
    by_rel = {t.spec.rel: t for t in all_tables}
    for spec in study.files:
        if spec.kind != "boris":
            t = by_rel[spec.rel]
            files_report.append(file_report(spec, len(t.status), t.status, qframe, t.read_info, t.ignored_columns,
                                            t.missing_columns))
    if adjud is not None:
        files_report.append(file_report(adjud.spec, len(adjud.status), adjud.status, qframe, adjud.read_info,
                                        adjud.ignored_columns, adjud.missing_columns))
    for spec, read, status in video.accounting:
        files_report.append(file_report(spec, read, status, qframe, {"format": "boris"}, []))
    order = {s.rel: i for i, s in enumerate(study.files)}
    files_report.sort(key=lambda e: order.get(e["file"], len(order)))
    for e in files_report:
        if e["read"] != e["kept"] + e["merged"] + e["quarantined"]:
            raise RuntimeError(f"internal accounting error for {e['file']}: {e}")  # a bug, never user input
    # privacy scan of what will be written (a bug catcher: nothing personal should be left)
    allowed = {v.out_name for v in codebook.variables.values() if v.role == "pii" and v.allow_in_output}
    # (coding_long holds only codebook levels, canonical ids and file names: not scanned)
    by_construction = {"encounter_id"} | {v.out_name for v in codebook.variables.values() if v.pseudonymise}
    for name, frame in (("encounters.parquet", encounters),):
        hits = privacy.scan_frame(frame, columns=[c for c in frame.columns if c not in by_construction and (
            pd.api.types.is_string_dtype(frame[c]) or isinstance(frame[c].dtype, pd.CategoricalDtype))])
        hits = hits[~hits["column"].isin(allowed)]
        if len(hits):
            raise RuntimeError(f"privacy scan found {hits['kind'].iat[0]}-like text in {name} column "
                               f"{hits['column'].iat[0]!r}; not writing outputs")
    read_from: dict[str, set] = {}
    for t in all_tables:
        for name in t.headers:
            read_from.setdefault(name, set()).add(t.spec.rel)
    if boris_specs:
        for v in codebook.boris_variables:
            read_from.setdefault(v.name, set()).update(s.rel for s in boris_specs)
    variables = variables_report(codebook, encounters=encounters, read_from=read_from, supplied=supplied,
                                 coder_disagreements=_coder_disagreements(coding, cod, codebook))
    report = build_report(study, codebook, files_report, qframe, link_counts, encounters, len(long_table),
                          variables=variables, undeclared=video.undeclared)
    return {"encounters": encounters, "coding_long": long_table, "quarantine": qframe, "report": report,
            "codebook": codebook, "study": study}


def _coder_disagreements(coding: pd.DataFrame, cod, codebook: Codebook) -> dict:
    """Per encounter variable read from coding sheets: encounters whose coders differ on it."""
    out = {}
    multi = cod.n_coders >= 2
    if not multi.any():
        return out
    wanted = {v.name for v in encounter_variables(codebook)}
    for name in [c for c in coding.columns if c in wanted]:
        values = coding[name].iloc[cod.order].astype("string").reset_index(drop=True)
        frame = pd.DataFrame({"enc": cod.enc, "value": values}).dropna()
        frame = frame[multi[frame["enc"].to_numpy()]]
        n_diff = int((frame.groupby("enc")["value"].nunique() > 1).sum())
        if n_diff:
            out[name] = n_diff
    return out
