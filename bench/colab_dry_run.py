"""The students' Colab path without Jupyter: one homework's solution notebook in Colab mode, its code
cells executed in order in one namespace, with local data standing in for the hub and fp16 forced as on
a T4. It needs no nbformat, nbclient or kernel (the lent GPU machines have none of them).

The hidden tests are left out, as in the student version. A prelude runs first (the notebook itself is
untouched): it makes ``load_task(..., source="hub")`` read the local copies, shaped as the hub serves
them (SQuAD: the dev file split by article into the hub's train and validation; HotpotQA: PolicyQA, the
local QA source), points the Colab preset at
``--model`` (the hub's BERT-Small cannot be downloaded there; MiniLM, 22M parameters against 29M,
stands in) and turns mixed precision "auto" into fp16 (a T4 has no bf16). IPython's ``display`` and
``get_ipython`` are stood in for, and lines that are IPython magics (``%``, ``!``) are skipped.

Everything is written the moment it ends, so a run stopped at its cap still says what it measured:
``cells.jsonl`` (one line per code cell: seconds, error; ``notebook.json`` says how many there are) and
``runs.jsonl`` (one line per training run or task embedding: the function, its tasks, examples, epochs and
seconds).

    python bench/colab_dry_run.py hw2_intermediate --model .carry/minilm --data-dir /tmp/itft-gpu/data --out $OUT/hw2
    python bench/colab_dry_run.py hw1_mtl --model tiny --smoke --out /tmp/dry/hw1     # CPU: plumbing only

``--smoke`` shrinks every run (a few examples, one epoch) but keeps how many runs each notebook makes,
so a smoke run's ``runs.jsonl`` counts the runs of the Colab notebook (``gpu_session.py`` extrapolates
from them).
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import inspect
import json
import os
import pkgutil
import sys
import time
import traceback
import types
from collections.abc import Callable
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOMEWORKS = ("hw1_mtl", "hw2_intermediate", "hw3_taskemb")
DRY_RUN_ID = "10001"  # the student id the dry run's Part 7 runs the atlas assignment of

PRELUDE = '''\
# Colab dry run (bench/colab_dry_run.py): local data stands in for the hub, fp16 as on a T4.
import dataclasses, os
os.environ["ITFT_MODE"] = "colab"
from itft_utils import homework, runtime, training
from itft_utils.data import SQUAD_TRAIN_ARTICLES, hub, load_task, split_by_article

DATA_DIR, MODEL, SMOKE = {data_dir!r}, {model!r}, {smoke!r}
STAND_IN = {{"hotpotqa": "policyqa"}}


def _local_as_hub(name, load_dataset=None):
    task = load_task(STAND_IN.get(name, name), source="local", data_dir=DATA_DIR)
    if name == "squad":  # the hub has train and validation; the local dev file is split by article
        train, validation = split_by_article(task.split("all"), SQUAD_TRAIN_ARTICLES)
        return dataclasses.replace(task, splits={{"train": train, "validation": validation}})
    if name in STAND_IN:  # one split, as the hub serves it, and the same hold-out the hub loader makes
        splits = {{"train": task.split("train")}}
        held = hub.HUB_TASKS[name].hold_out
        return dataclasses.replace(task, name=name, splits=hub.hold_out(splits, held) if held else splits)
    # The hub's splits where the local files name them otherwise (a labelled test for GLUE's validation,
    # one file for its train split).
    splits = dict(task.splits)
    for ours in hub.HUB_TASKS[name].splits:
        fallback = {{"train": "all", "validation": "test"}}.get(ours)
        if ours not in splits and fallback in splits:
            splits[ours] = splits[fallback]
    return dataclasses.replace(task, splits=splits)


replace_everywhere(hub.load_hub_task, _local_as_hub)  # the package holds it by name in more than one module
for mode in ("colab", "online"):
    runtime.PRESETS[mode] = dataclasses.replace(runtime.PRESETS[mode], model=MODEL)
_resolve = training.resolve_precision
training.resolve_precision = lambda requested, device: _resolve("fp16" if requested == "auto" else requested, device)
if SMOKE:  # plumbing only: a few examples and one epoch per run, as many runs as in Colab
    homework.PAIR_SIZES["colab"] = (32, 64, 16, 16)
    homework.TARGET_EPOCHS["colab"] = 1
    _experiment, _library = homework.homework_experiment, homework.taskemb_library

    def _small_experiment(mode=None, data_dir=None):
        e = _experiment(mode, data_dir)
        shrink = dict(n_train=32, epochs=1)
        e.target = dataclasses.replace(e.target, n_eval=16, **shrink)
        e.sources = [dataclasses.replace(s, n_eval=16 if s.n_eval else s.n_eval, **shrink) for s in e.sources]
        return e

    def _small_library(mode=None, data_dir=None):
        library = _library(mode, data_dir)
        library.n_train, library.n_fisher = 32, 8
        return library

    homework.homework_experiment, homework.taskemb_library = _small_experiment, _small_library
    from itft_utils import atlas  # imported after the patch above: its sources take the smaller experiment's budget
    _atlas_library = atlas.atlas_library

    def _small_atlas(mode="colab", seeds=atlas.ATLAS_SEEDS):
        library = _atlas_library(mode, seeds)
        library.targets = {{k: dataclasses.replace(s, n_train=min(s.n_train, 32), n_eval=16) for k, s in library.targets.items()}}
        return library

    atlas.atlas_library = _small_atlas
print(f"Colab dry run: hub data from {{DATA_DIR}}, encoder {{MODEL}}, fp16{{' (smoke)' if SMOKE else ''}}")
'''


class Journal:
    """JSON lines, a new file per run, each line flushed and synced as it is written (the process may be
    killed next)."""

    def __init__(self, path: Path):
        self.file = open(path, "w", buffering=1)

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


def _tasks(value) -> str:
    items = value if isinstance(value, (list, tuple)) else [value]
    return "+".join(getattr(t, "name", str(t)) for t in items)


def _size(value) -> int:
    return sum(len(v) for v in value.values()) if isinstance(value, dict) else len(value or ())


#: What counts as one run: (module, function, its argument holding the task(s), the one holding the examples).
TIMED = (("itft_utils.finetune", "fine_tune", "task", "train_examples"),
         ("itft_utils.mtl_training", "fine_tune_multitask", "tasks", "train_examples"),
         ("itft_utils.taskemb", "compute_task_embedding", "task", "examples"))


def replace_everywhere(original: Callable, replacement: Callable) -> None:
    """Put ``replacement`` wherever a module of the package holds ``original`` (``from x import f`` copies)."""
    import itft_utils

    for info in pkgutil.walk_packages(itft_utils.__path__, "itft_utils."):
        module = import_module(info.name)
        for attribute, value in list(vars(module).items()):
            if value is original:
                setattr(module, attribute, replacement)


def time_runs(journal: Journal, cell: Callable[[], int]) -> None:
    """Wrap each :data:`TIMED` function wherever the package holds it, writing one line per outermost
    call (a timed function that calls another is one run, its seconds counted once)."""
    depth = [0]
    for module_name, name, tasks_arg, examples_arg in TIMED:
        original = getattr(import_module(module_name), name)
        signature = inspect.signature(original)

        @functools.wraps(original)
        def timed(*args, _original=original, _signature=signature, _name=name, _tasks_arg=tasks_arg,
                  _examples_arg=examples_arg, **kwargs):
            bound = _signature.bind_partial(*args, **kwargs).arguments
            config = bound.get("config")
            started = time.perf_counter()
            depth[0] += 1
            try:
                result = _original(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                journal.write({"cell": cell(), "function": _name, "tasks": _tasks(bound.get(_tasks_arg)),
                               "examples": _size(bound.get(_examples_arg)), "epochs": getattr(config, "epochs", None),
                               "seconds": round(time.perf_counter() - started, 3)})
            return result

        replace_everywhere(original, timed)


def ipython_stand_in() -> None:
    """``IPython.display`` where IPython is not installed (the GPU machines); ``get_ipython()`` is None
    there, as in any script, so matplotlib installs no display hook."""
    if importlib.util.find_spec("IPython") is not None:
        return
    display_module = types.ModuleType("IPython.display")

    class Markdown:
        def __init__(self, data: str = ""):
            self.data = data

        def __str__(self) -> str:
            return self.data

    def display(*objects, **kwargs) -> None:
        for obj in objects:
            print(obj if isinstance(obj, (str, Markdown)) else repr(obj))

    vars(display_module).update(Markdown=Markdown, display=display)
    ipython = types.ModuleType("IPython")
    vars(ipython).update(display=display_module, get_ipython=lambda: None, version_info=(9, 0))  # matplotlib reads the last two
    sys.modules.update({"IPython": ipython, "IPython.display": display_module})


def code_cells(homework: str) -> list[str]:
    """The solution notebook's code cells as a student who solved everything runs them: without the
    hidden tests (the release drops them; they import the grading package) and IPython magics, with
    a student id set."""
    from itft_grader.regions import HIDDEN_REGION

    notebook = json.loads((ROOT / "solutions" / f"{homework}.ipynb").read_text())
    cells = [HIDDEN_REGION.sub("", "".join(c["source"])) for c in notebook["cells"] if c["cell_type"] == "code"]
    # A student writes their id before the class atlas (Homework 2, Part 7), which then runs their assignment.
    cells = [c.replace('STUDENT_ID = ""', f'STUDENT_ID = "{DRY_RUN_ID}"', 1) for c in cells]
    return ["\n".join(line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))) for cell in cells]


def run(homework: str, out: Path, data_dir: Path, model: str, smoke: bool) -> int:
    """Execute the notebook's cells in order; a failing cell is recorded and the next one runs (as
    Colab's "run all" would not, but one failure should not hide the rest). Returns the failures."""
    from itft_utils.selfcheck import run_cell

    namespace: dict = {"__name__": "__main__", "replace_everywhere": replace_everywhere}
    ipython_stand_in()
    cells, runs = Journal(out / "cells.jsonl"), Journal(out / "runs.jsonl")
    current = [-1]
    time_runs(runs, lambda: current[0])
    failures = 0
    os.chdir(ROOT / "solutions")  # where Jupyter would start the kernel
    sources = [PRELUDE.format(data_dir=str(data_dir), model=model, smoke=smoke), *code_cells(homework)]
    (out / "notebook.json").write_text(json.dumps({"homework": homework, "cells": len(sources)}))  # what "to its end" is
    for index, source in enumerate(sources, start=-1):  # the prelude is cell -1
        current[0] = index
        started, error = time.perf_counter(), None
        print(f"--- {homework} cell {index}", flush=True)
        try:
            value = run_cell(source, f"{homework} cell {index}", namespace)
            if value is not None:
                print(repr(value)[:2000])
        except Exception as exc:  # noqa: BLE001 - a notebook cell may raise anything: record it, go on
            traceback.print_exc()
            error, failures = f"{type(exc).__name__}: {str(exc)[:300]}", failures + 1
        cells.write({"cell": index, "seconds": round(time.perf_counter() - started, 3), "error": error})
        sys.stdout.flush()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("homework", choices=HOMEWORKS)
    parser.add_argument("--model", default=".carry/minilm", help="the encoder standing in for BERT-Small")
    parser.add_argument("--data-dir", type=Path, default=None, help="the real data (default: ITFT_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true", help="a few examples and one epoch per run: checks the plumbing")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from itft_utils.data import default_data_dir

    data_dir = args.data_dir or default_data_dir()
    if data_dir is None:
        sys.exit("no real data folder (set ITFT_DATA_DIR or pass --data-dir)")
    args.out.mkdir(parents=True, exist_ok=True)
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    os.environ.setdefault("ITFT_RUNS_DIR", str(args.out.resolve() / "runs"))  # gpu_session.py: one for all homeworks
    os.environ.update(HF_HUB_OFFLINE="1", MPLBACKEND="Agg")
    os.environ.pop("NBGRADER_EXECUTION", None)
    failures = run(args.homework, args.out.resolve(), Path(data_dir).resolve(), model, args.smoke)
    print(f"{args.homework}: " + ("every cell ran" if not failures else f"{failures} cells failed"), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
