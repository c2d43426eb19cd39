"""Notebooks students already hold keep working: the last release's student notebooks
(``tests/released/``), with the solutions filled in, run in grading mode against this package."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (grader extra)")

from nbclient import NotebookClient  # noqa: E402

from itft_grader.course import solutions_dir  # noqa: E402
from itft_grader.sample_class import solved  # noqa: E402

RELEASED = sorted((Path(__file__).parent / "released").glob("*.ipynb"))


def test_there_is_a_release_to_check():
    assert {p.stem for p in RELEASED} == {p.stem for p in solutions_dir().glob("*.ipynb")}


@pytest.mark.slow
@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.stem)
def test_a_released_notebook_runs_against_this_package(path, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the small CPU version, as when graded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = nbformat.read(solutions_dir() / path.name, as_version=4)
    nb = solved(nbformat.read(path, as_version=4), source)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.get("ename"), o.get("evalue", "")[:300]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
