"""The students' Colab path, dry-run on a GPU machine without the hub: each homework's solution
notebook in Colab mode, with the local data standing in for the hub and fp16 forced as on a T4.

A first cell is put in front of each notebook (the notebooks themselves are untouched): it makes
``load_task(..., source="hub")`` read the local copies, shaped as the hub serves them (SQuAD: the
dev file split by article into the hub's train and validation; HotpotQA: PolicyQA, the local QA
source), points the Colab preset at ``--model`` (the hub's BERT-Small cannot be downloaded there;
MiniLM, 22M parameters against 29M, stands in) and turns mixed precision "auto" into fp16 (a T4 has
no bf16). Per homework it records the wall time and the cells that failed; the runs' own JSON files
(scores per run and seed) land in ``--out``/runs.

    python bench/colab_dry_run.py --model .carry/minilm --data-dir /tmp/itft-gpu/data --out $OUT
    python bench/colab_dry_run.py --model tiny --smoke --out /tmp/dry     # CPU: minutes, plumbing only

Colab's T4 is slower than the H100/H200 the device lends: RESULTS.md gives the factor used to quote
T4 times (measured numbers are labelled as H100/H200 times, the T4 ones as scaled estimates).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parents[1]
HOMEWORKS = ("hw1_mtl", "hw2_intermediate", "hw3_taskemb")

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
    return task


hub.load_hub_task = _local_as_hub
for mode in ("colab", "online"):
    runtime.PRESETS[mode] = dataclasses.replace(runtime.PRESETS[mode], model=MODEL)
_resolve = training.resolve_precision
training.resolve_precision = lambda requested, device: _resolve("fp16" if requested == "auto" else requested, device)
if SMOKE:  # plumbing only: a few examples, one seed
    homework.PAIR_SIZES["colab"] = (32, 64, 16, 16)
    homework.TARGET_EPOCHS["colab"] = 1
    _experiment, _library = homework.homework_experiment, homework.taskemb_library

    def _small_experiment(mode=None, data_dir=None):
        e = _experiment(mode, data_dir)
        shrink = dict(n_train=32, epochs=1)
        e.target = dataclasses.replace(e.target, n_eval=16, **shrink)
        e.sources = [dataclasses.replace(s, n_eval=16 if s.n_eval else s.n_eval, **shrink) for s in e.sources]
        e.seeds = [0]
        return e

    def _small_library(mode=None, data_dir=None):
        library = _library(mode, data_dir)
        library.n_train, library.n_fisher = 32, 8
        return library

    homework.homework_experiment, homework.taskemb_library = _small_experiment, _small_library
print(f"Colab dry run: hub data from {{DATA_DIR}}, encoder {{MODEL}}, fp16{{' (smoke)' if SMOKE else ''}}")
'''


def run(homework: str, out: Path, data_dir: Path, model: str, smoke: bool) -> dict:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "solutions" / f"{homework}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE.format(data_dir=str(data_dir), model=model, smoke=smoke)))
    started = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "solutions")}}).execute()
    seconds = time.perf_counter() - started
    nbformat.write(nb, out / f"{homework}.executed.ipynb")
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue', '')[:200]}" for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    return {"homework": homework, "minutes": round(seconds / 60, 1), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm", help="the encoder standing in for BERT-Small")
    parser.add_argument("--data-dir", type=Path, default=None, help="the real data (default: ITFT_DATA_DIR or ../shared/data)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--homeworks", default=",".join(HOMEWORKS))
    parser.add_argument("--smoke", action="store_true", help="a few examples and one seed: checks the plumbing")
    args = parser.parse_args()
    data_dir = args.data_dir or common.data_dir_or_exit()
    args.out.mkdir(parents=True, exist_ok=True)
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    os.environ.update(ITFT_RUNS_DIR=str(args.out.resolve() / "runs"), HF_HUB_OFFLINE="1")
    os.environ.pop("NBGRADER_EXECUTION", None)
    summary = {"machine": common.machine(), "model": model, "smoke": args.smoke, "homeworks": []}
    for homework in args.homeworks.split(","):
        result = run(homework, args.out, data_dir.resolve(), model, args.smoke)
        summary["homeworks"].append(result)
        print(f"{homework}: {result['minutes']} min, " + ("every cell ran" if not result["errors"] else
                                                          f"{len(result['errors'])} cells failed: {result['errors']}"), flush=True)
        (args.out / "colab_dry_run.json").write_text(json.dumps(summary, indent=1))
    sys.exit(1 if any(r["errors"] for r in summary["homeworks"]) else 0)


if __name__ == "__main__":
    main()
