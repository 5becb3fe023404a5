"""Stage 1 — the study specification: ``study.yaml`` parsed and checked (docs/study_layout.md)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svcresearch import codebook as cbmod
from svcresearch._yaml import load_yaml
from svcresearch._validation import InputError

_FILE_KEYS = {"path", "kind", "sheet", "sep", "encoding", "decimal", "header_row", "mode", "coder"}
_STUDY_KEYS = {"name", "description", "codebook", "files", "adjudication", "primary_coder", "hypotheses"}


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
    # strict and bounded: no aliases (an alias bomb), no duplicated keys (a second `files:`), a size cap
    spec = load_yaml(path, what="study.yaml")
    if not isinstance(spec, dict):
        raise InputError("expected a mapping with keys name, codebook, files.", file=path)
    unknown = set(spec) - _STUDY_KEYS
    if unknown:
        raise InputError(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_STUDY_KEYS)}.", file=path)
    if not spec.get("codebook"):
        raise InputError("no 'codebook' entry; expected e.g. 'codebook: codebook.yaml' (start from "
                         "svcresearch/simulate/resources/codebook.yaml).", file=path, column="codebook")
    codebook_path = _inside(raw_dir, spec["codebook"], study=path, key="codebook")
    if not codebook_path.is_file():
        raise InputError(f"names codebook '{spec['codebook']}', which does not exist.", file=path,
                         column="codebook")
    files_raw = spec.get("files")
    if not isinstance(files_raw, list) or not files_raw:
        raise InputError("'files' must list the raw files, each with 'path' and 'kind'.", file=path,
                         column="files")
    files = []
    seen: dict[Path, str] = {}
    for i, entry in enumerate(files_raw, start=1):
        files.append(_file_spec(entry, raw_dir=raw_dir, study=path, where=f"files[{i}]"))
        real = files[-1].path.resolve()
        if real in seen:
            raise InputError(f"names the same file twice ('{seen[real]}' and '{files[-1].rel}'); list each file "
                             f"once.", file=path, column="files")
        seen[real] = files[-1].rel
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
        hypotheses_path = _inside(raw_dir, spec["hypotheses"], study=path, key="hypotheses")
        if not hypotheses_path.is_file():
            raise InputError(f"names hypotheses file '{spec['hypotheses']}', which does not exist.", file=path,
                             column="hypotheses")
    return StudySpec(path=path, name=str(spec.get("name") or raw_dir.name),
                     description=str(spec.get("description") or ""), codebook_path=codebook_path,
                     files=tuple(files), adjudication=adjudication, primary_coder=str(primary).strip(),
                     hypotheses_path=hypotheses_path)


def study_checksum(study: StudySpec) -> str:
    """SHA-256 over the study's own files (study.yaml, codebook, hypotheses, every raw file).

    Recorded in ``cleaning_report.json`` (``study_checksum``) so that an analysis can tell
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
    path = _inside(raw_dir, entry["path"], study=study, key="files")
    if not path.is_file():
        raise InputError(f"names '{rel}', which does not exist in {raw_dir}.", file=study, column="files")
    options = {k: entry[k] for k in ("sheet", "sep", "encoding", "decimal", "header_row") if k in entry}
    _check_read_options(options, where=f"{where} ('{rel}')", study=study)
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



def _inside(raw_dir: Path, name: Any, *, study: Path, key: str) -> Path:
    """``raw_dir / name``, refused unless it stays inside the study folder (symlinks resolved)."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"'{key}' entries must be file paths relative to study.yaml; got {name!r}.", file=study,
                         column=key)
    rel = Path(name)
    if rel.is_absolute() or rel.drive:
        raise InputError(f"'{name}' is an absolute path; the study's files must be inside the study folder "
                         f"and named relative to study.yaml.", file=study, column=key)
    root = raw_dir.resolve()
    target = (raw_dir / rel).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"'{name}' points outside the study folder {root} (through '..' or a symbolic link); "
                         f"copy the file into the study folder.", file=study, column=key)
    return raw_dir / rel


_ENCODINGS = ("utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-1", "iso-8859-15", "utf-16")


def _check_read_options(options: dict, *, where: str, study: Path) -> None:
    """Read options of a file entry: right types and values, said in one line."""
    def bad(key, expected, got):
        raise InputError(f"{where}: '{key}' must be {expected}; got {got!r}.", file=study, column=key)

    if "sheet" in options and (not isinstance(options["sheet"], str) or not options["sheet"].strip()):
        bad("sheet", "the sheet's name as text (e.g. sheet: coding)", options["sheet"])
    if "header_row" in options:
        h = options["header_row"]
        if not isinstance(h, int) or isinstance(h, bool) or h < 1:
            bad("header_row", "a whole number of 1 or more (the 1-based row of the header)", h)
    if "sep" in options and options["sep"] not in (",", ";", "\t", "|"):
        bad("sep", "one of ',', ';', '\\t' (tab), '|'", options["sep"])
    if "decimal" in options and options["decimal"] not in (".", ","):
        bad("decimal", "'.' or ','", options["decimal"])
    if "encoding" in options:
        enc = options["encoding"]
        if not isinstance(enc, str) or enc.lower().replace("_", "-") not in _ENCODINGS:
            bad("encoding", f"one of {', '.join(_ENCODINGS)}", enc)
