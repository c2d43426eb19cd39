"""The students' self-check: run in Colab (no nbgrader there) before downloading and submitting.

It reports, per exercise, whether the public tests pass, fail, or meet an unimplemented stub, and
whether the grading cells are intact (none deleted, duplicated or edited). It reads the current
notebook (Colab's own API, or a path) and the manifest the release wrote for the assignment.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path


@dataclass
class CheckResult:
    grade_id: str
    points: float
    status: str  # "pass", "not implemented", "fail", "error"
    message: str = ""


@dataclass
class SelfCheckReport:
    assignment: str
    results: list[CheckResult] = field(default_factory=list)
    metadata_problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.metadata_problems and all(r.status == "pass" for r in self.results)

    def __str__(self) -> str:
        lines = [f"Self-check of {self.assignment}: public tests only (hidden tests run at grading)"]
        for r in self.results:
            mark = {"pass": "ok  ", "not implemented": "todo", "fail": "FAIL", "error": "ERR "}[r.status]
            lines.append(f"  [{mark}] {r.grade_id} ({r.points:g} pt){': ' + r.message if r.message else ''}")
        if self.metadata_problems:
            lines.append("Grading cells:")
            lines += [f"  - {p}" for p in self.metadata_problems]
        else:
            lines.append("Grading cells: intact.")
        lines.append("Ready to submit." if self.ready else "Not ready yet: see above.")
        return "\n".join(lines)


def load_manifest(assignment: str) -> dict:
    """The release's list of grade cells for ``assignment`` (shipped inside the package)."""
    try:
        text = resources.files("itft_utils.manifests").joinpath(f"{assignment}.json").read_text()
    except FileNotFoundError:
        known = sorted(p.name[:-5] for p in resources.files("itft_utils.manifests").iterdir() if p.name.endswith(".json"))
        raise FileNotFoundError(f"no manifest for assignment {assignment!r}; known: {known}") from None
    return json.loads(text)


def current_notebook(path: str | Path | None = None) -> dict:
    """The notebook as saved: from ``path``, or from Colab's front end when running there."""
    if path is not None:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        from google.colab import _message
    except ImportError:
        raise RuntimeError("outside Colab, pass the notebook's path: check_notebook(name, path='hw1_mtl.ipynb')") from None
    return _message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"]


def check_metadata(notebook: dict, manifest: dict) -> list[str]:
    """Deleted, duplicated or edited grading cells, in words a student can act on."""
    seen: dict[str, list[dict]] = {}
    for cell in notebook.get("cells", []):
        gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
        if gid:
            seen.setdefault(gid, []).append(cell)
    problems = []
    for entry in manifest["cells"]:
        gid = entry["grade_id"]
        copies = seen.get(gid, [])
        if not copies:
            problems.append(f"cell {gid!r} is missing or lost its grading metadata: copy it back from a fresh copy of the notebook")
            continue
        if len(copies) > 1:
            problems.append(f"cell {gid!r} appears {len(copies)} times: delete the copies you made")
        if "source_sha256" in entry:
            source = copies[0].get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if hashlib.sha256(source.encode()).hexdigest() != entry["source_sha256"]:
                problems.append(f"locked cell {gid!r} was edited: grading uses the original, so undo your change")
    return problems


def partial_credit(checks: Mapping[str, Callable[[], bool]], points: float) -> float:
    """The score of a partial-credit test cell: ``points`` times the share of ``checks`` that hold.

    Each check runs on its own, so one case that raises (say, a division by zero on an empty answer)
    costs its share only; its failure is printed with the exception. A stub that still raises
    ``NotImplementedError`` is re-raised: an untouched exercise errors, as every other test cell does.
    Printing goes to stdout (nbgrader scores a test cell that writes to stderr 0), warnings included:
    a numpy ``RuntimeWarning`` from the student's code is reported with its check, not scored 0."""
    passed = 0
    for name, check in checks.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ok = bool(check())
            except NotImplementedError:
                raise
            except Exception as exc:  # noqa: BLE001 - the student's code may raise anything
                print(f"failed: {name} ({type(exc).__name__}: {exc})")
                continue
            finally:
                for w in caught:
                    print(f"warning in {name}: {w.category.__name__}: {w.message}")
        if not ok:
            print(f"failed: {name}")
        passed += ok
    return round(points * passed / len(checks), 2)


def _run_cell(source: str, name: str, namespace: dict):
    """Execute a cell like IPython does and return the value of its last expression (or None)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, f"<{name}>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), namespace) if isinstance(last, ast.Expr) else None


def run_public_tests(manifest: dict, namespace: dict, exercise: str | None = None) -> list[CheckResult]:
    """Run each public test cell's source in ``namespace`` (the notebook's own variables)."""
    results = []
    for entry in manifest["cells"]:
        if "source" not in entry or (exercise and exercise not in entry["grade_id"]):
            continue
        sink = io.StringIO()
        points = entry.get("points", 0)
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                score = _run_cell(entry["source"], entry["grade_id"], namespace)
            if isinstance(score, (int, float)) and not isinstance(score, bool) and score < points:
                # nbgrader's partial credit: a test cell that ends in a number scores that number.
                result = CheckResult(entry["grade_id"], points, "fail",
                                     f"partial credit {score:g}/{points:g}; the cell's output says what failed")
            else:
                result = CheckResult(entry["grade_id"], points, "pass")
        except NotImplementedError:
            result = CheckResult(entry["grade_id"], points, "not implemented", "still raises NotImplementedError")
        except AssertionError as exc:
            result = CheckResult(entry["grade_id"], points, "fail", str(exc) or "an assertion failed")
        except Exception as exc:  # the student's code raised: report it, do not stop the check
            result = CheckResult(entry["grade_id"], points, "error", f"{type(exc).__name__}: {exc}")
        results.append(result)
    return results


def check_notebook(assignment: str, path: str | Path | None = None, exercise: str | None = None,
                   namespace: dict | None = None) -> SelfCheckReport | None:
    """Print and return the self-check report; does nothing while nbgrader grades the notebook."""
    if os.environ.get("NBGRADER_EXECUTION"):
        print("self-check skipped: the notebook is being graded")
        return None
    manifest = load_manifest(assignment)
    if namespace is None:
        from IPython import get_ipython

        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
    report = SelfCheckReport(assignment, run_public_tests(manifest, namespace, exercise))
    if exercise is None:
        try:
            report.metadata_problems = check_metadata(current_notebook(path), manifest)
        except RuntimeError as exc:
            report.metadata_problems = [f"metadata not checked: {exc}"]
    print(report)
    return report
