"""Notebooks students already hold keep working: the last release's student notebooks as a perfect
student of that term hands them in (``tests/released/``: that release's notebooks with that release's
solutions filled in) run in grading mode against this package. To refresh them at a release::

    python -c "import nbformat; from itft_grader.release.sample_class import solved; [nbformat.write(solved(
        nbformat.read(f'notebooks/{n}.ipynb', 4), nbformat.read(f'solutions/{n}.ipynb', 4)), f'tests/released/{n}.ipynb')
        for n in ('hw1_mtl', 'hw2_intermediate', 'hw3_taskemb')]"
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbclient", reason="running notebooks needs nbclient (grader extra)")

from nbclient import NotebookClient  # noqa: E402

from itft_grader.course import solutions_dir  # noqa: E402

RELEASED = sorted((Path(__file__).parent / "released").glob("*.ipynb"))


def test_there_is_a_release_to_check():
    assert {p.stem for p in RELEASED} == {p.stem for p in solutions_dir().glob("*.ipynb")}


@pytest.mark.slow
@pytest.mark.parametrize("path", RELEASED, ids=lambda p: p.stem)
def test_a_released_notebook_runs_against_this_package(path, tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the small CPU version, as when graded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [(i, o.get("ename"), o.get("evalue", "")[:300]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
