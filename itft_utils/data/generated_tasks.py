"""The generated tasks by name (``gen_*``): each a type, an example maker from ``generated`` and its
label names, and :func:`generate_task`, which draws disjoint splits from them deterministically."""
from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from . import generated, planted
from .task import Task


@dataclass(frozen=True)
class GeneratedSpec:
    task_type: str
    make: Callable[[int, int], list[dict]]  # (n, seed) -> examples
    label_names: list[str] | None
    description: str
    domain: str = "generated"


GENERATED_TASKS: dict[str, GeneratedSpec] = {
    "gen_qa": GeneratedSpec("qa", lambda n, s: generated.qa_examples(n, s, ("lives", "color", "owns"), "gqa"), None,
                            "Find where people live, what colour things are and what people own."),
    "gen_qa_aux": GeneratedSpec("qa", lambda n, s: generated.qa_examples(n, s, ("eats", "visits", "lives"), "gqa-aux"), None,
                                "Find what people eat, which city they visited and where they live."),
    "gen_sentiment": GeneratedSpec("classification", generated.sentiment_examples, ["negative", "positive"],
                                   "Is a short review positive or negative?"),
    "gen_pair": GeneratedSpec("classification", generated.pair_examples, ["different", "same"],
                              "Do two sentences put the person in the same city?"),
    "gen_topic": GeneratedSpec("classification", generated.topic_examples, list(generated.TOPICS),
                               "Is a sentence about food, a place or an object?"),
    "gen_similarity": GeneratedSpec("regression", generated.similarity_examples, None,
                                    "How similar are two descriptions, on a 0-5 scale?"),
    "gen_tagging": GeneratedSpec("tagging", generated.tagging_examples, list(generated.TAGS),
                                 "Tag person and place names (BIO)."),
    # The planted family (itft_utils.data.planted): a target and sources whose relatedness is known.
    "plant_qa": GeneratedSpec("qa", planted.planted_qa, None,
                              "Where does a person live, what do they eat? (the passage also names a city they visited)"),
    "plant_related": GeneratedSpec("qa", lambda n, s: planted.planted_qa(n, s, world=1, prefix="plant-rel"), None,
                                   "The target's questions and rule, about other people, cities, foods and things."),
    "plant_conflict": GeneratedSpec("qa", lambda n, s: planted.planted_qa(n, s, share=0.0, prefix="plant-con"), None,
                                    "The target's questions on its passages, answered by another rule."),
    "plant_surface": GeneratedSpec("classification", planted.planted_surface, ["after", "before"],
                                   "Does the food sentence come before the one about the thing owned?"),
    "plant_tagging": GeneratedSpec("tagging", planted.planted_tagging, list(planted.SLOT_TAGS),
                                   "Tag each city, food and thing word with its type."),
}
DEFAULT_SIZES = {"train": 400, "validation": 100, "test": 100}


def _content(example: dict) -> str:
    return json.dumps({k: v for k, v in example.items() if k != "id"}, sort_keys=True)


def generate_task(name: str, sizes: dict[str, int] | None = None, seed: int = 0) -> Task:
    """A generated task. Each split has its own seed, and no split repeats an example of an earlier
    one (equal apart from its id): candidates that do are passed over, so that validation measures
    generalisation rather than recall. Raises ValueError when a split cannot be filled that way."""
    if name not in GENERATED_TASKS:
        raise KeyError(f"unknown generated task {name!r}; known: {sorted(GENERATED_TASKS)}")
    spec = GENERATED_TASKS[name]
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    splits: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for split, n in sizes.items():
        split_seed = zlib.crc32(f"{name}/{split}/{seed}".encode())
        for factor in (2, 4, 8, 16):  # a longer stream from the same seed: its prefix is unchanged
            rows = [ex for ex in spec.make(n * factor, split_seed) if _content(ex) not in seen][:n]
            if len(rows) == n:
                break
        else:
            raise ValueError(f"generated task {name!r}: only {len(rows)} {split} examples differ from the earlier "
                             f"splits' ({n} asked); ask for fewer")
        splits[split] = rows
        seen.update(map(_content, rows))
    return Task(name, spec.task_type, splits, spec.label_names, spec.description, spec.domain)
