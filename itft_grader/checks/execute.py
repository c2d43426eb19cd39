"""nbgrader's Execute with trusted test cells: the notebook's own cells run in the student's kernel
as nbgrader runs them, but a test cell is never executed there. In its place the grader sends the
cell's probes (``spec``), reads the kernel's plain answer (``scoring``) and writes the test cell's
outputs itself: a report and the score, which nbgrader's SaveAutoGrades then stores in the gradebook
(its partial-credit rule reads that number). Nothing the kernel prints, patches or returns reaches
the score except through the answers' values, checked here in nbgrader's process.

A check marked ``on="submission"`` is not sent to the kernel: it runs here, on the notebook as it was
handed in (``checks/submitted.py``), so no answer of the kernel's (or the lack of one) decides it; a
notebook that cannot be graded at all (its kernel killed, out of time) still scores 0 everywhere.

What the grader saw is also written to ``ITFT_TRUSTED_RECORD`` (when set): each test cell's checks
and every cell timeout with its cell, whether or not the kernel then answered, so that the pipeline
takes statuses from this record and never from what the notebook printed.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient.exceptions import CellTimeoutError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from itft_grader.checks import expected
from itft_grader.checks.scoring import AnswerError, CellResult, new_nonce, read_answers, request_code, run_here, score_cell
from itft_grader.checks.spec import KERNEL, SUBMISSION, CheckedCell, load_checks
from itft_grader.checks.submitted import submission_namespace

RECORD_ENV = "ITFT_TRUSTED_RECORD"  # where the record goes (the grader's private folder)
REFERENCES_ENV = "ITFT_REFERENCE_ANSWERS"  # reference answers computed once for the class


def is_test_cell(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class TrustedExecute(Execute):
    """Execute every cell but the test cells, which are scored by trusted checks (see the module)."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        info = resources["nbgrader"]
        root = Path(self.config.get("CourseDirectory", {}).get("root") or os.getcwd())
        source = nbformat.read(root / "source" / info["assignment"] / f"{info['notebook']}.ipynb", as_version=4)
        self._checks = load_checks(source)
        path = os.environ.get(REFERENCES_ENV)
        self._references = expected.load(Path(path)) if path else expected.reference_answers(self._checks)
        self._handed_in = lambda: submission_namespace(root, info)
        self._record: dict[str, Any] = {"cells": {}, "timeouts": []}
        self._index = -1
        try:
            return super().preprocess(nb, resources, km)
        finally:
            record = os.environ.get(RECORD_ENV)
            if record:
                Path(record).write_text(json.dumps(self._record))

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        self._index = index
        if not is_test_cell(cell):
            started = time.monotonic()
            try:
                return super().preprocess_cell(cell, resources, index)
            except CellTimeoutError:  # interrupted, and the kernel never answered: it is stuck
                self._note_stuck(index, time.monotonic() - started)
                raise
        self._score(cell, index)
        return cell, self.resources

    async def _async_handle_timeout(self, timeout: int, cell: NotebookNode | None = None) -> Any:
        self._record["timeouts"].append({"index": self._index, "seconds": timeout, "stopped": True})
        return await super()._async_handle_timeout(timeout, cell)

    def _note_stuck(self, index: int, seconds: float) -> None:
        for t in self._record["timeouts"]:
            if t["index"] == index:
                t["stopped"] = False
                return
        self._record["timeouts"].append({"index": index, "seconds": round(seconds), "stopped": False})

    def _score(self, cell: NotebookNode, index: int) -> None:
        gid = cell.metadata["nbgrader"]["grade_id"]
        checked = self._checks.get(gid)
        if checked is None:
            raise ValueError(f"test cell {gid!r} is not in the source notebook")
        references = self._references.get(gid, {})
        handed = checked.only(SUBMISSION)
        try:
            own = run_here(handed, self._handed_in()) if handed.checks else []
        except AnswerError as exc:  # what was handed in made an answer too large or odd to read: those checks fail
            own = [{"error": f"the submitted notebook could not be checked ({exc})"}] * len(handed.checks)
        kernel = checked.only(KERNEL)
        lines, problem = self._ask_kernel(kernel, cell, index) if kernel.checks else ([[]], "")
        if problem:
            lines = [[{"error": ""}] * len(kernel.checks)]  # the problem is reported once, for the cell
        # every answer line must earn the points: a line forged beside the runtime's own can only lower them
        result = min((score_cell(checked, _in_order(checked, line, own), references, problem) for line in lines),
                     key=lambda r: r.score)
        self._record["cells"][gid] = _as_record(result)
        cell.execution_count = None
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=result.report()),
                        nbformat.v4.new_output("execute_result", data={"text/plain": repr(result.score)}, execution_count=None)]

    def _ask_kernel(self, kernel: CheckedCell, cell: NotebookNode, index: int) -> tuple[list[list[dict[str, Any]]], str]:
        """The kernel's answer lines to ``kernel``'s probes, or none and why."""
        nonce = new_nonce()
        probe = nbformat.v4.new_code_cell(request_code(kernel, nonce))
        started = time.monotonic()
        try:
            self.execute_cell(probe, index, store_history=False)
        except CellTimeoutError:
            self._note_stuck(index, time.monotonic() - started)
            raise
        finally:
            self.nb.cells[index] = cell  # nbclient stores the cell it ran at its index
        stdout = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream" and o.name == "stdout")
        if any(t["index"] == index for t in self._record["timeouts"]):
            return [], f"the checks ran past the {self.timeout} s cell timeout"
        try:
            return read_answers(stdout, nonce, len(kernel.checks)), ""
        except AnswerError as exc:
            return [], f"the notebook's answer could not be read ({exc})"


def _in_order(cell: CheckedCell, kernel: list[dict[str, Any]], own: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The kernel's and the submission's answers back in the order of the cell's checks."""
    answers = {KERNEL: iter(kernel), SUBMISSION: iter(own)}
    return [next(answers[c.on]) for c in cell.checks]


def _as_record(result: CellResult) -> dict[str, Any]:
    return {"score": result.score, "points": result.points, "problem": result.problem,
            "checks": [vars(c) for c in result.checks]}
