"""How much the reference solutions ask students to write, and how much of it is input validation:
per homework, the code lines between the solution markers of its answer cells (blank lines and
comments left out), and the share that checks input: a ``raise`` or the ``if`` guarding it, or a call of
the provided checks (``itft_utils.validation``'s ``require_*``).

    .venv/bin/python scripts/solution_lines.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def count(notebook: Path) -> tuple[int, int, int]:
    """(answer cells, solution lines, validation lines) of one solution notebook."""
    cells = lines = validation = 0
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        cells += 1
        for block in SOLUTION.findall(cell.source):
            code = [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
            lines += len(code)
            for i, line in enumerate(code):
                if (line.startswith("raise ") or re.search(r"\brequire_\w+\(", line)
                        or (line.startswith("if ") and i + 1 < len(code) and code[i + 1].startswith("raise "))):
                    validation += 1
    return cells, lines, validation


def main() -> int:
    print("| homework | answer cells | solution lines | validation lines (raise and its if, require_ calls) | share |")
    print("|---|---|---|---|---|")
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells, lines, validation = count(path)
        print(f"| {path.stem} | {cells} | {lines} | {validation} | {100 * validation / max(lines, 1):.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
