"""The release is current and leaks nothing. (Every homework through nbgrader, solutions full marks and
untouched versions zero, is graded once by the installed instructor build: test_instructor_build.py.)"""
from __future__ import annotations

import pytest

pytest.importorskip("nbgrader", reason="grading needs the grader extra (nbgrader)")

from itft_grader.course import assignments  # noqa: E402
from itft_grader.release.build import check  # noqa: E402

HOMEWORKS = assignments()
pytestmark = pytest.mark.skipif(not HOMEWORKS, reason="no homework in solutions/ yet")


def test_release_is_current_and_leaks_nothing():
    assert check() == []
