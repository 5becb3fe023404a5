"""The shared argument checks read the same everywhere (DESIGN.md §9)."""
import math

import pytest

from svcresearch._validation import check_confidence, check_file_stem


@pytest.mark.parametrize("good", [0.5, 0.9, 0.95, 0.999999, 1e-9])
def test_confidence_accepts_the_open_unit_interval(good):
    assert check_confidence(good) == good


@pytest.mark.parametrize("bad", [0, 0.0, 1, 1.0, -0.5, 95, math.nan, math.inf])
def test_confidence_rejects_values_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"`confidence` must be strictly between 0 and 1 \(e\.g\. 0\.95\); got"):
        check_confidence(bad)


@pytest.mark.parametrize("bad", ["0.95", None, True, [0.95]])
def test_confidence_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="`confidence` must be a number strictly between 0 and 1"):
        check_confidence(bad)


@pytest.mark.parametrize("good", ["table1_sample", "fig-2", "a.b", "H10"])
def test_file_stem_accepts_plain_names(good):
    assert check_file_stem(good) == good


@pytest.mark.parametrize("bad", ["../escape", "a/b", "a\\b", "/abs", "", ".hidden", "a..b", "name with space", "é"])
def test_file_stem_rejects_paths_and_odd_names(bad):
    with pytest.raises(ValueError, match="`name` must be a file stem"):
        check_file_stem(bad)


def test_file_stem_type():
    with pytest.raises(TypeError, match="`name` must be str; got int"):
        check_file_stem(3)
