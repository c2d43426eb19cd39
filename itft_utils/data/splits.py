"""Seeded subsampling and leakage-free splits (train / validation / test stay apart)."""
from __future__ import annotations

import random
import warnings


def subsample(examples: list[dict], n: int | None, seed: int = 0) -> list[dict]:
    """``n`` examples drawn without replacement under ``seed``, in their original order.

    Keeping the original order makes a 1,000-question subset a stable, readable slice of the
    source file; ``n=None`` or ``n >= len`` returns everything.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 0:
        raise ValueError(f"cannot draw {n} examples")
    keep = sorted(random.Random(seed).sample(range(len(examples)), n))
    return [examples[i] for i in keep]


def articles(examples: list[dict]) -> list[str]:
    """Article titles in order of first appearance (SQuAD files are ordered by article)."""
    return list(dict.fromkeys(ex["title"] for ex in examples))


#: The SQuAD v1.1 dev file has 48 articles: the course trains on the first 38 and evaluates on the
#: questions of the last 10, so that no passage is both trained on and evaluated on.
SQUAD_TRAIN_ARTICLES = 38


def split_by_article(examples: list[dict], n_first: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Questions of the first ``n_first`` articles, and of the rest: no passage is in both.

    Examples without titles (SQuAD-format files that leave them out) are grouped by their passage
    instead, in an order shuffled under ``seed``, with a warning that says so.
    """
    if any(not ex.get("title") for ex in examples):
        warnings.warn("some examples have no title: splitting by passage (context) instead of by article, "
                      f"in an order shuffled with seed {seed}", UserWarning, stacklevel=2)
        contexts = list(dict.fromkeys(ex["context"] for ex in examples))
        random.Random(seed).shuffle(contexts)
        if not 0 < n_first < len(contexts):
            raise ValueError(f"cannot split {len(contexts)} passages after the first {n_first}")
        first_contexts = set(contexts[:n_first])
        return ([ex for ex in examples if ex["context"] in first_contexts],
                [ex for ex in examples if ex["context"] not in first_contexts])
    titles = articles(examples)
    if not 0 < n_first < len(titles):
        raise ValueError(f"cannot split {len(titles)} articles after the first {n_first}")
    first = set(titles[:n_first])
    return [ex for ex in examples if ex["title"] in first], [ex for ex in examples if ex["title"] not in first]
