"""Model frames: from processed encounters and the study's codebook to a fitted model that says what it used.

Every model in the notebooks and in :func:`svcresearch.hypotheses.run_hypotheses` is built here,
from the codebook alone — no variable of any particular study is named in this module:

* :func:`model_frame` turns ``encounters.parquet`` into a numeric frame for one outcome, a list of
  terms, an optional grouping column and an optional ``where`` condition (written like a codebook
  ``applicable_if`` entry: ``{variable, op, value}``). It returns a :class:`ModelFrame` that knows
  its formula, family, the rated rows, the rows used, **which variables cost the rest** (complete
  cases on this model's variables only), which terms it left out and why, and — when the model
  cannot be fitted — a one-sentence :attr:`ModelFrame.problem`.
* :meth:`ModelFrame.fit` picks the fitter from the outcome's codebook type and returns a
  :class:`ModelFit`; an estimation failure (separation, non-convergence, a singular design)
  becomes its ``problem`` sentence, never a traceback.

Coding of the terms (codebook ``type``)
---------------------------------------
* ``binary`` -> 0/1; *not applicable* (the cleaner's ``<name>_status``, or the codebook's
  ``applicable_if`` evaluated on the data when the status column is absent) -> 0, so with the
  applicability condition in the model the coefficient is the effect where the behaviour applies.
* ``ordinal`` whose levels are numbers (a Likert scale) -> those numbers (a slope per point);
  ``ordinal`` with named levels and ``nominal`` -> one 0/1 column per level after the first
  (the reference); *not applicable* -> the reference. Results name them ``variable[level]``.
* ``count`` / ``continuous`` -> float (*not applicable* -> 0).
* ``a:b`` -> the products of the columns of ``a`` and ``b`` (``tone[warm]:queue_min`` ...).

Internal column names are identifiers the formula parser accepts (``var__level``); results and
tables show the readable names (``var[level]``).

Which terms are left out (with the reason in :attr:`ModelFrame.dropped_terms`): a variable that is
not a column of the data, one with no value among the rated rows (before the complete-case
selection, so a variable the study never coded does not empty the model), and a column constant
in the rows used (an interaction also when its product is constant).

Fitters by outcome type: ``ordinal`` -> :func:`svcresearch.models.fit_ordinal` (cumulative link,
random intercept per group with ``groups``, R's ``clmm``); ``binary`` ->
:func:`svcresearch.models.fit_logistic` (cluster-robust standard errors by the grouping column);
``continuous``/``count`` -> :func:`svcresearch.models.fit_mixed` with groups, ordinary least
squares without (:func:`fit_ols`).
"""
from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from svcresearch._validation import check_confidence, check_dataframe, check_number, check_option, check_type
from svcresearch.models.ordinal import LINKS

#: Fewest rated rows (complete on the model's variables) for which a model is fitted. Thirty is a
#: floor, not a power analysis: with fewer ratings a cumulative-logit model with several terms
#: separates or barely moves from its start values, and its Wald intervals mean nothing.
MIN_RATED = 30
#: Outcome family by codebook type.
FAMILIES = {"ordinal": "ordinal", "binary": "binary", "continuous": "continuous", "count": "continuous"}
FAMILY_TEXT = {"ordinal": "cumulative-{link}", "binary": "logistic", "continuous": "linear"}


class Note(str):
    """One sentence that renders itself in a notebook (Markdown) and prints without quotes.

    Returned instead of a table or a figure when a step cannot run on the study.
    """

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


class Attached(dict):
    """Fitted objects attached to a results table's ``attrs``, shared rather than copied.

    pandas deep-copies ``DataFrame.attrs`` into every frame derived from a table (a row from
    ``itertuples``, a slice, a renamed copy). A results table carrying its fitted models -- each
    with its model frame's data -- would copy all of them on every such operation: harmless at
    2,400 encounters, gigabytes per row at a million. ``Attached`` is a dict whose deep copy is
    itself, so derived tables share the fits (which are never modified after fitting).
    """

    def __deepcopy__(self, memo):
        return self


# ----------------------------------------------------------------------------------------------
# Variables and terms
# ----------------------------------------------------------------------------------------------
def _ident(text: str) -> str:
    out = re.sub(r"[^0-9A-Za-z_]", "_", str(text))
    return out if out and not out[0].isdigit() else f"v_{out}"


def find_variable(codebook, name: str):
    """The codebook variable called ``name`` (variable name or output name), or None."""
    if name in codebook.variables:
        return codebook.variables[name]
    for var in codebook.variables.values():
        if var.out_name == name:
            return var
    return None


def _numeric_levels(var) -> dict[str, float] | None:
    """Numbers of an ordinal variable's levels when they are numbers (a Likert scale), else None."""
    vs = var.value_set
    if vs is None:
        return {}
    if vs.is_integer_scale:
        return {lv: float(lv) for lv in vs.levels}
    try:
        return {lv: float(lv) for lv in vs.levels}
    except ValueError:
        return None


def is_categorical(var) -> bool:
    """Whether a variable enters a model as dummies (nominal, or ordinal with named levels)."""
    if var.type == "nominal":
        return True
    return var.type == "ordinal" and var.value_set is not None and _numeric_levels(var) is None


def not_applicable(data: pd.DataFrame, var, codebook) -> pd.Series:
    """Structural not-applicable mask of a variable: ``<name>_status`` or its ``applicable_if``.

    A condition whose context column is absent or missing does not make the variable not
    applicable (its missing value then stays missing).
    """
    status = f"{var.out_name}_status"
    if status in data.columns:
        return data[status].astype("string").eq("not_applicable").fillna(False).astype(bool)
    out = pd.Series(False, index=data.index)
    for cond in var.applicable_if:
        ctx = find_variable(codebook, cond.variable)
        column = ctx.out_name if ctx is not None else cond.variable
        if column not in data.columns:
            continue
        out |= cond.evaluate(data[column]).eq(False).fillna(False).astype(bool)
    return out


def condition_mask(data: pd.DataFrame, where: Mapping | None, codebook) -> pd.Series:
    """Rows where ``where`` (``{variable, op, value}``) holds; missing values are outside it."""
    from svcresearch.codebook import Condition

    if where is None:
        return pd.Series(True, index=data.index)
    var = find_variable(codebook, where["variable"])
    column = var.out_name if var is not None else where["variable"]
    if column not in data.columns:
        raise KeyError(column)
    cond = Condition(variable=where["variable"], op=where["op"], value=where["value"])
    return cond.evaluate(data[column]).fillna(False).astype(bool)


def describe_where(where: Mapping | None, labels: Mapping[str, str] | None = None) -> str:
    """``{variable: channel, op: "==", value: face_to_face}`` -> ``"Channel == face_to_face"``."""
    if where is None:
        return "all"
    name = (labels or {}).get(where["variable"], where["variable"])
    value = where["value"]
    value = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return f"{name} {where['op']} {value}"


@dataclass
class _Coded:
    """A variable coded for the model: its numeric columns (display name -> values)."""

    name: str
    columns: dict[str, pd.Series]         # display term -> float values (NaN = missing)
    raw_missing: pd.Series                # True where the variable is missing (not n/a)


def _code_variable(data: pd.DataFrame, var, codebook) -> _Coded:
    col = data[var.out_name]
    na_mask = not_applicable(data, var, codebook)
    name = var.out_name
    if var.type == "binary":
        if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col.dtype) or col.dtype == object:
            levels = var.value_set.levels if var.value_set is not None else ("no", "yes")
            numbers = var.value_set.level_numbers() if var.value_set is not None else {levels[0]: 0.0, levels[1]: 1.0}
            values = col.astype("string").map(numbers).astype(float)
        elif pd.api.types.is_float_dtype(col.dtype):
            values = col.astype(float)
        else:
            values = pd.to_numeric(col.astype("boolean"), errors="coerce").astype(float)
        bad = values.dropna()[~values.dropna().isin([0.0, 1.0])]
        if len(bad):
            raise ValueError(f"`data` column '{name}' must hold only yes/no values; found {bad.iloc[0]!r}.")
        missing = values.isna() & ~na_mask
        return _Coded(name, {name: values.mask(na_mask, 0.0)}, missing)
    if var.type in ("ordinal", "nominal") and is_categorical(var):
        levels = list(var.value_set.levels) if var.value_set is not None else \
            sorted(col.dropna().astype("string").unique())
        text = col.astype("string")
        unknown = sorted(set(text.dropna()) - set(levels))
        if unknown:
            raise ValueError(f"`data` column '{name}' must be one of {tuple(levels)}; found {unknown[0]!r}.")
        missing = text.isna() & ~na_mask
        text = text.mask(na_mask & text.isna(), levels[0])
        columns = {}
        for level in levels[1:]:
            values = pd.Series(np.where(text.eq(level).fillna(False), 1.0, 0.0), index=data.index)
            columns[f"{name}[{level}]"] = values.mask(text.isna(), np.nan)
        return _Coded(name, columns, missing)
    if var.type == "ordinal":
        numbers = _numeric_levels(var) or {}
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            values = pd.to_numeric(col, errors="coerce").astype(float)
        else:
            values = col.astype("string").map(numbers).astype(float)
    elif var.type in ("count", "continuous"):
        values = pd.to_numeric(col, errors="coerce").astype(float)
    else:
        raise ValueError(f"variable '{name}' is of type {var.type!r}, which cannot be a model term "
                         f"(binary, ordinal, nominal, count or continuous).")
    missing = values.isna() & ~na_mask
    return _Coded(name, {name: values.mask(na_mask, 0.0)}, missing)


def split_term(term: str) -> list[str]:
    """``"a:b"`` -> ``["a", "b"]``; a variable -> ``[variable]``."""
    return [p.strip() for p in str(term).split(":")]


# ----------------------------------------------------------------------------------------------
# The frame
# ----------------------------------------------------------------------------------------------
@dataclass
class ModelFrame:
    """A numeric model frame with the bookkeeping of what it used and why.

    Attributes
    ----------
    outcome : str
        Outcome variable (output name).
    family : {"ordinal", "binary", "continuous"}
    terms : list of str
        Readable model terms kept (``"tone[warm]"``, ``"solved:warmth"``), in order.
    columns : dict
        Readable term -> internal column (or ``"a:b"`` of internal columns) in :attr:`data`.
    data : pandas.DataFrame
        The rows used (complete cases), internal columns, outcome and grouping column.
    groups : str or None
        Grouping column used (None when not requested or not usable; see :attr:`groups_note`).
    n_rated : int
        Rows with an outcome value (inside ``where``).
    n_used : int
        Rows in the model.
    dropped_by : dict
        Variable -> rated rows without a value of it (the rows the model lost; a row lacking two
        variables counts for both).
    dropped_terms : dict
        Requested term -> reason it was left out.
    problem : str
        One sentence why the model cannot be fitted; ``""`` when it can.
    """

    outcome: str
    family: str
    terms: list[str]
    columns: dict[str, str]
    data: pd.DataFrame
    groups: str | None
    n_rated: int
    n_used: int
    dropped_by: dict[str, int]
    dropped_terms: dict[str, str]
    problem: str = ""
    groups_note: str = ""
    where: Mapping | None = None
    requested: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    outcome_column: str = ""
    codebook: Any = field(default=None, repr=False)

    @property
    def formula(self) -> str:
        """Formula of internal column names (``_y ~ a + b + a:b``; ``~ 1`` without terms)."""
        rhs = " + ".join(self.columns[t] for t in self.terms) or "1"
        return f"{self.outcome_column} ~ {rhs}"

    def internal(self, term: str) -> str:
        """Internal column name of a readable term."""
        if term not in self.columns:
            raise KeyError(term)
        return self.columns[term]

    def readable(self, name: str) -> str:
        """Readable term of an internal column name (thresholds and others unchanged)."""
        back = {v: k for k, v in self.columns.items()}
        return back.get(name, name)

    def where_text(self) -> str:
        return "" if self.where is None else f" among encounters with {describe_where(self.where, self.labels)}"

    def describe(self) -> str:
        """One sentence: model, rows rated and used, what cost the dropped rows, left-out terms."""
        label = self.labels.get(self.outcome, self.outcome)
        kind = FAMILY_TEXT[self.family].format(link="logit")
        text = f"{kind.capitalize()} model of {label}{self.where_text()}"
        if self.groups:
            text += f" with a random intercept per {self.labels.get(self.groups, self.groups)}" \
                if self.family != "binary" else f" (standard errors clustered by {self.labels.get(self.groups, self.groups)})"
        text += f": {self.n_used:,} of {self.n_rated:,} rated rows used"
        lost = {k: v for k, v in self.dropped_by.items() if v}
        if lost:
            text += " (rows lacking " + ", ".join(f"{self.labels.get(k, k)} ({v:,})" for k, v in
                                                  sorted(lost.items(), key=lambda kv: -kv[1])) + ")"
        text += f"; {len(self.terms)} term{'s' if len(self.terms) != 1 else ''}."
        if self.dropped_terms:
            text += " Left out: " + "; ".join(f"{t}: {r}" for t, r in self.dropped_terms.items()) + "."
        if self.groups_note:
            text += f" No random intercept: {self.groups_note}."
        if self.problem:
            text += f" Not fitted: {self.problem}."
        return text

    def _repr_markdown_(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.describe()

    def fit(self, *, link: str = "logit", nagq: int = 1, confidence: float = 0.95,
            groups: bool = True, reml: bool = True) -> ModelFit:
        """Fit the model (family from the outcome's codebook type); failures become ``.problem``.

        Parameters
        ----------
        link : {"logit", "probit"}
            Link of an ordinal outcome.
        nagq : int
            Quadrature nodes of the ordinal mixed model (1 = Laplace).
        confidence : float
            Coverage of the Wald intervals.
        groups : bool
            Use the frame's grouping column (False fits the same rows without it, e.g. for a
            likelihood-ratio test of the group variance).
        reml : bool
            REML (True) or ML for a linear mixed model.

        Returns
        -------
        ModelFit
            Its ``result`` is None and ``problem`` a sentence when the model could not be fitted.
        """
        from svcresearch.models import fit_logistic, fit_mixed, fit_ordinal

        check_option("link", link, LINKS)
        check_confidence(confidence)
        if self.problem:
            return ModelFit(frame=self, result=None, problem=self.problem)
        grp = self.groups if groups else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if self.family == "ordinal":
                    result = fit_ordinal(self.data, self.formula, groups=grp, link=link, nagq=nagq,
                                         confidence=confidence)
                elif self.family == "binary":
                    result = fit_logistic(self.data, self.formula, cluster=grp, confidence=confidence)
                elif grp is not None:
                    result = fit_mixed(self.data, self.formula, groups=grp, reml=reml, confidence=confidence)
                else:
                    result = fit_ols(self.data, self.formula, confidence=confidence)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError, ZeroDivisionError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return ModelFit(frame=self, result=None,
                            problem=f"the model could not be estimated{self.where_text()} ({first.rstrip('.')})")
        if not result.converged:
            return ModelFit(frame=self, result=None,
                            problem=f"the model did not converge{self.where_text()} (too little information "
                                    f"in the {self.n_used} rows for {len(self.terms)} terms)")
        bad = result.params["std_error"].to_numpy(dtype=float)
        if not np.isfinite(bad).all():
            return ModelFit(frame=self, result=None,
                            problem=f"the model's standard errors are not finite{self.where_text()} "
                                    f"(a term separates the outcome in the {self.n_used} rows used)")
        return ModelFit(frame=self, result=result, problem="")


def model_frame(data: pd.DataFrame, *, codebook, outcome: str, terms: Sequence[str] = (),
                groups: str | None = None, where: Mapping | None = None, min_rows: int = MIN_RATED,
                language: str = "en") -> ModelFrame:
    """Build the numeric frame of one model from processed encounters and the codebook.

    Parameters
    ----------
    data : pandas.DataFrame
        Processed encounters (``encounters.parquet``): columns are codebook output names; coded
        behaviours may have ``<name>_status`` (observed / missing / not_applicable).
    codebook : svcresearch.codebook.Codebook
        The study's codebook (types, levels, applicability, labels).
    outcome : str
        Outcome variable: ordinal, binary, continuous or count.
    terms : list of str
        Variables and ``a:b`` interactions (codebook names or output names).
    groups : str, optional
        Grouping column for a random intercept (or clustered SEs for a binary outcome); left
        out with a note when absent or with fewer than two groups among the rated rows.
    where : dict, optional
        ``{variable, op, value}`` (as a codebook ``applicable_if`` entry): only rows where it holds.
    min_rows : int
        Fewest rows used for a fit (default :data:`MIN_RATED`).
    language : {"en", "fi"}
        Language of the labels in :meth:`ModelFrame.describe`.

    Returns
    -------
    ModelFrame

    Raises
    ------
    ValueError
        When ``outcome`` or a term names no codebook variable, or a term's variable is of a type
        that cannot enter a model (datetime).

    Notes
    -----
    Checked in tests/test_modelframe.py: coding per type, not-applicable as 0 / reference,
    complete cases on this model's variables only (a codebook variable the study never coded
    does not cost rows), the dropped-row accounting, and that the default study's main model
    gives the same estimates as the hand-built frame it replaces (tests/test_hypotheses.py).
    """
    from svcresearch.labels import labels_from_codebook

    check_dataframe("data", data)
    check_type("outcome", outcome, str)
    check_number("min_rows", min_rows, low=1, integer=True)
    if isinstance(terms, str):
        terms = [terms]
    labels = labels_from_codebook(codebook, language=language)
    out_var = find_variable(codebook, outcome)
    if out_var is None:
        raise ValueError(f"`outcome` {outcome!r} is not a variable of the codebook "
                         f"{getattr(codebook, 'path', None) or codebook.name}.")
    if out_var.type not in FAMILIES:
        raise ValueError(f"`outcome` {outcome!r} is of type {out_var.type!r}; a model outcome must be ordinal, "
                         f"binary, continuous or count.")
    family = FAMILIES[out_var.type]
    oname = out_var.out_name
    ycol = "y__" + _ident(oname)
    empty = ModelFrame(outcome=oname, family=family, terms=[], columns={}, data=pd.DataFrame(), groups=None,
                       n_rated=0, n_used=0, dropped_by={}, dropped_terms={}, where=where, requested=list(terms),
                       labels=labels, outcome_column=ycol, codebook=codebook)
    if oname not in data.columns:
        empty.problem = f"the outcome '{oname}' is not in the data"
        return empty
    try:
        inside = condition_mask(data, where, codebook)
    except KeyError as exc:
        empty.problem = f"'{exc.args[0]}' is not in the data, so the rows with {describe_where(where)} cannot be formed"
        return empty
    rows = data.loc[inside.to_numpy()]

    # outcome
    y = rows[oname]
    if family == "ordinal":
        numbers = _numeric_levels(out_var)
        if numbers is None:
            levels = list(out_var.value_set.levels)
            yv = pd.Categorical(y.astype("string"), categories=levels, ordered=True)
            yv = pd.Series(yv, index=rows.index)
        elif pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
            yv = pd.to_numeric(y, errors="coerce").astype("Int64")
        else:
            yv = y.astype("string").map(numbers).astype("Float64").astype("Int64")
    else:
        coded_y = _code_variable(rows, out_var, codebook)
        yv = next(iter(coded_y.columns.values()))
        yv = yv.mask(coded_y.raw_missing | not_applicable(rows, out_var, codebook), np.nan)
    rated = yv.notna().to_numpy()
    n_rated = int(rated.sum())
    if where is not None and not len(rows):
        empty.problem = f"no encounter has {describe_where(where, labels)}"
        return empty

    # terms -> variables
    dropped: dict[str, str] = {}
    variables: list[str] = []
    parsed: list[tuple[str, list]] = []
    for term in terms:
        parts = []
        for name in split_term(term):
            var = find_variable(codebook, name)
            if var is None:
                raise ValueError(f"`terms` entry {term!r}: {name!r} is not a variable of the codebook.")
            if var.type == "datetime" or var.role in ("id", "pii"):
                raise ValueError(f"`terms` entry {term!r}: {name!r} is a {var.type} {var.role} variable, "
                                 f"which cannot be a model term.")
            parts.append(var)
        parsed.append((term, parts))
    coded: dict[str, _Coded] = {}
    where_text = "" if where is None else f" among encounters with {describe_where(where, labels)}"
    for term, parts in parsed:
        why = ""
        for var in parts:
            if var.out_name not in data.columns:
                why = f"'{var.out_name}' is not in the data"
                break
            if var.out_name not in coded:
                coded[var.out_name] = _code_variable(rows, var, codebook)
            c = coded[var.out_name]
            has_value = any(v[rated].notna().any() for v in c.columns.values())
            if not has_value:
                why = f"'{var.out_name}' has no value among the {n_rated} rated encounters{where_text}"
                break
        if why:
            dropped[term] = why
            continue
        for var in parts:
            if var.out_name not in variables:
                variables.append(var.out_name)

    # grouping column
    groups_note = ""
    used_groups = None
    if groups is not None:
        check_type("groups", groups, str, what="a column name or None")
        gvar = find_variable(codebook, groups)
        gname = gvar.out_name if gvar is not None else groups
        if gname not in data.columns:
            groups_note = f"column '{gname}' is not in the data"
        else:
            k = rows.loc[rated, gname].dropna().nunique()
            if k < 2:
                groups_note = f"'{gname}' has {k} distinct value{'s' if k != 1 else ''} among the rated encounters"
            else:
                used_groups = gname

    # complete cases on this model's variables only
    missing = pd.DataFrame({v: pd.concat([s.isna() for s in coded[v].columns.values()], axis=1).any(axis=1)
                            for v in variables}, index=rows.index) if variables else pd.DataFrame(index=rows.index)
    if used_groups is not None:
        missing[used_groups] = rows[used_groups].isna()
    keep = rated & ~missing.any(axis=1).to_numpy() if len(missing.columns) else rated
    dropped_by = {c: int(missing.loc[rated, c].sum()) for c in missing.columns}
    frame = pd.DataFrame(index=rows.index[keep])
    frame[ycol] = yv[keep]
    columns: dict[str, str] = {}
    internal_of: dict[str, str] = {}
    for v in variables:
        for display, values in coded[v].columns.items():
            internal = _ident(display.replace("[", "__").replace("]", ""))
            while internal in internal_of.values() or internal == ycol:
                internal += "_"
            internal_of[display] = internal
            frame[internal] = values[keep].to_numpy(dtype=float)
    if used_groups is not None:
        frame[used_groups] = rows.loc[keep, used_groups].astype("string")
    n_used = len(frame)

    # expand terms into columns; drop constant ones
    kept: list[str] = []
    for term, parts in parsed:
        if term in dropped:
            continue
        expanded = [[d for d in coded[var.out_name].columns] for var in parts]
        combos = [[]]
        for options in expanded:
            combos = [c + [o] for c in combos for o in options]
        reasons = []
        for combo in combos:
            display = ":".join(combo)
            vals = [frame[internal_of[d]].to_numpy(dtype=float) for d in combo]
            if not n_used:
                reasons.append(f"{display}: no rows used")
                continue
            const = [d for d, v in zip(combo, vals) if np.ptp(v) == 0]
            if const:
                reasons.append(f"'{const[0]}' is constant ({vals[combo.index(const[0])][0]:g}) in the "
                               f"{n_used} rows used{where_text}")
                dropped.setdefault(display, reasons[-1])
                continue
            if len(combo) > 1 and np.ptp(np.prod(vals, axis=0)) == 0:
                reasons.append(f"{' x '.join(combo)} does not vary in the {n_used} rows used{where_text}")
                dropped.setdefault(display, reasons[-1])
                continue
            columns[display] = ":".join(internal_of[d] for d in combo)
            kept.append(display)
        if not any(":".join(c) in columns for c in combos) and reasons:
            dropped.setdefault(term, reasons[0])

    mf = ModelFrame(outcome=oname, family=family, terms=kept, columns=columns, data=frame, groups=used_groups,
                    n_rated=n_rated, n_used=n_used, dropped_by=dropped_by, dropped_terms=dropped,
                    groups_note=groups_note, where=where, requested=list(terms), labels=labels,
                    outcome_column=ycol, codebook=codebook)
    mf.problem = _problem(mf, min_rows=min_rows)
    return mf


def _problem(mf: ModelFrame, *, min_rows: int) -> str:
    where = mf.where_text()
    label = mf.labels.get(mf.outcome, mf.outcome)
    if mf.n_used < min_rows:
        lost = {k: v for k, v in mf.dropped_by.items() if v}
        cost = ""
        if lost:
            top = max(lost, key=lost.get)
            cost = f"; most were lost to missing '{top}' ({lost[top]:,} of {mf.n_rated:,} rated rows)"
        return (f"only {mf.n_used} rated encounters with complete values{where}; a model needs at least "
                f"{min_rows}{cost}")
    if mf.data[mf.outcome_column].nunique() < 2:
        return f"{label} takes a single value in the {mf.n_used} rows used{where}"
    if mf.family == "binary" and min(np.bincount(mf.data[mf.outcome_column].to_numpy(dtype=int), minlength=2)) < 5:
        return f"{label} has fewer than 5 rows in one of its two values{where}, too few for a logistic model"
    return ""


# ----------------------------------------------------------------------------------------------
# Fitted model
# ----------------------------------------------------------------------------------------------
@dataclass
class ModelFit:
    """A fitted model with its frame; ``problem`` says why there is no result."""

    frame: ModelFrame
    result: Any
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None

    def params(self) -> pd.DataFrame:
        """Tidy coefficients with readable terms (``term``) plus ``label``; empty without a fit."""
        if self.result is None:
            return pd.DataFrame(columns=["term", "estimate", "std_error", "statistic", "p_value", "ci_low",
                                         "ci_high", "label"])
        from svcresearch.labels import label_term

        out = self.result.params.copy()
        out["term"] = [self.frame.readable(t) for t in out["term"]]
        out["label"] = [label_term(t, self.frame.labels) for t in out["term"]]
        return out

    def coefficients(self) -> pd.DataFrame:
        """:meth:`params` without thresholds or the intercept."""
        p = self.params()
        return p.loc[p["term"].isin(self.frame.terms)].reset_index(drop=True)

    def contrast(self, weights: Mapping[str, float], *, label: str | None = None,
                 confidence: float = 0.95) -> pd.DataFrame:
        """Wald test of ``sum(w * b)`` over readable terms (:func:`svcresearch.effects.contrast`)."""
        from svcresearch.effects import contrast

        internal = {self.frame.internal(t): float(w) for t, w in weights.items()}
        return contrast(self.result, internal, label=label, confidence=confidence)

    def summary(self) -> str:
        """One sentence (:meth:`ModelFrame.describe`) or the reason it was not fitted."""
        text = self.frame.describe()
        if self.problem and not self.frame.problem:
            text += f" Not fitted: {self.problem}."
        return text

    def _repr_markdown_(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return self.summary()


def fit_ols(data: pd.DataFrame, formula: str, *, confidence: float = 0.95):
    """Ordinary least squares under the tidy result contract (linear model without groups).

    Returns
    -------
    svcresearch.models.ModelResult
        ``.params`` with t statistics and t-based p values and intervals, ``.loglik`` the ML
        log-likelihood (comparable with ``fit_mixed(reml=False)``).

    Notes
    -----
    Checked against ``statsmodels.OLS`` in tests/test_modelframe.py (estimates, SEs, loglik).
    """
    from svcresearch.models import ModelResult
    from svcresearch.models._formula import build_design, check_full_rank, standardize

    check_confidence(confidence)
    design = build_design(data, formula, intercept=True)
    X = design.X
    yv = design.y.to_numpy(dtype=float)
    Xv = X.to_numpy(dtype=float)
    n, k = Xv.shape
    if n <= k:
        raise ValueError(f"{n} rows are too few for {k} coefficients.")
    # least squares on centred, scaled (and, when collinear, decorrelated) columns, mapped back
    # exactly: epoch seconds or a predictor times 1e6 are then as well conditioned as any other
    terms = list(X.columns)
    icpt = terms.index("Intercept") if "Intercept" in terms else None
    scaling = standardize(Xv, centre=icpt is not None)
    Xd = scaling.apply(Xv)
    check_full_rank(X, standardized=Xd)
    scaling, Xs = scaling.whitened(Xd)
    T = scaling.jacobian(intercept=icpt)
    xtx_inv = T @ np.linalg.inv(Xs.T @ Xs) @ T.T
    beta = T @ np.linalg.solve(Xs.T @ Xs, Xs.T @ yv)
    resid = yv - Xv @ beta
    rss = float(resid @ resid)
    if rss <= 0:
        raise ValueError("the outcome is fitted exactly by the terms (no residual variance).")
    sigma2 = rss / (n - k)
    vcov = xtx_inv * sigma2
    se = np.sqrt(np.diag(vcov))
    t = beta / se
    q = stats.t.isf((1 - confidence) / 2, n - k)
    params = pd.DataFrame({"term": terms, "estimate": beta, "std_error": se, "statistic": t,
                           "p_value": 2 * stats.t.sf(np.abs(t), n - k), "ci_low": beta - q * se,
                           "ci_high": beta + q * se})
    loglik = -0.5 * n * (math.log(2 * math.pi * rss / n) + 1)
    result = ModelResult(params=params, vcov=pd.DataFrame(vcov, index=terms, columns=terms), loglik=loglik,
                         nobs=n, n_dropped=design.n_dropped, n_params=k + 1, converged=True, formula=formula,
                         link="identity", method="ols")
    result.kind = "ols"
    return result
