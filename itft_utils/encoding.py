"""Examples -> model features for every task type, and batching with dynamic padding.

Features are a dict of equal-length lists (one entry per feature); ``collate`` pads a batch only
to its own longest sequence (dynamic padding), and ``length_grouped_batches`` puts sequences of
similar length together so that little padding is left at all.
"""
from __future__ import annotations

import random

import torch

from . import qa

MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask")
LABEL_KEYS = ("labels", "start_positions", "end_positions")
IGNORE_INDEX = -100  # positions the loss skips (subword continuations, padding), as HF models expect


def encode_classification(examples: list[dict], tokenizer, max_length: int) -> dict[str, list]:
    """One or two texts per example; ``labels`` are ints (classification) or floats (regression)."""
    pairs = [ex["text_pair"] for ex in examples] if examples and "text_pair" in examples[0] else None
    enc = tokenizer([ex["text"] for ex in examples], pairs, truncation=True, max_length=max_length, padding=False)
    features = dict(enc)
    features["labels"] = [ex["label"] for ex in examples]
    return features


def encode_tagging(examples: list[dict], tokenizer, max_length: int) -> dict[str, list]:
    """Word tags go on each word's first subword; other subwords get IGNORE_INDEX.

    ``word_ids`` are kept so predictions can be read back per word.
    """
    enc = tokenizer([ex["tokens"] for ex in examples], is_split_into_words=True, truncation=True, max_length=max_length, padding=False)
    labels, word_ids_all = [], []
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(i)
        previous = None
        row = []
        for w in word_ids:
            row.append(ex["tags"][w] if w is not None and w != previous else IGNORE_INDEX)
            previous = w
        labels.append(row)
        word_ids_all.append(word_ids)
    features = dict(enc)
    features["labels"] = labels
    features["word_ids"] = word_ids_all
    return features


def encode(task_type: str, examples: list[dict], tokenizer, settings: qa.QASettings | None = None,
           train: bool = True) -> dict[str, list]:
    """Features for ``task_type`` under ``settings`` (default :class:`~itft_utils.qa.QASettings`);
    QA evaluation features keep what post-processing needs."""
    settings = settings or qa.QASettings()
    if task_type == "qa" and train:
        return qa.prepare_train_features(examples, tokenizer, settings.max_length, settings.doc_stride, settings.label_span)
    if task_type == "qa":
        return qa.prepare_validation_features(examples, tokenizer, settings.max_length, settings.doc_stride)
    if task_type in ("classification", "regression"):
        return encode_classification(examples, tokenizer, settings.max_length)
    if task_type == "tagging":
        return encode_tagging(examples, tokenizer, settings.max_length)
    raise ValueError(f"unknown task_type {task_type!r}")


def num_features(features: dict[str, list]) -> int:
    return len(features["input_ids"])


def collate(features: dict[str, list], indices: list[int], pad_token_id: int, pad_to: int | None = None,
            pad_to_multiple_of: int = 8) -> dict[str, torch.Tensor]:
    """A padded batch of the model inputs and labels at ``indices``.

    Pads to the batch's longest sequence rounded up to ``pad_to_multiple_of``, or to ``pad_to`` (the
    static padding that dynamic padding is compared against). Rounding keeps the number of distinct
    shapes small: on a GPU every new shape costs kernel selection (and cuDNN attention builds a
    graph per shape), which made fully dynamic shapes 4x slower than static ones on an H100.
    """
    longest = max(len(features["input_ids"][i]) for i in indices)
    length = pad_to or -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    batch = {}
    for key in MODEL_INPUTS + LABEL_KEYS:
        if key not in features:
            continue
        rows = [features[key][i] for i in indices]
        if isinstance(rows[0], list):  # per-token values: pad them
            fill = pad_token_id if key == "input_ids" else IGNORE_INDEX if key == "labels" else 0
            rows = [r + [fill] * (length - len(r)) for r in rows]
        dtype = torch.float32 if isinstance(rows[0], float) else torch.long
        batch[key] = torch.tensor(rows, dtype=dtype)
    return batch


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, mega_batch_mult: int = 50) -> list[list[int]]:
    """Shuffled batches of similar-length sequences (like HF's LengthGroupedSampler).

    Shuffle, cut into mega-batches of ``batch_size * mega_batch_mult``, sort each by length, cut
    into batches, shuffle the batches: random enough to train well, little padding per batch.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * mega_batch_mult
    batches = []
    for m in range(0, len(order), mega):
        chunk = sorted(order[m : m + mega], key=lambda i: lengths[i], reverse=True)
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def sorted_batches(features: dict[str, list], batch_size: int) -> list[list[int]]:
    """Features sorted by length, then cut into batches: little padding, a fixed order (deterministic),
    for passes that only read the model (Fisher, TextEmb), where the order does not matter."""
    lengths = [len(x) for x in features["input_ids"]]
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[b : b + batch_size] for b in range(0, len(order), batch_size)]


def padding_bounded_batches(features: dict[str, list], batch_size: int, max_padding: float = 0.05) -> list[list[int]]:
    """Like :func:`sorted_batches`, but a batch also ends before its padding would exceed ``max_padding``
    of its tokens: for passes whose cost is every token they compute (the Fisher's layer features), where
    a padded token costs as much as a real one and an extra, smaller batch costs little."""
    lengths = [len(x) for x in features["input_ids"]]
    batches: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: (lengths[i], i)):
        batch = batches[-1] if batches else None
        if batch is not None and len(batch) < batch_size:
            longest, real = lengths[i], sum(lengths[j] for j in batch) + lengths[i]
            if 1 - real / (longest * (len(batch) + 1)) <= max_padding:
                batch.append(i)
                continue
        batches.append([i])
    return batches


def shuffled_batches(n: int, batch_size: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[b : b + batch_size] for b in range(0, n, batch_size)]
