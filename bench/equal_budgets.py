"""Issue 31: Homework 2's budget design on the run a CPU-only student makes (MiniLM, the planted family,
``itft_utils.homework.planted_experiment``), with the course's solution in both units.

Part 5 gives each source 500 examples for 2 epochs: equal examples, not equal compute. Here the sources the
design arm reruns by default (all but the tagger) get the same budget, in optimiser steps or in tokens, at
the smallest of their Part 5 budgets in that unit (equalising down: no source trains longer than in Part 5),
using ``itft_grader.checks.references.equal_budgets``; each is compared, seed by seed, with the baseline of
the same seed and with its own Part 5 run (``bench/results/planted_offline/n64``, the same experiment). It
also prints the profiles of Part 5's real sources, which the planted family lacks the contrast of.

    python bench/equal_budgets.py                 # runs what is missing (resumable), then reports
    python bench/equal_budgets.py --report-only   # the tables of the committed cells only
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import common  # noqa: F401 - puts the repo on sys.path
from bench_transfer import paired_statistics

from itft_grader.checks import references as ref
from itft_grader.checks.budgets import hidden_profiles, spent, tokens_per_step
from itft_utils.homework import planted_experiment
from itft_utils.transfer import load_cells

OUT = Path("bench/results/equal_budgets")
PART5 = Path("bench/results/planted_offline/n64")  # Part 5's cells of the same experiment (RESULTS section 12)
SEEDS = [0, 1, 2]
REAL_PART5 = ("policyqa", "subjqa", "sst2", "conll2000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    experiment = planted_experiment("minilm")
    experiment.seeds = SEEDS
    arm = [s for s in experiment.sources if s.name != "plant_tagging"]
    measured = OUT / "profiles.json"  # measured once, with the runs: a report reads it
    if not measured.exists() and not args.report_only:
        OUT.mkdir(parents=True, exist_ok=True)
        measured.write_text(json.dumps(experiment.source_profiles(), indent=1) + "\n")
    profiles = json.loads(measured.read_text())
    part5_steps = {s.display: math.ceil(profiles[s.display]["windows"] / profiles[s.display]["batch_size"]) * s.epochs for s in arm}
    part5 = {(c["source"], c["seed"]): c["score"] for c in load_cells(PART5, SEEDS)}
    print("Part 5's budgets (500 examples, 2 epochs each): "
          + "; ".join(f"{name} {n} steps, {spent(profiles[name], n, 'tokens'):,.0f} tokens" for name, n in part5_steps.items()))
    for unit in ("steps", "tokens"):
        amount = min(spent(profiles[name], n, unit) for name, n in part5_steps.items())
        steps = ref.equal_budgets({name: profiles[name] for name in part5_steps}, amount, unit)
        equal = experiment.with_source_steps(steps, profiles)
        cells = load_cells(OUT, SEEDS) if args.report_only else equal.run(OUT, progress=True)
        wanted = {s.display for s in equal.sources}
        cells = [c for c in cells if c["source"] is None or c["source"] in wanted]
        print(f"\nequal {unit}: {amount:,.0f} {unit} per source: "
              + ", ".join(f"{name} {n} steps" for name, n in steps.items()))
        print(paired_statistics(cells))
        own = {(c["source"], c["seed"]): c["score"] for c in cells}
        for name in steps:
            label = next(spec.display for spec in equal.sources if spec.name == name)  # unchanged steps: its own name
            diffs = [own[label, s] - part5[name, s] for s in SEEDS]
            print(f"{label} minus its Part 5 run ({part5_steps[name]} steps), per seed: "
                  f"{', '.join(f'{d:+.1f}' for d in diffs)} (mean {statistics.mean(diffs):+.1f})")
    print("\nThe real sources of Part 5 offline with the data folder, as MiniLM's tokenizer cuts them (256-token windows, "
          "2,000 examples; python -m itft_grader.checks.budgets --measure):")
    for name, p in hidden_profiles().items():
        if name in REAL_PART5:
            print(f"{name}: {p['windows']} windows, {p['tokens']:,} tokens an epoch; {tokens_per_step(p):,.0f} tokens a step, "
                  f"{math.ceil(p['windows'] / p['batch_size'])} steps an epoch")
    base = {c["seed"]: c["score"] for c in cells if c["source"] is None}  # the last unit's cells hold the baselines
    same = all(abs(base[s] - part5[None, s]) < 1e-9 for s in SEEDS)
    print(f"\nbaselines {'identical to' if same else 'DIFFERENT from'} Part 5's ({PART5}): "
          + ", ".join(f"{base[s]:.1f}" for s in SEEDS))


if __name__ == "__main__":
    main()
