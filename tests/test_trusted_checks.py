"""The trusted side of a check on its own: how checks are read from a hidden region, how a kernel's
answer is decoded (strictly: plain data only), and how values are compared. Fast; no kernel."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from itft_grader.checks.runtime import FRAME, plain
from itft_grader.checks.scoring import AnswerError, read_answers, run_here, same, score_cell
from itft_grader.checks.spec import REFERENCE, load_cell

REGION = '''# Partial credit: public tests here.
### BEGIN HIDDEN TESTS
from itft_grader.checks import REFERENCE, check, helper


@helper
def pair():
    return [1.0, 2.0]


@check("the sum", public=True, expect=3.0)
def total(add):
    return add(*pair())


@check("validation", expect=True)
def validation(add):
    return raises(TypeError, add, "a", 1)


@check("matches the reference", expect=REFERENCE)
def reference(add):
    return add(10, 5)
### END HIDDEN TESTS
'''


def test_checks_are_read_in_order_with_their_helpers():
    cell = load_cell("add_tests", 3, REGION)
    assert [c.name for c in cell.checks] == ["the sum", "validation", "matches the reference"]
    assert [c.public for c in cell.checks] == [True, False, False]
    assert cell.checks[2].expect is REFERENCE and cell.checks[0].parameters == ("add",)
    assert "def pair" in cell.checks[0].source and "@check" not in cell.checks[0].source


def test_a_region_without_checks_or_with_twin_names_is_refused():
    with pytest.raises(ValueError, match="no trusted checks"):
        load_cell("x", 1, "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS\n")
    twice = REGION.replace('@check("validation"', '@check("the sum"')
    with pytest.raises(ValueError, match="two checks named 'the sum'"):
        load_cell("x", 1, twice)


def test_scores_are_the_share_of_checks_that_pass():
    cell = load_cell("add_tests", 3, REGION)
    references = {"matches the reference": {"value": 15}}
    right = score_cell(cell, run_here(cell, {"add": lambda a, b: a + b}), references)
    assert right.score == 3.0 and all(c.passed for c in right.checks)
    wrong = score_cell(cell, run_here(cell, {"add": lambda a, b: a - b if isinstance(a, float) else a + b}), references)
    assert wrong.score == 2.0 and "got -1.0, expected 3.0" in wrong.report()  # public: expected shown
    missing = score_cell(cell, run_here(cell, {}), references)
    assert missing.score == 0.0 and "name 'add' is not defined" in missing.report()


def test_hidden_checks_show_no_expected_value():
    cell = load_cell("add_tests", 3, REGION)
    report = score_cell(cell, run_here(cell, {"add": lambda a, b: 0}), {"matches the reference": {"value": 15}}).report()
    assert "FAILED matches the reference [hidden check]: got 0" in report and "15" not in report


def _line(nonce: str, answers) -> str:
    return f"{FRAME}{nonce} {json.dumps(answers)}"


def test_answers_are_decoded_strictly():
    good = [{"value": 1}, {"error": "ValueError: no"}]
    assert read_answers("noise\n" + _line("ab", good) + "\n", "ab", 2) == [good]
    forged = [{"value": 0}] * 2  # a line forged beside the runtime's own: both are read, the grader keeps the lower score
    assert read_answers(_line("ab", forged) + "\n" + _line("ab", good), "ab", 2) == [forged, good]
    for text, why in [("", "no answer"), (_line("zz", good), "no answer"), (f"{FRAME}ab [1,", "not JSON"),
                      (_line("ab", good[:1]), "expected 2 answers"), (_line("ab", [{"value": 1}, {"ok": 2}]), "neither"),
                      (_line("ab", [{"value": 1}, {"error": 3}]), "neither")]:
        with pytest.raises(AnswerError, match=why):
            read_answers(text, "ab", 2)


def test_values_compare_as_plain_data():
    assert same([1, 2.0], [1.0, 2.0000001], 1e-6, 0) and not same([1, 2], [1, 2, 3], 1e-6, 0)
    assert same(float("nan"), math.nan, 1e-6, 0) and not same(1.0, math.nan, 1e-6, 0)
    assert not same(True, 1, 1e-6, 0) and not same(1, True, 1e-6, 0)  # booleans are not numbers
    assert same({"a": [0.1]}, {"a": [0.1 + 1e-12]}, 1e-9, 0) and not same({"a": 1}, {"b": 1}, 1e-6, 0)
    assert not same("1", 1, 1e-6, 0) and not same(None, 0, 1e-6, 0)


def test_only_plain_values_leave_the_kernel():
    import numpy as np
    import torch

    assert plain({"a": (np.float32(0.5), torch.tensor([1.0, 2.0]), np.arange(2))}) == {"a": [0.5, [1.0, 2.0], [0, 1]]}

    class Liar(float):
        def __eq__(self, other):
            return True

    for value in (Liar(1.0), object(), np.zeros(2).view(type("Sub", (np.ndarray,), {})), {1, 2}):
        with pytest.raises(TypeError, match="not plain data"):
            plain(value)


def test_the_grading_package_is_shown_empty_in_the_sandbox(tmp_path):
    import itft_grader
    from itft_grader.sandbox import bwrap as sandbox

    (tmp_path / "p").mkdir()
    plan = sandbox.make_plan(tmp_path / "s", tmp_path / "p", {})
    args = sandbox.bwrap_args(plan, 3, tmp_path / "p")
    grader = str(Path(itft_grader.__file__).parent)
    assert grader in plan.hidden and not any(p == grader or p.startswith(grader + "/") for p in plan.read_only)
    at = max(i for i, a in enumerate(args) if a == grader)
    assert args[at - 2: at + 1] == ["--ro-bind", plan.empty, grader] and not list(Path(plan.empty).iterdir())


def test_a_submission_check_runs_on_what_was_handed_in_and_never_in_the_kernel():
    """``on="submission"``: the grader runs the probe on the notebook as submitted (Homework 2's atlas
    points); the kernel is sent only the other checks, and the answers are scored in the cell's order."""
    from itft_grader.checks.execute import _in_order
    from itft_grader.checks.scoring import request_code
    from itft_grader.checks.spec import KERNEL, SUBMISSION, check

    handed = ('@check("handed in", on="submission", expect=lambda why: (not why, why), public=True)\n'
              'def handed(submitted, student_id):\n'
              '    return "" if submitted["cells"] else f"nothing stored by {student_id}"\n')
    region = REGION.replace('@check("validation", expect=True)', handed + '\n\n@check("validation", expect=True)')
    cell = load_cell("add_tests", 4, region)
    assert [c.on for c in cell.checks] == [KERNEL, SUBMISSION, KERNEL, KERNEL]
    assert "def handed" not in request_code(cell.only(KERNEL), "0123") and len(cell.only(KERNEL).checks) == 3
    own = run_here(cell.only(SUBMISSION), {"submitted": {"cells": []}, "student_id": "1001"})
    answers = _in_order(cell, [{"value": 3.0}, {"value": True}, {"value": 15}], own)
    result = score_cell(cell, answers, {"matches the reference": {"value": 15}})
    assert [c.passed for c in result.checks] == [True, False, True, True] and result.score == 3.0
    assert result.checks[1].detail == "nothing stored by 1001"  # the reasons, about the student's own file
    with pytest.raises(ValueError, match="no reference implementation"):
        check("x", on="submission")
    with pytest.raises(ValueError, match="may take only"):
        load_cell("x", 1, REGION.replace('@check("the sum", public=True, expect=3.0)',
                                         '@check("the sum", on="submission", expect=3.0)'))


def test_a_fault_of_the_graders_own_stops_the_check_instead_of_failing_it():
    """A hidden experiment that cannot run is the grader's fault: it propagates (the pipeline retries the
    submission and says ``infrastructure``) instead of becoming a failed check the student pays for."""
    from itft_grader.checks.scoring import GraderFault, verdict
    from itft_grader.checks.spec import Check

    def broken(answer):
        raise GraderFault("the service is down")

    def odd(answer):
        raise TypeError("not a list")

    probe = dict(name="x", function="f", source="", parameters=("f",), public=True, rtol=0.0, atol=0.0)
    with pytest.raises(GraderFault, match="itft grader fault: the service is down"):
        verdict(Check(expect=broken, **probe), {"value": [1]}, None)
    assert not verdict(Check(expect=odd, **probe), {"value": [1]}, None).passed  # the answer's shape: the student's
