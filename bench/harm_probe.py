"""Issue 33, item 3: is a harmful source's damage knowledge or optimisation? A frozen-encoder span probe.

Fine-tuning asks two things of an intermediate encoder: that its features hold what the target needs
(knowledge), and that gradient descent from its weights finds it within the target's budget (optimisation).
This probe measures the first without the second: the encoder is frozen and only a span head (the QA model's
own ``qa_outputs``, a linear map from each token's last-layer vector to a start and an end logit) is trained
on the target's 1,000 training questions, then scored by the library's evaluation (the same decoding and F1 as
the transfer cells) on the 1,988 held-out questions. Each encoder is the very one whose transfer was measured
(``bench_transfer.py``'s cache key; a missing one is trained again under that key and then reused there), and
the start model is probed the same way. If a harmful encoder's probe is as good as the start model's, its
features still carry the answer's location and the harm is in the fine-tuning; if it is far worse, the
features lost it.

    python bench/harm_probe.py --model .carry/minilm --encoders conll2000:0 conll2000:1 conll2000:2 stsb:3 sst2:0
    python bench/harm_probe.py --report-only

Resumable (each encoder's probe is kept in ``OUT/probe.json`` as it finishes). ``--report-only`` prints the
table beside each run's fine-tuned F1 and same-seed baseline from ``--transfer-results`` (RESULTS §3).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import common
import numpy as np
import torch

from itft_utils.encoding import collate, encode
from itft_utils.estimators import hidden_states
from itft_utils.finetune import EvalSet
from itft_utils.fisher import eager_attention
from itft_utils.homework import prepare_task, real_data_experiment, real_data_sources
from itft_utils.models import build_model, load_tokenizer, quiet_transformers
from itft_utils.transfer import intermediate_checkpoint, library_versions

START = "start model"


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """The span head's training: Adam on the frozen features, padding masked out of the softmax."""

    epochs: int = 40  # on the start model's features the loss stops falling by 20 epochs at 1e-2 (3.81 at 20 and at 80)
    batch_size: int = 32
    learning_rate: float = 1e-2
    seed: int = 0


def train_span_head(model: torch.nn.Module, feats: dict[str, list], tokenizer, config: ProbeConfig) -> float:
    """Fit ``model.qa_outputs`` on the frozen encoder's features of the training windows, in place; the last
    epoch's mean loss (start and end cross-entropy, as the QA model's own loss)."""
    windows = []  # (hidden (T, H), start, end) per window, without padding
    for indices, hidden in hidden_states(model.base_model, feats, tokenizer):
        for row, i in enumerate(indices):
            length = len(feats["input_ids"][i])
            windows.append((torch.from_numpy(hidden[row, :length].copy()), feats["start_positions"][i], feats["end_positions"][i]))
    head = model.qa_outputs
    optimiser = torch.optim.Adam(head.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    loss_value = float("nan")
    for _ in range(config.epochs):
        order = torch.randperm(len(windows), generator=generator).tolist()
        losses = []
        for first in range(0, len(order), config.batch_size):
            batch = [windows[i] for i in order[first:first + config.batch_size]]
            hidden = torch.nn.utils.rnn.pad_sequence([w[0] for w in batch], batch_first=True)
            pad = torch.nn.utils.rnn.pad_sequence([torch.ones(len(w[0]), dtype=torch.bool) for w in batch], batch_first=True)
            logits = head(hidden).masked_fill(~pad.unsqueeze(-1), -1e4)
            starts = torch.tensor([w[1] for w in batch])
            ends = torch.tensor([w[2] for w in batch])
            loss = (torch.nn.functional.cross_entropy(logits[..., 0], starts) + torch.nn.functional.cross_entropy(logits[..., 1], ends)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        loss_value = float(np.mean(losses))
    return loss_value


def probe(folder: str, target, tokenizer, settings, config: ProbeConfig) -> dict:
    """The frozen encoder in ``folder`` with a trained span head: held-out F1 / EM and the head's loss."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)  # the head's initialisation
    with quiet_transformers():
        model = build_model(folder, "qa")
    model.requires_grad_(False)
    model.qa_outputs.requires_grad_(True)
    loss = train_span_head(model, encode("qa", target.train, tokenizer, settings), tokenizer, config)
    scores = EvalSet.build(target.task, target.eval, tokenizer, settings).score(model.eval())
    return {"f1": scores["f1"], "exact_match": scores["exact_match"], "head_loss": loss,
            "seconds": time.perf_counter() - started}


def handover(folder: str, feats: dict[str, list], tokenizer, config: ProbeConfig, windows: int = 128) -> dict:
    """The encoder at the hand-over, before any target step, on ``windows`` training windows (a fixed order,
    the same for every encoder) with a fresh QA head (the same initialisation for every encoder): each layer's
    mean attention entropy over real tokens (nats; low means peaked attention, whose softmax passes little
    gradient), the mean norm of the last layer's token vectors (what the head's gradient scales with), the QA
    loss, and the loss's gradient norm per block (embeddings, layers, head)."""
    torch.manual_seed(config.seed)
    with quiet_transformers():
        model = build_model(folder, "qa")
    model.eval()  # no dropout: the same numbers on every call
    order = torch.randperm(len(feats["input_ids"]), generator=torch.Generator().manual_seed(config.seed))[:windows].tolist()
    entropy: list[float] = []
    tokens, loss_total, norm_total = 0, 0.0, 0.0
    with eager_attention(model):
        for first in range(0, len(order), config.batch_size):
            indices = order[first:first + config.batch_size]
            batch = collate(feats, indices, tokenizer.pad_token_id)
            out = model(**batch, output_attentions=True, output_hidden_states=True)
            real = batch["attention_mask"].bool()
            layers = [float((-(a * a.clamp_min(1e-12).log()).sum(-1)).mean(1)[real].sum()) for a in (x.detach() for x in out.attentions)]
            entropy = [e + x for e, x in zip(entropy, layers)] if entropy else layers
            tokens += int(real.sum())
            norm_total += float(out.hidden_states[-1].detach().norm(dim=-1)[real].sum())
            (out.loss * len(indices) / len(order)).backward()
            loss_total += out.loss.item() * len(indices) / len(order)
    blocks = {"embeddings": "embeddings.", **{f"layer {i}": f"encoder.layer.{i}." for i in range(len(entropy))}}
    named = dict(model.base_model.named_parameters())
    grads = {name: float(sum((p.grad ** 2).sum() for k, p in named.items() if k.startswith(prefix) and p.grad is not None) ** 0.5)
             for name, prefix in blocks.items()}
    grads["head"] = float(sum((p.grad ** 2).sum() for p in model.qa_outputs.parameters()) ** 0.5)
    return {"attention_entropy": [e / tokens for e in entropy], "feature_norm": norm_total / tokens, "loss": loss_total,
            "gradient_norm": grads, "windows": len(order)}


def measure(args, results: dict, path: Path) -> None:
    wanted = [(name, int(seed)) for name, seed in (e.split(":") for e in args.encoders)]
    keys = [START, *(f"{name}:{seed}" for name, seed in wanted)]
    if all(k in results["probes"] and "feature_norm" in results.get("handover", {}).get(k, {}) for k in keys):
        return  # every encoder is measured: nothing to load
    data_dir = common.data_dir_or_exit()
    experiment = real_data_experiment(data_dir, sources=real_data_sources(names=sorted({n for n, _ in wanted})))
    experiment = dataclasses.replace(experiment, model=args.model)
    tokenizer = load_tokenizer(args.model)
    target = prepare_task(experiment.target, data_dir)
    config = ProbeConfig()
    sources = {spec.name: spec for spec in experiment.sources}
    train_features = encode("qa", target.train, tokenizer, experiment.settings)
    results.setdefault("handover", {})  # a file from before the hand-over's diagnostics gains them
    for name, seed in [(START, None), *wanted]:
        key = START if seed is None else f"{name}:{seed}"
        if key in results["probes"] and "feature_norm" in results["handover"].get(key, {}):
            continue
        if seed is None:
            folder = args.model
        else:
            folder, _ = intermediate_checkpoint(prepare_task(sources[name], data_dir), args.model, seed, experiment.config,
                                                args.cache, tokenizer, experiment.settings)
        if key not in results["probes"]:
            results["probes"][key] = probe(str(folder), target, tokenizer, experiment.settings, config)
        results["handover"][key] = handover(str(folder), train_features, tokenizer, config)
        print(f"{key}: {results['probes'][key]}; {results['handover'][key]}", flush=True)
        path.write_text(json.dumps(results, indent=1))
    results.update(probe_config=dataclasses.asdict(config), train_questions=len(target.train), eval_questions=len(target.eval))
    path.write_text(json.dumps(results, indent=1))


def _cell(folder: str | Path, run: str, seed: str) -> dict | None:
    path = Path(folder) / "cells" / "squad" / f"{run}-seed{seed}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _curve(cell: dict) -> str:
    return " / ".join(f"{epoch['f1']:.1f}" for epoch in cell["curve"])


def reruns_table(keys: list[str], schedules: dict[str, str]) -> list[str]:
    """Each probed transfer under every target schedule that has both cells of its seed (the source's and the
    baseline's): F1 after each target epoch, and the paired difference at the end."""
    lines = ["| transfer | target schedule | baseline F1 by epoch | F1 by epoch after the source | difference at the end |",
             "|---|---|---|---|---|"]
    for key in keys:
        name, seed = key.split(":")
        for schedule, folder in schedules.items():
            mine, base = _cell(folder, name, seed), _cell(folder, "baseline", seed)
            if mine and base:
                lines.append(f"| {name}, seed {seed} | {schedule} | {_curve(base)} | {_curve(mine)} | "
                             f"{mine['score'] - base['score']:+.1f} |")
    return lines


def report(results: dict, transfer_results: str, schedules: dict[str, str] | None = None) -> str:
    """The probe beside the fine-tuned transfer of the same encoder and the same seed's baseline, the hand-over's
    diagnostics, and the transfers again under the other target ``schedules`` (label: a bench_transfer output)."""
    cells = Path(transfer_results) / "cells" / "squad"
    start = results["probes"][START]
    lines = [f"frozen-encoder span probe: {results['train_questions']} target questions, {results['eval_questions']} held out; "
             f"head trained {results['probe_config']['epochs']} epochs (Adam, lr {results['probe_config']['learning_rate']:g})",
             "", "| encoder | probe F1 (frozen) | probe − start model's | fine-tuned F1 | same seed's baseline | fine-tuned − baseline |",
             "|---|---|---|---|---|---|",
             f"| {START} (MiniLM) | {start['f1']:.1f} | — | — | — | — |"]
    for key, entry in results["probes"].items():
        if key == START:
            continue
        name, seed = key.split(":")
        tuned = json.loads((cells / f"{name}-seed{seed}.json").read_text())["score"]
        base = json.loads((cells / f"baseline-seed{seed}.json").read_text())["score"]
        lines.append(f"| {name}, seed {seed} | {entry['f1']:.1f} | {entry['f1'] - start['f1']:+.1f} | {tuned:.1f} | {base:.1f} | "
                     f"{tuned - base:+.1f} |")
    handed = results.get("handover", {})
    if handed:
        layers = len(next(iter(handed.values()))["attention_entropy"])
        lines += ["", f"at the hand-over (before any target step; {next(iter(handed.values()))['windows']} training windows, "
                  "a fresh QA head, the same for every encoder): attention entropy per layer (nats), the last layer's mean "
                  "token norm, the QA loss, and its gradient norm per block", "",
                  f"| encoder | attention entropy, layers 0–{layers - 1} | token norm | loss | gradient norm: embeddings "
                  f"| layers 0–{layers - 1} | head |",
                  "|---|---|---|---|---|---|---|"]
        for key, entry in handed.items():
            grads = entry["gradient_norm"]
            per_layer = " / ".join(f"{grads['layer ' + str(i)]:.3f}" for i in range(layers))
            lines.append(f"| {key} | {' / '.join(f'{e:.2f}' for e in entry['attention_entropy'])} | {entry['feature_norm']:.2f} | "
                         f"{entry['loss']:.3f} | "
                         f"{grads['embeddings']:.3f} | {per_layer} | "
                         f"{grads['head']:.3f} |")
    if schedules:
        keys = [k for k in results["probes"] if k != START]
        lines += ["", "the transfers under other target schedules (each beside its own baseline at the same seed; the "
                  "4-epoch rows at lr 1e-4 are the matrix's)", "",
                  *reruns_table(keys, {"lr 1e-4, 4 epochs": transfer_results, **schedules})]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--cache", default="bench/results/transfer/intermediate", help="the transfer runs' source encoders")
    parser.add_argument("--encoders", nargs="+", default=["conll2000:0", "conll2000:1", "conll2000:2", "stsb:3", "sst2:0"],
                        help="source:seed of each transfer whose encoder to probe")
    parser.add_argument("--transfer-results", default="bench/results/transfer")
    parser.add_argument("--reruns", nargs="*", default=["lr 3e-5, 4 epochs=bench/results/transfer_lr3e-5",
                                                         "lr 1e-4, 8 epochs=bench/results/transfer_8epochs"],
                        help="label=folder of bench_transfer.py runs of the same transfers under another target schedule")
    parser.add_argument("--out", default="bench/results/harm_probe")
    parser.add_argument("--report-only", action="store_true", help="print the table from OUT/probe.json, measuring nothing")
    args = parser.parse_args()
    path = Path(args.out) / "probe.json"
    if not args.report_only:
        path.parent.mkdir(parents=True, exist_ok=True)
        results = json.loads(path.read_text()) if path.exists() else {
            "command": "python bench/harm_probe.py --model " + args.model + " --encoders " + " ".join(args.encoders),
            "model": args.model, "machine": common.machine(), "versions": library_versions(), "probes": {}}
        measure(args, results, path)
    schedules = dict(item.split("=", 1) for item in args.reruns)
    print(report(json.loads(path.read_text()), args.transfer_results, schedules))


if __name__ == "__main__":
    main()
