"""Grade a whole class: intake, a sandboxed nbgrader run per submission, feedback, grade sheet.

``grade_class(submissions, assignment, out)`` takes a folder or a zip as an LMS exports it (one file
per student, the student id in the file name) and writes under ``out``:

* ``originals/``: every file, byte for byte, and ``originals/manifest.json`` (sha256, junk marked);
* ``results/<key>.json``: one signed result per submitted file, written atomically; a rerun reuses
  a result only if its signature, file hash and grading set-up all match (``results.py``);
* ``feedback/<key>.html``: nbgrader's feedback, with the trusted checks' reports and outputs capped;
* ``grades.csv``: one row per file with per-exercise scores, whether it counts, a status and a message.

Each submission's kernel runs in a bubblewrap sandbox with its own limits (``sandbox.py``,
``limits.py``), so no submission can read another's files or the hidden tests, reach another kernel,
or write anything the grader reads back except through nbgrader's own channel.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

import nbformat

from itft_grader.checks import expected, experiments
from itft_grader.checks.spec import load_checks
from itft_grader.checks.submitted import course_facts, has_submission_checks
from itft_grader.course import CONFIG, generate_assignment, make_course, solutions_dir
from itft_grader.grading.results import STATUSES, Result, load_verified, print_sheet, save, write_sheet
from itft_grader.grading.submission import GradingOptions, grade_ids, grade_one, max_points, short_tmp
from itft_grader.intake.delegation import forbidden_names
from itft_grader.intake.submissions import DEFAULT_STUDENT_PATTERN, counted, intake
from itft_grader.sandbox.bwrap import preflight

__all__ = ["STATUSES", "Result", "GradingOptions", "grade_class", "print_sheet", "prepare_course"]


def prepare_course(work: Path, assignment: str, solutions: Path | None = None, atlas_mode: str | None = None,
                   students: Sequence[str] = (), atlas_plan: Mapping | None = None
                   ) -> tuple[Path, nbformat.NotebookNode, Path, Path]:
    """A master course folder with the assignment generated once (workers copy it), and, in files beside
    it that no kernel sees, computed once: the trusted checks' reference answers and the course's facts
    for the submission checks (``checks/submitted.py``; empty when the assignment has none)."""
    master = make_course(work / "_master", assignment, Path(solutions or solutions_dir()) / f"{assignment}.ipynb")
    release_nb = nbformat.read(generate_assignment(master, assignment), as_version=4)
    checks = load_checks(nbformat.read(master / "source" / assignment / f"{assignment}.ipynb", as_version=4))
    answers = expected.save(expected.reference_answers(checks), work / "reference_answers.json")
    facts = work / "course_facts.json"
    facts.write_text(json.dumps(course_facts(atlas_mode, students, atlas_plan) if has_submission_checks(checks) else {}))
    return master, release_nb, answers, facts


def fingerprint(master: Path, assignment: str, options: GradingOptions, answers: Path, facts: Path) -> str:
    """What a result depends on besides the file: the source notebook (its trusted checks), the
    references' answers to them, the course's facts, the hidden experiments, the config and the options."""
    digest = hashlib.sha256()
    digest.update((master / "source" / assignment / f"{assignment}.ipynb").read_bytes())
    digest.update(answers.read_bytes())
    digest.update(facts.read_bytes())
    digest.update(Path(experiments.__file__).read_bytes())  # the hidden experiments, and their bar
    digest.update(experiments.BAR.read_bytes())
    digest.update(CONFIG.read_bytes())
    digest.update(json.dumps(asdict(options), sort_keys=True).encode())
    return digest.hexdigest()


def grade_class(
    submissions: Path,
    assignment: str,
    out: Path,
    workers: int | None = None,
    options: GradingOptions | None = None,
    pattern: str | None = None,
    policy: str = "latest",
    solutions: Path | None = None,
    progress: bool = True,
    atlas_mode: str | None = None,
    atlas_plan: Mapping | None = None,
) -> list[Result]:
    """Grade every submission (reusing verified results) and write the sheet; returns the results.

    ``options`` sets the caps (time per submission and per cell, memory and processes per submission
    tree, output size) and the sandbox; ``policy`` says which of a student's several files count
    (``latest``, ``best``, ``all``); ``atlas_mode`` the mode the class runs Homework 2's atlas in (default:
    ``release.toml``'s ``atlas_mode``) and ``atlas_plan`` the plan the course published (``itft atlas-plan``),
    which decide the atlas part's points. Raises ``SandboxUnavailable``
    when the sandbox cannot run here, unless ``options.sandbox`` is False (the instructor's explicit
    ``--no-sandbox``).
    """
    from tqdm.auto import tqdm

    options = options or GradingOptions()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if options.sandbox:
        preflight()
    pattern = pattern or DEFAULT_STUDENT_PATTERN
    subs = intake(Path(submissions), out, pattern)
    with tempfile.TemporaryDirectory(prefix="itft-course-") as work, \
            tempfile.TemporaryDirectory(prefix="itft-x-", dir=short_tmp()) as private, \
            experiments.service(Path(private)) as service:
        master, release_nb, answers, facts = prepare_course(Path(work), assignment, solutions, atlas_mode,
                                                            sorted({s.student_id for s in subs if s.student_id}), atlas_plan)
        ids, key = grade_ids(release_nb), fingerprint(master, assignment, options, answers, facts)
        forbidden = forbidden_names(nbformat.read(master / "source" / assignment / f"{assignment}.ipynb", as_version=4))
        results: dict[str, Result] = {}
        todo = []
        for sub in subs:
            if sub.student_id is None:
                results[sub.key] = _not_graded(sub, release_nb, "bad_filename", f"{sub.file}: no student id found with "
                                               f"pattern {pattern!r}, or not a .ipynb; kept in originals/", scores={})
                continue
            if sub.problem:
                results[sub.key] = _not_graded(sub, release_nb, "too_large", sub.problem)
                continue
            done = load_verified(out, sub.key, sub.sha256, key)
            if done is not None:
                results[sub.key] = done
            else:
                todo.append(sub)
        workers = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(total=len(todo), desc=f"grading {assignment}",
                                                                 disable=not progress, unit="nb") as bar:
            futures = {pool.submit(grade_one, s, assignment, master, release_nb, out, options, forbidden, answers, facts,
                                   service): s for s in todo}
            for future in as_completed(futures):
                result = _result_or_error(future, futures[future], release_nb)
                save(result, out, key)
                results[result.key] = result
                bar.update(1)
    final = _apply_policy(subs, results, policy)
    write_sheet(final, ids, out / "grades.csv")
    return final


def _result_or_error(future, sub, release_nb: nbformat.NotebookNode) -> Result:
    """The submission's result; a fault of the grader's own code on one file becomes that file's row
    (``grading_error``, the exception named), so that one file never stops the class."""
    try:
        return future.result()
    except Exception as exc:  # any fault, whatever a file provoked, is one row's
        return _not_graded(sub, release_nb, "grading_error",
                           f"the grader failed on this file ({type(exc).__name__}: {str(exc)[:300]}); kept in originals/")


def _not_graded(sub, release_nb: nbformat.NotebookNode, status: str, message: str,
                scores: dict[str, float | None] | None = None) -> Result:
    """The row of a file no kernel ran: zero on every grade cell unless ``scores`` says otherwise."""
    zero: dict[str, float | None] = {k: 0.0 for k in grade_ids(release_nb)}
    return Result(sub.student_id or "", sub.file, sub.sha256, status, message, scores=zero if scores is None else scores,
                  max_scores=max_points(release_nb), key=sub.key, isolation="not run")


def _apply_policy(subs, results: dict[str, Result], policy: str) -> list[Result]:
    """Mark each student's files k/n and whether they count under the policy."""
    keep = counted([(s, results[s.key].total) for s in subs if s.student_id], policy)
    per_student: dict[str, list] = {}
    for sub in sorted(subs, key=lambda s: (s.modified, s.file)):
        if sub.student_id:
            per_student.setdefault(sub.student_id, []).append(sub.key)
    final = []
    for sub in subs:
        result = results[sub.key]
        if sub.student_id:
            keys = per_student[sub.student_id]
            result = replace(result, submission=f"{keys.index(sub.key) + 1}/{len(keys)}", counted=sub.key in keep)
            if len(keys) > 1 and "files from this student" not in result.message:
                note = f"{len(keys)} files from this student ({policy} counts)"
                result = replace(result, message="; ".join(filter(None, [result.message, note])))
        else:
            result = replace(result, counted=False, submission="")
        final.append(result)
    return final
