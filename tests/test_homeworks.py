"""Every homework through nbgrader itself: the release is current and leaks nothing, the solutions
earn full marks on every auto-graded cell, the unedited student version earns zero on each, and
no feedback file shows a line of the hidden tests."""
from __future__ import annotations

import csv
import html
import re

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from itft_grader.course import assignments, notebooks_dir, solutions_dir  # noqa: E402
from itft_grader.pipeline import GradingOptions, grade_class  # noqa: E402
from itft_grader.release import check  # noqa: E402
from itft_grader.sample_class import HIDDEN, solved  # noqa: E402

HOMEWORKS = assignments()
pytestmark = pytest.mark.skipif(not HOMEWORKS, reason="no homework in solutions/ yet")


def test_release_is_current_and_leaks_nothing():
    assert check() == []


@pytest.mark.slow
@pytest.mark.parametrize("name", HOMEWORKS)
def test_solution_full_marks_and_student_version_zero(name, tmp_path):
    release = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
    folder = tmp_path / "in"
    folder.mkdir()
    nbformat.write(solved(release, source), folder / "a_1001.ipynb")
    nbformat.write(release, folder / "b_1002.ipynb")
    grade_class(folder, name, tmp_path / "out", workers=2, options=GradingOptions(timeout=600), progress=False)
    with open(tmp_path / "out" / "grades.csv") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    auto = [c.metadata["nbgrader"] for c in release.cells
            if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    assert auto, "a homework needs auto-graded cells"
    for meta in auto:
        gid = meta["grade_id"]
        assert float(rows["1001"][gid]) == float(meta["points"]), (gid, rows["1001"]["message"])
        assert float(rows["1002"][gid]) == 0.0, gid
    assert rows["1001"]["status"] == "graded" and rows["1002"]["status"] == "graded"
    released = "\n".join(c.source for c in release.cells)
    hidden = {line.strip() for c in source.cells for block in HIDDEN.findall(c.source) for line in block.splitlines()}
    hidden = {line for line in hidden if line and not line.startswith("###") and line not in released}
    assert hidden, "the homework has hidden tests"
    # A student's own code shows in their feedback: the perfect answer may repeat a reference's lines.
    own = {"1001": "\n".join(c.source for c in solved(release, source).cells), "1002": released}
    for student in ("1001", "1002"):
        text = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "out" / "feedback" / f"{student}.html").read_text()))
        assert [line for line in hidden if line in text and line not in own[student]] == [], student

