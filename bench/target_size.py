"""Issue 15: does intermediate training help most when the target is small? The target-size axis of the
real-data transfer experiment, from the cells ``bench_transfer.py --target-n N`` wrote (one folder per size).

Per size: the baseline's mean F1, and the QA source's paired differences to the same seed's baseline (mean,
std, 95 % t interval, sign-flip p, relative gain: the course's references of Homework 2's Exercise 5), on
the seeds both runs have; and the figure of the gain against the size (``plot_gain_by_target_size``).

    python bench/bench_transfer.py --model .carry/minilm --target-n 250 --out bench/results/transfer_n250 \\
        --cache bench/results/transfer/intermediate --seeds 3,4 --sources policyqa        # one size (resumable)
    python bench/target_size.py --sizes 250=bench/results/transfer_n250,1000=bench/results/transfer \\
        --source policyqa --seeds 3,4 --out bench/results/target_size
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)

from itft_grader.checks import references as ref
from itft_utils.plots import plot_gain_by_target_size, save_figure
from itft_utils.transfer import load_cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", required=True, help="comma-separated SIZE=FOLDER pairs (folders of bench_transfer.py)")
    parser.add_argument("--source", default="policyqa")
    parser.add_argument("--seeds", default=None, help="only these seeds (default: every seed a size has)")
    parser.add_argument("--out", default="bench/results/target_size")
    parser.add_argument("--report-only", action="store_true", help="print the table; write no file (the figure and "
                        "target_size.json stay as the runs left them)")
    args = parser.parse_args()
    wanted = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    lines = [f"| target questions | optimiser steps | seeds | baseline F1 (mean) | {args.source} F1 (mean) "
             f"| {args.source} − baseline (mean ± std) | 95 % t interval | relative gain | p (sign flip) | per seed | minutes per run |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    differences, intervals, rows = {}, {}, {}
    for pair in args.sizes.split(","):
        size, folder = pair.split("=", 1)
        cells = load_cells(folder, wanted)
        base = {c["seed"]: c["score"] for c in cells if c["source"] is None}
        mine = {c["seed"]: c["score"] for c in cells if c["source"] == args.source}
        sizes = {c["target_examples"] for c in cells}
        if sizes != {int(size)}:
            raise SystemExit(f"{folder}: its cells trained on {sorted(sizes)} target questions, not {size}")
        if not set(base) & set(mine):
            print(f"{size}: no seed with both the baseline and {args.source} yet ({folder})")
            continue
        row = ref.paired_summary(mine, base)
        seeds = sorted(set(base) & set(mine))
        differences[int(size)] = {s: mine[s] - base[s] for s in seeds}
        intervals[int(size)] = row["interval"]
        rows[size] = {"seeds": seeds, "baseline": {s: base[s] for s in seeds}, "source": {s: mine[s] for s in seeds}, **row}
        low, high = row["interval"]
        per_seed = ", ".join(f"{s}: {differences[int(size)][s]:+.1f}" for s in seeds)
        compared = [c for c in cells if c["source"] in (None, args.source) and c["seed"] in seeds]
        steps = "/".join(str(n) for n in sorted({c["target_steps"] for c in compared}))  # the target keeps its epochs
        minutes = [c["seconds"] / 60 for c in compared]
        lines.append(f"| {size} | {steps} | {len(seeds)} | {sum(base[s] for s in seeds) / len(seeds):.1f} "
                     f"| {sum(mine[s] for s in seeds) / len(seeds):.1f} | {row['mean']:+.2f} ± {row['std']:.2f} "
                     f"| [{low:+.1f}, {high:+.1f}] | {100 * row['gain']:+.1f} % | {row['p_value']:.3f} | {per_seed} "
                     f"| {min(minutes):.0f}–{max(minutes):.0f} |")
    table = "\n".join(lines)
    print(table)
    if differences and not args.report_only:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        save_figure(plot_gain_by_target_size(differences, intervals, source=args.source), out / "gain_by_target_size.png")
        (out / "target_size.json").write_text(json.dumps({"setting": vars(args), "rows": rows, "table": table}, indent=1))
        print(f"figure: {out / 'gain_by_target_size.png'}")


if __name__ == "__main__":
    main()
