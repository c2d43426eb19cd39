"""The grading pipeline's parts on their own: identity and policies, signed results, the watchdog,
and the automatic retry of grader faults."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from itft_grader.course import assignments, notebooks_dir, solutions_dir  # noqa: E402
from itft_grader.grading import submission  # noqa: E402
from itft_grader.grading.results import Result, load_verified, save  # noqa: E402
from itft_grader.intake.delegation import forbidden_names, scan_for_delegation  # noqa: E402
from itft_grader.intake.submissions import Submission, counted, intake, junk_reason  # noqa: E402
from itft_grader.release.sample_class import solved  # noqa: E402
from itft_grader.sandbox.limits import WatchdogLimits  # noqa: E402


@pytest.mark.parametrize("path, junk", [
    ("__MACOSX/._doe_1001.ipynb", True), ("a/__MACOSX/x_1001.ipynb", True), ("._doe_1001.ipynb", True),
    (".DS_Store", True), ("hw/.ipynb_checkpoints/doe_1001-checkpoint.ipynb", True),
    ("doe_1001.ipynb", False), ("folder/doe_1001.ipynb", False), ("_1001.ipynb", False)])
def test_archive_junk(path, junk):
    assert (junk_reason(path) is not None) == junk


def test_zip_intake_skips_junk_but_keeps_it(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doe_1001.ipynb", "{}")
        zf.writestr("__MACOSX/._doe_1001.ipynb", b"\x00\x05")
        zf.writestr(".DS_Store", b"\x00")
    subs = intake(archive, tmp_path / "out")
    assert [(s.file, s.student_id, s.key) for s in subs] == [("doe_1001.ipynb", "1001", "1001")]
    manifest = json.loads((tmp_path / "out" / "originals" / "manifest.json").read_text())
    assert len(manifest) == 3 and sum("ignored" in m for m in manifest) == 2
    assert (tmp_path / "out" / "originals" / "._doe_1001.ipynb").read_bytes() == b"\x00\x05"


def test_claimed_id_is_noted_not_trusted(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["colab"] = {"name": "hw1_2002.ipynb"}
    nbformat.write(nb, inbox / "doe_1001.ipynb")
    [sub] = intake(inbox, tmp_path / "out")
    assert (sub.student_id, sub.claimed_id) == ("1001", "2002")


def _sub(key, sid, modified):
    return Submission(f"{key}.ipynb", sid, "0" * 64, Path(key), key=key, modified=modified)


def test_policies_pick_per_student():
    a1, a2, b = _sub("1001", "1001", "2026-01-02"), _sub("1001__2", "1001", "2026-01-01"), _sub("1002", "1002", "2026-01-01")
    pairs = [(a1, 2.0), (a2, 5.0), (b, 1.0)]
    assert counted(pairs, "latest") == {"1001", "1002"}
    assert counted(pairs, "best") == {"1001__2", "1002"}
    assert counted(pairs, "all") == {"1001", "1001__2", "1002"}
    with pytest.raises(ValueError, match="unknown policy"):
        counted(pairs, "first")


def test_results_are_reused_only_when_signed_for_this_file_and_setup(tmp_path):
    result = Result("1001", "doe_1001.ipynb", "a" * 64, "graded", "", scores={"t": 2.0}, max_scores={"t": 2.0}, key="1001")
    save(result, tmp_path, "setup-1")
    assert load_verified(tmp_path, "1001", "a" * 64, "setup-1") == result
    assert load_verified(tmp_path, "1001", "b" * 64, "setup-1") is None  # another file
    assert load_verified(tmp_path, "1001", "a" * 64, "setup-2") is None  # another release or options
    path = tmp_path / "results" / "1001.json"
    data = json.loads(path.read_text())
    data["result"]["scores"]["t"] = 0.0  # someone edits a score
    path.write_text(json.dumps(data))
    assert load_verified(tmp_path, "1001", "a" * 64, "setup-1") is None
    assert oct((tmp_path / ".grader-key").stat().st_mode & 0o777) == "0o600"


def test_watchdog_kills_a_tree_over_its_memory(tmp_path):
    pytest.importorskip("psutil")
    code = "import subprocess, sys, time\n" \
           "kids = [subprocess.Popen([sys.executable, '-c', \"b = b'x' * (80 * 2**20)\\nimport time\\ntime.sleep(60)\"]) for _ in range(3)]\n" \
           "time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    (tmp_path / "pid").write_text(str(proc.pid))
    limits = WatchdogLimits(memory_mb=150, max_pids=64)  # each child fits, the three together do not
    limits.watch(tmp_path / "pid")
    try:
        proc.wait(timeout=60)
    finally:
        limits.close()
        proc.kill()
    assert limits.exceeded() == "memory"


def test_a_grader_fault_is_retried_once(monkeypatch, tmp_path):
    from toy_assignment import release_toy, toy_solution

    from itft_grader.release.sample_class import solved

    release = release_toy(tmp_path)
    path = tmp_path / "doe_1001.ipynb"
    nbformat.write(solved(release, toy_solution()), path)
    sub = Submission(path.name, "1001", "0" * 64, path, key="1001")
    outcomes = iter([submission._Outcome("infrastructure", "the kernel did not start: busy"),
                     submission._Outcome("graded", scores={"add_tests": 2.0, "mean_tests": 3.0, "why_answer": None},
                                         isolation="bwrap+test")])
    monkeypatch.setattr(submission, "_attempt", lambda *a, **k: next(outcomes))
    result = submission.grade_one(sub, "toy", tmp_path, release, tmp_path, submission.GradingOptions())
    assert result.status == "graded_with_notes" and result.total == 5
    assert "retried once after a grader fault (the kernel did not start: busy)" in result.message
    twice = iter([submission._Outcome("infrastructure", "no cell started")] * 2)
    monkeypatch.setattr(submission, "_attempt", lambda *a, **k: next(twice))
    result = submission.grade_one(sub, "toy", tmp_path, release, tmp_path, submission.GradingOptions())
    assert result.status == "infrastructure" and result.total == 0


@pytest.mark.parametrize("name", assignments())
def test_declared_forbidden_names_exist_in_the_library(name):
    """A declaration that names nothing (a renamed or removed function) protects nothing: it must not rot."""
    from itft_grader.intake.delegation import _library_names

    source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
    library = _library_names()
    for cell in source.cells:
        for dotted in cell.metadata.get("itft", {}).get("forbidden", []):
            module, attr = dotted.rsplit(".", 1)
            assert attr in library.get(module, set()), f"{name}: {dotted} is declared forbidden but does not exist"


@pytest.mark.parametrize("name", assignments())
def test_honest_solutions_do_not_delegate_and_delegation_is_named(name):
    release = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
    forbidden = forbidden_names(source)
    assert forbidden, "every homework declares or implies names its answers may not call"
    good = solved(release, source)
    assert scan_for_delegation(good, forbidden) == []
    target = sorted(forbidden)[0]
    module, attr = target.rsplit(".", 1)
    answers = [c for c in good.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    answers[0].source += f"\nimport {module} as _m\n_x = _m.{attr}\nfrom itft_grader import pipeline\n"
    flags = scan_for_delegation(good, forbidden)
    n = good.cells.index(answers[0]) + 1
    assert any(f.startswith(f"cell {n}, line") and target in f for f in flags), flags
    assert any("imports the grading package" in f for f in flags), flags


def test_a_time_cap_in_the_setup_cell_is_the_graders_fault(tmp_path):
    """Importing the stack on a busy machine is no student's doing: infrastructure (retried), not timeout."""
    from toy_assignment import release_toy, toy_solution

    from itft_grader.release.sample_class import solved as solve

    release = release_toy(tmp_path)
    nb = solve(release, toy_solution())
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    progress = tmp_path / "progress.jsonl"
    options = submission.GradingOptions(timeout=30)
    for index, status in ((code[0], "infrastructure"), (code[2], "timeout")):  # the setup cell; a later one
        progress.write_text(json.dumps({"index": index, "grade_id": None, "time": time.time()}) + "\n")
        assert submission._timed_out(progress, nb, options, "bwrap+test").status == status
    progress.write_text("")
    assert submission._timed_out(progress, nb, options, "bwrap+test").status == "infrastructure"  # nothing started


def test_hostile_archive_members_and_folder_entries_are_kept_or_listed_never_followed(tmp_path):
    """A zip member named ``x/..`` once stopped the class (IsADirectoryError); a link in a submissions
    folder was followed and its target graded; a notebook nested 100,000 lists deep raised RecursionError."""
    import os

    from itft_grader.intake.normalize import SubmissionError, read_submission
    from itft_grader.intake.submissions import claimed_id

    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("sub_622/..", "{}")
        zf.writestr("/abs/x_3001.ipynb", "{ }")
    subs = intake(archive, tmp_path / "zip_out")
    kept = {p.name for p in (tmp_path / "zip_out" / "originals").iterdir()}
    assert len(subs) == 2 and all(s.path.is_file() and s.path.parent.name == "originals" for s in subs), kept
    assert [s.student_id for s in subs if s.file == ".."] == [None]  # graded as bad_filename, never a folder

    folder, secret = tmp_path / "in", tmp_path / "instructor_solution.ipynb"
    folder.mkdir()
    secret.write_text('{"cells": []}')
    (folder / "link_642.ipynb").symlink_to(secret)
    os.mkfifo(folder / "pipe_643.ipynb")
    (folder / "real_644.ipynb").write_text('{"cells": []}')
    subs = intake(folder, tmp_path / "dir_out")
    assert [s.file for s in subs] == ["real_644.ipynb"]
    manifest = {r["file"]: r for r in json.loads((tmp_path / "dir_out" / "originals" / "manifest.json").read_text())}
    assert "not followed" in manifest["link_642.ipynb"]["ignored"]
    assert "not a regular file" in manifest["pipe_643.ipynb"]["ignored"]
    assert not (tmp_path / "dir_out" / "originals" / "link_642.ipynb").exists()

    deep = ('{"cells": [], "metadata": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}").encode()
    assert claimed_id(deep, __import__("re").compile(r"(?P<student>\d+)")) is None
    with pytest.raises(SubmissionError, match="nested too deeply") as caught:
        read_submission(deep, "deep_645.ipynb")
    assert caught.value.status == "corrupt_notebook"


def test_a_grader_fault_on_one_file_is_that_files_row(monkeypatch, tmp_path):
    """Whatever a file provokes in the grader's own code ends as that file's row, not the class's end."""
    from toy_assignment import ASSIGNMENT, release_toy

    from itft_grader.grading import pipeline

    solutions = tmp_path / "solutions"
    solutions.mkdir()
    release_toy(solutions)
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_1001.ipynb").write_text("{}")

    def broken(sub, *args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(pipeline, "grade_one", broken)
    results = pipeline.grade_class(folder, ASSIGNMENT, tmp_path / "out", workers=1, solutions=solutions, progress=False,
                                   options=pipeline.GradingOptions(sandbox=False))
    assert [(r.file, r.status) for r in results] == [("a_1001.ipynb", "grading_error")]
    assert "RecursionError" in results[0].message and (tmp_path / "out" / "grades.csv").exists()


def test_the_printed_sheet_says_which_points_are_manual(capsys):
    from itft_grader.grading.results import print_sheet

    print_sheet([Result("1001", "a_1001.ipynb", "0" * 64, "graded", "", scores={"ex": 5.0, "essay": None},
                        max_scores={"ex": 5.0, "essay": 15.0}, key="1001")])
    assert "5/5 auto (+15 manual)" in capsys.readouterr().out


def test_a_grader_fault_in_a_check_is_infrastructure_not_the_students(tmp_path):
    """A hidden experiment that could not run stops nbgrader with the grader-fault marker in its log: the
    submission is retried and, failing again, marked ``infrastructure`` (0 until regraded), never scored as if
    the student's design had failed."""
    from itft_grader.checks.scoring import GRADER_FAULT

    progress = tmp_path / "progress.jsonl"
    progress.write_text(json.dumps({"index": 40, "grade_id": "design_tests", "time": time.time()}) + "\n")
    log = f"Traceback ...\nitft_grader.checks.experiments.ExperimentError: {GRADER_FAULT}: the hidden experiment 'schedule' could not run\n"
    outcome = submission._failed(log, progress, [], tmp_path / "no-status.json", None, submission.GradingOptions(), "bwrap+test")
    assert outcome.status == "infrastructure" and "could not run" in outcome.message
    assert submission._failed("Traceback ...\nValueError: boom\n", progress, [], tmp_path / "no-status.json", None,
                              submission.GradingOptions(), "bwrap+test").status == "grading_error"
