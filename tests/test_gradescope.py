"""The Gradescope bundle runs the same grading; what can be checked without Gradescope is checked here."""
from __future__ import annotations

import json
import zipfile

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.grading import gradescope  # noqa: E402
from itft_grader.release.sample_class import solved  # noqa: E402


def test_run_writes_gradescope_results(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    release = release_toy(solutions)
    submission = tmp_path / "submission"
    submission.mkdir()
    nbformat.write(solved(release, toy_solution()), submission / "whatever name.ipynb")
    results_path = tmp_path / "results" / "results.json"
    payload = gradescope.run(ASSIGNMENT, submission, results_path, solutions)
    assert json.loads(results_path.read_text()) == payload
    tests = {t["name"]: t for t in payload["tests"]}
    assert payload["score"] == 5.0
    assert tests["add_tests"]["score"] == 2.0 and tests["mean_tests"]["max_score"] == 3.0
    assert tests["why_answer"]["output"] == "graded by hand"


def test_run_refuses_anything_but_one_notebook(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "a.ipynb").write_text("{}")
    (submission / "b.ipynb").write_text("{}")
    payload = gradescope.run(ASSIGNMENT, submission, tmp_path / "r.json", tmp_path)
    assert payload["score"] == 0.0 and "a.ipynb, b.ipynb" in payload["output"]


def test_bundle_holds_setup_run_script_and_source(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(toy_solution(), solutions / f"{ASSIGNMENT}.ipynb")
    bundle = gradescope.build_bundle(ASSIGNMENT, tmp_path / "bundle.zip", solutions)
    with zipfile.ZipFile(bundle) as zf:
        assert set(zf.namelist()) == {"setup.sh", "run_autograder", f"solutions/{ASSIGNMENT}.ipynb"}
        assert f"itft_grader.grading.gradescope run {ASSIGNMENT}" in zf.read("run_autograder").decode()
        assert "nbgrader" in zf.read("setup.sh").decode()
