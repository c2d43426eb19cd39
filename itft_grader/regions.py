"""The regions nbgrader's source notebooks mark: the solution (replaced in the student version) and the
hidden tests (dropped from it). A module of its own, with nothing else imported, so that code which
only reads notebooks (``bench/colab_dry_run.py`` on a machine without Jupyter) needs no nbformat."""
import re

SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
