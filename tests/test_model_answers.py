"""What students see answers the questions (issue 31): every number a hand-graded cell's model answer quotes is
printed by the notebook itself, from the course's recorded runs (``show_recorded``, the same in every mode but
grading), so that a student without a GPU, or one comparing their own run, can read it. A number counts when it
has a decimal point or a thousands separator (settings such as "3 seeds" are not results); signs are ignored
("hurt by 27.41" reads "-27.41"). Mark schemes and rubrics are instructions to graders, not quoted results.
What it checks is presence, not place: a quoted number printed in another row passes, so it catches a number no
command prints (a stale or rounded one), not a number read off the wrong row."""
from __future__ import annotations

import contextlib
import io
import re

import nbformat
import pytest

from itft_grader.course import solutions_dir
from itft_utils.recorded import show_recorded

NUMBER = re.compile(r"(?<![\w.,])[-+−]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?![\w])")
ANY_NUMBER = re.compile(r"[-+−]?\d[\d,]*(?:\.\d+)?")  # what is printed: "1000 training examples" shows "1,000"
#: Numbers an answer derives or states that no run prints, each with why it may.
NOT_RESULTS = {
    "hw1_mtl": {
        **dict.fromkeys(["57.2", "57.4", "44.8", "51.3", "52.0", "41.4", "2.6", "4.1"],
                        "the design's hidden experiment, whose numbers stay with the grader (the bar's per-seed scores "
                        "would help tune a design to the hidden draw)"),
        "1000": "Colab's data sizes, a setting", "4000": "Colab's data sizes, a setting",
        "0.04": "derived: the standard deviation of a share over 120 one-task draws",
        "15.9": "derived: the cube root of 4,000, in the temperature formula written out",
        "0.01": "derived: the printed running means (+0.004 to +0.014), rounded",
        "0.0": "derived: PCGrad's printed F1 minus the plain run's, seed by seed",
        "0.8": "derived: PCGrad's printed F1 minus the plain run's, seed by seed",
    },
    "hw2_intermediate": {
        "1.96": "the normal quantile of the seeds-needed formula, written out",
        "0.84": "the normal quantile of the seeds-needed formula, written out",
        "0.5": "a factor: a standard deviation from three values can be off by 0.5x to 6x",
        "1.2": "a made-up pair of standard deviations, to show what is not evidence",
        "2.0": "a made-up pair of standard deviations, to show what is not evidence",
        "4.3": "the t quantile for two degrees of freedom",
        "0.25": "the sign-flip test's floor at three seeds, 2/8 (the tables print it as 0.250)",
    },
    "hw3_taskemb": {
        "1.4": "derived: the printed scores of MRPC, SST-2 and RTE (47.3, 46.3, 45.9), their range",
        "1.8": "Homework 2's recorded table (the baseline's 49.4 ± 1.8), which the same student has seen",
        **dict.fromkeys(["0.896", "0.691", "1.63", "0.726", "0.391"], "printed by the notebook's own cells in grading mode "
                        "(its transfers are the grading default's), which that paragraph of the answer reads"),
        "0.1": "derived: one changed neighbour among ten tasks", "0.14": "derived: one changed neighbour among seven tasks",
    },
}


def quoted_numbers(source: str) -> set[str]:
    """The numbers a model answer quotes: the cell without its mark scheme and rubric, signs and separators dropped."""
    text = re.split(r"\nMark scheme:", source)[0]
    text = re.sub(r"\*\*Rubric.*?(?:\n\n|$)", "", text, flags=re.S)
    return {normal(n) for n in NUMBER.findall(text)}


def normal(number: str) -> str:
    return number.lstrip("+-−").replace(",", "")


def seen(homework: str, mode: str, data_kind: str) -> set[str]:
    """Every number the notebook prints from the course's recorded runs in this mode."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        show_recorded(homework, mode, data_kind)
    return {normal(n.rstrip(",")) for n in ANY_NUMBER.findall(out.getvalue())}


def answers(homework: str) -> dict[str, str]:
    nb = nbformat.read(solutions_dir() / f"{homework}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if c.cell_type == "markdown"
            and c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")}


@pytest.mark.parametrize("homework", ["hw1_mtl", "hw2_intermediate", "hw3_taskemb"])
@pytest.mark.parametrize(("mode", "data_kind"), [("colab", "hub"), ("offline", "local"), ("offline", "generated")])
def test_every_number_a_model_answer_quotes_is_printed_by_the_notebook(homework, mode, data_kind):
    printed = seen(homework, mode, data_kind)
    allowed = set(NOT_RESULTS.get(homework, {}))
    quoted = {grade_id: quoted_numbers(text) for grade_id, text in answers(homework).items()}
    assert len(quoted) >= 5 and sum(map(len, quoted.values())) >= 20, "the answers were not read: nothing checked"
    missing = {grade_id: sorted(numbers - printed - allowed) for grade_id, numbers in quoted.items()}
    assert not {k: v for k, v in missing.items() if v}, f"quoted by the model answers, printed nowhere in {mode} mode"


def test_the_check_reads_numbers_as_students_do():
    assert quoted_numbers("F1 51.1 and −27.41 at 2,000 examples (3 seeds, 0,1,2)\nMark scheme:\n- 1.5 points") == {"51.1", "27.41", "2000"}
    assert quoted_numbers("**Rubric (4 points).** 1 for 0.5 F1\n\n**Model answer.** +4.9") == {"4.9"}
