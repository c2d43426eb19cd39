"""The registry of named tasks and the one entry point, :func:`load_task`, over three sources.

* ``generated``: small deterministic tasks (``gen_*``) for tests, grading and offline demos;
* ``local``: the original public files under a data folder (``ITFT_DATA_DIR``);
* ``hub``: Hugging Face datasets, as Colab users get them.

``source="auto"`` picks local files when the folder has them, else the hub.
"""
from __future__ import annotations

import os
from pathlib import Path

from .custom import REGISTERED, built_in_names, load_registered
from .generated_tasks import GENERATED_TASKS, generate_task
from .hub import load_hub_task
from .local import EXPECTED_FILES, LOCAL_LOADERS
from .task import Task

SOURCES = ("auto", "generated", "local", "hub")


def default_data_dir() -> Path | None:
    """``ITFT_DATA_DIR``, else ``../shared/data`` beside the checkout when it exists, else None."""
    env = os.environ.get("ITFT_DATA_DIR")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside if beside.is_dir() else None


def local_available(name: str, data_dir: Path | None) -> bool:
    return data_dir is not None and name in EXPECTED_FILES and all((Path(data_dir) / f).exists() for f in EXPECTED_FILES[name])


def built_in_task_type(name: str) -> str:
    """A generated or hub task's type without loading its data (the class atlas checks a cell's target type by it)."""
    from .hub import HUB_TASKS

    spec = GENERATED_TASKS.get(name) or HUB_TASKS.get(name)
    if spec is None:
        raise KeyError(f"{name!r} is neither a generated nor a hub task")
    return spec.task_type


def task_names() -> list[str]:
    return sorted(built_in_names() | set(REGISTERED))


def load_task(name: str, source: str = "auto", data_dir: str | Path | None = None, **generated_kwargs) -> Task:
    """Load a named task from one of :data:`SOURCES`; unknown names list the known ones."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {SOURCES}")
    if name in REGISTERED:  # your own task (register_task): its files, wherever they are; before the built-in
        # tasks, so that register_task(..., replace=True) really replaces one
        if source not in ("auto", "local"):
            raise ValueError(f"{name!r} is a registered task; it is read from its files, not from the {source}")
        if generated_kwargs and name not in GENERATED_TASKS:  # a replaced gen_* keeps its callers' sizes: unused
            raise TypeError(f"{name!r} is a registered task, read from its files; {sorted(generated_kwargs)} "
                            "apply to generated tasks only")
        return load_registered(name, Path(data_dir) if data_dir is not None else default_data_dir())
    if name in GENERATED_TASKS:
        if source not in ("auto", "generated"):
            raise ValueError(f"{name!r} is a generated task; it has no {source} source")
        return generate_task(name, **generated_kwargs)
    if name not in task_names():
        raise KeyError(f"unknown task {name!r}; known tasks: {task_names()}")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    if source == "local" or (source == "auto" and local_available(name, data_dir)):
        if name not in LOCAL_LOADERS:
            raise KeyError(f"task {name!r} has no local loader; local tasks: {sorted(LOCAL_LOADERS)}")
        if data_dir is None:
            raise FileNotFoundError(f"no data folder for {name!r}: pass data_dir or set ITFT_DATA_DIR")
        return LOCAL_LOADERS[name](Path(data_dir))
    return load_hub_task(name)
