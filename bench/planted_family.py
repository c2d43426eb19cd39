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
    python bench/planted_family.py --model minilm --seeds 0,1,2 --sizes 16,64 --out bench/results/planted_offline \
        --package 64   # Homework 2 offline without the data folder (itft_utils.homework.PLANTED_SETTINGS), packaged

Learning rate, target epochs and source examples default to the model's
:data:`itft_utils.homework.PLANTED_SETTINGS`; ``--package N`` writes the N-question cells as the package's
recorded run for ``plant_qa`` (``itft_utils/resources/transfer_results_plant_qa.json``: Homework 3's transfers
offline when Homework 2 left none).
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from bench_transfer import paired_statistics, per_seed_table
from common import results_file  # also puts the repo on sys.path

from itft_utils.homework import PLANTED_SETTINGS, PLANTED_SOURCES, PLANTED_TARGET, prepare_task
from itft_utils.qa import QASettings
from itft_utils.selection import RESOURCES
from itft_utils.training import TrainConfig
from itft_utils.transfer import TaskSpec, load_cells, run_transfer_matrix, source_table

SIZES = (64, 256, 512)
SETTINGS = QASettings(128, 32)
SOURCE_EPOCHS, EVAL_EXAMPLES = 2, 200
PACKAGED = RESOURCES / f"transfer_results_{PLANTED_TARGET}.json"


def run_size(size: int, seeds: list[int], sources: list[str], out: Path, args) -> list[dict]:
    """One target size's matrix; its cells go to out/n<size>, the source models to out/intermediate."""
    target = TaskSpec(PLANTED_TARGET, "generated", size, EVAL_EXAMPLES, args.target_epochs)
    specs = [TaskSpec(name, "generated", args.source_examples, EVAL_EXAMPLES, SOURCE_EPOCHS) for name in sources]
    config = TrainConfig(learning_rate=args.lr, batch_size=16, warmup_ratio=0.1)
    return run_transfer_matrix(specs, [target], seeds, out / f"n{size}", args.model, config, SETTINGS,
                               cache_dir=out / "intermediate", prepare=prepare_task)


def report(cells: list[dict], size: int) -> str:
    base = [c["score"] for c in cells if c["source"] is None]
    return (f"target plant_qa, {size} questions ({len(base)} seeds): baseline F1 {statistics.mean(base):.1f} "
            f"(range {min(base):.1f}-{max(base):.1f})\n\n{paired_statistics(cells)}\n\n{source_table(cells)}\n")


def package(cells: list[dict], size: int, seeds: list[int], sources: list[str], args) -> None:
    """Write the ``size``-question cells as the package's recorded run for the planted target."""
    note = (f"THE COURSE'S RECORDED RUN OF THE PLANTED FAMILY (generated tasks, not real data): {args.model}, target "
            f"{PLANTED_TARGET} on {size} questions ({args.target_epochs} epochs, lr {args.lr:g}, batch 16, windows of 128), "
            f"each source on {args.source_examples} examples for {SOURCE_EPOCHS} epochs, F1 on {EVAL_EXAMPLES} held-out "
            f"questions, mean of seeds {', '.join(map(str, seeds))} (`python bench/planted_family.py`, bench/RESULTS.md section 12).")
    made = results_file(cells, PLANTED_TARGET, sources, seeds, note=note, model=args.model,
                        source_sizes=dict.fromkeys(sources, args.source_examples),
                        command=f"python bench/planted_family.py --model {args.model} --seeds {args.seeds} --sizes {args.sizes} "
                                f"--out {args.out} --package {size}")
    PACKAGED.write_text(json.dumps(made, indent=1) + "\n")
    print(f"wrote {PACKAGED}: baseline {made['baseline']}, {made['scores']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "planted")
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--sources", default=",".join(PLANTED_SOURCES))
    parser.add_argument("--model", default="tiny", choices=sorted(PLANTED_SETTINGS), help="tiny (the first recorded run) or minilm")
    parser.add_argument("--lr", type=float, help="default: the model's PLANTED_SETTINGS")
    parser.add_argument("--target-epochs", type=int, help="default: the model's PLANTED_SETTINGS")
    parser.add_argument("--source-examples", type=int, help="default: the model's PLANTED_SETTINGS")
    parser.add_argument("--report-only", action="store_true", help="print the committed cells' tables, run nothing")
    parser.add_argument("--per-seed", action="store_true", help="also print each run's score per seed and its learning "
                        "curve (what Homework 2's model answers quote; bench/package_recorded.py)")
    parser.add_argument("--package", type=int, metavar="N", help="write the N-question cells as the package's recorded run")
    args = parser.parse_args()
    setting = PLANTED_SETTINGS[args.model]
    args.lr = setting.learning_rate if args.lr is None else args.lr
    args.target_epochs = setting.target_epochs if args.target_epochs is None else args.target_epochs
    args.source_examples = setting.source_examples if args.source_examples is None else args.source_examples
    seeds, sources = [int(s) for s in args.seeds.split(",")], args.sources.split(",")
    if args.model == "tiny":
        torch.set_num_threads(1)  # the tiny model is fastest on one thread, and its numbers then match across machines
    for size in (int(s) for s in args.sizes.split(",")):
        cells = load_cells(args.out / f"n{size}", seeds) if args.report_only else run_size(size, seeds, sources, args.out, args)
        print(report(cells, size))
        if args.per_seed:
            print(per_seed_table(cells) + "\n")
        if size == args.package:
            package(cells, size, seeds, sources, args)


if __name__ == "__main__":
    main()
