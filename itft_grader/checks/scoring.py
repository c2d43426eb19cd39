"""The trusted side of a check: the code sent to the kernel, the strict reading of its answer, and
the verdict, all in the grader's process.

The kernel's answer is text; it is read with ``json.loads`` into plain data (dicts with string keys,
lists, strings, numbers, booleans, None) and nothing else, so no object, lying comparison or code
crosses back. A check passes only when that data matches what the grader expects; points are the
cell's points times the share of checks that pass.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itft_grader.checks.runtime import FRAME
from itft_grader.checks.spec import REFERENCE, Check, CheckedCell

RUNTIME_SOURCE = (Path(__file__).parent / "runtime.py").read_text()
MAX_ANSWER_CHARS = 20_000_000
MAX_DEPTH = 40


GRADER_FAULT = "itft grader fault"  # marks a GraderFault in nbgrader's log: the submission's status is "infrastructure"


class GraderFault(RuntimeError):
    """The grader could not decide a check for a reason of its own (a hidden experiment that did not run): it
    stops the submission's grading, named in the log (retried once, then ``infrastructure``), rather than
    costing the student the check."""

    def __init__(self, message: str):
        super().__init__(f"{GRADER_FAULT}: {message}")


class AnswerError(ValueError):
    """The kernel's answer is not one framed line of plain data of the expected shape."""


def request_code(cell: CheckedCell, nonce: str) -> str:
    """Code that runs ``cell``'s probes in the namespace it is executed in and prints their answer
    (through the ``builtins`` module, so that a notebook's own ``exec`` or ``globals`` do not interfere)."""
    probes = [(c.source, c.function, list(c.parameters)) for c in cell.checks]
    return (f"import builtins as _itft_builtins\n"
            f"_itft_scope = {{'__name__': 'itft_checks'}}\n"
            f"_itft_builtins.exec({RUNTIME_SOURCE!r}, _itft_scope)\n"
            f"_itft_scope['run_probes'](_itft_builtins.globals(), {probes!r}, {nonce!r})\n"
            f"del _itft_builtins, _itft_scope\n")


def new_nonce() -> str:
    return secrets.token_hex(8)


def _check_plain(value: Any, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise AnswerError("the answer is nested too deeply")
    if isinstance(value, dict):
        for v in value.values():
            _check_plain(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_plain(v, depth + 1)
    elif not (value is None or isinstance(value, (bool, int, float, str))):
        raise AnswerError(f"a {type(value).__name__} in the answer")


def read_answers(stdout: str, nonce: str, count: int) -> list[list[dict[str, Any]]]:
    """Every line framed with ``nonce`` in ``stdout``, each decoded into ``count`` per-check answers.
    An honest kernel writes one; a line another thread or hook forged is one more, and the grader
    scores each and keeps the lowest (``execute.py``), so a forged line can only lower the cell.
    AnswerError when there is none, or one is not plain data of that shape."""
    tag = FRAME + nonce + " "
    lines = [line[len(tag):] for line in stdout.split("\n") if line.startswith(tag)]
    if not lines:
        raise AnswerError("the kernel gave no answer")
    return [_decode(line, count) for line in lines]


def _decode(line: str, count: int) -> list[dict[str, Any]]:
    if len(line) > MAX_ANSWER_CHARS:
        raise AnswerError(f"the answer has {len(line)} characters (at most {MAX_ANSWER_CHARS})")
    try:
        answers = json.loads(line)
    except ValueError as exc:
        raise AnswerError(f"the answer is not JSON ({exc})") from None
    _check_plain(answers)
    if not isinstance(answers, list) or len(answers) != count:
        raise AnswerError(f"expected {count} answers")
    for a in answers:
        if not isinstance(a, dict) or not (set(a) == {"value"} or (set(a) == {"error"} and isinstance(a["error"], str))):
            raise AnswerError("an answer is neither {'value': ...} nor {'error': '...'}")
    return answers


def run_here(cell: CheckedCell, namespace: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``cell``'s probes in this process on ``namespace`` (references, or a test's own
    namespace), through the same code and the same reading as a kernel's."""
    nonce = new_nonce()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(request_code(cell, nonce), dict(namespace))
    [answers] = read_answers(out.getvalue(), nonce, len(cell.checks))
    return answers


def same(got: Any, want: Any, rtol: float, atol: float) -> bool:
    """Plain data equal up to a tolerance on numbers (NaN equals NaN; booleans are not numbers)."""
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        return math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or got == want
    if isinstance(want, (list, tuple)) and isinstance(got, list):
        return len(got) == len(want) and all(same(g, w, rtol, atol) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k], rtol, atol) for k in want)
    return type(got) is type(want) and got == want


@dataclass
class CheckResult:
    name: str
    passed: bool
    public: bool
    detail: str = ""  # why it failed, shown to the student (no hidden expected values)


@dataclass
class CellResult:
    grade_id: str
    points: float
    score: float
    checks: list[CheckResult] = field(default_factory=list)
    problem: str = ""  # the whole cell failed: timeout, no answer, unreadable answer

    def report(self) -> str:
        """What the feedback shows under the test cell."""
        lines = [f"{self.score:g} of {self.points:g} points: {sum(c.passed for c in self.checks)} of "
                 f"{len(self.checks)} checks passed (scored by the grader, outside your notebook)"]
        if self.problem:
            lines.append(f"  no check could run: {self.problem}")
        for c in self.checks:
            kind = "" if c.public else " [hidden check]"
            lines.append(f"  {'ok    ' if c.passed else 'FAILED'} {c.name}{kind}" + (f": {c.detail}" if c.detail else ""))
        return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def verdict(check: Check, answer: dict[str, Any], reference: dict[str, Any] | None) -> CheckResult:
    """Pass or fail one check from its plain answer; ``reference`` is the reference implementation's
    answer, for a check that compares with it."""
    if "error" in answer:
        return CheckResult(check.name, False, check.public, answer["error"])
    got = answer["value"]
    if check.expect is REFERENCE:
        if reference is None or "value" not in reference:
            raise ValueError(f"check {check.name!r}: no reference answer ({(reference or {}).get('error', 'not computed')})")
        want = reference["value"]
    elif callable(check.expect):
        try:
            decided = check.expect(got)
        except GraderFault:
            raise
        except Exception as exc:  # noqa: BLE001 - an answer of the wrong shape fails the check
            return CheckResult(check.name, False, check.public, f"an answer of an unexpected shape ({type(exc).__name__})")
        if isinstance(decided, tuple):  # (passed, what the student should read): a hidden experiment's numbers
            return CheckResult(check.name, bool(decided[0]), check.public, str(decided[1])[:1000])
        ok = bool(decided)
        return CheckResult(check.name, ok, check.public, "" if ok or not check.public else f"got {_short(got)}")
    else:
        want = check.expect
    ok = same(got, want, check.rtol, check.atol)
    detail = "" if ok else f"got {_short(got)}" + (f", expected {_short(want)}" if check.public else "")
    return CheckResult(check.name, ok, check.public, detail)


def score_cell(cell: CheckedCell, answers: list[dict[str, Any]] | None, references: dict[str, Any],
               problem: str = "") -> CellResult:
    """The cell's trusted score; ``references`` maps check names to the reference's answers;
    ``answers`` is None (with ``problem``) when the kernel gave none."""
    if answers is None:
        results = [CheckResult(c.name, False, c.public, "") for c in cell.checks]
    else:
        results = [verdict(c, a, references.get(c.name)) for c, a in zip(cell.checks, answers)]
    score = round(cell.points * sum(r.passed for r in results) / len(results), 2)
    return CellResult(cell.grade_id, cell.points, score, results, problem)
