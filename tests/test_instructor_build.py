"""The instructor build installed outside the checkout runs the course (the README's main job), and
every homework through nbgrader there: the solutions earn full marks on every auto-graded cell, the
unedited student version zero on each, and no feedback file shows a line of the hidden tests.

One course run (``scripts/check_instructor_build.sh --installed-only``: the wheel with the grader
extra in a fresh environment, ``itft course --course-dir <checkout>``) serves every test here: its
sample class of each homework holds the perfect submission (``smith_1001``) and the untouched one
(``jones_1002``), so the homeworks are graded once, by the build an instructor installs.
"""
from __future__ import annotations

import csv
import html
import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from itft_grader.course import assignments, notebooks_dir, solutions_dir  # noqa: E402
from itft_grader.release.sample_class import HIDDEN, solved  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOMEWORKS = assignments()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HOMEWORKS, reason="no homework in solutions/ yet")]


@pytest.fixture(scope="module")
def installed_course(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """(the installed build's course output folder, the script's run)."""
    work = tmp_path_factory.mktemp("instructor")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "ITFT_COURSE_DIR"))}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_instructor_build.sh"), str(work), "--installed-only"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    return work / "installed", done


def test_the_instructor_build_installed_outside_the_checkout_runs_the_course(installed_course):
    """The wheel with the grader extra, in a fresh venv, runs `itft course --course-dir <checkout>` and
    grades every sample submission as expected."""
    _, done = installed_course
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("as expected") == len(HOMEWORKS) and "UNEXPECTED" not in done.stdout, done.stdout


@pytest.mark.parametrize("name", HOMEWORKS)
def test_solution_full_marks_and_student_version_zero(name, installed_course):
    out, done = installed_course
    sheet = out / name / "grading" / "grades.csv"
    assert sheet.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    release = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
    with open(sheet) as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    perfect, untouched = rows["smith_1001_solution.ipynb"], rows["jones_1002_untouched.ipynb"]
    auto = [c.metadata["nbgrader"] for c in release.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    assert auto, "a homework needs auto-graded cells"
    for meta in auto:
        gid = meta["grade_id"]
        assert float(perfect[gid]) == float(meta["points"]), (gid, perfect["message"])
        assert float(untouched[gid]) == 0.0, gid
    assert perfect["status"] == "graded" and untouched["status"] == "graded"
    if "atlas_credit" in perfect:  # the Colab-saved copy of the perfect notebook stores another student's atlas cells
        copied = rows["brown_1003_colab.ipynb"]
        assert float(copied["atlas_credit"]) == 0.0 and all(float(copied[m["grade_id"]]) == float(m["points"])
                                                            for m in auto if m["grade_id"] != "atlas_credit")
        text = html.unescape((out / name / "grading" / "feedback" / "1003.html").read_text())
        assert "cells stored under student id '1001', not the file's '1003'" in text
    released = "\n".join(c.source for c in release.cells)
    hidden = {line.strip() for c in source.cells for block in HIDDEN.findall(c.source) for line in block.splitlines()}
    hidden = {line for line in hidden if line and not line.startswith("###") and line not in released}
    assert hidden, "the homework has hidden tests"
    # A student's own code shows in their feedback: the perfect answer may repeat a reference's lines.
    own = {"1001": "\n".join(c.source for c in solved(release, source).cells), "1002": released}
    for student in ("1001", "1002"):
        text = html.unescape(re.sub(r"<[^>]+>", "", (out / name / "grading" / "feedback" / f"{student}.html").read_text()))
        assert [line for line in hidden if line in text and line not in own[student]] == [], student


def test_the_gradescope_bundle_grades_as_uploaded(installed_course, tmp_path):
    """The bundle unpacked as Gradescope lays it out (``source/``, ``submission/``, ``results/``), its own
    ``run_autograder`` run with the installed build (the wheel with the grader extra, which is what the
    bundle's ``setup.sh`` installs) for a perfect, an untouched and a hostile submission: results in
    Gradescope's schema, each with its honest score."""
    import json
    import shutil
    import zipfile

    import jsonschema
    from hostile_kernels import ATTACKS
    from toy_assignment import ASSIGNMENT, release_toy, toy_solution

    from itft_grader.release.sample_class import copy_notebook, grade_cell

    work = installed_course[0].parent
    python, wheel = work / "venv" / "bin" / "python", next((work / "wheel").glob("itft_utils-*.whl"))
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    release = release_toy(solutions)
    subprocess.run([str(python), "-m", "itft_grader.grading.gradescope", "bundle", ASSIGNMENT, str(tmp_path / "bundle.zip"),
                    "--wheel", str(wheel), "--solutions", str(solutions)], check=True, capture_output=True, cwd=tmp_path)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "bundle.zip") as zf:
        zf.extractall(root / "source")
    for script in ("setup.sh", "run_autograder"):
        (root / "source" / script).chmod(0o755)
    assert f'"./{wheel.name}[grader]"' in (root / "source" / "setup.sh").read_text()
    good = solved(release, toy_solution())
    hostile = copy_notebook(good)
    grade_cell(hostile, "mean_code").source = ATTACKS["json_patch"][0]
    schema = json.loads((ROOT / "tests" / "gradescope_results.schema.json").read_text())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "ITFT_COURSE_DIR"))},
           "AUTOGRADER_ROOT": str(root), "PYTHON": str(python), "PATH": f"{python.parent}:{os.environ['PATH']}"}
    for name, nb, score in (("perfect", good, 5.0), ("untouched", release, 0.0), ("hostile", hostile, 3.0)):
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.rmtree(root / "results", ignore_errors=True)
        (root / "submission").mkdir()
        nbformat.write(nb, root / "submission" / f"{name}.ipynb")
        done = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        results = json.loads((root / "results" / "results.json").read_text())
        jsonschema.validate(results, schema)
        assert results["score"] == score, (name, results)
