"""Scores are decided in the grader's process: a class of kernels that attack their own score, graded
through ``itft grade`` with the sandbox on, beside honest controls.

Done means (issue 28): every attack scores exactly what its honest code is worth, with the status that
names what happened; controls keep their exact scores; the kernel sees no module or file of the grading
package; a notebook that fills its folder is stopped (``disk_limit``) and one that ignores interrupts is a
``timeout`` naming its cell. The attacks are in ``hostile_kernels.py``.
"""
from __future__ import annotations

import csv
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from hostile_kernels import ATTACKS, HONEST, WRONG_MEAN  # noqa: E402
from toy_assignment import ASSIGNMENT, release_toy, toy_solution  # noqa: E402

from itft_grader.release.sample_class import copy_notebook, grade_cell, solved  # noqa: E402
from itft_grader.sandbox.bwrap import preflight  # noqa: E402

try:
    preflight()
except Exception as exc:  # pragma: no cover - test_grading_sandbox fails loudly on the same cause
    pytest.skip(f"the sandbox cannot run here: {exc}", allow_module_level=True)

CONTROLS = {"doe_1001_perfect.ipynb": (5.0, "graded"), "roe_1002_untouched.ipynb": (0.0, "graded"),
            "moe_1003_wrong_mean.ipynb": (HONEST, "graded")}


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("trusted")
    solutions, inbox, out = base / "solutions", base / "inbox", base / "out"
    solutions.mkdir()
    inbox.mkdir()
    release = release_toy(solutions)
    good = solved(release, toy_solution())
    nbformat.write(good, inbox / "doe_1001_perfect.ipynb")
    nbformat.write(release, inbox / "roe_1002_untouched.ipynb")
    wrong = copy_notebook(good)
    grade_cell(wrong, "mean_code").source = WRONG_MEAN.strip()
    nbformat.write(wrong, inbox / "moe_1003_wrong_mean.ipynb")
    files = {}
    for n, (name, (code, _, _)) in enumerate(ATTACKS.items()):
        nb = copy_notebook(good)
        grade_cell(nb, "mean_code").source = code
        files[name] = f"evil_{3001 + n}_{name}.ipynb"
        nbformat.write(nb, inbox / files[name])
    env = {**os.environ, "ITFT_COURSE_DIR": str(base)}
    done = subprocess.run([sys.executable, "-m", "itft_utils.cli", "grade", str(inbox), "--assignment", ASSIGNMENT,
                           "--out", str(out), "--workers", "2", "--timeout", "240", "--cell-timeout", "20",
                           "--memory-mb", "2048", "--disk-mb", "256"], env=env, capture_output=True, text=True, cwd=base)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(out / "grades.csv") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    return dict(out=out, rows=rows, files=files)


def test_controls_keep_their_exact_scores(graded):
    for file, (score, status) in CONTROLS.items():
        row = graded["rows"][file]
        assert (float(row["auto_score"]), row["status"]) == (score, status), row


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_attack_scores_what_its_honest_code_is_worth(graded, name):
    _, honest, status = ATTACKS[name]
    row = graded["rows"][graded["files"][name]]
    assert float(row["auto_score"]) == honest, row
    assert row["status"] == status, row
    assert row["isolation"].startswith("bwrap"), row


def test_the_kernel_sees_nothing_of_the_grading_package(graded):
    text = _text(graded["out"] / "feedback" / f"{graded['files']['kernel_view'].split('_')[1]}.html")
    seen = re.search(r"HOSTILE kernel_view modules=(\[.*?\]) files=(\[.*?\])", text)
    assert seen, "the kernel_view submission did not report"
    assert seen.groups() == ("[]", "[]"), seen.group(0)


def test_statuses_name_what_the_grader_saw(graded):
    rows = graded["rows"]
    assert "disk_limit" == rows[graded["files"]["disk_fill"]]["status"]
    assert "256 MB" in rows[graded["files"]["disk_fill"]]["message"] or "files" in rows[graded["files"]["disk_fill"]]["message"]
    stuck = rows[graded["files"]["sigint_blocked"]]["message"]
    assert "20 s cell timeout" in stuck and "did not stop when interrupted" in stuck, stuck
    assert rows[graded["files"]["fake_infrastructure"]]["status"] == "graded"  # its own exception is no grader fault


def test_feedback_shows_the_trusted_report_and_no_hidden_code(graded):
    text = _text(graded["out"] / "feedback" / "1003.html")
    assert "1 of 3 points: 1 of 3 checks passed (scored by the grader, outside your notebook)" in text
    assert "FAILED a single value [hidden check]" in text
    for secret in ("def one(mean)", "expect=", "itft-check-result", "_itft_scope", "BEGIN HIDDEN"):
        assert secret not in text, secret
