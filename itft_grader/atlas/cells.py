"""What one stored atlas output and its cells must be, checked on plain data alone: the class harvest
(``harvest.py``) uses it, and so does Part 7's credit, which the grader decides in nbgrader's own process
for every submission, where importing the training stack (4 s of torch and transformers) would double
the cost of grading a notebook.

The atlas library enters as :func:`library_facts`, plain data computed once where the library can be
built (the grader's main process): each cell's exact source, configuration key and target's registered
type, and the cells each of the class's students may be credited for.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from itft_utils.atlas import AtlasLibrary

REQUIRED = ("target", "source", "seed", "metric", "score", "metrics", "curve", "key", "batch_order", "versions")
BROKEN_TOKENIZERS = ("0.23.1", "0.23.2")  # they drop the windows of long QA contexts
NO_OUTPUT = ("no class-atlas output stored in the notebook: run Part 7's atlas cell where the course runs it and "
             "submit the notebook with its outputs")


def library_facts(library: AtlasLibrary, students: Iterable[str] = (), plan: Mapping | None = None) -> dict[str, Any]:
    """What the checks need of ``library``, as plain data: its mode, the output format's version and MIME
    type, per cell (by name) its exact source, the key a correctly run cell carries and its target's
    registered type, and for each of ``students`` the cells they may be credited for: their assignment
    under the course's ``plan`` or, as a student who ran before the plan was published did, by their id."""
    from itft_utils.atlas import ATLAS_MIME, ATLAS_VERSION, assign

    def assigned(student: str) -> list[str]:
        ways = [assign(student, library, plan), assign(student, library, None)]
        return sorted({c.name for a in ways for c in a.cells})

    return {"mode": library.mode, "version": ATLAS_VERSION, "mime": ATLAS_MIME,
            "cells": {c.name: {"source": c.source, "key": library.key(c), "target_type": library.target_type(c.target)}
                      for c in library.cells},
            "assigned": {s: assigned(s) for s in students if s and s.strip()}}


def cell_name(source: object, target: object, seed: object) -> str:
    """The name :class:`itft_utils.atlas.AtlasCell` gives the cell (the baseline's source is None)."""
    return f"{source or 'baseline'}->{target}@{seed}"


def stored_outputs(notebook: object, marker: str, mime: str) -> list[dict]:
    """The outputs of a notebook (as its JSON parses) carrying ``marker`` (the atlas cells; Homework 3's
    rankings), in order; whatever shape the file has, anything that is not such an output is passed over."""
    found = []
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        outputs = cell.get("outputs") if isinstance(cell, dict) else None
        for output in outputs if isinstance(outputs, list) else []:
            data = output.get("data") if isinstance(output, dict) else None
            payload = data.get(mime) if isinstance(data, dict) else None
            if isinstance(payload, dict) and marker in payload:
                found.append(payload)
    return found


def output_problem(payload: dict, student_id: str, version: int) -> str | None:
    """Why a stored atlas output cannot count as a whole (None: it can): another format, cells stored under
    another student's id (a copied notebook), no list of cells."""
    claimed = str(payload.get("student_id", "")).strip()
    if payload.get("itft_atlas") != version:
        return f"atlas format {payload.get('itft_atlas')!r}, not {version}: made by another version of the package (not counted)"
    if claimed != student_id:
        return (f"cells stored under student id {claimed!r}, not the file's {student_id!r}: copied from another notebook, or "
                "STUDENT_ID not your id as the course knows it? (not counted)")
    if not isinstance(payload.get("cells"), list):
        return "atlas output without a list of cells (not counted)"
    return None


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_cell(cell: object, facts: dict[str, Any]) -> list[str]:
    """Why ``cell`` cannot be trusted on its own (empty: it can); ``facts``: :func:`library_facts`."""
    if not isinstance(cell, dict):
        return [f"not a cell record ({type(cell).__name__})"]
    missing = [k for k in REQUIRED if k not in cell]
    if missing:
        return [f"fields missing: {', '.join(missing)}"]
    source, target, seed = cell["source"], cell["target"], cell["seed"]
    if not (source is None or isinstance(source, str)) or not isinstance(target, str) or not isinstance(seed, int) \
            or isinstance(seed, bool):
        return ["source, target or seed of the wrong type"]
    expected = facts["cells"].get(cell_name(source, target, seed))
    if expected is None or expected["source"] != source:  # "" or "baseline" is no baseline
        return [f"not a cell of the atlas library ({source or 'baseline'} -> {target}, seed {seed})"]
    if not (isinstance(cell["metrics"], dict) and isinstance(cell["curve"], list) and all(isinstance(r, dict) for r in cell["curve"])
            and all(isinstance(cell[k], str) for k in ("metric", "key", "batch_order"))):
        return ["metrics, curve, metric, key or batch order of the wrong type"]
    reasons = []
    if cell["key"] != expected["key"]:
        reasons.append("configuration differs from the library's (its key does not match the fixed settings)")
    kind = expected["target_type"]
    if cell.get("target_type") != kind:
        reasons.append(f"target type {cell.get('target_type')!r}, not {target}'s {kind!r}")
    score, metric, top = cell["score"], cell["metric"], 100 if kind == "qa" else 1
    if not _number(score) or not 0 <= score <= top:
        reasons.append(f"score {score!r} out of range (0 to {top} for a {kind} target)")
    else:
        last = cell["curve"][-1].get(metric) if cell["curve"] else None
        if cell["metrics"].get(metric) != score or (last is not None and (not _number(last) or abs(last - score) > 1e-6)):
            reasons.append(f"score {score:.4g} disagrees with its own metrics ({cell['metrics'].get(metric)!r}) "
                           f"or its last evaluation ({last!r}): edited by hand?")
    versions = cell["versions"] if isinstance(cell["versions"], dict) else {}
    if not {"torch", "transformers"} <= set(versions):
        reasons.append("library versions not recorded")
    elif versions.get("tokenizers") in BROKEN_TOKENIZERS:
        reasons.append(f"tokenizers {versions['tokenizers']} drops the windows of long QA contexts")
    return reasons


def _machine(cell: dict) -> tuple[str, str]:
    return str(cell.get("device", "unrecorded")), str(cell.get("precision", "unrecorded"))


def credit(notebook: object, student_id: str, facts: dict[str, Any]) -> dict[str, list[str]]:
    """Part 7's points, as reasons against each (empty: earned): ``baseline``, a valid baseline cell of the
    student's assignment (``facts["assigned"]``) in the notebook's last stored atlas output; ``paired source``,
    a valid source cell of that assignment with the same target and seed, run on the same device and precision
    (a pair the class matrix can use). The output must be the student's own (``student_id``: the file's) and
    run in the course's mode. Whether a cell agrees with other students' replicates is the class harvest's
    business, not a student's points."""
    reasons = _credit(notebook, student_id, facts)
    return {point: [r[:MAX_REASON] for r in found[:MAX_REASONS]] for point, found in reasons.items()}


def no_reasons(reasons: list[str]) -> tuple[bool, str]:
    """A check's ``expect`` for :func:`credit`'s reasons: earned when there are none, and the student reads them."""
    return not reasons, "; ".join(reasons)


MAX_REASON, MAX_REASONS = 300, 8  # characters and reasons: what a student stored can make them long


def _credit(notebook: object, student_id: str, facts: dict[str, Any]) -> dict[str, list[str]]:
    outputs = stored_outputs(notebook, "itft_atlas", facts["mime"])
    if not outputs:
        return {"baseline": [NO_OUTPUT], "paired source": [NO_OUTPUT]}
    payload = outputs[-1]
    problem = output_problem(payload, student_id, facts["version"])
    if problem is None and payload.get("mode") != facts["mode"]:
        problem = (f"your atlas cells ran in {payload.get('mode')!r} mode; the class atlas counts {facts['mode']!r} mode "
                   "(run Part 7 where the course runs it)")
    if problem:
        return {"baseline": [problem], "paired source": [problem]}
    mine = set(facts["assigned"].get(student_id, []))

    def reasons_against(c: Any) -> list[str]:
        found = check_cell(c, facts)
        if not found and cell_name(c["source"], c["target"], c["seed"]) not in mine:  # found empty: c is a cell record
            found = ["not a cell of your assignment"]
        return found

    judged = [(c, reasons_against(c)) for c in payload["cells"]]
    baselines = [c for c, reasons in judged if not reasons and c["source"] is None]
    sources = [c for c, reasons in judged if not reasons and c["source"] is not None]
    paired = [c for c in sources if any((b["target"], b["seed"], _machine(b)) == (c["target"], c["seed"], _machine(c))
                                        for b in baselines)]
    rejected = [f"{cell_name(c.get('source'), c.get('target'), c.get('seed')) if isinstance(c, dict) else 'a cell'}: "
                f"{'; '.join(reasons)}" for c, reasons in judged if reasons]
    return {"baseline": [] if baselines else rejected or ["no baseline cell stored (rerun the atlas cell until it finishes)"],
            "paired source": [] if paired else rejected or (
                ["no source cell stored (rerun the atlas cell until it finishes)"] if not sources else
                ["no valid baseline to pair your sources with"] if not baselines else
                ["no source cell ran on the same device and precision as a valid baseline of its target and seed"])}
