"""Stage 10 — write the outputs atomically: computed in memory, written into a temporary folder
next to ``out``, moved into place only when all were written (docs/study_layout.md)."""
from __future__ import annotations

import hashlib
import io as _io
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from svcresearch._validation import InputError
from svcresearch.codebook import Codebook

from .consensus import STATUS_LEVELS, LongTable
from .ledger import QUARANTINE_COLUMNS
from .report import report_md

OUTPUT_FILES = ("encounters.parquet", "coding_long.parquet", "quarantine.csv", "cleaning_report.json",
                "cleaning_report.md", "datapackage.json")

_EXTRA_FIELDS_DOC = {
    "double_coded": {"type": "boolean", "title": "Coded by two or more coders"},
    "video_coded": {"type": "boolean", "title": "Video-coded in BORIS"},
    "responded": {"type": "boolean", "title": "Customer answered the survey"},
    "survey_mode": {"type": "string", "title": "Survey mode", "constraints": {"enum": ["paper", "web"]}},
}


def extra_fields(codebook: Codebook, columns: list[str]) -> dict:
    """Frictionless descriptors of the encounters columns that are not codebook variables."""
    extra = dict(_EXTRA_FIELDS_DOC)
    for b in codebook.behaviours:
        extra[b.name + "_status"] = {"type": "string", "title": f"{b.label_en}: status",
                                     "constraints": {"enum": STATUS_LEVELS},
                                     "description": "observed / missing / not_applicable (codebook applicable_if)"}
    for sname, s in codebook.scales.items():
        extra[sname] = {"type": "number", "title": s["label_en"], "svc:label_fi": s["label_fi"],
                        "description": f"mean of {', '.join(s['items'])}; missing unless all are present"}
    return {k: v for k, v in extra.items() if k in columns}


def _long_schema() -> dict:
    return {"fields": [
        {"name": "encounter_id", "type": "string"}, {"name": "coder", "type": "string"},
        {"name": "behaviour", "type": "string"},
        {"name": "value", "type": "string", "description": "normalised code (a level of the behaviour's value set)"},
        {"name": "value_numeric", "type": "number", "description": "the level's number (value set `numeric`, "
                                                                   "the integer level, or its rank)"},
        {"name": "status", "type": "string", "constraints": {"enum": STATUS_LEVELS}},
        {"name": "source_file", "type": "string"}, {"name": "source_row", "type": "integer"}],
        "primaryKey": ["encounter_id", "coder", "behaviour", "source_file", "source_row"]}


def _quarantine_schema() -> dict:
    return {"fields": [{"name": c, "type": "integer" if c == "row" else "string"} for c in QUARANTINE_COLUMNS],
            "missingValues": [""]}


# Rows per parquet row group: pyarrow's default for write_table, written out so that a table
# written in slices (one row group each) gives the same file as one write_table call.
_ROW_GROUP_ROWS = 1024 * 1024


def _write_parquet(df, path: Path):
    if isinstance(df, LongTable):
        _write_long(df, path)
        return
    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression="zstd", write_statistics=True, row_group_size=_ROW_GROUP_ROWS)


def _write_long(long_: LongTable, path: Path):
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


def write_outputs(result: dict, out: Path) -> None:
    """Write the whole output set and swap it in as one folder.

    The outputs are written into a temporary folder next to ``out`` (with a copy of any other
    files already in ``out``, which are left alone), and that folder replaces ``out`` in one
    atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames). A run killed
    at any moment leaves either the old set or the new one, never a mix whose
    ``datapackage.json`` hashes do not match; its temporary folder is removed by the next run.

    Raises
    ------
    InputError
        The output folder's parent cannot be written (read-only, no permission).
    """
    codebook = result["codebook"]
    enc, long_, q, report = result["encounters"], result["coding_long"], result["quarantine"], result["report"]
    schema = codebook.to_pandera(columns=list(enc.columns))
    schema.validate(enc)  # derived from the codebook: a failure here is a bug in the cleaner
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; expected a folder for the processed outputs (--out).", file=out)
    _remove_stale(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise InputError(f"cannot write the output folder here ({exc.strerror or exc}); choose a writable "
                         f"folder with --out.", file=out) from None
    try:
        # mkdtemp makes the folder private (0700); the outputs follow the user's umask like any file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        _write_parquet(enc, tmp / "encounters.parquet")
        _write_parquet(long_, tmp / "coding_long.parquet")
        buf = _io.StringIO()
        _excel_safe_frame(q).to_csv(buf, index=False, lineterminator="\n")
        (tmp / "quarantine.csv").write_bytes(buf.getvalue().encode("utf-8"))
        (tmp / "cleaning_report.json").write_bytes(_json_bytes(report))
        (tmp / "cleaning_report.md").write_bytes(report_md(report).encode("utf-8"))
        resources = []
        for name, fname, fmt, sch in (
                ("encounters", "encounters.parquet", "parquet",
                 codebook.table_schema(list(enc.columns), extra=extra_fields(codebook, list(enc.columns)),
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
        if out.is_dir():
            for other in sorted(out.iterdir()):
                if other.name not in OUTPUT_FILES:
                    # other files (a README) stay: copied into the new set (a hard link when possible)
                    target = tmp / other.name
                    if other.is_dir() and not other.is_symlink():
                        shutil.copytree(other, target, symlinks=True)
                    else:
                        try:
                            os.link(other, target, follow_symlinks=False)
                        except OSError:
                            shutil.copy2(other, target, follow_symlinks=False)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _excel_safe_frame(q):
    """Text cells a spreadsheet would run as a formula get a leading apostrophe (file names too)."""
    from svcresearch.report import excel_safe

    q = q.copy()
    for c in q.columns:
        if c != "row":
            q[c] = q[c].map(excel_safe, na_action="ignore")
    return q


def _swap_in(new: Path, out: Path) -> None:
    """Make ``new`` the folder ``out`` in one step; afterwards ``new`` holds the old set (or is gone)."""
    if not out.exists():
        os.rename(new, out)
        return
    if _exchange(new, out):
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(new, out)
    os.rename(old, new)  # removed by the caller


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    res = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return res == 0


def _remove_stale(out: Path) -> None:
    """Remove temporary folders that killed runs left next to ``out`` (their process is gone)."""
    if not out.parent.is_dir():
        return
    for p in out.parent.glob(f".{out.name}.tmp-*"):
        m = re.match(rf"\.{re.escape(out.name)}\.tmp-(\d+)-", p.name)
        if m and _alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)
    for p in out.parent.glob(f".{out.name}.old-*"):
        m = re.match(rf"\.{re.escape(out.name)}\.old-(\d+)$", p.name)
        if m and not _alive(int(m.group(1))) and out.is_dir():
            shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-") or "study"
