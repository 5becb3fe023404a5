"""Stage 9 — the cleaning report: per file read = kept + merged + quarantined, quarantine
entries by reason, link rates, coverage, and what became of every codebook variable."""
from __future__ import annotations

import numpy as np
import pandas as pd

from svcresearch.codebook import Codebook

from .spec import FileSpec, StudySpec, study_checksum


def file_report(spec: FileSpec, read: int, status: np.ndarray, qframe: pd.DataFrame, read_info: dict,
                ignored: list, missing_columns: list = ()) -> dict:
    """Accounting of one raw file (``status``: kept / merged / quarantined per record)."""
    q = qframe[qframe["file"] == spec.rel]
    row_level = q[q["scope"] == "row"]
    cell_level = q[q["scope"] == "cell"]
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


def variables_report(codebook: Codebook, *, encounters: pd.DataFrame, read_from: dict,
                     supplied: dict, coder_disagreements: dict) -> dict:
    """Where every codebook variable went: its output column, or the reason it has none.

    ``read_from`` maps variable → files it was read from; ``supplied`` maps encounter variables
    → file kinds in precedence order; ``coder_disagreements`` counts encounters whose coders
    gave different values of a variable taken from the coding sheets.
    """
    out = {}
    for v in codebook.variables.values():
        files = sorted(read_from.get(v.name, []))
        entry = {"role": v.role, "read_from": files, "output": None, "values": 0, "note": ""}
        if v.name == "coder":
            entry["note"] = "in coding_long.parquet (one row per judgement)"
        elif not codebook.output_allowed(v):
            entry["note"] = "personal data: withheld from the outputs (allow_in_output is false)"
        else:
            entry["output"] = v.out_name
            if v.out_name in encounters:
                entry["values"] = int(encounters[v.out_name].notna().sum())
            if not files and v.boris is None:
                kinds = ", ".join(v.sources)
                entry["note"] = (f"no file of the study has its column (sources: {kinds}); the column is "
                                 f"empty")
            elif v.boris is not None and not files:
                entry["note"] = "the study has no BORIS export; the column is empty"
            elif entry["values"] == 0:
                entry["note"] = "read, but no usable value (see quarantine.csv); the column is empty"
            if len(supplied.get(v.name, [])) > 1:
                entry["precedence"] = list(supplied[v.name])
            if coder_disagreements.get(v.name):
                entry["coder_disagreements"] = int(coder_disagreements[v.name])
                entry["note"] = (entry["note"] + "; " if entry["note"] else "") + (
                    f"coders gave different values for {coder_disagreements[v.name]} encounter(s); the consensus "
                    f"coder's value was used")
        out[v.name] = entry
    return out


def build_report(study: StudySpec, codebook: Codebook, files_report, qframe, link_counts, encounters, n_judgements,
                 *, variables: dict, undeclared: dict) -> dict:
    """The cleaning report (as written to ``cleaning_report.json``)."""
    totals = {k: int(sum(e[k] for e in files_report)) for k in ("read", "kept", "merged", "quarantined")}
    reasons = {str(k): int(v) for k, v in qframe.groupby("reason").size().items()} if len(qframe) else {}
    n = len(encounters)
    link = {}
    for kind, (linked, total) in link_counts.items():
        link[kind] = {"linked": int(linked), "total": int(total),
                      "rate": round(linked / total, 6) if total else None}
    status_cols = [b.name + "_status" for b in codebook.behaviours]
    coverage = {
        "encounters": n,
        "coded": int((encounters[status_cols] != "missing").any(axis=1).sum()) if n and status_cols else 0,
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
        "judgements": int(n_judgements),
        "variables": variables,
        "undeclared_boris_behaviours": dict(sorted(undeclared.items())),
        "consensus_rule": (f"primary coder '{study.primary_coder}'; otherwise the first other coder "
                           f"alphabetically" + (f"; adjudication file '{study.adjudication.rel}' overrides"
                                                if study.adjudication else "")),
    }


def report_notes(report: dict) -> list[str]:
    """Sentences a researcher must see after cleaning (printed by the CLI, listed in the report).

    A file lacking columns its kind should carry; BORIS behaviours no codebook variable declares;
    codebook variables left empty.
    """
    notes = [f"{e['file']} has no column for {', '.join(map(repr, e['missing_columns']))}: "
             f"{'this variable is' if len(e['missing_columns']) == 1 else 'these variables are'} empty "
             f"for its records (rename the column or set source_columns in the codebook if it exists "
             f"under another name)"
             for e in report["files"] if e.get("missing_columns")]
    for e in report["files"]:
        info = e.get("read_info") or {}
        mixed = info.get("mixed_encoding_lines")
        if mixed:
            notes.append(f"{e['file']} mixes encodings: {_describe(mixed, 'line')} not valid UTF-8 and were read as "
                         f"cp1252 (check those lines' special characters; save the file as UTF-8)")
        formulas = info.get("formula_cells_without_value")
        if formulas:
            notes.append(f"{e['file']} has Excel formulas without a saved value: {_describe(formulas, 'cell')} read as "
                         f"empty (open the file in Excel, let it recalculate, save, and clean again)")
    undeclared = report.get("undeclared_boris_behaviours") or {}
    if undeclared:
        listed = ", ".join(f"{name!r} ({count} event{'s' if count != 1 else ''})" for name, count in undeclared.items())
        notes.append(f"BORIS behaviour(s) that no codebook variable declares were not used: {listed} "
                     f"(quarantine reason unknown_behaviour; declare them with boris: {{behavior: ...}})")
    return notes


def _cell(value) -> str:
    """A Markdown table cell: pipes escaped, line breaks flattened, no formula prefix."""
    from svcresearch.report import excel_safe

    text = excel_safe(str(value).replace("\r", " ").replace("\n", " "))
    return text.replace("|", "\\|")


def _describe(found, unit: str) -> str:
    """'3 lines (4, 9, 12)' from a count, a list of places, or a mapping with count/first."""
    if isinstance(found, dict):
        count = found.get("count", len(found.get("first", [])))
        first = list(found.get("first_lines", found.get("first_cells", found.get("first", []))))
    elif isinstance(found, (list, tuple)):
        count, first = len(found), list(found)
    else:
        count, first = int(found), []
    shown = f" ({', '.join(map(str, first[:5]))}{', ...' if count > 5 else ''})" if first else ""
    return f"{count} {unit}{'s' if count != 1 else ''}{shown}"


def report_md(report: dict) -> str:
    """``cleaning_report.md``: the report for a reader."""
    lines = [f"# Cleaning report: {report['study']}", "",
             "Every raw record is kept, merged as an exact duplicate, or quarantined "
             "(see quarantine.csv): read = kept + merged + quarantined.", "",
             "| file | kind | read | kept | merged | quarantined | values set missing |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for e in report["files"]:
        cells = sum(e["values_set_missing_by_reason"].values())
        lines.append(f"| {_cell(e['file'])} | {e['kind']} | {e['read']} | {e['kept']} | {e['merged']} | "
                     f"{e['quarantined']} | {cells} |")
    t = report["totals"]
    lines.append(f"| **total** |  | {t['read']} | {t['kept']} | {t['merged']} | {t['quarantined']} |  |")
    notes = report_notes(report)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {_cell(n)}" for n in notes]
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
    lines += ["", "## Codebook variables", "",
              "| variable | role | read from | output column | values | note |", "|---|---|---|---|---:|---|"]
    for name, e in report.get("variables", {}).items():
        lines.append(f"| {name} | {e['role']} | {_cell(', '.join(e['read_from']))} | {e['output'] or ''} | "
                     f"{e['values'] if e['output'] else ''} | {_cell(e['note'])} |")
    lines += ["", f"Consensus rule: {report['consensus_rule']}.", ""]
    return "\n".join(lines)
