"""Evaluation metrics for every task type, in plain numpy and the standard library.

Why hand-written: the course must score QA, classification, regression and tagging the same way
the published baselines do, without pulling in ``evaluate``/``seqeval``/``sklearn`` at run time.
Each function here reproduces a reference implementation exactly and the tests cross-check them:

* SQuAD v1.1 exact match / F1 over a whole evaluation set: the official ``evaluate-v1.1.py`` (same
  normalisation, percent). The per-answer functions (normalisation, one answer's F1) are Homework 2's
  exercise and not exported: the corpus-level score works on token lists internally.
* ``accuracy``, ``f1``, ``matthews_corrcoef``: scikit-learn's definitions (0.0 on a zero
  denominator, like sklearn's default ``zero_division``).
* ``pearson``, ``spearman``: ``scipy.stats.pearsonr``/``spearmanr`` (average ranks for ties, nan
  when an input is constant).
* ``bio_spans``, ``span_f1``: seqeval's default (conlleval) chunking and micro-averaged span F1.

Every function raises ``ValueError`` with a readable message on mismatched lengths or empty input,
because a silently truncated evaluation is the worst kind of bug in a results table.
"""
from __future__ import annotations

import functools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from .replaced import StudentCodeError, call_replaced

__all__ = [
    "squad_metrics",
    "accuracy",
    "f1",
    "matthews_corrcoef",
    "pearson",
    "spearman",
    "bio_spans",
    "span_f1",
    "token_accuracy",
]


#: Numbers to correlate: a sequence or a 1-d array.
Values = Sequence[float] | np.ndarray


def _check_lengths(n_pred: int, n_ref: int, pred: str = "predictions", ref: str = "references") -> None:
    """Refuse to score mismatched inputs instead of silently zipping to the shorter one."""
    if n_pred != n_ref:
        raise ValueError(f"got {n_pred} {pred} for {n_ref} {ref}")
    if n_ref == 0:
        raise ValueError(f"got no {ref} to score")


# --------------------------------------------------------------------------------------------
# SQuAD v1.1 (identical to the official evaluate-v1.1.py)
# --------------------------------------------------------------------------------------------

_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _tokens(s: str) -> list[str]:
    """Lower case, drop punctuation, drop articles, split on whitespace (the official order).

    The order matters: punctuation goes before articles, so "the-end" -> "theend" keeps "the".
    """
    text = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    return _ARTICLES.sub(" ", text).split()


def _overlap_f1(prediction: list[str], gold: list[str]) -> float:
    """Bag-of-tokens F1 of two normalised token lists; 0.0 without a common token."""
    same = sum((Counter(prediction) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _replaced_tokens(normalize_answer: Callable[[str], str], where: str, text: str) -> list[str]:
    return str(call_replaced(normalize_answer, where, text)).split()


def _checked_f1(value, fn: Callable, where: str) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        score = math.nan
    if not 0.0 <= score <= 1.0:  # also refuses NaN
        raise StudentCodeError(f"{getattr(fn, '__name__', 'answer_f1')} returned {value!r} ({where}); expected an F1 between 0 and 1")
    return score


def squad_metrics(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    normalize_answer: Callable[[str], str] | None = None,
    answer_f1: Callable[[str, list[str]], float] | None = None,
) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 in percent (0-100), averaged over *all* reference ids.

    A reference id with no prediction scores 0 (the official script prints a note to stderr;
    we stay silent). Prediction ids unknown to the references are an error, as they usually
    mean the wrong split was scored. An empty list of gold answers marks an unanswerable question
    (SubjQA, SQuAD 2.0): its only correct answer is the empty string, as in the SQuAD 2.0 script.

    ``normalize_answer`` (text -> text, for exact match and the abstention rule) and ``answer_f1``
    (prediction, gold answers -> 0..1, for answerable questions) replace the official steps with
    someone else's: Homework 2 scores its experiment with the student's.
    """
    if not references:
        raise ValueError("got no references to score")
    unknown = [qid for qid in predictions if qid not in references]
    if unknown:
        shown = ", ".join(repr(qid) for qid in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ValueError(f"{len(unknown)} prediction ids are not in the references: {shown}{more}")
    exact_match = f1 = 0.0
    for qid, ground_truths in references.items():
        if isinstance(ground_truths, str):
            raise ValueError(f"references[{qid!r}] must be a list of answers, not a string")
        ground_truths = list(ground_truths)
        if qid not in predictions:
            continue
        where = f"question {qid!r}"
        tokens = _tokens if normalize_answer is None else functools.partial(_replaced_tokens, normalize_answer, where)
        prediction = tokens(predictions[qid])
        if not ground_truths:  # SQuAD 2.0's rule: right only when the prediction is empty too
            abstained = float(not prediction)
            exact_match, f1 = exact_match + abstained, f1 + abstained
            continue
        golds = [tokens(g) for g in ground_truths]
        exact_match += max(float(prediction == g) for g in golds)
        if answer_f1 is None:
            f1 += max(_overlap_f1(prediction, g) for g in golds)
        else:
            f1 += _checked_f1(call_replaced(answer_f1, where, predictions[qid], ground_truths), answer_f1, where)
    total = len(references)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


# --------------------------------------------------------------------------------------------
# Classification (scikit-learn's definitions)
# --------------------------------------------------------------------------------------------


def _labels(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Check lengths and return both label sequences as 1-d arrays."""
    _check_lengths(len(y_pred), len(y_true))
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(f"expected 1-d label sequences, got shapes {t.shape} and {p.shape}")
    return t, p


def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Fraction of predictions equal to the reference label."""
    t, p = _labels(y_true, y_pred)
    return float(np.mean(t == p))


def _f1_for(t: np.ndarray, p: np.ndarray, label: Hashable) -> float:
    """F1 of one label treated as positive; 0.0 when it is neither predicted nor gold."""
    tp = int(np.sum((t == label) & (p == label)))
    fp = int(np.sum((t != label) & (p == label)))
    fn = int(np.sum((t == label) & (p != label)))
    denominator = 2 * tp + fp + fn
    return 0.0 if denominator == 0 else 2 * tp / denominator


def f1(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    average: str = "binary",
    pos_label: Hashable = 1,
) -> float:
    """F1 like sklearn: ``"binary"`` scores ``pos_label`` only, ``"macro"`` is the unweighted
    mean over every label seen in either sequence (so minority classes count as much as the rest).
    """
    t, p = _labels(y_true, y_pred)
    if average == "binary":
        seen = set(t.tolist()) | set(p.tolist())
        if len(seen) > 2:
            raise ValueError(
                f"average='binary' needs at most 2 labels, got {len(seen)}; use average='macro'"
            )
        return _f1_for(t, p, pos_label)
    if average == "macro":
        labels = np.unique(np.concatenate([t, p]))
        return float(np.mean([_f1_for(t, p, label) for label in labels]))
    raise ValueError(f"average must be 'binary' or 'macro', got {average!r}")


def matthews_corrcoef(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Matthews correlation, multiclass form (Gorodkin's R_K, as sklearn); 0.0 when undefined.

    CoLA's official metric: unlike accuracy it is not inflated by predicting the majority class.
    """
    t, p = _labels(y_true, y_pred)
    labels, encoded = np.unique(np.concatenate([t, p]), return_inverse=True)
    k, n = len(labels), len(t)
    confusion = np.zeros((k, k), dtype=np.float64)
    np.add.at(confusion, (encoded[:n], encoded[n:]), 1.0)
    t_sum, p_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    n_correct, n_samples = np.trace(confusion), confusion.sum()
    cov_tp = n_correct * n_samples - np.dot(t_sum, p_sum)
    cov_pp = n_samples**2 - np.dot(p_sum, p_sum)
    cov_tt = n_samples**2 - np.dot(t_sum, t_sum)
    if cov_pp * cov_tt == 0:
        return 0.0
    return float(cov_tp / np.sqrt(cov_tt * cov_pp))


# --------------------------------------------------------------------------------------------
# Regression (scipy.stats' definitions)
# --------------------------------------------------------------------------------------------


def _vectors(x: Values, y: Values) -> tuple[np.ndarray, np.ndarray]:
    """Check lengths (at least 2 values, as scipy) and return float arrays."""
    _check_lengths(len(y), len(x), "values in y", "values in x")
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"expected 1-d value sequences, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError("a correlation needs at least 2 values")
    return a, b


def pearson(x: Values, y: Values) -> float:
    """Pearson's r. Returns nan when x or y is constant (r is undefined there), like scipy."""
    a, b = _vectors(x, y)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt(np.dot(a, a) * np.dot(b, b))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(a, b) / denominator, -1.0, 1.0))


def _rankdata(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank (scipy.stats.rankdata 'average')."""
    sorter = np.argsort(values, kind="mergesort")
    inverse = np.empty(len(values), dtype=np.intp)
    inverse[sorter] = np.arange(len(values))
    ordered = values[sorter]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = first.cumsum()[inverse]
    bounds = np.r_[np.nonzero(first)[0], len(first)]
    return 0.5 * (bounds[dense] + bounds[dense - 1] + 1)


def spearman(x: Values, y: Values) -> float:
    """Spearman's rho: Pearson's r of average ranks. nan when x or y is constant, like scipy."""
    a, b = _vectors(x, y)
    return pearson(_rankdata(a), _rankdata(b))


# --------------------------------------------------------------------------------------------
# Tagging (seqeval default / conlleval chunking)
# --------------------------------------------------------------------------------------------

_PREFIXES = ("B", "I", "E", "S")


def _split_tag(tag: str) -> tuple[str, str]:
    """("B", "NP") from "B-NP", ("O", "") from "O"; a bare "B"/"I"/"E"/"S" has type ""."""
    if tag == "O":
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if prefix in _PREFIXES and (sep or tag == prefix):
        return prefix, kind
    raise ValueError(
        f"tag {tag!r} is not 'O' or B-/I-/E-/S-<type>; use token_accuracy for tags without spans"
    )


def _ends(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    """conlleval's endOfChunk: does the chunk open at the previous token close before this one?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != kind


def _starts(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    """conlleval's startOfChunk: an I-/E- after O, E or S, or after another type, opens a chunk."""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("I", "E"):
        return True
    return tag != "O" and prev_type != kind


def bio_spans(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Spans ``(type, start, end)`` with ``end`` exclusive, chunked exactly as conlleval/seqeval.

    Lenient like conlleval: an ``I-X`` after ``O`` or after another type starts a new span
    instead of being dropped, so IOB1 data and sloppy model output are still scored.
    """
    spans: set[tuple[str, int, int]] = set()
    prev_tag, prev_type, begin = "O", "", 0
    for i, raw in enumerate(list(tags) + ["O"]):
        tag, kind = _split_tag(raw)
        if _ends(prev_tag, tag, prev_type, kind):
            spans.add((prev_type, begin, i))
        if _starts(prev_tag, tag, prev_type, kind):
            begin = i
        prev_tag, prev_type = tag, kind
    return spans


def _check_sequences(true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> None:
    """Same number of sentences and, per sentence, the same number of tags."""
    _check_lengths(len(pred_seqs), len(true_seqs), "predicted sequences", "reference sequences")
    for i, (gold, pred) in enumerate(zip(true_seqs, pred_seqs)):
        if len(pred) != len(gold):
            raise ValueError(f"sequence {i}: got {len(pred)} predicted tags for {len(gold)} reference tags")


def span_f1(
    true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Micro precision/recall/F1 (0-1) over exact spans: a span counts only if type, start and
    end all match, so a partially overlapping span is both a false positive and a false negative.
    Each is 0.0 when its denominator is 0 (no predicted or no gold spans), like seqeval.
    """
    _check_sequences(true_seqs, pred_seqs)
    n_gold = n_pred = n_correct = 0
    for gold, pred in zip(true_seqs, pred_seqs):
        gold_spans, pred_spans = bio_spans(gold), bio_spans(pred)
        n_gold += len(gold_spans)
        n_pred += len(pred_spans)
        n_correct += len(gold_spans & pred_spans)
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1_value = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1_value}


def token_accuracy(true_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> float:
    """Fraction of tokens tagged correctly, pooled over sentences (the usual POS-tagging score)."""
    _check_sequences(true_seqs, pred_seqs)
    total = sum(len(gold) for gold in true_seqs)
    if total == 0:
        raise ValueError("got no tokens to score")
    correct = sum(g == p for gold, pred in zip(true_seqs, pred_seqs) for g, p in zip(gold, pred))
    return correct / total
