"""Parsing notebook code from the grading threads.

CPython 3.11's AST constructor keeps its recursion depth per interpreter, so two threads parsing at
once can fail with "AST constructor recursion depth mismatch" (a SystemError). The pipeline grades
submissions in threads, so every parse of student or test code goes through this lock.
"""
from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str) -> ast.Module | None:
    """The module's AST, or None when the code is not valid Python (magics, a student's typo)."""
    with _LOCK:
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError):
            return None
