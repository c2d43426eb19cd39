"""Write every released notebook with the solutions filled in (a perfect student) to a folder. The perfect
student also writes a student id, so that outside grading mode Homework 2's Part 7 runs their atlas cells.

    .venv/bin/python scripts/perfect_students.py OUT_DIR
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from itft_grader.course import assignments, notebooks_dir, solutions_dir
from itft_grader.release.sample_class import solved

STUDENT_ID = "10001"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in assignments():
        release = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
        source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
        nb = solved(release, source)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = cell.source.replace('STUDENT_ID = ""', f'STUDENT_ID = "{STUDENT_ID}"', 1)
        nbformat.write(nb, out / f"{name}.ipynb")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
