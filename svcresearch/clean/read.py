"""Stage 2 — read one raw file and normalise its codebook columns.

:func:`read_file` reads a coding sheet, survey or operations log with
:func:`svcresearch.io.read_table`, finds the column of every codebook variable that names the
file's kind in its ``sources`` (``source_columns`` or the variable name, compared ignoring case,
spaces, hyphens and underscores), and normalises it (:func:`svcresearch.codebook.normalise`).
Values that cannot be read are set to missing with a ``cell`` entry in the ledger; what a record
as a whole lacks is decided later (:mod:`.identifiers`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from svcresearch._validation import InputError
from svcresearch.codebook import Codebook, Variable, normalise

from .ledger import Ledger
from .spec import FileSpec

_BOOKKEEPING = ("source_row", "source_sheet")


def canon_col(name: str) -> str:
    """Column names compared ignoring case, surrounding spaces, hyphens and underscores."""
    return "_".join(str(name).strip().casefold().replace("-", " ").split())


@dataclass
class Table:
    """One file's records: normalised values, raw values, and each record's fate."""

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

    def kept(self) -> np.ndarray:
        return self.status == "kept"


def make_redactor(codebook: Codebook, key: bytes):
    """The one redaction of raw values the cleaner writes (:class:`.redact.Redactor`)."""
    from .redact import Redactor

    return Redactor(codebook, key)


def read_file(spec: FileSpec, codebook: Codebook, ledger: Ledger, redact, *,
              adjudication: bool = False) -> Table:
    """Read and normalise one raw file named in study.yaml.

    Raises
    ------
    InputError
        A required column is missing, or a coding sheet has no behaviour column, or a survey
        file has no column of any variable the codebook reads from surveys.
    """
    from svcresearch import io

    df = io.read_table(spec.path, **spec.options)
    info = {k: (v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else str(v))
            for k, v in dict(df.attrs.get("read_info", {})).items() if k != "file"}
    by_canon: dict[str, list] = {}
    for col in df.columns:
        if col in _BOOKKEEPING:
            continue
        by_canon.setdefault(canon_col(col), []).append(col)
    variables = codebook.for_kind(spec.kind)
    present: dict[str, str] = {}
    for v in variables:
        names = [canon_col(v.column_in(spec.kind))] + ([canon_col(v.name)] if v.column_in(spec.kind) != v.name else [])
        cols = [c for name in dict.fromkeys(names) for c in by_canon.get(name, [])]
        if len(cols) > 1:
            # e.g. an empty `wait_s` beside a filled `Wait-S`: never pick one silently
            raise InputError(f"columns {', '.join(map(repr, cols))} all match codebook variable '{v.name}'; expected "
                             f"one column (rename or delete the others, or set source_columns in the codebook).",
                             file=spec.path, column=cols[1])
        if cols:
            present[v.name] = cols[0]
    # a coder column may be replaced by study.yaml `coder:` for single-coder sheets
    coder_from_spec = spec.coder
    for v in variables:
        if v.required and v.name not in present and not (v.name == "coder" and coder_from_spec):
            found = ", ".join(c for c in df.columns if c not in _BOOKKEEPING)
            raise InputError(f"required column missing (codebook variable '{v.name}', role {v.role}); "
                             f"found columns: {found}.", file=spec.path, column=v.column_in(spec.kind))
    if spec.kind == "coding" and not any(codebook[n] in codebook.behaviours for n in present):
        raise InputError("no behaviour column found; expected at least one of "
                         f"{', '.join(b.column_in('coding') for b in codebook.behaviours)}.", file=spec.path,
                         column=codebook.behaviours[0].column_in("coding") if codebook.behaviours else None)
    if spec.kind == "survey" and not any(codebook[n].role not in ("id", "pii") for n in present):
        wanted = [v.column_in("survey") for v in variables if v.role not in ("id", "pii")]
        raise InputError(f"no survey variable's column found; expected at least one of {', '.join(wanted)}.",
                         file=spec.path, column=wanted[0] if wanted else None)
    used = set(present.values())
    ignored = sorted(c for c in df.columns if c not in used and c not in _BOOKKEEPING)
    # codebook variables this kind of file should carry but this file lacks: not an error (a study
    # may not record them), but never silent — the reports and the CLI name them. Absent personal
    # data is no loss and is not listed.
    absent = [v.column_in(spec.kind) for v in variables if v.name not in present and v.role != "pii"
              and not (v.name == "coder" and coder_from_spec)]
    if adjudication:
        absent = []  # an adjudication file decides only the behaviours it has columns for
    n = len(df)
    rows = df["source_row"].to_numpy(dtype=np.int64)
    data = {"source_file": repeated(spec.rel, n), "source_row": pd.Series(rows, dtype="int64")}
    raw = {}
    missing, problem = {}, {}
    for name, col in present.items():
        v = codebook[name]
        if never_used(v, codebook):
            continue
        # the file's decimal mark (study.yaml `decimal`, else the reader's finding) settles 12,000 vs
        # 12,0; Excel serial numbers are dates only where the workbook cell itself was a number
        res = normalise(df[col], v, codebook, decimal=spec.options.get("decimal", info.get("decimal")),
                        excel_serials=col in set(info.get("excel_numeric_columns") or ()))
        data[name] = res.values.reset_index(drop=True)
        raw[name] = df[col].reset_index(drop=True)
        missing[name] = res.missing.to_numpy(dtype=bool)
        problem[name] = res.problem.reset_index(drop=True)
        bad = res.problem.notna().to_numpy()
        if bad.any() and not v.required:
            ledger.add(file=spec.rel, row=rows[bad], column=col,
                       value=redact(v, df[col].reset_index(drop=True)[bad]),
                       reason=res.problem[bad].to_numpy(), scope="cell", detail=problem_detail(v, codebook))
    # Excel formulas without a saved value read as empty: never silently missing
    by_column = {col: name for name, col in present.items()}
    formula_cells = [c for c in df.attrs.get("formula_cells_without_value", []) if c.get("column") in by_column]
    if formula_cells:
        ledger.add(file=spec.rel, row=[c["row"] for c in formula_cells], column=[c["column"] for c in formula_cells],
                   value="(formula)", reason="formula_without_value", scope="cell",
                   detail=[f"Excel formula in cell {c['sheet']}!{c['cell']} without a saved value: read as empty "
                           f"(recalculate and save the workbook in Excel)" for c in formula_cells])
    data = pd.DataFrame(data)
    if spec.kind == "coding" and "coder" not in present:
        data["coder"] = repeated(str(spec.coder), n)
        missing["coder"] = np.zeros(n, bool)
        problem["coder"] = pd.Series([pd.NA] * n, dtype="string")
    return Table(spec=spec, data=data, raw=pd.DataFrame(raw), missing=missing, problem=problem,
                 status=np.full(n, "kept", dtype=object), read_info=info,
                 ignored_columns=[redact.header(c) for c in ignored],
                 missing_columns=absent, headers=dict(present))


def repeated(text: str, n: int) -> pd.Series:
    """``n`` copies of ``text`` as a ``string`` Series, built in arrow (a Python list of a
    million references took ~0.5 s per file to convert)."""
    return pd.Series(pd.array(pa.repeat(pa.scalar(text, pa.large_string()), n), dtype="string"))


def never_used(v: Variable, codebook: Codebook) -> bool:
    """True for personal data that nothing downstream reads: pii withheld from the outputs,
    not compared for duplicates, and free text whose normalisation reports no problem (no
    value set, no identifier format, not required). Normalising customer phone numbers, names
    and e-mail addresses only to drop them cost ~1.5 s for a million encounters."""
    return (v.role == "pii" and not codebook.output_allowed(v) and v.value_set is None
            and not v.id_format and not v.required and v.type == "nominal")


def problem_detail(v: Variable, codebook: Codebook) -> str:
    """What a value of ``v`` was expected to be (for the ledger's detail text)."""
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


def drop_rows(t: Table, mask: np.ndarray, *, column: str, reason: str, detail, ledger: Ledger,
              redact, codebook: Codebook, values=None) -> None:
    """Quarantine the kept records of ``t`` under ``mask`` (a ``row`` entry per record)."""
    mask = np.asarray(mask, dtype=bool) & t.kept()
    if not mask.any():
        return
    t.status[mask] = "quarantined"
    if values is None:
        if column in t.raw:
            values = redact(codebook[column], t.raw[column][mask]) if column in codebook.variables \
                else redact.codes(t.raw[column][mask])
        else:
            values = pd.Series([pd.NA] * int(mask.sum()), dtype="string")
    if isinstance(detail, (pd.Series, np.ndarray)):
        detail = np.asarray(detail, dtype=object)[mask] if len(detail) == len(mask) else detail
    ledger.add(file=t.spec.rel, row=t.data["source_row"].to_numpy()[mask], column=t.headers.get(column, column),
               value=values, reason=reason, scope="row", detail=detail)


def kept_records(tables: list[Table]) -> pd.DataFrame:
    """The kept records of ``tables`` stacked (file order, row order)."""
    parts = [t.data.loc[t.kept()] for t in tables if t is not None]
    if not parts:
        return pd.DataFrame({"encounter_id": pd.Series(dtype="string")})
    return pd.concat(parts, ignore_index=True)
