"""Trusted checks run in this process, for exercise authors and the test suite: the code before an
answer cell (given code and earlier solutions) and the answer itself are run in a namespace here,
then a test cell's checks are scored on it through the same code and reading as a kernel's.
This runs the code in the grader's own process: for instructors' solutions and their edits only,
never for a submission."""
from __future__ import annotations

from typing import Any

from nbformat import NotebookNode

from itft_grader.checks.expected import reference_answers
from itft_grader.checks.scoring import CellResult, run_here, score_cell
from itft_grader.checks.spec import load_checks


def _code(cell: NotebookNode) -> str:
    return "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))


def solution_namespace(source_nb: NotebookNode, answer_id: str, replace: tuple[str, str] | None = None) -> dict[str, Any]:
    """The namespace after the code cells up to and including ``answer_id`` (test cells skipped);
    ``replace`` = (old, new) edits the answer first (old must occur in it)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        code = _code(cell)
        if meta.get("grade_id") == answer_id and replace is not None:
            if replace[0] not in code:
                raise ValueError(f"{answer_id}: the solution no longer contains {replace[0]!r}")
            code = code.replace(*replace)
        exec(compile(code, f"<{meta.get('grade_id', 'given code')}>", "exec"), namespace)
        if meta.get("grade_id") == answer_id:
            return namespace
    raise KeyError(f"no answer cell {answer_id!r}")


def score_here(source_nb: NotebookNode, test_id: str, namespace: dict[str, Any]) -> CellResult:
    """Test cell ``test_id``'s trusted score on ``namespace``."""
    cell = load_checks(source_nb)[test_id]
    references = reference_answers({test_id: cell}).get(test_id, {})
    return score_cell(cell, run_here(cell, namespace), references)
