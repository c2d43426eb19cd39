"""The class atlas at scale: harvest, validate, aggregate and report a synthetic class (default 1,000
Homework 2 submissions over three targets, twelve of them bad in each way the tests know), timed per stage,
and Part 7's points decided for every submission as the grader decides them (``credit``, on the notebook
as submitted, from the library's facts computed once).

    python bench/bench_atlas.py [--students 1000] [--mode colab]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import common

from itft_grader.atlas.cells import credit, library_facts
from itft_grader.atlas.harvest import harvest, latest_submissions
from itft_grader.atlas.report import write_atlas
from itft_grader.atlas.sample import write_synthetic_class
from itft_utils.atlas import atlas_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=1000)
    parser.add_argument("--mode", default="colab", help="whose library: colab (3 targets, 84 cells) or grading (3 targets, 48)")
    args = parser.parse_args()
    library = atlas_library(args.mode)
    effects = {name: float(i % 7 - 3) for i, name in enumerate(library.sources)}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        plan, _ = write_synthetic_class(tmp, library, args.students, effects)
        made = time.perf_counter()
        result = harvest(tmp, library, plan)
        harvested = time.perf_counter()
        atlas = write_atlas(result, library, Path(tmp) / "atlas")
        written = time.perf_counter()
        students, _ = latest_submissions(Path(tmp) / "originals")
        facts = library_facts(library, list(students), plan)
        facts_made = time.perf_counter()
        earned = []
        for sid, name in students.items():
            try:  # a file that is no JSON never reaches nbgrader: the intake refuses it
                notebook = json.loads((Path(tmp) / "originals" / name).read_text())
            except ValueError:
                continue
            earned.append(sum(not reasons for reasons in credit(notebook, sid, facts).values()))
        credited = time.perf_counter()
    c = atlas["counts"]
    print(f"{args.students} submissions, {len(library.targets)} targets, {len(library.cells)} library cells in "
          f"{len(library.assignments)} assignments, on {common.machine()}")
    print(f"  writing the class: {made - started:.2f} s (not part of the harvest)")
    print(f"  harvest and checks: {harvested - made:.2f} s ({1000 * (harvested - made) / args.students:.2f} ms per submission)")
    print(f"  aggregate and report (JSON, CSV, HTML with figures): {written - harvested:.2f} s")
    print(f"  Part 7's points, every submission as the grader decides them: {credited - facts_made:.2f} s "
          f"({1000 * (credited - facts_made) / len(earned):.2f} ms each, the library's and the class's facts once: "
          f"{facts_made - written:.2f} s); points 2/1/0: {earned.count(2)}/{earned.count(1)}/{earned.count(0)}")
    print(f"  cells: {c['valid']} valid ({c['used']} used), {c['invalid']} invalid, {c['flagged']} flagged; "
          f"{c['unreadable']} problems; replicates judged at {atlas['tolerance']['value']:.2f} points (scores), "
          f"{atlas['tolerance']['gain_value']:.2f} (paired gains)")


if __name__ == "__main__":
    main()
