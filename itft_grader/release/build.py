"""Release: regenerate ``notebooks/`` from ``solutions/`` with nbgrader's generate_assignment.

On top of nbgrader's student version we add an "Open in Colab" badge, a setup cell that installs
``itft_utils`` in Colab without touching its torch or numpy, and a self-check cell; and we write a
manifest of the grade cells (``itft_utils/manifests/<assignment>.json``) that the self-check uses
in Colab, where nbgrader cannot be installed. ``check`` is what CI runs: it fails when a release is
out of date or leaks solution code or hidden tests.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import nbformat
from nbformat import NotebookNode

import itft_utils
from itft_grader.course import assignments, generate_assignment, make_course, manifests_dir, notebooks_dir, solutions_dir
from itft_grader.regions import HIDDEN_REGION, SOLUTION_REGION

SETTINGS = Path(__file__).resolve().parents[1] / "release.toml"
ADDED = ("itft-colab-badge", "itft-setup", "itft-selfcheck")  # ids of the cells the release adds

SETUP_CODE = '''\
# Setup: run this cell first. In Colab it installs itft_utils {version} without touching Colab's torch
# or numpy, and checks the install here, before any exercise needs it.
import os, subprocess, sys
from importlib import metadata
ITFT_SOURCE, ITFT_VERSION = "{install_source}", "{version}"
os.environ.setdefault("ITFT_ATLAS_HOME", "{atlas_home}")  # the course's class atlas: its plan and interim matrix
if "google.colab" in sys.modules and not os.environ.get("NBGRADER_EXECUTION"):
    _before = {{name: metadata.version(name) for name in ("torch", "numpy")}}
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", ITFT_SOURCE], capture_output=True, text=True)
    if _pip.returncode != 0:
        print(_pip.stdout[-2000:], _pip.stderr[-2000:], sep="\\n")
        raise RuntimeError(f"Installing {{ITFT_SOURCE}} failed (pip's words are above). Reconnect (Runtime > Reconnect) "
                           "and run this cell again; if it fails again, send the message above to the course staff.")
    _after = {{name: metadata.version(name) for name in ("torch", "numpy")}}
    print("torch and numpy unchanged:" if _before == _after else
          "WARNING: pip changed torch or numpy; Runtime > Restart session, then run this cell again:", _after)
RUNS_ON_DRIVE = False  # True in Colab: keep the long runs on Google Drive, so that a disconnect does not lose them
if RUNS_ON_DRIVE and "google.colab" in sys.modules and not os.environ.get("NBGRADER_EXECUTION"):
    from google.colab import drive
    drive.mount("/content/drive")
    os.environ["ITFT_RUNS_DIR"] = "/content/drive/MyDrive/itft-runs"
    print("runs are saved in", os.environ["ITFT_RUNS_DIR"], "(rerun a long cell to resume it)")
try:
    import itft_utils
except ImportError as exc:
    raise RuntimeError(f"itft_utils cannot be imported ({{exc}}): run this cell again (in Colab after "
                       "Runtime > Restart session); if that fails, send this message to the course staff.") from None
if itft_utils.__version__ != ITFT_VERSION:
    print(f"WARNING: this notebook was released with itft_utils {{ITFT_VERSION}}, this session has "
          f"{{itft_utils.__version__}}: Runtime > Restart session and run this cell again.")
import torch
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
elif not os.environ.get("NBGRADER_EXECUTION"):
    print("No GPU. In Colab: Runtime > Change runtime type > T4 GPU, then run this cell again. "
          "Without a GPU the notebook runs its small CPU version.")
'''
SELFCHECK_CODE = '''\
# Self-check before you submit: which exercises pass, which are unimplemented, and whether the
# grading cells are intact. Then File > Download > Download .ipynb and submit that file.
from itft_utils.selfcheck import check_notebook
report = check_notebook("{assignment}")
'''


def load_settings(path: Path = SETTINGS) -> dict:
    with open(path, "rb") as f:
        return tomllib.load(f)


def colab_url(assignment: str, settings: dict) -> str:
    repo = settings["repo_url"].removeprefix("https://github.com/").rstrip("/")
    branch = settings["branch"].format(version=itft_utils.__version__)
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{assignment}.ipynb"


def _added_cells(assignment: str, settings: dict) -> tuple[NotebookNode, NotebookNode, NotebookNode]:
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(assignment, settings)})")
    version = itft_utils.__version__
    setup = nbformat.v4.new_code_cell(SETUP_CODE.format(install_source=settings["install_source"].format(version=version),
                                                        version=version, atlas_home=settings.get("atlas_home", "")))
    selfcheck = nbformat.v4.new_code_cell(SELFCHECK_CODE.format(assignment=assignment))
    for cell, cell_id in zip((badge, setup, selfcheck), ADDED):
        cell["id"] = cell_id
    return badge, setup, selfcheck


def manifest(release: NotebookNode, assignment: str, source: NotebookNode | None = None) -> dict:
    """Grade cells of the release in order, with a hash of each locked cell's source; with the
    ``source`` notebook, which test cells also hold hidden tests (the self-check says the public
    ones do not cover everything there)."""
    hidden = {c.metadata.get("nbgrader", {}).get("grade_id") for c in (source.cells if source else [])
              if c.cell_type == "code" and HIDDEN_REGION.search(c.source)}
    cells = []
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        entry = {k: meta.get(k) for k in ("grade_id", "grade", "solution", "locked", "points") if k in meta}
        entry["cell_type"] = cell.cell_type
        if meta.get("locked"):
            entry["source_sha256"] = hashlib.sha256(cell.source.encode()).hexdigest()
        if meta.get("grade") and not meta.get("solution") and cell.cell_type == "code":
            entry["source"] = cell.source  # public tests: the self-check runs them
            entry["hidden_tests"] = meta.get("grade_id") in hidden
        cells.append(entry)
    return {"assignment": assignment, "cells": cells}


def student_version(assignment: str, source: Path, settings: dict) -> NotebookNode:
    """nbgrader's student version of ``source`` plus the badge, setup and self-check cells."""
    with tempfile.TemporaryDirectory(prefix="itft-release-") as tmp:
        release_path = generate_assignment(make_course(Path(tmp), assignment, source), assignment)
        nb = nbformat.read(release_path, as_version=4)
    badge, setup, selfcheck = _added_cells(assignment, settings)
    title = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
    nb.cells[title:title] = [badge, setup]
    nb.cells.append(selfcheck)
    for cell in nb.cells:
        cell.metadata.pop("itft", None)  # grader-side declarations (names an answer may not call)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["colab"] = {"provenance": []}
    nb.metadata["accelerator"] = "GPU"
    return nb


def release(names: list[str] | None = None, solutions: Path | None = None, notebooks: Path | None = None,
            manifests: Path | None = None) -> list[Path]:
    """Write the student version and manifest of each assignment (all by default), in the course folder
    unless told otherwise."""
    solutions, notebooks = Path(solutions or solutions_dir()), Path(notebooks or notebooks_dir())
    manifests = Path(manifests or manifests_dir())
    settings = load_settings()
    written = []
    for name in names or assignments(solutions):
        nb = student_version(name, Path(solutions) / f"{name}.ipynb", settings)
        notebooks.mkdir(parents=True, exist_ok=True)
        manifests.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, notebooks / f"{name}.ipynb")
        source = nbformat.read(Path(solutions) / f"{name}.ipynb", as_version=4)
        (manifests / f"{name}.json").write_text(json.dumps(manifest(nb, name, source), indent=1) + "\n")
        written.append(notebooks / f"{name}.ipynb")
    return written


def leaks(source: NotebookNode, student: NotebookNode) -> list[str]:
    """Solution code or hidden-test text of ``source`` that appears in ``student``."""
    text = "\n".join(c.source for c in student.cells)
    problems = [f"marker {m!r} in the release" for m in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS") if m in text]
    public = "\n".join(SOLUTION_REGION.sub("", HIDDEN_REGION.sub("", c.source)) for c in source.cells)
    student_lines = {line.strip() for line in text.splitlines()}
    for cell in source.cells:
        for region, kind in ((SOLUTION_REGION, "solution"), (HIDDEN_REGION, "hidden test")):
            for block in region.findall(cell.source):
                for line in block.splitlines():
                    line = line.strip()
                    # Lines that also occur outside the regions (e.g. "return x") reveal nothing.
                    if len(line) > 12 and line in student_lines and line not in public:
                        problems.append(f"{kind} line in the release: {line[:70]!r}")
    return problems


def check(solutions: Path | None = None, notebooks: Path | None = None, manifests: Path | None = None) -> list[str]:
    """Problems that make the committed release wrong: stale, missing, or leaking."""
    solutions, notebooks = Path(solutions or solutions_dir()), Path(notebooks or notebooks_dir())
    manifests = Path(manifests or manifests_dir())
    settings = load_settings()
    problems = []
    for name in assignments(solutions):
        source = nbformat.read(Path(solutions) / f"{name}.ipynb", as_version=4)
        committed_path = Path(notebooks) / f"{name}.ipynb"
        if not committed_path.exists():
            problems.append(f"{committed_path} is missing: run `itft release`")
            continue
        committed = nbformat.read(committed_path, as_version=4)
        fresh = student_version(name, Path(solutions) / f"{name}.ipynb", settings)
        if nbformat.writes(fresh) != nbformat.writes(committed):
            problems.append(f"{committed_path} is out of date with {solutions}/{name}.ipynb: run `itft release`")
        manifest_path = Path(manifests) / f"{name}.json"
        if not manifest_path.exists() or json.loads(manifest_path.read_text()) != manifest(fresh, name, source):
            problems.append(f"{manifest_path} is missing or out of date: run `itft release`")
        problems += [f"{committed_path}: {p}" for p in leaks(source, committed)]
    return problems
