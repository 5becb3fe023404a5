"""Levels of measurement from the codebook, and the plain-language reliability summary."""
import numpy as np
import pandas as pd
import pytest

from svcresearch.codebook import codebook_from_dict
from svcresearch.reliability import levels_from_codebook, reliability_summary


def _codebook():
    """A codebook with one coded behaviour of each kind; names unlike the default study's."""
    yes_no = {"levels": ["no", "yes"], "numeric": {"no": 0, "yes": 1}}
    return codebook_from_dict({
        "format_version": 1, "name": "t", "description": "",
        "id_formats": {"encounter": "V-{:04d}"},
        "value_sets": {"yes_no": yes_no,
                       "tone": {"levels": ["cold", "neutral", "warm"], "numeric": {"cold": 0, "neutral": 1, "warm": 2}},
                       "two": {"levels": ["low", "high"], "numeric": {"low": 0, "high": 1}},
                       "kind": {"levels": ["a", "b", "c"]}},
        "variables": {
            "encounter_id": {"label_en": "Visit", "label_fi": "Käynti", "role": "id", "type": "nominal",
                             "id_format": "encounter", "required": True, "sources": ["coding"]},
            "uses_name": {"label_en": "Uses the name", "label_fi": "Käyttää nimeä", "role": "behaviour",
                          "type": "binary", "value_set": "yes_no", "sources": ["coding"]},
            "tone": {"label_en": "Tone", "label_fi": "Sävy", "role": "behaviour", "type": "ordinal",
                     "value_set": "tone", "sources": ["coding"]},
            "effort": {"label_en": "Effort", "label_fi": "Vaiva", "role": "behaviour", "type": "ordinal",
                       "value_set": "two", "sources": ["coding"]},
            "topic": {"label_en": "Topic", "label_fi": "Aihe", "role": "behaviour", "type": "nominal",
                      "value_set": "kind", "sources": ["coding"]},
            "jokes": {"label_en": "Jokes", "label_fi": "Vitsit", "role": "behaviour", "type": "count",
                      "sources": ["coding"]},
        },
    })


def test_levels_follow_the_codebook_types():
    assert levels_from_codebook(_codebook()) == {"uses_name": "nominal", "tone": "ordinal", "effort": "nominal",
                                                 "topic": "nominal", "jokes": "interval"}
    assert levels_from_codebook(_codebook(), behaviours=["tone"]) == {"tone": "ordinal"}


def test_levels_reject_unknown_behaviours_and_bad_arguments():
    with pytest.raises(ValueError, match="'humour'"):
        levels_from_codebook(_codebook(), behaviours=["tone", "humour"])
    with pytest.raises(TypeError, match="single string"):
        levels_from_codebook(_codebook(), behaviours="tone")
    with pytest.raises(TypeError, match="codebook"):
        levels_from_codebook({"variables": {}})


def test_summary_groups_behaviours_by_krippendorffs_thresholds():
    table = pd.DataFrame({
        "behaviour": ["uses_name", "tone", "effort", "topic", "jokes"],
        "n_units": [120, 118, 90, 120, 40],
        "alpha": [0.91, 0.72, 0.41, np.nan, 0.85],
        "alpha_ci_low": [0.86, 0.65, 0.30, np.nan, 0.60],
        "kappa_paradox": [False, False, True, False, False],
    })
    text = reliability_summary(table, labels={"uses_name": "Uses the name", "tone": "Tone"})
    assert text.startswith("Two or more coders judged 5 behaviours on up to 120 shared encounters.")
    assert "2 behaviours (Uses the name and jokes) reached Krippendorff's α ≥ .800" in text
    assert "Tone reached only .667 ≤ α < .800" in text
    assert "effort fell below α = .667" in text
    assert "α is undefined for topic" in text
    assert "For jokes the interval's lower bound is below .667" in text
    assert "effort: one category dominates" in text


def test_summary_of_an_empty_table_says_why():
    empty = pd.DataFrame(columns=["behaviour", "n_units", "alpha", "alpha_ci_low", "kappa_paradox"])
    assert "cannot be summarised" in reliability_summary(empty)
    with pytest.raises(ValueError, match="alpha"):
        reliability_summary(pd.DataFrame({"behaviour": ["x"]}))
