"""A sample class of submissions made from an assignment: what the course demo grades, and what the
grading tests are built from.

``solved`` fills the student version with the instructor's solutions (what a perfect student
sends), and ``with_atlas_output`` stores the class-atlas cells a student's run of Homework 2 leaves in
the notebook (run here, in the course's atlas mode: seconds in grading mode); ``as_colab`` re-saves a
notebook the way Colab does; ``sample_class`` adds the untouched student version and a handful of
broken submissions a grader meets in practice.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MARKER_LINE = re.compile(r"^[ \t]*### (?:BEGIN|END) SOLUTION[ \t]*\n?", re.M)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n.*?### END HIDDEN TESTS\n?", re.S)


def copy_notebook(nb: NotebookNode) -> NotebookNode:
    """A deep copy, with every cell's source as one string (as nbformat.read gives it)."""
    return nbformat.reads(nbformat.writes(nb), as_version=4)


def grade_cell(nb: NotebookNode, grade_id: str) -> NotebookNode:
    """The cell carrying ``grade_id``, with an error naming the ids that exist."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    known = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    raise KeyError(f"no cell {grade_id!r}; grade ids: {known}")


def solution_ids(nb: NotebookNode, cell_type: str | None = None) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and (cell_type is None or c.cell_type == cell_type)]


def solved(release: NotebookNode, source: NotebookNode) -> NotebookNode:
    """The student version with every answer cell replaced by the solution (markers removed)."""
    nb = copy_notebook(release)
    for gid in solution_ids(nb):
        answer = grade_cell(source, gid).source
        grade_cell(nb, gid).source = MARKER_LINE.sub("", HIDDEN.sub("", answer)).rstrip("\n")
    return nb


ATLAS_CELL = "atlas_run"  # the grade id of the cell whose output carries a student's atlas cells


def with_atlas_output(nb: NotebookNode, student_id: str, mode: str, runs: Path) -> NotebookNode:
    """``nb`` with the output its atlas cell stores when ``student_id`` runs their assignment in ``mode``
    (unchanged if it has no atlas cell); ``runs`` keeps the runs, so a second call reuses them."""
    if not any(c.metadata.get("nbgrader", {}).get("grade_id") == ATLAS_CELL for c in nb.cells):
        return nb
    from itft_utils.atlas import atlas_library, run_atlas_cells

    output = run_atlas_cells(student_id, atlas_library(mode), runs, plan={})
    nb = copy_notebook(nb)
    grade_cell(nb, ATLAS_CELL).outputs = [nbformat.v4.new_output("display_data", data=output)]
    return nb


def as_colab(nb: NotebookNode) -> str:
    """What Colab writes: nbformat 4.0, its own metadata (with a display name), no cell ids, and a
    kernelspec without ``language``."""
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    data["metadata"] = {"colab": {"provenance": [], "name": "homework.ipynb"},
                        "kernelspec": {"name": "python3", "display_name": "Python 3"}, "accelerator": "GPU"}
    for i, cell in enumerate(data["cells"]):
        cell.pop("id", None)
        cell["metadata"]["id"] = f"colab{i:04d}"
        if cell["cell_type"] == "code":
            cell["metadata"]["executionInfo"] = {"status": "ok", "user": {"displayName": "Jane Student", "userId": "0123456789"}}
            cell["metadata"]["outputId"] = f"out{i:04d}"
    return json.dumps(data, indent=1)


def sample_class(release: NotebookNode, source: NotebookNode, atlas: tuple[str, Path] | None = None) -> dict[str, bytes]:
    """File name -> bytes of a small class: perfect, untouched, and typical broken submissions. ``atlas``:
    (mode, runs folder) to store the perfect student's atlas cells (the Colab-saved copy keeps them, under
    the perfect student's id: a copied notebook)."""
    good = solved(release, source)
    if atlas is not None:
        good = with_atlas_output(good, "1001", *atlas)
    first_code = solution_ids(good, "code")[0]

    def variant(edit) -> bytes:
        nb = copy_notebook(good)
        edit(nb)
        return nbformat.writes(nb).encode()

    def stripped(nb):
        for cell in nb.cells:
            cell.metadata.pop("nbgrader", None)

    tests = [c.metadata["nbgrader"]["grade_id"] for c in good.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")]
    return {
        "smith_1001_solution.ipynb": nbformat.writes(good).encode(),
        "jones_1002_untouched.ipynb": nbformat.writes(release).encode(),
        "brown_1003_colab.ipynb": as_colab(good).encode(),
        "green_1004_syntax_error.ipynb": variant(lambda nb: setattr(grade_cell(nb, first_code), "source", "def broken(:\n    pass")),
        "white_1005_deleted_test.ipynb": variant(lambda nb: nb.cells.remove(grade_cell(nb, tests[0]))),
        "black_1006_no_metadata.ipynb": variant(stripped),
        "grey_1007_corrupt.ipynb": b'{"cells": [{"cell_type": "code", "sou',
        "blue_1008_empty.ipynb": b"",
        "homework_final_v2.ipynb": nbformat.writes(good).encode(),  # no student id in the name
    }


def write_sample_class(release: NotebookNode, source: NotebookNode, folder: Path,
                       atlas: tuple[str, Path] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sample_class(release, source, atlas).items():
        (folder / name).write_bytes(data)
    return folder
