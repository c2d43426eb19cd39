"""Task embeddings (Vu et al., 2020) and how well they pick an intermediate task.

A task becomes a vector in two ways:

* **TextEmb**: the mean of a *pre-trained* encoder's token representations over the task's inputs.
  It sees the text only: not the labels, not the dataset size.
* **TaskEmb**: run the task's data through a model *fine-tuned on the task* and measure, with the
  diagonal of the empirical Fisher information, how strongly the loss depends on each encoder weight
  (``weights/...`` parts) and on each layer's outputs (``features/...`` parts). Tasks that lean on the
  same parts of the encoder get similar vectors.

Then: cosine similarity ranks candidate source tasks for a target, and the ranking is scored against
measured transfers (NDCG@k, regret@k, rank of the best source) next to two baselines (DataSize,
random). :func:`embed_tasks` does the whole pipeline for a library of tasks, cached and resumable.

Vocabulary as in Hugging Face's QA code: *examples* are raw rows, *features* are tokenised windows.
The Fisher is averaged over features (a long SQuAD passage gives several windows).

**The empirical Fisher, per example or per batch.** With per-example gradients g_n = ∇ℓ(x_n, y_n),
the diagonal empirical Fisher is F = (1/N) Σ_n g_n ⊙ g_n. Vu et al.'s public code instead squares
the gradient of each *batch-mean* loss, ḡ_b = (1/B) Σ_{n∈b} g_n, and sums ḡ_b ⊙ ḡ_b over batches
(dividing by the number of examples). Since E[ḡ²] = E[g]² + Var[g]/B, the batch version is mostly
the squared *mean* gradient (what all examples agree on) and shrinks the per-example spread by 1/B,
so it depends on the batch size; the per-example version is the textbook quantity and does not.
Both are here: ``fisher="per_example"`` (default) and ``fisher="batch_mean"``.

**Per-example gradients, fast.** For weights, ``torch.func`` gives them all at once:
``vmap(grad(loss_of_one_example))`` over the batch, with ``functional_call`` to run the Hugging Face
model on swapped-in parameters; the plain loop (one backward per example) is kept as the reference.
transformers 5's BERT builds its attention mask with helpers that branch on the mask's *values*,
which ``vmap`` cannot trace; so the mask is passed already in its final form (a 4-D additive float
mask, which the helpers return untouched), and attention runs in its ``eager`` implementation (the
SDPA kernels have no batching rule and would fall back to a slow loop). For layer outputs no
``vmap`` is needed at all: examples do not interact in an encoder in eval mode, so one backward pass
of the *summed* per-example losses gives each example's own gradient with respect to its own
activations.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from torch.func import functional_call, grad, vmap

from .data.splits import subsample
from .data.task import TASK_FAMILIES, Task
from .encoding import IGNORE_INDEX, collate, encode, num_features
from .models import build_model, load_tokenizer, quiet_transformers
from .runtime import get_device, set_seed, torch_threads
from .training import TrainConfig, train

FISHER_MODES = ("per_example", "batch_mean")
#: A loss function maps (forward, batch) to one loss per example, shape (B,). ``forward(**inputs)``
#: is the model, or the model run on swapped-in parameters (torch.func).
LossFn = Callable[[Callable, dict], torch.Tensor]
_TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5


# ---------------------------------------------------------------------------------------------
# Per-example losses of Hugging Face heads
# ---------------------------------------------------------------------------------------------

def per_example_loss(task_type: str, outputs, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """One loss per example (B,), the per-example version of the head's own loss.

    Hugging Face heads return a batch mean, and for tagging a mean over all labelled tokens of the
    batch, which mixes examples; here each example's loss is its own (tagging: the mean over *its*
    labelled tokens). For QA, padding positions are excluded from the span softmax so an example's
    loss does not depend on what it was batched with (HF's head leaves them in).
    """
    if task_type == "classification":
        return F.cross_entropy(outputs.logits, batch["labels"], reduction="none")
    if task_type == "regression":
        return (outputs.logits.squeeze(-1) - batch["labels"]) ** 2  # HF's MSE, per example
    if task_type == "tagging":
        labels = batch["labels"]  # (B, T), IGNORE_INDEX on padding and continuation subwords
        token_loss = F.cross_entropy(outputs.logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none")
        return token_loss.sum(1) / (labels != IGNORE_INDEX).sum(1).clamp_min(1)
    if task_type == "qa":
        start, end = outputs.start_logits, outputs.end_logits  # (B, T)
        mask = batch.get("attention_mask")
        if mask is not None:
            low = torch.finfo(start.dtype).min
            start, end = start.masked_fill(mask == 0, low), end.masked_fill(mask == 0, low)
        return (F.cross_entropy(start, batch["start_positions"], reduction="none")
                + F.cross_entropy(end, batch["end_positions"], reduction="none")) / 2
    raise ValueError(f"unknown task_type {task_type!r}; expected one of {sorted(TASK_FAMILIES)}")


def additive_attention_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, T) 0/1 padding mask -> (B, 1, 1, T) additive mask: 0 where attended, the dtype's min on padding.

    transformers 5 returns a 4-D mask untouched (no value-dependent branching, so ``vmap`` can
    trace it) and adds it to the attention scores, exactly what it would have built itself.
    """
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def hf_loss_fn(task_type: str, dtype: torch.dtype = torch.float32) -> LossFn:
    """The :data:`LossFn` of a Hugging Face head for ``task_type`` (batches as ``encoding.collate`` makes them)."""
    if task_type not in TASK_FAMILIES:
        raise ValueError(f"unknown task_type {task_type!r}; expected one of {sorted(TASK_FAMILIES)}")

    def loss_fn(forward: Callable, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: batch[k] for k in ("input_ids", "token_type_ids") if k in batch}
        if "attention_mask" in batch:
            # transformers 4.x builds its eager mask arithmetically (vmap-safe) from the 2-D mask.
            mask = batch["attention_mask"]
            inputs["attention_mask"] = additive_attention_mask(mask, dtype) if _TRANSFORMERS_5 else mask
        return per_example_loss(task_type, forward(**inputs), batch)

    return loss_fn


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module):
    """Run attention in its eager (matmul + softmax) implementation inside the block, then restore.

    ``vmap`` has no batching rule for the fused SDPA kernels and would loop over examples instead.
    """
    config = getattr(model, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if config is None or before in (None, "eager"):
        yield
        return
    switch = getattr(model, "set_attn_implementation", None)
    try:
        if switch is not None:
            switch("eager")
        else:  # transformers 4.x
            config._attn_implementation = "eager"
        yield
    finally:
        if switch is not None:
            switch(before)
        else:
            config._attn_implementation = before


def _one_example(batch: Mapping[str, torch.Tensor], i: int) -> dict[str, torch.Tensor]:
    """Example ``i`` of a right-padded batch as a batch of one, with its padding cut off."""
    one = {k: v[i : i + 1] for k, v in batch.items()}
    mask = one.get("attention_mask")
    if mask is None or mask.dim() != 2:
        return one
    length = int(mask.sum())
    width = mask.shape[1]
    # Per-token tensors (ids, mask, tagging labels) share the mask's width; QA positions do not.
    return {k: v[:, :length] if v.dim() >= 2 and v.shape[1] == width else v for k, v in one.items()}


# ---------------------------------------------------------------------------------------------
# Per-example gradients and the weight Fisher
# ---------------------------------------------------------------------------------------------

def per_example_grads(
    model: torch.nn.Module,
    batch: Mapping[str, torch.Tensor],
    loss_fn: LossFn,
    names: Sequence[str] | None = None,
    method: str = "vmap",
    chunk_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Gradient of each example's loss with respect to the parameters ``names``: {name: (B, *shape)}.

    ``method="vmap"``: ``torch.func.vmap(grad(...))`` over the batch, all examples at once (peak
    memory grows with B times the parameter count; ``chunk_size`` bounds it). ``method="loop"``: one
    forward and backward per example, its padding removed: the reference. ``names`` defaults to
    every parameter that requires grad. Run the model in eval mode: dropout would make each
    example's gradient random (vmap refuses it).
    """
    params = dict(model.named_parameters())
    names = [n for n, p in params.items() if p.requires_grad] if names is None else list(names)
    unknown = [n for n in names if n not in params]
    if unknown:
        raise KeyError(f"not parameters of the model: {unknown[:3]}{' ...' if len(unknown) > 3 else ''}")
    if method == "vmap":
        wanted = {n: params[n].detach() for n in names}
        frozen = {n: p.detach() for n, p in params.items() if n not in wanted}
        buffers = dict(model.named_buffers())

        def loss_of_one(p: dict, example: dict) -> torch.Tensor:
            single = {k: v.unsqueeze(0) for k, v in example.items()}  # a batch of one, as the model expects

            def forward(*args, **kwargs):
                return functional_call(model, (p, frozen, buffers), args, kwargs)

            return loss_fn(forward, single)[0]

        with eager_attention(model):
            return vmap(grad(loss_of_one), in_dims=(None, 0), chunk_size=chunk_size)(wanted, dict(batch))
    if method == "loop":
        tensors = [params[n] for n in names]
        rows: list[tuple[torch.Tensor, ...]] = []
        size = next(iter(batch.values())).shape[0]
        with torch.enable_grad():
            for i in range(size):
                loss = loss_fn(model, _one_example(batch, i))[0]
                grads = torch.autograd.grad(loss, tensors, allow_unused=True)
                rows.append(tuple(torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)))
        return {n: torch.stack([r[j] for r in rows]) for j, n in enumerate(names)}
    raise ValueError(f"method must be 'vmap' or 'loop'; got {method!r}")


def encoder_parameter_names(model: torch.nn.Module) -> list[str]:
    """The encoder's parameters (full names), without the pooler: QA and tagging heads do not use
    it, and every task's embedding must cover the same parameters (the encoder without its pooler)."""
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix):
        raise TypeError(f"{type(model).__name__} has no base model (base_model_prefix); expected a Hugging Face head model")
    return [n for n, p in model.named_parameters() if n.startswith(prefix + ".") and not n.startswith(f"{prefix}.pooler.")]


def _batches(features: dict[str, list], batch_size: int) -> list[list[int]]:
    """Features sorted by length, then cut into batches: little padding, fixed order (deterministic)."""
    lengths = [len(x) for x in features["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def _check_fisher_mode(fisher: str) -> None:
    if fisher not in FISHER_MODES:
        raise ValueError(f"fisher must be one of {FISHER_MODES}; got {fisher!r}")


def weight_fisher(
    model: torch.nn.Module,
    features: dict[str, list],
    task_type: str,
    fisher: str = "per_example",
    method: str = "vmap",
    batch_size: int = 8,
    pad_token_id: int = 0,
    device: str | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher of the encoder weights over ``features``: {name: tensor like the weight}.

    Names are relative to the base model (``embeddings.word_embeddings.weight``,
    ``encoder.layer.0.attention.self.query.weight``, ...), so they agree across heads.
    ``fisher="per_example"``: (1/N) Σ_n g_n², with per-example gradients from ``method``
    ("vmap" or "loop"); ``"batch_mean"``: Vu et al.'s Σ_b ḡ_b² / N (see the module docstring).
    """
    _check_fisher_mode(fisher)
    dev = get_device(device)
    model.to(dev).eval()
    names = encoder_parameter_names(model) if names is None else list(names)
    prefix = model.base_model_prefix + "."
    params = dict(model.named_parameters())
    loss_fn = hf_loss_fn(task_type, params[names[0]].dtype)
    total = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in names}
    count = 0
    for indices in _batches(features, batch_size):
        batch = {k: v.to(dev) for k, v in collate(features, indices, pad_token_id).items()}
        if fisher == "batch_mean":
            with torch.enable_grad():
                grads = torch.autograd.grad(loss_fn(model, batch).mean(), [params[n] for n in names], allow_unused=True)
            for n, g in zip(names, grads):
                if g is not None:
                    total[n] += g.float() ** 2
        elif method == "loop":  # one example's gradient in memory at a time
            tensors = [params[n] for n in names]
            for i in range(len(indices)):
                with torch.enable_grad():
                    grads = torch.autograd.grad(loss_fn(model, _one_example(batch, i))[0], tensors, allow_unused=True)
                for n, g in zip(names, grads):
                    if g is not None:
                        total[n] += g.float() ** 2
        else:
            grads = per_example_grads(model, batch, loss_fn, names, method)
            for n in names:
                total[n] += (grads[n].float() ** 2).sum(0)
        count += len(indices)
    if count == 0:
        raise ValueError("no features to compute the Fisher on")
    return {n.removeprefix(prefix): (t / count).cpu() for n, t in total.items()}


def max_relative_error(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor], floor: float = 1e-4) -> float:
    """max over tensors of max|a − b| / max|b|: each tensor's error relative to its own largest entry.

    Some gradients are zero in exact arithmetic (attention key biases: softmax ignores a shift that
    is the same for every key), so both sides hold rounding noise (~1e-11 of the largest gradient),
    and noise compared with noise gives any ratio at all. So a tensor's scale is floored at
    ``floor`` times the largest entry over all tensors: a tensor 10,000 times smaller than the
    largest gradient is held to 1e-4 × tolerance of that largest gradient, in absolute terms.
    """
    if set(a) != set(b):
        raise KeyError(f"different tensors: {sorted(set(a) ^ set(b))[:3]}")
    top = max(float(torch.as_tensor(v).abs().max()) for v in b.values())
    worst = 0.0
    for k in b:
        x, y = torch.as_tensor(a[k]).double(), torch.as_tensor(b[k]).double()
        scale = max(float(y.abs().max()), floor * top, 1e-300)
        worst = max(worst, float((x - y).abs().max()) / scale)
    return worst


# ---------------------------------------------------------------------------------------------
# Layer-output features
# ---------------------------------------------------------------------------------------------

def activation_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """(name, module) of every activation the features read: each layer's attention sub-layer
    output and each layer's output (BERT-style encoders: ``base_model.encoder.layer``)."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if layers is None:
        raise TypeError(f"{type(model.base_model).__name__} has no encoder.layer list; layer features need a BERT-style encoder")
    modules = []
    for i, layer in enumerate(layers):
        modules.append((f"encoder.layer.{i}.attention_output", layer.attention))
        modules.append((f"encoder.layer.{i}.layer_output", layer))
    return modules


@contextlib.contextmanager
def _capture(model: torch.nn.Module, retain: bool = False):
    """Record the outputs of :func:`activation_modules` during a forward pass (``retain``: keep their .grad)."""
    captured: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in activation_modules(model):
        def hook(_module, _inputs, output, name=name):
            tensor = output[0] if isinstance(output, tuple) else output
            if retain:
                tensor.retain_grad()
            captured[name] = tensor
        handles.append(module.register_forward_hook(hook))
    try:
        yield captured
    finally:
        for h in handles:
            h.remove()


def layer_features(
    model: torch.nn.Module,
    features: dict[str, list],
    task_type: str,
    fisher: str = "per_example",
    method: str = "batched",
    batch_size: int = 8,
    pad_token_id: int = 0,
    device: str | None = None,
) -> dict[str, torch.Tensor]:
    """Squared loss gradients at each layer's attention output and layer output, pooled over tokens
    and normalised by the token count, plus the [CLS] feature: {name: (hidden,)}.

    Per example n with tokens t: a_n = Σ_t g_{n,t}² / T_n for each activation, and the [CLS]
    feature g_{n,0}² at the last layer's output (the [CLS] token's final vector, which every head
    can reach; the pooler is unused by QA and tagging heads); the task's feature is the mean over
    features. ``method="batched"``: one backward pass of the summed losses for the whole batch
    (gradients with respect to activations only, no weight gradients); ``"loop"``: the reference,
    one example at a time, unpadded, with ``retain_grad`` and a plain ``backward()`` as Vu et al.'s
    code reads activations (so it also computes weight gradients). ``fisher="batch_mean"`` follows
    their code: per batch, (Σ_n Σ_t ḡ_{n,t})² / (tokens in the batch), summed over batches and
    divided by N; it is one pass per batch by definition, so ``method`` does not apply to it.
    """
    _check_fisher_mode(fisher)
    if method not in ("batched", "loop"):
        raise ValueError(f"method must be 'batched' or 'loop'; got {method!r}")
    dev = get_device(device)
    model.to(dev).eval()
    loss_fn = hf_loss_fn(task_type, next(model.parameters()).dtype)
    names = [n for n, _ in activation_modules(model)]
    last = names[-1]
    total: dict[str, torch.Tensor] = {}
    count = 0

    def add(name: str, value: torch.Tensor) -> None:
        total[name] = total.get(name, 0) + value.detach().float()

    for indices in _batches(features, batch_size):
        batch = {k: v.to(dev) for k, v in collate(features, indices, pad_token_id).items()}
        count += len(indices)
        if method == "loop" and fisher == "per_example":
            for i in range(len(indices)):
                one = _one_example(batch, i)
                model.zero_grad(set_to_none=True)
                with torch.enable_grad(), _capture(model, retain=True) as acts:
                    loss_fn(model, one)[0].backward()
                tokens = one["input_ids"].shape[1]
                for name in names:
                    add(name, (acts[name].grad[0] ** 2).sum(0) / tokens)
                add("cls_output", acts[last].grad[0, 0] ** 2)
            model.zero_grad(set_to_none=True)
            continue
        with torch.enable_grad(), _capture(model) as acts:
            losses = loss_fn(model, batch)  # (B,)
            # Examples do not interact, so d(Σ_n ℓ_n)/d(activation of n) = dℓ_n/d(activation of n).
            objective = losses.mean() if fisher == "batch_mean" else losses.sum()
            grads = dict(zip(names, torch.autograd.grad(objective, [acts[n] for n in names])))
        mask = batch["attention_mask"].to(grads[last].dtype)[:, :, None]  # (B, T, 1)
        if fisher == "batch_mean":
            n_tokens = mask.sum()
            for name in names:
                add(name, (grads[name] * mask).sum((0, 1)) ** 2 / n_tokens)
            add("cls_output", grads[last][:, 0].sum(0) ** 2 / n_tokens)
        else:
            per_token = mask.sum(1)  # (B, 1)
            for name in names:
                add(name, ((grads[name] ** 2 * mask).sum(1) / per_token).sum(0))
            add("cls_output", (grads[last][:, 0] ** 2).sum(0))
    if count == 0:
        raise ValueError("no features to compute layer features on")
    return {name: (value / count).cpu() for name, value in total.items()}


# ---------------------------------------------------------------------------------------------
# TextEmb
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def text_embedding(encoder: torch.nn.Module, features: dict[str, list], batch_size: int = 32,
                   pad_token_id: int = 0, device: str | None = None) -> torch.Tensor:
    """TextEmb: the mean of the encoder's last-layer token vectors over every (non-padding) token of
    every feature, (hidden,). Pass the *pre-trained* encoder (a head model's ``base_model`` works)."""
    dev = get_device(device)
    encoder = getattr(encoder, "base_model", encoder).to(dev).eval()
    total, tokens = None, 0
    inputs = {k: features[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in features}
    for indices in _batches(features, batch_size):
        batch = {k: v.to(dev) for k, v in collate(inputs, indices, pad_token_id).items()}
        hidden = encoder(**batch).last_hidden_state.float()  # (B, T, H)
        mask = batch["attention_mask"].float()[:, :, None]
        part = (hidden * mask).sum((0, 1))
        total = part if total is None else total + part
        tokens += int(mask.sum())
    if total is None:
        raise ValueError("no features to embed")
    return (total / tokens).cpu()


# ---------------------------------------------------------------------------------------------
# From parts to one vector
# ---------------------------------------------------------------------------------------------

_LAYER = re.compile(r"^(encoder\.layer\.\d+)\.")


def group_weight_fisher(fisher: Mapping[str, torch.Tensor], reduce: str = "mean") -> dict[str, np.ndarray]:
    """One part per encoder block (``weights/embeddings``, ``weights/encoder.layer.0``, ...).

    ``reduce="mean"`` averages each weight over all but its last dimension (a Linear weight
    (out, in) gives ``in`` numbers, an embedding table (vocab, hidden) gives ``hidden``), which keeps
    a MiniLM embedding at ~50k numbers instead of 22M; ``"none"`` keeps every entry. A block's
    tensors are concatenated in parameter order.
    """
    if reduce not in ("mean", "none"):
        raise ValueError(f"reduce must be 'mean' or 'none'; got {reduce!r}")
    groups: dict[str, list[np.ndarray]] = {}
    for name, tensor in fisher.items():
        t = torch.as_tensor(tensor).float()
        if reduce == "mean" and t.dim() >= 2:
            t = t.reshape(-1, t.shape[-1]).mean(0)
        match = _LAYER.match(name)
        group = match.group(1) if match else name.split(".")[0]
        groups.setdefault(f"weights/{group}", []).append(t.flatten().numpy())
    return {k: np.concatenate(v) for k, v in groups.items()}


def aggregate(parts: Mapping[str, np.ndarray], include: Sequence[str] = ("weights/", "features/")) -> np.ndarray:
    """One vector from named parts: each part flattened and scaled to unit L2 norm (an all-zero part
    stays zero), parts concatenated in sorted name order, the whole divided by sqrt(number of parts).

    Why: Fisher values differ by orders of magnitude between layers and between weights and
    activations; unit parts give every block the same say in the cosine, and the final scaling
    makes the vector unit-length. ``include`` keeps the parts whose names start with one of its
    prefixes.
    """
    names = sorted(n for n in parts if n.startswith(tuple(include)))
    if not names:
        raise ValueError(f"no parts start with {tuple(include)}; parts: {sorted(parts)[:5]} ...")
    pieces = []
    for name in names:
        v = np.asarray(parts[name], dtype=np.float64).ravel()
        norm = np.linalg.norm(v)
        pieces.append(v / norm if norm > 0 else v)
    return np.concatenate(pieces) / math.sqrt(len(pieces))


# ---------------------------------------------------------------------------------------------
# A task's embedding, and the whole library
# ---------------------------------------------------------------------------------------------

@dataclass
class TaskEmbedding:
    """What :func:`compute_task_embedding` measured for one task.

    ``parts``: ``weights/<block>`` (grouped weight Fisher) and ``features/<activation>`` (layer
    features); ``text``: TextEmb; ``train_size``: training examples of the task (the DataSize
    baseline); ``n_features``: how many features the Fisher averaged over.
    """

    task: str
    task_type: str
    parts: dict[str, np.ndarray]
    text: np.ndarray | None = None
    train_size: int = 0
    n_features: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        return TASK_FAMILIES[self.task_type]

    def taskemb(self, include: Sequence[str] = ("weights/", "features/")) -> np.ndarray:
        """TaskEmb as one unit vector (see :func:`aggregate`)."""
        return aggregate(self.parts, include)

    def textemb(self) -> np.ndarray:
        if self.text is None:
            raise ValueError(f"task {self.task!r}: no TextEmb was computed (text=False)")
        return np.asarray(self.text, dtype=np.float64)

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (the rest), each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f"part:{k}": np.asarray(v, dtype=np.float32) for k, v in self.parts.items()}
        if self.text is not None:
            arrays["text"] = np.asarray(self.text, dtype=np.float32)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path.with_suffix(".npz"))
        info = {"task": self.task, "task_type": self.task_type, "train_size": self.train_size,
                "n_features": self.n_features, "meta": self.meta}
        tmp_json = path.with_name(path.name + ".tmp.json")
        tmp_json.write_text(json.dumps(info, indent=1))
        tmp_json.replace(path.with_suffix(".json"))
        return path.with_suffix(".npz")

    @classmethod
    def load(cls, path: str | Path) -> TaskEmbedding:
        path = Path(path)
        info = json.loads(path.with_suffix(".json").read_text())
        with np.load(path.with_suffix(".npz")) as data:
            parts = {k[len("part:"):]: data[k] for k in data.files if k.startswith("part:")}
            text = data["text"] if "text" in data.files else None
        return cls(info["task"], info["task_type"], parts, text, info["train_size"], info["n_features"], info["meta"])


def compute_task_embedding(
    model: torch.nn.Module,
    tokenizer,
    task: Task,
    examples: list[dict],
    text_encoder: torch.nn.Module | None = None,
    fisher: str = "per_example",
    weights: bool = True,
    reduce: str = "mean",
    max_length: int = 256,
    doc_stride: int = 64,
    batch_size: int = 8,
    device: str | None = None,
    train_size: int | None = None,
) -> TaskEmbedding:
    """TaskEmb parts of ``model`` (fine-tuned on ``task``) over ``examples``, and TextEmb from
    ``text_encoder`` (the pre-trained encoder; skipped when None)."""
    features = encode(task.task_type, examples, tokenizer, max_length, doc_stride, train=True)
    if num_features(features) == 0:
        raise ValueError(f"task {task.name!r}: the examples gave no features")
    pad = tokenizer.pad_token_id
    parts: dict[str, np.ndarray] = {}
    if weights:
        parts.update(group_weight_fisher(
            weight_fisher(model, features, task.task_type, fisher, "vmap", batch_size, pad, device), reduce))
    for name, value in layer_features(model, features, task.task_type, fisher, "batched", batch_size, pad, device).items():
        parts[f"features/{name}"] = value.numpy()
    text = text_embedding(text_encoder, features, pad_token_id=pad, device=device).numpy() if text_encoder is not None else None
    return TaskEmbedding(task.name, task.task_type, parts, text, train_size if train_size is not None else len(examples),
                         num_features(features))


def default_examples(task: Task, n: int | None, seed: int = 0) -> list[dict]:
    """``n`` training examples of ``task`` (its ``train`` split, else ``all``), seeded."""
    split = "train" if "train" in task.splits else "all" if "all" in task.splits else None
    if split is None:
        raise KeyError(f"task {task.name!r} has no 'train' or 'all' split; it has {sorted(task.splits)}: pass examples")
    return subsample(task.split(split), n, seed)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _has_head(folder: Path, task_type: str) -> bool:
    """Whether a saved model folder holds a head for ``task_type`` (``save_encoder`` folders do not)."""
    config = folder / "config.json"
    if not config.exists():
        return False
    suffix = {"qa": "ForQuestionAnswering", "classification": "ForSequenceClassification",
              "regression": "ForSequenceClassification", "tagging": "ForTokenClassification"}[task_type]
    return any(a.endswith(suffix) for a in json.loads(config.read_text()).get("architectures") or [])


def _save_model(model: torch.nn.Module, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    with quiet_transformers():  # transformers 5 draws a "Writing model shards" bar on stderr
        model.save_pretrained(str(tmp))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def _task_model(name: str, task: Task, model: str, tokenizer, train_examples: list[dict], config: TrainConfig,
                max_length: int, doc_stride: int, cached: Path, given: str | Path | None, log: Callable) -> torch.nn.Module:
    """The model fine-tuned on ``task``: a given folder with its head, our cache, or a bounded fine-tuning.

    A given encoder-only folder (as ``save_encoder`` writes, e.g. Homework 2's source models) gets a
    fresh head, trained alone on ``train_examples`` with the encoder frozen (cheap: no encoder
    backward), because the Fisher is taken through the task's head.
    """
    # finetune imports metrics and qa: only needed here, so taskemb stays light to import
    from .finetune import fine_tune

    if given is not None and _has_head(Path(given), task.task_type):
        log(f"  {name}: using the fine-tuned model in {given}")
        return build_model(str(given), task.task_type, task.num_labels, task.label_names)
    if _has_head(cached, task.task_type):
        log(f"  {name}: using the cached model in {cached}")
        return build_model(str(cached), task.task_type, task.num_labels, task.label_names)
    if given is not None:
        log(f"  {name}: {given} holds an encoder only; training a head on it (encoder frozen)")
        set_seed(config.seed)
        net = build_model(str(given), task.task_type, task.num_labels, task.label_names)
        net.base_model.requires_grad_(False)
        features = encode(task.task_type, train_examples, tokenizer, max_length, doc_stride, train=True)
        train(net, features, config, tokenizer.pad_token_id)
        net.base_model.requires_grad_(True)
    else:
        log(f"  {name}: fine-tuning {model} on {len(train_examples)} examples ({config.epochs} epoch(s))")
        net = fine_tune(model, task, train_examples, None, config, tokenizer, max_length, doc_stride).model
    _save_model(net, cached)
    return net


def embed_tasks(
    tasks: Mapping[str, Task] | Sequence[Task],
    model: str = "minilm",
    out_dir: str | Path = "runs/taskemb",
    examples: Mapping[str, list[dict]] | None = None,
    n_train: int | None = 1000,
    n_fisher: int | None = None,
    config: TrainConfig | None = None,
    max_length: int = 256,
    doc_stride: int = 64,
    model_dirs: Mapping[str, str | Path] | None = None,
    fisher: str = "per_example",
    weights: bool = True,
    text: bool = True,
    batch_size: int = 8,
    device: str | None = None,
    seed: int = 0,
    verbose: bool = True,
    threads: int | None = None,
) -> dict[str, TaskEmbedding]:
    """Embed every task: fine-tune (bounded budget) or reuse a model per task, compute TaskEmb parts
    and TextEmb, cache each task's result under ``out_dir`` and resume from it.

    ``examples[name]`` overrides a task's training examples (e.g. SQuAD-1k); otherwise
    :func:`default_examples` draws ``n_train``. The Fisher uses ``n_fisher`` of them (all when None).
    ``config`` defaults to one epoch at lr 1e-4, batch 16. ``model_dirs[name]`` points at an
    already fine-tuned model (with its head) or an encoder-only folder (a head is trained on it).
    Fine-tuned models are cached in ``out_dir/models``, embeddings in ``out_dir/embeddings``; a
    cached embedding is reused only when its settings match, so a changed setting recomputes.
    ``threads``: torch CPU threads while it runs (1 for the tiny model when grading; None: as is).
    """
    _check_fisher_mode(fisher)
    with torch_threads(threads):
        return _embed_tasks(tasks, model, Path(out_dir), examples, n_train, n_fisher, config, max_length, doc_stride,
                            model_dirs, fisher, weights, text, batch_size, device, seed, verbose)


def _embed_tasks(tasks, model, out, examples, n_train, n_fisher, config, max_length, doc_stride, model_dirs, fisher,
                 weights, text, batch_size, device, seed, verbose) -> dict[str, TaskEmbedding]:
    if not isinstance(tasks, Mapping):
        tasks = {t.name: t for t in tasks}
    config = config or TrainConfig(learning_rate=1e-4, epochs=1, batch_size=16, seed=seed, device=device)
    log = print if verbose else (lambda *a, **k: None)
    tokenizer = load_tokenizer(model)
    text_encoder = None
    results: dict[str, TaskEmbedding] = {}
    for name, task in tasks.items():
        override = examples is not None and name in examples
        train_examples = list(examples[name]) if override else default_examples(task, n_train, seed)
        # DataSize counts the whole training split (or the examples given), not the fine-tuning budget.
        train_size = len(train_examples) if override else len(default_examples(task, None))
        fisher_examples = subsample(train_examples, n_fisher, seed)
        given = (model_dirs or {}).get(name)
        # What decides the fine-tuned model (not progress bars or the device), and then the embedding:
        # the batch size changes only Vu's batch-mean Fisher, not the per-example one.
        training = {k: v for k, v in vars(config).items() if k not in ("progress", "device")}
        model_key = _digest([model, str(given), [ex.get("id") for ex in train_examples], training, max_length, doc_stride])
        settings = {"model_key": model_key, "fisher": fisher, "weights": weights, "text": text,
                    "batch_size": batch_size if fisher == "batch_mean" else None,
                    "fisher_ids": [ex.get("id") for ex in fisher_examples]}
        key = _digest(settings)
        cache = out / "embeddings" / name
        if cache.with_suffix(".json").exists() and cache.with_suffix(".npz").exists():
            cached = TaskEmbedding.load(cache)
            if cached.meta.get("key") == key:
                log(f"{name}: cached embedding ({cache.with_suffix('.npz')})")
                results[name] = cached
                continue
        log(f"{name}: embedding ({task.task_type}, {len(fisher_examples)} examples for the Fisher)")
        net = _task_model(name, task, model, tokenizer, train_examples, config, max_length, doc_stride,
                          out / "models" / f"{name}-{model_key}", given, log)
        if text and text_encoder is None:
            with torch.random.fork_rng(devices=[]):  # the throw-away head's init must not move the caller's RNG
                text_encoder = build_model(model, "regression").base_model
        emb = compute_task_embedding(net, tokenizer, task, fisher_examples, text_encoder if text else None, fisher,
                                     weights, "mean", max_length, doc_stride, batch_size, device, train_size)
        emb.meta = {"key": key, "model": model, "fisher": fisher, "n_train": len(train_examples), "max_length": max_length,
                    "model_folder": str(given or out / "models" / f"{name}-{model_key}")}
        emb.save(cache)
        results[name] = emb
    return results


# ---------------------------------------------------------------------------------------------
# Similarity and ranking
# ---------------------------------------------------------------------------------------------

def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b); 0.0 when either vector is all zeros."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"vectors of different sizes: {a.shape[0]} and {b.shape[0]}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def similarity_matrix(vectors: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Task names (in the mapping's order) and their pairwise cosine similarities."""
    names = list(vectors)
    sim = np.array([[cosine_similarity(vectors[a], vectors[b]) for b in names] for a in names])
    return names, sim


def rank_sources(target: str, vectors: Mapping[str, np.ndarray], sources: Iterable[str] | None = None) -> list[tuple[str, float]]:
    """Candidate sources for ``target``, most similar first: [(name, cosine)], the target itself left
    out; ties broken by name so the ranking is deterministic."""
    if target not in vectors:
        raise KeyError(f"no vector for target {target!r}; have {sorted(vectors)}")
    names = [s for s in (sources if sources is not None else vectors) if s != target]
    missing = [s for s in names if s not in vectors]
    if missing:
        raise KeyError(f"no vectors for sources {missing}; have {sorted(vectors)}")
    scored = [(s, cosine_similarity(vectors[target], vectors[s])) for s in names]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))


def nearest_neighbour_agreement(vectors: Mapping[str, np.ndarray], families: Mapping[str, str]) -> float:
    """Share of tasks whose nearest other task (cosine) is of the same family (task type class)."""
    if len(vectors) < 2:
        raise ValueError("need at least two tasks")
    hits = [families[rank_sources(t, vectors)[0][0]] == families[t] for t in vectors]
    return sum(hits) / len(hits)


# ---------------------------------------------------------------------------------------------
# Scoring a ranking against measured transfers
# ---------------------------------------------------------------------------------------------

def _measured(ranking: Sequence[str], scores: Mapping[str, float]) -> list[str]:
    """The ranking restricted to sources with a measured transfer; every measured source must be ranked."""
    ranked = [s for s in ranking if s in scores]
    missing = sorted(set(scores) - set(ranked))
    if missing:
        raise ValueError(f"the ranking leaves out measured sources {missing}")
    if len(set(ranked)) != len(ranked):
        raise ValueError(f"the ranking names a source twice: {ranked}")
    return ranked


def relevance_from_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """NDCG relevance of each source: its target score minus the worst source's (so >= 0, and the
    worst source counts nothing)."""
    low = min(scores.values())
    return {s: float(v - low) for s, v in scores.items()}


def best_source_rank(ranking: Sequence[str], scores: Mapping[str, float]) -> int:
    """Position (1 = first) of the best measured source in ``ranking``; ties: the earliest one."""
    ranked = _measured(ranking, scores)
    best = max(scores.values())
    return 1 + min(i for i, s in enumerate(ranked) if scores[s] == best)


def datasize_ranking(sizes: Mapping[str, int]) -> list[str]:
    """The DataSize baseline: largest training set first (ties by name)."""
    return sorted(sizes, key=lambda s: (-sizes[s], s))


def random_ranking(sources: Iterable[str], seed: int = 0) -> list[str]:
    """The random baseline: a seeded shuffle (sorted first, so the input order does not matter)."""
    order = sorted(sources)
    random.Random(seed).shuffle(order)
    return order


def selection_table(rankings: Mapping[str, Sequence[str]], scores: Mapping[str, float], ndcg: Callable, regret: Callable,
                    k: int = 3, random_seeds: int = 0) -> list[dict]:
    """One row per method: NDCG@k, regret@1, regret@k, rank of the best source, the top pick.

    ``ndcg(ranking, scores, k)`` and ``regret(ranking, scores, k)`` are Homework 3's exercises, passed
    in (the student's, or the grading package's references). ``random_seeds`` > 0 adds a "random" row
    averaged over that many seeded shuffles.
    """
    def row(method: str, ranking: Sequence[str]) -> dict:
        ranked = _measured(ranking, scores)
        return {"method": method, f"ndcg@{k}": ndcg(ranked, scores, k), "regret@1": regret(ranked, scores, 1),
                f"regret@{k}": regret(ranked, scores, k), "best_rank": best_source_rank(ranked, scores), "top": ranked[0]}

    rows = [row(m, r) for m, r in rankings.items()]
    if random_seeds > 0:
        draws = [row("random", random_ranking(scores, s)) for s in range(random_seeds)]
        rows.append({"method": f"random (mean of {random_seeds})",
                     **{key: float(np.mean([d[key] for d in draws])) for key in (f"ndcg@{k}", "regret@1", f"regret@{k}", "best_rank")},
                     "top": "-"})
    return rows


# ---------------------------------------------------------------------------------------------
# Measured transfers (Homework 2's results)
# ---------------------------------------------------------------------------------------------

@dataclass
class TransferResults:
    """Target scores after intermediate training on each source (Homework 2's measurements).

    File format (JSON): ``{"target": str, "metric": str, "baseline": float (no intermediate task),
    "scores": {source: target score after source -> target}, "source_sizes": {source: training
    examples}, "note": str}``.
    """

    target: str
    metric: str
    baseline: float | None
    scores: dict[str, float]
    source_sizes: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def gains(self) -> dict[str, float]:
        if self.baseline is None:
            raise ValueError("these results have no baseline (target trained without an intermediate task)")
        return {s: v - self.baseline for s, v in self.scores.items()}


RESOURCES = Path(__file__).resolve().parent / "resources"
DEFAULT_TRANSFER_RESULTS = RESOURCES / "transfer_results_default.json"


def transfer_results_from_rows(rows: Sequence[Mapping], target: str | None = None, note: str = "") -> TransferResults:
    """Results from Homework 2's summary rows (``transfer.transfer_table``: one row per (target,
    source) with ``mean`` over seeds; ``source`` None is the baseline). ``target`` picks one target
    when the rows hold several."""
    targets = sorted({r["target"] for r in rows})
    if target is None:
        if len(targets) != 1:
            raise ValueError(f"the results hold targets {targets}: pass target=")
        target = targets[0]
    mine = [r for r in rows if r["target"] == target]
    if not mine:
        raise ValueError(f"no results for target {target!r}; targets: {targets}")
    baseline = next((float(r["mean"]) for r in mine if r["source"] is None), None)
    scores = {r["source"]: float(r["mean"]) for r in mine if r["source"] is not None}
    return TransferResults(target, mine[0]["metric"], baseline, scores, {}, note)


def load_transfer_results(path: str | Path | None = None, target: str | None = None) -> TransferResults:
    """Measured transfers from ``path``: a JSON file in :class:`TransferResults`'s format, a JSON list
    of Homework 2's summary rows, or Homework 2's output folder (its ``cells/``). ``None`` reads the
    grading-mode default shipped with the package (tiny model, generated tasks: NOT real-data results)."""
    path = Path(path) if path is not None else DEFAULT_TRANSFER_RESULTS
    if path.is_dir():
        from .transfer import (  # Homework 2's own reader of its cells
            load_cells,
            transfer_table,
        )

        cells = load_cells(path)
        if not cells:
            raise FileNotFoundError(f"{path}: no cells/<target>/*.json; expected Homework 2's output folder")
        return transfer_results_from_rows(transfer_table(cells), target, f"measured by Homework 2 in {path}")
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return transfer_results_from_rows(data, target, f"Homework 2's summary rows in {path}")
    missing = [k for k in ("target", "metric", "scores") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected target, metric, scores (and baseline, source_sizes)")
    if target is not None and data["target"] != target:
        raise ValueError(f"{path} holds results for target {data['target']!r}, not {target!r}")
    return TransferResults(data["target"], data["metric"], data.get("baseline"),
                           {s: float(v) for s, v in data["scores"].items()},
                           {s: int(v) for s, v in data.get("source_sizes", {}).items()}, data.get("note", ""))


def packaged_transfer_results(target: str) -> TransferResults:
    """The measured transfers shipped with the package for ``target``
    (``itft_utils/resources/transfer_results_*.json``): the grading-mode default for ``gen_qa``, and
    real-data results where they have been added."""
    for path in sorted(RESOURCES.glob("transfer_results_*.json")):
        if json.loads(path.read_text()).get("target") == target:
            return load_transfer_results(path)
    raise FileNotFoundError(f"no packaged transfer results for target {target!r} in {RESOURCES}: pass Homework 2's "
                            "output folder (the one holding cells/) or a results file to load_transfer_results")
