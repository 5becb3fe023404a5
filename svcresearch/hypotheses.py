"""The practice claims H1–H12 (DESIGN.md §2) as a registry, and one function that tests them all.

Each claim comes from one of the five Finnish customer-service articles in ``sources/`` (columns
and blog posts). :data:`HYPOTHESES` states each claim in English, the article(s) it comes from,
the model and subset that test it, and the exact coefficient or contrast with its expected sign.
:func:`run_hypotheses` fits the models once, computes every estimate, corrects the p values for
the whole family with Holm's method and returns ONE tidy table with a verdict per row — and, for
the simulated default study, the true value and whether the interval covers it.

Why a module and not a notebook: the same table is needed by notebook 06, by the tests (which
check on simulated data that truly-null claims are not "supported" and large effects are
recovered), and by anyone who re-runs the analysis on their own coded encounters.

Model (one specification for all coefficient claims). Cumulative-logit mixed model of
``sat_overall`` (1–5) with a random intercept per employee (``fit_ordinal(groups="employee")``,
R's ``clmm``) and every coded behaviour and context variable at once::

    eye_contact + greeting + smile_polite + smile_genuine + resolved * empathy
    + wait_min * acknowledged_wait + apology + explanation + phone_use + scripted + upselling
    + service_failure * returning_customer + referral + channel_phone

A behaviour that is *not applicable* (eye contact and smile on the phone, apology and explanation
without a failure, acknowledgement of a wait under 2 minutes, referral of a resolved issue) enters
as 0, so with the applicability condition in the model its coefficient is the effect where it
applies. Missing codes (not "not applicable") drop the encounter. H1 and H3 are tested among
face-to-face encounters, H6 among service failures (terms constant in a subset are dropped).

A researcher's own study rarely has every variable of the default codebook. A claim whose
variables are absent (no such column), empty or constant in the rows used (no failures observed, no
phone channel, no polite smile) cannot be tested: its row is kept in the table with verdict
``not testable`` and a ``reason`` naming the variable, and it stays out of the Holm family. The
main model then uses the terms that exist and vary. Without the grouping column (e.g. no operations
log, hence no ``employee``) the models are fitted without a random intercept and H10 is not
testable. A model needs at least :data:`MIN_RATED` rated encounters with complete codes.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED
from svcresearch.effects import contrast, icc_interval, lr_test_variance_component
from svcresearch.multiplicity import holm
from svcresearch.models.ordinal import LINKS
from svcresearch.simulate import _model as _study_model

#: Coded behaviours of the default study in codebook order (the simulator defines them once).
BEHAVIOURS = tuple(_study_model.BEHAVIOURS)
#: Ordered levels of the ``smile`` code.
SMILE_LEVELS = tuple(_study_model.SMILE_LEVELS)
#: Coded yes/no behaviours of the processed data (``docs/study_layout.md``): all but ``smile``.
BINARY_BEHAVIOURS = tuple(b for b in BEHAVIOURS if b != "smile")

#: Terms of the main model, in order (interactions written as products of numeric 0/1 columns).
MAIN_TERMS = ("eye_contact", "greeting", "smile_polite", "smile_genuine", "resolved", "empathy",
              "resolved:empathy", "wait_min", "acknowledged_wait", "wait_min:acknowledged_wait",
              "apology", "explanation", "phone_use", "scripted", "upselling", "service_failure",
              "returning_customer", "service_failure:returning_customer", "referral", "channel_phone")

SUBSETS = ("all", "face_to_face", "failures")
VERDICTS = ("supported", "not supported", "opposite direction", "not testable")
ALPHA = 0.05
#: Fewest rated encounters (complete on the model's codes) for which a model is fitted; below it
#: the hypotheses of that model are "not testable". Thirty is a floor, not a power analysis: with
#: fewer than ~30 ratings a cumulative-logit model with several terms separates or barely moves
#: from its start values, and its Wald intervals mean nothing.
MIN_RATED = 30

VERDICT_RULE = (
    "Verdict: 'supported' when the Holm-adjusted p value (family of all rows) is below .05 and the "
    "estimate has the expected sign; 'opposite direction' when p_holm < .05 with the other sign; "
    "otherwise 'not supported' (no evidence either way at this sample size, not evidence of no effect)."
)
#: Added to the note when some rows could not be tested (the default study has none).
NOT_TESTABLE_RULE = (
    "'Not testable': a variable the claim needs is absent, empty or constant in the rows used, or too "
    "few rated encounters (reason column); such rows have no estimate and are not in the Holm family."
)

SOURCES = {
    "000": "000_c4c7e7a43a71289c",   # Ryynänen 2017, "Asiakaspalvelu on täynnä tunteita"
    "001": "001_31622a3cb35a9504",   # "Millaista on hyvä asiakaspalvelu?" (service "in stock")
    "002": "002_0455fc95f5ca588c",   # column "Hyvä asiakaspalvelukokemus kantaa pitkälle"
    "003": "003_258e938b3e5f6f59",   # "Tunneäly asiakaspalvelussa"
    "004": "004_522a5830113953c7",   # "A blond customer service agent" (+ reader comment)
}


@dataclass(frozen=True)
class Test:
    """One row of the results table: a coefficient or contrast with its expected sign.

    ``term`` is the name used in the simulator's ground truth; ``weights`` map model terms to
    weights (``{"apology": 1, "explanation": -1}``); ``kind`` is ``"coefficient"``, ``"icc"`` or
    ``"indirect"``.
    """

    term: str
    weights: Mapping[str, float] = field(default_factory=dict)
    expected: int = 1
    kind: str = "coefficient"
    definition: str = ""


@dataclass(frozen=True)
class Hypothesis:
    """A practice claim: id, English claim, source article ids, test, subset, rows."""

    id: str
    claim: str
    sources: tuple[str, ...]
    test: str
    subset: str
    tests: tuple[Test, ...]


def _coef(term, expected, definition=""):
    return Test(term=term, weights={term: 1.0}, expected=expected, definition=definition)


HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis("H1", "Eye contact raises satisfaction; avoiding it \"says more than a hundred words\".",
               ("004", "003"), "main effect (face to face)", "face_to_face",
               (_coef("eye_contact", +1),)),
    Hypothesis("H2", "Greeting the customer, acknowledging them as a person, raises satisfaction.",
               ("003",), "main effect", "all", (_coef("greeting", +1),)),
    Hypothesis("H3", "Smiling raises satisfaction (\"the power of a smile is unmatched\"), and a genuine "
               "smile more than a polite, put-on one.", ("004", "003"), "ordered effect (face to face)",
               "face_to_face",
               (Test("smile[polite]", {"smile_polite": 1.0}, +1, definition="polite vs no smile (total effect)"),
                Test("smile[genuine]", {"smile_genuine": 1.0}, +1, definition="genuine vs no smile (total effect)"),
                Test("smile[genuine] - smile[polite]", {"smile_genuine": 1.0, "smile_polite": -1.0}, +1,
                     definition="genuine minus polite"))),
    Hypothesis("H4", "Resolving the issue is not enough on its own: the right solution without attention to "
               "the customer's feelings can leave them dissatisfied, so empathy strengthens the effect of "
               "resolution.", ("000", "003"), "resolution x empathy", "all",
               (_coef("resolved", +1, "effect of resolution when no empathy was shown"),
                _coef("resolved:empathy", +1, "extra effect of resolution when empathy was shown"))),
    Hypothesis("H5", "Waiting lowers satisfaction, and a nod to the waiting customer (\"I see you\") softens "
               "the penalty.", ("000", "003"), "wait x acknowledgement", "all",
               (_coef("wait_min", -1, "per minute of waiting, wait not acknowledged"),
                _coef("wait_min:acknowledged_wait", +1, "change of the per-minute penalty when acknowledged"))),
    Hypothesis("H6", "When something has gone wrong, apologise rather than explain: explaining only raises "
               "more anger.", ("002",), "apology vs explanation (failures only)", "failures",
               (Test("apology - explanation", {"apology": 1.0, "explanation": -1.0}, +1,
                     definition="effect of an apology minus effect of an explanation, service failures only"),)),
    Hypothesis("H7", "Using a phone while serving, robotic scripted phrases and pushy upselling lower "
               "satisfaction.", ("004",), "main effects", "all",
               (_coef("phone_use", -1), _coef("scripted", -1), _coef("upselling", -1))),
    Hypothesis("H8", "Good service \"in stock\" buffers a failure: returning customers with a good history "
               "take errors more lightly.", ("001",), "failure x returning customer", "all",
               (_coef("service_failure:returning_customer", +1,
                      "how much less a failure hurts a returning customer"),)),
    Hypothesis("H9", "Negative experiences weigh more than positive ones: when something goes wrong, the "
               "rest of the work is left in its shadow.", ("000",), "asymmetry of effects", "all",
               (Test("abs(service_failure) - resolved", {"service_failure": -1.0, "resolved": -1.0}, +1,
                     definition="(-b_failure) - b_resolved: drop after a failure minus gain from resolution, "
                                "at the reference levels (first-time customer, no empathy)"),)),
    Hypothesis("H10", "Same service, different experience: employees differ beyond the coded behaviours.",
               ("003",), "employee variance (latent ICC, LR test)", "all",
               (Test("icc_employee", {}, +1, kind="icc",
                     definition="sigma2_employee / (sigma2_employee + pi^2/3) on the latent logistic scale; "
                                "employees are nested in service points, so the employee intercept carries "
                                "the service-point variance too"),)),
    Hypothesis("H11", "A smile works through the customer feeling valued and seen.", ("001", "003"),
               "mediation smile -> felt_valued -> satisfaction (face to face)", "face_to_face",
               (Test("indirect: smile[genuine]", {}, +1, kind="indirect",
                     definition="a * b: a = OLS effect of a genuine (vs no) smile on felt_valued (points); "
                                "b = logit per felt_valued point in the ordinal mixed model with smile"),)),
    Hypothesis("H12", "Sending the customer to another business when you cannot help them still pays off.",
               ("002",), "main effect where applicable (unresolved issues)", "all",
               (_coef("referral", +1, "referral vs none among unresolved issues"),)),
)


def registry() -> pd.DataFrame:
    """The hypotheses as a tidy table: one row per tested term.

    Returns
    -------
    pandas.DataFrame
        ``hypothesis, claim, sources, test, subset, term, expected, definition``.
    """
    rows = []
    for h in HYPOTHESES:
        for t in h.tests:
            rows.append({"hypothesis": h.id, "claim": h.claim,
                         "sources": ", ".join(SOURCES[s] for s in h.sources), "test": h.test,
                         "subset": h.subset, "term": t.term, "expected": "> 0" if t.expected > 0 else "< 0",
                         "definition": t.definition})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# Analysis frame
# ----------------------------------------------------------------------------------------------
def _not_applicable(data: pd.DataFrame, name: str) -> pd.Series:
    """Structural not-applicable mask: the cleaner's ``<name>_status`` or the codebook rules."""
    status = f"{name}_status"
    if status in data.columns:
        return data[status].astype("string").eq("not_applicable").fillna(False).astype(bool)
    false = pd.Series(False, index=data.index)
    if name in ("eye_contact", "smile") and "channel" in data.columns:
        return data["channel"].astype("string").eq("phone").fillna(False).astype(bool)
    if name in ("apology", "explanation") and "service_failure" in data.columns:
        return data["service_failure"].astype("boolean").eq(False).fillna(False).astype(bool)
    if name == "acknowledged_wait" and "wait_min" in data.columns:
        return (pd.to_numeric(data["wait_min"], errors="coerce") < 2).fillna(False).astype(bool)
    if name == "referral" and "resolved" in data.columns:
        return data["resolved"].astype("boolean").eq(True).fillna(False).astype(bool)
    return false


def _binary(data: pd.DataFrame, name: str) -> pd.Series:
    s = data[name]
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(s.dtype):
        raise TypeError(f"`data` column '{name}' must be boolean (True/False/NA); got {s.dtype}.")
    out = pd.to_numeric(s.astype("boolean") if not pd.api.types.is_float_dtype(s.dtype) else s,
                        errors="coerce").astype(float)
    bad = out.dropna()[~out.dropna().isin([0.0, 1.0])]
    if len(bad):
        raise ValueError(f"`data` column '{name}' must hold only yes/no values; found {bad.iloc[0]!r}.")
    return out


#: Frame columns derived from a differently named data column (for "which variable is missing").
_SOURCE_COLUMN = {"smile_polite": "smile", "smile_genuine": "smile", "channel_phone": "channel"}


def analysis_frame(data: pd.DataFrame, *, groups: str | None = "employee") -> pd.DataFrame:
    """Numeric model frame: 0/1 behaviours with not-applicable = 0 and missing = NaN.

    Parameters
    ----------
    data : pandas.DataFrame
        ``encounters.parquet`` of the processed study (or a researcher's frame with the same
        columns). Needs ``sat_overall`` and at least one coded behaviour of :data:`BEHAVIOURS`;
        every other variable (the other behaviours, ``smile``, ``channel``, ``wait_min``,
        ``service_failure``, ``returning_customer``, ``felt_valued``, ``<b>_status``) is used
        when present — a study's codebook decides which exist.
    groups : str or None
        Grouping column carried over (e.g. ``"employee"``); it must be a column of ``data``
        (see :func:`usable_groups` to fall back to None when it is not).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`MAIN_TERMS` (main effects) that ``data`` can provide,
        ``sat_overall`` (Int64), ``felt_valued`` (when present), ``face_to_face`` (bool; all True
        without a ``channel`` column: a study that records no channel is taken as one channel),
        ``failure`` (bool, with ``service_failure``) and ``groups``, indexed like ``data``.
    """
    check_dataframe("data", data, columns=["sat_overall"])
    present = [b for b in BEHAVIOURS if b in data.columns]
    if not present:
        raise ValueError(f"`data` needs at least one coded behaviour column ({', '.join(BEHAVIOURS)}); "
                         f"it has none (columns: {', '.join(map(repr, data.columns))}).")
    if groups is not None:
        check_type("groups", groups, str, what="a column name or None")
        if groups not in data.columns:
            raise ValueError(f"`groups` must name a column of `data`; got {groups!r}, which is not one "
                             f"of {', '.join(map(repr, data.columns))}.")
    out = pd.DataFrame(index=data.index)
    for name in BINARY_BEHAVIOURS:
        if name in data.columns:
            values = _binary(data, name)
            out[name] = values.mask(_not_applicable(data, name), 0.0)
    if "smile" in data.columns:
        smile = data["smile"].astype("string").str.strip().str.lower()
        unknown = sorted(set(smile.dropna()) - set(SMILE_LEVELS))
        if unknown:
            raise ValueError(f"`data` column 'smile' must be one of {SMILE_LEVELS}; found {unknown[0]!r}.")
        smile = smile.mask(_not_applicable(data, "smile") & smile.isna(), "none")
        out["smile_polite"] = smile.map({"none": 0.0, "polite": 1.0, "genuine": 0.0}).astype(float)
        out["smile_genuine"] = smile.map({"none": 0.0, "polite": 0.0, "genuine": 1.0}).astype(float)
    if "channel" in data.columns:
        channel = data["channel"].astype("string").str.strip().str.lower()
        bad = sorted(set(channel.dropna()) - {"face_to_face", "phone"})
        if bad:
            raise ValueError(f"`data` column 'channel' must be 'face_to_face' or 'phone'; found {bad[0]!r}.")
        out["channel_phone"] = channel.map({"face_to_face": 0.0, "phone": 1.0}).astype(float)
        out["face_to_face"] = channel.eq("face_to_face").fillna(False).astype(bool)
    else:
        out["face_to_face"] = True
    if "wait_min" in data.columns:
        out["wait_min"] = pd.to_numeric(data["wait_min"], errors="coerce").astype(float)
    if "service_failure" in data.columns:
        out["service_failure"] = _binary(data, "service_failure")
        out["failure"] = out["service_failure"].eq(1.0)
    if "returning_customer" in data.columns:
        out["returning_customer"] = _binary(data, "returning_customer")
    out["sat_overall"] = pd.to_numeric(data["sat_overall"], errors="coerce").astype("Int64")
    if "felt_valued" in data.columns:
        out["felt_valued"] = pd.to_numeric(data["felt_valued"], errors="coerce").astype(float)
    if groups is not None:
        out[groups] = data[groups].astype("string")
    return out


def usable_groups(data: pd.DataFrame, groups: str | None = "employee") -> tuple[str | None, str]:
    """The grouping column to use for a random intercept, or None with the reason why not.

    Parameters
    ----------
    data : pandas.DataFrame
        Processed encounters.
    groups : str or None
        Wanted grouping column (e.g. ``"employee"``).

    Returns
    -------
    (str or None, str)
        ``(groups, "")`` when the column exists and has at least two groups among the rated
        encounters; otherwise ``(None, reason)`` — e.g. a study without an operations log has no
        ``employee`` column, so its models are fitted without a random intercept.
    """
    check_dataframe("data", data)
    if groups is None:
        return None, "no grouping column was requested (groups=None)"
    check_type("groups", groups, str, what="a column name or None")
    if groups not in data.columns:
        return None, f"column '{groups}' is not in the data, so no random intercept was fitted"
    rated = data[groups]
    if "sat_overall" in data.columns:
        rated = rated[pd.to_numeric(data["sat_overall"], errors="coerce").notna()]
    k = rated.dropna().nunique()
    if k < 2:
        return None, (f"'{groups}' has {k} distinct value{'s' if k != 1 else ''} among the rated "
                      f"encounters, so no random intercept was fitted")
    return groups, ""


def _subset(frame: pd.DataFrame, subset: str) -> pd.DataFrame:
    if subset == "face_to_face":
        return frame.loc[frame["face_to_face"]]
    if subset == "failures":
        return frame.loc[frame["failure"]]
    return frame


def _model_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Rows a model of ``frame`` uses and the term columns it can use.

    A column with no value among the rated encounters is left out before the complete-case
    selection (otherwise it would empty the model); every other missing code drops its encounter.
    """
    rated = frame.loc[frame["sat_overall"].notna()] if "sat_overall" in frame.columns else frame
    usable = [c for c in _columns_of(MAIN_TERMS) if c in frame.columns and rated[c].notna().any()]
    return frame.dropna(subset=[*usable, "sat_overall"]), usable


def model_formula(frame: pd.DataFrame, *, extra: Sequence[str] = ()) -> str:
    """Main-model formula with the terms that exist and vary in ``frame``.

    Terms whose column is absent, empty among the rated encounters or constant in the rows used
    are dropped (an interaction also when its product is constant); with no term left the
    formula is ``sat_overall ~ 1`` (thresholds only).
    """
    complete, usable = _model_rows(frame)
    kept = []
    for term in MAIN_TERMS:
        if not all(c in usable for c in term.split(":")):
            continue
        parts = [complete[c].to_numpy(dtype=float) for c in term.split(":")]
        # an interaction with a constant component would duplicate a main effect
        if len(complete) and all(np.ptp(v) > 0 for v in parts) and np.ptp(np.prod(parts, axis=0)) > 0:
            kept.append(term)
    terms = [*kept, *extra]
    return "sat_overall ~ " + (" + ".join(terms) if terms else "1")


def model_problem(frame: pd.DataFrame, *, extra: Sequence[str] = (), where: str = "",
                  require_terms: bool = True) -> str:
    """Why the main model cannot be fitted on ``frame``; ``""`` when it can.

    Parameters
    ----------
    frame : pandas.DataFrame
        An :func:`analysis_frame` (or a subset of one).
    extra : list of str
        Further model columns (rows missing them are not used).
    where : str
        Text naming the subset in the message (e.g. ``" among face-to-face encounters"``).
    require_terms : bool
        Also report a model with no term that varies (thresholds only).

    Returns
    -------
    str
        One clause for a sentence ("only 4 rated encounters with complete codes; a model needs
        at least 30"), or ``""``. Checks, in order: fewer than :data:`MIN_RATED` complete rated
        encounters, a satisfaction rating with a single value, no varying term.
    """
    check_dataframe("frame", frame, columns=["sat_overall"])
    complete = _model_rows(frame)[0].dropna(subset=list(extra))
    n = len(complete)
    if n < MIN_RATED:
        return f"only {n} rated encounters with complete codes{where}; a model needs at least {MIN_RATED}"
    if complete["sat_overall"].nunique() < 2:
        return f"overall satisfaction takes a single value in the {n} rows used{where}"
    if require_terms and model_formula(frame, extra=extra).endswith("~ 1"):
        return f"no coded behaviour or context variable varies in the {n} rows used{where}"
    return ""


def _why_not(frame: pd.DataFrame, data_columns, term: str, subset: str) -> str:
    """Which variable makes ``term`` untestable in ``frame`` (one readable clause)."""
    complete, usable = _model_rows(frame)
    where = "" if subset == "all" else f" ({subset.replace('_', '-')} encounters)"
    rated = int(frame["sat_overall"].notna().sum())
    for c in term.split(":"):
        source = _SOURCE_COLUMN.get(c, c)
        named = f"'{c}' (from '{source}')" if source != c else f"'{c}'"
        if source not in data_columns or c not in frame.columns:
            return f"{named} is not in the data" if source == c else f"'{source}' is not in the data"
        if c not in usable:
            return f"{named} has no value among the {rated} rated encounters{where}"
        values = complete[c].to_numpy(dtype=float)
        if len(values) and np.ptp(values) == 0:
            return f"{named} is constant ({values[0]:g}) in the {len(values)} rows used{where}"
    return (f"{' x '.join(term.split(':'))} does not vary (or repeats a main effect) in the "
            f"{len(complete)} rows used{where}")


def _columns_of(terms) -> list[str]:
    cols = []
    for t in terms:
        for c in t.split(":"):
            if c not in cols:
                cols.append(c)
    return cols


def load_ground_truth(ground_truth) -> dict | None:
    """Read ``ground_truth.json`` (path) or accept its parsed dict; None stays None."""
    if ground_truth is None:
        return None
    if isinstance(ground_truth, (str, Path)):
        path = Path(ground_truth)
        if not path.is_file():
            raise FileNotFoundError(f"ground truth file not found: {path}")
        ground_truth = json.loads(path.read_text(encoding="utf-8"))
    check_type("ground_truth", ground_truth, Mapping, what="a dict (parsed ground_truth.json) or a path")
    if "effects" not in ground_truth:
        raise ValueError("`ground_truth` must have an 'effects' list (the simulator's ground_truth.json).")
    return dict(ground_truth)


#: Model terms of :data:`MAIN_TERMS` whose true value is stored under another name in the
#: simulator's ground truth: the smile dummies are the TOTAL effects vs no smile (the main model has
#: no felt_valued), the channel effect is a latent-model parameter without a hypothesis.
_TRUTH_ALIASES = {"smile_polite": ("effects", "smile[polite]"),
                  "smile_genuine": ("effects", "smile[genuine]"),
                  "channel_phone": ("beta", "channel[phone]")}


def true_values(ground_truth) -> dict[str, float]:
    """True values of the simulated study, keyed by hypothesis term AND main-model term.

    Parameters
    ----------
    ground_truth : dict, path or None
        The simulator's ``ground_truth.json`` (parsed or its path); None gives ``{}``.

    Returns
    -------
    dict str -> float
        Every ``effects[].term`` of the ground truth (``"smile[genuine] - smile[polite]"``,
        ``"icc_employee"``, ...), plus the names the fitted main model uses for terms stored
        under another name (``smile_polite``, ``smile_genuine``, ``channel_phone``), so that
        ``true_values(gt).get(term)`` works for the rows of ``model.params`` and of
        :func:`run_hypotheses` alike.

    Notes
    -----
    ``icc_employee`` is our H10 estimand, not the simulator's conditional one: an employee
    intercept nested in service points carries both variances, so it is
    (var_employee + var_service_point) / (that + pi^2/3). Tested against the simulator's
    parameters (tests/test_hypotheses.py).
    """
    gt = load_ground_truth(ground_truth)
    if gt is None:
        return {}
    truth = {str(e["term"]): float(e["true_value"]) for e in gt["effects"] if "term" in e}
    beta = gt.get("parameters", {}).get("latent", {}).get("beta", {})
    for term, (where, name) in _TRUTH_ALIASES.items():
        value = truth.get(name) if where == "effects" else beta.get(name)
        if value is not None and term not in truth:
            truth[term] = float(value)
    if {"var_employee", "var_service_point"} <= truth.keys():
        v = truth["var_employee"] + truth["var_service_point"]
        truth["icc_employee"] = v / (v + math.pi**2 / 3)
    return truth


def results_note(table: pd.DataFrame, *, groups: str | None = "employee", link: str = "logit",
                 alpha: float = ALPHA) -> str:
    """Table note for :func:`run_hypotheses` results: model, intervals, Holm family, verdict rule.

    Pass the same ``link`` and ``alpha`` as to :func:`run_hypotheses`, and the grouping column it
    actually used (``usable_groups(data, groups)[0]``: None when the study has no such column).
    """
    check_dataframe("table", table)
    check_option("link", link, LINKS)
    check_number("alpha", alpha, low=1e-6, high=0.5)
    untested = int(table["verdict"].eq("not testable").sum()) if "verdict" in table.columns else 0
    rule = VERDICT_RULE
    if not untested:
        family = f"over the {len(table)} rows"
    else:
        rule = VERDICT_RULE.replace("family of all rows", "family of the tested rows") + " " + NOT_TESTABLE_RULE
        tested = len(table) - untested
        family = f"over the {tested} tested rows" if tested else "not applied (no row could be tested)"
    return (
        f"Estimates on the latent {link} scale of a cumulative-{link} model of overall satisfaction "
        f"(1-5){' with a random intercept per ' + groups if groups else ''}; "
        f"{int(round((1 - alpha) * 100))}% Wald intervals (H10: Wald on the log-SD scale; H11: Monte "
        f"Carlo). p_holm: Holm correction {family}. {rule}"
    )


# ----------------------------------------------------------------------------------------------
# The test of all hypotheses
# ----------------------------------------------------------------------------------------------
_EMPTY = {"estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan,
          "p_value": np.nan, "n": np.nan}


def run_hypotheses(data: pd.DataFrame, *, ground_truth=None, groups: str | None = "employee",
                   link: str = "logit", nagq: int = 1, alpha: float = ALPHA,
                   hypotheses: Sequence[str] | None = None, n_draws: int = 100_000,
                   seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Test the practice claims H1–H12 and return one tidy table with Holm-adjusted verdicts.

    Parameters
    ----------
    data : pandas.DataFrame
        Processed encounters (``encounters.parquet``); rows without a satisfaction rating or with a
        missing behaviour code are left out of the models that need them. Needs ``sat_overall``
        and at least one behaviour; claims whose variables are absent are ``not testable``.
    ground_truth : dict or path, optional
        The simulated study's ``ground_truth.json``: adds ``true_value`` and ``ci_covers_truth``.
    groups : str or None
        Random-intercept column (default ``"employee"``); None — or a column that ``data`` does
        not have, or with fewer than two groups — fits fixed-effects models and makes H10
        ``not testable`` (see :func:`usable_groups`).
    link : {"logit", "probit"}
    nagq : int
        Quadrature nodes of the ordinal mixed model (1 = Laplace).
    alpha : float
        Family-wise error rate of the Holm procedure (and 1 - confidence of the intervals).
    hypotheses : list of str, optional
        Subset of ids (default all of :data:`HYPOTHESES`); the Holm family is the rows tested.
    n_draws : int
        Monte Carlo draws for the interval of the indirect effect (H11).
    seed : int
        Seed of those draws (results are deterministic).

    Returns
    -------
    pandas.DataFrame
        One row per tested term: ``hypothesis, claim, term, expected, estimate, std_error,
        ci_low, ci_high, p_value, p_holm, verdict, n, subset, definition, reason`` (+
        ``true_value, ci_covers_truth`` with ground truth). ``verdict`` is one of
        :data:`VERDICTS`; ``reason`` is empty for tested rows and says which variable is
        missing, empty or constant for ``not testable`` ones (their estimates and p values are
        NaN and they are not in the Holm family). The table note (model, intervals, verdict
        rule) comes from :func:`results_note`; ``attrs["note"]``, ``attrs["groups"]`` (the
        grouping column used) and ``attrs["models"]`` (the fitted models) are a convenience
        only: pandas operations may drop them.

    Notes
    -----
    Estimates are on the latent logit scale of the ordinal model (except H10, a proportion of
    latent variance). Coefficients and contrasts are Wald tests from ``.params``/``.vcov``
    (:func:`svcresearch.effects.contrast`). H10's p value is the likelihood-ratio test of the
    employee variance against the model without it, with the boundary-corrected 50:50 mixture
    (:func:`svcresearch.effects.lr_test_variance_component`); its interval maps the Wald interval
    of the log-SD (:func:`svcresearch.effects.icc_interval`). H11's indirect effect a·b has a Monte Carlo interval
    (Preacher & Selig 2012; a and b treated as independent, as they come from separate models)
    and a Sobel (delta-method) p value. A model with fewer than :data:`MIN_RATED` complete rated
    encounters, or whose fit raises ValueError (e.g. a constant outcome), is not fitted and its
    claims are ``not testable`` with the reason. Validated on simulated studies with known truth
    (tests/test_hypotheses.py): deterministic verdicts, the truly-null H12 not supported, large
    effects supported, intervals covering most true values; on partial studies (no second coder,
    no operations log, reduced codebook: tests/test_partial_study.py) the claims without their
    variables are ``not testable`` with the variable named.
    """
    from svcresearch.models import fit_ordinal

    check_dataframe("data", data)
    check_option("link", link, LINKS)
    check_number("nagq", nagq, low=1, high=100, integer=True)
    check_number("alpha", alpha, low=1e-6, high=0.5)
    check_number("n_draws", n_draws, low=1000, integer=True)
    check_number("seed", seed, integer=True)
    known = [h.id for h in HYPOTHESES]
    if hypotheses is None:
        selected = list(HYPOTHESES)
    else:
        if isinstance(hypotheses, str):
            hypotheses = [hypotheses]
        for h in hypotheses:
            check_option("hypotheses", h, known)
        selected = [h for h in HYPOTHESES if h.id in set(hypotheses)]
    gt = load_ground_truth(ground_truth)
    truth = true_values(gt)
    confidence = 1.0 - alpha

    used_groups, no_groups_reason = usable_groups(data, groups)
    frame = analysis_frame(data, groups=used_groups)
    models: dict[str, object] = {}
    failures: dict[str, str] = {}

    def subset_rows(subset):
        """(rows of the subset, reason it cannot be formed or '')."""
        if subset == "failures" and "failure" not in frame.columns:
            return None, "'service_failure' is not in the data, so the failures subset cannot be formed"
        sub = _subset(frame, subset)
        if subset != "all" and not len(sub):
            return None, ("'service_failure' is never yes, so there is no failure to test this on"
                          if subset == "failures" else "no face-to-face encounter in the data ('channel')")
        return sub, ""

    def fit(key, subset, extra=(), with_groups=True):
        """(fitted model or None, reason it was not fitted)."""
        if key not in models and key not in failures:
            sub, why = subset_rows(subset)
            if sub is not None and extra:
                missing = [c for c in extra if c not in sub.columns]
                empty = [c for c in extra if c in sub.columns and not sub.loc[sub["sat_overall"].notna(), c].notna().any()]
                if missing:
                    why = f"'{missing[0]}' is not in the data"
                elif empty:
                    why = f"'{empty[0]}' has no value among the rated encounters"
                else:
                    sub = sub.dropna(subset=list(extra))
            if not why:
                formula = model_formula(sub, extra=extra)
                where = "" if subset == "all" else f" among {subset.replace('_', '-')} encounters"
                # a thresholds-only model still fits; its absent terms are named per row below
                why = model_problem(sub, extra=extra, where=where, require_terms=False)
                if not why:
                    try:
                        models[key] = fit_ordinal(sub, formula, groups=used_groups if with_groups else None,
                                                  link=link, nagq=nagq, confidence=confidence)
                    except ValueError as exc:  # e.g. a constant outcome in the rows used
                        why = f"the model could not be fitted{where}: {exc}"
            if why:
                failures[key] = why
        return models.get(key), failures.get(key, "")

    def absent(columns):
        """Reason when a variable of the claim is not a column of ``data`` at all, else ''."""
        for c in columns:
            source = _SOURCE_COLUMN.get(c, c)
            if source not in data.columns:
                return f"'{source}' is not in the data"
        return ""

    def missing_term(res, sub_key, subset, weights):
        """Reason when a weighted term is not in the fitted model (absent/constant), else ''."""
        fitted = set(res.params["term"])
        for term in weights:
            if term not in fitted:
                sub, _ = subset_rows(subset)
                if sub_key.startswith("mediator"):
                    sub = sub.dropna(subset=["felt_valued"])
                return _why_not(sub, data.columns, term, subset)
        return ""

    rows = []
    for h in selected:
        for t in h.tests:
            row = {"hypothesis": h.id, "claim": h.claim, "term": t.term,
                   "expected": "> 0" if t.expected > 0 else "< 0"}
            reason = ""
            if t.kind == "coefficient":
                reason = absent(_columns_of(t.weights))
                if not reason:
                    res, reason = fit(f"main:{h.subset}", h.subset)
                    reason = reason or missing_term(res, "main", h.subset, t.weights)
                if not reason:
                    c = contrast(res, dict(t.weights), label=t.term, confidence=confidence).iloc[0]
                    row |= {"estimate": c["estimate"], "std_error": c["std_error"], "ci_low": c["ci_low"],
                            "ci_high": c["ci_high"], "p_value": c["p_value"], "n": res.nobs}
            elif t.kind == "icc":
                reason = no_groups_reason
                if not reason:
                    full, reason = fit(f"main:{h.subset}", h.subset)
                if not reason:
                    reduced, reason = fit(f"fixed:{h.subset}", h.subset, with_groups=False)
                if not reason:
                    lr = lr_test_variance_component(full, reduced).iloc[0]
                    interval = icc_interval(full, link=link, confidence=confidence).iloc[0]
                    row |= interval.to_dict() | {"p_value": lr["p_value"], "n": full.nobs}
            else:  # indirect effect of a genuine smile through felt_valued
                reason = absent(["smile_genuine", "felt_valued"])
                if not reason:
                    res_b, reason = fit(f"mediator:{h.subset}", h.subset, extra=("felt_valued",))
                    reason = reason or missing_term(res_b, "mediator", h.subset, {"smile_genuine": 1.0})
                if not reason:
                    est_b, vcov_b = res_b.params.set_index("term")["estimate"], res_b.vcov
                    b = float(est_b["felt_valued"])
                    se_b = math.sqrt(float(vcov_b.loc["felt_valued", "felt_valued"]))
                    sub = _subset(frame, h.subset).dropna(subset=["felt_valued", "smile_polite", "smile_genuine"])
                    # a polite smile is a covariate only when it occurs (else X would be singular)
                    covariates = [sub["smile_polite"]] if np.ptp(sub["smile_polite"].to_numpy(float)) > 0 else []
                    X = np.column_stack([np.ones(len(sub)), *covariates, sub["smile_genuine"]])
                    yv = sub["felt_valued"].to_numpy(float)
                    xtx_inv = np.linalg.inv(X.T @ X)
                    coef = xtx_inv @ X.T @ yv
                    resid = yv - X @ coef
                    se_a = math.sqrt(xtx_inv[-1, -1] * (resid @ resid) / (len(yv) - X.shape[1]))
                    a = float(coef[-1])
                    rng = np.random.default_rng(seed)
                    draws = rng.normal(a, se_a, n_draws) * rng.normal(b, se_b, n_draws)
                    se_ab = math.sqrt(a**2 * se_b**2 + b**2 * se_a**2)
                    row |= {"estimate": a * b, "std_error": se_ab,
                            "ci_low": float(np.quantile(draws, alpha / 2)),
                            "ci_high": float(np.quantile(draws, 1 - alpha / 2)),
                            "p_value": float(2 * stats.norm.sf(abs(a * b) / se_ab)), "n": res_b.nobs}
            if reason:
                row |= _EMPTY
            row |= {"subset": h.subset, "definition": t.definition, "reason": reason}
            if gt is not None:
                row["true_value"] = truth.get(t.term, np.nan)
            rows.append(row)

    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    sign = np.sign(table["estimate"].to_numpy(dtype=float))
    expected = np.where(table["expected"] == "> 0", 1.0, -1.0)
    significant = table["p_holm"].to_numpy(dtype=float) < alpha
    untestable = table["reason"].ne("").to_numpy()
    table["verdict"] = np.where(untestable, "not testable",
                                np.where(significant & (sign == expected), "supported",
                                         np.where(significant & (sign == -expected), "opposite direction",
                                                  "not supported")))
    table["n"] = table["n"].astype("Int64")
    columns = ["hypothesis", "claim", "term", "expected", "estimate", "std_error", "ci_low", "ci_high",
               "p_value", "p_holm", "verdict", "n", "subset", "definition", "reason"]
    if gt is not None:
        tv = table["true_value"].to_numpy(dtype=float)
        covered = (table["ci_low"].to_numpy(dtype=float) <= tv) & (tv <= table["ci_high"].to_numpy(dtype=float))
        known_ci = ~np.isnan(tv) & ~table["ci_low"].isna().to_numpy()
        table["ci_covers_truth"] = pd.array(np.where(known_ci, covered, False), dtype="boolean")
        table.loc[~known_ci, "ci_covers_truth"] = pd.NA
        columns += ["true_value", "ci_covers_truth"]
    table = table[columns]
    table.attrs["note"] = results_note(table, groups=used_groups, link=link, alpha=alpha)
    table.attrs["groups"] = used_groups
    table.attrs["models"] = models
    return table
