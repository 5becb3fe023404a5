"""Readable labels for variables and model terms, in the study's language.

Figures and tables never show code names (``busy:uses_name``): every function
that builds text takes ``labels=`` (a mapping from variable or term to its label) and
``language="en" | "fi"``. :func:`labels_from_codebook` builds the mapping from the codebook's
``label_en`` / ``label_fi``; :func:`label_term` turns any term of a model into text (dummy terms
``var[level]`` -> "Label: level", interactions ``a:b`` -> "Label A × Label B", contrasts
``a - b``), falling back to a humanised code name ("returning customer") for names the mapping
does not hold.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from svcresearch._validation import check_option, check_type

LANGUAGES = ("en", "fi")

#: Words the generated text needs, per language.
WORDS = {
    "en": {"yes": "yes", "no": "no", "true": "yes", "false": "no", "not_testable": "not testable"},
    "fi": {"yes": "kyllä", "no": "ei", "true": "kyllä", "false": "ei", "not_testable": "ei testattavissa"},
}

_DUMMY = re.compile(r"^(?:C\((?P<cvar>[^,)]+)[^)]*\)|(?P<var>[^\[\]]+))\[(?:T\.)?(?P<level>[^\]]+)\]$")


def check_language(language: Any) -> str:
    """Return ``language`` if it is one of :data:`LANGUAGES`; otherwise raise ValueError."""
    return check_option("language", language, LANGUAGES)


def check_labels(labels: Any) -> Mapping[str, str]:
    """Return ``labels`` as a mapping (None gives an empty one); raise TypeError otherwise."""
    if labels is None:
        return {}
    check_type("labels", labels, Mapping, what="a mapping from variable or term to label")
    return labels


def humanise(name: Any) -> str:
    """Turn a code name into words: ``"uses_name"`` -> ``"Uses name"``."""
    text = str(name).replace("_", " ").strip()
    text = re.sub(r"\s+", " ", text)
    return text[:1].upper() + text[1:] if text else text


def _level_text(level: str) -> str:
    return str(level).replace("_", " ")


def label_term(term: Any, labels: Mapping[str, str] | None = None, *, language: str = "en") -> str:
    """Readable label of a variable or model term.

    Parameters
    ----------
    term : str
        A variable (``"uses_name"``), a dummy term (``"warmth[high]"``, ``"warmth[T.high]"``,
        ``"C(warmth)[T.high]"``), an interaction (``"busy:humour"``) or a contrast
        (``"warmth[high] - warmth[some]"``).
    labels : mapping, optional
        Variable or term -> label; an exact match of the whole term wins.
    language : {"en", "fi"}
        Language of the words the function adds (``"indirect: x"`` -> "X (indirect effect)",
        ``"icc_group"`` -> "ICC (Group)").

    Returns
    -------
    str
        E.g. ``"Warmth: high"``, ``"Busy × Humour"``; names the mapping lacks are
        humanised (underscores to spaces, first letter capitalised).
    """
    labels = check_labels(labels)
    check_language(language)
    term = str(term)
    if term in labels:
        return str(labels[term])
    stripped = term.strip()
    if stripped != term:
        return label_term(stripped, labels, language=language)
    if term.startswith("indirect:"):
        inner = label_term(term.split(":", 1)[1], labels, language=language)
        return f"{inner} ({'epäsuora vaikutus' if language == 'fi' else 'indirect effect'})"
    if term.startswith("icc_") and term[4:]:
        return f"ICC, {label_term(term[4:], labels, language=language)}"
    absolute = re.fullmatch(r"abs\((.+)\)", term)
    if absolute:
        return f"|{label_term(absolute.group(1), labels, language=language)}|"
    if " - " in term:
        return " \u2212 ".join(label_term(part, labels, language=language) for part in term.split(" - "))
    if ":" in term:
        return " \u00d7 ".join(label_term(part, labels, language=language) for part in term.split(":"))
    match = _DUMMY.match(term)
    if match:
        var = (match.group("cvar") or match.group("var")).strip()
        return f"{label_term(var, labels, language=language)}: {_level_text(match.group('level').strip())}"
    return humanise(term)


def labels_from_codebook(codebook: Any = None, language: str = "en") -> dict[str, str]:
    """Mapping from variable names, output names and dummy terms to labels in ``language``.

    Parameters
    ----------
    codebook : Codebook, path or None
        A :class:`svcresearch.codebook.Codebook`, a path to a codebook YAML, or None for the
        default study's codebook (:func:`svcresearch.codebook.load_codebook`).
    language : {"en", "fi"}
        Which label the codebook gives (``label_en`` or ``label_fi``).

    Returns
    -------
    dict
        ``name -> label`` for every variable (and its output name when it differs) and scale, and
        for every level of a variable with a value set ``name[level]``, ``name[T.level]`` and
        ``name_level`` -> ``"Label: level"`` (the spellings models and frames use for dummies).

    Notes
    -----
    Tested on the default codebook and on a minimal codebook built in the test
    (tests/test_labels.py): English and Finnish labels, dummy terms and interactions.
    """
    from svcresearch.codebook import Codebook, load_codebook

    check_language(language)
    if codebook is None or isinstance(codebook, (str, Path)):
        codebook = load_codebook(codebook)
    check_type("codebook", codebook, Codebook, what="a Codebook (svcresearch.codebook.load_codebook) or a path")
    out: dict[str, str] = {}
    for name, var in codebook.variables.items():
        label = var.label_fi if language == "fi" else var.label_en
        names = {name, getattr(var, "out_name", name)}
        for n in names:
            out[n] = label
            if var.value_set is not None:
                for level in var.value_set.levels:
                    text = f"{label}: {_level_text(level)}"
                    for key in (f"{n}[{level}]", f"{n}[T.{level}]", f"{n}_{level}"):
                        out.setdefault(key, text)
    for name, spec in getattr(codebook, "scales", {}).items():
        if isinstance(spec, Mapping):
            out.setdefault(name, str(spec.get("label_fi" if language == "fi" else "label_en", humanise(name))))
    return out
