"""Issue 31: the lecture's chains of intermediate tasks, and forgetting, on the planted family a CPU-only student
runs in Homework 2 (MiniLM, 64 target questions, seeds 0-2, ``itft_utils.homework.planted_experiment``).

Two chains of two sources, then the target: ``plant_tagging -> plant_related -> plant_qa`` (does a helpful second
stage undo a harmful first one?) and ``plant_related -> plant_tagging -> plant_qa`` (does a harmful second stage
erase what the helpful first one taught: forgetting?). Each chain's second stage starts from the first stage's
encoder (the library's hand-over: the encoder kept, the head dropped); its "baseline" cell is the first source
alone, which must reproduce Homework 2's recorded cell of that source (``bench/results/planted_offline/n64``).

    python bench/chain.py                 # runs what is missing (resumable), then reports
    python bench/chain.py --report-only   # the table of the committed cells only
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import common  # noqa: F401 - puts the repo on sys.path

from itft_utils.homework import planted_experiment, prepare_task
from itft_utils.transfer import intermediate_checkpoint, load_cells

OUT = Path("bench/results/chain")
PART5 = Path("bench/results/planted_offline/n64")  # Homework 2's recorded single-source cells (RESULTS section 12)
CHAINS = [("plant_tagging", "plant_related"), ("plant_related", "plant_tagging")]
SEEDS = [0, 1, 2]


def run(first: str, second: str, seed: int) -> list[dict]:
    """``first -> second -> target`` at ``seed``; its cells go to OUT/<first>/seed<seed>."""
    experiment = planted_experiment("minilm")
    spec = {s.name: s for s in experiment.sources}
    folder, _ = intermediate_checkpoint(prepare_task(spec[first]), experiment.model, seed, experiment.config,
                                        OUT / "intermediate", settings=experiment.settings)
    chained = dataclasses.replace(experiment, model=str(folder), sources=[spec[second]], seeds=[seed])
    return chained.run(OUT / first / f"seed{seed}", progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    single = {(c["source"] or "baseline", c["seed"]): c["score"] for c in load_cells(PART5, SEEDS)}
    print("F1 on 200 held-out plant_qa questions, per seed; each chain beside the single sources it is made of "
          f"(Homework 2's recorded cells, {PART5}):\n")
    print("| run | " + " | ".join(f"seed {s}" for s in SEEDS) + " | mean |")
    print("|---" * (len(SEEDS) + 2) + "|")
    for name in ("baseline", "plant_related", "plant_tagging"):
        scores = [single[name, s] for s in SEEDS]
        print(f"| {name if name != 'baseline' else 'no intermediate task'} | " + " | ".join(f"{v:.1f}" for v in scores)
              + f" | {statistics.mean(scores):.1f} |")
    reproduced, chained = [], {}
    for first, second in CHAINS:
        cells = {s: (load_cells(OUT / first / f"seed{s}") if args.report_only else run(first, second, s)) for s in SEEDS}
        alone = [next(c["score"] for c in cells[s] if c["source"] is None) for s in SEEDS]
        chained[first, second] = {s: next(c["score"] for c in cells[s] if c["source"] == second) for s in SEEDS}
        reproduced += [abs(a - single[first, s]) < 1e-6 for a, s in zip(alone, SEEDS)]
        scores = list(chained[first, second].values())
        print(f"| {first} -> {second} | " + " | ".join(f"{v:.1f}" for v in scores) + f" | {statistics.mean(scores):.1f} |")
    print()
    for (first, second), mine in chained.items():
        for other in (first, second):
            diffs = [mine[s] - single[other, s] for s in SEEDS]
            print(f"{first} -> {second} minus {other} alone, per seed: {', '.join(f'{d:+.1f}' for d in diffs)} "
                  f"(mean {statistics.mean(diffs):+.1f})")
    print(f"\nthe chains' first stages alone reproduce Homework 2's recorded cells: {all(reproduced)}")


if __name__ == "__main__":
    main()
