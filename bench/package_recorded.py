"""Copy the course's recorded real-data runs from bench/results/ into the package (itft_utils/resources/),
where the notebooks show them to students who cannot make their own (:mod:`itft_utils.recorded`).

    python bench/package_recorded.py

Homework 1 from ``bench/results/hw1_offline/hw1_mtl.json`` (``bench/hw1_recorded.py``), Homework 3
from ``bench/results/taskemb_real/summary.json`` (``bench/taskemb_real.py``); Homework 2's per-seed
transfers are already packaged by ``bench/bench_transfer.py``, and its reports (what its model answers
quote: per-seed tables, learning curves, paired statistics, the target-size axis, the planted family, the
budget design) are the printed output of :data:`REPORTS` (Homework 2's need the data folder). A missing source
is reported, not faked.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import common  # also puts the repo on sys.path
import hw1_recorded

from itft_utils.files import write_atomic
from itft_utils.recorded import recorded_path

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = {
    "hw1_mtl": hw1_recorded.COMMAND,  # for the message when its run is missing
    "hw2_intermediate": "the commands of REPORTS, with the data folder",
    "hw3_taskemb": "python bench/taskemb_real.py --model .carry/minilm --transfer-results bench/results/transfer "
                   "--transfer-seeds 0,1,2,3,4,5 --out bench/results/taskemb_real",
}


#: Each homework's report commands, in the order the notebook prints them: what its model answers quote
#: (per-seed tables, learning curves, paired statistics, the target-size axis, the planted family, the designs).
#: Homework 1's design is judged on a hidden draw whose numbers stay with the grader, so no report shows them.
REPORTS = {
    "hw1_mtl": ["python bench/hw1_recorded.py --report-only", "python bench/hw1_recorded.py --planted --report-only",
                "python bench/hw1_effect.py --report-only"],
    "hw2_intermediate": [
        "python bench/bench_transfer.py --model .carry/minilm --out bench/results/transfer --seeds 0,1,2 --report-only",
        "python bench/bench_transfer.py --model .carry/minilm --out bench/results/transfer --seeds 0,1,2,3,4,5 --report-only",
        "python bench/harm_probe.py --report-only",
        "python bench/bench_transfer.py --model .carry/minilm --out bench/results/transfer_n250 --target-n 250 --seeds 3,4,5 "
        "--sources policyqa --report-only",
        "python bench/target_size.py --sizes 250=bench/results/transfer_n250,500=bench/results/transfer_n500,"
        "1000=bench/results/transfer --source policyqa --report-only",
        "python bench/planted_family.py --model minilm --seeds 0,1,2 --sizes 16,64 --out bench/results/planted_offline "
        "--report-only --per-seed",
        "python bench/equal_budgets.py --report-only",
        "python bench/chain.py --report-only",
    ],
    "hw3_taskemb": [
        "python bench/taskemb_real.py --report-only --out bench/results/taskemb_real --transfer-results bench/results/transfer "
        "--transfer-seeds 0,1,2,3,4,5",
        "python bench/estimator_race.py --report-only --transfer-seeds 0,1,2,3,4,5",
        "python bench/estimator_race.py --report-only --out bench/results/estimator_race_span --transfer-seeds 0,1,2,3,4,5",
        "python bench/estimator_race.py --report-only --target mrpc --transfer-results bench/results/transfer_mrpc "
        "--transfer-seeds 0,1,2 --out bench/results/estimator_race_mrpc",
        "python bench/race_targets.py --race squad bench/results/estimator_race_span bench/results/transfer 0,1,2,3,4,5 "
        "--race mrpc bench/results/estimator_race_mrpc bench/results/transfer_mrpc 0,1,2",
        "python bench/planted_selection.py --report-only",
    ],
}
NEEDS_DATA = {"hw2_intermediate"}  # bench_transfer.py builds its experiment from the data folder, even to report
ROOT = RESULTS.parents[1]


def reports(homework: str) -> list[dict] | None:
    """``homework``'s reports as their commands print them (None where they need the data folder and it is absent)."""
    if homework in NEEDS_DATA and common.default_data_dir() is None:
        return None
    printed = []
    for command in REPORTS[homework]:
        args = shlex.split(command)
        done = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{command} failed:\n{done.stderr[-2000:]}")
        printed.append({"command": command, "output": done.stdout.rstrip("\n")})
    return printed


def hw2() -> dict | None:
    """Homework 2's reports (its per-seed transfers are packaged by bench_transfer.py --package)."""
    printed = reports("hw2_intermediate")
    return None if printed is None else {"reports": printed}


def hw1() -> dict | None:
    path = RESULTS / "hw1_offline" / "hw1_mtl.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))  # bench/hw1_recorded.py describes its own run
    return {**data, "reports": reports("hw1_mtl")}


def hw3() -> dict | None:
    path = RESULTS / "taskemb_real" / "summary.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    s = data["setting"]
    setting = (f"all-MiniLM-L6-v2 on the 13 real tasks ({s['tasks'].replace(',', ', ')}), {s['n_train']} training and "
               f"{s['n_fisher']} Fisher examples each, {s['fisher']} Fisher")
    methods = {m: {"same_family_nearest_neighbour": v["same_family_nearest_neighbour"],
                   "nearest_neighbour": v["nearest_neighbour"]} for m, v in data["methods"].items()}
    selection = {k: data["selection"][k] for k in ("target", "metric", "baseline", "scores", "table")}
    return {"setting": setting, "machine": data["machine"], "command": COMMANDS["hw3_taskemb"], "methods": methods,
            "selection": selection, "reports": reports("hw3_taskemb")}


def main() -> int:
    missing = []
    for homework, build in (("hw1_mtl", hw1), ("hw2_intermediate", hw2), ("hw3_taskemb", hw3)):
        data = build()
        if data is None:
            missing.append(homework)
            continue
        write_atomic(recorded_path(homework), json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"{homework}: wrote {recorded_path(homework)}")
    for homework in missing:
        print(f"{homework}: no recorded run in bench/results yet (run {COMMANDS[homework]!r} first)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
