"""Results: one signed file per submission, and the grade sheet made from them.

Only the grader writes here (student kernels never see ``out/``), and a rerun reuses a result only
if its signature checks out with the grader's key (``out/.grader-key``, created once, mode 0600),
it belongs to the same file (sha256) and the same grading set-up (fingerprint: release, config and
options). Anything else is graded again.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from itft_utils.files import write_atomic

STATUSES = {
    "graded": "graded",
    "graded_with_notes": "graded; the notebook was repaired first (see message)",
    "flagged": "graded, but flagged for a human to review (see message)",
    "output_limit": "graded; outputs over the size cap were cut (see message)",
    "timeout": "ran past the time cap (the message names the cell); scored 0",
    "kernel_died": "the kernel was killed (signal, memory or process cap; see message); scored 0",
    "disk_limit": "the notebook wrote more than the disk cap into its folder and was stopped (see message); scored 0",
    "exited_early": "the notebook ended its own kernel before grading finished; scored 0",
    "infrastructure": "the grader failed twice for reasons not the student's (see message); scored 0 until regraded",
    "grading_error": "nbgrader could not grade it; scored 0",
    "corrupt_notebook": "not a readable notebook; scored 0",
    "empty_file": "the file is empty; scored 0",
    "too_large": "over a size cap (one file, the class's files together, cells per notebook or characters per cell); "
                 "not graded, scored 0",
    "not_this_assignment": "no cell of this assignment found; scored 0",
    "bad_filename": "no student id in the file name, or not a .ipynb; not graded",
}


@dataclass
class Result:
    student_id: str
    file: str
    sha256: str
    status: str
    message: str
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> auto score (None: manual)
    max_scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    key: str = ""  # unique per file (results/<key>.json)
    isolation: str = ""  # how the kernel was isolated: "bwrap+cgroup-v1", ..., or "none (--no-sandbox)"
    submission: str = "1/1"  # k/n among this student's files
    counted: bool = True  # whether this file counts for the student under the policy

    @property
    def total(self) -> float:
        return sum(v for v in self.scores.values() if v is not None)


def _key(out: Path) -> bytes:
    path = out / ".grader-key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    return path.read_bytes()


def _mac(out: Path, payload: str, fingerprint: str) -> str:
    return hmac.new(_key(out), (fingerprint + "\n" + payload).encode(), hashlib.sha256).hexdigest()


def save(result: Result, out: Path, fingerprint: str) -> None:
    """Write ``results/<key>.json`` atomically, signed with the grader's key."""
    payload = json.dumps(asdict(result), sort_keys=True)
    # atomic: an interrupted run never leaves half a result
    write_atomic(out / "results" / f"{result.key}.json", json.dumps(
        {"result": json.loads(payload), "fingerprint": fingerprint, "mac": _mac(out, payload, fingerprint)}, indent=1))


def load_verified(out: Path, key: str, sha256: str, fingerprint: str) -> Result | None:
    """A saved result that may be reused, or None (missing, altered, other file or other set-up)."""
    try:
        data = json.loads((out / "results" / f"{key}.json").read_text())
        payload = json.dumps(data["result"], sort_keys=True)
        if data.get("fingerprint") != fingerprint or not hmac.compare_digest(data.get("mac", ""), _mac(out, payload, fingerprint)):
            return None
        result = Result(**data["result"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return result if result.sha256 == sha256 else None


def write_sheet(results: list[Result], grade_ids: list[str], path: Path) -> Path:
    """The grade sheet: one row per submitted file, same bytes for the same results."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "file", "submission", "counted", "status", "auto_score", "max_score", "manual_pending",
                         *grade_ids, "isolation", "message"])
        for r in sorted(results, key=lambda r: (r.student_id or "~", r.file)):
            manual = sum(r.max_scores.get(g, 0) for g, v in r.scores.items() if v is None)
            writer.writerow([r.student_id or "", r.file, r.submission, "yes" if r.counted else "no", r.status, f"{r.total:g}",
                             f"{sum(r.max_scores.values()):g}", f"{manual:g}",
                             *["" if r.scores.get(g) is None else f"{r.scores[g]:g}" for g in grade_ids], r.isolation, r.message])
    return path


def print_sheet(results: list[Result]) -> None:
    """The grade sheet as a terminal table (the CSV has every column)."""
    print(f"{'student':<12} {'file':<34} {'status':<19} {'score':>26}  message")
    for r in sorted(results, key=lambda r: (r.student_id or "~", r.file)):
        manual = sum(m for gid, m in r.max_scores.items() if gid in r.scores and r.scores[gid] is None)
        score = f"{r.total:g}/{sum(r.max_scores.values()) - manual:g} auto" + (f" (+{manual:g} manual)" if manual else "")
        mark = "" if r.counted else " (not counted)"
        print(f"{r.student_id or '-':<12} {r.file[:34]:<34} {r.status:<19} {score:>26}  {(r.message + mark)[:90]}")
