"""The students' self-check (no nbgrader needed) on the toy assignment's release."""
from __future__ import annotations

import json

import nbformat
import pytest

from itft_utils import selfcheck

pytest.importorskip("nbgrader", reason="building a release needs nbgrader")

from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.release.build import manifest  # noqa: E402
from itft_grader.release.sample_class import copy_notebook, grade_cell, solved  # noqa: E402


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return release_toy(tmp_path_factory.mktemp("sol"))


def _namespace(nb) -> dict:
    namespace: dict = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            try:
                exec(cell.source, namespace)
            except NotImplementedError:
                pass
    return namespace


def test_unimplemented_exercises_are_reported_as_todo(release):
    results = selfcheck.run_public_tests(manifest(release, ASSIGNMENT), _namespace(release))
    assert [r.status for r in results] == ["not implemented", "not implemented"]


def test_solved_notebook_passes_and_is_ready(release):
    nb = solved(release, toy_solution())
    report = selfcheck.SelfCheckReport(ASSIGNMENT, selfcheck.run_public_tests(manifest(release, ASSIGNMENT), _namespace(nb)),
                                       selfcheck.check_metadata(json.loads(nbformat.writes(nb)), manifest(release, ASSIGNMENT)))
    assert report.ready, str(report)
    assert "Ready to submit" in str(report)


def test_wrong_answer_fails_with_the_assertion(release):
    nb = solved(release, toy_solution())
    grade_cell(nb, "add_code").source = "def add(a, b):\n    return a - b"
    results = selfcheck.run_public_tests(manifest(release, ASSIGNMENT), _namespace(nb), exercise="add")
    assert [(r.grade_id, r.status) for r in results] == [("add_tests", "fail")]


def test_metadata_problems_are_named(release):
    nb = copy_notebook(release)
    grade_cell(nb, "add_tests").source = "pass"
    nb.cells.append(copy_notebook(release).cells[-2])  # a second copy of a grade cell
    nb.cells.remove(grade_cell(nb, "mean_tests"))
    problems = selfcheck.check_metadata(json.loads(nbformat.writes(nb)), manifest(release, ASSIGNMENT))
    text = "\n".join(problems)
    assert "'add_tests' was edited" in text and "'mean_tests' is missing" in text and "appears 2 times" in text


def test_check_notebook_is_silent_under_grading(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert selfcheck.check_notebook("anything") is None
    assert "skipped" in capsys.readouterr().out


def test_unknown_assignment_lists_known_ones(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(FileNotFoundError, match="known"):
        selfcheck.load_manifest("hw99")


def test_partial_credit_cells_report_their_score():
    entry = {"grade_id": "part_tests", "points": 4, "source": "checks = [True, False, True, True]\nsum(checks)"}
    [result] = selfcheck.run_public_tests({"cells": [entry]}, {})
    assert result.status == "fail" and "3/4" in result.message
    entry["source"] = "checks = [True] * 4\nsum(checks)"
    assert selfcheck.run_public_tests({"cells": [entry]}, {})[0].status == "pass"


def test_partial_credit_counts_each_check_on_its_own(capsys):
    def broken():
        return 1 / 0

    checks = {"holds": lambda: True, "fails": lambda: False, "raises": broken, "also holds": lambda: 1 == 1}
    assert selfcheck.partial_credit(checks, 4) == 2.0
    out = capsys.readouterr()
    assert "failed: fails" in out.out and "failed: raises (ZeroDivisionError" in out.out and out.err == ""


def test_partial_credit_lets_an_untouched_stub_error():
    def stub():
        raise NotImplementedError

    with pytest.raises(NotImplementedError):
        selfcheck.partial_credit({"fine": lambda: True, "stub": stub}, 4)


def test_partial_credit_reports_warnings_on_stdout_and_never_on_stderr(capsys):
    import warnings

    import numpy as np

    from itft_utils.selfcheck import partial_credit

    def warns():
        warnings.warn("careful", UserWarning, stacklevel=1)
        return bool(np.isnan(np.float64(0.0) / np.float64(0.0)))  # numpy's RuntimeWarning too

    assert partial_credit({"warns but holds": warns, "fails": lambda: False}, points=2) == 1.0
    out = capsys.readouterr()
    assert out.err == ""
    assert "warning in warns but holds: UserWarning: careful" in out.out and "RuntimeWarning" in out.out
    assert "failed: fails" in out.out


def test_a_failed_assertion_names_the_check_what_it_got_and_what_it_expected(release):
    nb = solved(release, toy_solution())
    grade_cell(nb, "add_code").source = "def add(a, b):\n    return a - b"
    [result] = selfcheck.run_public_tests(manifest(release, ASSIGNMENT), _namespace(nb), exercise="add")
    assert "assert add(1, 2) == 3" in result.message and "got -1; expected == 3" in result.message


def test_partial_credit_failures_are_listed_in_the_report():
    source = "def check():\n    return False\nprint('failed: the empty list')\n1.0"
    [result] = selfcheck.run_public_tests({"cells": [{"grade_id": "x_tests", "points": 2, "source": source}]}, {})
    assert result.status == "fail" and "failed: the empty list" in result.message


def test_the_report_says_which_exercises_hidden_tests_still_grade(release, tmp_path, monkeypatch):
    from itft_grader.release.build import manifest as build_manifest

    nb = solved(release, toy_solution())
    entries = build_manifest(release, ASSIGNMENT, toy_solution())
    assert [e.get("hidden_tests") for e in entries["cells"] if "source" in e] == [True, True]
    report = selfcheck.SelfCheckReport(ASSIGNMENT, selfcheck.run_public_tests(entries, _namespace(nb)))
    text = str(report)
    assert "hidden tests check more cases" in text and "necessary, not sufficient" in text and report.ready
    # Outside Colab the notebook is read from the working folder: a missing file is a note, not a blocker.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setattr(selfcheck, "load_manifest", lambda name: entries)
    report = selfcheck.check_notebook(ASSIGNMENT, namespace=_namespace(nb))
    assert report.ready and report.notes and f"{ASSIGNMENT}.ipynb" in report.notes[0]
    nbformat.write(nb, tmp_path / f"{ASSIGNMENT}.ipynb")
    report = selfcheck.check_notebook(ASSIGNMENT, namespace=_namespace(nb))
    assert report.ready and not report.notes and "Grading cells: intact." in str(report)
