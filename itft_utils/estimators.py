"""Transferability estimators computed on the *target* with each *source's* encoder (Homework 3, Part D).

TaskEmb compares a source with the target by their Fisher embeddings; the estimators here ask the
source's encoder directly how well its features suit the target's labels, with no training:

* **H-score** (Bao et al. 2019): tr(cov(f)⁺ cov(E[f | y])), how much of the features' variance lies
  between the target's classes, in units of their total variance (a pseudo-inverse: features of a
  fine-tuned encoder are often nearly collinear). Classification labels only.
* **LogME** (You et al. 2021): the log marginal likelihood (evidence) per example of a Bayesian linear
  model from the features to the labels, with its prior and noise precisions chosen by evidence
  maximisation. Homework 3's Exercise D1 asks students to write it; the course's reference lives in the
  grading package.

Both need one matrix of features and a label per row. :func:`target_features` makes it for every task
type from a pass of the encoder over the target's examples: one row per example ([CLS], classification
and regression), per word (its first sub-word, tagging) or per token of each QA window (label 1 at the
gold start, 2 at the gold end, 0 elsewhere: the span head is a per-token linear model, so the token is
the unit it classifies). Long tasks give many rows, so rows are subsampled (seeded) to ``max_rows``.

That token casting puts [CLS] and the question among the rows and leaves about 1 % positives, so an estimator
mostly measures how constant the features are (issue 33). :func:`span_rows` and :func:`span_estimate` cast a
QA target as its span head sees it: context tokens only, start and end apart, balanced classes, centred
features.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .data.task import Task
from .encoding import IGNORE_INDEX, collate, encode, sorted_batches
from .qa import QASettings
from .runtime import get_device


@dataclass
class TargetFeatures:
    """Rows of encoder features and their target labels: what an estimator scores."""

    features: np.ndarray  # (N, D) float64
    labels: np.ndarray  # (N,) int class ids, or float targets for regression
    regression: bool
    unit: str  # what a row is: "example", "word" or "token"
    seconds: float = 0.0  # the encoder pass that made them (the rows alone, when given precomputed states)


@torch.no_grad()
def hidden_states(encoder: torch.nn.Module, feats: dict[str, list], tokenizer, batch_size: int = 32,
                  device: str | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
    """The encoder's last hidden states over ``feats`` (:func:`~itft_utils.encoding.encode`'s output), batch by
    batch, shortest windows first: (window indices, (B, T, H) float32 array, padded past the batch's longest
    window to a multiple of 8 as :func:`~itft_utils.encoding.collate` pads)."""
    dev = get_device(device)
    encoder = getattr(encoder, "base_model", encoder).to(dev).eval()
    inputs: dict[str, list] = {k: feats[k] for k in ("input_ids", "token_type_ids", "attention_mask") if k in feats}
    for indices in sorted_batches(feats, batch_size):
        batch = {k: v.to(dev) for k, v in collate(inputs, indices, tokenizer.pad_token_id).items()}
        yield indices, encoder(**batch).last_hidden_state.float().cpu().numpy()


def _states(states: Sequence[tuple[list[int], np.ndarray]] | None, encoder: torch.nn.Module, feats: dict[str, list], tokenizer,
            batch_size: int, device: str | None) -> Iterable[tuple[list[int], np.ndarray]]:
    """Precomputed hidden states if given (they must cover each of these windows once, in length), else a pass."""
    if states is None:
        return hidden_states(encoder, feats, tokenizer, batch_size, device)
    states = list(states)  # a generator would be spent by the check below
    covered = sorted(i for indices, _ in states for i in indices)
    if covered != list(range(len(feats["input_ids"]))):
        raise ValueError(f"the given hidden states cover {len(covered)} windows, not each of the {len(feats['input_ids'])} "
                         "windows of these examples once")
    if short := [i for indices, hidden in states for row, i in enumerate(indices) if hidden.shape[1] < len(feats["input_ids"][i])]:
        raise ValueError(f"the given hidden states are shorter than window {short[0]}: states of other examples?")
    return states


def target_features(encoder: torch.nn.Module, task: Task, examples: list[dict], tokenizer, settings: QASettings,
                    max_rows: int = 20000, seed: int = 0, batch_size: int = 32, device: str | None = None,
                    states: Sequence[tuple[list[int], np.ndarray]] | None = None) -> TargetFeatures:
    """The last-layer features of ``encoder`` (a head model's ``base_model`` works) on the target's
    labelled ``examples``, one row per example, word or QA token (see the module's docstring). ``states``:
    :func:`hidden_states` of these examples' windows, computed once for several castings (then ``seconds``
    counts the rows only)."""
    started = time.perf_counter()
    feats = encode(task.task_type, examples, tokenizer, settings)
    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for indices, hidden in _states(states, encoder, feats, tokenizer, batch_size, device):
        for row, i in enumerate(indices):
            length = len(feats["input_ids"][i])
            if task.task_type in ("classification", "regression"):
                rows.append(hidden[row, :1])
                labels.append(np.asarray([feats["labels"][i]]))
            elif task.task_type == "tagging":
                tags = np.asarray(feats["labels"][i])
                keep = tags != IGNORE_INDEX
                rows.append(hidden[row, :length][keep])
                labels.append(tags[keep])
            else:  # qa: every real token of the window, 1 at the gold start, 2 at the gold end
                token_labels = np.zeros(length, dtype=np.int64)
                token_labels[feats["end_positions"][i]] = 2
                token_labels[feats["start_positions"][i]] = 1  # a one-token answer: its start
                rows.append(hidden[row, :length])
                labels.append(token_labels)
    if not rows:
        raise ValueError(f"task {task.name!r}: the examples gave no features")
    x, y = np.concatenate(rows).astype(np.float64), np.concatenate(labels)
    if len(x) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_rows, replace=False))
        x, y = x[keep], y[keep]
    regression = task.task_type == "regression"
    unit = {"classification": "example", "regression": "example", "tagging": "word"}.get(task.task_type, "token")
    return TargetFeatures(x, y.astype(np.float64 if regression else np.int64), regression, unit, time.perf_counter() - started)


@dataclass
class SpanRows:
    """A QA target's context tokens as its span head sees them: one row per context token of every window
    (never [CLS], the question or a separator), and whether the token is the window's gold start / end."""

    features: np.ndarray  # (N, D) float32
    starts: np.ndarray  # (N,) bool
    ends: np.ndarray  # (N,) bool
    seconds: float = 0.0


def span_rows(encoder: torch.nn.Module, task: Task, examples: list[dict], tokenizer, settings: QASettings,
              batch_size: int = 32, device: str | None = None,
              states: Sequence[tuple[list[int], np.ndarray]] | None = None) -> SpanRows:
    """:class:`SpanRows` of ``encoder`` on the QA ``examples``: a window without the answer adds negatives only
    (its gold position is [CLS], which is not a row). The context is the tokens of the second segment
    (``token_type_ids``), so the tokenizer must give segment ids. ``states``: as :func:`target_features`'."""
    if task.task_type != "qa":
        raise ValueError(f"task {task.name!r} is {task.task_type}: span rows are for extractive QA targets")
    started = time.perf_counter()
    feats = encode("qa", examples, tokenizer, settings)
    if "token_type_ids" not in feats:
        raise ValueError(f"{type(tokenizer).__name__} gives no token_type_ids: span rows find the context by its segment id")
    rows, starts, ends = [], [], []
    for indices, hidden in _states(states, encoder, feats, tokenizer, batch_size, device):
        for row, i in enumerate(indices):
            ids = np.asarray(feats["input_ids"][i])
            context = np.flatnonzero((np.asarray(feats["token_type_ids"][i]) == 1) & (ids != tokenizer.sep_token_id))
            rows.append(hidden[row, context])
            starts.append(context == feats["start_positions"][i])
            ends.append(context == feats["end_positions"][i])
    return SpanRows(np.concatenate(rows), np.concatenate(starts), np.concatenate(ends), time.perf_counter() - started)


def span_estimate(rows: SpanRows, score: Callable[[np.ndarray, np.ndarray], float], seed: int = 0) -> float:
    """A class estimator (``score(features, labels)``: LogME, H-score) cast as the span head's two decisions:
    start and end scored apart, each on its gold tokens and as many other context tokens drawn under ``seed``
    (balanced classes), features centred on those rows; the mean of the two. Another ``seed`` is another row
    sample: the spread over seeds is the estimate's own uncertainty."""
    rng = np.random.default_rng(seed)
    scores = []
    for gold in (rows.starts, rows.ends):
        positive, negative = np.flatnonzero(gold), np.flatnonzero(~gold)
        if not len(positive) or len(negative) < len(positive):
            raise ValueError(f"{len(positive)} gold and {len(negative)} other context tokens: too few to balance")
        keep = np.concatenate([positive, rng.choice(negative, len(positive), replace=False)])
        x = rows.features[keep].astype(np.float64)
        scores.append(float(score(x - x.mean(0), gold[keep].astype(np.int64))))
    return float(np.mean(scores))


def h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """H-score (Bao et al. 2019): tr(cov(f)⁺ cov(E[f | y])) for class labels; higher: features that
    separate the target's classes better. A pseudo-inverse (with numpy's default cut-off) because
    fine-tuned features are often nearly collinear."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need (N, D) features and N labels, N >= 2; got {x.shape} and {y.shape}")
    x = x - x.mean(0)
    class_means = np.zeros_like(x)
    for label in np.unique(y):
        class_means[y == label] = x[y == label].mean(0)
    cov_f = x.T @ x / len(x)
    cov_g = class_means.T @ class_means / len(x)
    return float(np.trace(np.linalg.pinv(cov_f, hermitian=True) @ cov_g))


#: An estimator maps a source's TargetFeatures to a score: higher = predicted to transfer better.
Estimator = Callable[[TargetFeatures], float]


def h_score_estimator(rows: TargetFeatures) -> float:
    if rows.regression:
        raise ValueError("H-score needs class labels; a regression target has none (use LogME)")
    return h_score(rows.features, rows.labels)


def run_estimators(estimators: Mapping[str, Estimator], rows_by_source: Mapping[str, TargetFeatures]) -> dict[str, dict]:
    """Every estimator on every source's rows: {estimator: {"scores": {source: score}, "seconds": total}}.
    Seconds count the estimator only; the encoder passes (``TargetFeatures.seconds``) are shared by all."""
    out: dict[str, dict] = {}
    for name, estimator in estimators.items():
        scores, seconds = {}, 0.0
        for source, rows in rows_by_source.items():
            started = time.perf_counter()
            scores[source] = float(estimator(rows))
            seconds += time.perf_counter() - started
        out[name] = {"scores": scores, "seconds": seconds}
    return out


def ranking_from_scores(scores: Mapping[str, float]) -> list[str]:
    """Sources by estimated transferability, best first (ties by name, so the order is stable)."""
    return sorted(scores, key=lambda s: (-scores[s], s))
