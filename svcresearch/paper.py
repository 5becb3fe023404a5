"""Paper assets of a study: the figures, APA tables and sentences an author drops into a manuscript.

Notebook ``07_figures_and_tables_for_paper`` calls one function per asset. Each returns a
matplotlib Figure (drawn in the caller's :func:`svcresearch.figures.paper_theme`, with its caption
registered for :meth:`PaperAssets.save`), an APA table (a DataFrame of formatted text whose
``attrs`` hold its title and note), or a :class:`~svcresearch.modelframe.Note` — one sentence
saying why the asset cannot be made for this study (e.g. predicted category probabilities for a
continuous outcome). Everything study-specific (outcome, terms, claims, labels in English and
Finnish) comes from the study's codebook and hypotheses file.

:class:`PaperAssets` writes them (figures at a journal column width into ``reports/figures``,
tables as docx, tex, md, html and csv into ``reports/tables``), remembers what it wrote and what
it skipped, and says so in :meth:`PaperAssets.summary`. :func:`write_reports_readme` lists every
figure and table of a reports folder, with caption and source notebook, from the folders'
``manifest.json`` files (:func:`svcresearch.report.read_manifest`).
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from svcresearch import analysis
from svcresearch import modelframe as mfm
from svcresearch._validation import check_type
from svcresearch.config import DEFAULT_SEED
from svcresearch.labels import WORDS, check_language, label_term, labels_from_codebook
from svcresearch.modelframe import Note

__all__ = ["PREFIX", "PaperAssets", "caption_of", "study_labels", "coder_reliability", "reliability_figure",
           "reliability_table", "hypotheses_forest", "hypotheses_table", "predicted_probabilities",
           "simple_slopes_figure", "mediation_figure", "outcome_distribution", "apa_sentences",
           "write_reports_readme"]

#: File-name prefix of the paper assets (they sit next to the notebooks' own outputs).
PREFIX = "paper_"

# Caption of each figure made here, for PaperAssets.save (a Figure has no place for one).
_CAPTIONS: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


def _captioned(fig, caption: str):
    if not isinstance(fig, Note):
        _CAPTIONS[fig] = caption
    return fig


def caption_of(fig) -> str | None:
    """The caption a function of this module gave ``fig`` (None for other figures)."""
    try:
        return _CAPTIONS.get(fig)
    except TypeError:
        return None


def study_labels(study, language: str = "en") -> dict[str, str]:
    """Readable labels of the study's variables and terms in ``language`` (codebook ``label_en``/``label_fi``)."""
    check_language(language)
    return labels_from_codebook(study.codebook, language)


def _ci(confidence: float, language: str) -> str:
    c = f"{confidence * 100:g}"
    return f"{c.replace('.', ',')} %:n luottamusväli" if language == "fi" else f"{c}% confidence interval"


# ----------------------------------------------------------------------------------------------
# Writing and recording
# ----------------------------------------------------------------------------------------------
class PaperAssets:
    """Writes a study's paper assets and remembers what was written and what was skipped.

    Parameters
    ----------
    study : svcresearch.study.Study
    figures_folder, tables_folder : path, optional
        Default ``reports/figures`` and ``reports/tables`` of the active study
        (:func:`svcresearch.config.figures_dir`, :func:`~svcresearch.config.tables_dir`).

    Examples
    --------
    >>> assets = PaperAssets(study)
    >>> with paper_theme():
    ...     assets.save(hypotheses_forest(results, study), "paper_fig_hypotheses_forest", width="double")
    >>> assets.summary()
    """

    def __init__(self, study, *, figures_folder: str | Path | None = None, tables_folder: str | Path | None = None):
        self.study = study
        self.figures_folder = None if figures_folder is None else Path(figures_folder)
        self.tables_folder = None if tables_folder is None else Path(tables_folder)
        self.written: list[dict[str, Any]] = []
        self.skipped: list[tuple[str, str]] = []

    def save(self, obj: Any, name: str, **kwargs) -> Any:
        """Write a figure or table (:func:`svcresearch.analysis.save`) and record it; a Note is recorded as skipped.

        Figures take the caption their builder registered (:func:`caption_of`) unless
        ``caption=`` is given; tables their ``attrs["title"]``. Returns the table (shown as the
        cell's result); None for a figure (the inline backend shows it) and for a Note, which is
        printed (one sentence) and nothing is written.
        """
        if isinstance(obj, Note):
            # printed here, not returned: a save inside ``with paper_theme():`` is not a cell's last
            # expression, so a returned Note would not be shown
            self.skipped.append((name, str(obj)))
            print(obj)
            return None
        if isinstance(obj, pd.DataFrame):
            kwargs.setdefault("folder", self.tables_folder)
            kind, caption = "table", kwargs.get("title") or obj.attrs.get("title")
        else:
            kwargs.setdefault("folder", self.figures_folder)
            kwargs.setdefault("caption", caption_of(obj))
            kind, caption = "figure", kwargs["caption"]
        if kwargs.get("folder") is None:
            kwargs.pop("folder")
        width = None
        if kind == "figure":
            from svcresearch.figures import COLUMN_WIDTHS

            width = kwargs.get("width")
            width = COLUMN_WIDTHS.get(width, width) if width is not None else float(obj.get_size_inches()[0])
        out = analysis.save(obj, name, **kwargs)
        self.written.append({"name": name, "kind": kind, "caption": caption, "width_mm": None if width is None
                             else round(float(width) * 25.4)})
        return out

    def summary(self, *, readme: str | Path | None = None) -> Note:
        """Plain-language list of what was written (figures with their width, tables) and what was skipped.

        ``readme``: the README written by :func:`write_reports_readme`, named at the end.
        """
        figs = [w for w in self.written if w["kind"] == "figure"]
        tabs = [w for w in self.written if w["kind"] == "table"]
        text = (f"For study '{self.study.name}' this notebook wrote {len(figs)} figure(s) (PDF, SVG and 600-dpi "
                f"PNG) and {len(tabs)} table(s) (Word, LaTeX, Markdown, HTML and CSV).")
        if figs:
            text += " Figures: " + "; ".join(f"{w['name']} ({w['width_mm']} mm wide)" for w in figs) + "."
        if tabs:
            text += " Tables: " + "; ".join(w["name"] for w in tabs) + "."
        if self.skipped:
            text += " Not made for this study: " + " ".join(f"{name}: {why}" for name, why in self.skipped)
        if readme is not None:
            text += f" {Path(readme).name} in {Path(readme).parent} lists every figure and table with its caption."
        return Note(text)


# ----------------------------------------------------------------------------------------------
# Reliability of the codes
# ----------------------------------------------------------------------------------------------
def coder_reliability(study, *, n_boot: int = 2000, confidence: float = 0.95, seed: int = DEFAULT_SEED):
    """Agreement, κ, α and AC1 per coded behaviour from the double-coded encounters, or a Note.

    The same judgements and call as notebook 02 (observed codes of encounters judged by two or more
    coders; :func:`svcresearch.reliability.reliability_table` with the codebook's levels), so with
    the same ``n_boot`` and ``seed`` the numbers equal notebook 02's table.
    """
    # one computation of the double-coded judgements and their coefficients (notebook 02's)
    from svcresearch.overview import coder_reliability as overview_reliability

    return overview_reliability(study, n_boot=n_boot, confidence=confidence, seed=seed)


def reliability_figure(reliability_results, study, *, language: str = "en", confidence: float = 0.95):
    """Krippendorff's α per behaviour with its interval and the labelled .667/.800 thresholds."""
    if isinstance(reliability_results, Note):
        return reliability_results
    from svcresearch.figures import reliability_plot

    finite = reliability_results.loc[np.isfinite(reliability_results["alpha"].astype(float))]
    if finite.empty:
        return Note("Reliability figure not drawn: no behaviour has a defined α (each shows a single category).")
    fig = reliability_plot(finite, item="behaviour", estimate="alpha", labels=study_labels(study, language),
                           language=language, confidence=confidence)
    n = int(finite["n_units"].max())
    if language == "fi":
        caption = (f"Koodaajien yhtäpitävyys toiminnoittain: Krippendorffin α ja {_ci(confidence, 'fi')} "
                   f"(bootstrap; enintään {n} kahdesti koodattua asiointia). Katkoviivat: 0,667 alustavien "
                   f"päätelmien raja ja 0,800 luotettava (Krippendorff, 2004).")
    else:
        caption = (f"Inter-coder reliability of each coded behaviour: Krippendorff's α with its "
                   f"{_ci(confidence, 'en')} (percentile bootstrap; up to {n:,} double-coded encounters). "
                   f"Reference lines: .667, the limit for tentative conclusions, and .800, reliable "
                   f"(Krippendorff, 2004).")
    return _captioned(fig, caption)


def reliability_table(reliability_results, study, *, language: str = "en", confidence: float = 0.95):
    """APA table of agreement, κ, α and AC1 with intervals (:func:`svcresearch.report.reliability_table`)."""
    if isinstance(reliability_results, Note):
        return reliability_results
    from svcresearch import report

    title = ("Koodaajien yhtäpitävyys toiminnoittain" if language == "fi"
             else "Inter-Coder Reliability of the Behaviour Codes")
    return report.reliability_table(reliability_results, labels=study_labels(study, language), language=language,
                                    confidence=confidence, title=title)


# ----------------------------------------------------------------------------------------------
# Claims
# ----------------------------------------------------------------------------------------------
def hypotheses_forest(results, study, *, language: str = "en", confidence: float = 0.95):
    """Forest plot of the tested claims grouped by claim, one panel per scale, with a caption."""
    if isinstance(results, Note):
        return results
    from svcresearch.figures import forest_plot

    tested = results.loc[results["verdict"] != "not testable"].reset_index(drop=True)
    if not len(tested):
        return Note("Forest plot not drawn: no claim could be tested on this study (reasons in the table).")
    fig = forest_plot(tested, labels=study_labels(study, language), language=language, confidence=confidence)
    scales = list(dict.fromkeys(tested["scale"].astype(str)))
    untested = int((results["verdict"] == "not testable").sum())
    if language == "fi":
        names = {"log_odds": "log-vetosuhde", "b": "regressiokerroin b", "icc": "sisäkorrelaatio",
                 "indirect": "epäsuora vaikutus"}
        caption = (f"Esirekisteröityjen väitteiden estimaatit ja {_ci(confidence, 'fi')}t väitteittäin "
                   f"(tunnus oikealla); jokaisella asteikolla oma paneelinsa "
                   f"({', '.join(names.get(s, s) for s in scales)}). Täytetty merkki: väli ei sisällä nollaa; "
                   f"avoin merkki: sisältää."
                   + (" Pelkkä merkki: väliä ei voitu laskea." if tested["ci_low"].isna().any() else "")
                   + (f" {untested} ei-testattavaa riviä puuttuu kuvasta." if untested else ""))
    else:
        names = {"log_odds": "log odds", "b": "regression coefficient b", "icc": "intraclass correlation",
                 "indirect": "indirect effect"}
        caption = (f"Estimates of the preregistered claims with {_ci(confidence, 'en')}s, grouped by claim "
                   f"(id on the right); one panel per scale ({', '.join(names.get(s, s) for s in scales)}). "
                   f"Filled markers: the interval excludes 0; open markers: it includes 0."
                   + (" A marker without a line has no interval (see the hypotheses table)."
                      if tested["ci_low"].isna().any() else "")
                   + (f" {untested} row(s) that could not be tested are not shown." if untested else ""))
    return _captioned(fig, caption)


def hypotheses_table(results, study, *, language: str = "en", confidence: float = 0.95):
    """APA table of every claim row (:func:`svcresearch.report.hypotheses_table`), in English or Finnish."""
    if isinstance(results, Note):
        return results
    from svcresearch import report

    title = "Esirekisteröityjen väitteiden testit" if language == "fi" else "Tests of the Preregistered Claims"
    table = report.hypotheses_table(results, labels=study_labels(study, language), language=language,
                                    confidence=confidence, title=title)
    if results.attrs.get("note") and language == "en":
        table.attrs["note"] = f"{table.attrs['note']} {results.attrs['note']}"
    return table


def apa_sentences(results, study, *, confidence: float = 0.95):
    """One APA sentence per tested claim row, in English and Finnish (:func:`svcresearch.report.apa_sentence`).

    Coefficients and contrasts of logit models are reported as odds ratios; ICC and indirect
    effects on their own scale; p is the unadjusted p value (the hypotheses table gives Holm's).
    """
    if isinstance(results, Note):
        return results
    from svcresearch.report import apa_sentence

    tested = results.loc[results["verdict"] != "not testable"].reset_index(drop=True)
    if not len(tested):
        return Note("No APA sentences: no claim could be tested on this study.")
    hyps = analysis.study_hypotheses(study)
    outcome = hyps.model.outcome
    group = results.attrs.get("groups")
    kinds = {"term": "coefficient", "interaction": "coefficient", "contrast": "contrast", "icc": "icc",
             "mediation": "indirect"}
    rows = []
    for _, r in tested.iterrows():
        kind = kinds.get(str(r["kind"]), "coefficient")
        texts = {}
        for language in ("en", "fi"):
            labels = study_labels(study, language)
            kw: dict[str, Any] = {"kind": kind, "language": language, "labels": labels, "confidence": confidence}
            if kind in ("coefficient", "contrast"):
                kw |= {"outcome": outcome, "odds_ratio": r["scale"] == "log_odds"}
            elif kind == "indirect":
                mediator = next((t.mediator for c in hyps.claims if c.id == r["hypothesis"] for t in c.tests
                                 if t.kind == "mediation"), None)
                kw |= {"outcome": outcome, "mediator": mediator}
            else:
                kw |= {"group": group}
            texts[language] = apa_sentence(r, **kw)
        rows.append({"H": r["hypothesis"], "Result": label_term(r["term"], study_labels(study, "en")),
                     "English": texts["en"], "Finnish": texts["fi"]})
    out = pd.DataFrame(rows)
    out.attrs["title"] = "APA Sentences Reporting the Tested Claims"
    out.attrs["note"] = (f"Generated from the results table; {confidence:.0%} confidence intervals; p unadjusted "
                         "(Holm-adjusted p values are in the hypotheses table)"
                         + ("; odds ratios for coefficients of the logit model." if (tested["scale"] == "log_odds").any()
                            else "."))
    return out


# ----------------------------------------------------------------------------------------------
# Main model: predicted category probabilities, simple slopes
# ----------------------------------------------------------------------------------------------
def predicted_probabilities(model, study, *, language: str = "en"):
    """Predicted probability of each outcome category with each yes/no behaviour of the model absent and present.

    Every other term at its sample mean and the random intercept at 0 (an average group);
    interactions follow their parts. Only for ordinal outcomes (a Note otherwise).
    """
    note = analysis._fit_or_note(model)
    if note is not None:
        return note
    frame = model.frame
    if frame.family != "ordinal":
        return Note(f"Predicted category probabilities not drawn: the outcome "
                    f"({frame.labels.get(frame.outcome, frame.outcome)}) is {frame.family}, not ordinal, so it has "
                    f"no categories to predict.")
    from svcresearch.figures import predicted_probabilities_plot

    main = [t for t in frame.terms if ":" not in t]
    behaviours = []
    for t in main:
        var = mfm.find_variable(frame.codebook, t.split("[", 1)[0])
        values = np.unique(frame.data[frame.columns[t]].to_numpy(float))
        if var is not None and var.role == "behaviour" and "[" not in t and set(values) <= {0.0, 1.0}:
            behaviours.append(t)
    if not behaviours:
        return Note("Predicted category probabilities not drawn: the main model has no yes/no behaviour term.")
    labels = study_labels(study, language)
    words = WORDS[language]
    typical = frame.data[[frame.columns[t] for t in main]].mean()
    rows, names = [], []
    for t in behaviours:
        for value in (0.0, 1.0):
            s = typical.copy()
            s[frame.columns[t]] = value
            rows.append(s)
            names.append(f"{label_term(t, labels, language=language)}: {words['yes' if value else 'no']}")
    proba = model.result.predict_proba(pd.DataFrame(rows).reset_index(drop=True))
    proba.index = names
    long = proba.rename_axis("scenario").reset_index().melt(id_vars="scenario", var_name="category",
                                                              value_name="probability")
    outcome = label_term(frame.outcome, labels, language=language)
    # scenario names are final text ("Label: yes"): mapped to themselves so they are not read as terms
    fig = predicted_probabilities_plot(long, labels={**labels, **{n: n for n in names}}, language=language,
                                       category_label=outcome, height=0.95 + 0.17 * len(names))
    if language == "fi":
        caption = (f"Ennustetut todennäköisyydet muuttujan {outcome} kullekin arvolle, kun toiminto puuttuu tai "
                   f"esiintyy; muut selittäjät keskiarvossaan ja satunnaisvaikutus nolla.")
    else:
        caption = (f"Predicted probability of each rating of {outcome[:1].lower() + outcome[1:]} with each "
                   f"yes/no behaviour absent and present, every other term at its sample mean and the random "
                   f"intercept at 0 (an average group). Numbers in the bars are percentages.")
    return _captioned(fig, caption)


def simple_slopes_figure(slopes, model, *, language: str = "en", confidence: float = 0.95):
    """Simple slopes of every interaction of the main model, on the model's scale, with a caption."""
    if isinstance(slopes, Note):
        return slopes
    note = analysis._fit_or_note(model)
    if note is not None:
        return note
    from svcresearch.figures import simple_slopes_plot

    frame = model.frame
    logit = frame.family in ("ordinal", "binary")
    c = f"{confidence * 100:g}"
    if language == "fi":
        scale = "log-vetosuhde" if logit else "b"
        ylabel = f"Yksinkertainen kulmakerroin ({scale}),\n{c.replace('.', ',')} %:n LV"
    else:
        scale = "log odds" if logit else "b"
        ylabel = f"Simple slope ({scale}),\n{c}% CI"
    pairs = slopes[["focal", "moderator"]].drop_duplicates().shape[0]
    labels = _frame_labels(frame, language)
    fig = simple_slopes_plot(slopes, labels=labels, language=language, ylabel=ylabel, confidence=confidence,
                             width="double" if pairs > 1 else "single")
    caption = (f"Simple slopes of the focal term at the moderator's values (0/1, or mean ± 1 SD) for each "
               f"interaction of the main model, on the {'log-odds' if logit else 'outcome'} scale with "
               f"{c}% delta-method confidence intervals; the dashed line marks no effect.")
    return _captioned(fig, caption)


def _frame_labels(frame, language: str) -> dict[str, str]:
    return labels_from_codebook(frame.codebook, language) if language != "en" else dict(frame.labels)


# ----------------------------------------------------------------------------------------------
# Mediation, outcome distribution
# ----------------------------------------------------------------------------------------------
def mediation_figure(mediation, study):
    """Path diagram of the first mediation claim (:func:`svcresearch.analysis.mediation_figure`), with a caption."""
    if isinstance(mediation, Note):
        return mediation
    fig = analysis.mediation_figure(mediation, study)
    first = mediation.loc[mediation["hypothesis"] == mediation["hypothesis"].iloc[0]]
    scale = str(first["scale"].iloc[0]) if "scale" in first.columns else ""
    caption = (f"Mediation path diagram of claim {first['hypothesis'].iloc[0]}: a (OLS, mediator on the "
               f"predictor), b and the direct effect c′ from the outcome model"
               + {"log_odds": " (log odds)", "b": " (outcome points)"}.get(scale, f" ({scale})" if scale else "")
               + "; the indirect effect ab with its Monte Carlo confidence interval below. "
                 "*p < .05, **p < .01, ***p < .001.")
    return _captioned(fig, caption)


def outcome_distribution(study):
    """Distribution of the main model's outcome among respondents (:func:`svcresearch.analysis.outcome_distribution`)."""
    fig = analysis.outcome_distribution(study)
    if isinstance(fig, Note):
        return fig
    spec = analysis._spec(study)
    labels = study_labels(study)
    n = int(study.encounters()[spec.outcome].notna().sum())
    outcome = label_term(spec.outcome, labels)
    caption = (f"Distribution of {outcome[:1].lower() + outcome[1:]} among the {n:,} respondents: share of each "
               f"rating (within group when the study has a context category).")
    return _captioned(fig, caption)


# ----------------------------------------------------------------------------------------------
# reports/README.md
# ----------------------------------------------------------------------------------------------
def _md_cell(text: Any) -> str:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return "\u2014"
    return " ".join(str(text).split()).replace("|", "\\|")


def write_reports_readme(reports_dir: str | Path) -> Path:
    """Write ``<reports_dir>/README.md``: every figure and table with its caption, files and source notebook.

    Parameters
    ----------
    reports_dir : path
        A reports folder with ``figures/`` and ``tables/`` (either may be missing); their
        ``manifest.json`` files (:func:`svcresearch.report.read_manifest`) are the only input.

    Returns
    -------
    Path
        The README written (atomically, deterministic bytes: same manifests, same file).

    Notes
    -----
    One Markdown table per folder, rows sorted by source notebook then name; each row links the
    files listed in the manifest that exist, with the caption (figures) or title (tables), the
    physical width of figures and the table number. Entries whose files are all gone are listed
    as missing rather than dropped. Tested in tests/test_paper.py on manifests written by
    :func:`svcresearch.figures.save_figure` and :func:`svcresearch.report.save_table`.
    """
    from svcresearch.report import read_manifest, write_atomic

    check_type("reports_dir", reports_dir, (str, Path), what="a folder path")
    root = Path(reports_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"`reports_dir`: {root} is a file; expected a reports folder.")
    lines = ["# Reports", "",
             "Generated by `svcresearch.paper.write_reports_readme` from `figures/manifest.json` and "
             "`tables/manifest.json`; do not edit by hand (rerun notebook 07 or `svcresearch reproduce`).", ""]
    for folder, heading in (("figures", "Figures"), ("tables", "Tables")):
        manifest = read_manifest(root / folder)
        lines += [f"## {heading}", ""]
        if not manifest:
            lines += [f"No {folder} recorded.", ""]
            continue
        if folder == "figures":
            lines += ["| Figure | Caption | Width | Files | Source notebook |", "|---|---|---|---|---|"]
        else:
            lines += ["| Table | Title | Number | Files | Source notebook |", "|---|---|---|---|---|"]
        entries = sorted(manifest.items(), key=lambda kv: (str(kv[1].get("source") or "~"), kv[0]))
        for name, entry in entries:
            files = [f for f in entry.get("files", []) if (root / folder / f).exists()]
            links = ", ".join(f"[{Path(f).suffix[1:]}]({folder}/{f})" for f in files) or "missing"
            if folder == "figures":
                width = entry.get("width_in")
                size = "\u2014" if width is None else f"{float(width) * 25.4:.0f} mm" + (
                    f" ({entry['column']})" if entry.get("column") else "")
                middle = size
            else:
                middle = _md_cell(entry.get("number"))
            lines.append(f"| `{name}` | {_md_cell(entry.get('caption'))} | {middle} | {links} | "
                         f"{_md_cell(entry.get('source'))} |")
        lines.append("")
    path = root / "README.md"
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(path, ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8"))
    return path
