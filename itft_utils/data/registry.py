"""The registry of named tasks and the one entry point, :func:`load_task`, over three sources.

* ``generated``: small deterministic tasks (``gen_*``) for tests, grading and offline demos;
* ``local``: the original public files under a data folder (``ITFT_DATA_DIR``);
* ``hub``: Hugging Face datasets, as Colab users get them.

``source="auto"`` picks local files when the folder has them, else the hub.
"""
from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import generated
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
}
SOURCES = ("auto", "generated", "local", "hub")
DEFAULT_SIZES = {"train": 400, "validation": 100, "test": 100}


def default_data_dir() -> Path | None:
    """``ITFT_DATA_DIR``, else ``../shared/data`` beside the checkout when it exists, else None."""
    env = os.environ.get("ITFT_DATA_DIR")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside if beside.is_dir() else None


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


def local_available(name: str, data_dir: Path | None) -> bool:
    from .local import EXPECTED_FILES

    return data_dir is not None and name in EXPECTED_FILES and all((Path(data_dir) / f).exists() for f in EXPECTED_FILES[name])


def task_names() -> list[str]:
    from .custom import REGISTERED
    from .hub import HUB_TASKS
    from .local import LOCAL_LOADERS

    return sorted(set(GENERATED_TASKS) | set(LOCAL_LOADERS) | set(HUB_TASKS) | set(REGISTERED))


def load_task(name: str, source: str = "auto", data_dir: str | Path | None = None, **generated_kwargs) -> Task:
    """Load a named task from one of :data:`SOURCES`; unknown names list the known ones."""
    from .custom import REGISTERED, load_registered
    from .hub import load_hub_task
    from .local import LOCAL_LOADERS

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    if name in GENERATED_TASKS:
        if source not in ("auto", "generated"):
            raise ValueError(f"{name!r} is a generated task; it has no {source} source")
        return generate_task(name, **generated_kwargs)
    if name not in task_names():
        raise KeyError(f"unknown task {name!r}; known tasks: {task_names()}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if name in REGISTERED:  # your own task (register_task): its files, wherever they are
        if source not in ("auto", "local"):
            raise ValueError(f"{name!r} is a registered task; it is read from its files, not from the {source}")
        return load_registered(name, data_dir)
    if source == "local" or (source == "auto" and local_available(name, data_dir)):
        if name not in LOCAL_LOADERS:
            raise KeyError(f"task {name!r} has no local loader; local tasks: {sorted(LOCAL_LOADERS)}")
        if data_dir is None:
            raise FileNotFoundError(f"no data folder for {name!r}: pass data_dir or set ITFT_DATA_DIR")
        return LOCAL_LOADERS[name](Path(data_dir))
    return load_hub_task(name)
