"""Argument checks that raise a ``ValueError`` naming the argument, its value and what was expected.

Homework 1's exercises call these instead of writing their own ``if ...: raise`` clauses (the exercises are
about the mixing, not the checks), and the library's own mixers use them, so a bad weight or probability is
reported the same way wherever it enters.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sized

__all__ = ["require_between", "require_count", "require_distribution"]


def require_distribution(values: Iterable[float], what: str = "probabilities", count: int | None = None) -> list[float]:
    """``values`` as floats when they are finite, non-negative and sum to 1 (within 1e-6), and, with ``count``,
    exactly ``count`` of them; else a ``ValueError`` that names ``what``."""
    numbers = [float(v) for v in values]
    if count is not None and len(numbers) != count:
        raise ValueError(f"got {len(numbers)} {what} for {count} tasks; need one per task")
    bad = [v for v in numbers if not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"{what} must be finite and non-negative, got {numbers}")
    if abs(sum(numbers) - 1.0) > 1e-6:
        raise ValueError(f"{what} {numbers} sum to {sum(numbers)}, not 1")
    return numbers


def require_between(value: float, low: float, high: float, what: str, *, above: bool = False) -> float:
    """``value`` as a float when ``low <= value <= high`` (``low < value`` with ``above``; nan never passes);
    else a ``ValueError`` that names ``what``."""
    number = float(value)
    inside = (low < number if above else low <= number) and number <= high  # False for nan
    if not inside:
        bounds = f"{'(' if above else '['}{low:g}, {high:g}]"
        raise ValueError(f"{what} must be in {bounds}, got {value!r}")
    return number


def require_count(items: Sized, count: int, what: str) -> None:
    """A ``ValueError`` naming ``what`` unless ``items`` holds exactly ``count`` entries."""
    if len(items) != count:
        raise ValueError(f"got {len(items)} {what}; need {count}")
