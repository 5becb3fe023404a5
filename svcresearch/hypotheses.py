"""A study's hypotheses file (its pre-registration) and one function that tests every claim in it.

The claims live in the study folder, not here: ``study.yaml`` names a ``hypotheses.yaml``
(DESIGN.md §5) that :func:`load_hypotheses` reads and checks against the study's codebook, and
:func:`run_hypotheses` fits each distinct model once, computes every estimate, corrects the p
values for the whole family with Holm's method and returns ONE tidy table with a verdict per row.
Nothing in this module knows any study's variables: models are built by
:mod:`svcresearch.modelframe` from the codebook (coding, not-applicable, complete cases per model).

File format
-----------
.. code-block:: yaml

    model:
      outcome: recommend           # ordinal -> cumulative logit (mixed), binary -> logistic,
                                   # continuous/count -> linear (mixed)
      groups: employee             # optional random intercept
      terms: [uses_name, humour, solved, solved:warmth, desk]
    hypotheses:
      - id: P1                     # unique; the results table's first column
        claim: Using the customer's name raises the likelihood to recommend.
        source: Pilot preregistration, April 2026
        term: uses_name            # exactly one of: term | contrast | interaction | icc | mediation
        expected: positive         # positive | negative | nonzero
      - id: P2
        contrast: "solved[yes] - solved[partly]"
        expected: positive
      - id: P3
        interaction: [solved, warmth]
        expected: positive
      - id: P4
        term: nod_count            # not in model.terms: added to the model for this claim
        where: {variable: channel, op: "==", value: desk}
        expected: positive
      - id: P5
        icc: employee
        expected: positive
      - id: P6
        mediation: {x: humour, mediator: felt_heard}
        expected: positive

Extensions beyond DESIGN §5 (the default study needs them):

* ``tests:`` — a claim with several rows: a list of entries, each with its own test (``term`` |
  ``contrast`` | ``interaction`` | ``icc`` | ``mediation``), ``expected`` and optional ``label``
  and ``definition``; the claim's ``claim``, ``source`` and ``where`` apply to every row.
* ``label:`` — the text of the results' ``term`` column (default: the test written out).
* ``definition:`` — what the row estimates, in words (the ``definition`` column).
* Contrasts with coefficients: ``"-mistake - solved"``, ``"2*a - b"``, or a mapping
  ``{a: 1, b: -1}``. Terms are variables, ``variable[level]`` for a level of a categorical
  variable (compared with its first level) and ``a:b`` interactions.
* Interaction terms in ``model.terms`` (``solved:warmth``).
* ``mediation: {x: "tone[warm]", ...}`` — a level of a categorical ``x``.

Estimands: coefficients and contrasts are Wald tests on the outcome model's scale (log odds for
ordinal and binary outcomes); an ``icc`` claim is the latent-scale ICC of the group's random
intercept with a boundary-corrected likelihood-ratio p value; a ``mediation`` claim is a·b from
:func:`svcresearch.mediation.model_mediation` — on the outcome model's scale (log odds for an
ordinal outcome), the one definition notebook 05 uses too.

A claim whose variables are absent, empty or constant in the rows used, or whose model has too
few rows or cannot be estimated, is kept in the table with verdict ``not testable`` and a
``reason``; such rows stay out of the Holm family.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from svcresearch import modelframe as mfm
from svcresearch._validation import InputError, check_dataframe, check_number, check_option, check_type
from svcresearch.config import DEFAULT_SEED
from svcresearch.effects import icc, icc_interval, lr_test_variance_component
from svcresearch.models.ordinal import LINKS
from svcresearch.multiplicity import holm

KINDS = ("term", "contrast", "interaction", "icc", "mediation")
#: ``correction:`` of a hypotheses file: "misclassification" makes the MC-SIMEX corrected estimates
#: (:mod:`svcresearch.simex`) the primary columns when ``run_hypotheses`` gets ``coding_long``.
CORRECTIONS = ("none", "misclassification")
CORRECTED = ["estimate", "std_error", "ci_low", "ci_high", "p_value"]
EXPECTED = {"positive": "> 0", "negative": "< 0", "nonzero": "!= 0"}
VERDICTS = ("supported", "not supported", "opposite direction", "not testable")
ALPHA = 0.05
MIN_RATED = mfm.MIN_RATED
COLUMNS = ["hypothesis", "claim", "term", "expected", "estimate", "std_error", "ci_low", "ci_high", "p_value",
           "p_holm", "verdict", "n", "subset", "definition", "reason", "source", "kind", "scale"]

VERDICT_RULE = (
    "Verdict: 'supported' when the Holm-adjusted p value (family of all rows) is below .05 and the "
    "estimate has the expected sign (either sign for 'nonzero'); 'opposite direction' when p_holm < .05 "
    "with the other sign; otherwise 'not supported' (no evidence either way at this sample size, not "
    "evidence of no effect)."
)
NOT_TESTABLE_RULE = (
    "'Not testable': a variable the claim needs is absent, empty or constant in the rows used, too "
    "few rated encounters, or the model could not be estimated (reason column); such rows have no "
    "estimate and are not in the Holm family."
)

_TERM = r"[A-Za-z_][\w.]*(?:\[[^\]]+\])?(?::[A-Za-z_][\w.]*(?:\[[^\]]+\])?)*"
_CONTRAST_PART = re.compile(r"\s*([+-])?\s*(?:(\d+(?:\.\d*)?|\.\d+)\s*\*?\s*)?(" + _TERM + r")\s*")


@dataclass(frozen=True)
class ModelSpec:
    """``model:`` of a hypotheses file: the outcome, optional groups and the terms."""

    outcome: str
    groups: str | None = None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Test:
    """One row of the results table: what is estimated and the expected direction."""

    kind: str                              # term | contrast | interaction | icc | mediation
    label: str
    expected: str                          # positive | negative | nonzero
    weights: Mapping[str, float] = field(default_factory=dict)   # term / contrast / interaction
    group: str | None = None               # icc
    x: str | None = None                   # mediation
    mediator: str | None = None
    definition: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim of the hypotheses file: id, text, source, optional ``where`` and its rows."""

    id: str
    claim: str
    source: str
    where: Mapping | None
    tests: tuple[Test, ...]


@dataclass(frozen=True)
class Hypotheses:
    """A parsed hypotheses file."""

    model: ModelSpec
    claims: tuple[Claim, ...]
    path: Path | None = None
    correction: str = "none"               # "misclassification": corrected estimates are primary

    def registry(self) -> pd.DataFrame:
        """The claims as a tidy table, one row per test: ``hypothesis, claim, source, kind, term,
        expected, subset, definition``."""
        rows = [{"hypothesis": c.id, "claim": c.claim, "source": c.source, "kind": t.kind, "term": t.label,
                 "expected": EXPECTED[t.expected], "subset": mfm.describe_where(c.where),
                 "definition": t.definition} for c in self.claims for t in c.tests]
        return pd.DataFrame(rows, columns=["hypothesis", "claim", "source", "kind", "term", "expected", "subset",
                                           "definition"])

    def _repr_html_(self) -> str:
        return self.registry().to_html(index=False)


# ----------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------
def _variable_of(term: str) -> str:
    return term.split("[", 1)[0].strip()


def parse_contrast(spec: Any) -> dict[str, float]:
    """``"a[x] - b"`` / ``"-a - b"`` / ``"2*a - b"`` / ``{a: 1, b: -1}`` -> ``{term: weight}``."""
    if isinstance(spec, Mapping):
        out = {}
        for k, v in spec.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"weight of {k!r} must be a number; got {v!r}")
            out[str(k)] = float(v)
        return out
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"expected a string like \"a[level] - b\" or a mapping of weights; got {spec!r}")
    text, pos, out = spec.strip(), 0, {}
    first = True
    while pos < len(text):
        m = _CONTRAST_PART.match(text, pos)
        if not m or m.end() == pos or (not first and m.group(1) is None):
            raise ValueError(f"could not read {spec!r} at {text[pos:]!r}; write terms joined by + and -, "
                             f"e.g. \"tone[warm] - tone[flat]\"")
        sign = -1.0 if m.group(1) == "-" else 1.0
        coef = float(m.group(2)) if m.group(2) else 1.0
        out[m.group(3)] = out.get(m.group(3), 0.0) + sign * coef
        pos, first = m.end(), False
    return out


def _check_term(term: str, codebook, err, what: str) -> None:
    for part in mfm.split_term(term):
        name = _variable_of(part)
        var = mfm.find_variable(codebook, name)
        if var is None:
            err(f"{what} {term!r}: {name!r} is not a variable of the codebook")
        if "[" in part:
            level = part.split("[", 1)[1].rstrip("]")
            if var.value_set is None or level not in var.value_set.levels:
                levels = var.value_set.levels if var.value_set is not None else ()
                err(f"{what} {term!r}: {level!r} is not a level of {name!r} (levels: {', '.join(levels) or 'none'})")


def _parse_test(entry: Mapping, *, codebook, err, where_claim: str) -> Test:
    present = [k for k in KINDS if k in entry]
    if len(present) != 1:
        err(f"{where_claim} needs exactly one of {', '.join(KINDS)}"
            + (f"; it has {', '.join(present)}" if present else ""))
    kind = present[0]
    expected = entry.get("expected")
    if expected not in EXPECTED:
        err(f"{where_claim}: 'expected' must be one of {', '.join(EXPECTED)}; got {expected!r}")
    label = entry.get("label")
    definition = entry.get("definition", "")
    if label is not None and not isinstance(label, str):
        err(f"{where_claim}: 'label' must be text; got {label!r}")
    if not isinstance(definition, str):
        err(f"{where_claim}: 'definition' must be text; got {definition!r}")
    spec = entry[kind]
    if kind == "term":
        if not isinstance(spec, str) or not spec.strip():
            err(f"{where_claim}: 'term' must be a variable name (or variable[level], a:b); got {spec!r}")
        _check_term(spec.strip(), codebook, err, f"{where_claim}: term")
        return Test(kind, label or spec.strip(), expected, {spec.strip(): 1.0}, definition=definition)
    if kind == "contrast":
        try:
            weights = parse_contrast(spec)
        except ValueError as exc:
            err(f"{where_claim}: contrast {exc}")
        for t in weights:
            _check_term(t, codebook, err, f"{where_claim}: contrast term")
        text = spec if isinstance(spec, str) else " ".join(f"{w:+g}*{t}" for t, w in weights.items())
        return Test(kind, label or text, expected, weights, definition=definition)
    if kind == "interaction":
        if (not isinstance(spec, (list, tuple)) or len(spec) < 2
                or not all(isinstance(s, str) and s.strip() for s in spec)):
            err(f"{where_claim}: 'interaction' must be a list of two or more variable names; got {spec!r}")
        term = ":".join(s.strip() for s in spec)
        _check_term(term, codebook, err, f"{where_claim}: interaction")
        return Test(kind, label or term, expected, {term: 1.0}, definition=definition)
    if kind == "icc":
        if not isinstance(spec, str) or not spec.strip():
            err(f"{where_claim}: 'icc' must name the grouping column; got {spec!r}")
        return Test(kind, label or f"icc_{spec.strip()}", expected, group=spec.strip(), definition=definition)
    # mediation
    if not isinstance(spec, Mapping) or set(spec) != {"x", "mediator"}:
        err(f"{where_claim}: 'mediation' must be {{x: VARIABLE, mediator: VARIABLE}}; got {spec!r}")
    for key in ("x", "mediator"):
        if not isinstance(spec[key], str):
            err(f"{where_claim}: mediation {key} must be a variable name; got {spec[key]!r}")
        _check_term(spec[key], codebook, err, f"{where_claim}: mediation {key}")
    x = spec["x"].strip()
    return Test(kind, label or f"indirect: {x}", expected, x=x, mediator=spec["mediator"].strip(),
                definition=definition)


def _parse_where(where: Any, *, codebook, err, where_claim: str) -> Mapping | None:
    from svcresearch.codebook import OPS

    if where is None:
        return None
    if not isinstance(where, Mapping) or set(where) != {"variable", "op", "value"}:
        err(f"{where_claim}: 'where' must be {{variable, op, value}} (as a codebook applicable_if entry); "
            f"got {where!r}")
    if mfm.find_variable(codebook, str(where["variable"])) is None:
        err(f"{where_claim}: where variable {where['variable']!r} is not a variable of the codebook")
    if where["op"] not in OPS:
        err(f"{where_claim}: where op must be one of {', '.join(OPS)}; got {where['op']!r}")
    return dict(where)


def hypotheses_from_dict(raw: Any, *, codebook, path: Path | None = None) -> Hypotheses:
    """Validate a parsed hypotheses mapping (see :func:`load_hypotheses`)."""
    where_file = path if path is not None else "<hypotheses>"

    def err(message: str):
        raise InputError(message + ".", file=where_file)

    if not isinstance(raw, Mapping):
        err("expected a mapping with 'model' and 'hypotheses'")
    unknown = set(raw) - {"model", "hypotheses", "format_version", "name", "description", "correction"}
    if unknown:
        err(f"unknown top-level key(s) {', '.join(sorted(map(str, unknown)))}; expected 'model' and 'hypotheses'")
    model = raw.get("model")
    if not isinstance(model, Mapping) or "outcome" not in model:
        err("'model' must be a mapping with 'outcome' (and optional 'groups', 'terms')")
    extra = set(model) - {"outcome", "groups", "terms"}
    if extra:
        err(f"model: unknown key(s) {', '.join(sorted(map(str, extra)))}; expected outcome, groups, terms")
    outcome = model["outcome"]
    out_var = mfm.find_variable(codebook, str(outcome)) if isinstance(outcome, str) else None
    if out_var is None:
        err(f"model: outcome {outcome!r} is not a variable of the codebook")
    if out_var.type not in mfm.FAMILIES:
        err(f"model: outcome {outcome!r} is {out_var.type}; expected an ordinal, binary, continuous or count variable")
    groups = model.get("groups")
    if groups is not None and not isinstance(groups, str):
        err(f"model: groups must be a column name; got {groups!r}")
    terms = model.get("terms", []) or []
    if isinstance(terms, str) or not isinstance(terms, (list, tuple)):
        err(f"model: terms must be a list of variable names; got {terms!r}")
    for t in terms:
        if not isinstance(t, str):
            err(f"model: terms entry {t!r} must be a variable name or a:b")
        _check_term(t, codebook, err, "model: terms entry")
    spec = ModelSpec(outcome=out_var.out_name, groups=groups, terms=tuple(terms))
    items = raw.get("hypotheses")
    if not isinstance(items, list) or not items:
        err("'hypotheses' must be a non-empty list of claims")
    claims, seen = [], set()
    for i, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            err(f"hypotheses entry {i} must be a mapping with id, claim and a test; got {item!r}")
        cid = item.get("id")
        if not isinstance(cid, str) or not cid.strip():
            err(f"hypotheses entry {i}: 'id' must be a non-empty text")
        if cid in seen:
            err(f"hypotheses entry {i}: id {cid!r} is used twice")
        seen.add(cid)
        name = f"hypothesis {cid}"
        allowed = {"id", "claim", "source", "where", "tests", "label", "definition", "expected", *KINDS}
        bad = set(item) - allowed
        if bad:
            err(f"{name}: unknown key(s) {', '.join(sorted(map(str, bad)))}")
        for key in ("claim", "source"):
            if not isinstance(item.get(key, ""), str):
                err(f"{name}: '{key}' must be text")
        where = _parse_where(item.get("where"), codebook=codebook, err=err, where_claim=name)
        if "tests" in item:
            if any(k in item for k in KINDS):
                err(f"{name}: give either 'tests' or one of {', '.join(KINDS)}, not both")
            if not isinstance(item["tests"], list) or not item["tests"]:
                err(f"{name}: 'tests' must be a non-empty list")
            tests = []
            for j, entry in enumerate(item["tests"], start=1):
                if not isinstance(entry, Mapping):
                    err(f"{name}, test {j}: expected a mapping with a test and 'expected'")
                tests.append(_parse_test(entry, codebook=codebook, err=err, where_claim=f"{name}, test {j}"))
        else:
            tests = [_parse_test(item, codebook=codebook, err=err, where_claim=name)]
        labels = [t.label for t in tests]
        if len(set(labels)) != len(labels):
            err(f"{name}: two tests have the same label; give each a distinct 'label'")
        claims.append(Claim(id=cid.strip(), claim=item.get("claim", ""), source=item.get("source", ""),
                            where=where, tests=tuple(tests)))
    correction = raw.get("correction", "none") or "none"
    if correction not in CORRECTIONS:
        err(f"correction must be one of {', '.join(CORRECTIONS)}; got {correction!r}")
    return Hypotheses(model=spec, claims=tuple(claims), path=path, correction=correction)


def load_hypotheses(path: str | Path, *, codebook) -> Hypotheses:
    """Read and check a study's ``hypotheses.yaml`` against its codebook.

    Parameters
    ----------
    path : str or Path
        The hypotheses file (``study.yaml``'s ``hypotheses:``; ``StudySpec.hypotheses_path``).
    codebook : svcresearch.codebook.Codebook
        The study's codebook: every variable named in the file must be one of its variables.

    Returns
    -------
    Hypotheses

    Raises
    ------
    InputError
        One line naming the file, the entry (``hypothesis H3, test 2``) and what was expected:
        missing file, not YAML, unknown keys, not exactly one test per entry, an ``expected``
        other than positive/negative/nonzero, an unknown variable or level, a malformed
        contrast or ``where``, duplicate ids.

    Notes
    -----
    Each rule has a test in tests/test_hypotheses.py.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("hypotheses file not found; expected a YAML file (see docs/own_data.md).", file=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise InputError(f"not a valid UTF-8 YAML file ({first}).", file=path) from None
    return hypotheses_from_dict(raw, codebook=codebook, path=path)


def model_from_codebook(codebook) -> ModelSpec:
    """A model for a study without a hypotheses file: its first outcome on all its coded behaviours.

    The outcome is the first codebook variable with role ``outcome`` and a modelable type
    (ordinal, binary, continuous, count); the terms are the coded behaviours
    (``Codebook.behaviours``: role ``behaviour``, not derived from BORIS); no groups.

    Raises
    ------
    ValueError
        When the codebook has no such outcome or no coded behaviour.
    """
    outcomes = [v for v in codebook.variables.values() if v.role == "outcome" and v.type in mfm.FAMILIES]
    behaviours = [v.out_name for v in codebook.behaviours if v.type != "datetime"]
    if not outcomes:
        raise ValueError("the codebook has no outcome variable (role: outcome) of type ordinal, binary, "
                         "continuous or count.")
    if not behaviours:
        raise ValueError("the codebook has no coded behaviour (role: behaviour).")
    return ModelSpec(outcome=outcomes[0].out_name, groups=None, terms=tuple(behaviours))


# ----------------------------------------------------------------------------------------------
# Ground truth
# ----------------------------------------------------------------------------------------------
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
    return dict(ground_truth)


def true_value(ground_truth: Mapping | None, claim: str, label: str, *, key: str = "hypotheses") -> float:
    """True value of a results row: ``ground_truth[key][claim][label]`` (NaN when absent).

    ``key="hypotheses"`` is the target the table compares against (for the default simulator the
    pseudo-true value with true codes); ``"hypotheses_pseudo_true_coded"`` the limit with coded
    behaviours.
    """
    if not ground_truth:
        return float("nan")
    value = ground_truth.get(key, {}).get(claim, {}).get(label)
    return float(value) if value is not None else float("nan")


def truth_note(ground_truth: Mapping, *, corrected: bool = False) -> str:
    """One or two sentences saying what ``true_value`` (and ``true_value_coded``) are.

    Parameters
    ----------
    ground_truth : dict
        A simulated study's parsed ``ground_truth.json``.
    corrected : bool
        The table's primary columns are the misclassification-corrected estimates (they aim at
        ``true_value``; the ``*_naive`` columns converge to ``true_value_coded``).

    Returns
    -------
    str
    """
    if "hypotheses_pseudo_true_coded" in ground_truth:
        aim = ("the naive (*_naive) columns converge to; the corrected estimates aim at the true value"
               if corrected else "what this table's estimates converge to")
        return ("True value: the pseudo-true value, what this model converges to on a very large simulated "
                "study with the true behaviours (it differs slightly from the generative parameter; see "
                "targets_note in ground_truth.json). Limit with coded behaviours (true_value_coded): the same "
                f"with one coder's fallible codes, i.e. {aim}.")
    if "hypotheses_generative" in ground_truth:
        return "True value: the simulator's generative parameter (no pseudo-true values were computed)."
    return "True value: from the study's ground_truth.json."


def true_model_terms(ground_truth: Mapping | None) -> dict[str, float]:
    """True coefficients of the main model by readable term (``ground_truth["model_terms"]``), or {}."""
    if not ground_truth:
        return {}
    return {str(k): float(v) for k, v in ground_truth.get("model_terms", {}).items()}


# ----------------------------------------------------------------------------------------------
# Testing
# ----------------------------------------------------------------------------------------------
def results_note(table: pd.DataFrame, *, family: str = "ordinal", outcome_label: str = "the outcome",
                 groups: str | None = None, link: str = "logit", alpha: float = ALPHA) -> str:
    """Table note for :func:`run_hypotheses` results: model, intervals, Holm family, verdict rule."""
    check_dataframe("table", table)
    check_option("link", link, LINKS)
    check_number("alpha", alpha, low=1e-6, high=0.5)
    untested = int(table["verdict"].eq("not testable").sum()) if "verdict" in table.columns else 0
    rule = VERDICT_RULE
    if not untested:
        family_text = f"over the {len(table)} rows"
    else:
        rule = VERDICT_RULE.replace("family of all rows", "family of the tested rows") + " " + NOT_TESTABLE_RULE
        tested = len(table) - untested
        family_text = f"over the {tested} tested rows" if tested else "not applied (no row could be tested)"
    model = {"ordinal": f"latent {link} scale of a cumulative-{link} model",
             "binary": "log-odds scale of a logistic model",
             "continuous": "outcome scale of a linear model"}[family]
    grouped = ""
    if groups:
        grouped = (f" with standard errors clustered by {groups}" if family == "binary"
                   else f" with a random intercept per {groups}")
    kinds = set(table["kind"]) if "kind" in table.columns else set()
    extra = []
    if "icc" in kinds:
        extra.append("ICC rows: proportion of latent variance, likelihood-ratio test of the variance, "
                     "Wald interval on the log-SD scale")
    if "mediation" in kinds:
        extra.append("indirect effects: a (OLS, mediator points) times b (outcome model), Monte Carlo "
                     "interval, Sobel p")
    return (f"Estimates on the {model} of {outcome_label}{grouped}; {int(round((1 - alpha) * 100))}% Wald "
            f"intervals{' (' + '; '.join(extra) + ')' if extra else ''}. p_holm: Holm correction "
            f"{family_text}. {rule}")


_EMPTY = {"estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
          "n": np.nan}


def _claim_terms(model_terms: Sequence[str], weights: Mapping[str, float]) -> list[str]:
    """The model's terms plus any variable/interaction of ``weights`` the model does not have."""
    terms = list(model_terms)
    have_vars = {p for t in terms if ":" not in t for p in [t]}
    for term in weights:
        parts = [_variable_of(p) for p in mfm.split_term(term)]
        if len(parts) == 1:
            if parts[0] not in have_vars:
                terms.append(parts[0])
                have_vars.add(parts[0])
        else:
            for p in parts:
                if p not in have_vars:
                    terms.append(p)
                    have_vars.add(p)
            joined = ":".join(parts)
            if joined not in terms:
                terms.append(joined)
    return terms


def _missing_reason(frame: mfm.ModelFrame, term: str) -> str:
    """Why readable ``term`` is not a column of the fitted model."""
    if term in frame.dropped_terms:
        return frame.dropped_terms[term]
    parts = mfm.split_term(term)
    for p in parts:
        for key in (p, _variable_of(p)):
            if key in frame.dropped_terms:
                return frame.dropped_terms[key]
    joined = ":".join(_variable_of(p) for p in parts)
    if joined in frame.dropped_terms:
        return frame.dropped_terms[joined]
    return f"'{term}' is not a column of the model{frame.where_text()}"


def run_hypotheses(data: pd.DataFrame, *, hypotheses: Hypotheses | str | Path, codebook, ground_truth=None,
                   link: str = "logit", nagq: int = 1, alpha: float = ALPHA, claims: Sequence[str] | None = None,
                   n_draws: int = 100_000, seed: int = DEFAULT_SEED, coding_long: pd.DataFrame | None = None,
                   n_sim: int = 50) -> pd.DataFrame:
    """Test every claim of a hypotheses file and return one tidy table with Holm-adjusted verdicts.

    Parameters
    ----------
    data : pandas.DataFrame
        Processed encounters (``encounters.parquet``).
    hypotheses : Hypotheses or path
        The study's hypotheses (:func:`load_hypotheses`) or the path of its file.
    codebook : svcresearch.codebook.Codebook
        The study's codebook.
    ground_truth : dict or path, optional
        A simulated study's ``ground_truth.json``: adds ``true_value`` (its ``hypotheses`` entry,
        by claim id and row label), ``ci_covers_truth`` and, when the ground truth has
        ``hypotheses_pseudo_true_coded``, ``true_value_coded`` (the limit with coded behaviours);
        the note says what they are (:func:`truth_note`).
    link : {"logit", "probit"}
        Link of an ordinal outcome.
    nagq : int
        Quadrature nodes of the ordinal mixed model (1 = Laplace).
    alpha : float
        Family-wise error rate of the Holm procedure (and 1 - confidence of the intervals).
    claims : list of str, optional
        Subset of claim ids (default all); the Holm family is the rows tested.
    n_draws : int
        Monte Carlo draws for the interval of indirect effects.
    seed : int
        Seed of those draws (results are deterministic).
    coding_long : DataFrame, optional
        Every coder judgement (``coding_long.parquet``). With it, term, contrast and interaction
        rows gain misclassification-corrected columns (MC-SIMEX, :mod:`svcresearch.simex`):
        ``estimate_corrected, std_error_corrected, ci_low_corrected, ci_high_corrected,
        p_value_corrected``. When the hypotheses file says ``correction: misclassification``
        the corrected values are the primary columns (and verdicts) and the extra columns hold
        the naive ones (``*_naive``).
    n_sim : int
        Simulations per lambda of the correction.

    Returns
    -------
    pandas.DataFrame
        One row per test: ``hypothesis, claim, term, expected, estimate, std_error, ci_low,
        ci_high, p_value, p_holm, verdict, n, subset, definition, reason, source, kind, scale``
        (+ ``true_value, ci_covers_truth[, true_value_coded]`` with ground truth). ``verdict`` is
        one of :data:`VERDICTS`; ``reason`` is empty for tested rows. ``attrs["note"]`` (from
        :func:`results_note`), ``attrs["models"]`` (fitted :class:`~svcresearch.modelframe.ModelFit`
        per model; with ``coding_long`` also ``attrs["simex"]``) and ``attrs["groups"]`` are a
        convenience only; the fits are :class:`~svcresearch.modelframe.Attached`, shared (not
        copied) by tables derived from this one.

    Notes
    -----
    Each distinct model (terms, ``where``) is fitted once. Coefficients and contrasts are Wald
    tests from ``.params``/``.vcov`` (:func:`svcresearch.effects.contrast`); ICC rows use the
    boundary-corrected LR test (:func:`svcresearch.effects.lr_test_variance_component`) of the
    model with against without the group intercept on the same rows, with the interval of
    :func:`svcresearch.effects.icc_interval`; mediation rows come from
    :func:`svcresearch.mediation.model_mediation`. Validated on the simulated default study
    (tests/test_hypotheses.py): identical estimates to the hand-coded table this replaced, the
    truly-null claim not supported, large effects supported, intervals covering most true
    values; on partial studies (tests/test_partial_study.py) untestable claims name the variable.
    """
    from svcresearch.mediation import model_mediation

    check_dataframe("data", data)
    check_option("link", link, LINKS)
    check_number("nagq", nagq, low=1, high=100, integer=True)
    check_number("alpha", alpha, low=1e-6, high=0.5)
    check_number("n_draws", n_draws, low=1000, integer=True)
    check_number("seed", seed, integer=True)
    if isinstance(hypotheses, (str, Path)):
        hypotheses = load_hypotheses(hypotheses, codebook=codebook)
    check_type("hypotheses", hypotheses, Hypotheses, what="a Hypotheses (load_hypotheses) or a path")
    selected = list(hypotheses.claims)
    if claims is not None:
        if isinstance(claims, str):
            claims = [claims]
        known = [c.id for c in hypotheses.claims]
        for c in claims:
            check_option("claims", c, known)
        selected = [c for c in selected if c.id in set(claims)]
    gt = load_ground_truth(ground_truth)
    confidence = 1.0 - alpha
    spec = hypotheses.model
    fits: dict[str, mfm.ModelFit] = {}

    def fit(terms, where, *, with_groups=True, reml=True):
        key = json.dumps([list(terms), where, with_groups, reml], sort_keys=True, default=str)
        if key not in fits:
            frame = mfm.model_frame(data, codebook=codebook, outcome=spec.outcome, terms=terms,
                                    groups=spec.groups, where=where)
            fits[key] = frame.fit(link=link, nagq=nagq, confidence=confidence, groups=with_groups, reml=reml)
        return fits[key]

    simex_fits: dict[str, Any] = {}
    misclassification = None
    if coding_long is not None:
        import warnings as _warnings

        from svcresearch.misclassification import estimate_misclassification

        check_dataframe("coding_long", coding_long, columns=["encounter_id", "coder", "behaviour", "value"])
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            misclassification = estimate_misclassification(coding_long, codebook=codebook, seed=seed)

    def _corrected(terms, where, t) -> dict:
        from svcresearch.simex import mcsimex

        key = json.dumps([list(terms), where], sort_keys=True, default=str)
        if key not in simex_fits:
            try:
                simex_fits[key] = mcsimex(data, codebook=codebook, outcome=spec.outcome, terms=terms,
                                          groups=spec.groups, where=where, misclassification=misclassification,
                                          coding_long=coding_long, n_sim=n_sim, confidence=confidence, link=link,
                                          nagq=nagq, seed=seed)
            except ValueError:
                simex_fits[key] = None
        sim = simex_fits[key]
        if sim is None or any(w not in set(sim.params["term"]) for w in t.weights):
            return {}
        c = sim.contrast(t.weights, label=t.label, confidence=confidence).iloc[0]
        return {f"{k}_corrected": float(c[k]) for k in CORRECTED}

    main = fit(list(spec.terms), None)
    family = main.frame.family
    coef_scale = "b" if family == "continuous" else "log_odds"
    rows = []
    for claim in selected:
        for t in claim.tests:
            row = {"hypothesis": claim.id, "claim": claim.claim, "term": t.label, "expected": EXPECTED[t.expected]}
            reason, scale = "", coef_scale
            if t.kind in ("term", "contrast", "interaction"):
                mf = fit(_claim_terms(spec.terms, t.weights), claim.where)
                reason = mf.problem
                if not reason:
                    absent = [w for w in t.weights if w not in mf.frame.terms]
                    reason = _missing_reason(mf.frame, absent[0]) if absent else ""
                if not reason:
                    c = mf.contrast(t.weights, label=t.label, confidence=confidence).iloc[0]
                    row |= {k: c[k] for k in ("estimate", "std_error", "ci_low", "ci_high", "p_value")}
                    row["n"] = mf.result.nobs
                    if coding_long is not None:
                        row |= _corrected(_claim_terms(spec.terms, t.weights), claim.where, t)
            elif t.kind == "icc":
                scale = "icc"
                mf = fit(list(spec.terms), claim.where, reml=False) if family == "continuous" \
                    else fit(list(spec.terms), claim.where)
                if family == "binary":
                    reason = ("the logistic model has no random intercept (its groups give clustered standard "
                              "errors), so no ICC is estimated")
                elif spec.groups is None or t.group != spec.groups:
                    reason = (f"'{t.group}' is not the model's grouping column (model: groups is "
                              f"{spec.groups!r})")
                elif mf.frame.groups is None:
                    reason = mf.frame.groups_note or f"no '{t.group}' random intercept could be fitted"
                else:
                    reason = mf.problem
                if not reason:
                    reduced = fit(list(spec.terms), claim.where, with_groups=False,
                                  reml=False if family == "continuous" else True)
                    reason = reduced.problem
                if not reason:
                    lr = lr_test_variance_component(mf.result, reduced.result).iloc[0]
                    try:
                        interval = icc_interval(mf.result, link=link if family == "ordinal" else None,
                                                confidence=confidence).iloc[0].to_dict()
                    except (ValueError, TypeError):
                        interval = {"estimate": icc(mf.result), "std_error": np.nan, "ci_low": np.nan,
                                    "ci_high": np.nan}
                    row |= {k: interval.get(k, np.nan) for k in ("estimate", "std_error", "ci_low", "ci_high")}
                    row |= {"p_value": lr["p_value"], "n": mf.result.nobs}
            else:  # mediation
                scale = "indirect"
                med = model_mediation(data, codebook=codebook, outcome=spec.outcome, x=t.x, mediator=t.mediator,
                                      terms=spec.terms, groups=spec.groups, where=claim.where, link=link,
                                      nagq=nagq, confidence=confidence, n_draws=n_draws, seed=seed)
                if isinstance(med, mfm.Note):
                    reason = str(med).split(": ", 1)[-1].rstrip(".")
                else:
                    ind = med.set_index("path").loc["indirect"]
                    row |= {k: ind[k] for k in ("estimate", "std_error", "ci_low", "ci_high", "p_value")}
                    row["n"] = int(ind["n"])
            if reason:
                row |= _EMPTY
            row |= {"subset": mfm.describe_where(claim.where), "definition": t.definition, "reason": reason,
                    "source": claim.source, "kind": t.kind, "scale": scale}
            if gt is not None:
                row["true_value"] = true_value(gt, claim.id, t.label)
                row["true_value_coded"] = true_value(gt, claim.id, t.label, key="hypotheses_pseudo_true_coded")
            rows.append(row)

    extra = [f"{k}_corrected" for k in CORRECTED] if coding_long is not None else []
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_holm", "verdict")]
                         + (["true_value", "true_value_coded"] if gt is not None else []) + extra)
    for col in extra:
        table[col] = table[col].astype(float)
    if extra and hypotheses.correction == "misclassification":
        for k in CORRECTED:   # corrected values become the primary columns; naive kept beside them
            table[k], table[f"{k}_corrected"] = table[f"{k}_corrected"].to_numpy(), table[k].to_numpy()
        table = table.rename(columns={f"{k}_corrected": f"{k}_naive" for k in CORRECTED})
        extra = [f"{k}_naive" for k in CORRECTED]
    for col in ("estimate", "std_error", "ci_low", "ci_high", "p_value"):
        table[col] = table[col].astype(float)
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float)) if len(table) else []
    sign = np.sign(table["estimate"].to_numpy(dtype=float))
    expected = table["expected"].map({"> 0": 1.0, "< 0": -1.0, "!= 0": 0.0}).to_numpy(dtype=float)
    significant = table["p_holm"].to_numpy(dtype=float) < alpha
    untestable = table["reason"].ne("").to_numpy()
    right = np.where(expected == 0, sign != 0, sign == expected)
    table["verdict"] = np.where(untestable, "not testable",
                                np.where(significant & right, "supported",
                                         np.where(significant & ~right, "opposite direction", "not supported")))
    table["n"] = table["n"].astype("Int64")
    columns = list(COLUMNS)
    if gt is not None:
        tv = table["true_value"].to_numpy(dtype=float)
        covered = (table["ci_low"].to_numpy(dtype=float) <= tv) & (tv <= table["ci_high"].to_numpy(dtype=float))
        known_ci = ~np.isnan(tv) & ~table["ci_low"].isna().to_numpy()
        table["ci_covers_truth"] = pd.array(np.where(known_ci, covered, False), dtype="boolean")
        table.loc[~known_ci, "ci_covers_truth"] = pd.NA
        columns += ["true_value", "ci_covers_truth"]
        if "hypotheses_pseudo_true_coded" in gt:
            columns.append("true_value_coded")
    columns += extra
    table = table[columns]
    outcome_label = main.frame.labels.get(spec.outcome, spec.outcome)
    table.attrs["note"] = results_note(table, family=family, outcome_label=outcome_label,
                                       groups=main.frame.groups, link=link, alpha=alpha)
    if gt is not None:
        table.attrs["note"] += " " + truth_note(gt, corrected=bool(extra) and hypotheses.correction == "misclassification")
    table.attrs["groups"] = main.frame.groups
    table.attrs["models"] = mfm.Attached(fits)        # shared, not deep-copied, by derived tables
    if coding_long is not None:
        from svcresearch.simex import correction_note

        table.attrs["simex"] = mfm.Attached(simex_fits)
        table.attrs["correction"] = hypotheses.correction
        params = pd.concat([s.params for s in simex_fits.values() if s is not None], ignore_index=True) \
            if any(s is not None for s in simex_fits.values()) else None
        if params is not None:
            note_table = params.rename(columns={"estimate": "estimate_corrected"})
            table.attrs["correction_note"] = correction_note(
                note_table, misclassification=misclassification,
                settings=next(s.settings for s in simex_fits.values() if s is not None))
    return table
