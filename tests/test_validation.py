"""The provided argument checks (``itft_utils.validation``) that Homework 1's exercises and the library's mixers call."""
import math

import pytest

from itft_utils.validation import require_between, require_count, require_distribution


def test_a_distribution_passes_as_floats_within_rounding():
    assert require_distribution([0.1, 0.2, 0.7]) == [0.1, 0.2, 0.7]  # 0.1 + 0.2 + 0.7 is 1 only to about 1e-16
    assert require_distribution((1, 0), count=2) == [1.0, 0.0]


@pytest.mark.parametrize(("values", "count", "message"), [
    ([0.5, 0.5], 3, "got 2 weights for 3 tasks"),
    ([], None, "sum to 0"),
    ([1.2, -0.2], None, "finite and non-negative"),
    ([float("nan"), 1.0], None, "finite and non-negative"),
    ([float("inf"), 0.0], None, "finite and non-negative"),
    ([0.5, 0.6], None, "sum to 1.1"),
])
def test_a_bad_distribution_is_refused_with_what_is_wrong(values, count, message):
    with pytest.raises(ValueError, match=message) as refused:
        require_distribution(values, "weights", count=count)
    assert "weights" in str(refused.value)


def test_between_includes_its_ends_unless_told_and_never_passes_nan():
    assert require_between(0, 0, 1, "λ") == 0.0 and require_between(1, 0, 1, "λ") == 1.0
    assert require_between(math.inf, 0, math.inf, "T", above=True) == math.inf
    for value, above in ((0, True), (-1e-9, False), (1.5, False), (float("nan"), False), (float("nan"), True)):
        with pytest.raises(ValueError, match=r"T must be in [\[(]0, 1\]"):
            require_between(value, 0, 1, "T", above=above)


def test_count_names_what_it_counted():
    require_count([1, 2], 2, "losses")
    with pytest.raises(ValueError, match="got 1 losses; need 2"):
        require_count([1], 2, "losses")
