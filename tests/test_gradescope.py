"""The Gradescope bundle's parts in this process: results in Gradescope's documented schema, one
notebook per submission, and what the bundle carries. The bundle run as Gradescope runs it, from its
own scripts in an installed build, is in test_instructor_build.py."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.grading import gradescope  # noqa: E402
from itft_grader.release.sample_class import solved  # noqa: E402

SCHEMA = json.loads((Path(__file__).parent / "gradescope_results.schema.json").read_text())


def test_run_writes_results_in_gradescopes_schema(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    release = release_toy(solutions)
    (tmp_path / "submission").mkdir()
    nbformat.write(solved(release, toy_solution()), tmp_path / "submission" / "whatever name.ipynb")
    payload = gradescope.run(ASSIGNMENT, tmp_path, solutions)
    assert json.loads((tmp_path / "results" / "results.json").read_text()) == payload
    jsonschema.validate(payload, SCHEMA)
    tests = {t["name"]: t for t in payload["tests"]}
    assert payload["score"] == 5.0 and payload["execution_time"] >= 1
    assert tests["add_tests"]["score"] == 2.0 and tests["mean_tests"]["max_score"] == 3.0
    assert tests["why_answer"]["output"] == "graded by hand"


def test_the_student_id_comes_from_gradescopes_submission_metadata(tmp_path):
    """Homework 2's atlas cells carry the student's id, which Part 7's points check against the file's:
    on Gradescope the id is the first user's ``sid`` (documented ``submission_metadata.json``)."""
    assert gradescope._student_id(tmp_path) == "0001"  # no metadata: a placeholder
    metadata = tmp_path / "submission_metadata.json"
    metadata.write_text(json.dumps({"users": [{"email": "a@b.edu", "name": "A", "sid": "12345"}]}))
    assert gradescope._student_id(tmp_path) == "12345"
    for sid in ("", "../../etc", "x" * 65, None):
        metadata.write_text(json.dumps({"users": [{"sid": sid}]}))
        assert gradescope._student_id(tmp_path) == "0001", sid
    metadata.write_text("{not json")
    assert gradescope._student_id(tmp_path) == "0001"


def test_run_refuses_anything_but_one_notebook(tmp_path):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "a.ipynb").write_text("{}")
    (tmp_path / "submission" / "b.ipynb").write_text("{}")
    payload = gradescope.run(ASSIGNMENT, tmp_path, tmp_path)
    jsonschema.validate(payload, SCHEMA)
    assert payload["score"] == 0.0 and "a.ipynb, b.ipynb" in payload["output"]


def test_the_bundle_carries_the_build_the_constraints_and_the_source(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nbformat.write(toy_solution(), solutions / f"{ASSIGNMENT}.ipynb")
    wheel = tmp_path / "itft_utils-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    bundle = gradescope.build_bundle(ASSIGNMENT, tmp_path / "bundle.zip", solutions, wheel)
    with zipfile.ZipFile(bundle) as zf:
        assert set(zf.namelist()) == {"setup.sh", "run_autograder", "constraints.txt", wheel.name, f"solutions/{ASSIGNMENT}.ipynb"}
        setup, run = zf.read("setup.sh").decode(), zf.read("run_autograder").decode()
        assert f'"./{wheel.name}[grader]"' in setup and "-c constraints.txt" in setup  # from the bundle alone
        assert f"itft_grader.grading.gradescope run {ASSIGNMENT}" in run
        assert all(zf.getinfo(n).external_attr >> 16 & 0o111 for n in ("setup.sh", "run_autograder"))
        pins = zf.read("constraints.txt").decode().splitlines()
        assert any(p.startswith("nbgrader==") for p in pins) and not any(p.lower().startswith("itft") for p in pins)
