"""What the feedback may show: the graded notebook made fit to return to a student.

nbgrader renders feedback from the graded notebook, which carries the full hidden tests (they were
put back for grading) and tracebacks that quote their lines; returned to students, that would hand
the next term its answers. Before ``generate_feedback`` the pipeline therefore gives every test cell
the source the student saw (the release's, without hidden tests) and reduces the errors of test
cells to their name and message; outputs over the size cap are cut.
"""
from __future__ import annotations

import re

from nbformat import NotebookNode

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _test_ids(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata["nbgrader"].get("solution")}


def hide_hidden_tests(graded: NotebookNode, release: NotebookNode) -> int:
    """Show each test cell as released and its errors without code (in place); returns cells changed."""
    released = _test_ids(release)
    changed = 0
    for gid, cell in _test_ids(graded).items():
        if gid in released and cell.source != released[gid].source:
            cell.source = released[gid].source
            changed += 1
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = ANSI.sub("", f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": "))
                output.traceback = [message, "(the failing check's code is not shown; its name and message are above)"]
    return changed


def cap_outputs(nb: NotebookNode, limit: int) -> list[str]:
    """Cut every output over ``limit`` bytes (in place); returns a note per cell that was cut."""
    notes = []
    for n, cell in enumerate(nb.cells, start=1):
        cut = 0
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and len(output.get("text", "")) > limit:
                cut += len(output.text) - limit
                output.text = output.text[:limit] + f"\n[... {len(output.text) - limit} characters cut by the grader ...]\n"
            elif output.get("output_type") in ("display_data", "execute_result"):
                size = sum(len(str(v)) for v in output.get("data", {}).values())
                if size > limit:
                    cut += size
                    output["data"] = {"text/plain": f"[an output of {size} bytes, cut by the grader]"}
            elif output.get("output_type") == "error" and sum(map(len, output.get("traceback", []))) > limit:
                cut += sum(map(len, output.traceback))
                output.traceback = [line[: limit // 20] for line in output.traceback[:20]] + ["[... traceback cut by the grader ...]"]
        if cut:
            notes.append(f"cell {n}: {cut} bytes of output cut (cap {limit // 1024} kB per output)")
    return notes
