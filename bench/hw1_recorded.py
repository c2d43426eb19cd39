"""Homework 1's recorded run: the solution notebook, offline, on the real data (MiniLM; CPU-hours).

The notebook itself is the experiment (no second copy of its runs): it is executed with nbclient in
offline mode with the real data folder, and every training run it makes is saved as it finishes
under ``--out``/runs (one JSON per run and seed, keyed by the data, the settings and the code of the
functions it used), so an interrupted run resumes when the command is given again. Then the finished
runs are collected into ``--out``/hw1_mtl.json: the course's recorded results, which the package
ships (``itft_utils/resources/recorded/``) for students without a GPU and which the model answers quote.

    nice -n 19 env OMP_NUM_THREADS=1 python bench/hw1_recorded.py            # run (resumes), then collect
    python bench/hw1_recorded.py --report-only                              # collect what is finished
    python bench/hw1_recorded.py --planted                                  # without the data folder: minutes

Needs the real data folder (../shared/data or ITFT_DATA_DIR) and exits with a reason without it, except with
``--planted``: the notebook as a CPU-only student runs it without the data folder (the planted family,
``itft_utils.data.planted``), into bench/results/hw1_planted; its numbers are what the model answers quote for
that case.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import common

from itft_utils.files import write_atomic

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "solutions" / "hw1_mtl.ipynb"
PARTS = ("sweep", "formats", "conflict")
COMMAND = "nice -n 19 env OMP_NUM_THREADS=1 python bench/hw1_recorded.py"
PLAIN, PROJECTED = "λ = 0.5, cosines logged", "λ = 0.5 + PCGrad"  # the notebook's conflict runs


def run_notebook(out: Path, data_dir: Path) -> float:
    """Execute the solution notebook in offline mode on ``data_dir`` (an empty folder: the planted family);
    its runs land in out/runs."""
    import nbformat
    from nbclient import NotebookClient

    os.environ.update(ITFT_MODE="offline", ITFT_DATA_DIR=str(data_dir), ITFT_RUNS_DIR=str(out / "runs"), HF_HUB_OFFLINE="1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    started = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    nbformat.write(nb, out / "hw1_mtl.executed.ipynb")
    return time.perf_counter() - started


def collect(out: Path, planted: bool = False) -> dict:
    """The finished runs, by part: each row as the notebook's table has it (without the step history),
    and what the histories say that the rows do not (sampling probabilities, gradient cosines, PCGrad)."""
    from itft_utils.homework import GENERATED_OFFLINE_EPOCHS, GENERATED_OFFLINE_SIZES, PAIR_SIZES, TARGET_EPOCHS

    parts: dict[str, list[dict]] = {}
    histories: dict[tuple[str, int], dict] = {}
    for part in PARTS:
        rows = []
        for path in (out / "runs" / "hw1_mtl" / part).glob("*.json"):
            row = json.loads(path.read_text(encoding="utf-8"))["row"]
            histories[(row["run"], row["seed"])] = history = row.pop("history", {})
            row["steps"] = len(history.get("steps", []))
            rows.append(row)
        parts[part] = sorted(rows, key=lambda r: (r["run"], r["seed"]))  # a fixed order, whatever the file system's
    n_target, n_aux, n_test, n_dev = GENERATED_OFFLINE_SIZES if planted else PAIR_SIZES["offline"]
    data = ("the planted family: plant_qa + plant_related; plant_surface for the format runs" if planted else
            "SQuAD v1.1 dev (38 articles to train, 10 held out: dev and test) + PolicyQA; SST-2 for the format runs")
    return {"notebook": "solutions/hw1_mtl.ipynb", "mode": "offline", "model": "all-MiniLM-L6-v2 (offline)", "data": data,
            "sizes": f"{n_target} target and {n_aux} auxiliary training questions, {n_dev} dev and {n_test} test questions, "
                     f"{GENERATED_OFFLINE_EPOCHS if planted else TARGET_EPOCHS['offline']} target epochs",
            "command": f"{COMMAND} --planted" if planted else COMMAND,
            "machine": f"this project's 2-core {common.machine().split(',')[0]} CPU",
            "parts": parts, "from_histories": from_histories(histories)}


def from_histories(histories: dict[tuple[str, int], dict]) -> dict:
    """The target's sampling probability per sampling run (first, last, mean over updates); per layer,
    the cosines the plain conflict runs logged (mean, min, max, share of steps below 0, over all
    seeds); per seed, the first step at which PCGrad's loss differs from the plain run's."""
    sampling = {}
    for (run, _), h in histories.items():
        if h.get("task_probs"):
            p = [row[h["target"]] for row in h["task_probs"]]
            sampling[run] = {"first": p[0], "last": p[-1], "mean": statistics.mean(p)}
    cosines: dict[str, list[float]] = {}
    for (run, _), h in histories.items():
        for step in h.get("steps", []) if run == PLAIN else []:
            for layer, c in (step.get("cosines") or {}).items():
                cosines.setdefault(layer, []).append(c)
    layers = {layer: {"mean": statistics.mean(c), "min": min(c), "max": max(c), "below_0": sum(x < 0 for x in c) / len(c)}
              for layer, c in cosines.items()}
    pcgrad = {}
    for (run, seed), h in histories.items():
        if run == PROJECTED and (PLAIN, seed) in histories:
            plain = [row["loss"] for row in histories[(PLAIN, seed)]["steps"]]
            mine = [row["loss"] for row in h["steps"]]
            pcgrad[seed] = next((i + 1 for i, (a, b) in enumerate(zip(plain, mine)) if a != b), None)
    return {"sampling": sampling, "cosines": layers, "pcgrad_first_different_step": pcgrad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="default: bench/results/hw1_offline (hw1_planted with --planted)")
    parser.add_argument("--report-only", action="store_true", help="collect the finished runs, train nothing")
    parser.add_argument("--planted", action="store_true", help="without the data folder: the planted family")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / ("hw1_planted" if args.planted else "hw1_offline")
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = args.out / "no-data" if args.planted else common.data_dir_or_exit()
    if not args.report_only:
        seconds = run_notebook(args.out, data_dir)
        print(f"notebook finished in {seconds / 60:.1f} min (runs already saved were reused)")
    recorded = collect(args.out, args.planted)
    write_atomic(args.out / "hw1_mtl.json", json.dumps(recorded, indent=1))
    print(markdown(recorded))


def markdown(recorded: dict) -> str:
    """The finished runs as the Markdown table RESULTS quotes: one row per run and seed."""
    lines = [f"{recorded['sizes']}.", "",
             "| part | run | seed | target share | target batches | steps | dev F1 | test F1 | test EM | minutes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for part, rows in recorded["parts"].items():
        for r in rows:
            lines.append(f"| {part} | {r['run']} | {r['seed']} | {r['target_share']:.2f} | {r['target_batches']} | {r['steps']} "
                         f"| {r.get('dev_f1', float('nan')):.1f} | {r['f1']:.1f} | {r['exact_match']:.1f} | {r['seconds'] / 60:.1f} |")
    h = recorded["from_histories"]
    lines += ["", "Target sampling probability (first / last / mean over updates): " + "; ".join(
        f"{run} {p['first']:.2f} / {p['last']:.2f} / {p['mean']:.2f}" for run, p in sorted(h["sampling"].items())),
        "", "| layer | cosine mean | min | max | steps below 0 |", "|---|---|---|---|---|"]
    lines += [f"| {layer} | {c['mean']:+.3f} | {c['min']:+.2f} | {c['max']:+.2f} | {100 * c['below_0']:.0f} % |"
              for layer, c in h["cosines"].items()]
    lines += ["", "PCGrad's loss first differs from the plain run's at step: " + ", ".join(
        f"seed {seed}: {step}" for seed, step in sorted(h["pcgrad_first_different_step"].items()))]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
