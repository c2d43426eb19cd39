"""Adding a task of your own: :func:`register_task` and the loading of a registered task's files.

A registered task is read from its files with any reader (the package's ``read_*`` or your own) the
first time ``load_task(name)`` asks for it; string class labels and tags become indices here, with
``label_names`` taken from the data when not given. Relative file names are found in the data folder.

    from itft_utils.data import load_task, read_class_files, read_label_lines, register_task
    register_task("trec", "classification", {"train": "trec/train_5500.label", "test": "trec/TREC_10.label"},
                  read_label_lines, fmt="colon", encoding="latin-1")
    register_task("mr", "classification", {"all": {"neg": "mr/rt-polarity.neg", "pos": "mr/rt-polarity.pos"}},
                  read_class_files, encoding="latin-1")
    trec = load_task("trec", data_dir="data")

:func:`load_registered` refuses ids shared by two splits and integer labels it cannot name, naming
the file; the readers (``label_files``) refuse lines they would have to guess about.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from itft_utils.data.errors import DataFormatError
from itft_utils.data.generated_tasks import GENERATED_TASKS
from itft_utils.data.hub import HUB_TASKS
from itft_utils.data.local import LOCAL_LOADERS
from itft_utils.data.records import ordered_tags
from itft_utils.data.task import TASK_TYPES, Task

#: What one split of a registered task is read from: a file, or ``{label: file}`` for read_class_files.
SplitFiles = str | Path | Mapping[str, str | Path]


@dataclass(frozen=True)
class RegisteredTask:
    task_type: str
    files: Mapping[str, SplitFiles]  # split -> file (relative: inside the data folder)
    reader: Callable[..., list[dict]]
    reader_kwargs: Mapping = field(default_factory=dict)
    label_names: Sequence[str] | None = None
    description: str = ""
    domain: str = ""


REGISTERED: dict[str, RegisteredTask] = {}


def built_in_names() -> set[str]:
    """The package's own task names (generated, local files, hub): registering over one needs ``replace=True``."""
    return set(GENERATED_TASKS) | set(LOCAL_LOADERS) | set(HUB_TASKS)


def register_task(name: str, task_type: str, files: Mapping[str, SplitFiles], reader: Callable[..., list[dict]], *,
                  label_names: Sequence[str] | None = None, description: str = "", domain: str = "",
                  replace: bool = False, **reader_kwargs) -> None:
    """Make ``load_task(name)`` read ``files`` (split -> path, or split -> ``{label: path}`` for
    :func:`read_class_files`) with ``reader(path, **reader_kwargs)``.

    ``task_type`` is one of ``TASK_TYPES``; classification labels and tags given as strings are
    mapped to indices in the order of ``label_names`` (default: sorted, ``O`` first for tags); integer
    labels need ``label_names``. A reader that takes ``labels`` (:func:`read_label_lines`) is given
    ``label_names``, so that a line with another label is refused where it stands.

    A built-in task's name (``squad``, ``gen_qa``) is refused unless ``replace=True``: registering
    it would otherwise change what every notebook loading that name gets. Registering a registered
    name again replaces it (a re-run notebook cell).
    """
    if task_type not in TASK_TYPES:
        raise ValueError(f"task {name!r}: unknown task_type {task_type!r}; expected one of {TASK_TYPES}")
    if not files:
        raise ValueError(f"task {name!r}: give at least one split's file")
    if name in built_in_names() and name not in REGISTERED and not replace:
        raise ValueError(f"task {name!r} is a built-in task; registering your files under its name would hide it: "
                         "choose another name, or pass replace=True to load your files under this name")
    REGISTERED[name] = RegisteredTask(task_type, dict(files), reader, dict(reader_kwargs),
                                      list(label_names) if label_names else None, description, domain)


def _resolve(name: str, file: str | Path, data_dir: Path | None) -> Path:
    path = Path(file)
    if path.is_absolute():
        return path
    if data_dir is None:
        raise FileNotFoundError(f"task {name!r}: {file} is relative, and there is no data folder "
                                "(pass data_dir or set ITFT_DATA_DIR)")
    return Path(data_dir) / path


def _read_split(name: str, split: str, spec: RegisteredTask, files: SplitFiles, data_dir: Path | None,
                counters: dict[str, dict[str, int]]) -> tuple[list[dict], str]:
    """One split's examples and the file(s) they came from, checked to be a non-empty list of rows with ids."""
    target: Path | dict[str, Path]
    if isinstance(files, Mapping):
        by_label = {label: _resolve(name, f, data_dir) for label, f in files.items()}
        target, source = by_label, ", ".join(map(str, by_label.values()))
    else:
        target = _resolve(name, files, data_dir)
        source = str(target)
    kwargs = dict(spec.reader_kwargs)
    accepted = inspect.signature(spec.reader).parameters
    kwargs.update({k: v for k, v in counters.items() if k in accepted})  # readers that count what they skip or repair
    if "labels" in accepted and "labels" not in kwargs and spec.label_names and spec.task_type == "classification":
        kwargs["labels"] = list(spec.label_names)
    rows = spec.reader(target, **kwargs)
    reader = getattr(spec.reader, "__name__", repr(spec.reader))
    if not isinstance(rows, list) or not rows:
        got = "an empty list" if isinstance(rows, list) else f"a {type(rows).__name__}"
        raise DataFormatError(source, None, f"task {name!r}, split {split!r}: the reader {reader} returned {got}; "
                              "it must return a non-empty list of example dicts (see itft_utils.data.task)")
    for i, ex in enumerate(rows):
        if not isinstance(ex, dict) or "id" not in ex:
            raise DataFormatError(source, f"row {i}", f"task {name!r}, split {split!r}: the reader {reader} returned "
                                  f"{type(ex).__name__} without an 'id'; every example is a dict with an 'id'")
    return rows, source


def _check_ids_across_splits(name: str, splits: dict[str, list[dict]], sources: dict[str, str]) -> None:
    """Ids must tell every example of the task apart: predictions, caches and error messages key on them."""
    seen: dict[object, str] = {}
    for split, rows in splits.items():
        for ex in rows:
            if ex["id"] in seen:
                other = seen[ex["id"]]
                where = f"twice in split {split!r}" if other == split else \
                    f"in split {split!r} and in split {other!r} ({sources[other]})"
                raise DataFormatError(sources[split], ex["id"], f"task {name!r}: id {ex['id']!r} occurs {where}; ids must "
                                      "be unique across a task's splits: give the splits' files distinct names (or "
                                      "don't read one file twice), or make your reader's ids distinct, e.g. prefixed "
                                      "with the split")
            seen[ex["id"]] = split


def _as_indices(name: str, task_type: str, splits: dict[str, list[dict]], sources: dict[str, str],
                names: list[str] | None) -> tuple[dict[str, list[dict]], list[str] | None]:
    """Splits with class labels (or tags) as indices into the label names, and the names.

    String values are looked up in ``names`` (default: from the data); integer values are indices
    already and need ``names`` to say what they mean. Anything else is refused with its file and id.
    """
    key = {"classification": "label", "tagging": "tags"}.get(task_type)
    if key is None:
        return splits, names
    what = "tag" if key == "tags" else "label"

    def values(ex: dict) -> list:  # a missing field or a tags field that is no list: refused below by its type
        value = ex.get(key)
        return value if key == "tags" and isinstance(value, list) else [value]

    kinds: dict[str, tuple[str, str | int, object]] = {}  # "str" / "int" -> (split, id, value) of its first use
    for split, rows in splits.items():
        for ex in rows:
            for v in values(ex):
                kind = "str" if isinstance(v, str) else "int" if isinstance(v, int) and not isinstance(v, bool) else None
                if kind is None:
                    raise DataFormatError(sources[split], ex["id"], f"task {name!r}: {what} {v!r} is neither a class "
                                          "name (string) nor a class index (integer)")
                kinds.setdefault(kind, (split, ex["id"], v))
    if len(kinds) > 1:
        (s1, id1, v1), (s2, id2, v2) = kinds["str"], kinds["int"]
        raise DataFormatError(sources[s2], id2, f"task {name!r}: {what} {v2!r} is an integer, but {what} {v1!r} of "
                              f"{id1!r} ({sources[s1]}) is a string; give every {what} as a name, or every one as an index")
    if "int" in kinds:
        split, ex_id, _ = kinds["int"]
        if names is None:
            top = max(v for rows in splits.values() for ex in rows for v in values(ex))
            raise DataFormatError(sources[split], ex_id, f"task {name!r}: the {what}s are integers (class indices up "
                                  f"to {top}) and no label_names say what they mean: pass label_names=[...] to "
                                  f"register_task, one name per index 0..{top}")
        for split, rows in splits.items():
            for ex in rows:
                bad = [v for v in values(ex) if not 0 <= v < len(names)]
                if bad:
                    raise DataFormatError(sources[split], ex["id"], f"task {name!r}: {what} {bad[0]} is not an index "
                                          f"into label_names {names} (0..{len(names) - 1})")
        return splits, names
    if names is None:  # string labels or tags: their names come from the data
        names = ordered_tags(*splits.values()) if key == "tags" else sorted({ex[key] for rows in splits.values() for ex in rows})
    return {s: _indexed(rows, key, names, sources[s]) for s, rows in splits.items()}, names


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
    for split, files in spec.files.items():
        splits[split], sources[split] = _read_split(name, split, spec, files, data_dir, counters)
    _check_ids_across_splits(name, splits, sources)
    splits, names = _as_indices(name, spec.task_type, splits, sources, list(spec.label_names) if spec.label_names else None)
    return Task(name, spec.task_type, splits, names, spec.description, spec.domain,
                skipped=counters["skipped"], repaired=counters["repaired"])
