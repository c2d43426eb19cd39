"""Grade a whole class: intake, normalisation, parallel autograding with caps, feedback, grade sheet.

``grade_class(submissions, assignment, out)`` takes a folder or a zip as an LMS exports it (one file
per student, the student id in the file name) and writes under ``out``:

* ``originals/``: every submitted file, byte for byte, and ``originals/manifest.json`` (sha256);
* ``results/<student>.json``: one result per submission, written atomically; a rerun skips every
  submission whose result matches the file's hash, so an interrupted run resumes where it stopped;
* ``feedback/<student>.html``: nbgrader's feedback;
* ``grades.csv``: one row per file with per-exercise scores, a status and a message.

Each submission is graded by nbgrader in a private copy of the course folder (its own gradebook),
in its own process session with a wall-time and a memory cap, so a student's infinite loop, memory
blow-up or ``os._exit`` never touches another student's grade.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .course import SOLUTIONS, NbgraderError, generate_assignment, make_course, run_nbgrader
from .normalize import SubmissionError, normalize

#: The first run of 3+ digits between underscores (Canvas: name_12345_678_file.ipynb; Moodle:
#: Name_12345_assignsubmission_file_x.ipynb; plain: 12345.ipynb). Override for other LMSs.
DEFAULT_STUDENT_PATTERN = r"(?:^|_)(?P<student>\d{3,})(?=_|\.ipynb$)"
# One thread per kernel: parallel workers share the cores instead of fighting over them (two torch
# threads per kernel made tiny grading runs 5-50x slower on a loaded 2-core machine).
GRADING_ENV = {"ITFT_MODE": "grading", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
STATUSES = {
    "graded": "graded",
    "graded_with_notes": "graded; the notebook was repaired first (see message)",
    "flagged": "graded, but flagged for a human to review (see message)",
    "timeout": "the notebook ran past the time cap; scored 0",
    "grading_error": "nbgrader could not grade it; scored 0",
    "corrupt_notebook": "not a readable notebook; scored 0",
    "empty_file": "the file is empty; scored 0",
    "not_this_assignment": "no cell of this assignment found; scored 0",
    "bad_filename": "no student id in the file name, or not a .ipynb; not graded",
}


@dataclass
class Submission:
    file: str  # name as submitted
    student_id: str | None
    sha256: str
    path: Path  # the kept original


@dataclass
class Result:
    student_id: str
    file: str
    sha256: str
    status: str
    message: str
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> auto score (None: manual)
    max_scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(v for v in self.scores.values() if v is not None)


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)


def intake(source: Path, out: Path, pattern: str = DEFAULT_STUDENT_PATTERN) -> list[Submission]:
    """Copy every file (from a folder or a zip) into ``out/originals`` byte for byte and identify it."""
    originals = out / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    entries: list[tuple[str, bytes]] = []
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            entries = [(Path(i.filename).name, zf.read(i)) for i in zf.infolist() if not i.is_dir()]
    elif source.is_dir():
        entries = [(p.name, p.read_bytes()) for p in sorted(source.rglob("*")) if p.is_file()]
    else:
        raise FileNotFoundError(f"{source}: neither a folder nor a zip of submissions")
    regex = re.compile(pattern)
    submissions, used_names, used_ids = [], set(), {}
    for name, data in sorted(entries):
        keep = name
        while keep in used_names:  # two files of one name inside a zip: keep both
            keep = f"dup_{keep}"
        used_names.add(keep)
        (originals / keep).write_bytes(data)
        match = regex.search(name) if name.endswith(".ipynb") else None
        sid = safe_id(match.group("student")) if match else None
        if sid is not None:
            used_ids[sid] = used_ids.get(sid, 0) + 1
            if used_ids[sid] > 1:  # a second file of one student is graded too, under its own row
                sid = f"{sid}__{used_ids[sid]}"
        submissions.append(Submission(name, sid, hashlib.sha256(data).hexdigest(), originals / keep))
    (originals / "manifest.json").write_text(json.dumps([{"file": s.file, "kept_as": s.path.name, "sha256": s.sha256,
                                                          "student_id": s.student_id} for s in submissions], indent=1))
    return submissions


def prepare_course(work: Path, assignment: str, solutions: Path = SOLUTIONS) -> tuple[Path, nbformat.NotebookNode]:
    """A master course folder with the assignment generated once; workers copy it."""
    master = make_course(work / "_master", assignment, Path(solutions) / f"{assignment}.ipynb")
    release_nb = nbformat.read(generate_assignment(master, assignment), as_version=4)
    return master, release_nb


def _limit_memory(megabytes: int):
    def apply() -> None:  # runs in the child before exec; the kernel inherits the limit
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _read_scores(root: Path, assignment: str, student: str) -> tuple[dict, dict]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(assignment, assignment, student)
        scores = {g.name: (None if g.needs_manual_grade else float(g.auto_score or 0.0)) for g in nb.grades}
        maxima = {g.name: float(g.max_score) for g in nb.grades}
    return scores, maxima


def grade_one(sub: Submission, assignment: str, master: Path, release_nb, out: Path, timeout: float, memory_mb: int,
              cell_timeout: int | None = None) -> Result:
    """Grade one submission in a private course folder; never raises for a student's fault."""
    started = time.perf_counter()
    base = dict(student_id=sub.student_id, file=sub.file, sha256=sub.sha256)
    zero = {k: 0.0 for k in _grade_ids(release_nb)}
    maxima = _max_points(release_nb)
    try:
        fixed = normalize(sub.path.read_bytes(), sub.file, release_nb)
    except SubmissionError as exc:
        return Result(**base, status=exc.status, message=str(exc), scores=zero, max_scores=maxima)
    with tempfile.TemporaryDirectory(prefix=f"itft-grade-{sub.student_id}-") as tmp:
        root = Path(tmp) / "course"
        shutil.copytree(master, root)
        target = root / "submitted" / sub.student_id / assignment / f"{assignment}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(fixed.notebook, target)
        log_path = out / "logs" / f"{sub.student_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            extra = [f"--Execute.timeout={cell_timeout}"] if cell_timeout else []
            log = run_nbgrader(root, "autograde", assignment, f"--student={sub.student_id}", "--create", *extra,
                               timeout=timeout, env=GRADING_ENV, preexec_fn=_limit_memory(memory_mb))
            log += run_nbgrader(root, "generate_feedback", assignment, f"--student={sub.student_id}", timeout=120)
            scores, maxima = _read_scores(root, assignment, sub.student_id)
        except subprocess.TimeoutExpired:
            log_path.write_text(f"timed out after {timeout:.0f} s\n")
            return Result(**base, status="timeout", message=f"grading stopped after {timeout:.0f} s (infinite loop or very slow code?)",
                          scores=zero, max_scores=maxima, seconds=time.perf_counter() - started)
        except NbgraderError as exc:
            log_path.write_text(str(exc))
            return Result(**base, status="grading_error", message=_last_error(str(exc)), scores=zero, max_scores=maxima,
                          seconds=time.perf_counter() - started)
        log_path.write_text(log)
        feedback = root / "feedback" / sub.student_id / assignment / f"{assignment}.html"
        if feedback.exists():
            (out / "feedback").mkdir(exist_ok=True)
            shutil.copy(feedback, out / "feedback" / f"{sub.student_id}.html")
    status = "flagged" if fixed.flags else "graded_with_notes" if fixed.notes else "graded"
    message = "; ".join(fixed.flags + fixed.notes)
    return Result(**base, status=status, message=message, scores=scores, max_scores=maxima, seconds=time.perf_counter() - started)


def _grade_ids(release_nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _max_points(release_nb) -> dict[str, float]:
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
            for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def _last_error(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["nbgrader failed"])[-1][:300]


def _save(result: Result, out: Path) -> None:
    path = out / "results" / f"{result.student_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result), indent=1))
    os.replace(tmp, path)  # atomic: an interrupted run never leaves half a result


def _load(path: Path) -> Result | None:
    try:
        return Result(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_sheet(results: list[Result], grade_ids: list[str], path: Path) -> Path:
    """The grade sheet: one row per submitted file, same bytes for the same results."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "file", "status", "auto_score", "max_score", "manual_pending", *grade_ids, "message"])
        for r in sorted(results, key=lambda r: (r.student_id or "~", r.file)):
            manual = sum(r.max_scores.get(g, 0) for g, v in r.scores.items() if v is None)
            writer.writerow([r.student_id or "", r.file, r.status, f"{r.total:g}", f"{sum(r.max_scores.values()):g}", f"{manual:g}",
                             *["" if r.scores.get(g) is None else f"{r.scores[g]:g}" for g in grade_ids], r.message])
    return path


def grade_class(
    submissions: Path,
    assignment: str,
    out: Path,
    workers: int | None = None,
    timeout: float = 300.0,
    memory_mb: int = 6144,
    cell_timeout: int | None = None,
    pattern: str | None = None,
    solutions: Path = SOLUTIONS,
    progress: bool = True,
) -> list[Result]:
    """Grade every submission (resuming finished ones) and write the sheet; returns the results.

    ``timeout`` caps a whole submission (seconds), ``cell_timeout`` one cell (default: the course
    config's), ``memory_mb`` the address space of nbgrader and the student's kernel.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    pattern = pattern or DEFAULT_STUDENT_PATTERN
    subs = intake(Path(submissions), out, pattern)
    with tempfile.TemporaryDirectory(prefix="itft-course-") as work:
        master, release_nb = prepare_course(Path(work), assignment, solutions)
        grade_ids = _grade_ids(release_nb)
        results: list[Result] = []
        todo = []
        for sub in subs:
            if sub.student_id is None:
                results.append(Result("", sub.file, sub.sha256, "bad_filename",
                                      f"{sub.file}: no student id found with pattern {pattern!r}, or not a .ipynb; kept in originals/",
                                      max_scores=_max_points(release_nb)))
                continue
            done = _load(out / "results" / f"{sub.student_id}.json")
            if done is not None and done.sha256 == sub.sha256:
                results.append(done)
            else:
                todo.append(sub)
        workers = workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=workers) as pool, tqdm(total=len(todo), desc=f"grading {assignment}",
                                                                 disable=not progress, unit="nb") as bar:
            futures = [pool.submit(grade_one, s, assignment, master, release_nb, out, timeout, memory_mb, cell_timeout) for s in todo]
            for future in as_completed(futures):
                result = future.result()
                _save(result, out)
                results.append(result)
                bar.update(1)
    write_sheet(results, grade_ids, out / "grades.csv")
    return results


def print_sheet(results: list[Result]) -> None:
    """The grade sheet as a terminal table (the CSV has every column)."""
    print(f"{'student':<12} {'file':<34} {'status':<19} {'score':>9}  message")
    for r in sorted(results, key=lambda r: (r.student_id or "~", r.file)):
        score = f"{r.total:g}/{sum(r.max_scores.values()):g}"
        print(f"{r.student_id or '-':<12} {r.file[:34]:<34} {r.status:<19} {score:>9}  {r.message[:90]}")
