"""The two artefacts of the one source: what `itft publish` writes for students, the integrity checks
derived from the nbgrader sources, and (slow) both builds installed into clean environments outside
the checkout: the student wheel runs every perfect-student notebook (the instructor build's run of the
course: test_instructor_build.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="publishing needs the grader extra (nbgrader)")

from itft_grader.course import assignments, course_root, solutions_dir  # noqa: E402
from itft_grader.release.build import (
    leaks,  # noqa: E402
    tomllib,  # noqa: E402  (tomli before Python 3.11)
)
from itft_grader.release.publish import hidden_test_references, integrity_problems, publish  # noqa: E402
from itft_grader.release.twins import twin_problems  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_every_homeworks_trusted_checks_compare_with_references_from_the_grading_package():
    found = hidden_test_references()
    assert set(found) == set(assignments()), "each homework's hidden tests compare with a reference"
    assert all(found.values()), found


def test_the_library_holds_no_reference_and_no_hidden_test_leans_on_it():
    assert integrity_problems() == []


def test_a_library_function_named_like_a_reference_is_named(tmp_path):
    package = tmp_path / "itft_utils"
    shutil.copytree(course_root() / "itft_utils", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "metrics.py").write_text((package / "metrics.py").read_text() + "\n\ndef answer_f1(p, g):\n    return 0.0\n")
    problems = integrity_problems(package_dir=package)
    assert any("hw2_intermediate: the library defines answer_f1 (itft_utils/metrics.py:" in p for p in problems), problems


def test_the_library_has_no_function_that_passes_an_exercises_checks_under_another_name():
    assert twin_problems() == []


def test_a_library_function_that_behaves_like_an_exercise_is_named_whatever_its_name(tmp_path):
    """Issue 31: two one-line equivalents the library could hold (its ranking and its SQuAD normaliser under
    other contracts, rewrapped), one of them private, are found by behaviour; a near miss is not."""
    package = tmp_path / "itft_utils"
    shutil.copytree(course_root() / "itft_utils", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "selection.py").write_text((package / "selection.py").read_text() + (
        "\n\ndef ranked_names(target, vectors):\n    return [name for name, _ in rank_sources(target, vectors)]\n"
        "\n\ndef ranked_by_dot(target, vectors):\n"
        "    return sorted((s for s in vectors if s != target), key=lambda s: (-float(np.dot(vectors[target], vectors[s])), s))\n"))
    (package / "metrics.py").write_text((package / "metrics.py").read_text() + "\n\ndef _normal_form(s):\n    return ' '.join(_tokens(s))\n")
    problems = twin_problems(package_dir=package, only={"cosine_ranking", "normalize_answer", "ndcg_at_k"})
    assert len(problems) == 2, problems
    assert any("itft_utils.selection.ranked_names passes every check of the exercise cosine_ranking" in p for p in problems)
    assert any("itft_utils.metrics._normal_form passes every check of the exercise normalize_answer" in p for p in problems)


def test_a_hidden_test_that_takes_its_reference_from_the_library_is_named(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    nb = nbformat.read(solutions_dir() / "hw2_intermediate.ipynb", as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "squad_f1_test")
    test.source = test.source.replace("### BEGIN HIDDEN TESTS\n", "### BEGIN HIDDEN TESTS\nfrom itft_utils.metrics import squad_metrics\n")
    nbformat.write(nb, solutions / "hw2_intermediate.ipynb")
    problems = integrity_problems(solutions=solutions)
    assert problems == ["hw2_intermediate: a hidden test takes its reference from the library (itft_utils.metrics.squad_metrics)"]


def test_publish_writes_the_student_tree_and_nothing_else(tmp_path):
    out = tmp_path / "student"
    written = publish(out, build_wheel=False)
    assert {p.relative_to(out).parts[0] for p in written} == {"LICENSE", "README.md", "pyproject.toml", "itft_utils", "notebooks"}
    assert sorted(p.name for p in (out / "notebooks").iterdir()) == [f"{n}.ipynb" for n in assignments()]
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in written)
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "itft_grader.checks.references", "Mark scheme"):
        assert secret not in text, secret
    for name in assignments():  # the release check's own test for solution and hidden-test lines
        source = nbformat.read(solutions_dir() / f"{name}.ipynb", as_version=4)
        assert leaks(source, nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)) == [], name
    project = tomllib.loads((out / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["itft_utils*"]
    assert "grader" not in project["project"]["optional-dependencies"]
    instructor = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["project"]["version"] == instructor["version"]
    assert project["project"]["dependencies"] == instructor["dependencies"]
    with pytest.raises(FileExistsError, match="not empty"):
        publish(out, build_wheel=False)


@pytest.mark.slow
def test_the_published_wheel_runs_every_perfect_student_notebook_in_a_clean_environment(tmp_path):
    """scripts/check_student_build.sh: publish, install the wheel into a fresh venv outside the
    checkout, check it holds no reference, run every notebook with the solutions filled in there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "check_student_build.sh"), str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in assignments():
        assert f"{name}: every cell ran in grading mode" in done.stdout
    assert "defines none of the hidden tests' references" in done.stdout
