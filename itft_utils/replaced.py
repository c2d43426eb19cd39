"""Calling functions passed in place of the library's own steps (a student's exercise solutions).

Homework 2 runs its experiment with the student's span labelling, decoding and F1 so that a bug shows
in the numbers; when such a function fails, the error must say which function, on which input, and
what was expected, instead of a traceback deep inside the training loop.
"""
from __future__ import annotations

from collections.abc import Callable


class StudentCodeError(RuntimeError):
    """A function passed in place of a library step failed or returned something unusable; the
    message names the function, the input it failed on and what was expected."""


def call_replaced(fn: Callable, where: str, *args):
    """``fn(*args)``, with any error re-raised naming the function and ``where`` it was called."""
    try:
        return fn(*args)
    except Exception as err:
        name = getattr(fn, "__name__", repr(fn))
        todo = "; its exercise is not done yet" if isinstance(err, NotImplementedError) else ""
        raise StudentCodeError(f"{name} raised {type(err).__name__}: {err} ({where}){todo}") from err
