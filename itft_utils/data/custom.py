"""Adding a task of your own: a reader for one-example-per-line files, and :func:`register_task`.

A registered task is read from its files with any reader (the package's ``read_*`` or your own) the
first time ``load_task(name)`` asks for it; string class labels and tags become indices here, with
``label_names`` taken from the data when not given. Relative file names are found in the data folder.

    from itft_utils.data import load_task, read_label_lines, register_task
    register_task("trec", "classification", {"train": "trec/train_5500.label", "test": "trec/TREC_10.label"},
                  read_label_lines, fmt="colon", encoding="latin-1")
    trec = load_task("trec", data_dir="data")
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from itft_utils.data.task import DataFormatError, Task
from itft_utils.data.textio import read_lines, require_examples

LINE_FORMATS = ("first", "colon")


def read_label_lines(path: str | Path, fmt: str = "first", fine: bool = False, encoding: str = "utf-8",
                     skipped: dict[str, int] | None = None) -> list[dict]:
    """One example per line, the label first: ``LABEL text...`` (``fmt="first"``), or TREC's
    ``COARSE:fine text...`` (``fmt="colon"``; the coarse label, or ``COARSE:fine`` with ``fine=True``).

    Labels stay strings (``register_task`` maps them to indices); blank lines are counted in
    ``skipped``; a line without text raises DataFormatError naming the file and the line.
    """
    if fmt not in LINE_FORMATS:
        raise ValueError(f"unknown line format {fmt!r}; choose one of {LINE_FORMATS}")
    path = Path(path)
    examples = []
    for line_no, line in enumerate(read_lines(path, encoding), start=1):
        if not line.strip():
            if skipped is not None:
                skipped["blank line"] = skipped.get("blank line", 0) + 1
            continue
        label, _, text = line.strip().partition(" ")
        if fmt == "colon":
            coarse, colon, fine_label = label.partition(":")
            if not colon or not coarse or not fine_label:
                raise DataFormatError(path, line_no, f"label {label!r} is not of the form COARSE:fine")
            label = label if fine else coarse
        if not text.strip():
            raise DataFormatError(path, line_no, f"label {label!r} without a text")
        examples.append({"id": f"{path.stem}-{line_no}", "text": text.strip(), "label": label})
    return require_examples(path, examples)


@dataclass(frozen=True)
class RegisteredTask:
    task_type: str
    files: Mapping[str, str | Path]  # split -> file (relative: inside the data folder)
    reader: Callable[..., list[dict]]
    reader_kwargs: Mapping = field(default_factory=dict)
    label_names: Sequence[str] | None = None
    description: str = ""
    domain: str = ""


REGISTERED: dict[str, RegisteredTask] = {}


def register_task(name: str, task_type: str, files: Mapping[str, str | Path], reader: Callable[..., list[dict]], *,
                  label_names: Sequence[str] | None = None, description: str = "", domain: str = "",
                  **reader_kwargs) -> None:
    """Make ``load_task(name)`` read ``files`` (split -> path) with ``reader(path, **reader_kwargs)``.

    ``task_type`` is one of ``TASK_TYPES``; classification labels and tags given as strings are
    mapped to indices in the order of ``label_names`` (default: sorted, ``O`` first for tags).
    """
    from itft_utils.data.task import TASK_TYPES

    if task_type not in TASK_TYPES:
        raise ValueError(f"task {name!r}: unknown task_type {task_type!r}; expected one of {TASK_TYPES}")
    if not files:
        raise ValueError(f"task {name!r}: give at least one split's file")
    REGISTERED[name] = RegisteredTask(task_type, dict(files), reader, dict(reader_kwargs),
                                      list(label_names) if label_names else None, description, domain)


def _indexed(rows: list[dict], key: str, names: list[str], source: str) -> list[dict]:
    index = {n: i for i, n in enumerate(names)}
    out = []
    for ex in rows:
        try:
            value = [index[t] for t in ex[key]] if key == "tags" else index[ex[key]]
        except KeyError as e:
            raise DataFormatError(source, ex["id"], f"{key[:-1] if key == 'tags' else key} {e.args[0]!r} is not among {names}") from None
        out.append({**ex, key: value})
    return out


def load_registered(name: str, data_dir: Path | None) -> Task:
    """Read a registered task's files into a Task (labels and tags as indices)."""
    spec = REGISTERED[name]
    counters: dict[str, dict[str, int]] = {"skipped": {}, "repaired": {}}
    splits, sources = {}, {}
    for split, file in spec.files.items():
        path = Path(file)
        if not path.is_absolute():
            if data_dir is None:
                raise FileNotFoundError(f"task {name!r}: {file} is relative, and there is no data folder "
                                        "(pass data_dir or set ITFT_DATA_DIR)")
            path = Path(data_dir) / path
        kwargs = dict(spec.reader_kwargs)
        accepted = inspect.signature(spec.reader).parameters
        kwargs.update({k: v for k, v in counters.items() if k in accepted})  # readers that count what they skip or repair
        splits[split], sources[split] = spec.reader(path, **kwargs), str(path)
    names = spec.label_names
    key = {"classification": "label", "tagging": "tags"}.get(spec.task_type)
    first = next(ex for rows in splits.values() for ex in rows)
    if key and (isinstance(first[key], str) or key == "tags" and any(isinstance(t, str) for t in first[key])):
        if names is None:  # string labels or tags: their names come from the data
            from itft_utils.data.local import ordered_tags

            names = ordered_tags(*splits.values()) if key == "tags" else sorted({ex[key] for rows in splits.values() for ex in rows})
        splits = {s: _indexed(rows, key, list(names), sources[s]) for s, rows in splits.items()}
    return Task(name, spec.task_type, splits, list(names) if names else None, spec.description, spec.domain,
                skipped=counters["skipped"], repaired=counters["repaired"])
