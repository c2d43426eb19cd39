"""A two-exercise nbgrader source notebook: fast to grade, for the pipeline and self-check tests."""
from __future__ import annotations

import nbformat

ASSIGNMENT = "toy"

#: The test cells' trusted checks (their hidden regions): each cell's points split equally among them.
ADD_CHECKS = """### BEGIN HIDDEN TESTS
from itft_grader.checks import check


@check("add(1, 2) == 3", public=True, expect=3)
def small(add):
    return add(1, 2)


@check("a negative number", expect=0)
def opposite(add):
    return add(-1, 1)
### END HIDDEN TESTS
"""
MEAN_CHECKS = """### BEGIN HIDDEN TESTS
from itft_grader.checks import check


@check("mean([1, 2, 3]) == 2", public=True, expect=2.0)
def three(mean):
    return mean([1, 2, 3])


@check("a single value", expect=0.5)
def one(mean):
    return mean([0.5])


@check("mixed signs", expect=3.0)
def signed(mean):
    return mean([-4, 10])
### END HIDDEN TESTS
"""


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
        _cell("code", "assert add(1, 2) == 3\n" + ADD_CHECKS, grade=True, solution=False, locked=True, points=2,
              grade_id="add_tests"),
        _cell("code", "def mean(xs):\n    ### BEGIN SOLUTION\n    return sum(xs) / len(xs)\n    ### END SOLUTION",
              grade=False, solution=True, locked=False, grade_id="mean_code"),
        _cell("code", "import math\nassert math.isclose(mean([1, 2, 3]), 2.0)\n" + MEAN_CHECKS,
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
    from itft_grader.release.build import student_version

    nbformat.write(toy_solution(), folder / f"{ASSIGNMENT}.ipynb")
    settings = {"repo_url": "https://github.com/x/y", "branch": "main", "install_source": "itft-utils"}
    return student_version(ASSIGNMENT, folder / f"{ASSIGNMENT}.ipynb", settings)
