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
    hidden_tests: bool = False  # grading also runs hidden tests that the public ones do not cover


@dataclass
class SelfCheckReport:
    assignment: str
    results: list[CheckResult] = field(default_factory=list)
    metadata_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked here (not a reason to wait)

    @property
    def ready(self) -> bool:
        return not self.metadata_problems and all(r.status == "pass" for r in self.results)

    def __str__(self) -> str:
        lines = [f"Self-check of {self.assignment}: public tests only (hidden tests run at grading)"]
        for r in self.results:
            mark = {"pass": "ok  ", "not implemented": "todo", "fail": "FAIL", "error": "ERR "}[r.status]
            more = " (public checks only: hidden tests check more cases)" if r.hidden_tests and r.status == "pass" else ""
            lines.append(f"  [{mark}] {r.grade_id} ({r.points:g} pt){more}{': ' + r.message if r.message else ''}")
        if self.metadata_problems:
            lines.append("Grading cells:")
            lines += [f"  - {p}" for p in self.metadata_problems]
        elif not self.notes:
            lines.append("Grading cells: intact.")
        lines += [f"Note: {n}" for n in self.notes]
        hidden = [r.grade_id for r in self.results if r.hidden_tests]
        if self.ready:
            lines.append("Ready to submit" + (f" (hidden tests still grade {len(hidden)} of the exercises: an `ok` "
                                              "above is necessary, not sufficient)." if hidden else "."))
        else:
            lines.append("Not ready yet: see above.")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython shows a returned report as the text above
        printer.text(str(self))


def load_manifest(assignment: str) -> dict:
    """The release's list of grade cells for ``assignment`` (shipped inside the package)."""
    try:
        text = resources.files("itft_utils.manifests").joinpath(f"{assignment}.json").read_text()
    except FileNotFoundError:
        known = sorted(p.name[:-5] for p in resources.files("itft_utils.manifests").iterdir() if p.name.endswith(".json"))
        raise FileNotFoundError(f"no manifest for assignment {assignment!r}; known: {known}") from None
    return json.loads(text)


def current_notebook(path: str | Path | None = None, assignment: str = "") -> dict:
    """The notebook as saved: from ``path``, from Colab's front end when running there, else from
    ``<assignment>.ipynb`` in the working folder (where Jupyter starts a notebook's kernel)."""
    if path is None:
        try:
            from google.colab import _message
        except ImportError:
            path = Path(f"{assignment}.ipynb")
            if not path.exists():
                raise RuntimeError(f"no {path} in {Path.cwd()}: pass the notebook's path, "
                                   f"check_notebook({assignment!r}, path='.../{assignment}.ipynb')") from None
        else:
            return _message.blocking_request("get_ipynb", timeout_sec=60)["ipynb"]
    return json.loads(Path(path).read_text(encoding="utf-8"))


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


def run_cell(source: str, name: str, namespace: dict):
    """Execute a cell like IPython does and return the value of its last expression (or None)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, f"<{name}>", "exec"), namespace)
    return eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), namespace) if isinstance(last, ast.Expr) else None


def _explain_assertion(exc: AssertionError, source: str, name: str, namespace: dict) -> str:
    """The failed check in words a student can act on: the assert line of the test cell, and for a
    comparison what the left side gave next to what the right side expects."""
    line = next((tb.tb_lineno for tb in _frames(exc.__traceback__) if tb.tb_frame.f_code.co_filename == f"<{name}>"), None)
    node = next((n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assert) and n.lineno == line), None)
    if node is None:
        return str(exc) or "an assertion failed"
    text = f"check failed: assert {ast.unparse(node.test)}" + (f" ({exc})" if str(exc) else "")
    test = node.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        try:
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = eval(compile(ast.Expression(test.left), f"<{name}>", "eval"), namespace)
                want = eval(compile(ast.Expression(test.comparators[0]), f"<{name}>", "eval"), namespace)
        except Exception:  # noqa: BLE001 - the sides may need the cell's loop variables: say what we can
            return text
        text += f"\n         got {_short(got)}; expected {_op(test.ops[0])} {_short(want)}"
    return text


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _op(op: ast.cmpop) -> str:
    return {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Is: "is",
            ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}.get(type(op), "?")


def _short(value, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_public_tests(manifest: dict, namespace: dict, exercise: str | None = None) -> list[CheckResult]:
    """Run each public test cell's source in ``namespace`` (the notebook's own variables)."""
    results = []
    for entry in manifest["cells"]:
        if "source" not in entry or (exercise and exercise not in entry["grade_id"]):
            continue
        sink = io.StringIO()
        points, gid = entry.get("points", 0), entry["grade_id"]
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                score = run_cell(entry["source"], gid, namespace)
            if isinstance(score, (int, float)) and not isinstance(score, bool) and score < points:
                # nbgrader's partial credit: a test cell that ends in a number scores that number.
                failed = [line for line in sink.getvalue().splitlines() if line.startswith(("failed:", "warning in"))]
                result = CheckResult(gid, points, "fail", f"partial credit {score:g}/{points:g}" +
                                     "".join(f"\n         {line}" for line in failed))
            else:
                result = CheckResult(gid, points, "pass")
        except NotImplementedError:
            result = CheckResult(gid, points, "not implemented", "still raises NotImplementedError")
        except AssertionError as exc:
            result = CheckResult(gid, points, "fail", _explain_assertion(exc, entry["source"], gid, namespace))
        except Exception as exc:  # the student's code raised: report it, do not stop the check
            result = CheckResult(gid, points, "error", f"{type(exc).__name__}: {exc}")
        result.hidden_tests = bool(entry.get("hidden_tests"))
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
            report.metadata_problems = check_metadata(current_notebook(path, assignment), manifest)
        except RuntimeError as exc:
            report.notes = [f"grading cells not checked (save the notebook first): {exc}"]
    print(report)
    return report
