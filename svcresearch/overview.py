"""Notebook steps for notebooks 00–02: the study's design, its raw files, the cleaning and the coders' agreement.

Each step is one call on the active study (:func:`svcresearch.study.current`) that returns
something which renders itself: a :class:`~svcresearch.display.Table` (readable column names,
APA-style numbers, no index column), a matplotlib figure, or a
:class:`~svcresearch.display.PlainNote` — one sentence saying why the step cannot run on this
study (no ground truth, no processed data of this study, a single coder, …). Steps that take an
earlier step's result hand a Note on unchanged, and :func:`svcresearch.analysis.save` writes
tables and figures and passes Notes through, so the notebooks need no ``if``.

Everything study-specific comes from the study: its ``study.yaml`` (files and kinds), its
codebook (variables, labels, applicability), the cleaner's outputs in its processed folder and,
for a simulated study whose processed data were cleaned from it, ``ground_truth.json``.
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd

from svcresearch._validation import check_confidence, check_number
from svcresearch.config import DEFAULT_SEED
from svcresearch.display import PlainNote, table
from svcresearch.modelframe import Note

__all__ = [
    "study_status", "raw_files", "codebook_table", "design_table", "true_effects", "raw_spellings", "raw_values",
    "raw_outcome", "raw_datetimes", "raw_distributions", "boris_events", "injected_faults",
    "cleaning_status", "cleaning_files", "quarantine_reasons", "quarantine_figure", "quarantine_by_file",
    "link_rates", "encounter_coverage", "variables_fate", "normalisation_examples", "behaviour_status",
    "applicability_rules", "consensus", "cleaning_summary",
    "double_coding", "coder_reliability", "reliability_table", "reliability_figure", "confusion_figure",
    "attenuation_table", "reliability_summary",
]

#: Date-time spellings counted by :func:`raw_datetimes`.
DATE_PATTERNS = {"ISO": r"\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}(:\d{2})?",
                 "Finnish": r"\d{1,2}\.\d{1,2}\.\d{4} \d{1,2}[.:]\d{2}"}

_KIND_WORDS = {"coding": "Coding sheet", "boris": "BORIS export", "survey": "Survey", "operations": "Operations log"}


# ----------------------------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------------------------
_RAW: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _raw(study) -> dict:
    """The study's raw files read as text, once per study object: kinds, tables, BORIS events."""
    from svcresearch import io

    cached = _RAW.get(study)
    if cached is None:
        files = list(study.spec.files)
        cached = {"kinds": {f.rel: f.kind for f in files},
                  "specs": {f.rel: f for f in files},
                  "tables": {f.rel: io.read_table(f.path, **f.options) for f in files if f.kind != "boris"},
                  "boris": {f.rel: io.read_boris(f.path) for f in files if f.kind == "boris"}}
        _RAW[study] = cached
    return cached


def _not_processed(study) -> PlainNote | None:
    """One sentence when the processed data are not this study's (every cleaning step is skipped)."""
    if study.processed_matches:
        return None
    return PlainNote("Skipped: the processed data do not belong to this study (see the note at the top).")


def _no_truth(study) -> PlainNote | None:
    return None if study.ground_truth is not None else PlainNote(study.ground_truth_note)


def _raw_column(study, variable) -> pd.Series:
    """Every raw cell of ``variable`` over the files the codebook reads it from (text, stacked)."""
    raw = _raw(study)
    parts = [t[variable.column_in(raw["kinds"][rel])] for rel, t in raw["tables"].items()
             if raw["kinds"][rel] in variable.sources and variable.column_in(raw["kinds"][rel]) in t.columns]
    return pd.concat(parts, ignore_index=True).astype("string") if parts else pd.Series(dtype="string")


def _first_outcome(study):
    return next((v for v in study.codebook.variables.values() if v.role == "outcome" and v.boris is None
                 and v.type in ("ordinal", "binary", "count", "continuous", "nominal")), None)


def _join(items) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ----------------------------------------------------------------------------------------------
# Notebook 00: the study design and the raw data
# ----------------------------------------------------------------------------------------------
def study_status(study) -> PlainNote:
    """Where the processed data come from and whether the true effects are known (one or two sentences)."""
    origin = study.provenance_note or f"Study '{study.name}': processed data cleaned from this raw study."
    truth = ("True effects and injected faults are known (ground_truth.json)." if study.ground_truth is not None
             else study.ground_truth_note)
    return PlainNote(f"{origin} {truth}")


def raw_files(study):
    """Every file ``study.yaml`` names: kind, size, records (BORIS: events) and how the reader read it."""
    raw = _raw(study)
    rows = []
    for rel, spec in raw["specs"].items():
        info = raw["tables"][rel].attrs.get("read_info", {}) if rel in raw["tables"] else {}
        records = len(raw["tables"][rel]) if rel in raw["tables"] else len(raw["boris"][rel])
        sep = info.get("sep")
        rows.append({"File": rel, "Kind": _KIND_WORDS.get(spec.kind, spec.kind),
                     "Size (KB)": spec.path.stat().st_size / 1024, "Records": records,
                     "Encoding": info.get("encoding") or "", "Delimiter": {"\t": "tab", " ": "space"}.get(sep, sep or ""),
                     "Header row": info.get("header_row")})
    out = pd.DataFrame(rows)
    out["Header row"] = out["Header row"].astype("Int64")
    return table(out, title="Raw Files of the Study", decimals={"Size (KB)": 1},
                 note="Records: data rows (BORIS exports: events). Encoding, delimiter and header row as the "
                      "reader detected them; no value is changed.")


def codebook_table(study):
    """Every codebook variable (personal data left out): role, type, levels, where it is read from, labels."""
    rows = [{"Variable": v.name, "Output": v.out_name or "", "Role": v.role, "Type": v.type,
             "Levels": ", ".join(map(str, v.value_set.levels)) if v.value_set is not None else "",
             "Read from": ", ".join(v.sources) if v.boris is None else f"BORIS ({v.boris.describe()})",
             "Applicable if": "; ".join(c.describe() for c in v.applicable_if),
             "Label (en)": v.label_en, "Label (fi)": v.label_fi}
            for v in study.codebook.variables.values() if v.role != "pii"]
    return table(pd.DataFrame(rows), title="Variables of the Codebook",
                 note="Output: the column in encounters.parquet. Personal-data variables are not listed.")


def design_table(study):
    """The design numbers of a simulated study (``ground_truth.json`` ``design``), or a sentence."""
    from svcresearch.labels import humanise

    note = _no_truth(study)
    if note is not None:
        return note
    design = study.ground_truth.get("design") or {}
    if not design:
        return PlainNote("The ground truth of this study states no design numbers.")
    out = pd.DataFrame({"Design": [humanise(k.removeprefix("n_")) for k in design],
                        "n": [int(v) if float(v).is_integer() else float(v) for v in design.values()]})
    return table(out, title="Design of the Simulated Study", note="Counts as drawn by the simulator (ground_truth.json).")


def true_effects(study):
    """The true parameters of a simulated study per claim, with the truly null and smallest effects in the note."""
    note = _no_truth(study)
    if note is not None:
        return note
    effects = pd.DataFrame(study.ground_truth.get("effects") or [])
    if effects.empty:
        return PlainNote("The ground truth of this study lists no true effects.")
    null = effects.loc[effects["true_value"] == 0, "term"].tolist()
    nonzero = effects.loc[effects["true_value"] != 0]
    text = "Latent logit scale unless stated; assumption = no published size available. "
    text += f"Truly null: {', '.join(null) or 'none'}."
    if len(nonzero):
        small = nonzero.loc[nonzero["true_value"].abs().idxmin()]
        text += f" Smallest non-null effect: {small['term']} ({small['hypothesis']}) = {small['true_value']:g}."
    out = pd.DataFrame({"Hypothesis": effects["hypothesis"], "Term": effects["term"],
                        "True value": effects["true_value"].astype(float), "Scale": effects["scale"],
                        "Assumption": effects["assumption"].astype(bool)})
    return table(out, title=f"True Effects of the Simulated Study {study.name}", note=text, decimals=3,
                 bounded=[])


def _coding_sheets(study) -> pd.DataFrame:
    raw = _raw(study)
    sheets = [t for rel, t in raw["tables"].items() if raw["kinds"][rel] == "coding"]
    return pd.concat(sheets, ignore_index=True) if sheets else pd.DataFrame()


def raw_spellings(study):
    """Per coded behaviour: distinct raw spellings and empty cells over every coding sheet."""
    coding = _coding_sheets(study)
    columns = {v.column_in("coding"): v.name for v in study.codebook.behaviours
               if v.column_in("coding") in coding.columns}
    if not columns:
        return PlainNote("This study has no coding sheet with behaviour columns, so there are no raw behaviour "
                         "codes to show.")
    out = pd.DataFrame({"Behaviour": [study.label(n) for n in columns.values()], "Column": list(columns),
                        "Distinct raw spellings": [int(coding[c].nunique()) for c in columns],
                        "Empty cells": [int(coding[c].isna().sum()) for c in columns]})
    out = out.sort_values("Distinct raw spellings", ascending=False, kind="stable")
    return table(out, title="Raw Spellings of the Behaviour Codes", note="Over every coding sheet, before cleaning.")


def raw_values(study):
    """Raw values (``repr``, so stray whitespace shows) of the behaviour with the most spellings."""
    spellings = raw_spellings(study)
    if isinstance(spellings, Note):
        return PlainNote("No raw behaviour codes to show: the study has no coding sheet with behaviour columns.")
    column = spellings["Column"].iloc[0]
    counts = _coding_sheets(study)[column].map(repr).value_counts()
    out = pd.DataFrame({"Raw value": counts.index, "Count": counts.to_numpy()})
    return table(out, title=f"Raw Values of '{column}' as Written",
                 note="Python repr: quotes show stray whitespace; <NA> is an empty cell.")


def raw_outcome(study):
    """The codebook's first outcome as it comes: every raw value and its count over its files."""
    outcome = _first_outcome(study)
    if outcome is None:
        return PlainNote("The codebook defines no outcome variable, so there is no raw outcome to show.")
    values = _raw_column(study, outcome)
    if values.empty:
        article = "an" if outcome.type[0] in "aeiou" else "a"
        return PlainNote(f"No {' or '.join(outcome.sources)} file with {article} {outcome.type} outcome in this "
                         f"study holds the column of {outcome.name} ({study.label(outcome.name)}), so there is no "
                         f"raw outcome to show.")
    counts = values.fillna("(blank)").value_counts()
    levels = (f" Valid levels: {', '.join(map(str, outcome.value_set.levels))}."
              if outcome.value_set is not None else "")
    out = pd.DataFrame({"Raw value": counts.index.astype(str), "Count": counts.to_numpy()})
    return table(out, title=f"Raw Values of {outcome.name} ({study.label(outcome.name)})",
                 note=f"Over {_join(outcome.sources)} files; SPSS value labels shown as the file defines them.{levels}")


def raw_datetimes(study):
    """Per date-time column: values in ISO format, in Finnish format, and neither."""
    raw = _raw(study)
    rows = []
    for rel, data in raw["tables"].items():
        kind = raw["kinds"][rel]
        for variable in study.codebook.for_kind(kind):
            column = variable.column_in(kind)
            if variable.type != "datetime" or column not in data.columns:
                continue
            values = data[column].dropna().astype("string").str.strip()
            matched = {name: values.str.fullmatch(p).fillna(False) for name, p in DATE_PATTERNS.items()}
            rows.append({"File": rel, "Column": column, **{n: int(m.sum()) for n, m in matched.items()},
                         "Neither": int((~matched["ISO"] & ~matched["Finnish"]).sum())})
    if not rows:
        return PlainNote("The codebook reads no date-time column from this study's files.")
    return table(pd.DataFrame(rows), title="Date-Time Formats as They Come",
                 note="ISO: 2026-11-22 14:05; Finnish: 22.11.2026 14.05; neither: text that is not a time "
                      "in either format (the cleaner quarantines what it cannot read).")


def raw_distributions(study):
    """Three panels: the first continuous context variable, the outcome's numeric codes, its non-numeric answers."""
    import matplotlib.pyplot as plt

    from svcresearch.figures import WIDTH_DOUBLE

    context = next((v for v in study.codebook.variables.values()
                    if v.type == "continuous" and v.role == "context"), None)
    outcome = _first_outcome(study)
    context_raw = _raw_column(study, context) if context is not None else pd.Series(dtype="string")
    outcome_raw = (_raw_column(study, outcome) if outcome is not None else pd.Series(dtype="string")).fillna("(blank)")
    outcome_numeric = pd.to_numeric(outcome_raw.str.replace(",", ".", regex=False), errors="coerce")
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH_DOUBLE, 2.4), layout="constrained")
    fig.suptitle("Raw distributions before cleaning")
    numbers = pd.to_numeric(context_raw.str.replace(",", ".", regex=False), errors="coerce")
    if numbers.notna().any():
        axes[0].hist(numbers[(numbers >= 0) & (numbers <= numbers.quantile(0.99))], bins=40, color="0.35")
        axes[0].set(xlabel=f"{study.label(context.name)} (raw)", ylabel="records", title=study.label(context.name))
    else:
        axes[0].set_axis_off()
        axes[0].text(0.5, 0.5, "no continuous context\nvariable in the raw files", ha="center", va="center")
    if len(outcome_raw):
        codes = outcome_numeric.dropna().value_counts().sort_index()
        answers = outcome_raw[outcome_numeric.isna()].value_counts()
        axes[1].bar([f"{v:g}" for v in codes.index], codes.to_numpy(), color="0.35")
        axes[1].set(xlabel=f"raw {outcome.name} code", ylabel="records", title=f"{study.label(outcome.name)} (raw)")
        axes[1].tick_params(axis="x", labelrotation=90)
        axes[2].barh(answers.index.astype(str), answers.to_numpy(), color="0.35")
        axes[2].set(xlabel="records", title="Non-numeric answers")
    else:
        axes[1].set_axis_off()
        axes[2].set_axis_off()
        axes[1].text(0.5, 0.5, "no raw outcome\nin this study", ha="center", va="center")
    return fig


def boris_events(study):
    """Events per behaviour in each BORIS export, whether the codebook declares it, and unpaired STATE events."""
    from svcresearch.codebook import behaviour_key

    raw = _raw(study)
    if not raw["boris"]:
        return PlainNote("This study has no BORIS files, so there is no video coding to show.")
    declared = {behaviour_key(v.boris.behavior) for v in study.codebook.boris_variables}
    events = pd.concat(raw["boris"], names=["file"]).reset_index(level=0)
    unpaired = (events["behavior_type"] == "STATE") & (events["start_s"].isna() | events["stop_s"].isna())
    per = (events.assign(unpaired=unpaired).groupby(["file", "behavior", "behavior_type"])
           .agg(events=("behavior", "size"), unpaired=("unpaired", "sum")).reset_index())
    out = pd.DataFrame({"File": per["file"], "Behaviour": per["behavior"], "Type": per["behavior_type"],
                        "Events": per["events"].astype(int), "Unpaired": per["unpaired"].astype(int),
                        "Declared in codebook": per["behavior"].map(behaviour_key).isin(declared)})
    return table(out, title="BORIS Events per Behaviour",
                 note="Unpaired: a STATE event whose START or STOP is missing (quarantined as unpaired_event). "
                      "Undeclared behaviours are reported by the cleaner, never turned into zeros.")


def injected_faults(study):
    """Every fault injected into a simulated study's raw files: rate, count and how the cleaner handles it."""
    note = _no_truth(study)
    if note is not None:
        return note
    faults = pd.DataFrame(study.ground_truth.get("faults") or [])
    if faults.empty:
        return PlainNote("The ground truth of this study lists no injected faults.")
    summary = (faults.groupby(["fault", "file", "handling"], sort=False)
               .agg(rate=("rate", "first"), count=("count", "sum")).reset_index())
    out = pd.DataFrame({"Fault": summary["fault"].str.replace("_", " "), "File": summary["file"],
                        "Handling": summary["handling"], "Rate": summary["rate"].astype(float),
                        "Count": summary["count"].astype(int)})
    return table(out, title="Faults Injected Into the Raw Simulated Study", decimals=3, bounded=[],
                 note="Rate = share of eligible cells or rows; count summed over columns.")


# ----------------------------------------------------------------------------------------------
# Notebook 01: the cleaning
# ----------------------------------------------------------------------------------------------
def cleaning_status(study) -> PlainNote:
    """Encounters and quarantine entries of the cleaned study, or why the cleaning sections are skipped."""
    if not study.processed_matches:
        return PlainNote(f"{study.provenance_note} The sections of this notebook are skipped.")
    report = study.cleaning_report()
    return PlainNote(f"Study {report['study']}: {report['encounters']['encounters']:,} encounters, "
                     f"{len(study.quarantine()):,} quarantine entries.")


def cleaning_files(study):
    """Per raw file: read = kept + merged + quarantined (BORIS files count events), and values set missing."""
    note = _not_processed(study)
    if note is not None:
        return note
    rows = [{"File": e["file"], "Kind": _KIND_WORDS.get(e["kind"], e["kind"]), "Read": e["read"], "Kept": e["kept"],
             "Merged": e["merged"], "Quarantined": e["quarantined"],
             "Values set missing": sum(e.get("values_set_missing_by_reason", {}).values()),
             "Accounted for": e["read"] == e["kept"] + e["merged"] + e["quarantined"]}
            for e in study.cleaning_report()["files"]]
    return table(pd.DataFrame(rows), title="Records per Raw File After Cleaning", decimals=0,
                 note="read = kept + merged (exact duplicates) + quarantined; values set missing: single values "
                      "withdrawn from kept records.")


def _quarantine(study):
    note = _not_processed(study)
    if note is not None:
        return note
    q = study.quarantine()
    if q.empty:
        return PlainNote("The cleaner quarantined nothing in this study, so there are no reasons to show.")
    return q


def quarantine_reasons(study):
    """Quarantine entries by reason and scope: a whole record dropped (row) or one value set missing (cell)."""
    q = _quarantine(study)
    if isinstance(q, Note):
        return q
    effect = q["scope"].map({"row": "record dropped", "cell": "value set to missing"}).fillna(q["scope"])
    counts = (q.assign(effect=effect).groupby(["reason", "effect"]).size().rename("entries").reset_index()
              .sort_values("entries", ascending=False, kind="stable"))
    out = pd.DataFrame({"Reason": counts["reason"].str.replace("_", " "), "Effect": counts["effect"],
                        "Entries": counts["entries"].astype(int)})
    return table(out, title="Quarantine Entries by Reason", decimals=0,
                 note="record dropped: the record was not used; value set to missing: the record was kept "
                      "without this value.")


def quarantine_figure(study):
    """Horizontal bars of quarantine entries per reason, split by scope (record dropped / value set missing)."""
    import matplotlib.pyplot as plt

    q = _quarantine(study)
    if isinstance(q, Note):
        return q
    counts = pd.crosstab(q["reason"].str.replace("_", " "), q["scope"])
    counts = counts.reindex(columns=[c for c in ("row", "cell") if c in counts.columns]
                            + [c for c in counts.columns if c not in ("row", "cell")])
    counts = counts.loc[counts.sum(axis=1).sort_values(kind="stable").index]
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(counts) + 1.2), layout="constrained")
    left = np.zeros(len(counts))
    names = {"row": "record dropped", "cell": "value set to missing"}
    for scope, colour in zip(counts.columns, ["0.25", "0.65", "0.85"]):
        ax.barh(counts.index, counts[scope], left=left, color=colour, label=names.get(scope, scope))
        left += counts[scope].to_numpy()
    ax.set_xlabel("quarantine entries")
    ax.set_title("Why raw values and records were quarantined")
    ax.legend(frameon=False, loc="lower right")
    return fig


def quarantine_by_file(study):
    """Quarantine entries per raw file and reason."""
    q = _quarantine(study)
    if isinstance(q, Note):
        return q
    cross = pd.crosstab(q["file"], q["reason"])
    cross.columns = [c.replace("_", " ").capitalize() for c in cross.columns]
    out = cross.rename_axis(index="File", columns=None).reset_index()
    return table(out, title="Quarantine Entries per File and Reason", decimals=0)


def link_rates(study):
    """Share of coding, survey and video records that link to an encounter."""
    note = _not_processed(study)
    if note is not None:
        return note
    rates = study.cleaning_report().get("link_rates", {})
    if not rates:
        return PlainNote("The cleaning report lists no link rates (no file kind links to the encounters).")
    out = pd.DataFrame([{"Records": k, "Linked": v.get("linked"), "Total": v.get("total"),
                         "Link rate": v.get("rate")} for k, v in rates.items()])
    out["Link rate"] = out["Link rate"].astype(float)
    return table(out, title="Linking Records to Encounters", decimals={"Link rate": 3}, bounded=["Link rate"],
                 note="Unlinked records are quarantined (e.g. unlinked_survey).")


def encounter_coverage(study):
    """How many encounters were coded, double-coded, video-coded and answered."""
    note = _not_processed(study)
    if note is not None:
        return note
    cov = study.cleaning_report().get("encounters", {})
    words = {"encounters": "All encounters", "coded": "Coded", "double_coded": "Coded by two coders",
             "video_coded": "Video-coded", "responded": "With a survey response"}
    keys = [k for k in words if k in cov] + [k for k in cov if k not in words]
    out = pd.DataFrame({"Encounters": [words.get(k, k.replace("_", " ")) for k in keys],
                        "n": [int(cov[k]) for k in keys]})
    return table(out, title="Encounters in the Analysis Table")


def variables_fate(study):
    """What became of every codebook variable: its output column, files, values, or why it is not there."""
    note = _not_processed(study)
    if note is not None:
        return note
    report = study.cleaning_report()
    rows = []
    for name, fate in report.get("variables", {}).items():
        rows.append({"Variable": name, "Label": study.label(name), "Role": fate.get("role", ""),
                     "Output": fate.get("output") or "", "Read from": ", ".join(fate.get("read_from") or []),
                     "Values": int(fate.get("values") or 0), "Note": fate.get("note") or ""})
    if not rows:
        return PlainNote("The cleaning report lists no codebook variables (an older cleaner wrote it); run the "
                         "cleaner again to see what became of each.")
    undeclared = report.get("undeclared_boris_behaviours") or {}
    text = ("BORIS behaviours no variable declares: "
            + (", ".join(f"{b} ({n} events)" for b, n in undeclared.items()) if undeclared else "none") + ".")
    return table(pd.DataFrame(rows), title="Codebook Variables in the Analysis Table", decimals=0,
                 note="Output: the column in encounters.parquet (empty: not written, see the note). " + text)


def normalisation_examples(study):
    """The most frequent changed raw spellings per file and variable and what the normaliser made of them."""
    from svcresearch.codebook import normalise

    note = _not_processed(study)
    if note is not None:
        return note
    raw = _raw(study)
    examples = []
    for rel, data in raw["tables"].items():
        kind = raw["kinds"][rel]
        for variable in study.codebook.for_kind(kind):
            column = variable.column_in(kind)
            if column not in data.columns or variable.role == "pii" or variable.pseudonymise:
                continue
            result = normalise(data[column], variable, study.codebook)
            pairs = pd.DataFrame({"raw": data[column].astype("string").fillna("(blank)"),
                                  "normalised": result.values.astype("string").fillna(""),
                                  "problem": result.problem.fillna(""), "missing": result.missing})
            changed = pairs[pairs["raw"] != pairs["normalised"]]
            summary = changed.groupby(["raw", "normalised", "problem", "missing"]).size().rename("n").reset_index()
            summary.insert(0, "variable", variable.name)
            summary.insert(0, "file", rel)
            examples.append(summary.sort_values("n", ascending=False, kind="stable").head(3))
    found = pd.concat(examples, ignore_index=True) if examples else pd.DataFrame()
    if found.empty:
        return PlainNote("Every raw value of this study was already written as the codebook expects: nothing changed.")
    out = pd.DataFrame({"File": found["file"], "Variable": found["variable"], "Raw": found["raw"],
                        "Normalised": found["normalised"], "Problem": found["problem"].str.replace("_", " "),
                        "Set missing": found["missing"].astype(bool), "n": found["n"].astype(int)})
    return table(out, title="Raw Variants and Their Normalised Values", decimals=0,
                 note="Most frequent changed spellings per file and variable; problem = quarantine reason. "
                      "Pseudonymised identifiers and personal data are left out.")


def behaviour_status(study):
    """Observed, missing and not-applicable codes of every coded behaviour in the analysis table."""
    note = _not_processed(study)
    if note is not None:
        return note
    data = study.encounters()
    names = [n for n in study.behaviours if f"{n}_status" in data.columns]
    if not names:
        return PlainNote("This study has no coded behaviours in the analysis table, so there is no status to show.")
    rows = []
    for name in names:
        counts = data[f"{name}_status"].astype("string").value_counts()
        rows.append({"Behaviour": study.label(name), "Observed": int(counts.get("observed", 0)),
                     "Missing": int(counts.get("missing", 0)), "Not applicable": int(counts.get("not_applicable", 0))})
    return table(pd.DataFrame(rows), title="Coded Behaviours: Observed, Missing, Not Applicable", decimals=0,
                 note=f"Counts of {len(data):,} encounters. Not applicable follows from the codebook's applicable_if "
                      f"rules and is not missing data.")


def applicability_rules(study):
    """The codebook's ``applicable_if`` rule of every coded behaviour that has one."""
    rows = [{"Behaviour": study.label(v.name), "Applicable if": "; ".join(c.describe() for c in v.applicable_if)}
            for v in study.codebook.behaviours if v.applicable_if]
    if not rows:
        return PlainNote("Every coded behaviour of this study applies in every encounter (no applicable_if rule).")
    return table(pd.DataFrame(rows), title="When a Behaviour Applies")


def consensus(study) -> PlainNote:
    """Which coder's code the analysis table uses, and how many judgements are kept for reliability."""
    note = _not_processed(study)
    if note is not None:
        return note
    report = study.cleaning_report()
    return PlainNote(f"Consensus rule: {report.get('consensus_rule', 'not recorded')}. Judgements kept for "
                     f"reliability (coding_long.parquet): {int(report.get('judgements', 0)):,}.")


def cleaning_summary(study) -> PlainNote:
    """:meth:`svcresearch.study.Study.cleaning_summary`, or the provenance note when the data are another study's."""
    return PlainNote(study.cleaning_summary() if study.processed_matches else study.provenance_note)


# ----------------------------------------------------------------------------------------------
# Notebook 02: coder reliability
# ----------------------------------------------------------------------------------------------
def _double_coded(study):
    """Observed judgements of encounters that two or more coders judged (per behaviour), or a PlainNote."""
    if not study.processed_matches:
        return PlainNote("Reliability skipped: there are no processed data of this study (see the note at the top).")
    coding = study.coding_long()
    observed = coding.loc[coding["status"] == "observed"]
    n_coders = observed.groupby(["encounter_id", "behaviour"], observed=True)["coder"].transform("nunique")
    double = observed.loc[n_coders >= 2].reset_index(drop=True)
    if double["coder"].nunique() < 2 or double.empty:
        coders = sorted(coding["coder"].dropna().astype(str).unique())
        return PlainNote(f"Reliability skipped: this study has {len(coders)} coder(s) ({', '.join(coders) or 'none'}) "
                         f"and no encounter whose behaviours two coders judged, so agreement cannot be computed and "
                         f"no reliability table or figure is written. Double-code a subsample (20–30% is usual) "
                         f"to report it.")
    double.attrs["coding"] = {"judgements": len(coding), "observed": len(observed),
                              "encounters": int(coding["encounter_id"].nunique())}
    return double


def double_coding(study):
    """Per behaviour: double-coded encounters, judgements and categories; the design in the note."""
    double = _double_coded(study)
    if isinstance(double, Note):
        return double
    info = double.attrs["coding"]
    coders = sorted(double["coder"].astype(str).unique())
    n_double = double["encounter_id"].nunique()
    per = double.groupby("behaviour", observed=True).agg(encounters=("encounter_id", "nunique"),
                                                         judgements=("value", "size"), categories=("value", "nunique"))
    order = {name: i for i, name in enumerate(study.behaviours)}
    per = per.iloc[sorted(range(len(per)), key=lambda i: (order.get(per.index[i], len(order)), str(per.index[i])))]
    out = pd.DataFrame({"Behaviour": [study.label(b) for b in per.index], "Encounters": per["encounters"].to_numpy(),
                        "Judgements": per["judgements"].to_numpy(), "Categories": per["categories"].to_numpy()})
    return table(out, title="Judgements on Double-Coded Encounters",
                 note=f"{info['judgements']:,} judgements, {info['observed']:,} observed; {len(double):,} on encounters "
                      f"coded by two or more coders ({n_double:,} of {info['encounters']:,} encounters, "
                      f"{n_double / max(info['encounters'], 1):.0%}). Coders: {', '.join(coders)}.")


def coder_reliability(study, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = DEFAULT_SEED):
    """Agreement, κ, α and AC1 per behaviour (:func:`svcresearch.reliability.reliability_table`), or a PlainNote.

    The tidy result at full precision (saved as ``reliability_by_behaviour_full.csv``); the
    codebook decides each behaviour's level of measurement
    (:func:`~svcresearch.reliability.levels_from_codebook`). Same judgements and call as
    :func:`svcresearch.paper.coder_reliability`, so equal ``n_boot``/``seed`` give equal numbers.
    """
    from svcresearch import reliability

    check_number("n_boot", n_boot, low=0, integer=True)
    check_confidence(confidence)
    double = _double_coded(study)
    if isinstance(double, Note):
        return double
    levels = reliability.levels_from_codebook(study.codebook, behaviours=sorted(double["behaviour"].unique()))
    out = reliability.reliability_table(double, unit="encounter_id", rater="coder", value="value_numeric",
                                        behaviour="behaviour", levels=levels, n_boot=n_boot, seed=seed,
                                        confidence=confidence)
    out.attrs.update({"coders": sorted(double["coder"].astype(str).unique()), "levels": levels, "n_boot": n_boot,
                      "seed": seed, "confidence": confidence})
    return out


def reliability_table(results, study):
    """APA table of :func:`coder_reliability`: agreement, κ, α, AC1 with intervals, labels and the prevalence flag."""
    from svcresearch import reliability
    from svcresearch.report import format_ci

    if isinstance(results, Note):
        return results
    conf = results.attrs.get("confidence", 0.95)
    ci = f"{conf:.0%} CI"
    out = pd.DataFrame({
        "Behaviour": results["behaviour"].map(study.label), "Level": results["level"], "n": results["n_units"],
        "Agreement": results["percent_agreement"], "κ": results["kappa"],
        f"κ {ci}": format_ci(results["kappa_ci_low"], results["kappa_ci_high"], leading_zero=False),
        "α": results["alpha"],
        f"α {ci}": format_ci(results["alpha_ci_low"], results["alpha_ci_high"], leading_zero=False),
        "AC1": results["ac1"],
        f"AC1 {ci}": format_ci(results["ac1_ci_low"], results["ac1_ci_high"], leading_zero=False),
        "κ label": results["kappa_label"], "α label": results["alpha_label"],
        "Prevalence flag": np.where(results["kappa_paradox"].fillna(False).astype(bool), "read AC1", "")})
    levels = results.attrs.get("levels", {})
    ordinal = [study.label(b) for b, level in levels.items() if level != "nominal"]
    level_note = (f"level per the codebook: {', '.join(ordinal)} ordinal or interval, the others nominal"
                  if ordinal else "nominal for every behaviour")
    coders = results.attrs.get("coders", [])
    return table(out, title=f"Inter-coder reliability of the behaviour codes (coders {', '.join(coders)})",
                 bounded=["Agreement", "κ", "α", "AC1"],
                 note=(f"n = encounters coded by two or more coders with an observed code. κ = Cohen's kappa "
                       f"(Fleiss' with more than two coders; unweighted); α = Krippendorff's alpha ({level_note}); "
                       f"AC1 = Gwet's AC1. {conf:.0%} percentile bootstrap intervals over encounters "
                       f"({results.attrs.get('n_boot', 0):,} resamples, seed {results.attrs.get('seed')}). Labels are "
                       f"conventions (Landis & Koch, 1977; Krippendorff, 2004), not verdicts. Prevalence flag: one "
                       f"category holds ≥ {reliability.PARADOX_PREVALENCE:.0%} of codes and κ is deflated despite "
                       f"high agreement."))


def reliability_figure(results, study):
    """Krippendorff's α per behaviour (and level) with its bootstrap interval; dashed lines at .667 and .800."""
    import matplotlib.pyplot as plt

    from svcresearch.figures import WIDTH_DOUBLE

    if isinstance(results, Note):
        return results
    if not np.isfinite(results["alpha"].astype(float)).any():
        return PlainNote("No behaviour has a defined α (each shows a single category), so there is no figure to draw.")
    conf = results.attrs.get("confidence", 0.95)
    ordered = results.sort_values("alpha", na_position="first").reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(WIDTH_DOUBLE * 0.6, 0.28 * len(ordered) + 0.9), layout="constrained")
    y = np.arange(len(ordered))
    # a percentile interval can exclude its own estimate; the bars then start at the estimate
    ax.errorbar(ordered["alpha"], y,
                xerr=[(ordered["alpha"] - ordered["alpha_ci_low"]).clip(lower=0).fillna(0),
                      (ordered["alpha_ci_high"] - ordered["alpha"]).clip(lower=0).fillna(0)],
                fmt="o", color="black", markersize=3.5, capsize=2, linewidth=0.8)
    for threshold in (0.667, 0.800):
        ax.axvline(threshold, color="grey", linestyle="--", linewidth=0.6)
    ax.set_yticks(y, [f"{study.label(b)} ({lev})" for b, lev in zip(ordered["behaviour"], ordered["level"])])
    ax.set_xlabel(f"Krippendorff's α ({conf:.0%} bootstrap CI)")
    ax.set_title("Inter-coder reliability per behaviour")
    low = float(np.nanmin(ordered[["alpha", "alpha_ci_low"]].to_numpy(dtype=float)))
    ax.set_xlim(min(0.0, low) - 0.05, 1.0)
    return fig


def confusion_figure(results, study, *, weakest: int = 3):
    """Two coders' cross-tabulations of the ``weakest`` behaviours by α (categories in code order)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from svcresearch import reliability
    from svcresearch.figures import WIDTH_DOUBLE

    check_number("weakest", weakest, low=1, integer=True)
    if isinstance(results, Note):
        return results
    double = _double_coded(study)
    if isinstance(double, Note):
        return double
    names = results.sort_values("alpha", na_position="first")["behaviour"].head(weakest).tolist()
    alphas = results.set_index("behaviour")["alpha"]
    fig, axes = plt.subplots(1, len(names), figsize=(WIDTH_DOUBLE, 2.4), squeeze=False, layout="constrained")
    fig.suptitle("Where the coders disagree: the weakest behaviours")
    for name, ax in zip(names, axes[0]):
        part = double.loc[double["behaviour"] == name]
        pair = part["coder"].astype(str).value_counts().index[:2].sort_values().tolist()
        part = part.loc[part["coder"].astype(str).isin(pair)]
        order = (part.dropna(subset=["value_numeric"]).drop_duplicates("value")
                 .sort_values("value_numeric")["value"].tolist())
        confusion = reliability.confusion_table(part.assign(coder=part["coder"].astype(str)), unit="encounter_id",
                                                rater="coder", value="value", raters=pair, categories=order)
        sns.heatmap(confusion, annot=True, fmt="d", cmap="Greys", cbar=False, ax=ax, square=True,
                    annot_kws={"fontsize": 7})
        ax.set_title(f"{study.label(name)} (α = {alphas.loc[name]:.2f})")
        ax.set_xlabel(f"coder {pair[1]}")
        ax.set_ylabel(f"coder {pair[0]}")
    return fig


def attenuation_table(results, study):
    """Expected shrinkage of each behaviour's slope (× α) and correlation (× √α) under classical error."""
    from svcresearch.report import format_ci

    if isinstance(results, Note):
        return results
    ordered = results.sort_values("alpha", kind="stable")
    alpha = ordered["alpha"].astype(float)
    conf = results.attrs.get("confidence", 0.95)
    out = pd.DataFrame({"Behaviour": ordered["behaviour"].map(study.label), "α": alpha,
                        f"α {conf:.0%} CI": format_ci(ordered["alpha_ci_low"], ordered["alpha_ci_high"],
                                                      leading_zero=False),
                        "Slope retained": alpha.clip(lower=0), "Correlation retained": np.sqrt(alpha.clip(lower=0))})
    return table(out, title="Expected Attenuation of Effects by Coding Error", bounded=["α", "Slope retained",
                                                                                        "Correlation retained"],
                 note="Classical measurement error with α as the reliability of one coder's codes: a slope keeps "
                      "about α of its true size, a correlation about √α.")


def reliability_summary(results, study):
    """Plain-language summary (:func:`svcresearch.reliability.reliability_summary`), or the Note of the skip."""
    from svcresearch import reliability

    if isinstance(results, Note):
        return results
    return Note(reliability.reliability_summary(results, labels=study.labels()))
