"""Trusted checks: test cells scored in the grader's process from plain data the student's kernel
returns (``spec`` how they are written, ``runtime`` what runs in the kernel, ``scoring`` the verdicts,
``references`` the expected answers, ``execute`` nbgrader's execution with them)."""
from itft_grader.checks.runtime import raises
from itft_grader.checks.spec import REFERENCE, check, helper

__all__ = ["REFERENCE", "check", "helper", "raises"]
