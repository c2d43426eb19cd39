"""Grade one submission: normalise it, run nbgrader with its kernel in a sandbox, and when it cannot
be graded say why, with the cell (``kernel_died``, ``exited_early``, ``timeout``, ``output_limit``,
``infrastructure``: the last is retried once, since it is the grader's fault, not the student's).

Test cells are scored by trusted checks in nbgrader's process (``checks/execute.py``), which stores
the scores in nbgrader's gradebook in a private course folder that the kernel never sees, and writes
what it saw (cell timeouts, each check) to a record in the grader's private folder: statuses come
from that record, the progress file and bwrap's exit status, never from what the notebook printed.
The feedback is written from the graded notebook after oversized outputs are cut and the hidden
tests are taken out again (``feedback.py``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from itft_grader.checks.execute import RECORD_ENV, REFERENCES_ENV
from itft_grader.checks.experiments import SERVICE_ENV
from itft_grader.checks.scoring import GRADER_FAULT
from itft_grader.checks.submitted import COURSE_ENV, STUDENT_ENV
from itft_grader.course import NbgraderError, run_nbgrader
from itft_grader.grading.feedback import cap_outputs, hide_hidden_tests
from itft_grader.grading.progress import PROGRESS_ENV, describe, last_cell
from itft_grader.grading.results import Result
from itft_grader.intake.normalize import SubmissionError, normalize
from itft_grader.intake.submissions import Submission
from itft_grader.sandbox.bwrap import describe_exit, kernel_exit, make_plan, save_plan, write_kernelspec
from itft_grader.sandbox.limits import ScratchWatch, TreeLimits, open_limits

# One thread per kernel: parallel workers share the cores instead of fighting over them (two torch
# threads per kernel made tiny grading runs 5-50x slower on a loaded 2-core machine).
GRADING_ENV = {"ITFT_MODE": "grading", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class GradingOptions:
    timeout: float = 300.0  # one whole submission, seconds
    memory_mb: int = 6144  # the submission's whole process tree
    cell_timeout: int | None = None  # one cell; None: nbgrader_config.py's
    sandbox: bool = True  # False only by the instructor's explicit --no-sandbox
    max_pids: int = 512  # processes and threads of the tree
    disk_mb: int = 1024  # the scratch folder (HOME and working folder) on the grader's disk
    disk_files: int = 50_000  # files in the scratch folder
    output_kb: int = 256  # one output, in the graded notebook and the feedback
    grader_memory_mb: int = 4096  # nbgrader itself (a flood of output must not take the grader down)
    limits: str = "auto"  # how the tree's limits are enforced: "auto" (the best available) or "watchdog"


@dataclass
class _Outcome:
    status: str
    message: str = ""
    scores: dict = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    cut: list[str] = field(default_factory=list)  # outputs cut to the size cap, one note per cell
    notes: list[str] = field(default_factory=list)  # what else the grader saw (a cell interrupted at its timeout)
    isolation: str = ""


def grade_ids(release_nb: NotebookNode) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def max_points(release_nb: NotebookNode) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
            for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def grade_one(sub: Submission, assignment: str, master: Path, release_nb: NotebookNode, out: Path,
              options: GradingOptions, forbidden: set[str] | None = None, references: Path | None = None,
              facts: Path | None = None, experiments: Path | None = None) -> Result:
    """Grade one submission in a private course folder; never raises for a student's fault.
    ``references``: the trusted checks' reference answers, ``facts`` the course's facts for the submission
    checks (else nbgrader's run computes them), ``experiments`` the class's experiment service (else
    nbgrader's run runs the hidden experiments itself)."""
    started = time.perf_counter()
    base: dict[str, Any] = dict(student_id=sub.student_id, file=sub.file, sha256=sub.sha256, key=sub.key,
                                max_scores=max_points(release_nb))
    zero: dict[str, float | None] = {k: 0.0 for k in grade_ids(release_nb)}
    try:
        fixed = normalize(sub.path.read_bytes(), sub.file, release_nb, forbidden)
    except SubmissionError as exc:
        return Result(**base, status=exc.status, message=str(exc), scores=zero, isolation="not run")
    notes = list(fixed.notes)
    if sub.claimed_id:
        notes.append(f"the notebook names student {sub.claimed_id} inside; graded as {sub.student_id} (its file name)")
    for attempt in (1, 2):
        outcome = _attempt(sub, fixed.notebook, assignment, master, release_nb, out, options,
                           {REFERENCES_ENV: references, COURSE_ENV: facts, SERVICE_ENV: experiments})
        if outcome.status != "infrastructure" or attempt == 2:
            break
        notes.append(f"retried once after a grader fault ({outcome.message})")
    flags = fixed.flags + outcome.flags
    notes += outcome.notes + outcome.cut
    status = outcome.status
    if status == "graded":
        status = "flagged" if flags else "output_limit" if outcome.cut else "graded_with_notes" if notes else "graded"
    message = "; ".join(([outcome.message] if outcome.message else []) + flags + notes)
    return Result(**base, status=status, message=message, scores=outcome.scores or zero, isolation=outcome.isolation,
                  seconds=time.perf_counter() - started)


def short_tmp() -> str:
    """A short temporary folder: Unix socket paths (the kernel's IPC) must stay under 108 bytes."""
    default = tempfile.gettempdir()
    return default if len(default) <= 20 else "/tmp"


def _attempt(sub: Submission, notebook: NotebookNode, assignment: str, master: Path, release_nb: NotebookNode,
             out: Path, options: GradingOptions, shared: dict[str, Path | None]) -> _Outcome:
    work = Path(tempfile.mkdtemp(prefix="itft-", dir=short_tmp()))
    root, scratch, private = work / "course", work / "s", work / "p"
    private.mkdir(mode=0o700)
    limits: TreeLimits | None = None
    disk: ScratchWatch | None = None
    try:
        shutil.copytree(master, root)
        target = root / "submitted" / sub.key / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(notebook, target)
        progress, record = private / "progress.jsonl", private / "trusted.json"
        env = {**GRADING_ENV, PROGRESS_ENV: str(progress), RECORD_ENV: str(record), STUDENT_ENV: sub.student_id or "",
               **{name: str(path) for name, path in shared.items() if path is not None}}
        if options.sandbox:
            limits = open_limits(options.memory_mb, options.max_pids, options.limits)
            plan = make_plan(scratch, private, GRADING_ENV, cgroup_procs=limits.procs_files(), cpu_seconds=int(options.timeout))
            write_kernelspec(private / "jupyter", save_plan(plan, private / "plan.json"))
            env.update(ITFT_SANDBOX="1", JUPYTER_RUNTIME_DIR=plan.env["JUPYTER_RUNTIME_DIR"],
                       JUPYTER_PATH=os.pathsep.join(filter(None, [str(private / "jupyter"), os.environ.get("JUPYTER_PATH")])))
            limits.watch(Path(plan.pid_file))
            disk = ScratchWatch(scratch, options.disk_mb, options.disk_files, Path(plan.pid_file))
            isolation = f"bwrap+{limits.kind}"
            cap: tuple[int, int | None] = (options.grader_memory_mb, None)  # nbgrader's own soft cap; the kernel's is the cgroup's
        else:
            isolation, cap = "none (--no-sandbox)", (options.memory_mb, options.memory_mb)
        extra = [f"--Execute.timeout={options.cell_timeout}"] if options.cell_timeout else []
        log_path = out / "logs" / f"{sub.key}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            log = run_nbgrader(root, "autograde", assignment, f"--student={sub.key}", "--create", *extra,
                               timeout=options.timeout, env=env, memory=cap)
        except subprocess.TimeoutExpired:
            log_path.write_text(f"timed out after {options.timeout:.0f} s\n")
            return _timed_out(progress, notebook, options, isolation)
        except NbgraderError as exc:
            log_path.write_text(str(exc) + _tail(private / "kernel.log"))
            if disk is not None and disk.hit:
                return _Outcome("disk_limit", f"the notebook wrote more than {disk.hit} into its folder "
                                f"{describe(last_cell(progress))}; it was stopped there", isolation=isolation)
            return _failed(str(exc), progress, _timeouts(record), private / "kernel-status.json", limits, options,
                           isolation)
        log_path.write_text(log)
        graded_path = root / "autograded" / sub.key / assignment / f"{assignment}.ipynb"
        graded = nbformat.read(graded_path, as_version=4)
        timeouts = _timeouts(record)
        if any(t["index"] in _setup_indices(graded) for t in timeouts):
            return _Outcome("infrastructure", "the setup cell timed out (importing the stack on a busy machine?)", isolation=isolation)
        flags: list[str] = []
        seen = [f"cell {t['index'] + 1} ran past the {t['seconds']} s cell timeout and was interrupted; the cells after it ran"
                for t in timeouts]
        cut = cap_outputs(graded, options.output_kb * 1024)
        hide_hidden_tests(graded, release_nb)
        nbformat.write(graded, graded_path)
        run_nbgrader(root, "generate_feedback", assignment, f"--student={sub.key}", timeout=120)
        feedback = root / "feedback" / sub.key / assignment / f"{assignment}.html"
        if feedback.exists():
            (out / "feedback").mkdir(exist_ok=True)
            shutil.copy(feedback, out / "feedback" / f"{sub.key}.html")
        scores = _read_scores(root, assignment, sub.key)
        hit = limits.exceeded() if limits else None
        if hit:  # graded all the same, but a human should know the submission ran into a cap
            flags.append(f"the submission reached the {_cap(hit, options)} cap (its cells after that may have failed)")
        return _Outcome("graded", scores=scores, flags=flags, cut=cut, notes=seen, isolation=isolation)
    finally:
        if disk is not None:
            disk.close()
        if limits is not None:
            limits.close()
        _kill_sandbox(private / "sandbox.pid")
        shutil.rmtree(work, ignore_errors=True)


def _tail(path: Path, size: int = 20_000) -> str:
    """The end of the kernel's own output, for the log of a failed run."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return "\n--- end of the kernel's own output ---\n" + f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_sandbox(pid_file: Path) -> None:
    """The sandbox dies with nbgrader (PDEATHSIG), and its tree with it; this is the belt to those braces."""
    try:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _timed_out(progress: Path, notebook: NotebookNode, options: GradingOptions, isolation: str) -> _Outcome:
    record = last_cell(progress)
    if record is None:
        return _Outcome("infrastructure", f"no cell started within {options.timeout:.0f} s (the kernel did not start)",
                        isolation=isolation)
    if record["index"] in _setup_indices(notebook):
        return _Outcome("infrastructure", f"the time cap ran out {describe(record)}, the setup (importing the stack "
                        "on a busy machine?)", isolation=isolation)
    return _Outcome("timeout", f"grading stopped after {options.timeout:.0f} s {describe(record)}, which had run "
                    f"{record['seconds']:.0f} s (infinite loop or very slow code?)", isolation=isolation)


def _failed(log: str, progress: Path, timeouts: list[dict], status_file: Path, limits: TreeLimits | None,
            options: GradingOptions, isolation: str) -> _Outcome:
    """Why nbgrader could not finish: the kernel's fate first, then the grader's."""
    record = last_cell(progress)
    where = describe(record)
    hit = limits.exceeded() if limits else None
    code = kernel_exit(status_file)
    stuck = [t for t in timeouts if not t["stopped"]]
    if stuck:
        return _Outcome("timeout", f"cell {stuck[0]['index'] + 1} ran past the {stuck[0]['seconds']} s cell timeout and did "
                        "not stop when interrupted (a loop that ignores interrupts?)", isolation=isolation)
    if hit:
        return _Outcome("kernel_died", f"killed on reaching the {_cap(hit, options)} cap {where}", isolation=isolation)
    if code is not None and code > 128:
        return _Outcome("kernel_died", f"the kernel was {describe_exit(code)} {where}", isolation=isolation)
    if code is not None:
        return _Outcome("exited_early", f"the kernel {describe_exit(code)} {where}; later cells could not run", isolation=isolation)
    if "Kernel died" in log or "DeadKernelError" in log:
        return _Outcome("kernel_died", f"the kernel died {where}", isolation=isolation)
    if "MemoryError" in log:
        return _Outcome("output_limit", f"the notebook's output overwhelmed the grader {where}", isolation=isolation)
    if record is None:
        return _Outcome("infrastructure", f"the kernel did not start: {_last_error(log)}", isolation=isolation)
    if GRADER_FAULT in log:
        return _Outcome("infrastructure", next(line for line in log.splitlines() if GRADER_FAULT in line)[-300:],
                        isolation=isolation)
    return _Outcome("grading_error", _last_error(log), isolation=isolation)


def _cap(hit: str, options: GradingOptions) -> str:
    return f"{options.memory_mb} MB memory" if hit == "memory" else f"{options.max_pids}-process"


def _setup_indices(nb: NotebookNode) -> list[int]:
    """The first code cell: the setup cell (importing the stack), whose running out of time is the
    machine's fault, not the student's."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code"][:1]


def _timeouts(record: Path) -> list[dict]:
    """The cell timeouts nbgrader's process saw (``checks/execute.py``): index, seconds, stopped."""
    try:
        return json.loads(record.read_text())["timeouts"]
    except (OSError, ValueError, KeyError):
        return []


def _read_scores(root: Path, assignment: str, student: str) -> dict[str, float | None]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(assignment, assignment, student)
        return {g.name: (None if g.needs_manual_grade else float(g.auto_score or 0.0)) for g in nb.grades}


def _last_error(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip() and "Please see the" not in line]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["nbgrader failed"])[-1][:300]
