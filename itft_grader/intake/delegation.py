"""Flag answers that hand the exercise back to the course package instead of writing it.

The exercise names come from the notebook itself: every function or class an answer cell of the
release defines (``def temperature_distribution(...)`` in a solution region), plus any names a cell declares
in its metadata (``"itft": {"forbidden": ["itft_utils.metrics.f1_score"]}``). Where ``itft_utils`` has
something of the same name, an answer cell that imports it, reaches it through a module alias or
``getattr``, or imports the grading package at all, is flagged with the cell and the line. The
package's modules are read as source (no import: the grader does not load torch to check a file).
"""
from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

from nbformat import NotebookNode

from itft_grader.intake.syntax import parse

GRADING_PACKAGES = {"itft_grader", "autograder"}  # the second: its former name


@functools.cache
def _library_names(package: str = "itft_utils") -> dict[str, set[str]]:
    """Top-level names of each module of the package: {"itft_utils.mtl": {"proportional_probs", ...}}."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations)))
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            tree = parse(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            continue
        if tree is None:
            continue
        defined = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.ImportFrom):
                defined.update(a.asname or a.name for a in node.names)
        modules[name] = defined
    return modules


def _is_answer(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def forbidden_names(release: NotebookNode, package: str = "itft_utils") -> set[str]:
    """Dotted names (``itft_utils.metrics.squad_metrics``) an answer may not call."""
    exercises: set[str] = set()
    declared: set[str] = set()
    for cell in release.cells:
        if not _is_answer(cell):
            continue
        declared.update(cell.metadata.get("itft", {}).get("forbidden", []))
        tree = parse(cell.source)
        if tree is None:
            continue
        exercises.update(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    found = {f"{module}.{name}" for module, names in _library_names(package).items() for name in names & exercises}
    return found | declared


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def scan_for_delegation(nb: NotebookNode, forbidden: set[str]) -> list[str]:
    """Flags for answer cells that import the grading package or reach a forbidden name."""
    flags = []
    short = {name.rsplit(".", 1)[1] for name in forbidden}
    for n, cell in enumerate(nb.cells, start=1):
        if not _is_answer(cell):
            continue
        tree = parse(cell.source)
        if tree is None:
            continue
        aliases: dict[str, str] = {}  # local name -> dotted module or object it stands for
        hits: list[tuple[int, str]] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in GRADING_PACKAGES:
                        hits.append((node.lineno, f"imports the grading package ({a.name})"))
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module.split(".")[0] in GRADING_PACKAGES:
                    hits.append((node.lineno, f"imports the grading package ({node.module})"))
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    aliases[a.asname or a.name] = full
                    if full in forbidden:
                        hits.append((node.lineno, f"imports {full}, the course package's version of this exercise"))
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Attribute):
                dotted = _dotted(node)
                head = dotted.split(".", 1) if dotted else None
                if head and head[0] in aliases and len(head) > 1:
                    target = f"{aliases[head[0]]}.{head[1]}"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in short:
                owner = _dotted(node.args[0])
                if owner:
                    head = owner.split(".", 1)
                    target = ".".join([aliases.get(head[0], head[0]), *head[1:], node.args[1].value])
            if target in forbidden:
                hits.append((getattr(node, "lineno", 0), f"calls {target}, the course package's version of this exercise"))
        flags += [f"cell {n}, line {line}: {what}" for line, what in sorted(set(hits))]
    return flags
