"""A private nbgrader course folder, and running nbgrader in it.

Every release or grading job works in its own folder (``source/``, ``release/``, a gradebook and a
copy of ``nbgrader_config.py``), so that parallel workers never share a SQLite gradebook and the
repository is never written to by nbgrader.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from itft_grader import forkserver

CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
COURSE_ENV = "ITFT_COURSE_DIR"


def course_root() -> Path:
    """The course folder (``solutions/``, ``notebooks/``, ``itft_utils/manifests/``): ``ITFT_COURSE_DIR``,
    which ``itft --course-dir`` sets, else the current folder, so an installed build works on a checkout."""
    return Path(os.environ.get(COURSE_ENV) or os.getcwd()).resolve()


def solutions_dir() -> Path:
    path = course_root() / "solutions"
    if not path.is_dir():
        raise FileNotFoundError(f"{course_root()} has no solutions/ folder: run this in the course folder (a checkout of "
                                "the instructor repository) or pass --course-dir")
    return path


def notebooks_dir() -> Path:
    return course_root() / "notebooks"


def manifests_dir() -> Path:
    return course_root() / "itft_utils" / "manifests"


class NbgraderError(RuntimeError):
    """nbgrader exited non-zero; the message carries the end of its log."""


def assignments(solutions: Path | None = None) -> list[str]:
    """Assignment ids: one per solution notebook (``solutions/hw1_mtl.ipynb`` -> ``hw1_mtl``)."""
    return sorted(p.stem for p in Path(solutions or solutions_dir()).glob("*.ipynb"))


def make_course(root: Path, assignment: str, source_notebook: Path) -> Path:
    """A course folder holding one assignment's source, ready for generate_assignment."""
    root = Path(root)
    (root / "source" / assignment).mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG, root / "nbgrader_config.py")
    shutil.copy(source_notebook, root / "source" / assignment / f"{assignment}.ipynb")
    return root


def run_nbgrader(root: Path, *args: str, timeout: float | None = None, env: dict | None = None,
                 memory: tuple[int, int | None] | None = None) -> str:
    """Run ``nbgrader ARGS`` in ``root``; return its log, or raise NbgraderError with the log's tail.

    Each run is a process of its own, forked from a server that imported nbgrader once
    (``forkserver.py``), in a session of its own so that a timeout (``subprocess.TimeoutExpired``)
    kills nbgrader *and* the kernel it started; ``memory``: its soft and hard address-space caps in
    MB (None: no cap)."""
    full_env = {**os.environ, **(env or {})}
    # nbgrader shells out to ``alembic`` (new gradebooks) by name: find it beside this interpreter even
    # when the environment was never activated (``.venv/bin/python -m pytest`` on a fresh clone).
    full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full_env.get("PATH", "")])
    argv = [*args, "--force", f"--CourseDirectory.root={root}"]
    fd, log_name = tempfile.mkstemp(prefix="itft-nbgrader-", suffix=".log")
    os.close(fd)
    try:
        try:
            code = forkserver.server().run(str(root), argv, full_env, log_name, memory, timeout)
        except forkserver.ServerDied as exc:  # the server died: the run failed, for the grader's reason
            code, note = None, f"\n{exc}"
        else:
            note = ""
        log = Path(log_name).read_text(errors="replace") + note
    finally:
        os.unlink(log_name)
    if code != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed (exit {code}):\n{log[-3000:]}")
    return log


def generate_assignment(root: Path, assignment: str) -> Path:
    """nbgrader's own generate_assignment; returns the student version it wrote."""
    run_nbgrader(root, "generate_assignment", assignment)
    return root / "release" / assignment / f"{assignment}.ipynb"
