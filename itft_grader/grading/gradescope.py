"""Grading on Gradescope when a course outgrows one machine: a bundle that runs the *same* pipeline,
built from the bundle alone.

Gradescope's autograder contract: a zip unpacked into ``/autograder/source``, whose ``setup.sh`` runs
once when the image is built and whose ``run_autograder`` runs per submission; the student's files
arrive in ``/autograder/submission/`` and the score goes to ``/autograder/results/results.json``. The
bundle carries the instructor build (this project's wheel: the grading package, the trusted checks and
their references), the solution notebook and ``constraints.txt``, the versions of the environment that
built it; ``setup.sh`` installs from those alone. ``run_autograder`` calls :func:`run`, which grades the
one notebook with ``grade_class`` and trusted scoring exactly as a local class run would, in the
bubblewrap sandbox where the container allows it (else it says so in the output: each submission has a
container of its own there), and writes Gradescope's ``results.json``.

    python -m itft_grader.grading.gradescope bundle hw1_mtl gradescope_hw1.zip [--wheel dist/itft_utils-*.whl]
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from itft_grader.course import course_root, solutions_dir
from itft_grader.grading.pipeline import STATUSES, GradingOptions, Result, grade_class
from itft_grader.sandbox.bwrap import SandboxUnavailable, preflight

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image set-up, from this bundle alone: Python, a CPU torch, then the instructor build (the
# grading package with its grader extra) from the wheel beside this file, at the versions it was built with.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${{PYTHON:-python3}}
if [ -z "${{ITFT_NO_APT:-}}" ]; then  # Gradescope's base image; an emulation brings its own Python
  apt-get update && apt-get install -y python3 python3-pip python3-venv
fi
"$PYTHON" -m pip install --index-url https://download.pytorch.org/whl/cpu -c constraints.txt torch
"$PYTHON" -m pip install -c constraints.txt "./{wheel}[grader]"
"""
RUN_AUTOGRADER = """#!/usr/bin/env bash
set -euo pipefail
ROOT=${{AUTOGRADER_ROOT:-/autograder}}
cd "$ROOT/source"
"${{PYTHON:-python3}}" -m itft_grader.grading.gradescope run {assignment} --root "$ROOT"
"""


def results_json(result: Result, seconds: float, note: str = "", student_visible: bool = True) -> dict:
    """Gradescope's results.json for one graded submission (manual cells at 0, for TAs to grade)."""
    visibility = "visible" if student_visible else "after_published"
    tests = []
    for number, (gid, max_score) in enumerate(result.max_scores.items(), start=1):
        score = result.scores.get(gid)
        tests.append({"name": gid, "number": str(number), "score": score or 0.0, "max_score": max_score,
                      "output": "graded by hand" if score is None else "", "visibility": visibility})
    output = " ".join(filter(None, [f"{STATUSES.get(result.status, result.status)}.", result.message, note]))
    return {"score": result.total, "execution_time": round(seconds), "output": output, "visibility": visibility,
            "tests": tests}


def _sandbox_note() -> tuple[bool, str]:
    try:
        preflight()
        return True, ""
    except SandboxUnavailable as exc:
        return False, (f"Graded without the bubblewrap sandbox ({str(exc).splitlines()[0][:200]}): this container, "
                       "one per submission, is the isolation here.")


def _student_id(root: Path) -> str:
    """The student's id from Gradescope's ``submission_metadata.json`` (the first user's ``sid``, which the
    class atlas's cells must carry), else a placeholder."""
    try:
        sid = str(json.loads((root / "submission_metadata.json").read_text())["users"][0].get("sid") or "")
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        sid = ""
    return sid if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", sid) else "0001"


def run(assignment: str, root: Path = Path("/autograder"), solutions: Path | None = None) -> dict:
    """Grade the single notebook in ``root/submission`` and write ``root/results/results.json``."""
    started = time.perf_counter()
    notebooks = sorted((root / "submission").glob("*.ipynb"))
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if len(notebooks) != 1:
        found = ", ".join(p.name for p in notebooks) or "none"
        payload = {"score": 0.0, "execution_time": 0, "output": f"submit exactly one .ipynb file (found: {found})",
                   "visibility": "visible", "tests": []}
        results_path.write_text(json.dumps(payload, indent=1))
        return payload
    sandbox, note = _sandbox_note()
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        # Gradescope knows who the student is; the pipeline wants an id in the file name.
        (inbox / f"gradescope_{_student_id(root)}.ipynb").write_bytes(notebooks[0].read_bytes())
        [result] = grade_class(inbox, assignment, Path(tmp) / "out", workers=1, options=GradingOptions(sandbox=sandbox),
                               pattern=r"^gradescope_(?P<student>[A-Za-z0-9._-]+)\.ipynb$",
                               solutions=solutions or root / "source" / "solutions", progress=False)
    payload = results_json(result, time.perf_counter() - started, note)
    results_path.write_text(json.dumps(payload, indent=1))
    return payload


def constraints(exclude: tuple[str, ...] = ("itft-utils", "itft_utils")) -> str:
    """``name==version`` of every distribution in this environment (local version labels dropped)."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in exclude:
            pins[name.lower()] = f"{name}=={dist.version.split('+')[0]}"
    return "\n".join(pins[k] for k in sorted(pins)) + "\n"


def build_wheel(out_dir: Path) -> Path:
    """The instructor build of this checkout (the grading package and the library), as pip builds it."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir), str(course_root())],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the wheel failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return next(Path(out_dir).glob("itft_utils-*.whl"))


def build_bundle(assignment: str, out_zip: Path, solutions: Path | None = None, wheel: Path | None = None) -> Path:
    """A Gradescope autograder zip: set-up, the run script, the wheel, the constraints and the solution
    notebook it grades against. Nothing in it reaches students: Gradescope keeps the autograder private."""
    with tempfile.TemporaryDirectory() as tmp:
        wheel = Path(wheel) if wheel else build_wheel(Path(tmp))
        with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in (("setup.sh", SETUP_SH.format(wheel=wheel.name)),
                               ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment))):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o755 << 16  # executable, as Gradescope runs them
                zf.writestr(info, text)
            zf.writestr("constraints.txt", constraints())
            zf.write(wheel, wheel.name)
            zf.write(Path(solutions or solutions_dir()) / f"{assignment}.ipynb", f"solutions/{assignment}.ipynb")
    return out_zip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m itft_grader.grading.gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bundle", help="write the autograder zip to upload to Gradescope")
    b.add_argument("assignment")
    b.add_argument("out_zip")
    b.add_argument("--wheel", default=None, help="the instructor build to ship (default: built from this checkout)")
    b.add_argument("--solutions", default=None, help="the solutions folder (default: the course folder's)")
    r = sub.add_parser("run", help="(inside Gradescope) grade ROOT/submission into ROOT/results/results.json")
    r.add_argument("assignment")
    r.add_argument("--root", default="/autograder", help="Gradescope's folder (default /autograder)")
    args = parser.parse_args(argv)
    if args.command == "bundle":
        print(build_bundle(args.assignment, Path(args.out_zip), Path(args.solutions) if args.solutions else None,
                           Path(args.wheel) if args.wheel else None))
    else:
        run(args.assignment, Path(args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
