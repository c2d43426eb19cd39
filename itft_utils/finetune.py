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
from .qa import QASettings
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


@dataclass
class EvalSet:
    """Evaluation examples tokenised once, for a model scored after every epoch of a run (and by
    every run that evaluates the same examples). Build it with :meth:`build`."""

    task: Task
    examples: list[dict]
    features: dict[str, list]
    pad_token_id: int
    settings: QASettings
    null_answers: bool = False  # QA: whether "no answer" is decoded (settings, or the set has unanswerable questions)
    golds_over_cap: int = 0  # QA: examples none of whose gold answers fits settings.max_answer_length

    @classmethod
    def build(cls, task: Task, examples: list[dict], tokenizer, settings: QASettings | None = None) -> EvalSet:
        if not examples:
            raise ValueError(f"task {task.name!r}: no examples to evaluate")
        settings = settings or QASettings()
        features = encode(task.task_type, examples, tokenizer, settings, train=False)
        if task.task_type != "qa":
            return cls(task, examples, features, tokenizer.pad_token_id, settings)
        unanswerable = any(not ex["answers"]["text"] for ex in examples)
        null = unanswerable if settings.null_answers is None else settings.null_answers
        return cls(task, examples, features, tokenizer.pad_token_id, settings, null,
                   golds_over_cap(examples, tokenizer, settings.max_answer_length))

    def score(self, model: torch.nn.Module, batch_size: int = 64, device: str | None = None) -> dict[str, float]:
        """Score ``model`` with the task type's metrics (percent for QA, 0-1 otherwise).

        For QA, ``golds_over_answer_cap`` counts the examples none of whose gold answers fits the
        answer-length cap: their exact match is out of reach, so a set with long answers shows why
        its score is capped.
        """
        return self.score_outputs(predict(model, self.features, batch_size, self.pad_token_id, device))

    def score_outputs(self, out: dict[str, list]) -> dict[str, float]:
        """:meth:`score` of outputs already computed (``predict``'s: one array per feature), e.g. by a head
        that is not a Hugging Face model (``bench/harm_probe.py``'s probes on a frozen encoder)."""
        task, examples, features = self.task, self.examples, self.features
        if task.task_type == "qa":
            settings = self.settings
            predictions = qa.postprocess_qa_predictions(examples, features, out["start_logits"], out["end_logits"],
                                                        settings.n_best, settings.max_answer_length,
                                                        null_answers=self.null_answers, decode_span=settings.decode_span)
            scores = metrics.squad_metrics(predictions, {ex["id"]: ex["answers"]["text"] for ex in examples},
                                           settings.normalize_answer, settings.answer_f1)
            return {**scores, "golds_over_answer_cap": float(self.golds_over_cap)}
        if task.task_type == "regression":
            predicted = [float(np.ravel(x)[0]) for x in out["logits"]]
            gold = [ex["label"] for ex in examples]
            return {"pearson": metrics.pearson(gold, predicted), "spearman": metrics.spearman(gold, predicted)}
        if task.task_type == "classification":
            pred = [int(np.argmax(x)) for x in out["logits"]]
            gold = [ex["label"] for ex in examples]
            average = "binary" if task.num_labels == 2 else "macro"
            return {"accuracy": metrics.accuracy(gold, pred), "f1": metrics.f1(gold, pred, average=average),
                    "mcc": metrics.matthews_corrcoef(gold, pred)}
        return _evaluate_tagging(task, examples, features, out["logits"])


def evaluate(
    model: torch.nn.Module,
    tokenizer,
    task: Task,
    examples: list[dict],
    settings: QASettings | None = None,
    batch_size: int = 64,
    device: str | None = None,
) -> dict[str, float]:
    """Score ``model`` on ``examples`` once (see :class:`EvalSet`, which a run builds once and reuses)."""
    return EvalSet.build(task, examples, tokenizer, settings).score(model, batch_size, device)


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
    if task.label_names is None:
        raise ValueError(f"tagging task {task.name!r} has no label_names: they name the tags the model predicts")
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
    eval_examples: list[dict] | EvalSet | None = None,
    config: TrainConfig | None = None,
    tokenizer=None,
    settings: QASettings | None = None,
    train_features: dict[str, list] | None = None,
) -> FineTuneResult:
    """Fine-tune ``model`` (a preset, hub name, encoder folder, or a model object) on ``task``.

    A name or folder gets a fresh head for the task type; the final evaluation also runs after
    every epoch so that the history holds a learning curve (on evaluation features built once).
    ``eval_examples`` may be an :class:`EvalSet` already built (a transfer matrix scores one target
    set in many runs), and ``train_features`` the training examples already encoded under
    ``settings``: a caller that has them saves the tokenisation.
    """
    config = config or TrainConfig()
    if isinstance(model, str):
        set_seed(config.seed)  # the new head's initial weights are part of the run
        tokenizer = tokenizer or load_tokenizer(model)
        model = build_model(model, task.task_type, task.num_labels, task.label_names)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer along with a model object")
    features = train_features if train_features is not None else encode(task.task_type, train_examples, tokenizer, settings)
    eval_set = eval_examples if isinstance(eval_examples, EvalSet) else (
        EvalSet.build(task, eval_examples, tokenizer, settings) if eval_examples else None)

    def evaluate_epoch(m: torch.nn.Module) -> dict[str, float]:
        assert eval_set is not None
        return eval_set.score(m, device=config.device)

    history = train(model, features, config, tokenizer.pad_token_id, evaluate_epoch if eval_set else None)
    final = history.evals[-1] if history.evals else {}
    scores = {k: v for k, v in final.items() if k not in ("step", "epoch")}
    return FineTuneResult(model, tokenizer, history, scores)
