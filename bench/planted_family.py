"""Issue 35: the planted family's transfer matrix with the tiny model, at a small and a large target, so
that the lecture's effects can be checked against a known truth on a CPU in minutes.

Target ``plant_qa``; sources ``plant_related`` (the target's rule, other words), ``plant_conflict`` (the
target's words, the opposite mapping), ``plant_surface`` and ``plant_tagging`` (the target's words, none
of the rule); see :mod:`itft_utils.data.planted`. The tiny random BERT, every run at learning rate 2e-3,
batch 16, 10 % warm-up, windows of 128 tokens; each source 2,000 examples for 2 epochs, scored on 200 of its
own held-out examples; the target 64, 256 or 512 questions for 8 epochs, scored on 200 held-out questions;
seeds 0-5. Per size: the baseline's mean F1, each source's paired differences to the same seed's baseline
(``bench_transfer.py``'s table) and what each source model learned.

    python bench/planted_family.py                      # runs what is missing (resumable), then reports
    python bench/planted_family.py --report-only        # the tables of the committed cells only
    python bench/planted_family.py --model minilm --lr 1e-4 --target-epochs 4 --source-examples 1000 --sizes 32 \
        --sources plant_related,plant_conflict,plant_surface --out bench/results/planted_minilm   # the pre-trained encoder
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import torch
from bench_transfer import paired_statistics

from itft_utils.homework import prepare_task
from itft_utils.qa import QASettings
from itft_utils.training import TrainConfig
from itft_utils.transfer import TaskSpec, load_cells, run_transfer_matrix, source_table

SOURCES = ("plant_related", "plant_conflict", "plant_surface", "plant_tagging")
SIZES = (64, 256, 512)
CONFIG = TrainConfig(learning_rate=2e-3, batch_size=16, warmup_ratio=0.1)
SETTINGS = QASettings(128, 32)
TARGET_EPOCHS, SOURCE_EXAMPLES, SOURCE_EPOCHS, EVAL_EXAMPLES = 8, 2000, 2, 200


def run_size(size: int, seeds: list[int], sources: list[str], out: Path, args) -> list[dict]:
    """One target size's matrix; its cells go to out/n<size>, the source models to out/intermediate."""
    target = TaskSpec("plant_qa", "generated", size, EVAL_EXAMPLES, args.target_epochs)
    specs = [TaskSpec(name, "generated", args.source_examples, EVAL_EXAMPLES, SOURCE_EPOCHS) for name in sources]
    config = dataclasses.replace(CONFIG, learning_rate=args.lr)
    return run_transfer_matrix(specs, [target], seeds, out / f"n{size}", args.model, config, SETTINGS,
                               cache_dir=out / "intermediate", prepare=prepare_task)


def report(cells: list[dict], size: int) -> str:
    base = [c["score"] for c in cells if c["source"] is None]
    return (f"target plant_qa, {size} questions ({len(base)} seeds): baseline F1 {statistics.mean(base):.1f} "
            f"(range {min(base):.1f}-{max(base):.1f})\n\n{paired_statistics(cells)}\n\n{source_table(cells)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "planted")
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--model", default="tiny", help="tiny (the recorded run) or minilm (pre-trained)")
    parser.add_argument("--lr", type=float, default=CONFIG.learning_rate)
    parser.add_argument("--target-epochs", type=int, default=TARGET_EPOCHS)
    parser.add_argument("--source-examples", type=int, default=SOURCE_EXAMPLES)
    parser.add_argument("--report-only", action="store_true", help="print the committed cells' tables, run nothing")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.model == "tiny":
        torch.set_num_threads(1)  # the tiny model is fastest on one thread, and its numbers then match across machines
    for size in (int(s) for s in args.sizes.split(",")):
        cells = (load_cells(args.out / f"n{size}", seeds) if args.report_only
                 else run_size(size, seeds, args.sources.split(","), args.out, args))
        print(report(cells, size))


if __name__ == "__main__":
    main()
