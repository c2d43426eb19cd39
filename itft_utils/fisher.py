"""The diagonal empirical Fisher of a Hugging Face model: per-example gradients, the weight Fisher and
layer-output features (the parts of a TaskEmb, :mod:`itft_utils.taskemb`).

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
import re
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from torch.func import functional_call, grad, vmap
from transformers import PreTrainedModel

from .data.task import TASK_FAMILIES
from .encoding import IGNORE_INDEX, collate, padding_bounded_batches, sorted_batches
from .replaced import StudentCodeError, call_replaced
from .runtime import get_device

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


def check_fisher_mode(fisher: str) -> None:
    """Refuse an unknown Fisher mode up front (before any model is trained), naming the valid ones."""
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
    check_fisher_mode(fisher)
    dev = get_device(device)
    model.to(dev).eval()
    names = encoder_parameter_names(model) if names is None else list(names)
    prefix = str(model.base_model_prefix) + "."
    params = dict(model.named_parameters())
    loss_fn = hf_loss_fn(task_type, params[names[0]].dtype)
    total = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in names}
    count = 0
    for indices in sorted_batches(features, batch_size):
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
            per_example = per_example_grads(model, batch, loss_fn, names, method)
            for n in names:
                total[n] += (per_example[n].float() ** 2).sum(0)
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
    check_fisher_mode(fisher)
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

    # Per example, padding is pure waste (a padded token costs what a real one does): batches bounded in
    # padding, not rounded up to a multiple of 8 on the CPU. Vu's batch-mean variant keeps its fixed batches.
    batches = (padding_bounded_batches(features, batch_size) if fisher == "per_example" and method == "batched"
               else sorted_batches(features, batch_size))
    multiple = 8 if dev.type == "cuda" else 1
    for indices in batches:
        batch = {k: v.to(dev) for k, v in collate(features, indices, pad_token_id, pad_to_multiple_of=multiple).items()}
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


def layer_features_with(
    layer_fisher: Callable,
    model: torch.nn.Module,
    features: dict[str, list],
    task_type: str,
    batch_size: int = 8,
    pad_token_id: int = 0,
    device: str | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`layer_features` (per example) with someone else's per-batch computation: Homework 3's
    exercise ``layer_fisher(model, batch, loss_fn) -> {name: (hidden,) sum over the batch's examples}``,
    called on sorted batches padded to a multiple of 8 (padding kept on purpose: the function must mask
    it), its sums averaged over all examples here. The names must
    be :func:`activation_modules`' and ``cls_output``; anything else is refused with what was expected."""
    dev = get_device(device)
    model.to(dev).eval()
    loss_fn = hf_loss_fn(task_type, next(model.parameters()).dtype)
    hidden = cast(PreTrainedModel, model).config.hidden_size
    expected = [n for n, _ in activation_modules(model)] + ["cls_output"]
    name = getattr(layer_fisher, "__name__", "layer_fisher")
    total: dict[str, torch.Tensor] = {}
    count = 0
    for b, indices in enumerate(sorted_batches(features, batch_size)):
        batch = {k: v.to(dev) for k, v in collate(features, indices, pad_token_id).items()}
        where = f"batch {b} of {len(indices)} examples, {batch['input_ids'].shape[1]} tokens"
        sums = call_replaced(layer_fisher, where, model, batch, loss_fn)
        if not isinstance(sums, Mapping) or set(sums) != set(expected):
            got = sorted(sums) if isinstance(sums, Mapping) else type(sums).__name__
            raise StudentCodeError(f"{name} returned {got} ({where}); expected a dict with the keys {expected}")
        for key in expected:
            value = torch.as_tensor(sums[key]).detach().float().cpu()
            if value.shape != (hidden,) or not torch.isfinite(value).all():
                raise StudentCodeError(f"{name}: {key!r} has shape {tuple(value.shape)} ({where}); expected ({hidden},) finite values")
            total[key] = total.get(key, 0) + value
        count += len(indices)
    if count == 0:
        raise ValueError("no features to compute layer features on")
    return {key: value / count for key, value in total.items()}


# ---------------------------------------------------------------------------------------------
# The weight Fisher grouped by block
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
