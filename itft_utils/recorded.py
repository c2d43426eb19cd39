"""The course's recorded real-data runs, shipped with the package for students who cannot make their own.

A student without a GPU (free quotas run out) runs the homeworks offline on generated tasks: their
own code still drives every experiment, but the written questions are about SQuAD, PolicyQA or
HotpotQA, SST-2 and CoNLL. So each notebook also shows the course's own run on the real data,
labelled as such, with the command that made it:

* Homework 1: ``bench/hw1_recorded.py`` (the solution notebook, offline, real data; ``resources/recorded_hw1_mtl.json``);
* Homework 2: ``bench/bench_transfer.py`` (``resources/transfer_results_squad.json``, per seed);
* Homework 3: ``bench/taskemb_real.py`` (``resources/recorded_hw3_taskemb.json``).

``bench/package_recorded.py`` copies the first and the last from ``bench/results/`` into the package.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from .selection import RESOURCES

HOMEWORKS = ("hw1_mtl", "hw2_intermediate", "hw3_taskemb")


def needs_recorded(mode: str, data_kind: str) -> bool:
    """Whether this session's own numbers are not real-data numbers: offline on generated tasks."""
    return mode == "offline" and data_kind == "generated"


def recorded(homework: str) -> dict | None:
    """The recorded run of ``homework`` as the package ships it, or None when none is recorded yet."""
    if homework not in HOMEWORKS:
        raise ValueError(f"unknown homework {homework!r}; expected one of {HOMEWORKS}")
    path = RESOURCES / "transfer_results_squad.json" if homework == "hw2_intermediate" else recorded_path(homework)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def recorded_reports(homework: str) -> list[dict]:
    """The course's report commands of ``homework`` and what they printed (``bench/package_recorded.py``):
    every number its model answers quote, for students of every mode (issue 31). Empty when none is packaged."""
    if homework not in HOMEWORKS:
        raise ValueError(f"unknown homework {homework!r}; expected one of {HOMEWORKS}")
    path = recorded_path(homework)
    return json.loads(path.read_text(encoding="utf-8")).get("reports", []) if path.exists() else []


def show_recorded(homework: str, mode: str, data_kind: str) -> bool:
    """Print the course's recorded real-data results of ``homework`` in every mode but grading: beside a
    student's own run, they are what the written questions' model answers read; without one (offline on
    generated tasks) they are the real-data numbers. Return whether anything was printed."""
    if mode == "grading":
        return False
    data = recorded(homework)
    print(f"THE COURSE'S RECORDED RUN of {homework} on the real data (not yours: yours above ran on generated tasks)."
          if needs_recorded(mode, data_kind) else f"THE COURSE'S RECORDED RUN of {homework} on the real data, for comparison "
          "with yours (the course's answers to the questions read these numbers).")
    if data is None:
        print("  Not recorded yet in this release: answer from your own run and say so.")
        return True
    lines = {"hw1_mtl": _hw1_lines, "hw2_intermediate": _hw2_lines, "hw3_taskemb": _hw3_lines}[homework](data)
    print("\n".join(lines))
    for report in recorded_reports(homework):
        print(f"\n$ {report['command']}\n{report['output']}")
    return True


def _mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:5.1f}      " if values else "   -       "
    return f"{statistics.mean(values):5.1f} ± {statistics.stdev(values):3.1f}"


def _hw1_lines(data: dict) -> list[str]:
    lines = [f"  {data['model']}, {data['data']}; {data.get('sizes', '')}.", f"  Made by {data['command']} on {data['machine']}.",
             f"  {'run':<32} {'seeds':>5} {'dev F1':>7} {'test F1 (mean ± sd)':>20}"]
    for part, rows in data["parts"].items():
        lines.append(f"  [{part}]")
        by_run: dict[str, list[dict]] = {}
        for row in rows:
            by_run.setdefault(row["run"], []).append(row)
        for run, runs in by_run.items():
            dev = statistics.mean(r["dev_f1"] for r in runs) if all("dev_f1" in r for r in runs) else float("nan")
            lines.append(f"  {run:<32} {len(runs):>5} {dev:>7.1f} {_mean_sd([r['f1'] for r in runs]):>20}")
    return lines


def _hw2_lines(data: dict) -> list[str]:
    """Per source: its own seeds' mean, its paired gain over the same seeds' baseline, and the score
    Homework 3 ranks it by (the baseline's mean plus that paired gain: sources measured on fewer seeds
    than the baseline are compared on their seeds only), best first, as Homework 3 orders them."""
    per_seed: dict[str, dict[str, float]] = data.get("per_seed", {})  # {run: {seed: score}}
    base = per_seed.get("baseline", {})
    metric = data["metric"]
    lines = [f"  {data['note']}",
             f"  {'source':<12} {'seeds':>5} {metric + ' (raw mean ± sd)':>22} {'paired gain (mean ± sd)':>24} "
             f"{'score (Homework 3 ranks by)':>28}",
             f"  {'(none)':<12} {len(base):>5} {_mean_sd(list(base.values())):>22} {'':>24} {data['baseline']:>28.2f}"]
    for source in sorted(data["scores"], key=data["scores"].get, reverse=True):
        values = per_seed.get(source, {})
        gains = [v - base[seed] for seed, v in values.items() if seed in base]  # the same seed: a paired difference
        lines.append(f"  {source:<12} {len(values):>5} {_mean_sd(list(values.values())):>22} {_mean_sd(gains):>24} "
                     f"{data['scores'][source]:>28.2f}")
    return lines


def _hw3_lines(data: dict) -> list[str]:
    lines = [f"  {data['setting']}; made by {data['command']} on {data['machine']}.",
             "  Same-family nearest neighbour (share of tasks whose nearest task, by cosine, is of the same family):"]
    lines += [f"    {method:<30} {m['same_family_nearest_neighbour']:.2f}" for method, m in data["methods"].items()]
    lines.append(f"  Selection for {data['selection']['target']} against the measured transfers (best first: "
                 f"{' > '.join(sorted(data['selection']['scores'], key=data['selection']['scores'].get, reverse=True))}):")
    for row in data["selection"]["table"]:
        lines.append(f"    {row['method']:<9} " + "  ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)))
    return lines


def recorded_path(homework: str) -> Path:
    """Where ``bench/package_recorded.py`` writes ``homework``'s recorded run."""
    return RESOURCES / f"recorded_{homework}.json"
