"""The reference answers: each ``expect=REFERENCE`` probe run in the grader's process on the grading
package's reference implementations, once per assignment (the pipeline saves them for every
submission's nbgrader run; the kernel never sees them)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from itft_grader.checks.scoring import run_here
from itft_grader.checks.spec import REFERENCE, CheckedCell

Answers = dict[str, dict[str, Any]]  # grade id -> check name -> {"value": ...}


def reference_answers(cells: dict[str, CheckedCell]) -> Answers:
    """Every reference check's answer; ValueError naming the check when a reference fails it."""
    from itft_grader.checks import references

    out: Answers = {}
    for gid, cell in cells.items():
        wanted = [c for c in cell.checks if c.expect is REFERENCE]
        if not wanted:
            continue
        names = sorted({p for c in wanted for p in c.parameters})
        missing = [n for n in names if not hasattr(references, n)]
        if missing:
            raise ValueError(f"{gid}: REFERENCE checks take {missing}, which itft_grader/checks/references.py does not define")
        answers = run_here(CheckedCell(gid, cell.points, wanted), {n: getattr(references, n) for n in names})
        for c, a in zip(wanted, answers):
            if "error" in a:
                raise ValueError(f"{gid}: the reference fails its own check {c.name!r}: {a['error']}")
        out[gid] = {c.name: a for c, a in zip(wanted, answers)}
    return out


def save(answers: Answers, path: Path) -> Path:
    path.write_text(json.dumps(answers))
    return path


def load(path: Path) -> Answers:
    return json.loads(Path(path).read_text())
