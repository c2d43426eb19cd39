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

The Fisher computation lives in :mod:`itft_utils.fisher`, the ranking and its scores in
:mod:`itft_utils.selection`; their public names are importable from here too (Homework 3 and its
released notebooks import them from ``itft_utils.taskemb``).
"""
from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from transformers import PreTrainedModel

from .data.splits import subsample
from .data.task import TASK_FAMILIES, Task
from .encoding import collate, encode, num_features, sorted_batches
from .files import code_digest, digest, move_into_place, new_folder, write_atomic
from .fisher import (
    FISHER_MODES,
    check_fisher_mode,
    group_weight_fisher,
    layer_features,
    layer_features_with,
    max_relative_error,
    per_example_grads,
    weight_fisher,
)
from .models import build_model, load_tokenizer, quiet_transformers
from .qa import QASettings, with_legacy_windows
from .runtime import get_device, set_seed, torch_threads
from .selection import (
    TransferResults,
    best_source_rank,
    cosine_similarity,
    datasize_ranking,
    fill_missing,
    homework2_results,
    load_transfer_results,
    packaged_transfer_results,
    random_ranking,
    rank_sources,
    relevance_from_scores,
    selection_table,
    similarity_matrix,
    transfer_results_from_rows,
)
from .training import TrainConfig, train

#: Windows for task embeddings: shorter than training windows, since the Fisher needs no long context.
TASKEMB_SETTINGS = QASettings(256, 64)

__all__ = [
    # this module: TextEmb, TaskEmb vectors, the resumable library run
    "text_embedding", "aggregate", "TaskEmbedding", "compute_task_embedding", "default_examples", "embed_tasks",
    # re-exported, so that Homework 3 (and its released notebooks) import everything from here
    "FISHER_MODES", "per_example_grads", "weight_fisher", "layer_features", "max_relative_error", "group_weight_fisher",
    "cosine_similarity", "similarity_matrix", "rank_sources", "relevance_from_scores",
    "best_source_rank", "datasize_ranking", "random_ranking", "selection_table", "TransferResults",
    "transfer_results_from_rows", "load_transfer_results", "packaged_transfer_results", "fill_missing", "homework2_results",
]

# ---------------------------------------------------------------------------------------------
# TextEmb
# ---------------------------------------------------------------------------------------------

#: How TextEmb averages, recorded with each cached embedding (an older cache gets its TextEmb recomputed).
TEXT_METHOD = "mean over examples of each example's mean token vector"


@torch.no_grad()
def text_embedding(encoder: torch.nn.Module, features: dict[str, list], batch_size: int = 32,
                   pad_token_id: int = 0, device: str | None = None) -> torch.Tensor:
    """TextEmb, as Vu et al. average it: each example's mean last-layer token vector over its real
    (non-padding) tokens, over all its windows, then the mean over examples, (hidden,). Averaging
    tokens of all examples at once would let long examples (QA contexts cut into several windows)
    outweigh short ones. Pass the *pre-trained* encoder (a head model's ``base_model`` works)."""
    dev = get_device(device)
    encoder = getattr(encoder, "base_model", encoder).to(dev).eval()
    n = num_features(features)
    example_of = features.get("example_index") or list(range(n))  # QA windows name their question
    sums: dict[int, torch.Tensor] = {}
    tokens: dict[int, int] = {}
    inputs: dict[str, list] = {k: features[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in features}
    for indices in sorted_batches(features, batch_size):
        batch = {k: v.to(dev) for k, v in collate(inputs, indices, pad_token_id).items()}
        hidden = encoder(**batch).last_hidden_state.float()  # (B, T, H)
        mask = batch["attention_mask"].float()[:, :, None]
        per_window = (hidden * mask).sum(1)  # (B, H)
        for row, i in enumerate(indices):
            example = example_of[i]
            sums[example] = sums[example] + per_window[row] if example in sums else per_window[row]
            tokens[example] = tokens.get(example, 0) + int(mask[row].sum())
    if not sums:
        raise ValueError("no features to embed")
    return torch.stack([sums[e] / tokens[e] for e in sums]).mean(0).cpu()


# ---------------------------------------------------------------------------------------------
# From parts to one vector
# ---------------------------------------------------------------------------------------------

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

    @property
    def dev(self) -> dict | None:
        """The task model's own held-out score ({"metric", "score", "examples"}), when it was measured."""
        return self.meta.get("dev")

    def textemb(self) -> np.ndarray:
        if self.text is None:
            raise ValueError(f"task {self.task!r}: no TextEmb was computed (text=False)")
        return np.asarray(self.text, dtype=np.float64)

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.npz`` (arrays) and ``<path>.json`` (the rest), each atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {f"part:{k}": np.asarray(v, dtype=np.float32) for k, v in self.parts.items()}
        if self.text is not None:
            arrays["text"] = np.asarray(self.text, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_atomic(path.with_suffix(".npz"), buffer.getvalue())
        info = {"task": self.task, "task_type": self.task_type, "train_size": self.train_size,
                "n_features": self.n_features, "meta": self.meta}
        write_atomic(path.with_suffix(".json"), json.dumps(info, indent=1))
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
    *,
    text_encoder: torch.nn.Module | None = None,
    fisher: str = "per_example",
    weights: bool = True,
    reduce: str = "mean",
    settings: QASettings = TASKEMB_SETTINGS,
    batch_size: int = 8,
    device: str | None = None,
    train_size: int | None = None,
    layer_fisher: Callable | None = None,
) -> TaskEmbedding:
    """TaskEmb parts of ``model`` (fine-tuned on ``task``) over ``examples``, and TextEmb from
    ``text_encoder`` (the pre-trained encoder; skipped when None). ``layer_fisher`` computes the
    layer features per batch in place of the library (Homework 3's exercise; per-example Fisher only:
    see :func:`~itft_utils.fisher.layer_features_with`)."""
    features = encode(task.task_type, examples, tokenizer, settings)
    if num_features(features) == 0:
        raise ValueError(f"task {task.name!r}: the examples gave no features")
    pad = tokenizer.pad_token_id
    parts: dict[str, np.ndarray] = {}
    if weights:
        parts.update(group_weight_fisher(
            weight_fisher(model, features, task.task_type, fisher, "vmap", batch_size, pad, device), reduce))
    if layer_fisher is not None and fisher != "per_example":
        raise ValueError(f"a layer_fisher function computes the per-example Fisher; fisher={fisher!r} uses the library's")
    layer = (layer_features_with(layer_fisher, model, features, task.task_type, batch_size, pad, device) if layer_fisher
             else layer_features(model, features, task.task_type, fisher, "batched", batch_size, pad, device))
    for name, value in layer.items():
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


def _has_head(folder: Path, task_type: str) -> bool:
    """Whether a saved model folder holds a head for ``task_type`` (``save_encoder`` folders do not)."""
    config = folder / "config.json"
    if not config.exists():
        return False
    suffix = {"qa": "ForQuestionAnswering", "classification": "ForSequenceClassification",
              "regression": "ForSequenceClassification", "tagging": "ForTokenClassification"}[task_type]
    return any(a.endswith(suffix) for a in json.loads(config.read_text()).get("architectures") or [])


def _save_model(model: torch.nn.Module, folder: Path) -> None:
    tmp = new_folder(folder)
    with quiet_transformers():  # transformers 5 draws a "Writing model shards" bar on stderr
        cast(PreTrainedModel, model).save_pretrained(str(tmp))
    move_into_place(tmp, folder, replace=True)


def _task_model(name: str, task: Task, model: str, tokenizer, train_examples: list[dict], config: TrainConfig, *,
                settings: QASettings, cached: Path, given: str | Path | None, log: Callable) -> torch.nn.Module:
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
        net: torch.nn.Module = build_model(str(given), task.task_type, task.num_labels, task.label_names)
        net.base_model.requires_grad_(False)
        features = encode(task.task_type, train_examples, tokenizer, settings)
        train(net, features, config, tokenizer.pad_token_id)
        net.base_model.requires_grad_(True)
    else:
        log(f"  {name}: fine-tuning {model} on {len(train_examples)} examples ({config.epochs} epoch(s))")
        net = fine_tune(model, task, train_examples, None, config, tokenizer, settings).model
    _save_model(net, cached)
    return net


def held_out_examples(task: Task, n: int, seed: int = 0) -> list[dict]:
    """``n`` examples of the task's validation split, else its test split (none when it has neither)."""
    split = next((s for s in ("validation", "test") if s in task.splits), None)
    return subsample(task.split(split), n, seed) if split else []


def dev_score(model: torch.nn.Module, tokenizer, task: Task, examples: list[dict], settings: QASettings,
              device: str | None = None) -> dict:
    """The task model's own held-out score: {"metric", "score", "examples"}."""
    from .finetune import PRIMARY_METRIC, evaluate  # finetune imports metrics and qa: only needed here

    metric = PRIMARY_METRIC[task.task_type]
    return {"metric": metric, "score": float(evaluate(model, tokenizer, task, examples, settings, device=device)[metric]),
            "examples": len(examples)}


def _pretrained_encoder(model: str) -> torch.nn.Module:
    """The pre-trained encoder TextEmb reads, without a head."""
    with torch.random.fork_rng(devices=[]):  # the throw-away head's init must not move the caller's RNG
        return build_model(model, "regression").base_model


def embed_tasks(
    tasks: Mapping[str, Task] | Sequence[Task],
    model: str = "minilm",
    out_dir: str | Path = "runs/taskemb",
    *,
    examples: Mapping[str, list[dict]] | None = None,
    n_train: int | None = 1000,
    n_fisher: int | None = None,
    n_eval: int = 0,
    eval_examples: Mapping[str, list[dict]] | None = None,
    config: TrainConfig | None = None,
    settings: QASettings = TASKEMB_SETTINGS,
    model_dirs: Mapping[str, str | Path] | None = None,
    fisher: str = "per_example",
    weights: bool = True,
    text: bool = True,
    batch_size: int = 8,
    device: str | None = None,
    seed: int = 0,
    verbose: bool = True,
    threads: int | None = None,
    layer_fisher: Callable | None = None,
    **legacy_windows: int,
) -> dict[str, TaskEmbedding]:
    """Embed every task: fine-tune (bounded budget) or reuse a model per task, compute TaskEmb parts
    and TextEmb, cache each task's result under ``out_dir`` and resume from it.

    ``examples[name]`` overrides a task's training examples (e.g. SQuAD-1k); otherwise
    :func:`default_examples` draws ``n_train``. The Fisher uses ``n_fisher`` of them (all when None).
    ``config`` defaults to one epoch at lr 1e-4, batch 16. ``model_dirs[name]`` points at an
    already fine-tuned model (with its head) or an encoder-only folder (a head is trained on it).
    ``n_eval`` > 0 scores each task model on that many held-out examples (``eval_examples[name]``, else
    the task's validation or test split), stored as ``meta["dev"]``: a TaskEmb of a model that never
    learned its task describes little. Fine-tuned models are cached in ``out_dir/models``, embeddings in ``out_dir/embeddings``; a
    cached embedding is reused only when its settings match, so a changed setting recomputes.
    ``threads``: torch CPU threads while it runs (1 for the tiny model when grading; None: as is).
    ``layer_fisher``: the per-batch layer features computed by someone else's function (Homework 3's
    exercise), keyed by its code so that an edited function recomputes.
    """
    check_fisher_mode(fisher)
    settings = with_legacy_windows(settings, legacy_windows)
    out = Path(out_dir)
    with torch_threads(threads):
        if not isinstance(tasks, Mapping):
            tasks = {t.name: t for t in tasks}
        config = config or TrainConfig(learning_rate=1e-4, epochs=1, batch_size=16, seed=seed, device=device)
        log = print if verbose else (lambda *a, **k: None)
        tokenizer = load_tokenizer(model)
        text_encoder = None
        results: dict[str, TaskEmbedding] = {}
        for name, task in tasks.items():
            override = examples is not None and name in examples
            train_examples = list(examples[name]) if examples is not None and override else default_examples(task, n_train, seed)
            # DataSize counts the whole training split (or the examples given), not the fine-tuning budget.
            train_size = len(train_examples) if override else len(default_examples(task, None))
            fisher_examples = subsample(train_examples, n_fisher, seed)
            given = (model_dirs or {}).get(name)
            # What decides the fine-tuned model (not progress bars or the device), and then the embedding:
            # the batch size changes only Vu's batch-mean Fisher, not the per-example one.
            training = {k: v for k, v in vars(config).items() if k not in ("progress", "device")}
            model_key = digest([model, str(given), [ex.get("id") for ex in train_examples], training,
                                settings.max_length, settings.doc_stride])
            cache_settings = {"model_key": model_key, "fisher": fisher, "weights": weights, "text": text,
                        "batch_size": batch_size if fisher == "batch_mean" else None,
                        "fisher_ids": [ex.get("id") for ex in fisher_examples],
                        **({"layer_fisher": code_digest(layer_fisher)} if layer_fisher is not None else {})}
            key = digest(cache_settings)
            cache = out / "embeddings" / name
            if cache.with_suffix(".json").exists() and cache.with_suffix(".npz").exists():
                cached = TaskEmbedding.load(cache)
                if cached.meta.get("key") == key:
                    log(f"{name}: cached embedding ({cache.with_suffix('.npz')})")
                    if text and cached.meta.get("text_method") != TEXT_METHOD:  # made before TextEmb averaged per example
                        log(f"  {name}: TextEmb recomputed ({TEXT_METHOD})")
                        if text_encoder is None:
                            text_encoder = _pretrained_encoder(model)
                        features = encode(task.task_type, fisher_examples, tokenizer, settings)
                        cached.text = text_embedding(text_encoder, features, pad_token_id=tokenizer.pad_token_id,
                                                     device=device).numpy()
                        cached.meta["text_method"] = TEXT_METHOD
                        cached.save(cache)
                    results[name] = cached
                    continue
            log(f"{name}: embedding ({task.task_type}, {len(fisher_examples)} examples for the Fisher)")
            net = _task_model(name, task, model, tokenizer, train_examples, config, settings=settings,
                              cached=out / "models" / f"{name}-{model_key}", given=given, log=log)
            if text and text_encoder is None:
                text_encoder = _pretrained_encoder(model)
            started = time.perf_counter()
            emb = compute_task_embedding(net, tokenizer, task, fisher_examples, text_encoder=text_encoder if text else None,
                                         fisher=fisher, weights=weights, settings=settings, batch_size=batch_size,
                                         device=device, train_size=train_size, layer_fisher=layer_fisher)
            held_out = (eval_examples or {}).get(name) or held_out_examples(task, n_eval, seed) if n_eval else []
            seconds = time.perf_counter() - started  # the Fisher and TextEmb passes, not the fine-tuning
            emb.meta = {"key": key, "model": model, "fisher": fisher, "n_train": len(train_examples), "max_length": settings.max_length,
                        "seconds": seconds,
                        **({"text_method": TEXT_METHOD} if text else {}),
                        **({"dev": dev_score(net, tokenizer, task, held_out[:n_eval], settings, device)} if held_out else {}),
                        "model_folder": str(given or out / "models" / f"{name}-{model_key}")}
            emb.save(cache)
            results[name] = emb
    return results
