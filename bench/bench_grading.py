"""Grading scale: seconds per submission per homework, and a class of N with 1 and with 2 workers.

Every homework's solution is graded alone (grading mode, nbgrader autograde + feedback), then a class
of ``--class-size`` submissions of one homework (copies of the sample class: solutions, untouched and
broken notebooks, each under its own student id) is graded with 1 worker and with 2, side by side.
``--sandbox-overhead`` instead grades one class with the bubblewrap sandbox and without it
(``--no-sandbox``), alternating ``--repeats`` times, and prints seconds per submission and the ratio;
with ``--against REV`` it also grades the class with the pipeline of git revision REV (a worktree,
its ``grade_class`` defaults, in a subprocess), so the sandboxed pipeline is compared with an older one.
``--per-notebook --against REV`` grades each homework's solution alone with this checkout and with
revision REV (its own solutions and pipeline: before trusted checks, test cells ran in the kernel),
sandbox on, alternating ``--repeats`` times, and prints seconds per notebook and their ratio.
``--throughput`` grades a mixed class of ``--class-size`` submissions of *every* homework with 2 workers,
sandbox on (with ``--against REV`` also by that revision's pipeline, in alternating order), and prints
seconds per submission, the projection to a class of 300, and the solution and the untouched version
(the floor of a real submission: its kernel, imports, nbgrader and feedback) each graded alone.
``--phases`` first grades each solution alone and prints where its seconds go.

    python bench/bench_grading.py --throughput --class-size 60 [--against 39b910b] [--phases] --out bench/results/grading/throughput.json
    python bench/bench_grading.py [--class-size 50] [--assignment hw1_mtl] [--out bench/out/grading.json]
    python bench/bench_grading.py --sandbox-overhead [--class-size 12] [--repeats 2] [--against 314dcb9]
    python bench/bench_grading.py --per-notebook --against 8b0f461 [--repeats 2]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import nbformat

from itft_grader.course import COURSE_ENV, assignments, notebooks_dir, solutions_dir
from itft_grader.grading.pipeline import GradingOptions, grade_class
from itft_grader.release.sample_class import sample_class, solved

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault(COURSE_ENV, str(REPO))  # this checkout is the course


def _load(name: str):
    return nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4), nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)


def per_notebook(name: str, tmp: Path) -> float:
    release, source = _load(name)
    inbox = tmp / f"{name}-one"
    inbox.mkdir()
    nbformat.write(solved(release, source), inbox / "s_0001.ipynb")
    started = time.perf_counter()
    grade_class(inbox, name, tmp / f"{name}-one-out", workers=1, progress=False)
    return time.perf_counter() - started


def _class_inbox(name: str, size: int, inbox: Path) -> Path:
    release, source = _load(name)
    files = [(f, data) for f, data in sample_class(release, source).items() if "_1" in f]  # those with a student id
    inbox.mkdir()
    for i in range(size):
        kind, data = files[i % len(files)]
        (inbox / f"student_{5000 + i}_{kind.split('_', 2)[-1]}").write_bytes(data)
    return inbox


def class_run(name: str, size: int, workers: int, tmp: Path, sandbox: bool = True, tag: str = "") -> float:
    inbox = tmp / f"{name}-class-{size}"
    if not inbox.exists():
        _class_inbox(name, size, inbox)
    started = time.perf_counter()
    grade_class(inbox, name, tmp / f"{name}-class-{workers}-{sandbox}-{tag}-out", workers=workers,
                options=GradingOptions(sandbox=sandbox), progress=False)
    return time.perf_counter() - started


def revision_run(worktree: Path, name: str, size: int, tmp: Path, tag: str, inbox: Path | None = None) -> float:
    """The class (or ``inbox``) graded by another revision's pipeline and solutions (its defaults, 2
    workers), in a subprocess."""
    inbox = inbox or tmp / f"{name}-class-{size}"
    code = ("from pathlib import Path\ntry:\n    from itft_grader.grading.pipeline import grade_class\n"
            "except ImportError:  # a revision before the grading package was laid out by stage\n"
            "    from itft_grader.pipeline import grade_class\n"
            f"grade_class(Path({str(inbox)!r}), {name!r}, Path({str(tmp / f'rev-{name}-{tag}-out')!r}), workers=2, progress=False)")
    env = {**os.environ, "PYTHONPATH": str(worktree), COURSE_ENV: str(worktree)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=worktree, env=env, check=True)
    return time.perf_counter() - started


def sandbox_overhead(name: str, size: int, repeats: int, tmp: Path, against: str | None = None) -> dict:
    """The same class with and without the sandbox (and by revision ``against``), in rotating order
    so that drift of the machine hits every kind alike."""
    kinds = ["sandbox", "no_sandbox"] + ([f"revision_{against}"] if against else [])
    seconds: dict[str, list[float]] = {k: [] for k in kinds}
    _class_inbox(name, size, tmp / f"{name}-class-{size}")
    worktree = tmp / "revision"
    if against:
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), against], check=True, capture_output=True, cwd=REPO)
    try:
        for r in range(repeats):
            for kind in kinds[r % len(kinds):] + kinds[: r % len(kinds)]:
                if kind.startswith("revision"):
                    took = revision_run(worktree, name, size, tmp, str(r))
                else:
                    took = class_run(name, size, 2, tmp, sandbox=kind == "sandbox", tag=str(r))
                seconds[kind].append(took)
                print(f"repeat {r}: {kind:<20} {took:.0f} s ({took / size:.2f} s per submission)")
    finally:
        if against:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], check=False, cwd=REPO)
    per = {k: sum(v) / len(v) / size for k, v in seconds.items()}
    ratios = {f"{k}_over_sandbox": per[k] / per["sandbox"] for k in kinds[1:]}
    ratios["sandbox_over_no_sandbox"] = per["sandbox"] / per["no_sandbox"]
    if against:
        ratios[f"sandbox_over_revision_{against}"] = per["sandbox"] / per[f"revision_{against}"]
    print("seconds per submission:", ", ".join(f"{k} {v:.2f}" for k, v in per.items()))
    print("ratios:", ", ".join(f"{k} {v:.3f}" for k, v in ratios.items() if not k.endswith("_over_sandbox")))
    return {"seconds": seconds, "seconds_per_submission": per, "ratios": ratios, "against": against}


@contextlib.contextmanager
def revision_worktree(tmp: Path, against: str) -> Iterator[Path]:
    """A git worktree of revision ``against`` whose sandboxed kernels import its own packages."""
    worktree = tmp / "revision"
    subprocess.run(["git", "worktree", "add", "--detach", str(worktree), against], check=True, capture_output=True, cwd=REPO)
    # The revision's packages come from PYTHONPATH, which its sandbox clears; the kernel would then find
    # this checkout's editable install, which its sandbox does not bind. Plumbing only: let it through.
    passed = 'PASSED_ENV = ("NBGRADER_EXECUTION",'
    for launcher in (worktree / "itft_grader" / "sandbox.py", worktree / "itft_grader" / "sandbox" / "bwrap.py"):
        if launcher.exists() and passed in launcher.read_text():
            launcher.write_text(launcher.read_text().replace(passed, passed.replace("(", '("PYTHONPATH", ')))
    try:
        yield worktree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], check=False, cwd=REPO)


def per_notebook_against(names: list[str], repeats: int, tmp: Path, against: str) -> dict:
    """Each homework's solution graded alone by this checkout and by revision ``against``, sandbox on,
    in rotating order; the trusted checks' cost is the ratio."""
    seconds: dict[str, dict[str, list[float]]] = {n: {"trusted": [], f"revision_{against}": []} for n in names}
    with revision_worktree(tmp, against) as worktree:
        for r in range(repeats):
            for name in names:
                inbox = tmp / f"{name}-solution"
                if not inbox.exists():
                    release, source = _load(name)
                    inbox.mkdir()
                    nbformat.write(solved(release, source), inbox / "s_0001.ipynb")
                for kind in (["trusted", "revision"] if r % 2 == 0 else ["revision", "trusted"]):
                    started = time.perf_counter()
                    if kind == "trusted":
                        grade_class(inbox, name, tmp / f"{name}-{r}-out", workers=1, progress=False)
                    else:
                        revision_run(worktree, name, 1, tmp, str(r), inbox=inbox)
                    took = time.perf_counter() - started
                    seconds[name]["trusted" if kind == "trusted" else f"revision_{against}"].append(took)
                    out = tmp / (f"{name}-{r}-out" if kind == "trusted" else f"rev-{name}-{r}-out")
                    with open(out / "grades.csv") as f:
                        row = next(csv.DictReader(f))
                    if row["status"] != "graded" or float(row["auto_score"]) == 0:  # a failed run times nothing
                        raise RuntimeError(f"{kind} did not grade {name}'s solution: {row['status']} {row['message']}")
                    print(f"repeat {r}: {name:<18} {kind:<9} {took:.1f} s (auto score {row['auto_score']})")
    mean = {n: {k: sum(v) / len(v) for k, v in kinds.items()} for n, kinds in seconds.items()}
    ratios = {n: m["trusted"] / m[f"revision_{against}"] for n, m in mean.items()}
    for n, m in mean.items():
        print(f"{n}: trusted {m['trusted']:.1f} s, revision {against} {m[f'revision_{against}']:.1f} s, ratio {ratios[n]:.3f}")
    return {"seconds": seconds, "mean_seconds": mean, "trusted_over_revision": ratios, "against": against}


def throughput(names: list[str], size: int, tmp: Path, against: str | None) -> dict:
    """Per homework: a mixed class of ``size`` graded with 2 workers, sandbox on, by this checkout (and
    by revision ``against``, in alternating order); and the solution and the untouched version graded
    alone."""
    results: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        worktree = stack.enter_context(revision_worktree(tmp, against)) if against else None
        for i, name in enumerate(names):
            inbox = _class_inbox(name, size, tmp / f"{name}-class-{size}")
            row: dict = {"class_size": size, "workers": 2}
            for kind in (["this", "revision"] if i % 2 == 0 else ["revision", "this"]) if worktree else ["this"]:
                if kind == "this":
                    row["seconds"] = class_run(name, size, 2, tmp)
                    row["statuses"] = _statuses(tmp / f"{name}-class-2-True--out")
                else:
                    assert worktree is not None
                    row[f"seconds_revision_{against}"] = revision_run(worktree, name, size, tmp, "class", inbox=inbox)
            row["seconds_per_submission"] = row["seconds"] / size
            row["minutes_for_300"] = row["seconds_per_submission"] * 300 / 60
            if worktree:
                row[f"revision_{against}_per_submission"] = row[f"seconds_revision_{against}"] / size
                row[f"this_over_revision_{against}"] = row["seconds"] / row[f"seconds_revision_{against}"]
            row["untouched_alone_seconds"] = graded_alone(name, tmp, untouched=True)
            row["solution_alone_seconds"] = graded_alone(name, tmp, untouched=False)
            results[name] = row
            print(f"{name}: {size} submissions, 2 workers: {row['seconds']:.0f} s = {row['seconds_per_submission']:.2f} s per "
                  f"submission, {row['minutes_for_300']:.1f} min for 300"
                  + (f"; revision {against}: {row[f'revision_{against}_per_submission']:.2f} s per submission, "
                     f"ratio {row[f'this_over_revision_{against}']:.3f}" if worktree else "")
                  + f"; graded alone: solution {row['solution_alone_seconds']:.1f} s, untouched {row['untouched_alone_seconds']:.1f} s")
    return results


def graded_alone(name: str, tmp: Path, untouched: bool) -> float:
    """Seconds to grade one submission alone (grade_one's own time: not the class's one-time set-up):
    the solution, or the untouched student version, the floor of a real submission (its kernel, its
    imports, nbgrader and the feedback; the exercises fail at once)."""
    release, source = _load(name)
    tag = "untouched" if untouched else "solution"
    inbox = tmp / f"{name}-{tag}-alone"
    inbox.mkdir()
    nbformat.write(release if untouched else solved(release, source), inbox / "s_0001.ipynb")
    (result,) = grade_class(inbox, name, tmp / f"{name}-{tag}-alone-out", workers=1, progress=False)
    if not result.status.startswith("graded"):
        raise RuntimeError(f"the {tag} version of {name} was not graded: {result.status} {result.message}")
    return result.seconds


def phases(names: list[str], tmp: Path) -> dict:
    """Where one graded notebook's seconds go: each homework's solution graded alone, its phases timed
    from the two nbgrader runs and nbgrader's per-cell record (the progress file the pipeline keeps
    for statuses, read here before the private folder is removed)."""
    from itft_grader.grading import submission

    marks: dict = {}
    real_run, real_scores = submission.run_nbgrader, submission._read_scores

    def run(root, *args, **kwargs):
        marks[f"{args[0]}_start"] = time.time()
        try:
            return real_run(root, *args, **kwargs)
        finally:
            marks[f"{args[0]}_end"] = time.time()

    def scores(root, assignment, student):
        progress = root.parent / "p" / "progress.jsonl"  # submission._attempt's private folder
        marks["cells"] = [json.loads(line) for line in progress.read_text().splitlines()]
        return real_scores(root, assignment, student)

    submission.run_nbgrader, submission._read_scores = run, scores
    results = {}
    try:
        for name in names:
            total = graded_alone(name, tmp, untouched=False)
            cells = marks["cells"]
            after_setup = next(i for i, c in enumerate(cells) if (c["grade_id"] or "").startswith("setup")) + 1
            row = {"nbgrader start, kernel start in its sandbox": cells[0]["time"] - marks["autograde_start"],
                   "set-up cells (importing torch, transformers, matplotlib)": cells[after_setup]["time"] - cells[0]["time"],
                   "the other cells (exercises, trusted checks, experiments, figures)": cells[-1]["time"] - cells[after_setup]["time"],
                   "the last cell, killing the kernel, saving the grades": marks["autograde_end"] - cells[-1]["time"],
                   "feedback (nbgrader generate_feedback)": marks["generate_feedback_end"] - marks["generate_feedback_start"]}
            row["the rest (intake, copies, scores, output caps)"] = total - sum(row.values())
            row["total"] = total
            results[name] = row
            print(f"{name}, solution graded alone:")
            for phase, seconds in row.items():
                print(f"  {phase:<68} {seconds:5.2f} s")
    finally:
        submission.run_nbgrader, submission._read_scores = real_run, real_scores
    return results


def _statuses(out: Path) -> dict[str, int]:
    with open(out / "grades.csv") as f:
        return dict(Counter(row["status"] for row in csv.DictReader(f)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--class-size", type=int, default=50)
    parser.add_argument("--assignment", default=None, help="homework for the class runs (default: the first; "
                        "with --throughput or --phases: every homework)")
    parser.add_argument("--out", default="bench/out/grading.json")
    parser.add_argument("--sandbox-overhead", action="store_true", help="compare grading with and without the sandbox")
    parser.add_argument("--repeats", type=int, default=2, help="with --sandbox-overhead: runs of each kind")
    parser.add_argument("--against", default=None, help="with --sandbox-overhead or --per-notebook: also grade with this "
                        "git revision's pipeline")
    parser.add_argument("--per-notebook", action="store_true", help="with --against: each solution alone, this checkout "
                        "against the revision")
    parser.add_argument("--phases", action="store_true", help="where one graded notebook's seconds go, per homework")
    parser.add_argument("--throughput", action="store_true", help="a mixed class of every homework, 2 workers, with the "
                        "projection to 300")
    args = parser.parse_args()
    names = assignments()
    name = args.assignment or names[0]
    results = {"machine": common.machine(), "class_size": args.class_size, "assignment": name}
    if args.throughput or args.phases:
        chosen = [args.assignment] if args.assignment else names
        with tempfile.TemporaryDirectory() as tmp:
            if args.phases:  # each mode in a folder of its own: both grade the solutions alone
                (Path(tmp) / "phases").mkdir()
                results["phases"] = phases(chosen, Path(tmp) / "phases")
            if args.throughput:
                (Path(tmp) / "throughput").mkdir()
                results["homeworks"] = throughput(chosen, args.class_size, Path(tmp) / "throughput", args.against)
        results["against"] = args.against
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        return
    if args.per_notebook:
        if not args.against:
            parser.error("--per-notebook needs --against REV")
        with tempfile.TemporaryDirectory() as tmp:
            results.update(per_notebook_against(names, args.repeats, Path(tmp), args.against))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        return
    if args.sandbox_overhead:
        with tempfile.TemporaryDirectory() as tmp:
            results.update(sandbox_overhead(name, args.class_size, args.repeats, Path(tmp), args.against))
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        return
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        results["seconds_per_notebook"] = {n: per_notebook(n, work) for n in names}
        print("seconds per submission (solution, graded alone):", json.dumps(results["seconds_per_notebook"]))
        for workers in (1, 2):
            seconds = class_run(name, args.class_size, workers, work)
            results[f"class_seconds_{workers}_workers"] = seconds
            print(f"{args.class_size} submissions of {name} with {workers} worker(s): {seconds:.0f} s "
                  f"({args.class_size / seconds * 60:.1f} submissions/min)")
    results["speedup_2_over_1"] = results["class_seconds_1_workers"] / results["class_seconds_2_workers"]
    print(f"2 workers vs 1: {results['speedup_2_over_1']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
