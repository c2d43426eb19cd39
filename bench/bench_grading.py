"""Grading scale: seconds per submission per homework, and a class of N with 1 and with 2 workers.

Every homework's solution is graded alone (grading mode, nbgrader autograde + feedback), then a class
of ``--class-size`` submissions of one homework (copies of the sample class: solutions, untouched and
broken notebooks, each under its own student id) is graded with 1 worker and with 2, side by side.

    python bench/bench_grading.py [--class-size 50] [--assignment hw1_mtl] [--out bench/out/grading.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import nbformat

from autograder.course import NOTEBOOKS, SOLUTIONS, assignments
from autograder.pipeline import grade_class
from autograder.sample_class import sample_class, solved


def _load(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4), nbformat.read(SOLUTIONS / f"{name}.ipynb", as_version=4)


def per_notebook(name: str, tmp: Path) -> float:
    release, source = _load(name)
    inbox = tmp / f"{name}-one"
    inbox.mkdir()
    nbformat.write(solved(release, source), inbox / "s_0001.ipynb")
    started = time.perf_counter()
    grade_class(inbox, name, tmp / f"{name}-one-out", workers=1, progress=False)
    return time.perf_counter() - started


def class_run(name: str, size: int, workers: int, tmp: Path) -> float:
    release, source = _load(name)
    files = [(f, data) for f, data in sample_class(release, source).items() if "_1" in f]  # those with a student id
    inbox = tmp / f"{name}-class-{workers}"
    inbox.mkdir()
    for i in range(size):
        kind, data = files[i % len(files)]
        (inbox / f"student_{5000 + i}_{kind.split('_', 2)[-1]}").write_bytes(data)
    started = time.perf_counter()
    grade_class(inbox, name, tmp / f"{name}-class-{workers}-out", workers=workers, progress=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--class-size", type=int, default=50)
    parser.add_argument("--assignment", default=None, help="homework for the class runs (default: the first)")
    parser.add_argument("--out", default="bench/out/grading.json")
    args = parser.parse_args()
    names = assignments()
    name = args.assignment or names[0]
    results = {"machine": common.machine(), "class_size": args.class_size, "assignment": name}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["seconds_per_notebook"] = {n: per_notebook(n, tmp) for n in names}
        print("seconds per submission (solution, graded alone):", json.dumps(results["seconds_per_notebook"]))
        for workers in (1, 2):
            seconds = class_run(name, args.class_size, workers, tmp)
            results[f"class_seconds_{workers}_workers"] = seconds
            print(f"{args.class_size} submissions of {name} with {workers} worker(s): {seconds:.0f} s "
                  f"({args.class_size / seconds * 60:.1f} submissions/min)")
    results["speedup_2_over_1"] = results["class_seconds_1_workers"] / results["class_seconds_2_workers"]
    print(f"2 workers vs 1: {results['speedup_2_over_1']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
