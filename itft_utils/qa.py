"""Extractive QA: examples -> tokenised windows (features) -> spans -> answer text.

Vocabulary and steps follow Hugging Face's ``run_qa.py``/``utils_qa.py`` so that students who read
those can read this: *examples* are questions over a context, *features* are the windows a long
context is cut into (``max_length``, ``doc_stride``), ``offset_mapping`` ties tokens back to
characters, ``example_id`` ties windows back to their question.
"""
from __future__ import annotations

import collections
import dataclasses
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .data.errors import DataFormatError
from .files import code_digest
from .replaced import StudentCodeError, call_replaced


@dataclass(frozen=True)
class QASettings:
    """How examples become windows and windows become answers, passed as one thing: training,
    evaluation and decoding must agree on them, or the scores mean nothing.

    ``max_length`` applies to every task type (it truncates classification and tagging inputs); the
    rest is QA's. ``null_answers``: decode "no answer" (the empty string) when the CLS token's score
    beats the best span in every window, as SQuAD 2.0's systems do; None decides per evaluation set
    (on when some of its questions have no answer, e.g. SubjQA).

    The four functions replace the library's own steps with someone else's (Homework 2 passes the
    student's exercises, so that a bug in them shows in the experiment's numbers); None keeps the
    library's. They take the exercises' signatures: ``label_span(offsets, sequence_ids, start_char,
    end_char, cls_index) -> (start, end)`` labels a training window; ``decode_span(start_logits,
    end_logits, offsets, n_best_size, max_answer_length) -> (start, end) | None`` picks a window's span
    (``offsets`` None outside the context); ``normalize_answer(text) -> text`` (exact match) and
    ``answer_f1(prediction, gold_answers) -> 0..1`` score a question.
    """

    max_length: int = 384  # tokens per window
    doc_stride: int = 128  # tokens shared by consecutive windows of one long context
    n_best: int = 20  # candidate starts and ends per window when decoding
    max_answer_length: int = 30  # longest answer, in tokens
    null_answers: bool | None = None
    label_span: Callable | None = None
    decode_span: Callable | None = None
    normalize_answer: Callable | None = None
    answer_f1: Callable | None = None

    def __post_init__(self) -> None:
        if self.max_length < 8 or not 0 <= self.doc_stride < self.max_length // 2:
            raise ValueError(f"need max_length >= 8 and 0 <= doc_stride < max_length / 2 (windows must advance); "
                             f"got max_length {self.max_length}, doc_stride {self.doc_stride}")
        if self.n_best < 1 or self.max_answer_length < 1:
            raise ValueError(f"n_best and max_answer_length must be at least 1; got {self.n_best}, {self.max_answer_length}")
        for name in FUNCTIONS:
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise TypeError(f"QASettings.{name} must be a function or None; got {getattr(self, name)!r}")

    def functions(self) -> dict[str, Callable]:
        """The functions that replace the library's steps, by field name."""
        return {name: getattr(self, name) for name in FUNCTIONS if getattr(self, name) is not None}

    def key(self) -> list:
        """What of these settings decides a trained model and its scores, for cache keys: the windows,
        and the code of any replaced step (an edited function must not reuse its old results)."""
        code = {name: code_digest(fn) for name, fn in self.functions().items()}
        return [self.max_length, self.doc_stride, *([code] if code else [])]


#: QASettings' fields that hold functions replacing the library's steps.
FUNCTIONS = ("label_span", "decode_span", "normalize_answer", "answer_f1")


def _checked_span(span, name: str, where: str, length: int) -> tuple[int, int]:
    try:
        start, end = (int(i) for i in span)
    except (TypeError, ValueError):
        raise StudentCodeError(f"{name} returned {span!r} ({where}); expected two token indices (start, end)") from None
    if not (0 <= start < length and 0 <= end < length):
        raise StudentCodeError(f"{name} returned {span!r} ({where}); the window has tokens 0..{length - 1}")
    return start, end


def with_legacy_windows(settings: QASettings | None, legacy: dict[str, int]) -> QASettings:
    """``settings`` with the ``max_length`` / ``doc_stride`` keywords that notebooks released before
    :class:`QASettings` pass (``lambda_sweep(..., max_length=96, doc_stride=32)``); other keywords are errors."""
    unknown = sorted(set(legacy) - {"max_length", "doc_stride"})
    if unknown:
        raise TypeError(f"unexpected keyword arguments {unknown}")
    settings = settings or QASettings()
    return dataclasses.replace(settings, max_length=legacy.get("max_length", settings.max_length),
                               doc_stride=legacy.get("doc_stride", settings.doc_stride))


def _window_positions(offsets: np.ndarray, in_context: np.ndarray, start_char: int, end_char: int, cls_index: int) -> tuple[int, int]:
    """Training labels of one window, from array masks: the last context token starting at or before
    the answer's first character and the first context token ending at or after its end.

    A window whose context does not hold the whole answer points both positions at the CLS token:
    the model learns "not in this window" there, as BERT's SQuAD recipe does.
    """
    starts, ends = offsets[:, 0], offsets[:, 1]
    if not in_context.any() or starts[in_context].min() > start_char or ends[in_context].max() < end_char:
        return cls_index, cls_index
    return int(np.flatnonzero(in_context & (starts <= start_char))[-1]), int(np.flatnonzero(in_context & (ends >= end_char))[0])


def _encode_windows(examples: list[dict], tokenizer, max_length: int, doc_stride: int):
    if not 0 <= doc_stride < max_length // 2:
        raise ValueError(f"doc_stride ({doc_stride}) must be below half of max_length ({max_length}): "
                         "windows overlap by doc_stride tokens and must still advance through the context")
    if tokenizer.padding_side != "right":
        raise ValueError("QA windows assume right padding (question first, then context)")
    # Leading spaces in questions waste window space and break offsets in some tokenizers.
    questions = [ex["question"].lstrip() for ex in examples]
    _check_questions_fit(examples, questions, tokenizer, max_length, doc_stride)
    enc = tokenizer(
        questions,
        [ex["context"] for ex in examples],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    _check_windows_reach_the_end(examples, enc)
    return enc


def _check_questions_fit(examples: list[dict], questions: list[str], tokenizer, max_length: int, doc_stride: int) -> None:
    """Raise DataFormatError, naming the example, for a question that leaves a window no more than
    ``doc_stride`` tokens of context.

    Every window repeats the whole question; the context gets what is left after it and the special
    tokens, and consecutive windows share ``doc_stride`` of those tokens. With no more room than that
    the windows cannot advance, and the Rust tokenizer panics (``stride must be strictly less than
    max_len``), naming neither the question nor the settings (COVID-QA at max_length 128, stride 32)."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    longest = max_length - specials - doc_stride - 1  # question tokens that still leave doc_stride + 1 of context
    for ex, ids in zip(examples, tokenizer(questions, add_special_tokens=False)["input_ids"]):
        if len(ids) > longest:
            raise DataFormatError(
                f"QA example {ex.get('id', '?')!r}", None,
                f"its question is {len(ids)} tokens long, but QASettings(max_length={max_length}, doc_stride={doc_stride}) "
                f"leave room for questions of at most {longest} tokens ({specials} special tokens, and more context "
                "than the stride in each window); raise max_length, lower doc_stride, or leave such questions out")


def _check_windows_reach_the_end(examples: list[dict], enc) -> None:
    """Raise if an example's windows stop before its context ends.

    tokenizers 0.23.1 and 0.23.2 return at most one overflow window (huggingface/tokenizers#2091):
    answers further into a long context then silently vanish from training and evaluation, and
    the same experiment gives different numbers on another machine. Characters the tokenizer's
    normaliser drops (whitespace, control and format characters) may legitimately trail the end."""
    reached: dict[int, int] = {}
    for i, (sample, offsets) in enumerate(zip(enc["overflow_to_sample_mapping"], enc["offset_mapping"])):
        ends = [end for (_, end), seq in zip(offsets, enc.sequence_ids(i)) if seq == 1]
        reached[sample] = max([reached.get(sample, 0), *ends])
    for sample, end in reached.items():
        context = examples[sample]["context"]
        rest = [c for c in context[end:] if not c.isspace() and not unicodedata.category(c).startswith("C")]
        if rest:
            import tokenizers

            raise RuntimeError(
                f"example {sample} (id {examples[sample].get('id', '?')}): its windows end at character {end} of "
                f"{len(context)}; the rest of the context is missing. tokenizers {tokenizers.__version__} drops "
                "overflow windows (known in 0.23.1 and 0.23.2, huggingface/tokenizers#2091): "
                "pip install 'tokenizers!=0.23.1,!=0.23.2'")


def prepare_train_features(examples: list[dict], tokenizer, max_length: int = 384, doc_stride: int = 128,
                           label_span: Callable | None = None) -> dict[str, list]:
    """Windows with ``start_positions``/``end_positions`` (the first gold answer, as in SQuAD training);
    ``label_span`` labels each window in place of the library (see :class:`QASettings`)."""
    enc = _encode_windows(examples, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    offsets_all = enc.pop("offset_mapping")
    starts, ends = [], []
    for i, offsets in enumerate(offsets_all):
        cls_index = enc["input_ids"][i].index(tokenizer.cls_token_id)
        answers = examples[sample_map[i]]["answers"]
        if not answers["answer_start"]:  # unanswerable question: every window points at CLS
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char = answers["answer_start"][0]
        end_char = start_char + len(answers["text"][0])
        if label_span is not None:
            where = f"window {i}, question {examples[sample_map[i]].get('id', sample_map[i])!r}"
            span = call_replaced(label_span, where, [tuple(o) for o in offsets], enc.sequence_ids(i), start_char, end_char, cls_index)
            s, e = _checked_span(span, getattr(label_span, "__name__", "label_span"), where, len(offsets))
        else:
            in_context = np.array([sid == 1 for sid in enc.sequence_ids(i)])
            s, e = _window_positions(np.asarray(offsets, dtype=np.int64).reshape(-1, 2), in_context, start_char, end_char, cls_index)
        starts.append(s)
        ends.append(e)
    features = dict(enc)
    features["start_positions"] = starts
    features["end_positions"] = ends
    features["example_index"] = list(sample_map)
    return features


def prepare_validation_features(examples: list[dict], tokenizer, max_length: int = 384, doc_stride: int = 128) -> dict[str, list]:
    """Windows with ``example_id`` and an ``offset_mapping`` that is None outside the context,
    so post-processing can never pick a question token as an answer."""
    enc = _encode_windows(examples, tokenizer, max_length, doc_stride)
    sample_map = enc.pop("overflow_to_sample_mapping")
    features = dict(enc)
    features["example_id"] = [examples[j]["id"] for j in sample_map]
    features["cls_index"] = [ids.index(tokenizer.cls_token_id) for ids in enc["input_ids"]]
    features["offset_mapping"] = [
        [o if s == 1 else None for o, s in zip(offsets, enc.sequence_ids(i))] for i, offsets in enumerate(enc["offset_mapping"])
    ]
    return features


def _top_span(start_logits: np.ndarray, end_logits: np.ndarray, in_context: np.ndarray, n_best_size: int,
              max_answer_length: int) -> tuple[float, int, int] | None:
    """(score, start, end) of one window's best valid span, as one masked score matrix.

    Candidates are the ``n_best_size`` highest start and end logits; valid means both tokens in the
    context, start <= end, at most ``max_answer_length`` tokens; score = start logit + end logit.
    Equal scores go to the later start, then the later end. None when no candidate is valid.
    """
    top_starts = np.argsort(start_logits, kind="stable")[::-1][:n_best_size]
    top_ends = np.argsort(end_logits, kind="stable")[::-1][:n_best_size]
    length = top_ends[None, :] - top_starts[:, None] + 1
    valid = in_context[top_starts][:, None] & in_context[top_ends][None, :] & (length >= 1) & (length <= max_answer_length)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[top_starts][:, None] + end_logits[top_ends][None, :], -np.inf)
    rows, cols = np.nonzero(scores == scores.max())
    s, e = max(zip(top_starts[rows].tolist(), top_ends[cols].tolist()))
    return float(scores.max()), int(s), int(e)


def _replaced_span(decode_span: Callable, start_logits: np.ndarray, end_logits: np.ndarray, offsets: list,
                   n_best_size: int, max_answer_length: int, where: str) -> tuple[float, int, int] | None:
    """(score, start, end) of the span ``decode_span`` picks in one window, or None."""
    span = call_replaced(decode_span, where, start_logits, end_logits, offsets, n_best_size, max_answer_length)
    if span is None:
        return None
    name = getattr(decode_span, "__name__", "decode_span")
    s, e = _checked_span(span, name, where, len(offsets))
    if offsets[s] is None or offsets[e] is None:
        raise StudentCodeError(f"{name} returned {span!r} ({where}): token {s if offsets[s] is None else e} is not "
                               "part of the context (its offset is None), so it has no answer text")
    return float(start_logits[s] + end_logits[e]), s, e


def postprocess_qa_predictions(
    examples: list[dict],
    features: dict[str, list],
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    n_best_size: int = 20,
    max_answer_length: int = 30,
    null_answers: bool = False,
    decode_span: Callable | None = None,
) -> dict[str, str]:
    """The best valid span over all windows of each example, as text of the original context.

    ``start_logits``/``end_logits`` hold one array per feature (lengths may differ: dynamic padding).
    An example whose windows have no valid span gets the empty string. With ``null_answers`` the
    empty string also wins when the lowest "no answer" score over the example's windows (start and
    end logit of CLS, as Hugging Face's SQuAD 2.0 post-processing takes it) beats the best span.
    ``decode_span`` picks each window's span in place of the library (see :class:`QASettings`); the
    windows still compete by start logit + end logit.
    """
    n_features = len(features["example_id"])
    if len(start_logits) != n_features or len(end_logits) != n_features:
        raise ValueError(f"got {len(start_logits)} start and {len(end_logits)} end logits for {n_features} features")
    by_example = collections.defaultdict(list)
    for i, example_id in enumerate(features["example_id"]):
        by_example[example_id].append(i)
    predictions = {}
    for ex in examples:
        best = (-np.inf, "")
        null_score = np.inf
        for i in by_example.get(ex["id"], []):
            offsets = features["offset_mapping"][i]
            logits_s, logits_e = np.asarray(start_logits[i]), np.asarray(end_logits[i])
            in_context = np.array([o is not None for o in offsets] + [False] * (len(logits_s) - len(offsets)))[:len(logits_s)]
            if decode_span is None:
                top = _top_span(logits_s, logits_e, in_context, n_best_size, max_answer_length)
            else:
                top = _replaced_span(decode_span, logits_s, logits_e, list(offsets), n_best_size, max_answer_length,
                                     f"window {i}, question {ex['id']!r}")
            if top is not None and top[0] > best[0]:
                best = (top[0], ex["context"][offsets[top[1]][0] : offsets[top[2]][1]])
            if null_answers:
                cls = features["cls_index"][i]
                null_score = min(null_score, float(logits_s[cls] + logits_e[cls]))
        predictions[ex["id"]] = "" if null_answers and null_score > best[0] else best[1]
    return predictions
