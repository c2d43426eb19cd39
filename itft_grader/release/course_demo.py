"""The whole course, offline, in one command (``itft course``): the README's main job.

Builds the release from ``solutions/`` and checks it against the committed ``notebooks/``, then for
every homework grades a sample class (the solutions, the untouched student version and broken
submissions) in grading mode and prints the grade sheets. The class atlas runs in grading mode too: the
perfect student's notebook stores atlas cells run here (tiny model, seconds), which earn its atlas points.
"""
from __future__ import annotations

import time
from pathlib import Path

import nbformat

from itft_grader.course import assignments, solutions_dir
from itft_grader.grading.pipeline import grade_class, print_sheet
from itft_grader.release.build import check, release
from itft_grader.release.sample_class import write_sample_class

DEMO_ATLAS_MODE = "grading"


def run_course(out: Path, workers: int | None = None, solutions: Path | None = None) -> int:
    out, solutions = Path(out), Path(solutions or solutions_dir())
    names = assignments(solutions)
    if not names:
        print(f"no homework in {solutions}")
        return 1
    started_course = time.perf_counter()
    print(f"== release: {', '.join(names)}")
    built = release(names, solutions, out / "release" / "notebooks", out / "release" / "manifests")
    problems = check()
    print("committed notebooks/ match the fresh release" if not problems else "\n".join(problems))
    failures = len(problems)
    for name, student in zip(names, built):
        print(f"\n== {name}: grading a sample class")
        source = nbformat.read(Path(solutions) / f"{name}.ipynb", as_version=4)
        folder = write_sample_class(nbformat.read(student, as_version=4), source, out / name / "submissions",
                                    atlas=(DEMO_ATLAS_MODE, out / name / "atlas-runs"))
        started = time.perf_counter()
        results = grade_class(folder, name, out / name / "grading", workers=workers, solutions=solutions,
                              atlas_mode=DEMO_ATLAS_MODE)
        print_sheet(results)
        by_file = {r.file: r for r in results}
        perfect, untouched = by_file["smith_1001_solution.ipynb"], by_file["jones_1002_untouched.ipynb"]
        auto_max = sum(v for k, v in perfect.max_scores.items() if perfect.scores.get(k) is not None)
        ok = perfect.total == auto_max and untouched.total == 0
        failures += not ok
        graded = [r for r in results if r.seconds]
        per = sum(r.seconds for r in graded) / max(1, len(graded))
        print(f"solution {perfect.total:g}/{auto_max:g} auto-graded points, untouched student version {untouched.total:g}: "
              f"{'as expected' if ok else 'UNEXPECTED'}; {time.perf_counter() - started:.0f} s for {len(results)} files "
              f"({per:.1f} s per graded notebook); sheet: {out / name / 'grading' / 'grades.csv'}")
    print(f"\n== course: {len(names)} homeworks released and graded in {time.perf_counter() - started_course:.0f} s; "
          + ("all checks passed" if not failures else f"{failures} check(s) failed (see above)"))
    return 1 if failures else 0
