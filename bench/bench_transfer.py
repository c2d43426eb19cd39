"""Issue 4's real-data transfer matrix: MiniLM, SQuAD-1k target, PolicyQA / SubjQA / SST-2 / CoNLL-2000.

Target: 1,000 questions (seed 0) of the first 38 SQuAD v1.1 dev articles, 4 epochs, evaluated on all
questions of the last 10 articles; each source: 2,000 examples, 2 epochs; the foundation benchmark's
settings otherwise (length 256, stride 64, batch 16, lr 1e-4, 10 % warm-up); baseline and sources on
seeds 0, 1, 2. Resumable: every cell is a JSON file under --out; rerun the same command to continue.

    python bench/bench_transfer.py [--seeds 0,1,2] [--sources policyqa,subjqa,sst2,conll2000] [--out bench/out/transfer]
                                   [--target-n 1000] [--cache OUT/intermediate]

``--target-n`` moves the target along the target-size axis (another ``--out`` per size; ``--cache`` lets
the sizes share one source encoder per seed); ``bench/target_size.py`` compares the sizes.
``--target mrpc`` (or ``rte``) trains a sentence-pair classification target instead (1,000 examples, scored on its
labelled held-out split; issue 33's second target), from the same source encoders when ``--cache`` is shared.
``--target-lr`` and ``--target-epochs`` change the target runs only (another ``--out``, the same ``--cache``):
issue 33's check of whether a harmful source's damage is knowledge or optimisation.

``--sources-only`` trains the source encoders of ``--seeds`` into ``--cache`` and runs no target (a race's encoders,
on another core while the transfers run). ``--report-only`` summarises the finished cells of ``--seeds`` and
``--sources`` without running the missing ones;
``--package itft_utils/resources/transfer_results_squad.json`` also writes the measured cells as the
results file Homework 3 falls back on when a student has no Homework 2 output of their own (Colab).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import common

from itft_grader.checks import references as ref  # Homework 2's paired statistics are an exercise: the references
from itft_utils.homework import REAL_DATA_SOURCES, pair_target, prepare_task, real_data_experiment, real_data_sources
from itft_utils.models import load_tokenizer
from itft_utils.plots import plot_transfer, plot_transfer_curves, save_figure
from itft_utils.transfer import (
    encoder_cache,
    format_table,
    intermediate_checkpoint,
    load_cells,
    source_table,
    transfer_table,
    unpaired_cells,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sources", default="policyqa,subjqa,sst2,conll2000",
                        help="comma-separated, of " + ", ".join(REAL_DATA_SOURCES) + " (the last four: for the estimator race)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--model", default="minilm", help="preset, hub name or folder (e.g. a carried copy of MiniLM)")
    parser.add_argument("--out", default="bench/out/transfer")
    parser.add_argument("--target", default="squad", help="squad, or a sentence-pair target: mrpc or rte (issue 33's second target)")
    parser.add_argument("--target-n", type=int, default=1000, help="target training questions (the target-size axis: 250, 1000, 2000)")
    parser.add_argument("--target-lr", type=float, default=None,
                        help="the target runs' learning rate (default: the sources' 1e-4); issue 33's check of the harmful transfers")
    parser.add_argument("--target-epochs", type=int, default=None, help="the target runs' epochs (default 4)")
    parser.add_argument("--cache", default=None, help="intermediate encoders (default: OUT/intermediate); share one across target sizes")
    parser.add_argument("--package", default=None, help="also write the results as a packaged TransferResults file here")
    parser.add_argument("--figures", default=None, help="with --report-only: draw the figures into this folder (a run "
                        "draws them into --out)")
    parser.add_argument("--sources-only", action="store_true",
                        help="train (or find) the source encoders of --seeds and --sources into --cache and run no target: "
                             "a race's encoders ahead of it, on another core")
    parser.add_argument("--no-baseline", action="store_true",
                        help="run the source cells only (the baseline of --seeds runs in another process: a pair of long "
                             "runs on two cores); the report reads the finished cells of --seeds and --sources under --out")
    parser.add_argument("--report-only", action="store_true",
                        help="summarise the cells of --seeds and --sources under --out without running missing ones")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    sources = real_data_sources(names=args.sources.split(","))
    target = None if args.target == "squad" else pair_target(args.target)
    experiment = real_data_experiment(common.data_dir_or_exit(), seeds, sources, target)
    experiment = dataclasses.replace(experiment, model=args.model,
                                     target=dataclasses.replace(
                                         experiment.target, n_train=args.target_n, learning_rate=args.target_lr,
                                         epochs=args.target_epochs or experiment.target.epochs))
    experiment.config.device = args.device
    print(experiment)
    if args.sources_only:
        train_sources(experiment, encoder_cache(args.out, args.cache))
        return
    started = time.perf_counter()
    # --report-only summarises the cells of --seeds and --sources only, so that a table stays reproducible while
    # more seeds and sources are added to the folder.
    wanted = {s.name for s in sources}
    if not args.report_only:
        cells = experiment.run(args.out, progress=True, cache_dir=args.cache, baseline=not args.no_baseline)
    if args.report_only or args.no_baseline:  # the finished cells of --seeds and --sources, whichever process ran them
        cells = [c for c in load_cells(args.out, seeds) if c["source"] is None or c["source"] in wanted]
    if args.no_baseline and {c["seed"] for c in cells if c["source"] is None} != set(seeds):
        print(f"source cells written to {Path(args.out) / 'cells'}; the report waits for the baseline of every seed")
        return
    out = Path(args.out)
    if not cells:
        raise SystemExit(f"{out / 'cells'}: no finished cells to report; run without --report-only first")
    table = format_table(transfer_table(cells))
    source_seconds = {(c["source"], c["seed"]): c["source_seconds"] for c in cells if c["source"]}
    if not args.report_only:  # a report runs nothing: the runs' record stays as the runs left it (issue 33)
        summary = {"machine": common.machine(), "setting": vars(args), "seconds_this_call": time.perf_counter() - started,
                   "seconds_target_runs": sum(c["seconds"] for c in cells), "seconds_source_runs": sum(source_seconds.values()),
                   "table": table}
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
    figures = out if not args.report_only else Path(args.figures) if args.figures else None
    if figures is not None:  # a report draws only where it is told: the committed figures are the runs'
        figures.mkdir(parents=True, exist_ok=True)
        save_figure(plot_transfer(cells), figures / "transfer.png")
        save_figure(plot_transfer_curves(cells), figures / "transfer_curves.png")
    print(table + "\n")
    print(source_table(cells) + "\n")  # what each source model learned, and its optimiser steps
    source_minutes = [s / 60 for s in source_seconds.values()]
    print(f"cost (one run, as recorded in the cells): target runs {min(c['seconds'] for c in cells) / 60:.0f}–"
          f"{max(c['seconds'] for c in cells) / 60:.0f} min"
          + (f", source models {min(source_minutes):.0f}–{max(source_minutes):.0f} min" if source_minutes else ""))
    print(per_seed_table(cells) + "\n")
    print(paired_statistics(cells) + "\n")
    for line in unpaired_cells(cells):
        print(f"not exactly paired with its baseline: {line}")
    if args.package:
        write_package(cells, experiment, Path(args.package))
    print(f"figures: {figures / 'transfer.png'}, {figures / 'transfer_curves.png'}; " if figures else "", end="")
    print(f"cells: {out / 'cells'}")


def train_sources(experiment, cache: Path) -> None:
    """Each source encoder of the experiment's seeds, trained into ``cache`` under the key its transfer runs (and
    ``estimator_race.py``) look it up by, or found there."""
    tokenizer = load_tokenizer(experiment.model)
    for seed in experiment.seeds:
        for spec in experiment.sources:
            folder, record = intermediate_checkpoint(prepare_task(spec, experiment.data_dir), experiment.model, seed,
                                                     experiment.config, cache, tokenizer, experiment.settings)
            print(f"{spec.display}, seed {seed}: {folder} ({record['seconds']:.0f} s to train)", flush=True)


def per_seed_table(cells: list[dict]) -> str:
    """Markdown: each run's score per seed, its difference to the same seed's baseline (the paired
    comparison the runner is built for) and the mean of those differences, and its learning curve
    (score after each target epoch)."""
    by_run: dict[str, dict[int, dict]] = {}
    for c in cells:
        by_run.setdefault(c["source"] or "baseline", {})[c["seed"]] = c
    seeds = sorted({c["seed"] for c in cells})
    base = by_run.get("baseline", {})
    d = decimals(cells)
    lines = ["| run | " + " | ".join(f"seed {s}" for s in seeds)
             + " | difference to the same seed's baseline | mean difference | curves |",
             "|---" * (len(seeds) + 4) + "|"]
    for run, mine in by_run.items():
        scores = [f"{mine[s]['score']:.{d}f}" if s in mine else "—" for s in seeds]
        paired = {s: mine[s]["score"] - base[s]["score"] for s in seeds if s in mine and s in base and run != "baseline"}
        diffs = ", ".join(f"seed {s}: {diff:+.{d}f}" for s, diff in paired.items()) or "—"
        mean = f"{statistics.mean(paired.values()):+.{d}f} ({len(paired)})" if paired else "—"
        curves = "; ".join(f"{s}: " + " / ".join(f"{e[mine[s]['metric']]:.{d}f}" for e in mine[s]["curve"]) for s in seeds if s in mine)
        lines.append(f"| {run} | {' | '.join(scores)} | {diffs} | {mean} | {curves} |")
    return "\n".join(lines)


def decimals(cells: list[dict]) -> int:
    """Digits a score is printed with: one for SQuAD's F1 and EM (0-100), three for a fraction (accuracy)."""
    return 1 if all(c["metric"] in ("f1", "exact_match") for c in cells) else 3


def paired_statistics(cells: list[dict]) -> str:
    """Markdown: per source, the paired differences to the baseline (mean ± sample std, 95 % t interval),
    the relative gain, the exact sign-flip p-value and the seeds a +1 point gain would need at that spread (Homework
    2's Exercise 5, computed with the course's references; its model answer quotes this table)."""
    baseline = {c["seed"]: c["score"] for c in cells if c["source"] is None}
    d = decimals(cells)
    point = 10.0 ** (1 - d)  # a point: 1 F1, or 0.01 of accuracy
    lines = [f"| source | paired difference (mean ± std) | 95 % t interval | relative gain | p (sign flip) | seeds for +{point:g} |",
             "|---|---|---|---|---|---|"]
    for source in sorted({c["source"] for c in cells if c["source"]}):
        mine = {c["seed"]: c["score"] for c in cells if c["source"] == source}
        row = ref.paired_summary(mine, baseline)
        if row["n"] > 1:
            low, high = row["interval"]
            spread, interval = f" ± {row['std']:.{d + 1}f} ({row['n']} seeds)", f"[{low:+.{d}f}, {high:+.{d}f}]"
        else:  # one seed: no spread, no interval
            spread, interval = " (1 seed)", "—"
        needed = ref.seeds_needed(row["std"], point) if row["n"] > 1 and row["std"] > 0 else "—"
        lines.append(f"| {source} | {row['mean']:+.{d + 1}f}{spread} | {interval} | {100 * row['gain']:+.1f} % | {row['p_value']:.3f} "
                     f"| {needed} |")
    return "\n".join(lines)


def write_package(cells: list[dict], experiment, path: Path) -> None:
    """The measured cells in :class:`itft_utils.taskemb.TransferResults`'s file format, with per-seed
    scores and a note that says what was measured and how much of the matrix exists."""
    rows = transfer_table(cells)
    baseline = next(r for r in rows if r["source"] is None)
    sources = [r for r in rows if r["source"] is not None]
    sizes = {s.name: s.n_train for s in experiment.sources}
    done = ", ".join(f"{r['source'] or 'baseline'} {len(r['seeds'])}" for r in [baseline, *sources])
    note = (f"REAL-DATA RESULTS, measured by the course (bench/bench_transfer.py, bench/RESULTS.md section 3) with "
            f"all-MiniLM-L6-v2 ({experiment.model}) on the local data: target {experiment.target.name}, "
            f"{experiment.target.n_train} questions of the first 38 SQuAD v1.1 dev articles, {experiment.target.epochs} epochs, "
            f"F1 on all questions of the last 10; each source {experiment.sources[0].n_train} examples, "
            f"{experiment.sources[0].epochs} epochs. Scores are means over the seeds measured so far (seeds per run: {done}), "
            "a source measured on fewer seeds than the baseline as the baseline's mean plus its mean paired difference. "
            "In Colab the target is the hub's SQuAD split and the QA source HotpotQA, so only the sources both share are compared.")
    command = "python bench/bench_transfer.py " + " ".join(sys.argv[1:])  # what made this file: a test reruns it
    result = {"note": note, "command": command, "target": baseline["target"], "metric": baseline["metric"], "model": experiment.model,
              "baseline": round(baseline["mean"], 2), "scores": {r["source"]: round(r["paired_mean"], 2) for r in sources},
              "source_sizes": {r["source"]: sizes[r["source"]] for r in sources},
              "per_seed": {r["source"] or "baseline": {str(s): round(v, 2) for s, v in zip(r["seeds"], r["scores"])}
                           for r in [baseline, *sources]}}
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
