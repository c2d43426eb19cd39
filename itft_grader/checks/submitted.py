"""What a submission check (``spec.py``, ``on="submission"``) is given, in the grader's process: the
notebook as the student handed it in (outputs included, as its JSON parses), the student's id from the
file name, and the course's facts: plain data computed once per class in the grader's main process and
handed to every nbgrader run in a file, so that nbgrader's own process never imports the training stack.

The course's facts today are the class atlas's (``atlas``: :func:`itft_grader.atlas.cells.library_facts`
of the library in the course's atlas mode, ``atlas_mode`` in ``release.toml``, which ``itft grade
--atlas-mode`` overrides).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from itft_grader.checks.spec import SUBMISSION, CheckedCell

COURSE_ENV = "ITFT_COURSE_FACTS"  # the course's facts, a file in the grader's private folder
STUDENT_ENV = "ITFT_STUDENT_ID"  # the student's id as the file name gives it


def has_submission_checks(cells: dict[str, CheckedCell]) -> bool:
    return any(c.on == SUBMISSION for cell in cells.values() for c in cell.checks)


def course_atlas_mode(given: str | None = None) -> str:
    """The mode the class runs its atlas in: ``given``, else ``release.toml``'s ``atlas_mode`` (default colab)."""
    from itft_grader.release.build import load_settings

    return given or str(load_settings().get("atlas_mode", "colab"))


def course_facts(atlas_mode: str | None = None, students: Iterable[str] = (), atlas_plan: Mapping | None = None) -> dict[str, Any]:
    """The facts every submission check of the class may read (see the module docstring); ``students`` the
    class's ids and ``atlas_plan`` the plan the course published, which decide whose atlas cells are whose."""
    from itft_grader.atlas.cells import library_facts
    from itft_utils.atlas import atlas_library, usable_plan

    library = atlas_library(course_atlas_mode(atlas_mode))
    return {"atlas": library_facts(library, students, usable_plan(atlas_plan, library))}


def _student_id(nbgrader_student: str) -> str:
    """The id the pipeline gave nbgrader's run, else nbgrader's student (``id__k``: the id's k-th file)."""
    return os.environ.get(STUDENT_ENV) or re.sub(r"__\d+$", "", nbgrader_student)


def submission_namespace(root: Path, info: dict[str, str]) -> dict[str, Any]:
    """The names a submission check may take, for the submission nbgrader is grading (``info``: its
    ``resources["nbgrader"]``), read from the course folder's ``submitted/`` copy, which no kernel sees."""
    path = root / "submitted" / info["student"] / info["assignment"] / f"{info['notebook']}.ipynb"
    facts, student = os.environ.get(COURSE_ENV), _student_id(info["student"])
    return {"submitted": json.loads(path.read_text(encoding="utf-8")), "student_id": student,
            "course": json.loads(Path(facts).read_text()) if facts else course_facts(students=[student])}
