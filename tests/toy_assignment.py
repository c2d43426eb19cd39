"""A two-exercise nbgrader source notebook: fast to grade, for the pipeline and self-check tests."""
from __future__ import annotations

import nbformat

ASSIGNMENT = "toy"


def _cell(kind: str, source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **nbgrader}
    return cell


def toy_solution() -> nbformat.NotebookNode:
    locked = dict(grade=False, solution=False, locked=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell("md", "# Toy homework", grade_id="title", **locked),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
              grade=False, solution=True, locked=False, grade_id="add_code"),
        _cell("code", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(-1, 1) == 0\n### END HIDDEN TESTS",
              grade=True, solution=False, locked=True, points=2, grade_id="add_tests"),
        _cell("code", "def mean(xs):\n    ### BEGIN SOLUTION\n    return sum(xs) / len(xs)\n    ### END SOLUTION",
              grade=False, solution=True, locked=False, grade_id="mean_code"),
        _cell("code", "import math\nassert math.isclose(mean([1, 2, 3]), 2.0)\n### BEGIN HIDDEN TESTS\n"
              "assert math.isclose(mean([0.5]), 0.5)\n### END HIDDEN TESTS",
              grade=True, solution=False, locked=True, points=3, grade_id="mean_tests"),
        _cell("md", "Why is the mean sensitive to outliers?", grade_id="why_question", **locked),
        _cell("md", "Because every value counts with the same weight.", grade=True, solution=True, locked=False,
              points=1, grade_id="why_answer"),
    ]
    nb.cells[1].metadata["itft"] = {"forbidden": ["operator.add"]}  # the exercise may not hand back to this
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def release_toy(folder):
    """Write the toy source into ``folder`` (a solutions folder) and return nbgrader's student version."""
    from itft_grader.release import student_version

    nbformat.write(toy_solution(), folder / f"{ASSIGNMENT}.ipynb")
    settings = {"repo_url": "https://github.com/x/y", "branch": "main", "install_source": "itft-utils"}
    return student_version(ASSIGNMENT, folder / f"{ASSIGNMENT}.ipynb", settings)
