"""Homework 1's experiment at a budget where the auxiliary can matter (issue 31, item 3): MiniLM on the real data, CPU.

Homework 1's offline run (section 9) trains 60 steps with one auxiliary batch each: every arm stays inside the
baseline's seed band. Sequentially, the same PolicyQA lifts a 250-question SQuAD target by +17 F1 (section 3),
after about a thousand source steps. So here the notebook's offline target and settings (SQuAD v1.1 dev, 200
training questions of the first 38 articles, 100 dev and 200 test questions of the last 10; MiniLM's preset,
4 epochs) run ``--steps-factor`` times as many weighting steps (``MTLConfig.steps_factor``), each with a target
batch and an auxiliary batch, with ``--n-aux`` auxiliary examples (4,000, not the notebook's 800, so that the
longer run does not cycle through them five times), for three arms under the same seeds:

* ``target alone``: λ = 1 (the target's batches only: single-task training, for as many steps);
* ``λ = 0.5 + policyqa``: the auxiliary of the notebook, a QA task on other text (helps sequentially);
* ``λ = 0.5 + conll2000``: chunking, which hurts this target by 27 F1 when trained first (section 3);
* ``step at 50 % + policyqa``: the notebook's step schedule (Part 4), PolicyQA alone for as many steps as the
  target then gets: intermediate-task fine-tuning inside one run, with the target's batches unchanged.

One ``--out`` holds one configuration (a changed ``--steps-factor`` or ``--n-aux`` needs another). Each arm and
seed is one run of :func:`itft_utils.mtl_sweep.lambda_sweep`, saved as it finishes under
``--out``/runs (an interrupted run resumes), with the library's own weighted sum (the notebook's runs use the
student's ``combine_losses``; the sum is the same). The report pairs every arm with the target alone seed by seed,
with Homework 2's statistics (the course's references): mean ± std, 95 % t interval, exact sign-flip p.

    nice -n 19 python bench/hw1_effect.py                  # run (resumes), then report; ~20 min a run on 2 cores
    python bench/hw1_effect.py --report-only               # the tables from the finished runs; writes nothing
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import common

from itft_grader.checks import references as ref
from itft_utils.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("target alone", "λ = 0.5 + policyqa", "λ = 0.5 + conll2000", "step at 50 % + policyqa")


def switch_at_half(step: int, total_steps: int) -> float:
    """λ = 0 (the auxiliary task alone) for the first half of the updates, 1 (the target alone) from there on."""
    return 0.0 if step / total_steps < 0.5 else 1.0
COMMAND = "nice -n 19 python bench/hw1_effect.py"


def run(out: Path, seeds: list[int], factor: int, n_aux: int) -> None:
    """Train what is missing, one (arm, seed) run at a time: every seed of the target alone first (each arm is
    paired with it), then every seed of an arm before the next arm."""
    from itft_utils.data import load_task, subsample
    from itft_utils.homework import load_task_pair, target_epochs
    from itft_utils.mtl_sweep import lambda_sweep
    from itft_utils.mtl_training import MTLConfig
    from itft_utils.runtime import get_preset
    from itft_utils.training import TrainConfig

    data_dir = common.data_dir_or_exit()
    preset = get_preset("offline")
    pair = load_task_pair("offline", seed=0, data_dir=data_dir, n_aux=n_aux)
    target = pair.target.name
    conll = load_task("conll2000", source="local", data_dir=data_dir)
    auxiliaries = {"policyqa": (pair.auxiliary, pair.train[pair.auxiliary.name]),
                   "conll2000": (conll, subsample(conll.split("train"), n_aux, 0))}
    config = TrainConfig(learning_rate=preset.learning_rate, epochs=target_epochs("offline", pair.kind),
                         batch_size=preset.batch_size, seed=0)
    mixes = {ARMS[0]: MTLConfig(target, "weighting", 1.0, steps_factor=factor),  # never draws an auxiliary batch
             ARMS[1]: MTLConfig(target, "weighting", 0.5, steps_factor=factor),
             ARMS[2]: MTLConfig(target, "weighting", 0.5, steps_factor=factor),
             ARMS[3]: MTLConfig(target, "weighting", switch_at_half, steps_factor=2 * factor)}  # twice the updates, half each
    for arm in (ARMS[0], ARMS[3], ARMS[2], ARMS[1]):  # the arms still short of seeds in the order they are most telling
        name = arm.rsplit(" ", 1)[1] if arm != ARMS[0] else "policyqa"
        task, examples = auxiliaries[name]
        for seed in seeds:
            lambda_sweep(preset.model, pair.target, task, {target: pair.train[target], name: examples}, pair.eval,
                         {arm: mixes[arm]}, config=config, settings=preset.settings, dev_examples=pair.dev,
                         seeds={arm: [seed]}, out_dir=out / "runs")


def collect(out: Path) -> list[dict]:
    """Every finished run's row (the step history reduced to its length), in a fixed order."""
    rows = []
    for path in (out / "runs").glob("*.json"):
        row = json.loads(path.read_text(encoding="utf-8"))["row"]
        row["steps"] = len(row.pop("history", {}).get("steps", []))
        rows.append(row)
    return sorted(rows, key=lambda r: (ARMS.index(r["run"]), r["seed"]))


def report(rows: list[dict]) -> str:
    """Per-run rows, then each arm paired with the target alone (test F1; dev F1 beside it)."""
    lines = ["| run | seed | target batches | steps | dev F1 | test F1 | test EM | minutes |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['seed']} | {r['target_batches']} | {r['steps']} | {r['dev_f1']:.1f} | {r['f1']:.1f} | "
              f"{r['exact_match']:.1f} | {r['seconds'] / 60:.1f} |" for r in rows]
    alone = {r["seed"]: r for r in rows if r["run"] == ARMS[0]}
    lines += ["", "| arm − target alone | metric | seeds | per seed | mean ± std | 95 % t interval | p (sign flip) |",
              "|---|---|---|---|---|---|---|"]
    for arm in ARMS[1:]:
        mine = {r["seed"]: r for r in rows if r["run"] == arm and r["seed"] in alone}
        for metric, label in (("f1", "test F1"), ("dev_f1", "dev F1")):
            if len(mine) < 2:
                continue
            row = ref.paired_summary({s: r[metric] for s, r in mine.items()}, {s: alone[s][metric] for s in mine})
            diffs = ", ".join(f"{mine[s][metric] - alone[s][metric]:+.1f}" for s in sorted(mine))
            low, high = row["interval"]
            lines.append(f"| {arm} | {label} | {row['n']} | {diffs} | {row['mean']:+.2f} ± {row['std']:.2f} | "
                         f"[{low:+.1f}, {high:+.1f}] | {row['p_value']:.3f} |")
    means = {arm: statistics.mean(r["f1"] for r in rows if r["run"] == arm) for arm in ARMS if any(r["run"] == arm for r in rows)}
    lines += ["", "Mean test F1 over each arm's seeds: " + "; ".join(f"{arm} {m:.1f}" for arm, m in means.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hw1_effect")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps-factor", type=int, default=4, help="weighting steps per target epoch, times its batches")
    parser.add_argument("--n-aux", type=int, default=4000, help="auxiliary training examples (each auxiliary)")
    parser.add_argument("--report-only", action="store_true", help="print the tables from the finished runs; write nothing")
    args = parser.parse_args()
    if not args.report_only:
        run(args.out, [int(s) for s in args.seeds.split(",")], args.steps_factor, args.n_aux)
    rows = collect(args.out)
    if not rows:
        sys.exit(f"no finished run under {args.out / 'runs'}")
    text = report(rows)
    print(text)
    if not args.report_only:
        command = " ".join([COMMAND, *sys.argv[1:]])
        write_atomic(args.out / "report.md", f"`{command}` ({common.machine()})\n\n{text}\n")


if __name__ == "__main__":
    main()
