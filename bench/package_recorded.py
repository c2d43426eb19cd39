"""Copy the course's recorded real-data runs from bench/results/ into the package (itft_utils/resources/),
where the notebooks show them to students who cannot make their own (:mod:`itft_utils.recorded`).

    python bench/package_recorded.py

Homework 1 from ``bench/results/hw1_offline/hw1_mtl.json`` (``bench/hw1_recorded.py``), Homework 3
from ``bench/results/taskemb_real/summary.json`` (``bench/taskemb_real.py``); Homework 2's per-seed
transfers are already packaged by ``bench/bench_transfer.py``. A missing source is reported, not faked.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import hw1_recorded

from itft_utils.files import write_atomic
from itft_utils.recorded import recorded_path

RESULTS = Path(__file__).resolve().parent / "results"
COMMANDS = {
    "hw1_mtl": hw1_recorded.COMMAND,  # for the message when its run is missing
    "hw3_taskemb": "python bench/taskemb_real.py --model .carry/minilm --transfer-results bench/results/transfer "
                   "--transfer-seeds 0,1,2,3,4,5 --out bench/results/taskemb_real",
}


def hw1() -> dict | None:
    path = RESULTS / "hw1_offline" / "hw1_mtl.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))  # bench/hw1_recorded.py describes its own run


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
            "selection": selection}


def main() -> int:
    missing = []
    for homework, build in (("hw1_mtl", hw1), ("hw3_taskemb", hw3)):
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
