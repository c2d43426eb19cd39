"""Issue 33, item 3: is a harmful source's damage knowledge or optimisation? Probes, the hand-over, other schedules.

Fine-tuning asks two things of an intermediate encoder: that its features hold what the target needs
(knowledge), and that gradient descent from its weights finds it within the target's budget (optimisation).
The probes try to measure the first without the second: the encoder is frozen and only a span head is trained
on the target's 1,000 training questions, then scored by the library's evaluation (the same decoding and F1 as
the transfer cells) on the 1,988 held-out questions; two heads (linear, and question-aware: :class:`SpanHead`),
over a floor (a randomly initialised encoder of the start model's shape). Each encoder is the very one whose
transfer was measured (``bench_transfer.py``'s cache key; a missing one is trained again under that key and then
reused there). The hand-over (:func:`handover`) describes where the target's fine-tuning starts, and the report
adds the same transfers under the other target schedules of ``--reruns``. RESULTS §3 reads all three (the
probes' band between floor and MiniLM turned out too narrow to decide knowledge).

    python bench/harm_probe.py --model .carry/minilm      # the default encoders: CoNLL-2000 0-2, STS-B 3, SST-2 0-1
    python bench/harm_probe.py --report-only

Resumable (each encoder's probes and hand-over are kept in ``OUT/probe.json`` as they finish).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import cast

import common
import numpy as np
import torch
from transformers import AutoModel

from itft_utils.encoding import collate, encode
from itft_utils.estimators import hidden_states
from itft_utils.finetune import EvalSet
from itft_utils.fisher import eager_attention
from itft_utils.homework import prepare_task, real_data_experiment, real_data_sources
from itft_utils.models import build_model, load_tokenizer, quiet_transformers
from itft_utils.transfer import intermediate_checkpoint, library_versions

START = "start model"
RANDOM = "random encoder"  # the probes' floor: the start model's architecture, randomly initialised


@dataclasses.dataclass(frozen=True)
class ProbeConfig:
    """The span heads' training: Adam on the frozen features, padding masked out of the softmax."""

    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-2
    seed: int = 0


class SpanHead(torch.nn.Module):
    """Start and end logits per token of a frozen encoder's last layer: linear in the token's vector (the QA model's
    own head) or, with ``question``, also in its elementwise product with the mean vector of the window's first
    segment (the question, with [CLS] and [SEP]): a head that can match passage tokens against the question,
    which a linear one cannot do unless the encoder already has."""

    def __init__(self, hidden: int, question: bool):
        super().__init__()
        self.question = question
        self.linear = torch.nn.Linear(2 * hidden if question else hidden, 2)

    def forward(self, hidden: torch.Tensor, first_segment: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """(B, T, H) vectors, (B, T) first-segment and real-token masks -> (B, T, 2) logits, padding at -1e4."""
        if self.question:
            query = (hidden * first_segment.unsqueeze(-1)).sum(1) / first_segment.sum(1, keepdim=True).clamp_min(1)
            hidden = torch.cat([hidden, hidden * query.unsqueeze(1)], dim=-1)
        return self.linear(hidden).masked_fill(~real.unsqueeze(-1), -1e4)


Window = tuple[torch.Tensor, torch.Tensor]  # a window's (T, H) last-layer vectors and its (T,) first-segment mask


def encoder_windows(encoder: torch.nn.Module, feats: dict[str, list], tokenizer) -> list[Window]:
    """The frozen encoder's vectors of every window of ``feats``, in feature order, without padding."""
    windows: list[Window | None] = [None] * len(feats["input_ids"])
    for indices, hidden in hidden_states(encoder, feats, tokenizer):
        for row, i in enumerate(indices):
            length = len(feats["input_ids"][i])
            windows[i] = (torch.from_numpy(hidden[row, :length].copy()), torch.tensor(feats["token_type_ids"][i]) == 0)
    if None in windows:  # every window must be there: the gold positions are matched to them by index
        raise ValueError(f"the encoder pass missed window {windows.index(None)}")
    return cast(list[Window], windows)


def _padded(windows: list[Window], indices: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pad = torch.nn.utils.rnn.pad_sequence
    return (pad([windows[i][0] for i in indices], batch_first=True), pad([windows[i][1] for i in indices], batch_first=True),
            pad([torch.ones(len(windows[i][0]), dtype=torch.bool) for i in indices], batch_first=True))


def train_head(head: SpanHead, windows: list[Window], starts: list[int], ends: list[int], config: ProbeConfig) -> float:
    """Fit ``head`` on the training windows (start and end cross-entropy, the QA model's own loss); the last epoch's
    mean loss."""
    optimiser = torch.optim.Adam(head.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    for _ in range(config.epochs):
        order = torch.randperm(len(windows), generator=generator).tolist()
        losses = []
        for first in range(0, len(order), config.batch_size):
            indices = order[first:first + config.batch_size]
            logits = head(*_padded(windows, indices))
            loss = (torch.nn.functional.cross_entropy(logits[..., 0], torch.tensor([starts[i] for i in indices]))
                    + torch.nn.functional.cross_entropy(logits[..., 1], torch.tensor([ends[i] for i in indices]))) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def head_outputs(head: SpanHead, windows: list[Window], batch_size: int = 64) -> dict[str, list[np.ndarray]]:
    """``predict``'s outputs for the windows: start and end logits per window, cut to its length."""
    out: dict[str, list[np.ndarray]] = {"start_logits": [], "end_logits": []}
    for first in range(0, len(windows), batch_size):
        indices = list(range(first, min(first + batch_size, len(windows))))
        logits = head(*_padded(windows, indices)).numpy()
        for row, i in enumerate(indices):
            out["start_logits"].append(logits[row, :len(windows[i][0]), 0])
            out["end_logits"].append(logits[row, :len(windows[i][0]), 1])
    return out


def probe(encoder: torch.nn.Module, train: dict[str, list], held_out: EvalSet, tokenizer, config: ProbeConfig) -> dict:
    """Both span heads on the frozen ``encoder``: trained on the ``train`` windows, scored on ``held_out`` as the
    transfer cells are (the library's decoding and F1)."""
    started = time.perf_counter()
    train_windows, eval_windows = encoder_windows(encoder, train, tokenizer), encoder_windows(encoder, held_out.features, tokenizer)
    result: dict = {}
    for kind in ("linear", "question"):
        torch.manual_seed(config.seed)  # the same initialisation of a head for every encoder
        head = SpanHead(train_windows[0][0].shape[-1], question=kind == "question")
        loss = train_head(head, train_windows, train["start_positions"], train["end_positions"], config)
        scores = held_out.score_outputs(head_outputs(head, eval_windows))
        result[kind] = {"f1": scores["f1"], "exact_match": scores["exact_match"], "head_loss": loss}
    return {**result, "seconds": time.perf_counter() - started}


def attention_entropy(attention: torch.Tensor, real: torch.Tensor) -> float:
    """The entropy (nats) of each real query token's attention, averaged over heads, summed over the tokens:
    ``attention`` (B, heads, T, T) rows over keys (padded keys carry 0 and add nothing), ``real`` (B, T)."""
    per_token = -(attention * attention.clamp_min(1e-12).log()).sum(-1).mean(1)
    return float(per_token[real].sum())


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
            layers = [attention_entropy(a.detach(), real) for a in out.attentions]
            entropy = [e + x for e, x in zip(entropy, layers)] if entropy else layers
            tokens += int(real.sum())
            norm_total += float(out.hidden_states[-1].detach().norm(dim=-1)[real].sum())
            (out.loss * len(indices) / len(order)).backward()
            loss_total += out.loss.item() * len(indices) / len(order)
    blocks = {"embeddings": "embeddings.", **{f"layer {i}": f"encoder.layer.{i}." for i in range(len(entropy))}}
    named = dict(model.base_model.named_parameters())
    grads = {name: float(sum(float((p.grad ** 2).sum()) for k, p in named.items() if k.startswith(prefix) and p.grad is not None) ** 0.5)
             for name, prefix in blocks.items()}
    head = cast(torch.nn.Module, model.qa_outputs)
    grads["head"] = float(sum(float((p.grad ** 2).sum()) for p in head.parameters() if p.grad is not None) ** 0.5)
    return {"attention_entropy": [e / tokens for e in entropy], "feature_norm": norm_total / tokens, "loss": loss_total,
            "gradient_norm": grads, "windows": len(order)}


def _measured(results: dict, key: str) -> bool:
    handed = key == RANDOM or "feature_norm" in results["handover"].get(key, {})  # the floor has no hand-over
    return "question" in results["probes"].get(key, {}) and handed


def _encoder(key: str, folder: str) -> torch.nn.Module:
    """The encoder to probe: the one saved in ``folder``, or for the floor its architecture freshly initialised."""
    with quiet_transformers():
        encoder = build_model(folder, "qa").base_model
        if key != RANDOM:
            return encoder
        torch.manual_seed(0)
        return AutoModel.from_config(encoder.config)


def measure(args: argparse.Namespace, results: dict, path: Path) -> None:
    """Every encoder's probes and hand-over not yet in ``results``, each saved as it finishes."""
    wanted = [(name, int(seed)) for name, seed in (e.split(":") for e in args.encoders)]
    keys = [RANDOM, START, *(f"{name}:{seed}" for name, seed in wanted)]
    config = ProbeConfig()
    if results.setdefault("probe_config", dataclasses.asdict(config)) != dataclasses.asdict(config):
        raise SystemExit(f"{path} was measured under {results['probe_config']}, not {dataclasses.asdict(config)}: use another --out")
    results.setdefault("handover", {})
    if all(_measured(results, k) for k in keys):
        return  # every encoder is measured: nothing to load
    data_dir = common.data_dir_or_exit()
    experiment = real_data_experiment(data_dir, sources=real_data_sources(names=sorted({n for n, _ in wanted})))
    experiment = dataclasses.replace(experiment, model=args.model)
    tokenizer = load_tokenizer(args.model)
    target = prepare_task(experiment.target, data_dir)
    sources = {spec.name: spec for spec in experiment.sources}
    train = encode("qa", target.train, tokenizer, experiment.settings)
    held_out = EvalSet.build(target.task, target.eval, tokenizer, experiment.settings)
    results.update(train_questions=len(target.train), eval_questions=len(target.eval))
    for key in keys:
        if _measured(results, key):
            continue
        name, _, seed = key.partition(":")
        folder = args.model if key in (START, RANDOM) else str(intermediate_checkpoint(
            prepare_task(sources[name], data_dir), args.model, int(seed), experiment.config, args.cache, tokenizer,
            experiment.settings)[0])
        if "question" not in results["probes"].get(key, {}):
            results["probes"][key] = probe(_encoder(key, folder), train, held_out, tokenizer, config)
        if key != RANDOM:
            results["handover"][key] = handover(folder, train, tokenizer, config)
        print(f"{key}: {results['probes'][key]}; {results['handover'].get(key)}", flush=True)
        path.write_text(json.dumps(results, indent=1))


def _cell(folder: str | Path, run: str, seed: str) -> dict | None:
    """A transfer cell of the SQuAD target (``run``: a source or "baseline"), None where it was not run."""
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


def _label(key: str, model: str) -> str:
    if key in (START, RANDOM):
        return f"{key} ({model})"
    name, seed = key.split(":")
    return f"{name}, seed {seed}"


def report(results: dict, transfer_results: str, schedules: dict[str, str] | None = None) -> str:
    """The probes beside the fine-tuned transfer of the same encoder and the same seed's baseline, the hand-over's
    diagnostics, and the transfers again under the other target ``schedules`` (label: a bench_transfer output)."""
    config, model = results["probe_config"], results["model"]
    lines = [f"frozen-encoder span probes: {results['train_questions']} target questions, {results['eval_questions']} held out; "
             f"each head trained {config['epochs']} epochs (Adam, lr {config['learning_rate']:g}); the random encoder is "
             "the probes' floor", "",
             "| encoder | linear head F1 (EM) | question-aware head F1 (EM) | fine-tuned F1 | same seed's baseline "
             "| fine-tuned − baseline |", "|---|---|---|---|---|---|"]
    for key in sorted(results["probes"], key=lambda k: (k != RANDOM, k != START)):  # the floor, MiniLM, the sources
        entry = results["probes"][key]
        heads = " | ".join(f"{entry[k]['f1']:.1f} ({entry[k]['exact_match']:.1f})" for k in ("linear", "question"))
        name, _, seed = key.partition(":")
        tuned, base = _cell(transfer_results, name, seed), _cell(transfer_results, "baseline", seed)
        tuned_cols = (f"{tuned['score']:.1f} | {base['score']:.1f} | {tuned['score'] - base['score']:+.1f}" if tuned and base
                      else "— | — | —")
        lines.append(f"| {_label(key, model)} | {heads} | {tuned_cols} |")
    handed = results.get("handover", {})
    if handed:
        layers = len(next(iter(handed.values()))["attention_entropy"])
        lines += ["", f"at the hand-over (before any target step; {next(iter(handed.values()))['windows']} training windows, "
                  "a fresh QA head, the same for every encoder): attention entropy per layer (nats), the last layer's mean "
                  "token norm, the QA loss, and its gradient norm per block", "",
                  f"| encoder | attention entropy, layers 0–{layers - 1} | token norm | loss | gradient norm: embeddings "
                  f"| layers 0–{layers - 1} | head |",
                  "|---|---|---|---|---|---|---|"]
        for key in sorted(handed, key=lambda k: k != START):
            entry, grads = handed[key], handed[key]["gradient_norm"]
            entropy = " / ".join(f"{e:.2f}" for e in entry["attention_entropy"])
            per_layer = " / ".join(f"{grads['layer ' + str(i)]:.3f}" for i in range(layers))
            lines.append(f"| {_label(key, model)} | {entropy} | {entry['feature_norm']:.2f} | {entry['loss']:.3f} | "
                         f"{grads['embeddings']:.3f} | {per_layer} | {grads['head']:.3f} |")
    if schedules:
        keys = [k for k in results["probes"] if k not in (START, RANDOM)]
        lines += ["", "the transfers under other target schedules (each beside its own baseline at the same seed; the "
                  "4-epoch rows at lr 1e-4 are the matrix's)", "",
                  *reruns_table(keys, {"lr 1e-4, 4 epochs": transfer_results, **schedules})]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--cache", default="bench/results/transfer/intermediate", help="the transfer runs' source encoders")
    parser.add_argument("--encoders", nargs="+",
                        default=["conll2000:0", "conll2000:1", "conll2000:2", "stsb:3", "sst2:0", "sst2:1"],
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
            "model": args.model, "machine": common.machine(), "versions": library_versions(), "probes": {}}
        results["command"] = "python bench/harm_probe.py --model " + args.model + " --encoders " + " ".join(args.encoders)
        measure(args, results, path)
    schedules = dict(item.split("=", 1) for item in args.reruns)
    print(report(json.loads(path.read_text()), args.transfer_results, schedules))


if __name__ == "__main__":
    main()
