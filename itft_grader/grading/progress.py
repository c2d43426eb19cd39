"""Which cell the kernel was running: nbgrader's ``on_cell_execute`` hook, and reading its record.

The hook runs inside nbgrader (outside the sandbox) and appends one line per cell to the file named
by ``ITFT_GRADE_PROGRESS``, so when a kernel dies, exits or runs out of time the grade sheet can
name the cell. ``nbgrader_config.py`` installs it when the variable is set.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

PROGRESS_ENV = "ITFT_GRADE_PROGRESS"


def record_cell(cell=None, cell_index: int = -1, **_) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if not path or cell is None:
        return
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    with open(path, "a") as f:
        f.write(json.dumps({"index": cell_index, "grade_id": grade_id, "time": time.time()}) + "\n")


def last_cell(path: Path) -> dict | None:
    """The last cell that started, with ``seconds`` it had been running by the file's last change."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    if not lines:
        return None
    record = json.loads(lines[-1])
    record["seconds"] = time.time() - record["time"]
    return record


def describe(record: dict | None) -> str:
    """"in cell N (grade_id)", N counted as the student sees the notebook (a test cell's trusted
    checks are reported as that cell)."""
    if record is None:
        return "before the first cell"
    name = f" ({record['grade_id']})" if record.get("grade_id") else ""
    return f"in cell {record['index'] + 1}{name}"
