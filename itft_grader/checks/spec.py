"""How an exercise author writes a trusted check: in the solution notebook's hidden region of the
test cell, beside the public tests, a probe that runs in the student's kernel and returns plain data,
and what that data must be, decided in the grader's own process::

    ### BEGIN HIDDEN TESTS
    from itft_grader.checks import check

    @check("one task with weight 1", expect=5.0)
    def _one_task(combine_losses):          # parameters: names the notebook defines
        import torch
        return combine_losses([torch.tensor(5.0)], [1.0]).item()
    ### END HIDDEN TESTS

``expect`` is a value (compared with ``rtol``/``atol``), ``REFERENCE`` (the same probe run on the
grading package's reference implementation, in the grader's process) or a function of the answer
that says whether it passes (it runs in the grader's process, on plain data only), or returns
``(passed, text)`` when the student should read why: a hidden experiment run on a design the probe
returned as data (``checks/experiments.py``). A probe is
self-contained: it imports what it uses in its body and may call ``raises``; its text is sent to the
kernel, so it can use nothing else from the cell that defines it. ``public=True`` marks the trusted
twin of one of the cell's public tests (same name): the student's feedback shows its expected value.
A function decorated with ``@helper`` in the same region is sent along with every probe of the cell
(set-up that several probes share: a seeded tiny model, a batch).

``on="submission"`` marks a probe that never reaches the kernel: it runs in the grader's process on
what the student handed in, for points earned by a run the grader cannot repeat (Homework 2's class
atlas, run on the student's GPU). It takes some of ``submitted`` (the notebook as submitted, outputs
included, as its JSON parses), ``student_id`` (the file name's) and ``course`` (plain data the grader
computes once per class: ``checks/submitted.py``); its ``expect`` cannot be ``REFERENCE``.
The release drops the hidden region, as nbgrader does with every hidden test.
"""
from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itft_grader.regions import HIDDEN_REGION

KERNEL, SUBMISSION = "kernel", "submission"  # where a probe runs
SUBMISSION_PARAMETERS = ("submitted", "student_id", "course")


class _Reference:
    def __repr__(self) -> str:
        return "REFERENCE"


#: ``expect=REFERENCE``: the probe's answer on the grading package's reference implementation.
REFERENCE: Any = _Reference()


@dataclass(frozen=True)
class Check:
    name: str
    function: str  # the probe's name
    source: str  # the probe's text without its decorator: what the kernel runs
    parameters: tuple[str, ...]  # the names the probe takes from the notebook
    expect: Any
    public: bool
    rtol: float
    atol: float
    on: str = KERNEL  # KERNEL: the student's kernel runs it; SUBMISSION: the grader, on what was handed in


@dataclass
class CheckedCell:
    """A test cell's trusted checks: its points are shared equally among them."""

    grade_id: str
    points: float
    checks: list[Check] = field(default_factory=list)

    def only(self, on: str) -> CheckedCell:
        """The cell with only the checks that run ``on`` the kernel or the submission."""
        return CheckedCell(self.grade_id, self.points, [c for c in self.checks if c.on == on])


def check(name: str, *, expect: Any = REFERENCE, public: bool = False, rtol: float = 1e-6,
          atol: float = 0.0, on: str = KERNEL) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark the decorated probe as the trusted check ``name`` (see the module's docstring)."""
    if on not in (KERNEL, SUBMISSION):
        raise ValueError(f"check {name!r}: on={on!r}, not {KERNEL!r} or {SUBMISSION!r}")
    if on == SUBMISSION and expect is REFERENCE:
        raise ValueError(f"check {name!r}: a submission check has no reference implementation to compare with")

    def mark(probe: Callable[..., Any]) -> Callable[..., Any]:
        probe.__itft_check__ = dict(name=name, expect=expect, public=public, rtol=rtol, atol=atol, on=on)  # type: ignore[attr-defined]
        return probe

    return mark


def helper(function: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``function`` as set-up shared by the cell's probes (its text is sent with each of them)."""
    function.__itft_helper__ = True  # type: ignore[attr-defined]
    return function


def _without_decorators(node: ast.FunctionDef) -> str:
    node.decorator_list = []
    return ast.unparse(node)


def hidden_region(source: str) -> str:
    """The text between a test cell's hidden-test markers ('' when it has none): the region the
    release strips, read with the release's own pattern."""
    found = HIDDEN_REGION.search(source)
    return found.group(1) if found else ""


def load_cell(grade_id: str, points: float, source: str) -> CheckedCell:
    """The checks a test cell's hidden region defines, in the order written; the region runs here,
    in the grader's process (it is the instructor's code), and must define at least one check."""
    region = hidden_region(source)
    where = f"test cell {grade_id!r}"
    tree = ast.parse(region, filename=where)
    scope: dict[str, Any] = {"__name__": f"itft_checks_{grade_id}"}
    exec(compile(tree, where, "exec"), scope)
    cell = CheckedCell(grade_id, points)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    helpers = [_without_decorators(node) for node in functions if getattr(scope.get(node.name), "__itft_helper__", False)]
    for node in functions:
        probe = scope.get(node.name)
        options = getattr(probe, "__itft_check__", None)
        if probe is None or options is None:
            continue
        if any(c.function == node.name or c.name == options["name"] for c in cell.checks):
            raise ValueError(f"{where}: two checks named {options['name']!r} or two probes named {node.name!r}")
        parameters = tuple(inspect.signature(probe).parameters)
        if options["on"] == SUBMISSION and set(parameters) - set(SUBMISSION_PARAMETERS):
            raise ValueError(f"{where}: submission check {options['name']!r} takes {parameters}; it may take only "
                             f"{SUBMISSION_PARAMETERS}")
        source = "\n\n".join(helpers + [_without_decorators(node)])
        cell.checks.append(Check(function=node.name, source=source, parameters=parameters, **options))
    if not cell.checks:
        raise ValueError(f"{where} has no trusted checks in its hidden region: it could only ever score 0")
    return cell


def load_checks(source_nb: Any) -> dict[str, CheckedCell]:
    """Every auto-graded test cell's checks, from an nbgrader source (solution) notebook."""
    cells = {}
    for c in source_nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            cells[meta["grade_id"]] = load_cell(meta["grade_id"], float(meta.get("points", 0)), c.source)
    return cells
