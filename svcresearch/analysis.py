"""Notebook steps for notebooks 03–06: one call per step, each returning something that renders itself.

A step returns a table (pandas DataFrame with readable labels), a matplotlib figure, a fitted
model that prints one sentence, or a :class:`~svcresearch.modelframe.Note` — one sentence saying
why the step cannot run on this study. Every step accepts a Note where it expects an earlier
step's result and hands it on unchanged, so a notebook runs top to bottom on any study without
``if`` guards; :func:`save` writes tables and figures and passes Notes through.

Everything study-specific comes from the study (:func:`svcresearch.study.current`): the outcome,
terms and grouping column from its hypotheses file (``model:``) — or, without one, the first
outcome of the codebook on all coded behaviours (:func:`svcresearch.hypotheses.model_from_codebook`)
— and all labels from the codebook.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from svcresearch import hypotheses as hyp
from svcresearch import modelframe as mfm
from svcresearch.config import DEFAULT_SEED
from svcresearch.labels import label_term
from svcresearch.modelframe import Note

__all__ = ["save", "study_hypotheses", "main_model", "sample_table", "code_status_table", "code_status_figure",
           "outcome_distribution", "scale_reliability", "sample_summary", "model_table", "proportional_odds_table",
           "coefficient_plot", "predicted_probabilities", "marginal_effects_table", "model_summary",
           "simple_slopes_table", "simple_slopes_figure", "mediation_table", "mediation_figure",
           "key_drivers_table", "key_drivers_figure", "moderation_summary", "hypotheses_results",
           "hypotheses_table", "hypotheses_forest", "hypotheses_summary", "corrected_hypotheses",
           "corrected_model_table"]


def _labels(study) -> dict[str, str]:
    from svcresearch.labels import labels_from_codebook

    return labels_from_codebook(study.codebook)


def save(obj: Any, name: str, **kwargs) -> Any:
    """Write a table (:func:`svcresearch.report.save_table`) or figure (:func:`~svcresearch.figures.save_figure`).

    A table's ``attrs["format"]`` (``decimals``, ``p_columns``, ``bounded``; set by
    :func:`svcresearch.display.table`) are the defaults of the same :func:`save_table` arguments,
    so the files show the numbers as the notebook does.

    A :class:`~svcresearch.modelframe.Note` is returned unchanged and nothing is written, so a
    step that cannot run on this study leaves no stale output. Returns ``obj`` for display — but
    None for a figure, which the notebook's inline backend already shows (returning it would show
    it twice).
    """
    if isinstance(obj, Note) or obj is None:
        return obj
    if isinstance(obj, pd.DataFrame):
        from svcresearch.report import save_table

        # the number formats a table displays with (svcresearch.display.Table) are its files' defaults
        kwargs = {**obj.attrs.get("format", {}), **kwargs}
        save_table(obj, name, **kwargs)
        from svcresearch.display import Table, table

        if isinstance(obj, Table):
            return obj
        # shown in the notebook as it is written: APA numbers, title and note, no index column
        shown = {k: kwargs[k] for k in ("title", "note", "decimals", "p_columns", "bounded") if kwargs.get(k) is not None}
        return table(obj, **shown)
    from svcresearch.figures import save_figure

    if kwargs.get("caption") is None:
        # the figure's own title is its caption in reports/index.html and reports/README.md
        titles = [obj._suptitle.get_text()] if getattr(obj, "_suptitle", None) is not None else []
        titles += [ax.get_title() for ax in obj.axes if ax.get_title()]
        if titles:
            kwargs["caption"] = titles[0]
    save_figure(obj, name, **kwargs)
    return None


# ----------------------------------------------------------------------------------------------
# The study's model and hypotheses
# ----------------------------------------------------------------------------------------------
def study_hypotheses(study):
    """The study's :class:`~svcresearch.hypotheses.Hypotheses`, or a Note when it has no file."""
    if study.hypotheses_path is None:
        return Note(f"Study '{study.name}' has no hypotheses file (study.yaml names none), so no claim is "
                    f"tested; the models use the codebook's first outcome on all coded behaviours.")
    return hyp.load_hypotheses(study.hypotheses_path, codebook=study.codebook)


def _spec(study):
    hypotheses = study_hypotheses(study)
    if isinstance(hypotheses, Note):
        try:
            return hyp.model_from_codebook(study.codebook)
        except ValueError as exc:
            return Note(f"No model: {exc}")
    return hypotheses.model


def main_model(study, *, confidence: float = 0.95):
    """The study's main model, fitted: a :class:`~svcresearch.modelframe.ModelFit` or a Note.

    The outcome, groups and terms come from the hypotheses file's ``model:`` (else
    :func:`svcresearch.hypotheses.model_from_codebook`). The fit prints one sentence: rows rated
    and used, the variables that cost the rest, terms left out, and why it was not fitted.
    """
    spec = _spec(study)
    if isinstance(spec, Note):
        return spec
    frame = mfm.model_frame(study.encounters(), codebook=study.codebook, outcome=spec.outcome,
                            terms=spec.terms, groups=spec.groups)
    return frame.fit(confidence=confidence)


def _fit_or_note(model):
    if isinstance(model, Note):
        return model
    if not model.ok:
        return Note(f"Not estimated: {model.problem}.")
    return None


# ----------------------------------------------------------------------------------------------
# Notebook 03: the sample
# ----------------------------------------------------------------------------------------------
def _by_variable(study, data):
    """First nominal context variable with 2–5 levels present in the data (e.g. a channel), or None."""
    for v in study.codebook.variables.values():
        if (v.role == "context" and v.type == "nominal" and v.value_set is not None
                and 2 <= len(v.value_set.levels) <= 5 and v.out_name in data.columns
                and data[v.out_name].nunique() >= 2):
            return v.out_name
    return None


def sample_table(study):
    """Table 1: context, coded behaviours and outcomes, M (SD) or n (%), by the first context category.

    Behaviours are summarised among the encounters where they were applicable and coded (not
    applicable cells are missing here); outcomes among respondents.
    """
    from svcresearch.report import descriptives_table

    data = study.encounters()
    cb = study.codebook
    shown = pd.DataFrame(index=data.index)
    variables = []
    for v in cb.variables.values():
        if v.out_name not in data.columns or v.role not in ("context", "behaviour", "outcome"):
            continue
        if v.type == "datetime" or (v.type == "nominal" and v.value_set is None):
            continue
        col = data[v.out_name]
        if v.type == "binary":
            col = col.astype("boolean")
        elif v.type == "ordinal" and mfm._numeric_levels(v) is not None:
            col = pd.to_numeric(col.astype("string") if not pd.api.types.is_numeric_dtype(col.dtype) else col,
                                errors="coerce").astype(float)
        if not col.notna().any():
            continue
        shown[v.out_name] = col
        variables.append(v.out_name)
    by = _by_variable(study, data)
    if by is not None and by not in shown.columns:
        shown[by] = data[by]
    if not variables:
        return Note(f"Table 1 not produced: none of the codebook's context, behaviour or outcome variables "
                    f"has a value in study '{study.name}'.")
    return descriptives_table(shown, variables=[v for v in variables if v != by] or variables, by=by,
                              labels=_labels(study), title="Sample Characteristics")


def code_status_table(study):
    """Observed / missing / not-applicable counts of every coded behaviour (``<name>_status``)."""
    data = study.encounters()
    labels = _labels(study)
    rows = []
    for v in study.codebook.behaviours:
        status = f"{v.out_name}_status"
        if status not in data.columns:
            continue
        counts = data[status].astype("string").value_counts()
        rows.append({"Behaviour": labels.get(v.out_name, v.out_name),
                     "Observed": int(counts.get("observed", 0)), "Missing": int(counts.get("missing", 0)),
                     "Not applicable": int(counts.get("not_applicable", 0)),
                     "Missing share": counts.get("missing", 0) / max(len(data), 1)})
    if not rows:
        return Note(f"Code status not shown: study '{study.name}' has no coded behaviour with a status column.")
    out = pd.DataFrame(rows)
    out.attrs["title"] = "Observed, Missing and Not-Applicable Behaviour Codes"
    out.attrs["note"] = (f"Counts of {len(data):,} encounters. Not applicable is structural (the codebook's "
                         f"applicable_if), not missing data.")
    return out


def code_status_figure(table):
    """Stacked bars of :func:`code_status_table` (shares of encounters)."""
    if isinstance(table, Note):
        return table
    import matplotlib.pyplot as plt

    from svcresearch.figures import paper_theme

    counts = table.set_index("Behaviour")[["Observed", "Missing", "Not applicable"]].iloc[::-1]
    shares = counts.div(counts.sum(axis=1).replace(0, 1), axis=0)
    with paper_theme():
        fig, ax = plt.subplots(figsize=(4.8, 0.25 * len(shares) + 1.0), layout="constrained")
        left = np.zeros(len(shares))
        for status, colour in zip(shares.columns, ["0.35", "#d95f02", "0.82"]):
            ax.barh(shares.index, shares[status], left=left, color=colour, label=status)
            left += shares[status].to_numpy()
        ax.set_xlabel("Share of encounters")
        ax.set_xlim(0, 1)
        ax.legend(frameon=False, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return fig


def outcome_distribution(study):
    """Bar chart of the main model's outcome among respondents, by the first context category."""
    from svcresearch.figures import distribution_plot

    spec = _spec(study)
    if isinstance(spec, Note):
        return spec
    data = study.encounters()
    if spec.outcome not in data.columns or not data[spec.outcome].notna().any():
        return Note(f"Outcome distribution not drawn: '{spec.outcome}' has no value in study '{study.name}'.")
    rated = data.loc[data[spec.outcome].notna()]
    frame = pd.DataFrame({spec.outcome: rated[spec.outcome]})
    by = _by_variable(study, rated)
    if by is not None:
        frame[by] = rated[by].astype("string")
    return distribution_plot(frame, outcome=spec.outcome, by=by, labels=_labels(study))


def scale_reliability(study, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = DEFAULT_SEED):
    """Cronbach's alpha (Feldt CI) and McDonald's omega (bootstrap CI) of every codebook scale."""
    from svcresearch import scales
    from svcresearch.report import format_ci

    data = study.encounters()
    rows = []
    skipped = []
    for name, spec in study.codebook.scales.items():
        items = [i for i in spec.get("items", []) if i in data.columns]
        complete = data[items].dropna() if len(items) == len(spec.get("items", [])) else data.iloc[:0]
        if len(items) < 2 or len(complete) < mfm.MIN_RATED:
            skipped.append(f"{name} ({len(complete)} complete responses)")
            continue
        rel = pd.concat([scales.cronbach_alpha(data, items=items, confidence=confidence),
                         scales.mcdonald_omega(data, items=items, n_boot=n_boot, confidence=confidence, seed=seed)],
                        ignore_index=True)
        label = spec.get("label_en", name)
        for coef, (_, r) in zip(["Cronbach's alpha", "McDonald's omega"], rel.iterrows()):
            rows.append({"Scale": label, "Coefficient": coef, "Estimate": r["estimate"],
                         f"{confidence:.0%} CI": format_ci(r["ci_low"], r["ci_high"], leading_zero=False),
                         "n": int(r["n"])})
    if not rows:
        what = "; ".join(skipped) if skipped else "the codebook defines no scale"
        return Note(f"Scale reliability skipped: it needs a scale's items answered by at least {mfm.MIN_RATED} "
                    f"respondents ({what}).")
    out = pd.DataFrame(rows)
    out.attrs["title"] = "Internal Consistency of the Scales"
    out.attrs["note"] = (f"Alpha interval: Feldt (1987); omega: one-factor maximum-likelihood model, percentile "
                         f"bootstrap ({n_boot:,} resamples, seed {seed})."
                         + (f" Skipped: {'; '.join(skipped)}." if skipped else ""))
    return out


def sample_summary(study):
    """A plain-language summary of the sample (one short paragraph)."""
    data = study.encounters()
    labels = _labels(study)
    parts = [f"Study '{study.name}' has {len(data):,} encounters"]
    spec = _spec(study)
    if not isinstance(spec, Note) and spec.outcome in data.columns:
        n = int(data[spec.outcome].notna().sum())
        parts.append(f"{n:,} of them rated on {labels.get(spec.outcome, spec.outcome)}")
    text = ", ".join(parts) + "."
    missing = []
    for v in study.codebook.behaviours:
        s = f"{v.out_name}_status"
        if s in data.columns:
            share = data[s].astype("string").eq("missing").mean()
            if share > 0:
                missing.append((share, labels.get(v.out_name, v.out_name)))
    if missing:
        share, name = max(missing)
        text += f" The behaviour missing most often is {name} ({share:.1%} of encounters)."
    absent = [labels.get(v.out_name, v.out_name) for v in study.codebook.behaviours if v.out_name not in data.columns]
    if absent:
        text += f" Coded behaviours of the codebook absent from the data: {', '.join(absent)}."
    return Note(text)


# ----------------------------------------------------------------------------------------------
# Notebook 04: the main model
# ----------------------------------------------------------------------------------------------
def model_table(model):
    """APA coefficient table of the main model (readable labels; OR for logit models)."""
    from svcresearch.report import regression_table

    note = _fit_or_note(model)
    if note is not None:
        return note
    params = model.params()
    frame = model.frame
    logit = frame.family in ("ordinal", "binary")
    table = regression_table(params, labels=frame.labels, odds_ratio=logit, thresholds=frame.family == "ordinal",
                             title=f"{'Cumulative-Logit' if frame.family == 'ordinal' else 'Logistic' if logit else 'Linear'}"
                                   f"{' Mixed' if frame.groups and frame.family != 'binary' else ''} Model of "
                                   f"{frame.labels.get(frame.outcome, frame.outcome)}")
    res = model.result
    extra = f"n = {res.nobs:,} of {frame.n_rated:,} rated encounters. "
    if res.variance_components is not None and frame.groups:
        from svcresearch.effects import icc

        vc = res.variance_components
        extra += f"{res.n_groups} groups ({frame.groups}); random-intercept variance {vc['variance'].iloc[0]:.3f}"
        try:
            extra += f"; ICC = {icc(res):.3f}. "
        except (TypeError, ValueError):
            extra += ". "
    table.attrs["note"] = extra + (table.attrs.get("note") or "") + f" Estimation: {res.method}."
    return table


def proportional_odds_table(model):
    """Likelihood-ratio test of proportional odds per term (fixed-effects model; ordinal outcomes)."""
    note = _fit_or_note(model)
    if note is not None:
        return note
    if model.frame.family != "ordinal":
        return Note("Proportional-odds test not applicable: the outcome is not ordinal.")
    fixed = model.frame.fit(groups=False)
    if not fixed.ok:
        return Note(f"Proportional-odds test not run: {fixed.problem}.")
    try:
        po = fixed.result.proportional_odds_test()
    except ValueError as exc:
        return Note(f"Proportional-odds test not run: {exc}")
    po = po.copy()
    po["term"] = [label_term(model.frame.readable(t), model.frame.labels) for t in po["term"]]
    po.attrs["title"] = "Likelihood-Ratio Tests of Proportional Odds per Term"
    po.attrs["note"] = ("Fixed-effects cumulative-logit model; each term refitted with category-specific effects. "
                        "finite = False: some nominal effects diverge and the test uses the likelihood supremum.")
    return po


def coefficient_plot(model, *, truth: Mapping | None = None):
    """Coefficients with intervals; true values (``ground_truth["model_terms"]``) as open circles."""
    note = _fit_or_note(model)
    if note is not None:
        return note
    import matplotlib.pyplot as plt

    from svcresearch.figures import paper_theme

    coefs = model.coefficients()
    if not len(coefs):
        return Note("Coefficient plot not drawn: the model has no term.")
    known = hyp.true_model_terms(truth)
    ypos = np.arange(len(coefs))[::-1]
    est = coefs["estimate"].to_numpy(float)
    # an interval that excludes its own estimate (never for Wald intervals, but guard) is clipped
    lo = np.clip(est - coefs["ci_low"].to_numpy(float), 0, None)
    hi = np.clip(coefs["ci_high"].to_numpy(float) - est, 0, None)
    with paper_theme():
        fig, ax = plt.subplots(figsize=(4.2, 0.22 * len(coefs) + 1.0), layout="constrained")
        ax.errorbar(est, ypos, xerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o", color="0.2", markersize=3,
                    capsize=0, label="estimate, 95% CI")
        tv = np.array([known.get(t, np.nan) for t in coefs["term"]], dtype=float)
        if np.isfinite(tv).any():
            ax.plot(tv, ypos, "o", mfc="none", mec="#d95f02", markersize=5, label="true value")
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_yticks(ypos, coefs["label"])
        family = model.frame.family
        ax.set_xlabel("Log cumulative odds of a higher rating" if family == "ordinal"
                      else "Log odds" if family == "binary" else "Coefficient (outcome units)")
        ax.legend(frameon=False, loc="best")
    return fig


def _interaction_scenarios(model):
    """First interaction of two 0/1 columns: (term, a, b) or None."""
    frame = model.frame
    for term in frame.terms:
        parts = term.split(":")
        if len(parts) != 2:
            continue
        cols = [frame.columns.get(p) for p in parts]
        if None in cols:
            continue
        if all(set(np.unique(frame.data[c].to_numpy(float))) <= {0.0, 1.0} for c in cols):
            return term, parts
    return None


def predicted_probabilities(model):
    """Predicted probability of each outcome category for the four cells of the first 0/1 × 0/1 interaction.

    Every other term at its sample mean, random intercept 0 (an average group).
    """
    note = _fit_or_note(model)
    if note is not None:
        return note
    if model.frame.family != "ordinal":
        return Note("Predicted category probabilities are drawn for ordinal outcomes only.")
    found = _interaction_scenarios(model)
    if found is None:
        return Note("Predicted probabilities not drawn: the model has no interaction of two yes/no terms.")
    from svcresearch.figures import predicted_probabilities_plot

    term, (a, b) = found
    frame = model.frame
    main_cols = [frame.columns[t] for t in frame.terms if ":" not in t]
    typical = frame.data[main_cols].mean()
    labels = frame.labels
    rows, names = [], []
    for va in (0.0, 1.0):
        for vb in (0.0, 1.0):
            s = typical.copy()
            s[frame.columns[a]], s[frame.columns[b]] = va, vb
            rows.append(s)
            names.append(f"{label_term(a, labels)}: {'yes' if va else 'no'}, {label_term(b, labels)}: "
                         f"{'yes' if vb else 'no'}")
    proba = model.result.predict_proba(pd.DataFrame(rows).reset_index(drop=True))
    proba.index = names
    long = proba.rename_axis("scenario").reset_index().melt(id_vars="scenario", var_name="category",
                                                              value_name="probability")
    return predicted_probabilities_plot(long, labels=labels)


def marginal_effects_table(model):
    """Average marginal effect of each term on the probability of the top category (ordinal outcomes)."""
    note = _fit_or_note(model)
    if note is not None:
        return note
    if model.frame.family != "ordinal":
        return Note("Marginal effects on category probabilities are shown for ordinal outcomes only.")
    ame = model.result.marginal_effects()
    top = ame.loc[ame["category"] == ame["category"].iloc[-1]].drop(columns="category").reset_index(drop=True)
    top.insert(0, "label", [label_term(model.frame.readable(t), model.frame.labels) for t in top["term"]])
    top["term"] = [model.frame.readable(t) for t in top["term"]]
    from svcresearch.display import table

    readable = top.rename(columns={"label": "Term", "term": "Code", "estimate": "AME", "std_error": "SE",
                                   "ci_low": "95% CI low", "ci_high": "95% CI high", "p_value": "p"})
    return table(readable, title=f"Average Marginal Effects on P({model.frame.outcome} = top category)",
                 decimals=3, p_columns=["p"])


def model_summary(model):
    """Plain-language summary of the main model: the strongest positive and negative terms."""
    note = _fit_or_note(model)
    if note is not None:
        return Note(f"Main model: {note}")
    coefs = model.coefficients()
    frame = model.frame
    sig = coefs.loc[coefs["p_value"] < 0.05].sort_values("estimate")
    text = (f"The model of {frame.labels.get(frame.outcome, frame.outcome)} used {frame.n_used:,} of "
            f"{frame.n_rated:,} rated encounters and {len(coefs)} terms; {len(sig)} have p < .05.")
    if len(sig):
        top = sig.iloc[-1]
        if top["estimate"] > 0:
            text += f" The largest positive association is {top['label']} ({top['estimate']:.2f})."
        low = sig.iloc[0]
        if low["estimate"] < 0:
            text += f" The largest negative one is {low['label']} ({low['estimate']:.2f})."
    if frame.dropped_terms:
        text += f" {len(frame.dropped_terms)} requested term(s) were left out (see the model sentence above)."
    return Note(text)


# ----------------------------------------------------------------------------------------------
# Notebook 05: moderation, mediation, key drivers
# ----------------------------------------------------------------------------------------------
def simple_slopes_table(model, hypotheses=None, *, confidence: float = 0.95):
    """Simple slopes of every two-way interaction of the main model (moderator at 0 and 1, or mean ± SD).

    The claim id of the hypotheses file that tests the interaction is shown when there is one.
    """
    from svcresearch.effects import simple_slopes

    note = _fit_or_note(model)
    if note is not None:
        return note
    frame = model.frame
    ids = {}
    if hypotheses is not None and not isinstance(hypotheses, Note):
        for c in hypotheses.claims:
            for t in c.tests:
                for term in t.weights:
                    ids.setdefault(term, c.id)
    parts = []
    for term in frame.terms:
        if term.count(":") != 1:
            continue
        focal, moderator = term.split(":")
        values = frame.data[frame.columns[moderator]].to_numpy(float)
        at = [0.0, 1.0] if set(np.unique(values)) <= {0.0, 1.0} else \
            [float(values.mean() - values.std()), float(values.mean() + values.std())]
        s = simple_slopes(model.result, focal=frame.columns[focal], moderator=frame.columns[moderator], at=at,
                          confidence=confidence)
        s["focal"], s["moderator"] = focal, moderator
        s.insert(0, "hypothesis", ids.get(term, ""))
        parts.append(s)
    if not parts:
        return Note("Simple slopes skipped: the main model has no two-way interaction (absent from the model "
                    "or constant in the rows used).")
    out = pd.concat(parts, ignore_index=True)
    out.attrs["title"] = "Simple Slopes From the Main Model"
    out.attrs["note"] = ("Effect of the focal term (model scale) at the moderator's values (0/1, or mean ± 1 SD); "
                         "delta-method standard errors from the model covariance.")
    return out


def simple_slopes_figure(slopes, model=None):
    """:func:`svcresearch.figures.simple_slopes_plot` of :func:`simple_slopes_table`."""
    if isinstance(slopes, Note):
        return slopes
    from svcresearch.figures import simple_slopes_plot

    labels = model.frame.labels if model is not None and not isinstance(model, Note) else None
    return simple_slopes_plot(slopes, labels=labels)


def mediation_table(study, hypotheses, *, confidence: float = 0.95, n_draws: int = 100_000,
                    seed: int = DEFAULT_SEED):
    """The paths a, b, direct and a·b of every ``mediation`` claim (:func:`svcresearch.mediation.model_mediation`).

    Same estimand as the hypotheses table: a·b on the outcome model's scale (log odds for an
    ordinal outcome).
    """
    from svcresearch.mediation import model_mediation

    if isinstance(hypotheses, Note):
        return hypotheses
    tables, notes = [], []
    for c in hypotheses.claims:
        for t in c.tests:
            if t.kind != "mediation":
                continue
            res = model_mediation(study.encounters(), codebook=study.codebook, outcome=hypotheses.model.outcome,
                                  x=t.x, mediator=t.mediator, terms=hypotheses.model.terms,
                                  groups=hypotheses.model.groups, where=c.where, confidence=confidence,
                                  n_draws=n_draws, seed=seed)
            if isinstance(res, Note):
                notes.append(f"{c.id}: {res}")
            else:
                tables.append(res.assign(hypothesis=c.id, subset=mfm.describe_where(c.where)))
    if not tables:
        return Note("Mediation skipped: " + (" ".join(notes) if notes else "the hypotheses file has no mediation claim."))
    out = pd.concat(tables, ignore_index=True)
    out = out[["hypothesis", "path", "term", "estimate", "std_error", "ci_low", "ci_high", "p_value", "n", "scale",
               "subset"]]
    out.attrs["title"] = "Mediation: Indirect Effects Through the Mediator"
    out.attrs["note"] = ("a: OLS effect of x on the mediator (mediator points); b and direct: outcome model "
                         "(log odds for an ordinal or binary outcome); indirect = a·b with a Monte Carlo interval "
                         "and Sobel p — the same estimand as the hypotheses table."
                         + (" Not estimated: " + " ".join(notes) if notes else ""))
    out.attrs["models"] = [t.attrs.get("model") for t in tables]
    return out


def mediation_figure(table, study):
    """Path diagram of the first mediation claim (:func:`svcresearch.figures.mediation_diagram`)."""
    if isinstance(table, Note):
        return table
    from svcresearch.figures import mediation_diagram

    first = table.loc[table["hypothesis"] == table["hypothesis"].iloc[0]]
    x = first.loc[first["path"] == "direct", "term"].iloc[0]
    m = first.loc[first["path"] == "b", "term"].iloc[0]
    outcome = table.attrs["models"][0].frame.outcome if table.attrs.get("models") else "outcome"
    return mediation_diagram(first, x=x, mediator=m, outcome=outcome, labels=_labels(study))


def key_drivers_table(model, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = DEFAULT_SEED):
    """LMG shares of R² of the main model's main-effect columns whose variable applies everywhere.

    Predictors: the main model's main-effect columns (coded as in the model) of variables without
    ``applicable_if`` — a behaviour that applies only in some encounters has an effect defined
    only there — up to :data:`svcresearch.drivers.MAX_PREDICTORS`; rows: the model's rows; the
    outcome used as a number.
    """
    from svcresearch import drivers
    from svcresearch.report import format_ci

    note = _fit_or_note(model)
    if note is not None:
        return note
    frame = model.frame
    codebook_vars = {}
    predictors = []
    for term in frame.terms:
        if ":" in term:
            continue
        var = term.split("[", 1)[0]
        codebook_vars[term] = var
        predictors.append(term)
    applies = [t for t in predictors if not _has_applicability(model, codebook_vars[t])]
    dropped = len(applies) > drivers.MAX_PREDICTORS
    applies = applies[:drivers.MAX_PREDICTORS]
    if len(applies) < 2:
        return Note(f"Key drivers skipped: they need at least 2 terms that apply in every encounter; the main "
                    f"model has {len(applies)}.")
    data = pd.DataFrame({t: frame.data[frame.columns[t]].to_numpy(float) for t in applies})
    y = frame.data[frame.outcome_column]
    data["__y"] = (y.cat.codes.astype(float) if isinstance(y.dtype, pd.CategoricalDtype)
                   else pd.to_numeric(y, errors="coerce").astype(float)).to_numpy()
    try:
        kd = drivers.key_drivers(data, y="__y", predictors=applies, n_boot=n_boot, confidence=confidence, seed=seed)
    except ValueError as exc:
        return Note(f"Key drivers skipped: {exc}")
    out = pd.DataFrame({"Rank": kd["rank"], "Predictor": [label_term(p, frame.labels) for p in kd["predictor"]],
                        "term": kd["predictor"], "LMG R² share": kd["lmg"], "ci_low": kd["ci_low"],
                        "ci_high": kd["ci_high"], f"{confidence:.0%} CI": format_ci(kd["ci_low"], kd["ci_high"],
                                                                                     decimals=3),
                        "% of R²": 100 * kd["share"], "Relative weight": kd["relative_weight"]})
    out.attrs["title"] = f"Relative Importance for {frame.labels.get(frame.outcome, frame.outcome)}"
    out.attrs["note"] = (f"n = {int(kd['n'].iloc[0]):,}; linear-model R² = {kd['r2'].iloc[0]:.3f}. LMG: Shapley "
                         f"decomposition of R² over all predictor subsets, percentile bootstrap ({n_boot:,} resamples, "
                         f"seed {seed}); relative weight: Johnson (2000). Terms that apply only in some encounters "
                         f"(codebook applicable_if) are left out"
                         + (f"; only the first {drivers.MAX_PREDICTORS} terms are used." if dropped else "."))
    return out


def _has_applicability(model, name: str) -> bool:
    var = mfm.find_variable(model.frame.codebook, name)
    return bool(var is not None and var.applicable_if)


def key_drivers_figure(table):
    """Bar chart of LMG shares with bootstrap intervals (intervals clipped to be non-negative)."""
    if isinstance(table, Note):
        return table
    import matplotlib.pyplot as plt

    from svcresearch.figures import paper_theme

    est = table["LMG R² share"].to_numpy(float)
    # a percentile interval need not contain its estimate: clip so the error bar is drawable
    lo = np.clip(est - table["ci_low"].to_numpy(float), 0, None)
    hi = np.clip(table["ci_high"].to_numpy(float) - est, 0, None)
    with paper_theme():
        fig, ax = plt.subplots(figsize=(4.2, 0.25 * len(table) + 1.0), layout="constrained")
        ypos = np.arange(len(table))[::-1]
        ax.barh(ypos, est, color="0.6")
        ax.errorbar(est, ypos, xerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="none", ecolor="0.1", lw=0.8)
        ax.set_yticks(ypos, table["Predictor"])
        ax.set_xlabel("Share of R² (LMG), 95% bootstrap CI")
    return fig


def moderation_summary(slopes, mediation, drivers_table):
    """Plain-language summary of notebook 05."""
    parts = []
    if isinstance(slopes, Note):
        parts.append("No simple slopes could be estimated.")
    else:
        n_sig = int((slopes["p_value"] < 0.05).sum())
        parts.append(f"{len(slopes)} simple slopes from {slopes[['focal', 'moderator']].drop_duplicates().shape[0]} "
                     f"interaction(s); {n_sig} with p < .05.")
    if isinstance(mediation, Note):
        parts.append("No mediation was estimated.")
    else:
        ind = mediation.loc[mediation["path"] == "indirect"]
        for _, r in ind.iterrows():
            excl = r["ci_low"] > 0 or r["ci_high"] < 0
            parts.append(f"{r['hypothesis']}: indirect effect {r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
                         f"{', its interval excludes 0' if excl else ', its interval includes 0'}.")
    if isinstance(drivers_table, Note):
        parts.append("No key-driver analysis.")
    else:
        parts.append(f"The strongest key driver is {drivers_table['Predictor'].iloc[0]} "
                     f"({drivers_table['% of R²'].iloc[0]:.0f}% of the explained variance).")
    return Note(" ".join(parts))


# ----------------------------------------------------------------------------------------------
# Notebook 06: the claims
# ----------------------------------------------------------------------------------------------
def hypotheses_results(study, hypotheses, *, seed: int = DEFAULT_SEED):
    """:func:`svcresearch.hypotheses.run_hypotheses` on the study (ground truth only when the study has it)."""
    if isinstance(hypotheses, Note):
        return hypotheses
    return hyp.run_hypotheses(study.encounters(), hypotheses=hypotheses, codebook=study.codebook,
                              ground_truth=study.ground_truth, seed=seed)


def corrected_hypotheses(study, hypotheses, *, seed: int = DEFAULT_SEED):
    """The claims' naive and coder-error-corrected estimates side by side (MC-SIMEX, :mod:`svcresearch.simex`).

    A Note when the study has no hypotheses file or no ``coding_long.parquet``. The table shows,
    per tested row, the naive estimate with its interval and the corrected one with its interval;
    ``attrs["note"]`` names each code's reliability and expected shrinkage.
    """
    if isinstance(hypotheses, Note):
        return hypotheses
    from svcresearch.report import format_ci, format_number

    try:
        coding = study.coding_long()
    except (FileNotFoundError, OSError):
        return Note(f"No correction for coder error: study '{study.name}' has no coding_long.parquet (clean it first).")
    table = hyp.run_hypotheses(study.encounters(), hypotheses=hypotheses, codebook=study.codebook, coding_long=coding,
                               seed=seed)
    naive = "_naive" if "estimate_naive" in table.columns else ""
    corrected = "" if naive else "_corrected"
    labels = _labels(study)
    printed = pd.DataFrame({
        "H": table["hypothesis"], "Term": [label_term(t, labels) for t in table["term"]],
        "Naive estimate": table[f"estimate{naive}"].map(format_number),
        "Naive 95% CI": format_ci(table[f"ci_low{naive}"], table[f"ci_high{naive}"]),
        "Corrected estimate": table[f"estimate{corrected}"].map(format_number),
        "Corrected 95% CI": format_ci(table[f"ci_low{corrected}"], table[f"ci_high{corrected}"]),
        "Verdict": table["verdict"]})
    from svcresearch.display import table as display_table

    # the note that matters here is the correction's: each code's reliability and expected shrinkage
    note = table.attrs.get("correction_note") or table.attrs.get("note")
    return display_table(printed, title="Claims with Naive and Coder-Error-Corrected Estimates", note=note)


def corrected_model_table(correction):
    """The main model's naive and corrected coefficients (:func:`svcresearch.simex.study_correction`)
    as an APA table with readable terms; a Note is passed on."""
    if isinstance(correction, Note):
        return correction
    from svcresearch.display import table as display_table
    from svcresearch.report import format_ci, format_number

    printed = pd.DataFrame({
        "Term": correction["label"] if "label" in correction.columns else correction["term"],
        "Naive estimate": correction["estimate_naive"].map(format_number),
        "Naive 95% CI": format_ci(correction["ci_low_naive"], correction["ci_high_naive"]),
        "Corrected estimate": correction["estimate_corrected"].map(format_number),
        "Corrected 95% CI": format_ci(correction["ci_low_corrected"], correction["ci_high_corrected"])})
    return display_table(printed, title="Main Model: Naive and Coder-Error-Corrected Coefficients",
                         note=correction.attrs.get("note"))


def hypotheses_table(results, study):
    """APA table of the results (readable terms; true values when the study has ground truth)."""
    if isinstance(results, Note):
        return results
    from svcresearch.report import format_ci

    labels = _labels(study)
    printed = pd.DataFrame({
        "H": results["hypothesis"], "Claim": results["claim"],
        "Term": results["term"],
        "Label": [label_term(t, labels) for t in results["term"]],
        "Expected": results["expected"], "Estimate": results["estimate"],
        "95% CI": format_ci(results["ci_low"], results["ci_high"]), "p": results["p_value"],
        "p (Holm)": results["p_holm"], "Verdict": results["verdict"], "n": results["n"],
        "Source": results["source"]})
    if "true_value" in results.columns:
        printed["True value"] = results["true_value"]
        printed["CI covers truth"] = results["ci_covers_truth"].map({True: "yes", False: "no"})
    if "true_value_coded" in results.columns:
        printed["Limit with coded behaviours"] = results["true_value_coded"]
    if results["verdict"].eq("not testable").any():
        printed["Reason"] = results["reason"]
    printed.attrs["title"] = "Claims Tested on the Coded Encounters"
    printed.attrs["note"] = results.attrs.get("note", "")
    return printed


def hypotheses_forest(results, study):
    """Forest plot of the tested rows, one panel per scale (:func:`svcresearch.figures.forest_plot`)."""
    if isinstance(results, Note):
        return results
    from svcresearch.figures import forest_plot

    tested = results.loc[results["verdict"] != "not testable"].reset_index(drop=True)
    if not len(tested):
        return Note("Forest plot not drawn: no claim could be tested on this study (reasons in the table).")
    return forest_plot(tested, labels=_labels(study))


def hypotheses_summary(results):
    """Plain-language summary of the hypotheses table."""
    if isinstance(results, Note):
        return results
    counts = results["verdict"].value_counts()
    claims = results.groupby("hypothesis", sort=False)["verdict"].apply(lambda v: (v == "supported").any())
    text = (f"{len(results)} rows from {results['hypothesis'].nunique()} claims: "
            + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in hyp.VERDICTS if counts.get(v, 0)) + ". "
            f"Claims with at least one supported row: {', '.join(claims.index[claims]) or 'none'}.")
    if "ci_covers_truth" in results.columns:
        cov = results["ci_covers_truth"].dropna()
        text += f" The 95% intervals cover the true value in {int(cov.sum())} of {len(cov)} rows."
    return Note(text)
