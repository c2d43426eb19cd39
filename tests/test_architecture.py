"""The package's shape, drawn from its imports: engines know no modes and load no data (the course
layer, itft_utils.homework, does), the library never imports the grading package, and no module
grows past what one reader holds in mind."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "itft_utils"
#: Modules that train, evaluate or embed: they take tasks, examples and settings.
ENGINES = ("training", "finetune", "mtl", "mtl_training", "mtl_sweep", "mtl_history", "transfer", "taskemb", "fisher", "selection", "encoding",
           "qa", "metrics", "models", "files", "plots")
#: What an engine may take from the data package: the task types and seeded subsampling, not loaders.
DATA_TYPES = {"itft_utils.data.task", "itft_utils.data.splits"}
MODE_NAMES = {"detect_mode", "get_preset", "PRESETS", "Preset"}
MAX_LINES = 600


def _imports(path: Path, compat: bool = True) -> list[tuple[str, set[str]]]:
    """(absolute module, imported names) for every import in the file, at any depth. ``compat=False``
    leaves out a module-level ``__getattr__`` (PEP 562), where names that released notebooks import
    from an engine are resolved lazily from the course layer."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if not compat:
        tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == "__getattr__")]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            found.append((base, {a.name for a in node.names}))
        elif isinstance(node, ast.Import):
            found.extend((a.name, set()) for a in node.names)
    return found


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_know_no_modes_and_load_no_data(engine):
    problems = []
    for module, names in _imports(PACKAGE / f"{engine}.py", compat=False):
        if module == "itft_utils.homework" or (module == "itft_utils" and "homework" in names):
            problems.append("imports the course layer")
        if module.startswith("itft_utils.data") and module not in DATA_TYPES:
            problems.append(f"imports {sorted(names) or module} from {module} (a loader; the course layer loads data)")
        if module == "itft_utils.runtime" and names & MODE_NAMES:
            problems.append(f"imports {sorted(names & MODE_NAMES)} (modes belong to itft_utils.homework)")
    assert not problems, f"itft_utils/{engine}.py: " + "; ".join(problems)


def test_names_released_notebooks_import_from_engines_still_resolve():
    from itft_utils import homework, mtl_training, transfer

    assert mtl_training.load_task_pair is homework.load_task_pair
    assert transfer.homework_experiment is homework.homework_experiment
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        transfer.nothing  # noqa: B018


def test_the_library_never_imports_the_grading_package():
    offenders = [str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                 if any(m.split(".")[0] in ("itft_grader", "nbgrader") for m, _ in _imports(p))]
    assert offenders == []


def test_no_module_is_longer_than_one_reader_holds_in_mind():
    root = PACKAGE.parent
    long = {str(p.relative_to(root)): n for p in [*PACKAGE.rglob("*.py"), *(root / "itft_grader").rglob("*.py")]
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these by responsibility: {long}"
