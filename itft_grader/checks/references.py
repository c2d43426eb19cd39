"""The course's reference implementations of the graded exercises, for the hidden tests.

They live here, in the grading package that only instructors install, so that the library students
install holds no function under an exercise's contract (a student could otherwise pass by calling
it). Hidden test cells import them (``from itft_grader.checks.references import answer_f1 as _ref_f1``);
the grading sandbox makes this module, and nothing else of the grading package, importable for the
student's kernel. Each function has the exercise's name and signature, and is written independently
of the model solutions in ``solutions/``, so the hidden tests compare two implementations.

Only numpy, torch and the standard library: the sandboxed kernel imports this file on its own.
"""
from __future__ import annotations

import itertools
import math
import re
import statistics
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

SUM_TOLERANCE = 1e-6  # weights typed by hand (0.1 + 0.2 + 0.7) are off by about 1e-16


# ---------------------------------------------------------------------------------------------
# Homework 1: multi-task losses and sampling
# ---------------------------------------------------------------------------------------------

def _check_mix(values: Sequence[float], count: int, what: str) -> list[float]:
    """Weights or probabilities: one per task, finite, non-negative, summing to 1."""
    values = [float(v) for v in values]
    if len(values) != count:
        raise ValueError(f"got {len(values)} {what} for {count} tasks")
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise ValueError(f"{what} must be finite and non-negative, got {values}")
    if abs(sum(values) - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{what} {values} sum to {sum(values)}, not 1")
    return values


def combine_losses(losses: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Σ_k w_k L_k over scalar losses; weights finite, non-negative, summing to 1 (within 1e-6)."""
    losses = list(losses)
    if not losses:
        raise ValueError("no losses")
    weights = _check_mix(weights, len(losses), "weights")
    return torch.stack([w * loss for w, loss in zip(weights, losses)]).sum()


def temperature_distribution(sizes: Sequence[int], T: float, cap: int | None = None) -> np.ndarray:
    """p_k ∝ min(n_k, cap)^(1/T), computed in log space; T = inf gives the uniform distribution."""
    T = float(T)
    if math.isnan(T) or T <= 0:
        raise ValueError(f"T must be > 0, got {T}")
    n = np.asarray(sizes, dtype=np.float64)
    if cap is not None:
        n = np.minimum(n, float(cap))
    logits = np.log(n) / T
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()


def annealed_exponent(epoch: int, num_epochs: int) -> float:
    """Stickland & Murray's α = 1 − 0.8·epoch/(num_epochs − 1); 1 with a single epoch."""
    if num_epochs < 1 or not 0 <= epoch < num_epochs:
        raise ValueError(f"need num_epochs >= 1 and 0 <= epoch < num_epochs, got epoch {epoch} of {num_epochs}")
    return 1.0 if num_epochs == 1 else 1.0 - 0.8 * epoch / (num_epochs - 1)


class SeededTaskSampler:
    """Draws task names with fixed probabilities from a generator of its own."""

    def __init__(self, task_names: Sequence[str], probs: Sequence[float], seed: int):
        self.task_names = list(task_names)
        p = _check_mix(probs, len(self.task_names), "probabilities")
        self.task_probs = dict(zip(self.task_names, p))
        self._p = np.asarray(p) / sum(p)
        self._rng = np.random.default_rng(seed)

    def sample(self) -> str:
        return self.task_names[int(self._rng.choice(len(self._p), p=self._p))]


def uncertainty_loss(losses: Sequence[Tensor], log_vars: Tensor) -> Tensor:
    """Σ_k exp(−s_k)·L_k + s_k (Kendall et al.'s simplified form), s = ``log_vars``."""
    if len(losses) != log_vars.numel():
        raise ValueError(f"got {len(losses)} losses for {log_vars.numel()} log-variances")
    return sum(torch.exp(-s) * loss + s for s, loss in zip(log_vars.reshape(-1), losses))


def step_lambda(step: int, total_steps: int, switch_fraction: float) -> float:
    """λ on the target: 0 while step / total_steps < switch_fraction, 1 from there on."""
    if total_steps < 1 or not 0 <= step <= total_steps or not 0.0 <= switch_fraction <= 1.0:
        raise ValueError(f"need total_steps >= 1, 0 <= step <= total_steps and a fraction in [0, 1]; "
                         f"got step {step}, total_steps {total_steps}, switch_fraction {switch_fraction}")
    return 0.0 if step / total_steps < switch_fraction else 1.0


def layer_key(name: str) -> str:
    """The layer a BERT encoder parameter belongs to: "embeddings", "layer.<i>" or "pooler" (given code)."""
    parts = name.split(".")
    return f"layer.{parts[2]}" if parts[:2] == ["encoder", "layer"] else parts[0]


def layer_cosines(target_grads: Mapping[str, Tensor], aux_grads: Mapping[str, Tensor]) -> dict[str, float]:
    """{layer: cosine between the two tasks' gradients over all of that layer's parameters}; 0.0 when
    either gradient of the layer is all zeros."""
    groups: dict[str, tuple[list[Tensor], list[Tensor]]] = {}
    for name, g in target_grads.items():
        a, b = groups.setdefault(layer_key(name), ([], []))
        a.append(g.detach().double().flatten())
        b.append(aux_grads[name].detach().double().flatten())
    result = {}
    for layer, (a, b) in groups.items():
        u, v = torch.cat(a), torch.cat(b)
        norm = float(u.norm() * v.norm())
        result[layer] = float(u @ v) / norm if norm > 0 else 0.0
    return result


def pcgrad(grads: Sequence[Tensor]) -> Tensor:
    """PCGrad (Yu et al. 2020) for two tasks: where the gradients conflict (negative dot product),
    each loses its component along the *other's original* gradient; the update is the sum."""
    g1, g2 = (g.detach().double() for g in grads)
    dot = float(g1 @ g2)
    if dot < 0:
        g1, g2 = g1 - dot / float(g2 @ g2) * g2, g2 - dot / float(g1 @ g1) * g1
    return (g1 + g2).to(grads[0].dtype)


# ---------------------------------------------------------------------------------------------
# Homework 2: intermediate fine-tuning
# ---------------------------------------------------------------------------------------------

_PUNCTUATION = frozenset(string.punctuation)


def char_to_token_span(offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None], start_char: int,
                       end_char: int, cls_index: int = 0) -> tuple[int, int]:
    """Inclusive token span of the answer characters ``[start_char, end_char)`` in one window: the
    token where the answer starts and the one where it ends (a sub-word counts when the answer starts
    or ends inside it); ``(cls_index, cls_index)`` unless the window's context holds the whole answer."""
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if not context:
        return cls_index, cls_index
    first, last = context[0], context[-1]
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return cls_index, cls_index
    start = first
    while start <= last and offsets[start][0] <= start_char:
        start += 1
    end = last
    while end >= first and offsets[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, offsets: Sequence[tuple[int, int] | None],
              n_best_size: int = 20, max_answer_length: int = 30) -> tuple[int, int] | None:
    """The highest-scoring valid (start, end) among the top ``n_best_size`` starts and ends: both on
    context tokens (offsets not None), end not before start, at most ``max_answer_length`` tokens.
    Equal scores: the later start, then the later end. None when no pair is valid."""
    start_idx = np.argsort(start_logits)[-1: -n_best_size - 1: -1]
    end_idx = np.argsort(end_logits)[-1: -n_best_size - 1: -1]
    candidates = []
    for s in start_idx:
        for e in end_idx:
            if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                continue
            if e < s or e - s + 1 > max_answer_length:
                continue
            candidates.append((float(start_logits[s] + end_logits[e]), int(s), int(e)))
    return max(candidates)[1:] if candidates else None


def normalize_answer(s: str) -> str:
    """SQuAD v1.1's normalisation, in its order: lower case, punctuation, articles, whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())


def answer_f1(prediction: str, ground_truths: Sequence[str]) -> float:
    """The best token-count F1 (0-1) of ``prediction`` over the gold answers."""
    def f1(gold: str) -> float:
        pred, ref = Counter(normalize_answer(prediction).split()), Counter(normalize_answer(gold).split())
        shared = sum((pred & ref).values())
        if shared == 0:
            return 0.0
        precision, recall = shared / sum(pred.values()), shared / sum(ref.values())
        return 2 * precision * recall / (precision + recall)

    return max(f1(gold) for gold in ground_truths)


def same_encoder(model_a: torch.nn.Module, model_b: torch.nn.Module) -> bool:
    """Whether two head models' encoders (``base_model`` without the pooler) are bit-identical."""
    def state(model: torch.nn.Module) -> dict[str, Tensor]:
        encoder = model.base_model
        assert isinstance(encoder, torch.nn.Module)
        return {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}

    a, b = state(model_a), state(model_b)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def hand_over(model: torch.nn.Module, folder: str, task_type: str, num_labels: int = 2) -> torch.nn.Module:
    """``model``'s encoder (``base_model``, without its head) saved to ``folder`` and loaded under a freshly
    initialised head for ``task_type``: "qa" (always 2 outputs: start and end), "classification" or
    "tagging" (``num_labels`` outputs, never the old head's size that the saved config still names)."""
    import transformers  # lazily: the grader's process only, for the hand-over checks

    heads = {"qa": transformers.AutoModelForQuestionAnswering, "classification": transformers.AutoModelForSequenceClassification,
             "tagging": transformers.AutoModelForTokenClassification}
    if task_type not in heads:
        raise ValueError(f"unknown task_type {task_type!r}; expected one of {sorted(heads)}")
    encoder = model.base_model
    assert isinstance(encoder, transformers.PreTrainedModel)
    encoder.save_pretrained(folder)
    return heads[task_type].from_pretrained(folder, num_labels=2 if task_type == "qa" else num_labels)


#: t quantiles t_{0.975, df} for df = 1..30 (beyond: the normal 1.96), for the intervals of a few seeds.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_interval(values: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95 % t interval (nan for one value)."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return mean, float("nan")
    t = T975[len(values) - 2] if len(values) - 1 <= len(T975) else 1.96
    return mean, t * statistics.stdev(values) / math.sqrt(len(values))


def paired_summary(source: Mapping[int, float], baseline: Mapping[int, float]) -> dict[str, Any]:
    """Per-seed paired differences (source − baseline, on the seeds both have): ``n``, their ``mean`` and
    sample ``std`` (nan for one seed), the relative ``gain`` (mean difference over the baseline's mean on
    those seeds), the exact two-sided sign-flip permutation ``p_value`` of the mean difference and its 95 %
    t ``interval`` (low, high; nan for one seed)."""
    seeds = sorted(set(source) & set(baseline))
    if not seeds:
        raise ValueError("no seed in common: nothing to pair")
    diffs = np.array([source[k] - baseline[k] for k in seeds], dtype=np.float64)
    observed = abs(diffs.mean())
    flips = [abs((diffs * np.array(signs)).mean()) for signs in itertools.product((1.0, -1.0), repeat=len(diffs))]
    p_value = sum(f >= observed - 1e-12 for f in flips) / len(flips)
    base = float(np.mean([baseline[k] for k in seeds]))
    mean, half = mean_interval(diffs.tolist())
    return {"n": len(seeds), "mean": float(diffs.mean()), "std": float(diffs.std(ddof=1)) if len(diffs) > 1 else float("nan"),
            "gain": float(diffs.mean()) / base, "p_value": float(p_value), "interval": (mean - half, mean + half)}


def seeds_needed(std: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Seeds for a paired test at level ``alpha`` (two-sided) to detect a mean difference ``effect`` with
    probability ``power``, given the per-seed differences' ``std`` (normal approximation)."""
    z = statistics.NormalDist().inv_cdf
    return max(2, math.ceil(((z(1 - alpha / 2) + z(power)) * std / effect) ** 2))


def equal_budgets(profiles: Mapping[str, Mapping[str, int]], amount: float, unit: str) -> dict[str, int]:
    """Homework 2's budget design, in both units: the optimiser steps that make every source spend
    ``amount`` steps, or ``amount`` tokens at ``batch_size`` windows of its mean window length a step."""
    if unit not in ("steps", "tokens"):
        raise ValueError(f"unit must be 'steps' or 'tokens'; got {unit!r}")
    per_step = {name: 1.0 if unit == "steps" else p["tokens"] / p["windows"] * p["batch_size"] for name, p in profiles.items()}
    return {name: max(1, round(amount / cost)) for name, cost in per_step.items()}


# ---------------------------------------------------------------------------------------------
# Homework 3: task embeddings
# ---------------------------------------------------------------------------------------------

def per_example_gradients(W: Tensor, b: Tensor, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Each example's gradient of the cross-entropy of a linear softmax classifier (logits W x + b) with
    respect to W (N, C, D) and b (N, C): one ordinary backward pass per example, in float64, so
    independent of the vmap solution it checks."""
    grads_w, grads_b = [], []
    for x, label in zip(X, y):
        w_n = W.detach().double().clone().requires_grad_(True)
        b_n = b.detach().double().clone().requires_grad_(True)
        logits = w_n @ x.detach().double() + b_n
        loss = torch.nn.functional.cross_entropy(logits.reshape(1, -1), label.reshape(1).long())
        g_w, g_b = torch.autograd.grad(loss, (w_n, b_n))
        grads_w.append(g_w)
        grads_b.append(g_b)
    return torch.stack(grads_w), torch.stack(grads_b)


def empirical_fisher(grads: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """{name: (N, ...) per-example gradients} -> {name: (...) (1/N) Σ_n g_n²}, in float64."""
    out = {}
    for name, g in grads.items():
        g = torch.as_tensor(g).detach().double()
        out[name] = torch.einsum("n...,n...->...", g, g) / g.shape[0]
    return out


def batch_mean_fisher(grads: Mapping[str, Tensor], batch_size: int) -> dict[str, Tensor]:
    """{name: (N, ...)} -> {name: (...)}: the examples cut in order into batches of ``batch_size`` (the last
    may be smaller), each batch's mean gradient squared, averaged over the batches; in float64."""
    out = {}
    for name, g in grads.items():
        g = torch.as_tensor(g).detach().double()
        squares = [torch.square(chunk.sum(0) / chunk.shape[0]) for chunk in torch.split(g, batch_size)]
        out[name] = sum(squares[1:], squares[0]) / len(squares)
    return out


def layer_output_fisher(model: Any, batch: Mapping[str, Tensor], loss_fn) -> dict[str, Tensor]:
    """Layer-output TaskEmb parts of one padded batch, summed over its examples: for each layer's attention
    output and layer output, Σ_n (1/T_n) Σ_t g_{n,t}² over example n's T_n real tokens, and ``cls_output``,
    Σ_n g_{n,0}² at the last layer's output. Computed one example at a time, unpadded, with ``retain_grad``
    and a plain backward pass: independent of the batched solution it checks."""
    activations = []
    for i, layer in enumerate(model.base_model.encoder.layer):
        activations += [(f"encoder.layer.{i}.attention_output", layer.attention), (f"encoder.layer.{i}.layer_output", layer)]
    mask = batch["attention_mask"]
    width = mask.shape[1]
    sums: dict[str, Tensor] = {}
    for i in range(mask.shape[0]):
        length = int(mask[i].sum())
        one = {k: v[i: i + 1, :length] if v.dim() >= 2 and v.shape[1] == width else v[i: i + 1] for k, v in batch.items()}
        kept: dict[str, Tensor] = {}

        def keep(name: str, kept: dict[str, Tensor] = kept):
            def hook(_module, _inputs, output):
                tensor = output[0] if isinstance(output, tuple) else output
                tensor.retain_grad()
                kept[name] = tensor
            return hook

        handles = [module.register_forward_hook(keep(name)) for name, module in activations]
        try:
            model.zero_grad(set_to_none=True)
            loss_fn(model, one)[0].backward()
        finally:
            for handle in handles:
                handle.remove()
        for name, _ in activations:
            grad = cast(Tensor, kept[name].grad)
            sums[name] = sums.get(name, 0) + (grad[0].double() ** 2).sum(0) / length
        last = cast(Tensor, kept[activations[-1][0]].grad)
        sums["cls_output"] = sums.get("cls_output", 0) + last[0, 0].double() ** 2
    model.zero_grad(set_to_none=True)
    return sums


def logme(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> float:
    """LogME (You et al. 2021): the maximised log evidence per example of a Bayesian linear model from the
    features F (N, D) to each target column (one-hot classes, or the regression target), averaged over
    columns. Prior w ~ N(0, α⁻¹ I), noise precision β; in the eigenbasis of FᵀF (all D eigenvalues σ) the
    posterior mean is m = z / (σ + α/β) with z = Vᵀ Fᵀ y; fixed-point updates α = γ / (|m|² + ε),
    β = (N − γ) / (|Fm − y|² + ε), ε = 1e-5, from α = β = 1 until α/β changes by less than 1e-6 (relative),
    at most 1000 times."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    y = np.asarray(labels)
    columns = y[:, None].astype(np.float64) if regression else (y[:, None] == np.unique(y)[None, :]).astype(np.float64)
    sigma, v = np.linalg.eigh(f.T @ f)
    sigma = np.clip(sigma, 0.0, None)
    evidences = []
    for target in columns.T:
        z = v.T @ (f.T @ target)
        alpha, beta = 1.0, 1.0
        for _ in range(1000):
            t = alpha / beta
            gamma = float(np.sum(sigma / (sigma + t)))
            m2 = float(np.sum(z ** 2 / (sigma + t) ** 2))
            residual = float(target @ target - np.sum(z ** 2 * (sigma + 2 * t) / (sigma + t) ** 2))
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (residual + 1e-5)
            if abs(alpha / beta - t) <= 1e-6 * t:
                break
        t = alpha / beta
        m2 = float(np.sum(z ** 2 / (sigma + t) ** 2))
        residual = float(target @ target - np.sum(z ** 2 * (sigma + 2 * t) / (sigma + t) ** 2))
        evidence = (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
                    - beta / 2 * residual - alpha / 2 * m2 - 0.5 * float(np.sum(np.log(alpha + beta * sigma))))
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def nearest_neighbour_agreement(vectors: Mapping[str, np.ndarray], families: Mapping[str, str]) -> float:
    """Share of tasks whose nearest other task by cosine similarity has the same family (ties: the first name)."""
    names = sorted(vectors)
    if len(names) < 2:
        raise ValueError("need at least two tasks")
    unit = {n: np.asarray(vectors[n], dtype=np.float64) / (np.linalg.norm(vectors[n]) or 1.0) for n in names}
    hits = 0
    for n in names:
        others = [m for m in names if m != n]
        nearest = max(others, key=lambda m: (float(unit[n] @ unit[m]), [-ord(c) for c in m]))
        hits += families[nearest] == families[n]
    return hits / len(names)


def aggregate_parts(parts: Mapping[str, np.ndarray]) -> np.ndarray:
    """Unit-norm parts (an all-zero part stays zero) in sorted name order, divided by sqrt(#parts)."""
    pieces = []
    for name in sorted(parts):
        v = np.asarray(parts[name], dtype=np.float64).ravel()
        norm = np.linalg.norm(v)
        pieces.append(v / norm if norm > 0 else v)
    return np.concatenate(pieces) / math.sqrt(len(pieces))


def ndcg_at_k(ranking: Sequence[str], scores: Mapping[str, float], k: int) -> float:
    """NDCG@k (linear gain, log2(i + 1) discount from position 1) with relevance = score − lowest
    score; sources without a score are skipped; 1.0 when every relevance is 0."""
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k}")
    low = min(scores.values())
    relevance = {s: v - low for s, v in scores.items()}
    ranked = [s for s in ranking if s in relevance]

    def dcg(values: Sequence[float]) -> float:
        return sum(r / math.log2(i + 2) for i, r in enumerate(values))

    ideal = dcg(sorted(relevance.values(), reverse=True)[:k])
    return dcg([relevance[s] for s in ranked[:k]]) / ideal if ideal > 0 else 1.0


def regret_at_k(ranking: Sequence[str], scores: Mapping[str, float], k: int) -> float:
    """Poth et al.'s (2021) relative regret in percent: (best score − best score in the top k) / best score × 100."""
    best = max(scores.values())
    return (best - max(scores[s] for s in ranking[:k] if s in scores)) / best * 100


def cosine_ranking(target: str, vectors: Mapping[str, np.ndarray]) -> list[str]:
    """The other tasks, most cosine-similar to ``target`` first; ties by name; a zero vector has cosine 0."""
    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0

    others = [name for name in vectors if name != target]
    return sorted(others, key=lambda name: (-cosine(vectors[target], vectors[name]), name))
