"""Run every notebook of a folder top to bottom, as a student's kernel would, and say which cells failed.

Standalone on purpose (nbclient and nbformat only): it runs inside the clean student environments of
check_student_build.sh and check_colab_like.sh, where neither this checkout nor the grader is installed.
The mode comes from the environment (NBGRADER_EXECUTION for grading, ITFT_MODE otherwise).

    python scripts/run_notebooks.py FOLDER LABEL      (exit 1 when a cell failed)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def main(folder: Path, label: str) -> int:
    status = 0
    for path in sorted(folder.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        NotebookClient(nb, timeout=3600, kernel_name="python3", allow_errors=True).execute()
        minutes = (time.perf_counter() - started) / 60
        errors = [(i, o.get("ename"), o.get("evalue", "")[:200]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
                  for o in c.get("outputs", []) if o.get("output_type") == "error"]
        print(f"{path.stem}: " + (f"every cell ran in {label} mode" if not errors else f"{len(errors)} cells failed: {errors}")
              + f" ({minutes:.1f} min)", flush=True)
        status |= bool(errors)
    return status


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
