"""Library functions that behave like an exercise, whatever their name (issue 31).

A student could pass an exercise by calling a library function that computes the same thing under
another name. The publish check therefore runs every exercise's own trusted checks on every function
of the student library: each check that takes only the exercise's function and compares its
answer with a value or with the grading package's reference. A library function that passes all of an
exercise's checks (at least two) earns that exercise's marks, so it is an answer in what students install.

The scan calls hundreds of library functions with arguments meant for others, so it runs in a child
process of its own (``python -m itft_grader.release.twins``), in an empty working folder, offline, with
a time limit per call. It contains a call's files and time, not every side effect: a function that changes the
process's global state (torch's settings, the environment) changes it for the calls after it, which may then fail
to match (the scan errs towards finding nothing, never towards refusing a sound library).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import os
import pkgutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat

from itft_grader.checks.spec import REFERENCE, Check, CheckedCell, load_checks
from itft_grader.course import assignments, solutions_dir

CALL_SECONDS = 5  # a library function called with another exercise's arguments fails or returns fast
SCAN_SECONDS = 600


def exercise_checks(solutions: Path) -> Iterator[tuple[str, str, list[Check]]]:
    """(assignment, exercise function, its checks) for every exercise with two or more checks that take the
    function alone and compare its answer with a value or the reference (a loose ``expect`` is left out)."""
    for name in assignments(solutions):
        cells = load_checks(nbformat.read(solutions / f"{name}.ipynb", as_version=4))
        by_function: dict[str, list[Check]] = {}
        for cell in cells.values():
            for c in cell.checks:
                if len(c.parameters) == 1 and c.on == "kernel" and (c.expect is REFERENCE or not callable(c.expect)):
                    by_function.setdefault(c.parameters[0], []).append(c)
        for function, checks in by_function.items():
            if len(checks) >= 2:
                yield name, function, checks


def library_functions(package: str) -> dict[str, Callable]:
    """Every function a module of ``package`` defines at its top level, private ones too (a student can import
    ``_tokens`` as easily as ``tokens``): {"module.name": function}."""
    root = importlib.import_module(package)
    found: dict[str, Callable] = {}
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        try:
            module = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - an optional dependency missing: that module offers nothing here
            continue
        for attr, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == info.name and not attr.startswith("__"):
                found[f"{info.name}.{attr}"] = value
    return found


def _takes(function: Callable, count: int) -> bool:
    try:
        inspect.signature(function).bind(*range(count))
    except (TypeError, ValueError):
        return False
    return True


def _answer(check: Check, function_name: str, function: Callable) -> dict[str, Any]:
    """The check's answer on ``function``, or an error. A call is interrupted after :data:`CALL_SECONDS` and
    every second after that, so a function that catches the first interruption meets the next."""
    from itft_grader.checks.scoring import run_here

    def stop(*_: Any) -> None:
        raise TimeoutError(f"longer than {CALL_SECONDS} s")

    signal.signal(signal.SIGALRM, stop)
    try:
        signal.setitimer(signal.ITIMER_REAL, CALL_SECONDS, 1.0)
        with contextlib.redirect_stderr(io.StringIO()):
            [answer] = run_here(CheckedCell("twin", 1.0, [check]), {function_name: function})
    except Exception as exc:  # noqa: BLE001 - whatever the call did, it is not an answer (Ctrl-C still stops the scan)
        answer = {"error": type(exc).__name__}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return answer


def scan(solutions: Path, package: str, only: set[str] | None = None) -> list[str]:
    """The problems: each library function that passes every check of an exercise (of ``only``, when given)."""
    from itft_grader.checks import references
    from itft_grader.checks.scoring import verdict

    candidates = library_functions(package)
    problems = []
    for assignment, function_name, checks in exercise_checks(solutions):
        if only is not None and function_name not in only:
            continue
        reference = getattr(references, function_name, None)
        wanted = {c.name: _answer(c, function_name, reference) if c.expect is REFERENCE and reference else None for c in checks}
        checks = [c for c in checks if c.expect is not REFERENCE or "value" in (wanted[c.name] or {})]  # comparable only
        arity = len([p for p in inspect.signature(reference).parameters.values()
                     if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) if reference else None
        for qualified, candidate in candidates.items():
            if len(checks) < 2 or (arity is not None and not _takes(candidate, arity)):
                continue
            if all(verdict(c, _answer(c, function_name, candidate), wanted[c.name]).passed for c in checks):
                problems.append(f"{assignment}: the library's {qualified} passes every check of the exercise "
                                f"{function_name} ({len(checks)}): it is an answer under another name")
    return problems


def twin_problems(solutions: Path | None = None, package_dir: Path | None = None, only: set[str] | None = None) -> list[str]:
    """:func:`scan` in a child process: offline, in an empty folder, the library found at ``package_dir``; ``only``
    limits it to those exercises' functions (the tests' positive control)."""
    import itft_utils

    solutions = Path(solutions or solutions_dir()).resolve()
    package_dir = Path(package_dir or Path(itft_utils.__file__).parent).resolve()
    grader_root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(package_dir.parent), str(grader_root), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as empty:
        try:
            done = subprocess.run([sys.executable, "-m", "itft_grader.release.twins", "--solutions", str(solutions),
                                   "--package", package_dir.name, "--answer", str(Path(empty) / "answer.json"),
                                   *(["--only", ",".join(sorted(only))] if only else [])], cwd=empty,
                                  env=env, capture_output=True, text=True, timeout=SCAN_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            return [f"the behaviour scan of {package_dir} did not finish in {SCAN_SECONDS} s"]
        answer = Path(empty) / "answer.json"
        if done.returncode != 0 or not answer.exists():
            return [f"the behaviour scan of {package_dir} failed: {done.stderr.strip()[-1500:]}"]
        return json.loads(answer.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--solutions", type=Path, required=True)
    parser.add_argument("--package", required=True, help="the importable name of the student library")
    parser.add_argument("--answer", type=Path, required=True, help="where to write the problems (JSON)")
    parser.add_argument("--only", help="comma-separated exercise functions (default: every exercise)")
    args = parser.parse_args(argv)
    problems = scan(args.solutions, args.package, set(args.only.split(",")) if args.only else None)
    args.answer.write_text(json.dumps(problems))  # a file, not stdout: whatever the library prints stays out of it
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
