"""The one task abstraction shared by every loader, the trainer and the task embeddings.

A task is a name, a type and a few splits of *examples* (raw rows as plain dicts, Hugging Face's
vocabulary: *features* are the tokenised windows made from them later). Keeping examples as plain
lists of dicts means loaders, generated data and hub datasets all meet in one simple format that
tests can build by hand.

Example schemas, by task type:

* ``qa``: ``id``, ``title``, ``context``, ``question``,
  ``answers = {"text": [str, ...], "answer_start": [int, ...]}`` (SQuAD's own layout; an empty
  list means "no answer in the passage").
* ``classification``: ``id``, ``text``, optional ``text_pair``, ``label`` (int index into
  ``label_names``).
* ``regression``: ``id``, ``text``, optional ``text_pair``, ``label`` (float).
* ``tagging``: ``id``, ``tokens`` (list of words), ``tags`` (list of int indices into
  ``label_names``, one per word).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from itft_utils.data.answers import align_answers

TASK_TYPES = ("qa", "classification", "regression", "tagging")

#: Vu et al. (2020) group tasks into three classes; classification and regression share one.
TASK_FAMILIES = {
    "qa": "question answering",
    "classification": "classification/regression",
    "regression": "classification/regression",
    "tagging": "sequence labelling",
}


@dataclass
class Task:
    """A named task with its splits of examples.

    ``label_names`` lists the classes (classification) or tags (tagging); it is ``None`` for QA
    and regression. ``skipped`` counts records a format allows to be skipped, by reason, so
    loaders never drop data silently; ``repaired`` counts QA answers made exact (whitespace around
    them, a start a few characters off: ``data.answers``), by reason.
    """

    name: str
    task_type: str
    splits: dict[str, list[dict]]
    label_names: list[str] | None = None
    description: str = ""
    domain: str = ""
    skipped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task {self.name!r}: unknown task_type {self.task_type!r}; expected one of {TASK_TYPES}")
        if self.task_type in ("classification", "tagging") and not self.label_names:
            raise ValueError(f"task {self.name!r}: a {self.task_type} task needs label_names")
        if self.task_type == "qa":  # every path (local, hub, generated, registered) gets exact answers
            for split, rows in self.splits.items():
                align_answers(rows, f"task {self.name}, split {split}", self.repaired)

    @property
    def family(self) -> str:
        return TASK_FAMILIES[self.task_type]

    @property
    def num_labels(self) -> int:
        """Size of the output layer: 1 for regression, 2 (start/end) for QA."""
        if self.task_type == "regression":
            return 1
        if self.task_type == "qa":
            return 2
        return len(self.label_names or [])

    @property
    def is_pair(self) -> bool:
        """Whether classification/regression examples carry a second text."""
        rows = next((r for r in self.splits.values() if r), [])
        return bool(rows) and "text_pair" in rows[0]

    def split(self, name: str) -> list[dict]:
        """The examples of one split, with an error that lists the splits that exist."""
        if name not in self.splits:
            raise KeyError(f"task {self.name!r} has no split {name!r}; it has {sorted(self.splits)}")
        return self.splits[name]

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.splits.items()}

    def __repr__(self) -> str:
        return f"Task({self.name!r}, {self.task_type}, sizes={self.sizes()})"
