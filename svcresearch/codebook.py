"""The study codebook: one YAML file that says what every raw column means.

A researcher changes the codebook, not code. From the one file we derive

* the normaliser (:func:`normalise`): aliases, missing codes, Likert labels, identifier formats,
  Finnish/ISO date-times, decimal commas and valid ranges;
* the pandera validation schema of the analysis table (:meth:`Codebook.to_pandera`);
* the Frictionless Table Schema written into ``datapackage.json`` (:meth:`Codebook.table_schema`).

Why our own code: Frictionless and pandera each describe *clean* data, but neither maps the
variants field data actually contains (``kyllä``, ``K``, ``TRUE`` → yes; ``erittäin tyytyväinen``
→ 5; ``2.3.2026 10.15``) onto canonical values, nor distinguishes *missing* from *not
applicable*. Keeping the mapping, the rules and the schemas in one file keeps them consistent.

The file format (``format_version: 1``) is documented in
``svcresearch/simulate/resources/codebook.yaml`` and ``docs/own_data.md``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from svcresearch._validation import InputError, check_option, check_type
from svcresearch._yaml import load_yaml

__all__ = [
    "ROLES", "TYPES", "FILE_KINDS", "BORIS_MEASURES", "BorisSource", "Condition", "ValueSet", "Variable", "Codebook",
    "default_codebook_path", "load_codebook", "normalise_key", "normalise", "Normalised",
    "canonical_id", "parse_datetime", "parse_number",
]

ROLES = ("id", "behaviour", "context", "outcome", "pii")
TYPES = ("binary", "ordinal", "nominal", "count", "continuous", "datetime")
FILE_KINDS = ("operations", "coding", "boris", "survey")
OPS = ("==", "!=", "in", "not_in", ">=", ">", "<=", "<")
#: What a variable derived from BORIS events measures, per observation (DESIGN §5), and the
#: codebook types each measure can have.
BORIS_MEASURES = {
    "occurred": ("binary",),                     # any event of the behaviour
    "count": ("count",),                         # number of events (STATE: starts)
    "duration_s": ("continuous",),               # total STATE time
    "share": ("continuous",),                    # STATE time / observation duration
    "latency_s": ("continuous",),                # first onset from the observation start
    "modifier": ("ordinal", "nominal"),          # value-set level named by the modifier (highest)
}
_VARIABLE_KEYS = {
    "label_en", "label_fi", "role", "type", "sources", "source_columns", "value_set", "id_format",
    "range", "required", "applicable_if", "pseudonymise", "output_name", "allow_in_output",
    "description", "boris",
}
_TOP_KEYS = {"format_version", "name", "description", "missing_codes", "id_formats", "value_sets",
             "variables", "scales"}

# Date-time layouts met in Finnish and international field data, tried in this order. Finnish
# usage writes the time with a dot (14.05); spreadsheets re-export ISO with seconds or a "T".
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M",
    "%d.%m.%Y %H.%M", "%d.%m.%Y %H:%M", "%d.%m.%Y %H.%M.%S", "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y klo %H.%M", "%d.%m.%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S.%f",
    "%d/%m/%Y %H:%M",
)


def normalise_key(value: Any) -> str:
    """The matching key of a raw value: trimmed, inner whitespace collapsed, lower case."""
    return " ".join(str(value).split()).lower()


# The ASCII characters that Python's ``str.split()`` and ``re``'s ``\s`` count as whitespace.
# pyarrow's regex engine (RE2) would run these replacements in C++, but its ``\s`` lacks
# \x1c-\x1f and its ``\d``/``\s`` are ASCII-only, so pandas falls back to Python's ``re`` for
# every value; spelled out as a class, the ASCII values stay in C++ with identical results.
_ASCII_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]+"


def _ascii_fast(values: pd.Series, fast, slow) -> pd.Series:
    """``fast`` (pyarrow kernels, ASCII rules) on ASCII values, ``slow`` (Python's Unicode rules)
    on the others; the result in the original order and index."""
    s = values.astype("string")
    is_ascii = s.str.isascii().fillna(True).to_numpy(dtype=bool)
    if is_ascii.all():
        return fast(s)
    out = pd.Series(pd.NA, index=s.index, dtype="string")
    out[is_ascii] = fast(s[is_ascii])
    out[~is_ascii] = slow(s[~is_ascii])
    return out


def _collapse_space(values: pd.Series) -> pd.Series:
    """``" ".join(x.split())`` of every value (NA stays NA), vectorised."""
    return _ascii_fast(values,
                       lambda s: s.str.replace(_ASCII_SPACE, " ", regex=True).str.strip(" "),
                       lambda s: s.map(lambda x: " ".join(x.split()), na_action="ignore").astype("string"))


def _keys(values: pd.Series) -> pd.Series:
    """:func:`normalise_key` of every value, vectorised (arrow string kernels)."""
    return _ascii_fast(values,
                       lambda s: s.str.replace(_ASCII_SPACE, " ", regex=True).str.strip().str.lower(),
                       lambda s: s.str.replace(r"\s+", " ", regex=True).str.strip().str.lower())


def _flag(value: Any, *, where: str, file: Path) -> bool:
    key = normalise_key(value)
    if key in ("true", "yes", "1"):
        return True
    if key in ("false", "no", "0"):
        return False
    raise InputError(f"{where} must be true or false; got {value!r}.", file=file)


def _level_str(value: Any) -> str:
    """Levels are kept as strings; an integer-valued float (5.0) is written 5."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class ValueSet:
    """Ordered canonical levels with the raw spellings that mean each of them."""

    name: str
    levels: tuple[str, ...]
    numeric: Mapping[str, float]
    lookup: Mapping[str, str]      # normalise_key(raw) -> canonical level
    is_integer_scale: bool         # levels are the integers low..high (Likert)

    def level_numbers(self) -> dict[str, float]:
        """Numeric value of each level: given ``numeric`` map, else the integer level, else rank."""
        if self.numeric:
            return dict(self.numeric)
        if self.is_integer_scale:
            return {lv: float(lv) for lv in self.levels}
        return {lv: float(i) for i, lv in enumerate(self.levels)}


@dataclass(frozen=True)
class Condition:
    """One applicability condition: ``variable op value``."""

    variable: str
    op: str
    value: Any

    def describe(self) -> str:
        return f"{self.variable} {self.op} {self.value!r}"

    def evaluate(self, column: pd.Series) -> pd.Series:
        """Boolean Series (NA where the context value is missing)."""
        col = column
        if self.op in ("in", "not_in"):
            values = [str(v) for v in self.value]
            out = col.astype("string").isin(values)
            out = out if self.op == "in" else ~out
        elif self.op in ("==", "!="):
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                out = col.astype("Float64") == float(self.value)
            elif pd.api.types.is_bool_dtype(col):
                want = normalise_key(self.value) in ("yes", "true", "1")
                out = col.astype("boolean") == want
            else:
                out = col.astype("string") == str(self.value)
            out = out if self.op == "==" else ~out
        else:
            num = pd.to_numeric(col, errors="coerce").astype("Float64")
            v = float(self.value)
            out = {">=": num >= v, ">": num > v, "<=": num <= v, "<": num < v}[self.op]
        out = out.astype("boolean")
        return out.mask(col.isna(), pd.NA)


@dataclass(frozen=True)
class BorisSource:
    """``boris: {behavior, measure, modifier}`` of a variable derived from BORIS events.

    ``behavior`` is the behaviour's name in the BORIS ethogram (matched ignoring case and
    surrounding/duplicated whitespace); ``measure`` one of :data:`BORIS_MEASURES`;
    ``modifier`` (optional) restricts the events to those carrying that modifier.
    """

    behavior: str
    measure: str
    modifier: str | None = None

    @property
    def key(self) -> str:
        """The behaviour name as matched: case-folded, whitespace collapsed."""
        return behaviour_key(self.behavior)

    def describe(self) -> str:
        extra = f", modifier {self.modifier!r}" if self.modifier else ""
        return f"BORIS behaviour {self.behavior!r}, {self.measure}{extra}"


def behaviour_key(name: Any) -> str:
    """How BORIS behaviour names are compared: case-folded, whitespace trimmed and collapsed."""
    return " ".join(str(name).casefold().split())


@dataclass(frozen=True)
class Variable:
    """One codebook variable (see the keys documented in the default codebook)."""

    name: str
    label_en: str
    label_fi: str
    role: str
    type: str
    sources: tuple[str, ...]
    source_columns: Mapping[str, str] = field(default_factory=dict)
    value_set: ValueSet | None = None
    id_format: str | None = None
    range: tuple[float, float] | None = None
    required: bool = False
    applicable_if: tuple[Condition, ...] = ()
    pseudonymise: str | None = None
    output_name: str | None = None
    allow_in_output: bool = False
    description: str = ""
    boris: BorisSource | None = None

    @property
    def out_name(self) -> str:
        return self.output_name or self.name

    def column_in(self, kind: str) -> str:
        """Raw column name of this variable in a file of ``kind``."""
        return self.source_columns.get(kind, self.name)


@dataclass(frozen=True)
class Codebook:
    """A validated codebook. Build it with :func:`load_codebook`."""

    name: str
    description: str
    path: Path | None
    missing_codes: frozenset[str]
    id_formats: Mapping[str, str]
    value_sets: Mapping[str, ValueSet]
    variables: Mapping[str, Variable]
    scales: Mapping[str, dict] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Variable:
        return self.variables[name]

    def for_kind(self, kind: str) -> list[Variable]:
        """Variables read from files of ``kind`` (in codebook order)."""
        return [v for v in self.variables.values() if kind in v.sources]

    @property
    def behaviours(self) -> list[Variable]:
        """Behaviours coded by coders (role ``behaviour``, read from coding sheets).

        Behaviours measured from BORIS events are in :attr:`boris_variables` instead: they
        have no coder, no consensus and no ``<name>_status`` column.
        """
        return [v for v in self.variables.values() if v.role == "behaviour" and v.boris is None]

    @property
    def boris_variables(self) -> list[Variable]:
        """Variables derived from BORIS events (codebook ``boris:``), in codebook order."""
        return [v for v in self.variables.values() if v.boris is not None]

    def labels(self, language: str = "en") -> dict[str, str]:
        """Readable label of every variable by output name (``label_en`` or ``label_fi``)."""
        if language not in ("en", "fi"):
            raise ValueError(f"`language` must be 'en' or 'fi'; got {language!r}.")
        out = {v.out_name: (v.label_en if language == "en" else v.label_fi) for v in self.variables.values()}
        for name, sc in self.scales.items():
            out[name] = sc["label_en"] if language == "en" else sc["label_fi"]
        return out

    def output_allowed(self, variable: Variable) -> bool:
        """Whether the variable may reach data/processed (pii only when explicitly allowed)."""
        return variable.role != "pii" or variable.allow_in_output

    # --- derived schemas --------------------------------------------------------------------
    def field_descriptor(self, variable: Variable) -> dict[str, Any]:
        """Frictionless field descriptor of one variable as it appears in processed outputs."""
        ftype = {"binary": "boolean", "count": "integer", "continuous": "number",
                 "datetime": "datetime", "nominal": "string", "ordinal": "string"}[variable.type]
        desc = {"name": variable.out_name, "title": variable.label_en,
                "description": variable.description or variable.label_en,
                "type": ftype, "svc:label_fi": variable.label_fi, "svc:role": variable.role}
        constraints: dict[str, Any] = {}
        vs = variable.value_set
        if variable.pseudonymise:
            desc["description"] = (f"{variable.label_en}: keyed-hash pseudonym "
                                   f"'{variable.pseudonymise}_' + 10 hex (HMAC-SHA256)")
        elif vs is not None and variable.type in ("ordinal", "nominal"):
            if vs.is_integer_scale:
                desc["type"] = "integer"
                desc["categories"] = [int(x) for x in vs.levels]
            else:
                desc["categories"] = list(vs.levels)
                constraints["enum"] = list(vs.levels)
            if variable.type == "ordinal":
                desc["categoriesOrdered"] = True
        if variable.range is not None:
            constraints["minimum"], constraints["maximum"] = variable.range
        if variable.required:
            constraints["required"] = True
        if variable.applicable_if:
            desc["svc:applicable_if"] = [c.describe() for c in variable.applicable_if]
        if constraints:
            desc["constraints"] = constraints
        return desc

    def table_schema(self, columns: list[str], *, extra: Mapping[str, dict] | None = None,
                     primary_key: list[str] | None = None) -> dict[str, Any]:
        """Frictionless Table Schema for a processed table with ``columns`` (in that order).

        Codebook variables are described from the codebook; other columns from ``extra``
        (derived columns such as ``<behaviour>_status``).
        """
        by_out = {v.out_name: v for v in self.variables.values()}
        extra = dict(extra or {})
        fields = []
        for col in columns:
            if col in extra:
                fields.append({"name": col, **extra[col]})
            elif col in by_out:
                fields.append(self.field_descriptor(by_out[col]))
            else:
                raise ValueError(f"column {col!r} is neither a codebook variable nor described in `extra`.")
        schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
        if primary_key:
            schema["primaryKey"] = list(primary_key)
        return schema

    def to_pandera(self, columns: list[str] | None = None):
        """pandera ``DataFrameSchema`` of ``encounters.parquet`` derived from the codebook.

        Checks dtypes (boolean for binary, ordered categorical for ordinal levels, Int64 for
        integer Likert scales, float for continuous, datetime64 for datetimes), allowed levels,
        valid ranges and uniqueness of ``encounter_id``; pii columns are only admitted when the
        codebook allows them. ``columns`` restricts the schema to the columns present.
        """
        import pandera.pandas as pa

        cols = {}
        for v in self.variables.values():
            if not self.output_allowed(v) or v.role == "id" and v.name == "coder":
                continue
            name = v.out_name
            if columns is not None and name not in columns:
                continue
            checks = []
            vs = v.value_set
            if v.pseudonymise:
                dtype = None
                checks.append(pa.Check.str_matches(rf"^{v.pseudonymise}_[0-9a-f]{{10}}$"))
            elif v.id_format:
                dtype = None
                checks.append(pa.Check.str_matches(_id_regex(self.id_formats[v.id_format])))
            elif v.type == "binary":
                dtype = "boolean"
            elif v.type == "datetime":
                dtype = None
                checks.append(pa.Check(lambda s: pd.api.types.is_datetime64_any_dtype(s),
                                       element_wise=False, error="datetime64 dtype"))
            elif v.type in ("continuous",):
                dtype = "float64"
            elif v.type == "count":
                dtype = "Int64"
            elif vs is not None and vs.is_integer_scale:
                dtype = "Int64"
                checks.append(pa.Check.isin([int(x) for x in vs.levels]))
            elif vs is not None:
                dtype = pd.CategoricalDtype(list(vs.levels), ordered=v.type == "ordinal")
            else:
                dtype = None
            if v.range is not None:
                checks.append(pa.Check.in_range(*v.range))
            cols[name] = pa.Column(dtype, checks=checks, nullable=not v.required,
                                   unique=name == "encounter_id", required=True)
        return pa.DataFrameSchema(cols, strict=False, name=f"{self.name} encounters")


def _id_regex(fmt: str) -> str:
    m = re.fullmatch(r"(.*)\{:0(\d+)d\}(.*)", fmt)
    return "^" + re.escape(m.group(1)) + rf"\d{{{m.group(2)},}}" + re.escape(m.group(3)) + "$"


def default_codebook_path() -> Path:
    """The package's default codebook (copied into every simulated study)."""
    return Path(__file__).resolve().parent / "simulate" / "resources" / "codebook.yaml"


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Read and validate a codebook YAML file.

    Parameters
    ----------
    path : str or Path, optional
        The codebook file; default :func:`default_codebook_path`.

    Returns
    -------
    Codebook

    Raises
    ------
    InputError
        When the file is missing, is not YAML (or uses aliases, repeats a key, is too large or is
        not UTF-8), or a variable is malformed; the message names
        the codebook file and the variable (the CLI prints it as one line).

    Notes
    -----
    Unquoted ``yes``/``no``/``true`` stay strings (YAML 1.1 would make them booleans). The file is
    read by :func:`svcresearch._yaml.load_yaml` (no aliases/anchors, no duplicated keys, at most
    5 MB, UTF-8). Validated
    by ``tests/test_codebook.py`` (round trip of the default codebook, one test per rule).
    """
    path = Path(path) if path is not None else default_codebook_path()
    if not path.is_file():
        raise InputError("codebook file not found; expected a YAML codebook (see docs/own_data.md).",
                         file=path)
    raw = load_yaml(path, what="codebook", booleans=False)
    return codebook_from_dict(raw, path=path)


def codebook_from_dict(raw: Any, *, path: Path | None = None) -> Codebook:
    """Validate a parsed codebook mapping (see :func:`load_codebook`)."""
    where = path if path is not None else "<codebook>"

    def err(msg: str, var: str | None = None):
        prefix = f"variable '{var}': " if var else ""
        return InputError(prefix + msg, file=where)

    if not isinstance(raw, dict):
        raise err(f"expected a mapping with keys {sorted(_TOP_KEYS)}; got {type(raw).__name__}.")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise err(f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}.")
    if str(raw.get("format_version", "1")) != "1":
        raise err(f"format_version must be 1; got {raw.get('format_version')!r}.")
    missing_codes = raw.get("missing_codes", [])
    if not isinstance(missing_codes, list):
        raise err("missing_codes must be a list of strings.")
    missing = frozenset(normalise_key(m) for m in missing_codes) | {""}

    id_formats = raw.get("id_formats", {}) or {}
    if not isinstance(id_formats, dict):
        raise err("id_formats must be a mapping name -> format such as 'ENC-{:06d}'.")
    for name, fmt in id_formats.items():
        if not isinstance(fmt, str) or not re.fullmatch(r"[^{}]*\{:0\d+d\}[^{}]*", fmt):
            raise err(f"id_formats['{name}'] must contain one '{{:0Nd}}' field like 'ENC-{{:06d}}'; got {fmt!r}.")

    value_sets: dict[str, ValueSet] = {}
    vs_raw = raw.get("value_sets", {}) or {}
    if not isinstance(vs_raw, dict):
        raise err("value_sets must be a mapping.")
    for name, spec in vs_raw.items():
        value_sets[name] = _value_set(name, spec, missing, err)

    variables_raw = raw.get("variables")
    if not isinstance(variables_raw, dict) or not variables_raw:
        raise err("`variables` must be a non-empty mapping of variable name -> description.")
    variables: dict[str, Variable] = {}
    for name, spec in variables_raw.items():
        name = str(name)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise err("variable names must be snake_case (a-z, 0-9, _).", name)
        variables[name] = _variable(name, spec, value_sets, id_formats, err, path)
    # conditions and output names refer to other variables
    outs: dict[str, str] = {}
    for v in variables.values():
        for c in v.applicable_if:
            if c.variable not in variables:
                raise err(f"applicable_if refers to unknown variable '{c.variable}'.", v.name)
        if v.out_name in outs:
            raise err(f"output name '{v.out_name}' already used by '{outs[v.out_name]}'.", v.name)
        outs[v.out_name] = v.name
    if "encounter_id" not in variables or variables["encounter_id"].role != "id":
        raise err("the codebook must define 'encounter_id' with role 'id' (it links every file).")
    scales = {}
    for sname, sspec in (raw.get("scales", {}) or {}).items():
        if not isinstance(sspec, dict) or not isinstance(sspec.get("items"), list) or len(sspec["items"]) < 2:
            raise err(f"scale '{sname}' must be a mapping with `items` (a list of at least two variables).")
        for item in sspec["items"]:
            if item not in variables or variables[item].type not in ("ordinal", "continuous", "count"):
                raise err(f"scale '{sname}': item '{item}' must be a numeric (ordinal/continuous) variable.")
        if sname in variables or sname in outs:
            raise err(f"scale '{sname}' has the name of a variable.")
        scales[str(sname)] = {"items": [str(i) for i in sspec["items"]],
                              "label_en": str(sspec.get("label_en", sname)),
                              "label_fi": str(sspec.get("label_fi", sname))}
    return Codebook(name=str(raw.get("name", path.stem if path else "codebook")),
                    description=str(raw.get("description", "") or ""), path=path,
                    missing_codes=missing, id_formats=dict(id_formats), value_sets=value_sets,
                    variables=variables, scales=scales)


def _value_set(name: str, spec: Any, missing: frozenset[str], err) -> ValueSet:
    label = f"value set '{name}'"
    if not isinstance(spec, dict) or "levels" not in spec:
        raise err(f"{label} must be a mapping with `levels` (and optional aliases, labels, numeric).")
    unknown = set(spec) - {"levels", "aliases", "labels", "numeric"}
    if unknown:
        raise err(f"{label} has unknown key(s) {sorted(unknown)}.")
    levels = spec["levels"]
    if not isinstance(levels, list) or len(levels) < 2:
        raise err(f"{label}: `levels` must list at least two levels.")
    levels_s = tuple(_level_str(x) for x in levels)
    if len(set(levels_s)) != len(levels_s):
        raise err(f"{label}: `levels` repeats a level.")
    lookup: dict[str, str] = {}

    def add(key: Any, level: str, what: str):
        k = normalise_key(_level_str(key))
        if k in missing:
            raise err(f"{label}: {what} {key!r} is also a missing code.")
        if k in lookup and lookup[k] != level:
            raise err(f"{label}: {what} {key!r} maps to both '{lookup[k]}' and '{level}'.")
        lookup[k] = level

    for lv in levels_s:
        add(lv, lv, "level")
    aliases = spec.get("aliases", {}) or {}
    if not isinstance(aliases, dict):
        raise err(f"{label}: `aliases` must map a level to a list of spellings.")
    for lv, spellings in aliases.items():
        lv = _level_str(lv)
        if lv not in levels_s:
            raise err(f"{label}: aliases given for '{lv}', which is not one of its levels {list(levels_s)}.")
        if not isinstance(spellings, list):
            raise err(f"{label}: aliases of '{lv}' must be a list.")
        for s in spellings:
            add(s, lv, "alias")
    labels = spec.get("labels", {}) or {}
    if not isinstance(labels, dict):
        raise err(f"{label}: `labels` must map a label to a level.")
    for text, lv in labels.items():
        lv = _level_str(lv)
        if lv not in levels_s:
            raise err(f"{label}: label {text!r} maps to '{lv}', not one of its levels {list(levels_s)}.")
        add(text, lv, "label")
    numeric = spec.get("numeric", {}) or {}
    if not isinstance(numeric, dict):
        raise err(f"{label}: `numeric` must map each level to a number.")
    numeric_f: dict[str, float] = {}
    for lv, x in numeric.items():
        lv = _level_str(lv)
        if lv not in levels_s:
            raise err(f"{label}: numeric value given for '{lv}', not one of its levels.")
        try:
            numeric_f[lv] = float(x)
        except (TypeError, ValueError):
            raise err(f"{label}: numeric value of '{lv}' must be a number; got {x!r}.") from None
    if numeric_f and set(numeric_f) != set(levels_s):
        raise err(f"{label}: `numeric` must give a number for every level {list(levels_s)}.")
    is_int = all(re.fullmatch(r"-?\d+", lv) for lv in levels_s) and \
        [int(x) for x in levels_s] == list(range(int(levels_s[0]), int(levels_s[0]) + len(levels_s)))
    return ValueSet(name=name, levels=levels_s, numeric=numeric_f, lookup=lookup,
                    is_integer_scale=bool(is_int))


def _variable(name, spec, value_sets, id_formats, err, path) -> Variable:
    if not isinstance(spec, dict):
        raise err("must be a mapping with at least role, type and sources.", name)
    unknown = set(spec) - _VARIABLE_KEYS
    if unknown:
        raise err(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_VARIABLE_KEYS)}.", name)
    role = spec.get("role")
    if role not in ROLES:
        raise err(f"role must be one of {list(ROLES)}; got {role!r}.", name)
    vtype = spec.get("type")
    if vtype not in TYPES:
        raise err(f"type must be one of {list(TYPES)}; got {vtype!r}.", name)
    boris = _boris_source(spec.get("boris"), vtype=vtype, sources=spec.get("sources"), err=err, name=name)
    sources = spec.get("sources", ["boris"] if boris is not None else None)
    if isinstance(sources, str):
        sources = [sources]
    # the encounter id is read from BORIS observation ids; every other BORIS variable is derived
    if boris is None and isinstance(sources, list) and "boris" in sources and name != "encounter_id":
        raise err("a variable read from BORIS needs `boris: {behavior: NAME, measure: M}` with M one of "
                  f"{', '.join(BORIS_MEASURES)}.", name)
    if not isinstance(sources, list) or not sources or any(s not in FILE_KINDS for s in sources):
        raise err(f"sources must list file kinds from {list(FILE_KINDS)}; got {sources!r}.", name)
    source_columns = spec.get("source_columns", {}) or {}
    if not isinstance(source_columns, dict) or any(k not in sources for k in source_columns):
        raise err(f"source_columns must map one of its sources {sources} to a raw column name.", name)
    vs = None
    if "value_set" in spec:
        if spec["value_set"] not in value_sets:
            raise err(f"value_set '{spec['value_set']}' is not defined under value_sets "
                      f"(defined: {sorted(value_sets)}).", name)
        vs = value_sets[spec["value_set"]]
    if boris is not None and boris.measure == "modifier" and vs is None:
        raise err("boris.measure 'modifier' needs a value_set whose levels are the modifiers.", name)
    if vtype in ("binary", "ordinal") and vs is None:
        raise err(f"type '{vtype}' needs a value_set giving its levels.", name)
    if vtype == "binary" and len(vs.levels) != 2:
        raise err(f"type 'binary' needs a value set with exactly two levels; '{vs.name}' has {len(vs.levels)}.", name)
    id_format = spec.get("id_format")
    if id_format is not None and id_format not in id_formats:
        raise err(f"id_format '{id_format}' is not defined under id_formats (defined: {sorted(id_formats)}).", name)
    rng = spec.get("range")
    if rng is not None:
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng)
                or rng[0] > rng[1]):
            raise err(f"range must be [low, high] with low <= high; got {rng!r}.", name)
        if vtype not in ("continuous", "count", "ordinal"):
            raise err(f"range applies to numbers; type is '{vtype}'.", name)
        rng = (float(rng[0]), float(rng[1]))
    conds = []
    for c in spec.get("applicable_if", []) or []:
        if not isinstance(c, dict) or set(c) != {"variable", "op", "value"}:
            raise err("each applicable_if condition must be {variable, op, value}.", name)
        if c["op"] not in OPS:
            raise err(f"applicable_if op must be one of {list(OPS)}; got {c['op']!r}.", name)
        if c["op"] in ("in", "not_in") and not isinstance(c["value"], list):
            raise err(f"applicable_if op '{c['op']}' needs a list value.", name)
        if c["op"] in (">=", ">", "<=", "<"):
            try:
                float(c["value"])
            except (TypeError, ValueError):
                raise err(f"applicable_if op '{c['op']}' needs a number; got {c['value']!r}.", name) from None
        value = c["value"]
        value = [_level_str(x) for x in value] if isinstance(value, list) else (
            value if c["op"] in (">=", ">", "<=", "<") else _level_str(value))
        conds.append(Condition(str(c["variable"]), c["op"], value))
    pseud = spec.get("pseudonymise")
    if pseud is not None and not re.fullmatch(r"[a-z]{2,8}", str(pseud)):
        raise err(f"pseudonymise must be a short lower-case prefix such as 'emp'; got {pseud!r}.", name)
    allow = _flag(spec.get("allow_in_output", "false"), where=f"variable '{name}': allow_in_output", file=path)
    if allow and role != "pii":
        raise err("allow_in_output only applies to role 'pii'.", name)
    return Variable(
        name=name, label_en=str(spec.get("label_en", name)), label_fi=str(spec.get("label_fi", name)),
        role=role, type=vtype, sources=tuple(sources),
        source_columns={str(k): str(v) for k, v in source_columns.items()}, value_set=vs,
        id_format=id_format, range=rng,
        required=_flag(spec.get("required", "false"), where=f"variable '{name}': required", file=path),
        applicable_if=tuple(conds), pseudonymise=pseud, output_name=spec.get("output_name"),
        allow_in_output=allow, description=str(spec.get("description", "") or ""), boris=boris,
    )


def _boris_source(spec: Any, *, vtype: str, sources: Any, err, name: str) -> BorisSource | None:
    """Check a variable's ``boris:`` declaration (DESIGN §5)."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or not {"behavior", "measure"} <= set(spec) \
            or set(spec) - {"behavior", "measure", "modifier"}:
        raise err("boris must be a mapping {behavior: NAME, measure: M[, modifier: LEVEL]}; "
                  f"got {spec!r}.", name)
    behavior = spec["behavior"]
    if not isinstance(behavior, str) or not behavior.strip():
        raise err(f"boris.behavior must be the behaviour's name in the BORIS ethogram; got {behavior!r}.", name)
    measure = spec["measure"]
    if measure not in BORIS_MEASURES:
        raise err(f"boris.measure must be one of {', '.join(BORIS_MEASURES)}; got {measure!r}.", name)
    if vtype not in BORIS_MEASURES[measure]:
        raise err(f"boris.measure '{measure}' gives a {' or '.join(BORIS_MEASURES[measure])} variable; "
                  f"type is '{vtype}'.", name)
    modifier = spec.get("modifier")
    if modifier is not None and (not isinstance(modifier, (str, int, float)) or isinstance(modifier, bool)
                                 or not str(modifier).strip()):
        raise err(f"boris.modifier must be a modifier name; got {modifier!r}.", name)
    if sources is not None and (sources if isinstance(sources, list) else [sources]) != ["boris"]:
        raise err(f"a variable with `boris:` is read from BORIS exports only; sources must be [boris] or "
                  f"left out; got {sources!r}.", name)
    return BorisSource(behavior=behavior.strip(), measure=measure,
                       modifier=None if modifier is None else _level_str(modifier))


# --- normaliser ---------------------------------------------------------------------------------

@dataclass
class Normalised:
    """Result of :func:`normalise` for one raw column.

    ``values``: normalised values (dtype by variable type; NA where missing or a problem);
    ``problem``: reason code per row (``unknown_code``, ``out_of_range``, ``unparseable_time``,
    ``invalid_id``) or NA; ``missing``: True where the raw value was empty or a missing code.
    Every row is exactly one of: a value, missing, or a problem (conservation).
    """

    values: pd.Series
    problem: pd.Series
    missing: pd.Series


_SIGN = "[+-]?"
_NUM_PLAIN = f"{_SIGN}[0-9]+"
_NUM_DOT = rf"{_SIGN}(?:[0-9]*\.[0-9]+|[0-9]+\.)"   # one decimal point (.5, 5.)
_NUM_COMMA = f"{_SIGN}(?:[0-9]*,[0-9]+|[0-9]+,)"      # one decimal comma
_NUM_AMBIGUOUS = f"{_SIGN}[1-9][0-9]{{0,2}}[.,][0-9]{{3}}"  # 12,000 / 1.234: thousands or decimals?
_NUM_COMMA_GROUPS = rf"{_SIGN}[1-9][0-9]{{0,2}}(?:,[0-9]{{3}})+(?:\.[0-9]+)?"   # 1,234,567.5
_NUM_DOT_GROUPS = rf"{_SIGN}[1-9][0-9]{{0,2}}(?:\.[0-9]{{3}})+(?:,[0-9]+)?"     # 1.234.567,5
_NUM_SPACE_GROUPS = f"{_SIGN}[1-9][0-9]{{0,2}}(?:[ \u00a0\u202f][0-9]{{3}})+(?:[.,][0-9]+)?"  # 1 234,5
_NUM_SCIENTIFIC = f"{_SIGN}(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)[eE][+-]?[0-9]{{1,3}}"


def parse_number(values: pd.Series, *, decimal: str | None = None) -> pd.Series:
    """Numbers as written in field files; float with NaN where a value is not (unambiguously) a number.

    The rule (docs/study_layout.md, "Numbers"): after trimming (and reading the minus sign
    U+2212 as ``-``), a value is a number when it is

    * an integer (``12``) or has one decimal mark, point or comma (``3.5``, ``3,5``, ``,5``);
    * grouped in thousands with the other mark as separator: ``1,234.5`` / ``1,234,567`` (comma
      groups, decimal point) and ``1.234,5`` / ``1.234.567`` (point groups, decimal comma), or with
      spaces (``1 234,5``; also no-break and narrow no-break spaces);
    * in scientific notation with a finite value (``1.5e-3``, ``1,5E-3``).

    One separator followed by exactly three digits (``12,000``, ``1.234``) is ambiguous: it is read
    with ``decimal`` as the decimal mark (``12,000`` is 12000 when ``decimal='.'`` and 12.0 when
    ``decimal=','``). Without ``decimal`` the mark is inferred from the unambiguous values in
    ``values`` (the mark more of them use); when none decides, ambiguous values are NaN. Anything
    else — text, several decimal marks, misplaced groups (``1,23,456``), ``inf``, ``Infinity``,
    ``nan``, ``1e999`` — is NaN (:func:`normalise` reports it as ``unknown_code``).

    Parameters
    ----------
    values : Series
        Raw values as strings.
    decimal : {'.', ','}, optional
        The decimal mark of the column or file (``read_info["decimal"]`` or the study's option).

    Returns
    -------
    Series
        float64, same index.

    Notes
    -----
    Vectorised: each form is one arrow regex ``fullmatch``. Validated by ``tests/test_hostile_inputs.py``
    (every form above, with both marks and without) and ``tests/test_codebook.py``.
    """
    if decimal is not None:
        check_option("decimal", decimal, (".", ","))
    s = values.astype("string").str.strip().str.replace("\u2212", "-", regex=False)

    def match(pattern: str) -> np.ndarray:
        return s.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)

    plain, dot, comma = match(_NUM_PLAIN), match(_NUM_DOT), match(_NUM_COMMA)
    ambiguous = match(_NUM_AMBIGUOUS)
    comma_groups, dot_groups = match(_NUM_COMMA_GROUPS), match(_NUM_DOT_GROUPS)
    space_groups, scientific = match(_NUM_SPACE_GROUPS), match(_NUM_SCIENTIFIC)
    if decimal is None:
        says_dot = int((dot & ~ambiguous).sum() + (comma_groups & ~ambiguous).sum())
        says_comma = int((comma & ~ambiguous).sum() + (dot_groups & ~ambiguous).sum())
        decimal = "." if says_dot > says_comma else "," if says_comma > says_dot else None
    is_comma = s.str.contains(",", regex=False).fillna(False).to_numpy(dtype=bool)
    # the text handed to the float parser, by form (later forms win where two match)
    text = pd.Series(pd.NA, index=s.index, dtype="string")
    no_space = s.str.replace(r"[ \u00a0\u202f]", "", regex=True)
    for ok, written in (
        (plain | dot, s),
        (comma, s.str.replace(",", ".", regex=False)),
        (scientific, s.str.replace(",", ".", regex=False)),
        (space_groups, no_space.str.replace(",", ".", regex=False)),
        (comma_groups & ~ambiguous, s.str.replace(",", "", regex=False)),
        (dot_groups & ~ambiguous, s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)),
    ):
        if ok.any():
            text[ok] = written[ok]
    if ambiguous.any():
        if decimal is None:
            text[ambiguous] = pd.NA
        else:
            # the value's mark is the decimal mark -> a decimal; the other mark -> thousands
            as_decimal = ambiguous & (is_comma == (decimal == ","))
            as_groups = ambiguous & ~as_decimal
            text[as_decimal] = s.str.replace(",", ".", regex=False)[as_decimal]
            text[as_groups] = s.str.replace(r"[.,]", "", regex=True)[as_groups]
    out = pd.to_numeric(text, errors="coerce").astype("float64")
    return out.where(np.isfinite(out.to_numpy(dtype=float, na_value=np.nan)))


#: Years a field date-time may have; anything outside is a typo (``22.11.1026``) or a number read
#: as a date, and is reported as ``unparseable_time``.
DATE_YEARS = (1900, 2100)


def parse_datetime(values: pd.Series, *, excel_serials: bool = False) -> pd.Series:
    """Finnish and ISO date-times (``22.11.2026 14.05``, ``2.3.2026 10.15``, ``2026-03-02 10:15``).

    Every value is tried against the layouts of ``DATETIME_FORMATS`` in turn (vectorised per
    layout); NaT where none fits or the year lies outside :data:`DATE_YEARS` (1900–2100).

    Parameters
    ----------
    values : Series
        Raw values as strings.
    excel_serials : bool, default False
        Also read plain numbers as Excel serial day numbers (``46083.43`` = 2026-03-02 10:19:12).
        Only for a column whose cells were all numbers in an xlsx sheet
        (``read_info["excel_numeric_columns"]``): in a text column a number typed where a date
        belongs is not a date, so by default it is NaT.

    Returns
    -------
    Series
        ``datetime64[us]``, same index.

    Notes
    -----
    A layout is only tried on the values that contain its separators in order
    (:func:`_layout_prefilter`); the first layout that parses a value still wins, exactly as
    when every value is tried against every layout — ``tests/test_codebook.py`` compares the
    two on generated date-like strings. The year window and the serial switch are checked in
    ``tests/test_hostile_inputs.py``.
    """
    s = _ascii_fast(values.astype("string").str.strip(),
                    lambda x: x.str.replace(_ASCII_SPACE, " ", regex=True),
                    lambda x: x.str.replace(r"\s+", " ", regex=True))
    out = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[us]")
    todo = s.notna().to_numpy(dtype=bool, copy=True)  # written below; pandas hands out read-only views
    for fmt in DATETIME_FORMATS:
        if not todo.any():
            break
        pos = np.flatnonzero(todo)
        # positions, not labels: the values' index may repeat or be anything
        candidate = s.iloc[pos].str.contains(_layout_prefilter(fmt), regex=True).to_numpy(dtype=bool)
        pos = pos[candidate]
        if not len(pos):
            continue
        parsed = pd.to_datetime(s.iloc[pos], format=fmt, errors="coerce").astype("datetime64[us]")
        parsed = parsed.to_numpy()
        ok = ~np.isnat(parsed)
        out[pos[ok]] = parsed[ok]
        todo[pos[ok]] = False
    result = pd.Series(out, index=s.index, dtype="datetime64[us]")
    if excel_serials and todo.any():
        rest = s[todo]
        num = parse_number(rest, decimal=".")
        serial = num.where((num > 20000) & (num < 80000))
        ok = serial.notna()
        if ok.any():
            conv = pd.Timestamp("1899-12-30") + pd.to_timedelta(serial[ok] * 86400, unit="s").dt.round("s")
            result.iloc[np.flatnonzero(todo)[ok.to_numpy()]] = conv.astype("datetime64[us]").to_numpy()
    year = result.dt.year
    return result.mask((year < DATE_YEARS[0]) | (year > DATE_YEARS[1]))


def _layout_prefilter(fmt: str) -> str:
    """A regex that every value ``fmt`` can parse matches: its separators in order.

    Trying a layout costs as much for the values it rejects as for those it parses; with
    several layouts tried in turn that was most of the time spent on date columns. The
    prefilter is deliberately loose (a necessary condition, never a sufficient one): fields
    and whitespace match anything, so it cannot skip a value the layout would parse — pandas
    (Python's strptime rules and its ISO 8601 parser alike) requires the layout's literal
    separators. ``T`` is treated like whitespace; ``klo`` is matched case-insensitively
    because strptime is case-insensitive.
    """
    literal = re.sub(r"%[A-Za-z]|\s|T", " ", fmt).split()
    return "(?si)" + ".*".join(re.escape(part) for part in literal) if literal else ""


def _id_parts(fmt: str) -> tuple[str, int, str]:
    m = re.fullmatch(r"([^{}]*)\{:0(\d+)d\}([^{}]*)", fmt)
    return m.group(1), int(m.group(2)), m.group(3)


_ID_SEP = "[ _-]"


def _ascii_nocase(text: str) -> str:
    """A regex matching ``text`` with ASCII letters in either case (no Unicode case folding:
    ``(?i)`` would also let the long s or the Kelvin sign stand for ``s``/``k``)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isascii() and c.isalpha() else re.escape(c) for c in text)


_ID_MAX_DIGITS = 18


def _id_grammar(prefix: str, width: int, suffix: str) -> str:
    """The regex of :func:`canonical_id`'s grammar; group ``n`` holds the significant digits."""
    pre = prefix.rstrip(" _-")
    suf = suffix.lstrip(" _-")
    head = f"(?:{_ascii_nocase(pre)}{_ID_SEP}?)?" if pre else ""
    tail = f"(?:{_ID_SEP}?{_ascii_nocase(suf)})?" if suf else ""
    # the format's width is a minimum, as in Python's formatting ("ENC-{:06d}" of 1000000 is
    # ENC-1000000); up to 18 significant digits keep the number exact in int64
    number = f"0*(?P<n>[0-9]{{1,{_ID_MAX_DIGITS}}})"
    # a bare number may carry an integer-valued decimal tail from a spreadsheet (128.0, 128,00)
    bare = f"0*(?P<d>[0-9]{{1,{_ID_MAX_DIGITS}}})[.,]0+"
    return f"^(?:{head}{number}{tail}|{bare})$"


def canonical_id(values: pd.Series, fmt: str) -> pd.Series:
    """Canonical identifiers by one strict grammar (``e12`` → ``E-00012``; ``ENC-000123-2`` → NA).

    The grammar (docs/study_layout.md, "Canonical identifiers"), for a format such as
    ``ENC-{:06d}``: surrounding whitespace; optionally the format's prefix without its trailing
    separator (``ENC``), in any ASCII case, followed by at most one separator (space, ``-`` or
    ``_``); then ONE run of ASCII digits, leading zeros allowed, of at most 18 significant digits
    (the format's width is a minimum: ``ENC-1000000`` is kept); then optionally the format's suffix the same way. A bare
    number may also be an integer-valued spreadsheet decimal (``128.0``, ``128,0``, ``128.00``).
    So ``ENC-000123``, ``enc 123``, ``Enc_123``, ``123`` and ``123.0`` are all ``ENC-000123``;
    everything else is NA — two digit runs (``ENC-000123-2``, ``ENC-000008 take 2``), other text,
    non-integer decimals (``12.5``), exponents (``1.29e2``), signs and non-ASCII digits. :func:`normalise` reports NA as ``invalid_id``.

    Parameters
    ----------
    values : Series
        Raw identifiers as strings (NA stays NA).
    fmt : str
        The codebook's id format, ``PREFIX{:0Nd}SUFFIX``.

    Returns
    -------
    Series
        ``string`` dtype, same index.

    Notes
    -----
    Values already written canonically are kept as they are (one arrow ``fullmatch``); only the
    rest go through the grammar (one arrow ``extract_regex``), which keeps a million encounter
    ids fast (``benchmarks/bench_clean.py``). Validated by ``tests/test_hostile_inputs.py`` (every
    accepted and refused form above) and ``tests/test_codebook.py`` (the simulator's drift forms;
    a hypothesis property against a per-value Python reference of the grammar).
    """
    prefix, width, suffix = _id_parts(fmt)
    values = values.astype("string")
    if not re.search(r"\d", prefix + suffix):
        # a value already written canonically is its own canonical form (its digits are the
        # width digits, zero-padded already); usually nearly all are, so only the rest are
        # rewritten (a third of the time on a million encounter ids)
        pattern = re.escape(prefix) + f"[0-9]{{{width}}}" + re.escape(suffix)
        done = values.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
        if done.any():
            out = values.copy()
            if not done.all():
                out[~done] = _canonical_grammar(values[~done], prefix, width, suffix).array  # by position
            return out
    return _canonical_grammar(values, prefix, width, suffix)


def _canonical_grammar(values: pd.Series, prefix: str, width: int, suffix: str) -> pd.Series:
    """:func:`canonical_id` by the grammar itself on every value (arrow kernels end to end:
    pandas' ``str.extract`` runs Python's ``re`` per value, ten times slower)."""
    arr = values.astype("string").array.__arrow_array__()
    found = pc.extract_regex(pc.utf8_trim_whitespace(arr), _id_grammar(prefix, width, suffix))
    plain, decimal = pc.struct_field(found, "n"), pc.struct_field(found, "d")
    digits = pc.if_else(pc.equal(plain, ""), decimal, plain)
    # leading zeros are matched outside the groups, so "0" or "000" leave "0"
    typed = [pa.scalar(text, arr.type) for text in (prefix, suffix, "")]
    canon = pc.binary_join_element_wise(typed[0], pc.utf8_lpad(digits, width=width, padding="0"), *typed[1:])
    canon = pc.if_else(pc.is_valid(found), canon, pa.scalar(None, arr.type))
    return pd.Series(pd.arrays.ArrowStringArray(canon), index=values.index, name=values.name)


def normalise(values: pd.Series, variable: Variable, codebook: Codebook, *,
              decimal: str | None = None, excel_serials: bool = False) -> Normalised:
    """Normalise one raw column of strings by the codebook rules for ``variable``.

    Vectorised: the work is done on the unique raw values and mapped back, so a million rows
    with a few dozen distinct spellings cost one factorisation.

    Parameters
    ----------
    values : Series
        Raw cells as strings (NA for empty), as returned by ``svcresearch.io.read_table``.
    variable : Variable
        The codebook variable the column holds.
    codebook : Codebook
        For missing codes and identifier formats.
    decimal : {'.', ','}, optional
        The file's decimal mark, which decides ambiguous numbers such as ``12,000`` (see
        :func:`parse_number`); default: inferred from the column's own values.
    excel_serials : bool, default False
        A date-time column whose cells were all numbers in an xlsx sheet: read them as Excel
        serial days (see :func:`parse_datetime`); otherwise a number in a date column is
        ``unparseable_time``.

    Returns
    -------
    Normalised
        Values with a dtype by type (``string`` levels for binary/ordinal/nominal; Int64 levels
        for integer Likert scales; float64 for numbers; datetime64 for datetimes), the problem
        code per row and the missing flag.

    Notes
    -----
    Idempotent (normalising normalised values gives the same values), and conservative (every
    input is mapped, marked missing, or reported) — both checked with hypothesis in
    ``tests/test_codebook.py``.
    """
    check_type("values", values, pd.Series)
    raw = values.astype("string")
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    uniq = pd.Series(uniques, dtype="string")
    keys = _keys(uniq)
    u_missing = keys.isin(codebook.missing_codes).to_numpy(dtype=bool)
    u_problem = np.full(len(uniq), None, dtype=object)
    vs = variable.value_set

    if variable.id_format:
        u_vals = canonical_id(uniq, codebook.id_formats[variable.id_format])
        u_problem[(u_vals.isna().to_numpy()) & ~u_missing] = "invalid_id"
    elif variable.type == "datetime":
        u_vals = parse_datetime(uniq, excel_serials=excel_serials)
        u_problem[u_vals.isna().to_numpy() & ~u_missing] = "unparseable_time"
    elif variable.type in ("continuous", "count"):
        u_vals = parse_number(uniq, decimal=decimal)
        bad = u_vals.isna().to_numpy() & ~u_missing
        u_problem[bad] = "unknown_code"
        if variable.type == "count":
            frac = (u_vals % 1 != 0).fillna(False).to_numpy() | (u_vals < 0).fillna(False).to_numpy()
            u_problem[frac & ~u_missing] = "out_of_range"
        if variable.range is not None:
            lo, hi = variable.range
            out = ((u_vals < lo) | (u_vals > hi)).fillna(False).to_numpy()
            u_problem[out & ~u_missing] = "out_of_range"
    elif vs is not None:
        u_vals = keys.map(vs.lookup).astype("string")
        unmapped = u_vals.isna().to_numpy() & ~u_missing
        u_problem[unmapped] = "unknown_code"
        if vs.is_integer_scale:
            num = parse_number(uniq, decimal=decimal)
            lo, hi = int(vs.levels[0]), int(vs.levels[-1])
            if variable.range is not None:
                lo, hi = variable.range
            numeric_level = num.notna().to_numpy() & unmapped
            is_int = (num % 1 == 0).fillna(False).to_numpy()
            inside = ((num >= lo) & (num <= hi)).fillna(False).to_numpy()
            good = numeric_level & is_int & inside
            good_s = pd.Series(good, index=u_vals.index)
            u_vals = u_vals.mask(good_s, num.where(good_s).astype("Int64").astype("string"))
            u_problem[numeric_level & ~good] = "out_of_range"
            u_problem[good] = None
    else:
        # free nominal (coder, names, comments): trim and collapse whitespace only
        u_vals = _collapse_space(uniq)
        u_missing = u_missing | (u_vals == "").fillna(True).to_numpy()

    u_vals = u_vals.copy()
    bad_or_missing = pd.Series(u_missing | pd.notna(u_problem), index=u_vals.index)
    u_vals = u_vals.mask(bad_or_missing)
    if vs is not None and vs.is_integer_scale and not variable.id_format:
        u_vals = pd.to_numeric(u_vals, errors="coerce").astype("Int64")

    return Normalised(*_spread(codes, u_vals, u_problem, u_missing, index=values.index))


def _spread(codes: np.ndarray, u_vals: pd.Series, u_problem: np.ndarray, u_missing: np.ndarray, *,
            index: pd.Index) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Per-unique results back to one row per raw value (code -1, an empty cell: NA / missing).

    ``take`` with ``allow_fill`` gathers in the array's own storage (an arrow kernel for
    strings); reindexing by codes or building the problem column from a million Python objects
    cost several times more on the columns of a million rows.
    """
    vals = pd.Series(u_vals.array.take(codes, allow_fill=True), index=index)
    problem = pd.Series(pd.array(u_problem, dtype="string").take(codes, allow_fill=True), index=index)
    missing = pd.Series(np.append(u_missing, True)[codes], index=index)  # codes -1 -> the appended True
    return vals, problem, missing


def level_numeric(values: pd.Series, variable: Variable) -> pd.Series:
    """Numeric code of normalised levels (no=0 yes=1; none=0 polite=1 genuine=2; Likert value)."""
    vs = variable.value_set
    if vs is None:
        raise ValueError(f"variable '{variable.name}' has no value set; numeric codes need levels.")
    mapping = vs.level_numbers()
    return values.astype("string").map(mapping).astype("float64")


def is_nan(x: Any) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
