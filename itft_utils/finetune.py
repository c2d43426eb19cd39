"""Fine-tune and evaluate a model on a :class:`~itft_utils.data.Task`, whatever its type.

This is the glue between data (examples), encoding (features), the training loop and the
metrics: the one place that knows which metric belongs to which task type.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import metrics, qa
from .data.task import Task
from .encoding import encode
from .models import build_model, load_tokenizer
from .runtime import set_seed
from .training import History, TrainConfig, predict, train

#: The number each task type is ranked by (tables, transfer gains, model selection).
PRIMARY_METRIC = {"qa": "f1", "classification": "accuracy", "regression": "pearson", "tagging": "f1"}


@dataclass
class FineTuneResult:
    model: torch.nn.Module
    tokenizer: object
    history: History
    metrics: dict[str, float]


def evaluate(
    model: torch.nn.Module,
    tokenizer,
    task: Task,
    examples: list[dict],
    max_length: int = 384,
    doc_stride: int = 128,
    batch_size: int = 64,
    device: str | None = None,
    max_answer_length: int = 30,
) -> dict[str, float]:
    """Score ``model`` on ``examples`` with the task type's metrics (percent for QA, 0-1 otherwise).

    For QA, predicted spans are at most ``max_answer_length`` tokens, and ``golds_over_answer_cap``
    counts the examples none of whose gold answers fits that cap: their exact match is out of reach,
    so a set with long answers shows why its score is capped.
    """
    if not examples:
        raise ValueError(f"task {task.name!r}: no examples to evaluate")
    features = encode(task.task_type, examples, tokenizer, max_length, doc_stride, train=False)
    out = predict(model, features, batch_size, tokenizer.pad_token_id, device)
    if task.task_type == "qa":
        predictions = qa.postprocess_qa_predictions(examples, features, out["start_logits"], out["end_logits"],
                                                    max_answer_length=max_answer_length)
        scores = metrics.squad_metrics(predictions, {ex["id"]: ex["answers"]["text"] for ex in examples})
        return {**scores, "golds_over_answer_cap": float(golds_over_cap(examples, tokenizer, max_answer_length))}
    if task.task_type == "regression":
        scores = [float(np.ravel(x)[0]) for x in out["logits"]]
        gold = [ex["label"] for ex in examples]
        return {"pearson": metrics.pearson(gold, scores), "spearman": metrics.spearman(gold, scores)}
    if task.task_type == "classification":
        pred = [int(np.argmax(x)) for x in out["logits"]]
        gold = [ex["label"] for ex in examples]
        average = "binary" if task.num_labels == 2 else "macro"
        return {"accuracy": metrics.accuracy(gold, pred), "f1": metrics.f1(gold, pred, average=average), "mcc": metrics.matthews_corrcoef(gold, pred)}
    return _evaluate_tagging(task, examples, features, out["logits"])


def golds_over_cap(examples: list[dict], tokenizer, max_answer_length: int) -> int:
    """Examples with gold answers, none of which fits in ``max_answer_length`` tokens."""
    texts = [t for ex in examples for t in ex["answers"]["text"]]
    lengths = iter(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else iter(())
    over = 0
    for ex in examples:
        fits = [next(lengths) <= max_answer_length for _ in ex["answers"]["text"]]
        over += bool(fits) and not any(fits)
    return over


def _evaluate_tagging(task: Task, examples: list[dict], features: dict, logits: list[np.ndarray]) -> dict[str, float]:
    names = task.label_names
    # Words cut off by max_length get no prediction from the model; they are scored as "O" (or the
    # first tag), never dropped, so truncation shows up as lost recall instead of vanishing.
    fallback = names.index("O") if "O" in names else 0
    gold_seqs, pred_seqs = [], []
    for i, ex in enumerate(examples):
        pred = [fallback] * len(ex["tokens"])
        seen = set()
        for position, word in enumerate(features["word_ids"][i]):
            if word is not None and word not in seen:
                pred[word] = int(np.argmax(logits[i][position]))
                seen.add(word)
        gold_seqs.append([names[t] for t in ex["tags"]])
        pred_seqs.append([names[t] for t in pred])
    result = {"token_accuracy": metrics.token_accuracy(gold_seqs, pred_seqs)}
    if all(n == "O" or n[:2] in ("B-", "I-", "E-", "S-") for n in names):
        result.update(metrics.span_f1(gold_seqs, pred_seqs))
    else:  # POS-style tags have no spans: token accuracy is the F1 of one-token spans
        result["f1"] = result["token_accuracy"]
    return result


def fine_tune(
    model: str | torch.nn.Module,
    task: Task,
    train_examples: list[dict],
    eval_examples: list[dict] | None = None,
    config: TrainConfig | None = None,
    tokenizer=None,
    max_length: int = 384,
    doc_stride: int = 128,
    max_answer_length: int = 30,
) -> FineTuneResult:
    """Fine-tune ``model`` (a preset, hub name, encoder folder, or a model object) on ``task``.

    A name or folder gets a fresh head for the task type; the final evaluation also runs after
    every epoch so that the history holds a learning curve.
    """
    config = config or TrainConfig()
    if isinstance(model, str):
        set_seed(config.seed)  # the new head's initial weights are part of the run
        tokenizer = tokenizer or load_tokenizer(model)
        model = build_model(model, task.task_type, task.num_labels, task.label_names)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer along with a model object")
    features = encode(task.task_type, train_examples, tokenizer, max_length, doc_stride, train=True)

    def evaluate_epoch(m: torch.nn.Module) -> dict[str, float]:
        return evaluate(m, tokenizer, task, eval_examples, max_length, doc_stride, device=config.device,
                        max_answer_length=max_answer_length)

    history = train(model, features, config, tokenizer.pad_token_id, evaluate_epoch if eval_examples else None)
    final = history.evals[-1] if history.evals else {}
    scores = {k: v for k, v in final.items() if k not in ("step", "epoch")}
    return FineTuneResult(model, tokenizer, history, scores)
