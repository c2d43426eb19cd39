"""Foundation benchmark: this package's trainer vs Hugging Face ``Trainer`` on SQuAD-1k, side by side.

Setting (issue 2): MiniLM; 1,000 training questions (seed 0) of the first 38 SQuAD dev articles,
evaluation on all questions of the last 10; max length 256, stride 64; batch 16; 2 epochs; lr 1e-4
with 10 % warm-up; seed 0. Three runs on identical features: ours (dynamic padding + length
grouping), ours padded to max length, and ``Trainer``. All are scored by the same evaluation code.

    python bench/bench_trainer.py [--epochs 2] [--n-eval N] [--device cuda] [--out bench/out/trainer.json]
    python bench/bench_trainer.py --throughput-rounds 3 --throughput-steps 20   # speed only, interleaved
    python bench/bench_trainer.py --throughput-rounds 3 --throughput-steps 10 \
        --runs ours,ours_ungrouped,ours_padded,hf_trainer,hf_trainer_grouped --out bench/results/trainer/throughput_cpu.json
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repo on sys.path)
import torch

from itft_utils.encoding import encode
from itft_utils.finetune import evaluate
from itft_utils.models import build_model, load_tokenizer, quiet_transformers
from itft_utils.qa import QASettings
from itft_utils.runtime import set_seed
from itft_utils.training import TrainConfig, train
from itft_utils.transfer import library_versions

MAX_LENGTH, STRIDE = 256, 64
SETTINGS = QASettings(MAX_LENGTH, STRIDE)


def run_ours(task, tokenizer, features, eval_examples, args, pad_to=None, max_steps=None, grouped=True) -> dict:
    """This package's loop; ``grouped``: length-grouped batches (its default) or shuffled ones, as ``Trainer``'s."""
    set_seed(args.seed)
    model = build_model(args.model, "qa")
    config = TrainConfig(learning_rate=1e-4, epochs=args.epochs, batch_size=16, warmup_ratio=0.1, seed=args.seed,
                         pad_to=pad_to, device=args.device, progress=max_steps is None, max_steps=max_steps,
                         group_by_length=grouped)
    history = train(model, features, config, tokenizer.pad_token_id)
    timing = {"train_seconds": history.train_seconds, "features_per_second": history.features_per_second}
    if max_steps is not None:
        return timing
    return {**evaluate(model, tokenizer, task, eval_examples, SETTINGS, device=args.device), **timing,
            **_peak_memory()}


def _peak_memory() -> dict:
    if not torch.cuda.is_available():
        return {}
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return {"peak_gpu_memory_mib": peak}


def run_hf_trainer(task, tokenizer, features, eval_examples, args, max_steps=None, grouped=False) -> dict:
    """Hugging Face ``Trainer`` on the same windows; ``grouped``: its length-grouped sampler (off by default)."""
    from dataclasses import fields

    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    set_seed(args.seed)
    model = build_model(args.model, "qa")
    rows = [{k: features[k][i] for k in ("input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions")}
            for i in range(len(features["input_ids"]))]
    steps = -(-len(rows) // 16) * args.epochs
    cpu = not (args.device or "").startswith("cuda") and not torch.cuda.is_available()
    names = {f.name for f in fields(TrainingArguments)}  # transformers 5 names the sampler; 4.x has a flag
    sampling = ({"train_sampling_strategy": "group_by_length" if grouped else "random"} if "train_sampling_strategy" in names
                else {"group_by_length": grouped})
    training_args = TrainingArguments(
        output_dir=str(Path(args.out).parent / "hf_trainer"), per_device_train_batch_size=16, num_train_epochs=args.epochs,
        learning_rate=1e-4, warmup_steps=int(0.1 * steps), weight_decay=0.01, max_grad_norm=1.0, lr_scheduler_type="linear",
        seed=args.seed, save_strategy="no", eval_strategy="no", report_to=[], logging_steps=50, use_cpu=cpu,
        bf16=not cpu and torch.cuda.is_bf16_supported(), dataloader_num_workers=0, max_steps=max_steps or -1,
        disable_tqdm=max_steps is not None, **sampling,
    )
    with quiet_transformers():
        trainer = Trainer(model=model, args=training_args, train_dataset=rows, data_collator=DataCollatorWithPadding(tokenizer))
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    seen = 16 * max_steps if max_steps else len(rows) * args.epochs
    timing = {"train_seconds": seconds, "features_per_second": seen / seconds}
    if max_steps is not None:
        return timing
    assert trainer.model is not None
    return {**evaluate(trainer.model, tokenizer, task, eval_examples, SETTINGS, device=args.device), **timing,
            **_peak_memory()}


def contenders(task, tokenizer, features, eval_examples, args, max_steps=None) -> dict:
    """Every run this benchmark knows: the two loops with length-grouped and shuffled batches (issue 18's
    arms) and this loop padded to the maximum length; ``max_steps``: time that many steps, no evaluation."""
    ours = functools.partial(run_ours, task, tokenizer, features, eval_examples, args, max_steps=max_steps)
    hf = functools.partial(run_hf_trainer, task, tokenizer, features, eval_examples, args, max_steps=max_steps)
    return {"ours": ours, "ours_ungrouped": functools.partial(ours, grouped=False),
            "ours_padded": functools.partial(ours, pad_to=MAX_LENGTH),
            "hf_trainer": hf, "hf_trainer_grouped": functools.partial(hf, grouped=True)}


def interleaved_throughput(runners: dict, rounds: int) -> dict:
    """Median features/s of each runner over ``rounds`` rounds run A, B, C, A, B, C, ...: whatever
    else the machine does hits every runner alike, so the ratios stay fair on a busy machine."""
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            samples[name].append(run()["features_per_second"])
    return {name: {"features_per_second_median": statistics.median(v), "samples": v} for name, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-eval", type=int, default=None, help="subsample the evaluation set (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--runs", default="ours,hf_trainer,ours_padded",
                        help="comma-separated subset of ours, ours_ungrouped, ours_padded, hf_trainer, hf_trainer_grouped")
    parser.add_argument("--out", default="bench/out/trainer.json")
    parser.add_argument("--throughput-rounds", type=int, default=0,
                        help="instead of full runs: time --throughput-steps steps of each runner, interleaved, this many rounds")
    parser.add_argument("--throughput-steps", type=int, default=20)
    args = parser.parse_args()
    task, train_examples, eval_examples = common.squad_1k(common.data_dir_or_exit(), args.n_train, args.seed, args.n_eval)
    tokenizer = load_tokenizer(args.model)
    features = encode("qa", train_examples, tokenizer, SETTINGS)
    print(f"{len(train_examples)} training questions -> {len(features['input_ids'])} features; {len(eval_examples)} evaluation questions")
    results: dict[str, Any] = {"machine": common.machine(), "versions": library_versions(), "setting": vars(args),
               "n_features": len(features["input_ids"])}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.throughput_rounds:
        timed = contenders(task, tokenizer, features, eval_examples, args, max_steps=args.throughput_steps)
        results["throughput"] = interleaved_throughput({k: timed[k] for k in args.runs.split(",")}, args.throughput_rounds)
        out.write_text(json.dumps(results, indent=2))
        t = {k: v["features_per_second_median"] for k, v in results["throughput"].items()}
        print(json.dumps(results["throughput"], indent=1))
        if "hf_trainer" in t:
            for name in sorted(t.keys() - {"hf_trainer"}):
                print(f"throughput ratio {name}/hf_trainer {t[name] / t['hf_trainer']:.2f}x")
        if "ours_padded" in t and "ours" in t:
            print(f"dynamic padding speed-up over padding to {MAX_LENGTH}: {t['ours'] / t['ours_padded']:.2f}x")
        return
    full = contenders(task, tokenizer, features, eval_examples, args)
    for name in args.runs.split(","):
        results[name] = full[name]()
        print(name, json.dumps(results[name]), flush=True)
        out.write_text(json.dumps(results, indent=2))
    if "ours" in results and "hf_trainer" in results:
        ours, hf = results["ours"], results["hf_trainer"]
        print(f"F1 ours {ours['f1']:.1f} vs Trainer {hf['f1']:.1f}; throughput ratio ours/Trainer "
              f"{ours['features_per_second'] / hf['features_per_second']:.2f}x")
    if "ours" in results and "ours_padded" in results:
        print(f"dynamic padding speed-up over padding to {MAX_LENGTH}: "
              f"{results['ours']['features_per_second'] / results['ours_padded']['features_per_second']:.2f}x")


if __name__ == "__main__":
    main()
