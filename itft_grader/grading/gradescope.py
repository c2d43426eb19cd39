"""Grading on Gradescope when a course outgrows one machine: a bundle that runs the *same* pipeline.

Gradescope's autograder contract: a zip with ``setup.sh`` (run once when the image is built) and
``run_autograder`` (run per submission); the student's files arrive in
``/autograder/submission/`` and the score goes to ``/autograder/results/results.json``. Our
``run_autograder`` calls :func:`run`, which grades the one notebook with ``grade_class`` exactly as
a local class run would, and converts the result into Gradescope's format (one test per grade cell).

    python -m itft_grader.grading.gradescope bundle hw1_mtl gradescope_hw1.zip
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

from itft_grader.course import solutions_dir
from itft_grader.grading.pipeline import STATUSES, GradingOptions, Result, grade_class
from itft_grader.release.build import load_settings

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image set-up: the grader extra brings nbgrader; a CPU torch keeps the image small.
set -euo pipefail
apt-get update && apt-get install -y python3 python3-pip python3-venv git
python3 -m pip install --index-url https://download.pytorch.org/whl/cpu "torch>=2.6"
python3 -m pip install "{install_source}" "nbgrader>=0.9.6"
"""
RUN_AUTOGRADER = """#!/usr/bin/env bash
set -euo pipefail
cd /autograder/source
python3 -m itft_grader.grading.gradescope run {assignment} --solutions /autograder/source/solutions
"""


def results_json(result: Result, student_visible: bool = True) -> dict:
    """Gradescope's results.json for one graded submission (manual cells are left at 0 for TAs)."""
    tests = []
    for gid, max_score in result.max_scores.items():
        score = result.scores.get(gid)
        tests.append({"name": gid, "score": score or 0.0, "max_score": max_score,
                      "output": "graded by hand" if score is None else "",
                      "visibility": "visible" if student_visible else "after_published"})
    output = f"{STATUSES.get(result.status, result.status)}. {result.message}".strip()
    return {"score": result.total, "output": output, "tests": tests}


def run(assignment: str, submission_dir: Path = Path("/autograder/submission"),
        results_path: Path = Path("/autograder/results/results.json"), solutions: Path | None = None) -> dict:
    """Grade the single notebook Gradescope hands us and write results.json."""
    notebooks = sorted(Path(submission_dir).glob("*.ipynb"))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if len(notebooks) != 1:
        found = ", ".join(p.name for p in notebooks) or "none"
        payload = {"score": 0.0, "output": f"submit exactly one .ipynb file (found: {found})", "tests": []}
        results_path.write_text(json.dumps(payload, indent=1))
        return payload
    with tempfile.TemporaryDirectory() as tmp:
        inbox = Path(tmp) / "in"
        inbox.mkdir()
        # Gradescope knows who the student is; the pipeline wants an id in the file name.
        (inbox / "gradescope_0001.ipynb").write_bytes(notebooks[0].read_bytes())
        # Gradescope gives every submission a container of its own: that is the isolation there
        # (Docker's default profile forbids the user namespaces bubblewrap needs).
        [result] = grade_class(inbox, assignment, Path(tmp) / "out", workers=1, options=GradingOptions(sandbox=False),
                               solutions=solutions, progress=False)
    payload = results_json(result)
    results_path.write_text(json.dumps(payload, indent=1))
    return payload


def build_bundle(assignment: str, out_zip: Path, solutions: Path | None = None) -> Path:
    """A Gradescope autograder zip: set-up, the run script, and the source notebook it grades against."""
    settings = load_settings()
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("setup.sh", SETUP_SH.format(install_source=settings["install_source"]))
        zf.writestr("run_autograder", RUN_AUTOGRADER.format(assignment=assignment))
        zf.write(Path(solutions or solutions_dir()) / f"{assignment}.ipynb", f"solutions/{assignment}.ipynb")
    return out_zip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m itft_grader.grading.gradescope", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bundle", help="write the autograder zip to upload to Gradescope")
    b.add_argument("assignment")
    b.add_argument("out_zip")
    r = sub.add_parser("run", help="(inside Gradescope) grade /autograder/submission")
    r.add_argument("assignment")
    r.add_argument("--solutions", default=None, help="the solutions folder (default: the course folder's)")
    args = parser.parse_args(argv)
    if args.command == "bundle":
        print(build_bundle(args.assignment, Path(args.out_zip)))
    else:
        run(args.assignment, solutions=Path(args.solutions) if args.solutions else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
