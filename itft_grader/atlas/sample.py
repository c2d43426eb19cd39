"""A synthetic class for the atlas: Homework 2 submissions whose notebooks carry atlas cells drawn
from known effects, with the kinds of bad input a real class sends (tampered, misconfigured, copied,
disagreeing, broken-tokenizers, wrong batch order, foreign, corrupt and missing). The tests check
the harvest against it; ``bench/bench_atlas.py`` times the harvest of a class of 1,000."""
from __future__ import annotations

import json
import random
from pathlib import Path

from itft_utils.atlas import AtlasCell, AtlasLibrary, assign_cells, atlas_output, atlas_plan

BAD_KINDS = ("tampered", "config", "disagree", "tokenizers", "copied", "corrupt", "order", "foreign", "missing")


def synthetic_cell(library: AtlasLibrary, cell: AtlasCell, score: float) -> dict:
    """A cell record as :func:`itft_utils.transfer.run_transfer_matrix` writes it, with ``score``."""
    return {"target": cell.target, "source": cell.source, "seed": cell.seed, "model": library.experiment.model,
            "metric": "f1", "score": score, "metrics": {"exact_match": score - 10, "f1": score},
            "curve": [{"step": 10, "epoch": 1, "f1": score - 5}, {"step": 20, "epoch": 2, "f1": score}],
            "target_type": "qa", "source_type": "qa" if cell.source and "qa" in cell.source else "classification",
            "key": library.key(cell), "batch_order": f"order-{cell.target}-{cell.seed}",
            "versions": {"torch": "2.11.0", "transformers": "5.15.1", "tokenizers": "0.22.2"}}


def notebook_with(outputs: list[dict]) -> dict:
    """A Colab-saved notebook (nbformat 4.0) whose one code cell displayed ``outputs``."""
    return {"nbformat": 4, "nbformat_minor": 0, "metadata": {},
            "cells": [{"cell_type": "code", "source": "atlas", "metadata": {}, "execution_count": 1,
                       "outputs": [{"output_type": "display_data", "metadata": {}, "data": o} for o in outputs]}]}


def write_synthetic_class(folder: str | Path, library: AtlasLibrary, n_students: int, effects: dict,
                          baseline: float = 50.0, noise: float = 0.5, seed: int = 0) -> tuple[dict, dict[str, str]]:
    """Write ``folder/originals`` (notebooks and the intake manifest) for ``n_students``; the first nine
    students are bad, one of each kind in :data:`BAD_KINDS`. Returns the plan and {kind: student id}."""
    rng = random.Random(seed)
    originals = Path(folder) / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    ids = [str(40_000 + 7 * i) for i in range(n_students)]
    plan = atlas_plan(ids, library)
    bad = dict(zip(BAD_KINDS, ids))
    manifest = []
    for sid in ids:
        name = f"student_{sid}_hw2.ipynb"
        manifest.append({"file": name, "kept_as": name, "student_id": sid, "key": sid})
        mine = assign_cells(sid, library, plan)
        cells = [synthetic_cell(library, c, baseline + effects[c.source] + rng.gauss(0, noise)) for c in mine]
        claimed = sid
        if sid == bad["tampered"]:
            cells[0]["score"] += 20  # the headline number edited, its metrics and curve not
        elif sid == bad["config"]:
            cells[0]["key"] = "0123456789ab"  # run with other settings
        elif sid == bad["disagree"]:
            cells[0] = synthetic_cell(library, mine[0], 95.0)  # consistent in itself, far from the others
        elif sid == bad["tokenizers"]:
            cells[0]["versions"]["tokenizers"] = "0.23.1"
        elif sid == bad["copied"]:
            claimed = ids[-1]  # another student's stored cells pasted in
        elif sid == bad["order"]:
            cells[0]["batch_order"] = "another-order"
        elif sid == bad["foreign"]:
            cells.append({**cells[0], "target": "not-a-target"})
        text = "{ not json" if sid == bad["corrupt"] else json.dumps(
            notebook_with([] if sid == bad["missing"] else [atlas_output(claimed, library, cells)]))
        (originals / name).write_text(text, encoding="utf-8")
    (originals / "manifest.json").write_text(json.dumps(manifest))
    return plan, bad
