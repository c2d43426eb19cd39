"""A synthetic class for the atlas: Homework 2 submissions whose notebooks carry atlas cells drawn from
known effects on several targets, each student on one of three GPU kinds that shifts every score it makes
(which pairing within a student cancels), with the kinds of bad input a real class sends (tampered,
misconfigured, disagreeing, broken-tokenizers, copied, corrupt, wrong batch order, foreign, missing, unpaired,
made by an older package, run under another plan). The tests check the harvest against it;
``bench/bench_atlas.py`` times the harvest of a class of 1,000."""
from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path

from itft_utils.atlas import AtlasCell, AtlasLibrary, assign, atlas_output, atlas_plan, plan_label
from itft_utils.data.registry import built_in_task_type as task_type

BAD_KINDS = ("tampered", "config", "disagree", "tokenizers", "copied", "corrupt", "order", "foreign", "missing",
             "unpaired", "old", "plan")
#: Each device kind shifts every score it makes by this many points (other kernels, other precisions).
DEVICES = {"Tesla T4": -1.5, "NVIDIA L4": 0.0, "NVIDIA A100-SXM4-40GB": 1.5}


def synthetic_cell(library: AtlasLibrary, cell: AtlasCell, score_points: float, device: str = "NVIDIA L4") -> dict:
    """A cell record as :func:`itft_utils.transfer.run_transfer_matrix` writes it, scoring ``score_points``
    (F1 for a QA target, else accuracy or F1 on 0-1, as the metrics are)."""
    kind = task_type(library.targets[cell.target].name)
    metric, score = ("f1", score_points) if kind == "qa" else ("accuracy" if kind == "classification" else "f1", score_points / 100)
    return {"target": cell.target, "source": cell.source, "seed": cell.seed, "model": library.model,
            "metric": metric, "score": score, "metrics": {metric: score},
            "curve": [{"step": 10, "epoch": 1, metric: score * 0.9}, {"step": 20, "epoch": 2, metric: score}],
            "target_type": kind, "source_type": task_type(library.sources[cell.source].name) if cell.source else None,
            "key": library.key(cell), "batch_order": f"order-{cell.target}-{cell.seed}",
            "versions": {"torch": "2.11.0", "transformers": "5.15.1", "tokenizers": "0.22.2"},
            "device": device, "precision": "fp16" if "T4" in device else "bf16"}


def notebook_with(outputs: list[dict]) -> dict:
    """A Colab-saved notebook (nbformat 4.0) whose one code cell displayed ``outputs``."""
    return {"nbformat": 4, "nbformat_minor": 0, "metadata": {},
            "cells": [{"cell_type": "code", "source": "atlas", "metadata": {}, "execution_count": 1,
                       "outputs": [{"output_type": "display_data", "metadata": {}, "data": o} for o in outputs]}]}


def effect_of(effects: Mapping, cell: AtlasCell) -> float:
    """A cell's simulated gain: ``effects[(target, source)]``, else ``effects[source]``, else 0 (the baseline: 0)."""
    if cell.source is None:
        return 0.0
    return effects.get((cell.target, cell.source), effects.get(cell.source, 0.0))


def write_synthetic_class(folder: str | Path, library: AtlasLibrary, n_students: int, effects: Mapping,
                          baseline: float = 50.0, noise: float = 0.5, seed: int = 0) -> tuple[dict, dict[str, str]]:
    """Write ``folder/originals`` (notebooks and the intake manifest) for ``n_students`` under the course's
    plan; student i runs on device kind i mod 3 (:data:`DEVICES`); the first students are bad, one of each
    kind in :data:`BAD_KINDS`. Returns the plan and {kind: student id}."""
    rng = random.Random(seed)
    originals = Path(folder) / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    ids = [str(40_000 + 7 * i) for i in range(n_students)]
    plan = atlas_plan(ids, library)
    bad = dict(zip(BAD_KINDS, ids))
    manifest = []
    for i, sid in enumerate(ids):
        name = f"student_{sid}_hw2.ipynb"
        manifest.append({"file": name, "kept_as": name, "student_id": sid, "key": sid})
        mine = assign(sid, library, plan)
        device = list(DEVICES)[i % len(DEVICES)]
        cells = [synthetic_cell(library, c, baseline + effect_of(effects, c) + DEVICES[device] + rng.gauss(0, noise), device)
                 for c in mine.cells]
        output = atlas_output(sid, library, mine, cells, plan_label(plan))
        payload = output["application/json"]
        if sid == bad["tampered"]:
            cells[1]["score"] *= 1.2  # the headline number edited, its metrics and curve not
        elif sid == bad["config"]:
            cells[1]["key"] = "0123456789ab"  # run with other settings
        elif sid == bad["disagree"]:
            cells[0] = synthetic_cell(library, mine.cells[0], 95.0, device)  # consistent in itself, far from the others
        elif sid == bad["tokenizers"]:
            cells[1]["versions"]["tokenizers"] = "0.23.1"
        elif sid == bad["copied"]:
            payload["student_id"] = ids[-1]  # another student's stored cells pasted in
        elif sid == bad["order"]:
            cells[1]["batch_order"] = "another-order"
        elif sid == bad["foreign"]:
            cells.append({**cells[1], "target": "not-a-target"})
        elif sid == bad["unpaired"]:
            del cells[0]  # the baseline lost (an interrupted run, a deleted output): the sources cannot be paired
        elif sid == bad["old"]:
            payload["itft_atlas"] = 1
        elif sid == bad["plan"]:
            payload["plan"] = "plan-000000000000"  # an outdated plan, or none where the course had one
        text = "{ not json" if sid == bad["corrupt"] else json.dumps(notebook_with([] if sid == bad["missing"] else [output]))
        (originals / name).write_text(text, encoding="utf-8")
    (originals / "manifest.json").write_text(json.dumps(manifest))
    return plan, bad
