"""Clean a raw study into analysis-ready, pseudonymised outputs (DESIGN §4, §8).

``clean_study(raw_dir, out=...)`` reads every file named in ``study.yaml`` with
:mod:`svcresearch.io`, normalises each column by the study's codebook
(:func:`svcresearch.codebook.normalise`), merges exact duplicates, quarantines conflicts and
unlinked records, links coding ↔ operations ↔ survey ↔ video, applies the consensus rule and
writes the outputs specified in ``docs/study_layout.md`` ("Processed outputs").

Why our own pipeline: the guarantees are the point — every raw record ends in exactly one place
(kept, merged as an exact duplicate, or quarantined with a reason, file, row, column and original
value), raw files are never written, outputs are written atomically and byte-identically on every
run, and no personal data reaches ``data/processed``. General tools (pandera, Frictionless,
Great Expectations) validate tables but do not do this bookkeeping across linked files.

Rules (documented here once; docs/own_data.md repeats them for researchers)
---------------------------------------------------------------------------
* **Cell problems** (unknown code, out-of-range value, unparseable time, a value coded where the
  codebook says the behaviour is not applicable) set that value to missing and are listed in
  ``quarantine.csv`` with ``detail`` starting ``value set to missing``; the record is kept.
* **Record problems** drop the record (``detail`` starts ``row dropped``): a missing or
  invalid required identifier, a conflicting duplicate, a record that links to no encounter.
* **Duplicates** are judged after normalisation: records with the same key (operations and
  survey: encounter; coding: encounter × coder; video: encounter) whose analysed values agree
  are exact duplicates — the first (file order, row order) is kept and the others counted as
  merged; if they disagree on any analysed value, every copy is quarantined with its value
  (nothing is guessed).
* **Encounters** are the operations log's (when the study has one; otherwise every encounter
  that was coded).
* **Consensus** for ``encounters.parquet``: the primary coder's judgement (``primary_coder`` in
  study.yaml, default ``A``); an encounter the primary coder did not code takes the first other
  coder in alphabetical order; where an adjudication file (study.yaml ``adjudication``) gives a
  value for a behaviour, that value wins. ``coding_long.parquet`` keeps every judgement.
* **Not applicable vs missing**: a behaviour whose codebook ``applicable_if`` conditions are false
  for the encounter has status ``not_applicable`` (value NA); an applicable behaviour without a
  valid code has status ``missing``. When a context value needed by a rule is itself missing,
  the behaviour is treated as applicable.
* **Privacy**: only codebook variables reach the outputs; pii columns only with
  ``allow_in_output: true``; employee and customer identifiers are replaced by keyed-hash
  pseudonyms (:mod:`svcresearch.privacy`); quarantined identifier values are pseudonymised and
  anything looking like an e-mail address or phone number is redacted from ``quarantine.csv``.
"""
from __future__ import annotations

import hashlib
import io as _io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from svcresearch import codebook as cbmod
from svcresearch._validation import InputError, check_type
from svcresearch.codebook import Codebook, Variable, normalise

__all__ = ["clean_study", "load_study", "StudySpec", "FileSpec", "QUARANTINE_COLUMNS", "REASONS",
           "OUTPUT_FILES", "STATUS_LEVELS"]

QUARANTINE_COLUMNS = ["file", "row", "column", "value", "reason", "detail"]
REASONS = ("unknown_code", "out_of_range", "duplicate_conflict", "unparseable_time", "unpaired_event",
           "negative_duration", "overlapping_state", "unlinked_survey", "unlinked_coding",
           "unlinked_video", "missing_required", "invalid_id", "duplicate_response")
STATUS_LEVELS = ["observed", "missing", "not_applicable"]
OUTPUT_FILES = ("encounters.parquet", "coding_long.parquet", "quarantine.csv", "cleaning_report.json",
                "cleaning_report.md", "datapackage.json")
_FILE_KEYS = {"path", "kind", "sheet", "sep", "encoding", "decimal", "header_row", "mode", "coder"}
_STUDY_KEYS = {"name", "description", "codebook", "files", "adjudication", "primary_coder", "hypotheses"}
_ROW_DROPPED = "row dropped"
_CELL_MISSING = "value set to missing"
ETHOGRAM = {"eye contact": "STATE", "smile": "STATE", "greeting": "POINT", "nod": "POINT"}
# event_features column -> encounters.parquet column (docs/study_layout.md "video (BORIS) features")
VIDEO_COLUMNS = {
    "eye_contact_count": "video_eye_contact_count",
    "eye_contact_duration_s": "video_eye_contact_duration_s",
    "eye_contact_share": "video_eye_contact_share",
    "smile_count": "video_smile_count",
    "smile_duration_s": "video_smile_duration_s",
    "smile_share": "video_smile_share",
    "smile_type": "video_smile_type",
    "smile_at_greeting": "video_smile_at_greeting",
    "smile_at_transaction": "video_smile_at_transaction",
    "smile_at_closing": "video_smile_at_closing",
    "greeting_present": "video_greeting_present",
    "greeting_latency_s": "video_greeting_latency_s",
    "nod_count": "video_nod_count",
}


# --------------------------------------------------------------------------------------------
# study.yaml
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileSpec:
    """One raw file named in study.yaml."""

    rel: str                 # as written in study.yaml (used in quarantine.csv and the report)
    path: Path
    kind: str
    options: dict = field(default_factory=dict)   # read_table overrides: sheet, sep, ...
    mode: str | None = None  # survey: paper / web
    coder: str | None = None  # coding sheets without a coder column: the coder of every row


@dataclass(frozen=True)
class StudySpec:
    """A parsed and checked ``study.yaml``."""

    path: Path
    name: str
    description: str
    codebook_path: Path
    files: tuple[FileSpec, ...]
    adjudication: FileSpec | None
    primary_coder: str
    hypotheses_path: Path | None = None   # the study's pre-registered hypotheses file, if any


def load_study(raw_dir: str | Path) -> StudySpec:
    """Read and check ``<raw_dir>/study.yaml`` (format: docs/study_layout.md).

    Raises
    ------
    InputError
        One line naming study.yaml (or the file it names) and what was expected.
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise InputError("raw study folder not found; expected a folder holding study.yaml.", file=raw_dir)
    path = raw_dir / "study.yaml"
    if not path.is_file():
        raise InputError("study.yaml not found; expected a study.yaml naming the codebook and the raw "
                         "files with their kinds (docs/own_data.md).", file=path)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; save study.yaml as UTF-8.", file=path) from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"not valid YAML ({first}).", file=path) from None
    if not isinstance(spec, dict):
        raise InputError("expected a mapping with keys name, codebook, files.", file=path)
    unknown = set(spec) - _STUDY_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_STUDY_KEYS)}.", file=path)
    if not spec.get("codebook"):
        raise InputError("no 'codebook' entry; expected e.g. 'codebook: codebook.yaml' (start from "
                         "svcresearch/simulate/resources/codebook.yaml).", file=path, column="codebook")
    codebook_path = raw_dir / str(spec["codebook"])
    if not codebook_path.is_file():
        raise InputError(f"names codebook '{spec['codebook']}', which does not exist.", file=path,
                         column="codebook")
    files_raw = spec.get("files")
    if not isinstance(files_raw, list) or not files_raw:
        raise InputError("'files' must list the raw files, each with 'path' and 'kind'.", file=path,
                         column="files")
    files = []
    seen = set()
    for i, entry in enumerate(files_raw, start=1):
        files.append(_file_spec(entry, raw_dir=raw_dir, study=path, where=f"files[{i}]"))
        if files[-1].rel in seen:
            raise InputError(f"names '{files[-1].rel}' twice.", file=path, column="files")
        seen.add(files[-1].rel)
    if not any(f.kind == "coding" for f in files) and not any(f.kind == "operations" for f in files):
        raise InputError("lists no 'operations' or 'coding' file; the encounters come from them.",
                         file=path, column="files")
    adj = spec.get("adjudication")
    adjudication = None
    if adj:
        adj_entry = adj if isinstance(adj, dict) else {"path": adj}
        adjudication = _file_spec({"coder": "adjudication", **adj_entry, "kind": "coding"}, raw_dir=raw_dir,
                                  study=path, where="adjudication")
    primary = spec.get("primary_coder", "A")
    hypotheses_path = None
    if spec.get("hypotheses"):
        hypotheses_path = raw_dir / str(spec["hypotheses"])
        if not hypotheses_path.is_file():
            raise InputError(f"names hypotheses file '{spec['hypotheses']}', which does not exist.", file=path,
                             column="hypotheses")
    return StudySpec(path=path, name=str(spec.get("name") or raw_dir.name),
                     description=str(spec.get("description") or ""), codebook_path=codebook_path,
                     files=tuple(files), adjudication=adjudication, primary_coder=str(primary).strip(),
                     hypotheses_path=hypotheses_path)


def study_checksum(study: StudySpec) -> str:
    """SHA-256 over the study's own files (study.yaml, codebook, hypotheses, every raw file).

    Recorded in ``cleaning_report.json`` (``study.checksum``) so that an analysis can tell
    whether the processed data belong to the raw study it is pointed at. File names enter with
    their bytes, so renaming or editing any input changes the checksum.
    """
    digest = hashlib.sha256()
    parts = [("study.yaml", study.path), (study.codebook_path.name, study.codebook_path)]
    if study.hypotheses_path is not None:
        parts.append(("hypotheses", study.hypotheses_path))
    parts += [(f.rel, f.path) for f in study.files]
    if study.adjudication is not None:
        parts.append((study.adjudication.rel, study.adjudication.path))
    for name, path in parts:
        digest.update(name.encode("utf-8") + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()


def _file_spec(entry: Any, *, raw_dir: Path, study: Path, where: str) -> FileSpec:
    if not isinstance(entry, dict) or "path" not in entry or "kind" not in entry:
        raise InputError(f"{where} must be a mapping with 'path' and 'kind'; got {entry!r}.", file=study,
                         column="files")
    unknown = set(entry) - _FILE_KEYS
    if unknown:
        raise InputError(f"{where} ('{entry['path']}') has unknown key(s) {sorted(unknown)}; allowed: "
                         f"{sorted(_FILE_KEYS)}.", file=study, column="files")
    kind = entry["kind"]
    if kind not in cbmod.FILE_KINDS:
        raise InputError(f"{where} ('{entry['path']}') has unknown kind {kind!r}; expected one of "
                         f"{', '.join(cbmod.FILE_KINDS)}.", file=study, column="kind")
    rel = str(entry["path"])
    path = raw_dir / rel
    if not path.is_file():
        raise InputError(f"names '{rel}', which does not exist in {raw_dir}.", file=study, column="files")
    options = {k: entry[k] for k in ("sheet", "sep", "encoding", "decimal", "header_row") if k in entry}
    if kind == "boris" and options:
        raise InputError(f"{where} ('{rel}'): BORIS exports take no read options; got {sorted(options)}.",
                         file=study, column="files")
    mode = entry.get("mode")
    if mode is not None and mode not in ("paper", "web"):
        raise InputError(f"{where} ('{rel}'): mode must be 'paper' or 'web'; got {mode!r}.", file=study,
                         column="mode")
    if kind == "survey" and mode is None:
        mode = "paper" if path.suffix.lower() in (".sav", ".zsav") else "web"
    coder = entry.get("coder")
    if coder is not None and kind != "coding":
        raise InputError(f"{where} ('{rel}'): 'coder' applies to coding files only.", file=study, column="coder")
    return FileSpec(rel=rel, path=path, kind=kind, options=options, mode=mode,
                    coder=None if coder is None else str(coder).strip())


# --------------------------------------------------------------------------------------------
# quarantine bookkeeping
# --------------------------------------------------------------------------------------------
class _Quarantine:
    """Collects quarantine entries as column arrays (cheap for many entries)."""

    def __init__(self):
        self.parts: list[pd.DataFrame] = []

    def add(self, file, row, column, value, reason, detail):
        n = len(row)
        if n == 0:
            return
        frame = pd.DataFrame({
            "file": _broadcast(file, n), "row": np.asarray(row, dtype=np.int64),
            "column": _broadcast(column, n), "value": _broadcast(value, n),
            "reason": _broadcast(reason, n), "detail": _broadcast(detail, n),
        })
        self.parts.append(frame)

    def frame(self) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else "string")
                                 for c in QUARANTINE_COLUMNS})
        q = pd.concat(self.parts, ignore_index=True)
        for c in ("file", "column", "value", "reason", "detail"):
            q[c] = q[c].astype("string")
        return q


def _broadcast(x, n):
    if isinstance(x, (pd.Series, pd.Index)):
        return x.astype("string").to_numpy()
    if isinstance(x, np.ndarray):
        return x
    return np.full(n, x, dtype=object)


# --------------------------------------------------------------------------------------------
# reading + normalising one file
# --------------------------------------------------------------------------------------------
def _canon_col(name: str) -> str:
    return "_".join(str(name).strip().casefold().replace("-", " ").split())


@dataclass
class _Table:
    spec: FileSpec
    data: pd.DataFrame          # normalised values of codebook variables + source_file, source_row
    raw: pd.DataFrame           # raw strings of the same columns (for quarantine values)
    missing: dict               # variable -> bool array: raw was empty / missing code
    problem: dict               # variable -> reason array (NA when fine)
    status: np.ndarray          # per row: "kept" / "merged" / "quarantined"
    read_info: dict
    ignored_columns: list
    missing_columns: list = field(default_factory=list)
    headers: dict = field(default_factory=dict)   # variable -> column name as written in the file


def _read_file(spec: FileSpec, codebook: Codebook, quarantine: _Quarantine, redact, *,
               adjudication: bool = False) -> _Table:
    from svcresearch import io

    df = io.read_table(spec.path, **spec.options)
    info = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else str(v))
            for k, v in dict(df.attrs.get("read_info", {})).items() if k != "file"}
    by_canon = {}
    for col in df.columns:
        if col in ("source_row", "source_sheet"):
            continue
        by_canon.setdefault(_canon_col(col), col)
    variables = codebook.for_kind(spec.kind)
    present: dict[str, str] = {}
    for v in variables:
        col = by_canon.get(_canon_col(v.column_in(spec.kind)))
        if col is None and _canon_col(v.name) in by_canon:
            col = by_canon[_canon_col(v.name)]
        if col is not None:
            present[v.name] = col
    # a coder column may be replaced by study.yaml `coder:` for single-coder sheets
    coder_from_spec = spec.coder
    for v in variables:
        if v.required and v.name not in present and not (v.name == "coder" and coder_from_spec):
            found = ", ".join(c for c in df.columns if c not in ("source_row", "source_sheet"))
            raise InputError(f"required column missing (codebook variable '{v.name}', role {v.role}); "
                             f"found columns: {found}.", file=spec.path, column=v.column_in(spec.kind))
    if spec.kind == "coding" and not any(codebook[n].role == "behaviour" for n in present):
        raise InputError("no behaviour column found; expected at least one of "
                         f"{', '.join(b.name for b in codebook.behaviours)}.", file=spec.path,
                         column=codebook.behaviours[0].name if codebook.behaviours else None)
    if spec.kind == "survey" and not any(codebook[n].role == "outcome" for n in present):
        outcomes = [v.name for v in variables if v.role == "outcome"]
        raise InputError(f"no outcome column found; expected at least one of {', '.join(outcomes)}.",
                         file=spec.path, column=outcomes[0] if outcomes else None)
    used = set(present.values())
    ignored = sorted(c for c in df.columns if c not in used and c not in ("source_row", "source_sheet"))
    # codebook variables this kind of file should carry but this file lacks: not an error (a study
    # may not record them), but never silent — the reports and the CLI name them. Absent personal
    # data is no loss and is not listed.
    absent = [v.column_in(spec.kind) for v in variables if v.name not in present and v.role != "pii"
              and not (v.name == "coder" and coder_from_spec)]
    if adjudication:
        absent = []  # an adjudication file decides only the behaviours it has columns for
    n = len(df)
    rows = df["source_row"].to_numpy(dtype=np.int64)
    data = {"source_file": _repeated(spec.rel, n), "source_row": pd.Series(rows, dtype="int64")}
    raw = {}
    missing, problem = {}, {}
    for name, col in present.items():
        v = codebook[name]
        if _never_used(v, codebook):
            continue
        res = normalise(df[col], v, codebook)
        data[name] = res.values.reset_index(drop=True)
        raw[name] = df[col].reset_index(drop=True)
        missing[name] = res.missing.to_numpy(dtype=bool)
        problem[name] = res.problem.reset_index(drop=True)
        bad = res.problem.notna().to_numpy()
        if bad.any() and not v.required:
            detail = _problem_detail(v, codebook)
            quarantine.add(spec.rel, rows[bad], col, redact(v, df[col].reset_index(drop=True)[bad]),
                           res.problem[bad].to_numpy(), f"{_CELL_MISSING}: {detail}")
    data = pd.DataFrame(data)
    if spec.kind == "coding" and "coder" not in present:
        data["coder"] = _repeated(str(spec.coder), n)
        missing["coder"] = np.zeros(n, bool)
        problem["coder"] = pd.Series([pd.NA] * n, dtype="string")
    return _Table(spec=spec, data=data, raw=pd.DataFrame(raw), missing=missing, problem=problem,
                  status=np.full(n, "kept", dtype=object), read_info=info, ignored_columns=ignored,
                  missing_columns=absent,
                  headers=dict(present))


def _repeated(text: str, n: int) -> pd.Series:
    """``n`` copies of ``text`` as a ``string`` Series, built in arrow (a Python list of a
    million references took ~0.5 s per file to convert)."""
    return pd.Series(pd.array(pa.repeat(pa.scalar(text, pa.large_string()), n), dtype="string"))


def _never_used(v: Variable, codebook: Codebook) -> bool:
    """True for personal data that nothing downstream reads: pii withheld from the outputs,
    not compared for duplicates, and free text whose normalisation reports no problem (no
    value set, no identifier format, not required). Normalising customer phone numbers, names
    and e-mail addresses only to drop them cost ~1.5 s for a million encounters."""
    return (v.role == "pii" and not codebook.output_allowed(v) and v.value_set is None
            and not v.id_format and not v.required and v.type == "nominal")


def _problem_detail(v: Variable, codebook: Codebook) -> str:
    if v.id_format:
        return f"expected an identifier with digits (canonical {codebook.id_formats[v.id_format]})"
    if v.type == "datetime":
        return "expected a date-time such as 2026-03-02 10:15 or 2.3.2026 10.15"
    if v.value_set is not None:
        levels = ", ".join(v.value_set.levels)
        extra = f"; range {v.range[0]:g}-{v.range[1]:g}" if v.range else ""
        return f"expected one of {levels} or an alias/label in the codebook{extra}"
    if v.range is not None:
        return f"expected a number in [{v.range[0]:g}, {v.range[1]:g}]"
    return f"expected a {v.type} value"


def _drop_rows(t: _Table, mask: np.ndarray, *, column: str, reason: str, detail, quarantine: _Quarantine,
               redact, codebook: Codebook, values=None):
    """Mark rows of ``t`` as quarantined (record problems) and record one entry per row."""
    mask = np.asarray(mask, dtype=bool) & (t.status == "kept")
    if not mask.any():
        return
    t.status[mask] = "quarantined"
    colname = column
    if values is None:
        if column in t.raw:
            values = redact(codebook[column], t.raw[column][mask]) if column in codebook.variables \
                else t.raw[column][mask]
        else:
            values = pd.Series([pd.NA] * int(mask.sum()), dtype="string")
        raw_col = column
    else:
        raw_col = column
    if isinstance(detail, (pd.Series, np.ndarray)):
        detail = np.asarray(detail, dtype=object)[mask] if len(detail) == len(mask) else detail
    quarantine.add(t.spec.rel, t.data["source_row"].to_numpy()[mask], t.headers.get(raw_col, raw_col),
                   values, reason, detail)


# --------------------------------------------------------------------------------------------
# duplicates
# --------------------------------------------------------------------------------------------
def _resolve_duplicates(tables: list[_Table], *, key: list[str], compare: list[str], reason: str,
                        what: str, quarantine: _Quarantine, redact, codebook: Codebook):
    """Merge exact duplicates (after normalisation) and quarantine conflicting ones across tables."""
    # Find duplicated keys on the key columns alone; the compared values are gathered only for
    # the (few) rows whose key repeats, so a million unique records cost one hash pass.
    parts = []
    for ti, t in enumerate(tables):
        idx = np.flatnonzero(t.status == "kept")
        part = pd.DataFrame({c: t.data[c].iloc[idx].reset_index(drop=True) for c in key})
        part["_t"] = ti
        part["_i"] = idx
        parts.append(part)
    if not parts:
        return
    allkeys = pd.concat(parts, ignore_index=True)
    dup = allkeys.duplicated(subset=key, keep=False).to_numpy()
    if not dup.any():
        return
    d = allkeys.loc[dup].reset_index(drop=True)
    tis, iis = d["_t"].to_numpy(), d["_i"].to_numpy()
    for c in compare:
        # rows of d are in (table, row) order, so the per-table pieces line up with them
        pieces = [t.data[c].iloc[iis[tis == ti]] if c in t.data else
                  pd.Series(pd.NA, index=range(int((tis == ti).sum())), dtype="string")
                  for ti, t in enumerate(tables)]
        d[c] = pd.concat(pieces, ignore_index=True)
    # comparison key of the analysed values: their string forms, NA as its own value; one id
    # per distinct combination (group ids instead of a row-wise string join)
    if compare:
        sig_cols = d[compare].astype("string").fillna("\x00NA")
        d["_sig"] = sig_cols.groupby(compare, sort=False, dropna=False).ngroup().to_numpy()
    else:
        d["_sig"] = 0
    n_sig = d.groupby(key, sort=False, dropna=False)["_sig"].transform("nunique")
    conflict = (n_sig > 1).to_numpy()
    # exact: keep the first (table order, row order), merge the rest
    exact = d.loc[~conflict]
    if len(exact):
        later = exact.duplicated(subset=key, keep="first").to_numpy()
        for ti, i in zip(exact["_t"].to_numpy()[later], exact["_i"].to_numpy()[later]):
            tables[ti].status[i] = "merged"
    conf = d.loc[conflict].reset_index(drop=True)
    if len(conf):
        tis, iis = conf["_t"].to_numpy(), conf["_i"].to_numpy()
        # file, row and raw values of the conflicting records only (never whole raw columns)
        files = np.array([tables[ti].spec.rel for ti in tis], dtype=object)
        rows = np.zeros(len(conf), dtype=np.int64)
        raw_at = {c: np.full(len(conf), None, dtype=object) for c in compare}
        for ti, t in enumerate(tables):
            sel = tis == ti
            if not sel.any():
                continue
            rows[sel] = t.data["source_row"].to_numpy()[iis[sel]]
            for c in compare:
                if c in t.raw:
                    raw_at[c][sel] = t.raw[c].iloc[iis[sel]].to_numpy(dtype=object, na_value=None)
        # the value column shows identifiers pseudonymised and pii withheld
        shown = {c: redact(codebook[c], pd.Series(raw_at[c], dtype="string"))
                 if c in codebook.variables and (codebook[c].role == "pii" or codebook[c].pseudonymise)
                 else raw_at[c] for c in compare}
        headers = [t.headers for t in tables]
        cmp_vals = {c: conf[c].astype("string").fillna("\x00NA").to_numpy(dtype=object) for c in compare}
        # one text key per record, joined column-wise in arrow (a row-wise agg(join) took ~1.5 s
        # for the ~18k conflicting codings of a million encounters)
        joined = conf[key[0]].astype("string").fillna("")
        for c in key[1:]:
            joined = joined + "\x1f" + conf[c].astype("string").fillna("")
        keys = joined.to_numpy(dtype=object)
        key_txt = conf[key].astype("string").fillna("")
        for c in key:
            if c in codebook.variables and (codebook[c].role == "pii" or codebook[c].pseudonymise):
                key_txt[c] = redact(codebook[c], key_txt[c])
        groups: dict = {}
        for pos, k in enumerate(keys):
            groups.setdefault(k, []).append(pos)
        out = {"file": [], "row": [], "column": [], "value": [], "detail": []}
        for k, members in groups.items():
            differing = [c for c in compare if len({cmp_vals[c][p] for p in members}) > 1]
            where = ", ".join(f"{files[p]} row {rows[p]}" for p in members)
            keytxt = " ".join(f"{c}={key_txt[c].iat[members[0]]}" for c in key)
            for p in members:
                for c in differing:
                    # the other records' values are shown redacted too: a raw employee or
                    # customer id must not reach data/processed through the detail text
                    others = "; ".join(f"{files[q]} row {rows[q]}: {_fmt(shown[c][q])}"
                                       for q in members if q != p)
                    out["file"].append(files[p])
                    out["row"].append(int(rows[p]))
                    out["column"].append(headers[tis[p]].get(c, c))
                    out["value"].append(shown[c][p])
                    out["detail"].append(f"{_ROW_DROPPED}: conflicting {what} for {keytxt} ({where}); "
                                         f"other value(s): {others}; nothing guessed")
                tables[tis[p]].status[iis[p]] = "quarantined"
        quarantine.add(np.array(out["file"], dtype=object), out["row"], np.array(out["column"], dtype=object),
                       np.array(out["value"], dtype=object), reason, np.array(out["detail"], dtype=object))


def _in(values: pd.Series, index) -> np.ndarray:
    """Membership of each value in ``index`` (NA is never a member)."""
    return _positions(values, index) >= 0


def _positions(values, index) -> np.ndarray:
    """Position of each value in ``index`` (its first occurrence), -1 where absent or NA.

    An arrow hash lookup (``pyarrow.compute.index_in``) on the string data as it is: pandas'
    ``Index.get_indexer`` and ``Series.isin`` first turn a million arrow strings into Python
    objects on both sides, which took ~0.5 s per lookup against the spine.
    """
    def arrow_strings(x) -> pa.ChunkedArray:
        # pa.array gives a ChunkedArray for a multi-chunk column (after concat); wrapping that in
        # pa.chunked_array([...]) again would convert it value by value
        arr = pa.array(pd.array(x, dtype="string"))
        arr = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
        return arr.cast(pa.large_string())

    needles, haystack = arrow_strings(values), arrow_strings(index).combine_chunks()
    found = pc.index_in(needles, value_set=haystack, skip_nulls=True)
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


def _fmt(x) -> str:
    return "(blank)" if x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x)) else repr(str(x))


# --------------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------------
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
    study = load_study(raw_dir)
    codebook = cbmod.load_codebook(study.codebook_path)
    key = privacy.load_key(key_path=key_path)
    steps = len(study.files) + (1 if study.adjudication else 0) + 4
    bar = _progress(steps, progress)
    try:
        result = _clean(study, codebook, key, bar)
    finally:
        bar.close()
    _write_outputs(result, out)
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


def _make_redactor(codebook: Codebook, key: bytes):
    from svcresearch import privacy

    def redact(v: Variable, values: pd.Series) -> np.ndarray:
        vals = pd.Series(values, dtype="string").reset_index(drop=True)
        if v.role == "pii" and not v.allow_in_output:
            return np.full(len(vals), "<pii withheld>", dtype=object)
        if v.pseudonymise:
            stripped = vals.str.strip()
            return privacy.pseudonymise(stripped, prefix=v.pseudonymise, key=key).to_numpy(dtype=object)
        # e-mail/phone-like text in other values is redacted in one pass over quarantine.csv
        return vals.to_numpy(dtype=object)

    return redact


def _clean(study: StudySpec, codebook: Codebook, key: bytes, bar) -> dict:
    from svcresearch import privacy

    quarantine = _Quarantine()
    redact = _make_redactor(codebook, key)
    tables: dict[str, list[_Table]] = {"operations": [], "coding": [], "survey": []}
    boris_specs = []
    for spec in study.files:
        bar.set_description(f"read {spec.rel}")
        if spec.kind == "boris":
            boris_specs.append(spec)
        else:
            tables[spec.kind].append(_read_file(spec, codebook, quarantine, redact))
        bar.update()
    adjud = None
    if study.adjudication is not None:
        adjud = _read_file(study.adjudication, codebook, quarantine, redact, adjudication=True)
        bar.update()

    bar.set_description("identifiers and duplicates")
    all_tables = [t for kind in ("operations", "coding", "survey") for t in tables[kind]]
    if adjud is not None:
        all_tables.append(adjud)
    # --- required values ------------------------------------------------------------------------
    for t in all_tables:
        for name, prob in t.problem.items():
            v = codebook[name]
            if not v.required:
                continue
            p = prob.to_numpy(dtype=object)
            bad = pd.notna(p)
            col = _raw_name(t, name, codebook)
            if bad.any():
                _drop_rows(t, bad, column=name, reason=str(p[bad][0]) if len(set(p[bad])) == 1 else "invalid_id",
                           detail=f"{_ROW_DROPPED}: {_problem_detail(v, codebook)}", quarantine=quarantine,
                           redact=redact, codebook=codebook)
            miss = t.missing[name] & ~bad
            if miss.any():
                _drop_rows(t, miss, column=name, reason="missing_required",
                           detail=f"{_ROW_DROPPED}: '{col}' is required (codebook variable '{name}')",
                           quarantine=quarantine, redact=redact, codebook=codebook)

    ops_vars = [v.name for v in codebook.for_kind("operations") if v.name != "encounter_id"
                and v.role != "pii" or v.allow_in_output and "operations" in v.sources]
    ops_vars = [n for n in ops_vars if n != "encounter_id"]
    beh = [v.name for v in codebook.behaviours]
    survey_vars = [v.name for v in codebook.for_kind("survey") if v.role == "outcome"
                   or (v.role == "pii" and v.allow_in_output)]
    _resolve_duplicates(tables["operations"], key=["encounter_id"], compare=ops_vars,
                        reason="duplicate_conflict", what="operations records", quarantine=quarantine,
                        redact=redact, codebook=codebook)
    _resolve_duplicates(tables["coding"], key=["encounter_id", "coder"], compare=beh,
                        reason="duplicate_conflict", what="codings by the same coder",
                        quarantine=quarantine, redact=redact, codebook=codebook)
    _resolve_duplicates(tables["survey"], key=["encounter_id"], compare=survey_vars,
                        reason="duplicate_response", what="survey responses", quarantine=quarantine,
                        redact=redact, codebook=codebook)
    if adjud is not None:
        _resolve_duplicates([adjud], key=["encounter_id"], compare=beh, reason="duplicate_conflict",
                            what="adjudications", quarantine=quarantine, redact=redact, codebook=codebook)
    bar.update()

    # --- linking ---------------------------------------------------------------------------------
    bar.set_description("link")
    ops = _kept(tables["operations"])
    if tables["operations"]:
        spine = pd.Index(ops["encounter_id"].unique())
    else:
        spine = pd.Index(_kept(tables["coding"])["encounter_id"].unique())
    spine = spine.sort_values()
    link_counts = {}
    for kind, reason, label in (("coding", "unlinked_coding", "coding"),
                                ("survey", "unlinked_survey", "survey")):
        total = linked = 0
        for t in tables[kind]:
            kept = t.status == "kept"
            ok = _in(t.data["encounter_id"], spine)
            total += int(kept.sum())
            linked += int((kept & ok).sum())
            _drop_rows(t, kept & ~ok, column="encounter_id", reason=reason,
                       detail=f"{_ROW_DROPPED}: encounter not in the {'operations log' if tables['operations'] else 'coded encounters'}",
                       quarantine=quarantine, redact=redact, codebook=codebook)
        link_counts[label] = (linked, total)
    if adjud is not None:
        kept = adjud.status == "kept"
        ok = _in(adjud.data["encounter_id"], spine)
        _drop_rows(adjud, kept & ~ok, column="encounter_id", reason="unlinked_coding",
                   detail=f"{_ROW_DROPPED}: adjudicated encounter not in the encounters", quarantine=quarantine,
                   redact=redact, codebook=codebook)
    bar.update()

    # --- video -----------------------------------------------------------------------------------
    bar.set_description("video")
    video, video_files, video_link = _video(boris_specs, codebook, spine, quarantine)
    link_counts["video"] = video_link
    bar.update()

    # --- encounters table ---------------------------------------------------------------------
    bar.set_description("encounters")
    coding = _kept(tables["coding"])
    encounters, coding_long = _assemble(study, codebook, key, spine, ops, coding,
                                        _kept([adjud]) if adjud is not None else None,
                                        _kept(tables["survey"]), tables["survey"], video, quarantine)
    bar.update()

    # --- report ---------------------------------------------------------------------------------
    qframe = quarantine.frame()
    qframe = qframe.sort_values(["file", "row", "column", "reason", "value", "detail"], kind="stable",
                                na_position="first").reset_index(drop=True)
    hits = privacy.scan_frame(qframe, columns=["value"])
    if len(hits):
        qframe.loc[hits["row"].unique(), "value"] = "<redacted: looks like an e-mail address or phone number>"
    files_report = []
    for t in [t for spec in study.files if spec.kind != "boris"
              for t in all_tables if t.spec.rel == spec.rel] + ([adjud] if adjud is not None else []):
        files_report.append(_file_report(t.spec, len(t.status), t.status, qframe, t.read_info,
                                         t.ignored_columns, t.missing_columns))
    for entry in video_files:
        files_report.append(entry)
    order = {s.rel: i for i, s in enumerate(study.files)}
    files_report.sort(key=lambda e: order.get(e["file"], len(order)))
    for e in files_report:
        if e["read"] != e["kept"] + e["merged"] + e["quarantined"]:
            raise RuntimeError(f"internal accounting error for {e['file']}: {e}")  # a bug, never user input
    # privacy scan of what will be written (a bug catcher: nothing personal should be left)
    allowed = {v.out_name for v in codebook.variables.values() if v.role == "pii" and v.allow_in_output}
    # (coding_long holds only codebook levels, canonical ids and file names: not scanned)
    by_construction = {"encounter_id"} | {v.out_name for v in codebook.variables.values() if v.pseudonymise}
    for name, frame in (("encounters.parquet", encounters), ("quarantine.csv", qframe)):
        hits = privacy.scan_frame(frame, columns=[c for c in frame.columns if c not in by_construction and (
            pd.api.types.is_string_dtype(frame[c]) or isinstance(frame[c].dtype, pd.CategoricalDtype))])
        hits = hits[~hits["column"].isin(allowed)]
        if len(hits):
            raise RuntimeError(f"privacy scan found {hits['kind'].iat[0]}-like text in {name} column "
                               f"{hits['column'].iat[0]!r}; not writing outputs")
    report = _report(study, codebook, files_report, qframe, link_counts, encounters, coding_long)
    return {"encounters": encounters, "coding_long": coding_long, "quarantine": qframe, "report": report,
            "codebook": codebook, "study": study}


def _raw_name(t: _Table, name: str, codebook: Codebook) -> str:
    return codebook[name].column_in(t.spec.kind)


def _kept(tables: list[_Table]) -> pd.DataFrame:
    parts = [t.data.loc[t.status == "kept"] for t in tables if t is not None]
    if not parts:
        return pd.DataFrame({"encounter_id": pd.Series(dtype="string")})
    return pd.concat(parts, ignore_index=True)


def _file_report(spec: FileSpec, read: int, status: np.ndarray, qframe: pd.DataFrame, read_info: dict,
                 ignored: list, missing_columns: list = ()) -> dict:
    q = qframe[qframe["file"] == spec.rel]
    row_level = q[q["detail"].str.startswith(_ROW_DROPPED)]
    cell_level = q[q["detail"].str.startswith(_CELL_MISSING)]
    rows_by_reason = (row_level.drop_duplicates(["row"]).groupby("reason").size()
                      if len(row_level) else pd.Series(dtype="int64"))
    return {
        "file": spec.rel, "kind": spec.kind, "read": int(read),
        "kept": int((status == "kept").sum()), "merged": int((status == "merged").sum()),
        "quarantined": int((status == "quarantined").sum()),
        "rows_quarantined_by_reason": {str(k): int(v) for k, v in rows_by_reason.items()},
        "values_set_missing_by_reason": {str(k): int(v) for k, v in
                                         cell_level.groupby("reason").size().items()},
        "quarantine_entries_by_reason": {str(k): int(v) for k, v in q.groupby("reason").size().items()},
        "ignored_columns": list(ignored),
        "missing_columns": list(missing_columns),
        "read_info": read_info,
    }


# --------------------------------------------------------------------------------------------
# video (BORIS)
# --------------------------------------------------------------------------------------------
def _video(specs: list[FileSpec], codebook: Codebook, spine: pd.Index, quarantine: _Quarantine):
    if not specs:
        return None, [], (0, 0)
    from svcresearch import events as evmod
    from svcresearch import io

    parts = []
    for spec in specs:
        ev = io.read_boris(spec.path)
        ev = ev.copy()
        ev["source_file"] = _repeated(spec.rel, len(ev)).set_axis(ev.index)
        parts.append(ev)
    events = pd.concat(parts, ignore_index=True)
    events["_k"] = np.arange(len(events))
    fmt = codebook.id_formats[codebook["encounter_id"].id_format] if codebook["encounter_id"].id_format \
        else None
    raw_obs = events["observation_id"].astype("string")
    enc = cbmod.canonical_id(raw_obs, fmt) if fmt else raw_obs.str.strip()
    dropped = pd.Series(pd.NA, index=events.index, dtype="string")   # reason per event when dropped
    bad_id = enc.isna().to_numpy()
    if bad_id.any():
        quarantine.add(events["source_file"][bad_id], events["source_row"].to_numpy()[bad_id],
                       "observation_id", raw_obs[bad_id], "invalid_id",
                       f"{_ROW_DROPPED}: observation id has no digits (canonical {fmt})")
        dropped[bad_id] = "invalid_id"
    # one observation per encounter: a second observation of the same encounter is a conflict
    obs_key = events["source_file"] + "\x1f" + raw_obs.fillna("")
    first_obs = pd.DataFrame({"enc": enc, "obs": obs_key}).dropna().drop_duplicates("enc")
    owner = enc.map(dict(zip(first_obs["enc"], first_obs["obs"])))
    second = (enc.notna() & (owner != obs_key)).fillna(False).to_numpy()
    if second.any():
        quarantine.add(events["source_file"][second], events["source_row"].to_numpy()[second],
                       "observation_id", raw_obs[second], "duplicate_conflict",
                       f"{_ROW_DROPPED}: the encounter was already video-coded in another observation; "
                       f"nothing guessed")
        dropped[second & dropped.isna().to_numpy()] = "duplicate_conflict"
    linked_mask = _in(enc, spine) & ~bad_id
    unl = ~linked_mask & ~bad_id & ~second
    if unl.any():
        quarantine.add(events["source_file"][unl], events["source_row"].to_numpy()[unl], "observation_id",
                       raw_obs[unl], "unlinked_video", f"{_ROW_DROPPED}: encounter not in the encounters")
        dropped[unl] = "unlinked_video"
    obs_all = pd.DataFrame({"enc": enc, "obs": obs_key})[~bad_id]
    n_obs = obs_all["obs"].nunique()
    n_obs_linked = obs_all[linked_mask[~bad_id]]["obs"].nunique()
    keep = dropped.isna().to_numpy()
    ev = events.loc[keep].copy()
    ev["observation_id"] = enc[keep].astype("string")
    valid, vq = evmod.validate_events(ev.drop(columns=["_k"]).reset_index(drop=True)
                                      .assign(_k=ev["_k"].to_numpy()))
    if len(vq):
        vq = vq.copy()
        if "detail" in vq:
            vq["detail"] = _ROW_DROPPED + ": " + vq["detail"].astype("string").fillna("")
        quarantine.parts.append(vq[QUARANTINE_COLUMNS].astype(
            {"file": "string", "column": "string", "value": "string", "reason": "string",
             "detail": "string"}).assign(row=lambda x: x["row"].astype("int64")))
    # event numbers that survived validation, as a sorted array for np.isin (not a Python set)
    kept_k = np.unique(valid["_k"].to_numpy()) if "_k" in valid else np.zeros(0, dtype=np.int64)
    if "_k" not in valid:
        raise RuntimeError("events.validate_events dropped the bookkeeping column; cannot account for events")
    lost = ~np.isin(ev["_k"].to_numpy(), kept_k)
    # events dropped by validate_events without an entry of their own still need one
    if lost.any():
        lev = ev.loc[lost]
        so_far = quarantine.frame()
        have = set(zip(so_far["file"].to_numpy(), so_far["row"].to_numpy()))
        silent = np.array([(f, r) not in have for f, r in zip(lev["source_file"], lev["source_row"])])
        if silent.any():
            raise RuntimeError("events.validate_events dropped events without a quarantine entry")
    # the BORIS ethogram of the study layout: columns exist even when a behaviour never occurs
    feats = evmod.event_features(valid.drop(columns=["_k"]), behaviors=ETHOGRAM)
    if "observation_id" in feats.columns:
        feats = feats.set_index("observation_id")
    feats.index = feats.index.astype("string")
    feats.index.name = "encounter_id"
    video = pd.DataFrame(index=feats.index)
    for src, dst in VIDEO_COLUMNS.items():
        if src in feats.columns:
            video[dst] = feats[src]
    video["video_coded"] = True
    # per-file accounting, in events
    kept_rows = np.isin(events["_k"].to_numpy(), kept_k)
    files_report = []
    qf = quarantine.frame()
    for spec, part in zip(specs, parts):
        m = (events["source_file"] == spec.rel).to_numpy()
        read = int(m.sum())
        kept = int((m & kept_rows).sum())
        st = np.where(kept_rows[m], "kept", "quarantined")
        files_report.append(_file_report(spec, read, st, qf, {"format": "boris"}, []))
    return video, files_report, (n_obs_linked, n_obs)


# --------------------------------------------------------------------------------------------
# assembling the outputs
# --------------------------------------------------------------------------------------------
def _rows_for(frame: pd.DataFrame, ids: pd.Index, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``frame`` for each id in ``ids`` (NA rows for ids it lacks), RangeIndex.

    ``frame`` holds one row per ``encounter_id``. When the frame is already in ``ids`` order (the
    usual sorted operations log) nothing is looked up or copied; otherwise rows are gathered by
    position (one hash lookup of the ids) rather than by reindexing a string-indexed frame.
    """
    columns = [c for c in columns if c in frame]
    if not len(frame):
        return pd.DataFrame(index=pd.RangeIndex(len(ids)))
    same = len(frame) == len(ids) and bool(
        (frame["encounter_id"].reset_index(drop=True) == pd.Series(ids.array)).fillna(False).all())
    if same:  # already in ids order (arrow comparison, no hash table)
        return frame[columns].reset_index(drop=True)
    pos = _positions(pd.Series(ids.array), frame["encounter_id"])
    if (pos < 0).any():  # some ids absent: let reindex insert NA (and promote dtypes as it must)
        return frame.set_index("encounter_id")[columns].reindex(ids).reset_index(drop=True)
    return frame[columns].iloc[pos].reset_index(drop=True)


def _by_spine_position(frame: pd.DataFrame, pos: np.ndarray, n: int) -> pd.DataFrame:
    """``frame.reindex(spine)`` for a frame indexed by unique encounter ids, with a RangeIndex.

    ``pos`` is each row's spine position (:func:`_positions`; -1: not in the spine) and ``n``
    the spine's length. Reindexing by integer positions gives the same rows, NA rows and dtype
    promotions as reindexing by the id strings, without pandas turning a million ids into
    Python objects for its hash table.
    """
    by_pos = frame.iloc[np.flatnonzero(pos >= 0)]
    by_pos.index = pd.Index(pos[pos >= 0])
    return by_pos.reindex(pd.RangeIndex(n)).reset_index(drop=True)


def _level_codes(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Position of each value's string form in ``levels`` (-1 for NA or a value not listed)."""
    codes, uniques = pd.factorize(values.astype("string"), use_na_sentinel=True)
    pos = {lv: i for i, lv in enumerate(levels)}
    remap = np.array([pos.get(str(u), -1) for u in uniques] + [-1], dtype=np.int32)
    return remap[np.where(codes < 0, len(uniques), codes)]


def _behaviour_levels(b: Variable, *columns: pd.Series) -> list[str]:
    """The levels a behaviour's values are coded against: its value set, else the values seen."""
    if b.value_set is not None:
        return list(b.value_set.levels)
    seen = pd.concat([c.astype("string") for c in columns if c is not None], ignore_index=True)
    return [str(u) for u in pd.unique(seen.dropna())]


def _level_strings(codes: np.ndarray, levels: list[str]) -> pd.Series:
    """Codes back to a ``string`` Series (NA for -1)."""
    table = np.array(list(levels) + [None], dtype=object)
    return pd.Series(pd.array(table[np.where(codes < 0, len(levels), codes)], dtype="string"))


def _typed_codes(codes: np.ndarray, levels: list[str], v: Variable) -> pd.Series:
    """:func:`_typed` of a behaviour given as level codes (no strings for the common types)."""
    vs = v.value_set
    if v.type == "binary":
        yes = levels.index(vs.levels[1])
        return pd.Series(pd.arrays.BooleanArray(codes == yes, codes < 0))
    if vs is not None and not vs.is_integer_scale and v.type not in ("datetime", "continuous", "count"):
        # levels are the value set's levels (see _behaviour_levels), so codes are category codes
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(vs.levels),
                                                   ordered=v.type == "ordinal"))
    return _typed(_level_strings(codes, levels), v)


def _applicable(b: Variable, source) -> np.ndarray:
    """True where the codebook says ``b`` is *not* applicable (a missing context value counts
    as applicable); ``source(variable)`` gives the column a condition reads, or None."""
    applicable = None
    for cond in b.applicable_if:
        src = source(cond.variable)
        res = cond.evaluate(src)
        applicable = res if applicable is None else applicable & res
    if applicable is None:
        return None
    return (applicable == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712 - Kleene logic


@dataclass
class _Codings:
    """Kept coding records sorted by encounter, coder, file, row, held as integer codes.

    ``enc`` indexes the spine, ``coder``/``file`` index ``coders``/``files``; per behaviour,
    ``values[b]`` indexes ``levels[b]`` (-1 = NA) and ``status[b]`` indexes STATUS_LEVELS.
    """

    enc: np.ndarray
    coder: np.ndarray
    coders: list
    file: np.ndarray
    files: list
    row: np.ndarray
    levels: dict
    values: dict
    status: dict


def _sorted_codings(coding: pd.DataFrame, adjud, spine: pd.Index, ctx: pd.DataFrame, codebook: Codebook,
                    quarantine: _Quarantine) -> _Codings:
    """Code the kept codings and apply the applicability rules (status per judgement)."""
    n = len(coding)
    if n and "coder" in coding:
        enc = _positions(coding["encounter_id"], spine)
        coder, coders = pd.factorize(coding["coder"].astype("string"), sort=True)
        file, files = pd.factorize(coding["source_file"].astype("string"), sort=True)
        row = coding["source_row"].to_numpy(dtype=np.int64)
        # spine is sorted, so spine positions sort like the ids; lexsort is stable like the
        # original sort_values(kind="stable") on encounter_id, coder, source_file, source_row
        order = np.lexsort((row, file, coder, enc))
    else:
        enc = coder = file = row = order = np.zeros(0, dtype=np.int64)
        coders = files = []
    cod = _Codings(enc=enc[order], coder=np.asarray(coder)[order], coders=[str(c) for c in coders],
                   file=np.asarray(file)[order], files=[str(f) for f in files], row=row[order],
                   levels={}, values={}, status={})
    behaviour_names = {b.name for b in codebook.behaviours}
    # behaviours that other behaviours' rules read (e.g. referral reads resolved)
    referenced = {c.variable for b in codebook.behaviours for c in b.applicable_if} & behaviour_names
    masked: dict[str, pd.Series] = {}   # behaviour values as the rules of later behaviours see them
    gathered: dict[str, pd.Series] = {}  # context columns, one row per coding record

    def source(variable):
        if variable in behaviour_names and variable in coding:
            if variable not in masked:
                masked[variable] = coding[variable].iloc[order].reset_index(drop=True)
            return masked[variable]
        if variable in ctx:
            # gathered once: most behaviours' rules read the same context column (channel)
            if variable not in gathered:
                gathered[variable] = ctx[variable].iloc[cod.enc].reset_index(drop=True)
            return gathered[variable]
        return pd.Series(pd.NA, index=pd.RangeIndex(len(order)))

    for b in codebook.behaviours:
        raw = coding[b.name] if b.name in coding else None
        adj = adjud[b.name] if adjud is not None and b.name in adjud else None
        levels = _behaviour_levels(b, raw, adj)
        codes = _level_codes(raw, levels)[order] if raw is not None else np.full(len(order), -1, np.int32)
        na_rule = _applicable(b, source)
        if na_rule is None:
            na_rule = np.zeros(len(order), dtype=bool)
        coded_inapplicable = na_rule & (codes >= 0)
        if coded_inapplicable.any():
            rule = " and ".join(c.describe() for c in b.applicable_if)
            where = np.flatnonzero(coded_inapplicable)
            quarantine.add(np.array(cod.files, dtype=object)[cod.file[where]], cod.row[where],
                           b.column_in("coding"), _level_strings(codes[where], levels), "out_of_range",
                           f"{_CELL_MISSING}: coded although not applicable (rule: {rule} is false for this encounter)")
        status = np.where(na_rule, 2, np.where(codes >= 0, 0, 1)).astype(np.int8)
        codes = np.where(na_rule, -1, codes).astype(np.int32)
        if b.name in referenced:
            masked[b.name] = source(b.name).mask(na_rule)
        cod.levels[b.name], cod.values[b.name], cod.status[b.name] = levels, codes, status
    return cod


def _assemble(study, codebook, key, spine, ops, coding, adjud, survey, survey_tables, video, quarantine):
    from svcresearch import privacy

    enc = pd.DataFrame({"encounter_id": pd.array(spine, dtype="string")})
    n_enc = len(enc)
    behaviours = codebook.behaviours
    # --- operations context, one row per encounter
    ops_out = [v for v in codebook.for_kind("operations")
               if v.name != "encounter_id" and codebook.output_allowed(v)]
    rule_vars = {c.variable for b in behaviours for c in b.applicable_if}
    o = ops.drop_duplicates("encounter_id") if len(ops) else ops
    needed = [c for c in o.columns if c != "encounter_id" and (c in rule_vars or c in {v.name for v in ops_out})]
    ctx = _rows_for(o, spine, needed)
    for v in ops_out:
        col = ctx[v.name] if v.name in ctx else pd.Series(pd.NA, index=ctx.index)
        if v.pseudonymise:
            enc[v.out_name] = privacy.pseudonymise(col.astype("string"), prefix=v.pseudonymise, key=key)
        else:
            enc[v.out_name] = _typed(col, v)
    # --- coding: applicability, status
    a = adjud.drop_duplicates("encounter_id") if adjud is not None and len(adjud) else None
    cod = _sorted_codings(coding, a, spine, ctx, codebook, quarantine)
    coding_long = _coding_long(cod, spine, codebook)
    # --- consensus: per encounter the primary coder's first record, else the first record
    n_cod = len(cod.enc)
    not_primary = np.array([c != study.primary_coder for c in cod.coders], dtype=bool)[cod.coder] \
        if n_cod else np.zeros(0, dtype=bool)
    pick = np.lexsort((np.arange(n_cod), not_primary, cod.enc))
    first = np.ones(n_cod, dtype=bool)
    first[1:] = cod.enc[pick][1:] != cod.enc[pick][:-1]
    chosen = pick[first]
    chosen_enc = cod.enc[chosen]
    coded = np.zeros(n_enc, dtype=bool)
    coded[chosen_enc] = True
    new_pair = np.ones(n_cod, dtype=bool)   # rows are sorted by encounter, then coder
    new_pair[1:] = (cod.enc[1:] != cod.enc[:-1]) | (cod.coder[1:] != cod.coder[:-1])
    n_coders = np.bincount(cod.enc[new_pair], minlength=n_enc)
    values, status = {}, {}
    for b in behaviours:
        values[b.name] = np.full(n_enc, -1, dtype=np.int32)
        values[b.name][chosen_enc] = cod.values[b.name][chosen]
        status[b.name] = np.full(n_enc, -1, dtype=np.int8)
        status[b.name][chosen_enc] = cod.status[b.name][chosen]
    if a is not None:
        # an adjudicated value wins, for encounters somebody coded
        a_enc = _positions(a["encounter_id"], spine)
        for b in behaviours:
            if b.name not in a:
                continue
            a_codes = _level_codes(a[b.name], cod.levels[b.name])
            ok = a[b.name].notna().to_numpy() & (a_enc >= 0)
            ok[ok] = coded[a_enc[ok]]
            values[b.name][a_enc[ok]] = a_codes[ok]
            status[b.name][a_enc[ok]] = 0
    for b in behaviours:
        enc[b.name] = _typed_codes(values[b.name], cod.levels[b.name], b)
    # encounters nobody coded: applicability still follows from the operations context
    uncoded = ~coded

    def ctx_source(variable):
        return ctx[variable] if variable in ctx else pd.Series(pd.NA, index=ctx.index)

    for b in behaviours:
        st = status[b.name]
        if uncoded.any():
            na_rule = _applicable(b, ctx_source)
            na_rule = np.zeros(n_enc, dtype=bool) if na_rule is None else na_rule
            st = np.where(uncoded, np.where(na_rule, 2, 1), st).astype(np.int8)
        enc[b.name + "_status"] = pd.Categorical.from_codes(st, categories=STATUS_LEVELS)
    enc["double_coded"] = n_coders >= 2
    # --- video
    enc["video_coded"] = False
    vid_cols = list(VIDEO_COLUMNS.values())
    if video is not None:
        v = _by_spine_position(video, _positions(pd.Series(video.index.array), spine), n_enc)
        enc["video_coded"] = v["video_coded"].fillna(False).astype(bool).to_numpy()
        for c in vid_cols:
            enc[c] = v[c].reset_index(drop=True) if c in v else pd.NA
    else:
        for c in vid_cols:
            enc[c] = pd.NA
    _type_video(enc)
    # --- survey
    survey_out = [v for v in codebook.for_kind("survey") if v.role == "outcome"
                  or (v.role == "pii" and v.allow_in_output)]
    if len(survey):
        mode_by_file = {t.spec.rel: t.spec.mode for t in survey_tables}
        s = survey.drop_duplicates("encounter_id").set_index("encounter_id")
        s["survey_mode"] = s["source_file"].map(mode_by_file)
        s = s[["survey_mode"] + [v.name for v in survey_out if v.name in s]]  # only what is output
    else:
        s = pd.DataFrame(index=pd.Index([], dtype="string"), columns=["survey_mode"])
    s_pos = _positions(pd.Series(s.index.array), spine)
    sv = _by_spine_position(s, s_pos, n_enc)
    responded = np.zeros(n_enc, dtype=bool)
    responded[s_pos[s_pos >= 0]] = True
    enc["responded"] = responded
    enc["survey_mode"] = pd.Categorical(sv["survey_mode"] if "survey_mode" in sv else pd.NA,
                                        categories=["paper", "web"])
    for v in survey_out:
        enc[v.out_name] = _typed(sv[v.name] if v.name in sv else pd.Series(pd.NA, index=sv.index), v)
    for sname, sspec in codebook.scales.items():
        items = enc[sspec["items"]].astype("Float64")
        score = items.mean(axis=1, skipna=False).astype("float64")
        # place right after its last item
        pos = max(enc.columns.get_loc(i) for i in sspec["items"]) + 1
        enc.insert(pos, sname, score.to_numpy())
    enc = enc.reset_index(drop=True)
    return enc, coding_long


def _typed(col: pd.Series, v: Variable) -> pd.Series:
    """Output dtype of a normalised codebook variable (docs/study_layout.md)."""
    col = col.reset_index(drop=True)
    vs = v.value_set
    if v.type == "binary":
        yes = vs.levels[1]
        s = col.astype("string")
        return pd.Series(pd.array(np.where(s.isna(), None, s == yes), dtype="boolean")) if len(s) else \
            pd.Series(pd.array([], dtype="boolean"))
    if v.type == "datetime":
        return pd.to_datetime(col, errors="coerce").astype("datetime64[us]")
    if v.type == "continuous":
        return pd.to_numeric(col, errors="coerce").astype("float64")
    if v.type == "count":
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    if vs is not None and vs.is_integer_scale:
        return pd.to_numeric(col, errors="coerce").astype("Int64")
    if vs is not None:
        return pd.Series(pd.Categorical(col.astype("string").to_numpy(dtype=object),
                                        categories=list(vs.levels), ordered=v.type == "ordinal"))
    return col.astype("string")


def _type_video(enc: pd.DataFrame):
    floats = ["video_eye_contact_duration_s", "video_eye_contact_share", "video_smile_duration_s",
              "video_smile_share", "video_greeting_latency_s"]
    counts = ["video_eye_contact_count", "video_smile_count", "video_nod_count"]
    bools = ["video_smile_at_greeting", "video_smile_at_transaction", "video_smile_at_closing",
             "video_greeting_present"]
    for c in floats:
        enc[c] = pd.to_numeric(enc[c], errors="coerce").astype("float64")
    for c in counts:
        enc[c] = pd.to_numeric(enc[c], errors="coerce").astype("Int64")
    for c in bools:
        enc[c] = enc[c].astype("boolean")
    enc["video_smile_type"] = pd.Categorical(enc["video_smile_type"].astype("string").to_numpy(dtype=object),
                                             categories=["none", "polite", "genuine"], ordered=True)
    enc["video_coded"] = enc["video_coded"].astype(bool)


class _LongTable:
    """``coding_long``: every judgement, one row per (encounter, coder, behaviour), kept as
    integer codes and turned into arrow columns one row group at a time when written.

    Row ``i`` is record ``i // n_behaviours`` of the sorted codings (``_Codings``: encounter,
    coder, file, row order) and behaviour ``i % n_behaviours`` (codebook order): the fixed row
    order of the output. Materialising all of it at once as strings took about 1.5 GB for a
    million encounters; a row group at a time it is a few dozen MB.
    """

    def __init__(self, cod: _Codings, spine: pd.Index, codebook: Codebook):
        behaviours = list(codebook.behaviours)
        self.names = [b.name for b in behaviours]
        self.nb = len(behaviours)
        self.cod = cod
        self.num_rows = len(cod.enc) * self.nb
        # one list of output levels across behaviours; per behaviour a table from its own
        # level codes to that list and to the numeric code (last column: NA, for code -1)
        self.levels: list[str] = []
        for b in behaviours:
            for lv in (b.value_set.levels if b.value_set is not None else ()):
                if lv not in self.levels:
                    self.levels.append(lv)
        level_pos = {lv: i for i, lv in enumerate(self.levels)}
        width = max([len(cod.levels[b.name]) for b in behaviours], default=0) + 1
        self.value_of = np.full((self.nb, width), -1, dtype=np.int32)
        self.number_of = np.full((self.nb, width), np.nan)
        for j, b in enumerate(behaviours):
            own = cod.levels[b.name]
            self.value_of[j, :len(own)] = [level_pos.get(lv, -1) for lv in own]
            if b.value_set is not None:
                numbers = b.value_set.level_numbers()
                self.number_of[j, :len(own)] = [numbers.get(lv, np.nan) for lv in own]
        n = len(cod.enc)
        self.codes = np.empty((n, self.nb), dtype=np.int32)
        self.status = np.empty((n, self.nb), dtype=np.int8)
        for j, b in enumerate(behaviours):
            # code -1 (NA) indexes the last column of the tables above
            self.codes[:, j] = np.where(cod.values[b.name] < 0, width - 1, cod.values[b.name])
            self.status[:, j] = cod.status[b.name]
        self.ids = pa.array(pd.array(spine, dtype="string")).cast(pa.string())

    def __len__(self) -> int:
        return self.num_rows

    def slice(self, start: int, stop: int) -> pa.Table:
        """Rows ``start`` to ``stop`` as an arrow table (string columns, as written)."""
        i = np.arange(start, stop, dtype=np.int64)
        rec, j = np.divmod(i, max(self.nb, 1))
        own = self.codes[rec, j]
        cod = self.cod

        def dict_col(indices, dictionary):
            idx = pa.array(indices, mask=indices < 0) if (indices < 0).any() else pa.array(indices)
            if not isinstance(dictionary, pa.Array):
                dictionary = pa.array(dictionary, type=pa.string())
            return pa.DictionaryArray.from_arrays(idx, dictionary).cast(pa.string())

        return pa.table({
            "encounter_id": dict_col(cod.enc[rec], self.ids),
            "coder": dict_col(cod.coder[rec].astype(np.int64), cod.coders),
            "behaviour": dict_col(j.astype(np.int32), self.names),
            "value": dict_col(self.value_of[j, own], self.levels or ["_"]),
            "value_numeric": pa.array(self.number_of[j, own], type=pa.float64()),
            "status": dict_col(self.status[rec, j].astype(np.int32), STATUS_LEVELS),
            "source_file": dict_col(cod.file[rec].astype(np.int64), cod.files),
            "source_row": pa.array(cod.row[rec], type=pa.int64()),
        })


def _coding_long(cod: _Codings, spine: pd.Index, codebook: Codebook) -> _LongTable:
    return _LongTable(cod, spine, codebook)


# --------------------------------------------------------------------------------------------
# report and writing
# --------------------------------------------------------------------------------------------
def _report(study, codebook, files_report, qframe, link_counts, encounters, coding_long) -> dict:
    totals = {k: int(sum(e[k] for e in files_report)) for k in ("read", "kept", "merged", "quarantined")}
    reasons = {str(k): int(v) for k, v in qframe.groupby("reason").size().items()} if len(qframe) else {}
    n = len(encounters)
    link = {}
    for kind, (linked, total) in link_counts.items():
        link[kind] = {"linked": int(linked), "total": int(total),
                      "rate": round(linked / total, 6) if total else None}
    coverage = {
        "encounters": n,
        "coded": int((encounters[[b.name + "_status" for b in codebook.behaviours]] != "missing")
                     .any(axis=1).sum()) if n else 0,
        "double_coded": int(encounters["double_coded"].sum()),
        "video_coded": int(encounters["video_coded"].sum()),
        "responded": int(encounters["responded"].sum()),
    }
    return {
        "study": study.name,
        "study_checksum": study_checksum(study),
        "codebook": study.codebook_path.name,
        "hypotheses": study.hypotheses_path.name if study.hypotheses_path is not None else None,
        "files": files_report,
        "totals": totals,
        "quarantine_entries_by_reason": reasons,
        "link_rates": link,
        "encounters": coverage,
        "judgements": int(len(coding_long)),
        "consensus_rule": (f"primary coder '{study.primary_coder}'; otherwise the first other coder "
                           f"alphabetically" + (f"; adjudication file '{study.adjudication.rel}' overrides"
                                                if study.adjudication else "")),
    }


def report_notes(report: dict) -> list[str]:
    """One sentence per raw file that lacks columns its kind should carry (from the codebook).

    The CLI prints these after cleaning and ``cleaning_report.md`` lists them, so a renamed or
    forgotten column is never lost silently (its variable is empty in the outputs).
    """
    return [f"{e['file']} has no column for {', '.join(map(repr, e['missing_columns']))}: "
            f"{'this variable is' if len(e['missing_columns']) == 1 else 'these variables are'} empty "
            f"for its records (rename the column or set source_columns in the codebook if it exists "
            f"under another name)"
            for e in report["files"] if e.get("missing_columns")]


def _report_md(report: dict) -> str:
    lines = [f"# Cleaning report: {report['study']}", "",
             "Every raw record is kept, merged as an exact duplicate, or quarantined "
             "(see quarantine.csv): read = kept + merged + quarantined.", "",
             "| file | kind | read | kept | merged | quarantined | values set missing |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for e in report["files"]:
        cells = sum(e["values_set_missing_by_reason"].values())
        lines.append(f"| {e['file']} | {e['kind']} | {e['read']} | {e['kept']} | {e['merged']} | "
                     f"{e['quarantined']} | {cells} |")
    t = report["totals"]
    lines.append(f"| **total** |  | {t['read']} | {t['kept']} | {t['merged']} | {t['quarantined']} |  |")
    notes = report_notes(report)
    if notes:
        lines += ["", "## Columns the codebook expects but a file lacks", ""] + [f"- {n}" for n in notes]
    lines += ["", "## Quarantine entries by reason", "", "| reason | entries |", "|---|---:|"]
    for r, c in sorted(report["quarantine_entries_by_reason"].items()):
        lines.append(f"| {r} | {c} |")
    lines += ["", "## Link rates", "", "| records | linked | total | rate |", "|---|---:|---:|---:|"]
    for k, v in sorted(report["link_rates"].items()):
        rate = "" if v["rate"] is None else f"{v['rate']:.3f}"
        lines.append(f"| {k} | {v['linked']} | {v['total']} | {rate} |")
    lines += ["", "## Encounters", ""]
    for k, v in report["encounters"].items():
        lines.append(f"- {k}: {v}")
    lines += ["", f"Consensus rule: {report['consensus_rule']}.", ""]
    return "\n".join(lines)


_EXTRA_FIELDS_DOC = {
    "double_coded": {"type": "boolean", "title": "Coded by two or more coders"},
    "video_coded": {"type": "boolean", "title": "Video-coded in BORIS"},
    "responded": {"type": "boolean", "title": "Customer answered the survey"},
    "survey_mode": {"type": "string", "title": "Survey mode", "constraints": {"enum": ["paper", "web"]}},
    "video_smile_type": {"type": "string", "title": "Video: smile type", "categories": ["none", "polite", "genuine"],
                         "categoriesOrdered": True},
}


def _extra_fields(codebook: Codebook, columns: list[str]) -> dict:
    extra = dict(_EXTRA_FIELDS_DOC)
    for b in codebook.behaviours:
        extra[b.name + "_status"] = {"type": "string", "title": f"{b.label_en}: status",
                                     "constraints": {"enum": STATUS_LEVELS},
                                     "description": "observed / missing / not_applicable (codebook applicable_if)"}
    for sname, s in codebook.scales.items():
        extra[sname] = {"type": "number", "title": s["label_en"], "svc:label_fi": s["label_fi"],
                        "description": f"mean of {', '.join(s['items'])}; missing unless all are present"}
    for c in columns:
        if c.startswith("video_") and c not in extra:
            kind = ("integer" if c.endswith("_count") else "number" if c.endswith(("_s", "_share"))
                    else "boolean")
            extra[c] = {"type": kind, "title": "Video (BORIS): " + c[len("video_"):].replace("_", " ")}
    return {k: v for k, v in extra.items() if k in columns}


def _long_schema() -> dict:
    return {"fields": [
        {"name": "encounter_id", "type": "string"}, {"name": "coder", "type": "string"},
        {"name": "behaviour", "type": "string"},
        {"name": "value", "type": "string", "description": "normalised code (yes/no, none/polite/genuine)"},
        {"name": "value_numeric", "type": "number", "description": "no=0 yes=1; none=0 polite=1 genuine=2"},
        {"name": "status", "type": "string", "constraints": {"enum": STATUS_LEVELS}},
        {"name": "source_file", "type": "string"}, {"name": "source_row", "type": "integer"}],
        "primaryKey": ["encounter_id", "coder", "behaviour", "source_file", "source_row"]}


def _quarantine_schema() -> dict:
    return {"fields": [
        {"name": "file", "type": "string"}, {"name": "row", "type": "integer"},
        {"name": "column", "type": "string"}, {"name": "value", "type": "string"},
        {"name": "reason", "type": "string"}, {"name": "detail", "type": "string"}],
        "missingValues": [""]}


# Rows per parquet row group: pyarrow's default for write_table, written out so that a table
# written in slices (one row group each) gives the same file as one write_table call.
_ROW_GROUP_ROWS = 1024 * 1024


def _write_parquet(df, path: Path):
    if isinstance(df, _LongTable):
        _write_long(df, path)
        return
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True, row_group_size=_ROW_GROUP_ROWS)


def _write_long(long_: _LongTable, path: Path):
    """Write ``coding_long`` one row group at a time, building the next group while the
    current one is encoded.

    pyarrow releases the GIL while it encodes and compresses a row group, so a worker thread
    can turn the next group's integer codes into arrow columns meanwhile; the groups are still
    written in order, so the file is the same as when written one after the other.
    """
    from concurrent.futures import ThreadPoolExecutor

    n = len(long_)
    starts = list(range(0, n, _ROW_GROUP_ROWS))
    with ThreadPoolExecutor(max_workers=1) as pool, \
            pq.ParquetWriter(path, long_.slice(0, 0).schema, compression="zstd", write_statistics=True) as w:
        pending = pool.submit(long_.slice, 0, min(_ROW_GROUP_ROWS, n)) if starts else None
        for k, start in enumerate(starts):
            group = pending.result()
            if k + 1 < len(starts):
                nxt = starts[k + 1]
                pending = pool.submit(long_.slice, nxt, min(nxt + _ROW_GROUP_ROWS, n))
            w.write_table(group, row_group_size=_ROW_GROUP_ROWS)
        if not n:
            w.write_table(long_.slice(0, 0))


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_outputs(result: dict, out: Path):
    """Write every output into a temp folder next to ``out``, then move them in place."""
    codebook = result["codebook"]
    enc, long_, q, report = result["encounters"], result["coding_long"], result["quarantine"], result["report"]
    schema = codebook.to_pandera(columns=list(enc.columns))
    schema.validate(enc)  # derived from the codebook: a failure here is a bug in the cleaner
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        _write_parquet(enc, tmp / "encounters.parquet")
        _write_parquet(long_, tmp / "coding_long.parquet")
        buf = _io.StringIO()
        q.to_csv(buf, index=False, lineterminator="\n")
        (tmp / "quarantine.csv").write_bytes(buf.getvalue().encode("utf-8"))
        (tmp / "cleaning_report.json").write_bytes(_json_bytes(report))
        (tmp / "cleaning_report.md").write_bytes(_report_md(report).encode("utf-8"))
        resources = []
        for name, fname, fmt, sch in (
                ("encounters", "encounters.parquet", "parquet",
                 codebook.table_schema(list(enc.columns), extra=_extra_fields(codebook, list(enc.columns)),
                                       primary_key=["encounter_id"])),
                ("coding_long", "coding_long.parquet", "parquet", _long_schema()),
                ("quarantine", "quarantine.csv", "csv", _quarantine_schema()),
                ("cleaning_report", "cleaning_report.json", "json", None),
                ("cleaning_report_md", "cleaning_report.md", "md", None)):
            res = {"name": name, "path": fname, "format": fmt, "profile": "tabular-data-resource"
                   if sch else "data-resource", "hash": "sha256:" + _sha256(tmp / fname),
                   "bytes": (tmp / fname).stat().st_size}
            if sch:
                res["schema"] = sch
            resources.append(res)
        package = {
            "profile": "tabular-data-package", "name": _slug(report["study"]),
            "title": f"{report['study']}: cleaned service encounters",
            "description": "Written by svcresearch clean; schemas derived from the study codebook "
                           f"'{report['codebook']}'.",
            "resources": resources,
            "svc:codebook": {"name": codebook.name,
                             "value_sets": {k: list(v.levels) for k, v in codebook.value_sets.items()},
                             "missing_codes": sorted(codebook.missing_codes - {""})},
        }
        (tmp / "datapackage.json").write_bytes(_json_bytes(package))
        out.mkdir(parents=True, exist_ok=True)
        for fname in OUTPUT_FILES:
            os.replace(tmp / fname, out / fname)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "study"
