"""Issue 18: is RESULTS §1's gap between this package's loop and Hugging Face ``Trainer`` the length grouping?

The §1 setting (MiniLM; the 1,000 SQuAD-1k training questions of data seed 0, i.e. the same 1,158 windows for
every run; all 1,988 held-out questions; length 256, stride 64; batch 16; lr 1e-4, 10 % warm-up, weight
decay 0.01, clipping 1.0), with the one systematic difference left switched on and off: length-grouped
batches. Four runs: this loop grouped (its default) and shuffled, ``Trainer`` shuffled (its default) and
grouped; 2 and 4 epochs; training seeds 0, 1, 2. Each finished run is one JSON file under ``--out``, so the
command resumes; ``--report-only`` prints the tables of RESULTS §1 from the committed files.

    python bench/trainer_ablation.py [--epochs 2,4] [--seeds 0,1,2] [--out bench/results/trainer_ablation]
    python bench/trainer_ablation.py --report-only
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from pathlib import Path

import common
from bench_trainer import SETTINGS, run_hf_trainer, run_ours

from itft_grader.checks import references as ref  # the paired statistics of Homework 2's Exercise 5
from itft_utils.encoding import encode
from itft_utils.files import write_atomic
from itft_utils.models import load_tokenizer
from itft_utils.transfer import library_versions

#: run name -> (runner, length-grouped batches)
RUNS: dict[str, tuple[Callable[..., dict], bool]] = {"ours": (run_ours, True), "ours_ungrouped": (run_ours, False),
        "hf_trainer": (run_hf_trainer, False), "hf_trainer_grouped": (run_hf_trainer, True)}
#: paired comparisons: (label, run a, run b): a − b on the same seed
COMPARISONS = [("loop − Trainer, both shuffled", "ours_ungrouped", "hf_trainer"),
               ("loop − Trainer, both grouped", "ours", "hf_trainer_grouped"),
               ("grouping, this loop", "ours", "ours_ungrouped"),
               ("grouping, Trainer", "hf_trainer_grouped", "hf_trainer")]


def run_all(args) -> None:
    out = Path(args.out)
    # Data seed 0 for every run: the same windows; only the training seed and the batching vary.
    task, train_examples, eval_examples = common.squad_1k(common.data_dir_or_exit(), args.n_train, 0, args.n_eval)
    tokenizer = load_tokenizer(args.model)
    features = encode("qa", train_examples, tokenizer, SETTINGS)
    for epochs in (int(e) for e in args.epochs.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            for name in args.runs.split(","):
                path = out / f"{name}-epochs{epochs}-seed{seed}.json"
                if path.exists():
                    continue
                runner, grouped = RUNS[name]
                settings = argparse.Namespace(model=args.model, epochs=epochs, seed=seed, device=args.device,
                                              out=str(out / "scratch" / "x"))
                print(f"{name}, {epochs} epochs, seed {seed}", flush=True)
                result = runner(task, tokenizer, features, eval_examples, settings, grouped=grouped)
                record = {"run": name, "grouped": grouped, "epochs": epochs, "seed": seed, "data_seed": 0, "n_train": args.n_train,
                          "n_features": len(features["input_ids"]), "eval_questions": len(eval_examples),
                          **result, "machine": common.machine(), "versions": library_versions()}
                write_atomic(path, json.dumps(record, indent=1))
                print(json.dumps(record), flush=True)


def report(out: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*-epochs*-seed*.json"))]
    if not rows:
        raise SystemExit(f"{out}: no finished runs; run without --report-only first")
    scores: dict[tuple[str, int], dict[int, float]] = {(r["run"], r["epochs"]): {} for r in rows}
    for r in rows:
        scores[(r["run"], r["epochs"])][r["seed"]] = r["f1"]
    lines = ["| run | grouped | epochs | seeds | F1 (mean ± std) | per seed |", "|---|---|---|---|---|---|"]
    for (name, epochs), by_seed in sorted(scores.items(), key=lambda kv: (kv[0][1], list(RUNS).index(kv[0][0]))):
        values = [by_seed[s] for s in sorted(by_seed)]
        std = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
        lines.append(f"| {name} | {'yes' if RUNS[name][1] else 'no'} | {epochs} | {len(values)} | {statistics.mean(values):.1f}{std} "
                     f"| {', '.join(f'{s}: {by_seed[s]:.1f}' for s in sorted(by_seed))} |")
    lines += ["", "| comparison (same seed) | epochs | pairs | difference (mean ± std) | 95 % t interval | p (sign flip) |",
              "|---|---|---|---|---|---|"]
    for epochs in sorted({r["epochs"] for r in rows}):
        for label, a, b in COMPARISONS:
            if (a, epochs) not in scores or (b, epochs) not in scores:
                continue
            both = set(scores[(a, epochs)]) & set(scores[(b, epochs)])
            if not both:
                continue
            row = ref.paired_summary(scores[(a, epochs)], scores[(b, epochs)])
            low, high = row["interval"]
            interval = f"[{low:+.1f}, {high:+.1f}]" if row["n"] > 1 else "-"
            spread = f" ± {row['std']:.1f}" if row["n"] > 1 else ""  # one pair: no spread yet
            lines.append(f"| {label} | {epochs} | {row['n']} | {row['mean']:+.1f}{spread} | {interval} | {row['p_value']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--epochs", default="2,4")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ", ".join(RUNS))
    parser.add_argument("--device", default=None)
    parser.add_argument("--n-train", type=int, default=1000, help="smaller only to smoke-test the command")
    parser.add_argument("--n-eval", type=int, default=None, help="held-out questions (default: all 1,988)")
    parser.add_argument("--out", default="bench/results/trainer_ablation")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        run_all(args)
    print(report(Path(args.out)))


if __name__ == "__main__":
    main()
