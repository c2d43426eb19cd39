"""Hidden experiments (``itft_grader/checks/experiments.py``): Homework 1's design exercise is scored by the
grader running the student's schedule, handed in as values, on a planted pair the notebook never shows.
The committed bar is what its command makes, a schedule that is no schedule says why, naive λ = 0.5 does
not beat itself, and every number the model answer quotes is printed by the command it names."""
from __future__ import annotations

import contextlib
import io
import re

import nbformat
import pytest

from itft_grader.checks import experiments
from itft_grader.course import solutions_dir
from itft_grader.release.sample_class import grade_cell

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_a_schedule_must_give_a_lambda_in_0_1_at_every_step():
    good = [0.5] * experiments.GRID
    assert experiments.usable_schedule(good) == (True, "")
    for bad, why in (([0.5] * 100, "at 101 points"), (good[:-1] + [1.5], "got 1.5"), (good[:-1] + [float("nan")], "got nan"),
                     (good[:-1] + [True], "got True"), ("0.5", "got str")):
        ok, detail = experiments.usable_schedule(bad)
        assert not ok and why in detail, (bad if isinstance(bad, str) else bad[-1], detail)
    assert experiments.beats_naive_mtl(good[:-1] + [2.0]) == (False, experiments.schedule_problem(good[:-1] + [2.0]))


def test_the_committed_bar_is_what_its_command_makes_and_naive_mtl_does_not_beat_itself():
    assert experiments.main(["--check"]) == 0
    passed, detail = experiments.beats_naive_mtl([0.5] * experiments.GRID)
    assert not passed and "naive λ = 0.5's: +0.0" in detail, detail


def test_the_model_answer_quotes_only_what_the_report_prints():
    answer = grade_cell(nbformat.read(solutions_dir() / "hw1_mtl.ipynb", as_version=4), "design_answer").source
    quoted = answer[answer.index("**Model answer"):answer.index("**Grading by mode")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        experiments.report()
    printed = out.getvalue()
    numbers = re.findall(r"[+-]?\d+\.\d", quoted)
    assert len(numbers) >= 10, numbers
    assert [n for n in numbers if n not in printed] == [], printed


def test_the_class_service_runs_the_experiment_that_an_nbgrader_run_asks_for(monkeypatch):
    """A class's grading runs the hidden experiments in its main process (``service``), where the training
    stack is imported once, not in every nbgrader run: the same verdict as in the calling process."""
    import tempfile
    from pathlib import Path

    design = [0.25 + 0.75 * k / 100 for k in range(experiments.GRID)]
    here = experiments.beats_naive_mtl(design)
    with tempfile.TemporaryDirectory(dir="/tmp") as folder, experiments.service(Path(folder)) as path:
        monkeypatch.setenv(experiments.SERVICE_ENV, str(path))
        assert experiments.beats_naive_mtl(design) == here and here[0]
        assert experiments.beats_naive_mtl([2.0] * experiments.GRID)[0] is False  # checked again where it runs
        with pytest.raises(experiments.ExperimentError, match="failed in the grader's service: KeyError"):
            experiments._run("no such experiment", design)
    # Without its service, an experiment is the grader's fault, not a failed check of the student's.
    monkeypatch.setenv(experiments.SERVICE_ENV, "/nonexistent/experiments.sock")
    with pytest.raises(experiments.ExperimentError, match="itft grader fault: the hidden experiment 'schedule' could not run"):
        experiments.beats_naive_mtl(design)
    assert not path.exists()
