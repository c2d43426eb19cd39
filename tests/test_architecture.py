"""The package's shape, drawn from its imports: engines know no modes and load no data (the course
layer, itft_utils.homework, does), no two modules import each other (directly or round a circle, at
any depth), the library never imports the grading package, and no module grows past what one reader
holds in mind."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "itft_utils"
#: Modules that train, evaluate or embed: they take tasks, examples and settings.
ENGINES = ("training", "finetune", "mtl", "mtl_training", "mtl_sweep", "mtl_history", "transfer", "taskemb", "fisher", "selection", "encoding",
           "qa", "metrics", "models", "files", "plots")
#: What an engine may take from the data package: the task types and seeded subsampling, not loaders.
DATA_TYPES = {"itft_utils.data.task", "itft_utils.data.splits", "itft_utils.data.errors"}
MODE_NAMES = {"detect_mode", "get_preset", "PRESETS", "Preset"}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: Path) -> list[tuple[str, set[str]]]:
    """(absolute module, imported names) for every import in the file, at any depth (a function's
    lazy import is an arrow too)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((base, {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            found.extend((a.name, set()) for a in node.names)
    return found


def _import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports; ``from pkg import mod`` is an arrow to ``pkg.mod``."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        arrows = set()
        for module, names in _imports(path):
            submodules = {f"{module}.{n}" for n in names} & modules.keys()
            arrows |= submodules or ({module} & modules.keys())
        graph[name] = arrows - {name}
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_know_no_modes_and_load_no_data(engine):
    problems = []
    for module, names in _imports(PACKAGE / f"{engine}.py"):
        if module == "itft_utils.homework" or (module == "itft_utils" and "homework" in names):
            problems.append("imports the course layer")
        if module.startswith("itft_utils.data") and module not in DATA_TYPES:
            problems.append(f"imports {sorted(names) or module} from {module} (a loader; the course layer loads data)")
        if module == "itft_utils.runtime" and names & MODE_NAMES:
            problems.append(f"imports {sorted(names & MODE_NAMES)} (modes belong to itft_utils.homework)")
    assert not problems, f"itft_utils/{engine}.py: " + "; ".join(problems)


def test_no_module_imports_itself_round_a_circle():
    assert _circles(_import_graph()) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_the_grading_package():
    offenders = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                 if any(m.split(".")[0] in ("itft_grader", "nbgrader") for m, _ in _imports(p))]
    assert offenders == []


def test_no_module_is_longer_than_one_reader_holds_in_mind():
    root = PACKAGE.parent
    long = {str(p.relative_to(root)): n for p in [*PACKAGE.rglob("*.py"), *(root / "itft_grader").rglob("*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these by responsibility: {long}"
