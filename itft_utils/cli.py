"""The ``itft`` command.

``itft demo`` is the package's main job for now: fine-tune an encoder on a QA task, print EM/F1 and
write a training-curve figure. With no arguments it runs offline on the embedded defaults (the
MiniLM shipped in a wheel, a generated QA task); ``--data-dir`` switches to a SQuAD subset.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .data import (
    SQUAD_TRAIN_ARTICLES,
    generate_task,
    load_task,
    split_by_article,
    subsample,
    task_names,
)
from .runtime import get_device, set_seed


def _demo_data(args):
    """(task, train, eval): a generated QA task, or SQuAD split by article when data is given."""
    if args.data_dir:
        task = load_task("squad", source="local", data_dir=args.data_dir)
        pool, held_out = split_by_article(task.split("all"), SQUAD_TRAIN_ARTICLES)
        return task, subsample(pool, args.n_train, args.seed), subsample(held_out, args.n_eval, args.seed)
    task = generate_task("gen_qa", sizes={"train": args.n_train, "validation": args.n_eval}, seed=args.seed)
    return task, task.split("train"), task.split("validation")


def cmd_demo(args) -> int:
    from .finetune import fine_tune
    from .plots import plot_training_curve, save_figure
    from .qa import QASettings
    from .training import TrainConfig

    os.environ.setdefault("HF_HUB_OFFLINE", "1" if args.model in ("minilm", "tiny") else "0")
    set_seed(args.seed)
    task, train_examples, eval_examples = _demo_data(args)
    print(f"task {task.name}: {len(train_examples)} training / {len(eval_examples)} evaluation examples; "
          f"model {args.model} on {get_device(args.device)}")
    config = TrainConfig(learning_rate=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device)
    started = time.perf_counter()
    result = fine_tune(args.model, task, train_examples, eval_examples, config,
                       settings=QASettings(args.max_length, args.doc_stride))
    out = Path(args.out)
    figure = save_figure(plot_training_curve(result.history, "f1", f"{args.model} on {task.name}"), out / "training_curve.png")
    summary = {"task": task.name, "model": args.model, **result.metrics, "seconds": time.perf_counter() - started,
               "train_features_per_second": result.history.features_per_second}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    print(f"EM {result.metrics['exact_match']:.1f}  F1 {result.metrics['f1']:.1f}  "
          f"({summary['seconds']:.0f} s; figure: {figure})")
    return 0


def _grader(module: str):
    """An instructor module, or an exit that says which extra to install: the student library never
    imports the grading package, and a student install does not have it."""
    import importlib

    try:
        return importlib.import_module(f"itft_grader.{module}")
    except ModuleNotFoundError as exc:
        raise SystemExit(f"this is an instructor command and needs the grader extra (missing: {exc.name}); "
                         "install it with: pip install 'itft-utils[grader]'") from None


def cmd_release(args) -> int:
    release = _grader("release.build")
    if args.check:
        problems = release.check()
        for p in problems:
            print(f"release check: {p}")
        print("release check:", "FAILED" if problems else "notebooks/ is up to date and leaks nothing")
        return 1 if problems else 0
    for path in release.release(args.assignments or None):
        print(f"wrote {path}")
    return 0


def cmd_grade(args) -> int:
    pipeline = _grader("grading.pipeline")
    options = pipeline.GradingOptions(timeout=args.timeout, memory_mb=args.memory_mb, cell_timeout=args.cell_timeout,
                             sandbox=not args.no_sandbox, max_pids=args.max_processes, output_kb=args.output_kb,
                             disk_mb=args.disk_mb)
    if args.no_sandbox:
        print("WARNING: --no-sandbox: student code runs with your rights; one submission can read the hidden tests "
              "and change other students' grades. The sheet's isolation column says so.")
    results = pipeline.grade_class(Path(args.submissions), args.assignment, Path(args.out), workers=args.workers, options=options,
                          pattern=args.pattern, policy=args.policy, atlas_mode=args.atlas_mode,
                          atlas_plan=json.loads(Path(args.atlas_plan).read_text(encoding="utf-8")) if args.atlas_plan else None)
    pipeline.print_sheet(results)
    print(f"grade sheet: {Path(args.out) / 'grades.csv'}; feedback: {Path(args.out) / 'feedback'}")
    return 0


def cmd_course(args) -> int:
    return _grader("release.course_demo").run_course(Path(args.out), workers=args.workers)


def cmd_publish(args) -> int:
    publish = _grader("release.publish")
    try:
        written = publish.publish(Path(args.out), build_wheel=not args.no_wheel)
    except (ValueError, FileExistsError) as exc:
        print(f"itft publish: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the student tree ({len(written)} files) to {args.out}:")
    for path in sorted({p.relative_to(Path(args.out)).parts[0] for p in written}):
        print(f"  {path}")
    print("push it to the course's public repository and tag it v<version> (see itft_grader/README.md)")
    return 0


def cmd_tasks(args) -> int:
    for name in task_names():
        print(name)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="itft", description="Intermediate-task fine-tuning course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fine-tune on a QA task, print EM/F1, write a training curve")
    demo.add_argument("--model", default="minilm", help="tiny, minilm, a hub name or a folder (default: minilm)")
    demo.add_argument("--data-dir", default=None, help="folder with squad_v1.1/dev-v1.1.json; default: generated data")
    demo.add_argument("--n-train", type=int, default=400, help="training examples (default 400)")
    demo.add_argument("--n-eval", type=int, default=200, help="evaluation examples (default 200)")
    demo.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    demo.add_argument("--batch-size", type=int, default=16, help="windows per batch (default 16)")
    demo.add_argument("--lr", type=float, default=1e-4, help="peak learning rate of AdamW (default 1e-4)")
    demo.add_argument("--max-length", type=int, default=256, help="tokens per QA window (default 256)")
    demo.add_argument("--doc-stride", type=int, default=64, help="tokens shared by consecutive windows (default 64)")
    demo.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and batch order (default 0)")
    demo.add_argument("--device", default=None, help="cuda, mps or cpu (default: the best available)")
    demo.add_argument("--out", default="runs/demo", help="folder for metrics.json and the figure (default runs/demo)")
    demo.set_defaults(func=cmd_demo)
    # Instructor commands work on a course folder: a checkout of the instructor repository.
    course_dir = argparse.ArgumentParser(add_help=False)
    course_dir.add_argument("--course-dir", default=None,
                            help="the course folder with solutions/ and notebooks/ (default: the current folder)")
    rel = sub.add_parser("release", parents=[course_dir], help="regenerate notebooks/ from solutions/ (nbgrader generate_assignment)")
    rel.add_argument("assignments", nargs="*", help="default: every notebook in solutions/")
    rel.add_argument("--check", action="store_true", help="fail if notebooks/ is stale or leaks solutions")
    rel.set_defaults(func=cmd_release)
    grade = sub.add_parser("grade", parents=[course_dir], help="autograde a class: a folder or zip of submissions as the LMS exports them")
    grade.add_argument("submissions", help="folder or .zip, one file per student, student id in the file name")
    grade.add_argument("--assignment", required=True, help="e.g. hw1_mtl")
    grade.add_argument("--out", required=True, help="where originals, results, feedback and grades.csv go (resumable)")
    grade.add_argument("--workers", type=int, default=None, help="parallel graders (default: one per core)")
    grade.add_argument("--timeout", type=float, default=300, help="wall-time cap per submission, seconds (default 300)")
    grade.add_argument("--cell-timeout", type=int, default=None, help="cap per cell, seconds (default: nbgrader_config.py's 120)")
    grade.add_argument("--memory-mb", type=int, default=6144, help="memory cap for a submission's whole process tree (default 6144)")
    grade.add_argument("--max-processes", type=int, default=512, help="processes and threads per submission (default 512)")
    grade.add_argument("--disk-mb", type=int, default=1024,
                       help="what a submission may write into its folder, MB (default 1024; past it, status disk_limit)")
    grade.add_argument("--output-kb", type=int, default=256, help="size cap of one cell output in feedback, kB (default 256)")
    grade.add_argument("--policy", choices=("latest", "best", "all"), default="latest",
                       help="which of a student's several files count (default: latest)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="grade without the bubblewrap sandbox (student code runs with your rights; see itft_grader/README.md)")
    grade.add_argument("--pattern", default=None, help="regex with a (?P<student>...) group for the file names")
    grade.add_argument("--atlas-mode", default=None, help="the mode the class ran Homework 2's atlas in, which its atlas "
                       "points require (default: atlas_mode in itft_grader/release.toml, colab)")
    grade.add_argument("--atlas-plan", default=None, help="the plan `itft atlas-plan` wrote, if the course published one: "
                       "Homework 2's atlas points go to the cells it (or the student's id) assigns")
    grade.set_defaults(func=cmd_grade)
    course = sub.add_parser("course", parents=[course_dir], help="the whole course offline: release, grade a sample class, print the sheet")
    course.add_argument("--out", default="runs/course", help="folder for the release and the sample classes (default runs/course)")
    course.add_argument("--workers", type=int, default=None, help="parallel graders (default: one per core)")
    course.set_defaults(func=cmd_course)
    pub = sub.add_parser("publish", parents=[course_dir],
                         help="write the student tree: released notebooks, itft_utils (source and wheel), README, licence")
    pub.add_argument("out", help="an empty or new folder; push it to the course's public repository")
    pub.add_argument("--no-wheel", action="store_true", help="write the tree without building the wheel into dist/")
    pub.set_defaults(func=cmd_publish)
    atlas = sub.add_parser("atlas", help="the class transfer atlas: harvest, validate and aggregate Homework 2's atlas cells")
    atlas.add_argument("grading_dir", help="the folder `itft grade` wrote for hw2_intermediate (its originals/ are read)")
    atlas.add_argument("--out", required=True, help="where atlas.json, cells.csv and report.html go")
    atlas.add_argument("--mode", default=None, help="the mode the class ran in (default: atlas_mode in release.toml, colab)")
    atlas.add_argument("--plan", default=None, help="the plan `itft atlas-plan` wrote, if the class used one")
    atlas.add_argument("--tolerance", type=float, default=None,
                       help="replicates further than this from their median are set aside (points; default: derived from "
                            "the class's replicate spread, provisional until there are enough)")
    atlas.add_argument("--rankings", default=None,
                       help="JSON {method: {target: [sources, best first]}}: adds the estimators' leaderboard")
    atlas.add_argument("--rankings-from", default=None,
                       help="Homework 3's grading folder: the rankings its submissions stored make the estimators' leaderboard")
    atlas.set_defaults(func=lambda a: _grader("atlas.report").build_atlas(a.grading_dir, a.out, a.mode, a.plan, a.tolerance,
                                                                           a.rankings, a.rankings_from) and 0)
    plan = sub.add_parser("atlas-plan", help="assign the atlas for a roster: every assignment covered, then replicated evenly")
    plan.add_argument("roster", help="one student id per line (or a CSV with the id first)")
    plan.add_argument("--out", default="atlas/plan.json",
                      help="default atlas/plan.json: publish it in the course's atlas folder (ITFT_ATLAS_HOME), where the "
                           "notebooks read it when the atlas cell runs")
    plan.add_argument("--mode", default=None, help="the mode whose library the class runs (default: atlas_mode in release.toml, colab)")
    plan.set_defaults(func=lambda a: _grader("atlas.report").write_plan(a.roster, a.out, a.mode) and 0)
    tasks = sub.add_parser("tasks", help="list the known task names")
    tasks.set_defaults(func=cmd_tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "course_dir", None):
        os.environ["ITFT_COURSE_DIR"] = str(Path(args.course_dir).resolve())  # read by itft_grader.course
    try:
        return args.func(args)
    except FileNotFoundError as exc:  # a missing course folder or batch of submissions: say which, no traceback
        print(f"itft {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
