"""Class-scale grading on a small toy assignment: every kind of bad submission in one batch.

The toy has two auto-graded exercises and one manually graded answer, so each nbgrader run takes a
few seconds; the real homeworks go through the same pipeline in test_homeworks.py.
"""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.grading.pipeline import GradingOptions, grade_class  # noqa: E402
from itft_grader.intake.normalize import normalize  # noqa: E402
from itft_grader.intake.submissions import intake  # noqa: E402
from itft_grader.release.sample_class import as_colab, copy_notebook, grade_cell, solved  # noqa: E402

# Caps generous enough for a machine running other work (a busy CI): only the looping submission reaches them.
OPTIONS = GradingOptions(timeout=240, memory_mb=4096, cell_timeout=20)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """(solutions folder, the student version as released)."""
    solutions = tmp_path_factory.mktemp("solutions")
    return solutions, release_toy(solutions)


def build_batch(release, folder: Path) -> dict[str, tuple[str, float | None]]:
    """Write the class's files; returns file -> (expected status prefix, expected auto score)."""
    good = solved(release, toy_solution())
    cases: dict[str, tuple[nbformat.NotebookNode | str | bytes, str, float | None]] = {}

    def variant(edit):
        nb = copy_notebook(good)
        edit(nb)
        return nb

    cases["doe_1001_good.ipynb"] = (good, "graded", 5)
    cases["roe_1002_untouched.ipynb"] = (release, "graded", 0)
    cases["s_1003_syntax.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "add_code"), "source", "def add(a, b)\n    return a +")), "graded", 3)
    cases["s_1004_loop.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "mean_code"), "source", "while True:\n    pass")), "graded_with_notes", 2)
    cases["s_1005_memory.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "mean_code"), "source", "hog = bytearray(64 * 2**30)")), "graded", 2)
    cases["s_1006_sysexit.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "mean_code"), "source", "import sys\nsys.exit(3)")), "graded", 2)
    cases["s_1007_osexit.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "mean_code"), "source", "import os\nos._exit(1)")), "exited_early", 0)
    cases["s_1008_deleted_test.ipynb"] = (variant(lambda nb: nb.cells.remove(grade_cell(nb, "add_tests"))), "graded_with_notes", 5)
    cases["s_1009_edited_test.ipynb"] = (variant(lambda nb: (setattr(grade_cell(nb, "add_code"), "source", "def add(a, b):\n    return 0"),
                                                             setattr(grade_cell(nb, "add_tests"), "source", "pass"))), "graded_with_notes", 4)

    def duplicate(nb):
        i = nb.cells.index(grade_cell(nb, "mean_tests"))
        nb.cells.insert(i + 1, nbformat.from_dict(json.loads(json.dumps(nb.cells[i]))))

    cases["s_1010_duplicated.ipynb"] = (variant(duplicate), "graded_with_notes", 5)

    def strip(nb):
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)

    cases["s_1011_stripped.ipynb"] = (variant(strip), "graded_with_notes", 5)
    cases["s_1012_colab.ipynb"] = (as_colab(good), "graded", 5)
    cases["notes_without_id.ipynb"] = (good, "bad_filename", None)
    cases["s_1013_corrupt.ipynb"] = ('{"cells": [', "corrupt_notebook", 0)
    cases["s_1014_empty.ipynb"] = (b"", "empty_file", 0)
    cases["s_1015_flood.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "add_code"), "source",
                                                              "for i in range(200000):\n    print('spam', i)\ndef add(a, b):\n    return a + b")), "graded", 5)
    cases["s_1016_tamper.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "mean_code"), "source",
                                                               "import math\nmath.isclose = lambda *a, **k: True\ndef mean(xs):\n    return 0")), "graded", 2)

    def swap_ids(nb):  # a perfect submission whose two test cells swapped grade ids
        a, b = grade_cell(nb, "add_tests"), grade_cell(nb, "mean_tests")
        a.metadata["nbgrader"]["grade_id"], b.metadata["nbgrader"]["grade_id"] = "mean_tests", "add_tests"

    cases["s_1017_swapped_ids.ipynb"] = (variant(swap_ids), "graded_with_notes", 5)
    cases["s_1018_delegates.ipynb"] = (variant(lambda nb: setattr(grade_cell(nb, "add_code"), "source",
                                                                  "import operator as op\ndef add(a, b):\n    return op.add(a, b)")),
                                       "flagged", 5)
    expected = {}
    for name, (content, status, score) in cases.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        else:
            nbformat.write(content, path)
        expected[name] = (status, score)
    return expected


def _sheet(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded_batch(toy, tmp_path_factory):
    solutions, release = toy
    folder = tmp_path_factory.mktemp("submissions")
    expected = build_batch(release, folder)
    out = tmp_path_factory.mktemp("grading")
    results = grade_class(folder, ASSIGNMENT, out, workers=2, options=OPTIONS, solutions=solutions, progress=False)
    return folder, out, expected, results


def test_every_bad_submission_gets_a_clear_status(graded_batch):
    _, out, expected, _ = graded_batch
    rows = {r["file"]: r for r in _sheet(out / "grades.csv")}
    assert set(rows) == set(expected)
    for name, (status, score) in expected.items():
        row = rows[name]
        assert row["message"] or row["status"] == "graded", name
        if status is not None:
            assert row["status"] == status, (name, row)
        if score is not None:
            assert float(row["auto_score"]) == score, (name, row)
    # A cell interrupted at the cell timeout is named, though the cells after it ran.
    assert "ran past the 20 s cell timeout" in rows["s_1004_loop.ipynb"]["message"]
    # A kernel ended by os._exit yields a row naming the cell.
    assert "mean_code" in rows["s_1007_osexit.ipynb"]["message"]
    assert rows["s_1016_tamper.ipynb"]["message"] == ""  # rebinding math.isclose changes no score: nothing to flag
    assert "deleted" in rows["s_1008_deleted_test.ipynb"]["message"]
    assert "edited" in rows["s_1009_edited_test.ipynb"]["message"]
    assert "duplicated" in rows["s_1010_duplicated.ipynb"]["message"]
    assert "restored" in rows["s_1011_stripped.ipynb"]["message"]
    assert "grade id of another locked cell" in rows["s_1017_swapped_ids.ipynb"]["message"]
    assert "line 3: calls operator.add" in rows["s_1018_delegates.ipynb"]["message"]
    # The answered analysis question waits for a human; the untouched one scores 0.
    assert rows["doe_1001_good.ipynb"]["why_answer"] == "" and rows["doe_1001_good.ipynb"]["manual_pending"] == "1"
    assert rows["roe_1002_untouched.ipynb"]["why_answer"] == "0"


def test_no_file_is_lost_and_originals_are_byte_identical(graded_batch):
    folder, out, _, _ = graded_batch
    for path in folder.iterdir():
        assert (out / "originals" / path.name).read_bytes() == path.read_bytes()
    manifest = json.loads((out / "originals" / "manifest.json").read_text())
    assert len(manifest) == len(list(folder.iterdir()))


def test_feedback_for_graded_students_without_personal_data(graded_batch):
    _, out, _, _ = graded_batch
    html = (out / "feedback" / "1012.html").read_text()
    assert "add_tests" in html or "Toy homework" in html
    assert "Jane Student" not in html
    for feedback in (out / "feedback").iterdir():  # the hidden tests stay hidden, failing or passing
        text = feedback.read_text()
        assert "add(-1, 1)" not in text and "mean([0.5])" not in text and "HIDDEN TESTS" not in text, feedback.name


def test_scores_in_a_batch_equal_scores_alone(graded_batch, toy, tmp_path):
    solutions, release = toy
    folder, out, _, _ = graded_batch
    alone_in = tmp_path / "alone"
    alone_in.mkdir()
    for name in ("doe_1001_good.ipynb", "s_1003_syntax.ipynb"):
        (alone_in / name).write_bytes((folder / name).read_bytes())
    grade_class(alone_in, ASSIGNMENT, tmp_path / "out", workers=1, options=OPTIONS, solutions=solutions, progress=False)
    batch = {r["file"]: r for r in _sheet(out / "grades.csv")}
    for row in _sheet(tmp_path / "out" / "grades.csv"):
        assert {k: v for k, v in row.items()} == batch[row["file"]]


def test_resume_skips_finished_and_regrading_gives_the_same_sheet(graded_batch, toy):
    solutions, _ = toy
    folder, out, _, _ = graded_batch
    before = (out / "grades.csv").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    grade_class(folder, ASSIGNMENT, out, workers=2, options=OPTIONS, solutions=solutions, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps  # nothing regraded
    assert (out / "grades.csv").read_bytes() == before


def test_whole_submission_time_cap(toy, tmp_path):
    solutions, release = toy
    nb = solved(release, toy_solution())
    grade_cell(nb, "add_code").source = "import time\ntime.sleep(600)"
    folder = tmp_path / "in"
    folder.mkdir()
    nbformat.write(nb, folder / "s_2001.ipynb")
    # 45 s: a kernel on a busy machine still reaches the sleeping cell before the cap (else "infrastructure")
    results = grade_class(folder, ASSIGNMENT, tmp_path / "out", workers=1, options=GradingOptions(timeout=45),
                          solutions=solutions, progress=False)
    assert results[0].status == "timeout" and results[0].total == 0
    assert "add_code" in results[0].message


def test_zip_intake_keeps_duplicate_names(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/x_3001.ipynb", "{}")
        zf.writestr("b/x_3001.ipynb", "{ }")
        zf.writestr("readme.txt", "hello")
    subs = intake(archive, tmp_path / "out")
    assert len(subs) == 3
    assert sorted(s.student_id or "-" for s in subs) == ["-", "3001", "3001"]  # one student, two files
    assert sorted(s.key for s in subs if s.student_id) == ["3001", "3001__2"]
    assert {p.name for p in (tmp_path / "out" / "originals").iterdir()} >= {"x_3001.ipynb", "dup_x_3001.ipynb", "readme.txt"}


def test_normalize_restores_stripped_metadata_by_content_and_position(toy):
    _, release = toy
    nb = solved(release, toy_solution())
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    fixed = normalize(nbformat.writes(nb).encode(), "x.ipynb", release)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in fixed.notebook.cells]
    assert [i for i in ids if i] == [c.metadata["nbgrader"]["grade_id"] for c in release.cells if "nbgrader" in c.metadata]
    assert grade_cell(fixed.notebook, "add_code").source == "def add(a, b):\n    return a + b"


def test_manual_grading_adds_to_the_trusted_auto_scores(toy, tmp_path):
    """What formgrader does (nbgrader's Gradebook API) on a course folder graded with trusted checks:
    the test cells' auto scores are the trusted ones, and a manual score adds to them."""
    from nbgrader.api import Gradebook

    from itft_grader.checks.execute import RECORD_ENV, REFERENCES_ENV
    from itft_grader.course import run_nbgrader
    from itft_grader.grading.pipeline import prepare_course

    solutions, release = toy
    master, _, answers, _ = prepare_course(tmp_path, ASSIGNMENT, solutions)
    folder = master / "submitted" / "1001" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(solved(release, toy_solution()), folder / f"{ASSIGNMENT}.ipynb")
    record = tmp_path / "trusted.json"
    run_nbgrader(master, "autograde", ASSIGNMENT, "--student=1001", "--create", timeout=300,
                 env={RECORD_ENV: str(record), REFERENCES_ENV: str(answers), "ITFT_MODE": "grading"})
    trusted = json.loads(record.read_text())["cells"]
    with Gradebook(f"sqlite:///{master / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "1001")
        auto = {g.name: g.auto_score for g in nb.grades if not g.needs_manual_grade}
        assert auto == {gid: cell["score"] for gid, cell in trusted.items()} == {"add_tests": 2.0, "mean_tests": 3.0}
        answer = gb.find_grade("why_answer", ASSIGNMENT, ASSIGNMENT, "1001")
        answer.manual_score = 1.0
        gb.db.commit()
        assert gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "1001").score == 6.0
    run_nbgrader(master, "generate_feedback", ASSIGNMENT, "--student=1001", timeout=120)
    feedback = (master / "feedback" / "1001" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Score: 6.0 / 6.0" in feedback and "2 of 2 checks passed" in feedback
