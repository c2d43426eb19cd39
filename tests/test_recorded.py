"""The course's recorded runs: shown, labelled, to students whose own run is on generated tasks, and
traceable: the packaged files are what the committed command makes from the committed results."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from itft_utils import recorded
from itft_utils.data import default_data_dir
from itft_utils.homework import expected_time
from itft_utils.runtime import runs_dir

ROOT = Path(__file__).resolve().parents[1]


def test_recorded_results_show_in_every_mode_but_grading_labelled_by_whose_numbers_they_are(capsys):
    """Issue 31: beside a student's own run too, since the questions' model answers read the recorded numbers."""
    assert recorded.show_recorded("hw2_intermediate", "offline", "generated")
    out = capsys.readouterr().out
    assert "THE COURSE'S RECORDED RUN" in out and "not yours" in out
    per_seed = recorded.recorded("hw2_intermediate")["per_seed"]
    gains = [per_seed["policyqa"][s] - per_seed["baseline"][s] for s in per_seed["baseline"]]
    assert f"{sum(gains) / len(gains):.1f} ±" in out  # the paired gain, seed by seed
    for mode, kind in (("colab", "hub"), ("offline", "local")):
        assert recorded.show_recorded("hw2_intermediate", mode, kind)
        shown = capsys.readouterr().out
        assert "for comparison with yours" in shown and "not yours" not in shown
        assert shown.split("\n", 1)[1] == out.split("\n", 1)[1]  # the same numbers under another label
    assert not recorded.show_recorded("hw2_intermediate", "grading", "generated")
    assert capsys.readouterr().out == ""
    for report in recorded.recorded_reports("hw2_intermediate"):  # the reports its model answers read, verbatim
        assert f"$ {report['command']}\n{report['output']}" in out


def test_the_hw2_table_prints_the_scores_homework3_ranks_by_in_its_order(capsys):
    """Issue 31: a source measured on fewer seeds than the baseline has a raw mean over its own seeds and a
    score (the baseline's mean plus its paired gain) that Homework 3 ranks by; the table prints both, in
    Homework 3's order, under headers that say which is which."""
    data = recorded.recorded("hw2_intermediate")
    recorded.show_recorded("hw2_intermediate", "offline", "generated")
    out = capsys.readouterr().out
    assert "raw mean" in out and "score (Homework 3 ranks by)" in out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in data["scores"]]
    assert [row[0] for row in rows] == sorted(data["scores"], key=data["scores"].get, reverse=True)
    per_seed = data["per_seed"]
    for row in rows:  # the score is the baseline's mean plus the source's mean gain over the seeds both have
        mine, base = per_seed[row[0]], per_seed["baseline"]
        gains = [mine[s] - base[s] for s in mine if s in base]
        assert float(row[-1]) == pytest.approx(data["baseline"] + sum(gains) / len(gains), abs=0.02), row


def test_every_homework_has_its_recorded_run_or_says_it_has_none(capsys, monkeypatch, tmp_path):
    for homework in recorded.HOMEWORKS:
        assert recorded.show_recorded(homework, "offline", "generated")
    assert capsys.readouterr().out.count("THE COURSE'S RECORDED RUN") == 3
    monkeypatch.setattr(recorded, "RESOURCES", tmp_path)
    recorded.show_recorded("hw3_taskemb", "offline", "generated")
    assert "Not recorded yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown homework"):
        recorded.recorded("hw9")


def test_the_packaged_recorded_runs_are_what_the_committed_command_makes(bench_module):
    package = bench_module("package_recorded")
    for homework, build in (("hw1_mtl", package.hw1), ("hw3_taskemb", package.hw3)):
        made = build()
        shipped = recorded.recorded(homework)
        assert (made is None) == (shipped is None), homework
        if made is not None:
            assert json.loads(json.dumps(made)) == shipped, f"{homework}: run python bench/package_recorded.py"


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_packaged_hw2_reports_are_what_their_commands_print_and_change_no_file(bench_module):
    """Homework 2's reports (what its model answers read) are rerun and compared verbatim; running them, as
    ``--report-only`` commands, leaves the committed results as they were."""
    import subprocess

    def status() -> str:
        return subprocess.run(["git", "status", "--porcelain", "--", "bench/results", "itft_utils/resources"], cwd=ROOT,
                              capture_output=True, text=True).stdout

    before = status()
    made = bench_module("package_recorded").hw2()
    shipped = json.loads(recorded.recorded_path("hw2_intermediate").read_text(encoding="utf-8"))
    assert [r["command"] for r in made["reports"]] == [r["command"] for r in shipped["reports"]]
    for mine, theirs in zip(made["reports"], shipped["reports"]):
        assert mine["output"] == theirs["output"], f"{mine['command']}: run python bench/package_recorded.py"
    assert status() == before


def test_the_grading_default_transfers_are_what_their_command_makes(tmp_path, bench_module):
    """Homework 3's grading-mode fallback is rebuilt by its command and compared number by number.
    Floating-point kernels differ between torch builds, so the comparison holds under the recorded torch; and
    between CPUs, where the tiny random model's near-tied start/end logits can flip a question's answer, so each F1
    (over 200 questions) may differ by three questions' worth."""
    import torch

    from itft_utils.selection import DEFAULT_TRANSFER_RESULTS

    shipped = json.loads(DEFAULT_TRANSFER_RESULTS.read_text())
    if shipped["versions"]["torch"] != torch.__version__:
        pytest.skip(f"the file was made under torch {shipped['versions']['torch']}, this is {torch.__version__}")
    made = bench_module("grading_default_transfers").build(tmp_path)
    numbers = ("versions", "baseline", "scores", "per_seed")
    assert {k: v for k, v in made.items() if k not in numbers} == {k: v for k, v in shipped.items() if k not in numbers}, \
        "run python bench/grading_default_transfers.py"
    flips = 3 * 100 / 200
    assert made["baseline"] == pytest.approx(shipped["baseline"], abs=flips)
    assert made["scores"] == pytest.approx(shipped["scores"], abs=flips)
    assert made["per_seed"].keys() == shipped["per_seed"].keys()
    for run, per_seed in made["per_seed"].items():
        assert per_seed == pytest.approx(shipped["per_seed"][run], abs=flips), run


def test_expected_times_and_the_runs_folder(monkeypatch):
    assert "measured" in expected_time("hw1_mtl", "offline", "generated")
    assert "estimate" in expected_time("hw2_intermediate", "colab") == expected_time("hw2_intermediate", "online")
    monkeypatch.setenv("ITFT_RUNS_DIR", "/content/drive/MyDrive/itft-runs")
    assert runs_dir("hw1_mtl") == Path("/content/drive/MyDrive/itft-runs/hw1_mtl")
    monkeypatch.delenv("ITFT_RUNS_DIR")
    assert runs_dir("hw2_intermediate") == Path("runs/hw2_intermediate")


def test_an_interrupted_homework_2_is_completed_from_the_recorded_run_per_source():
    """Only the baseline finished: Homework 3 still gets sources to rank, and is told which."""
    from itft_utils.selection import TransferResults, fill_missing, packaged_transfer_results

    course = packaged_transfer_results("squad")
    mine = TransferResults("squad", "f1", 47.0, {"sst2": 40.0}, {}, "measured by Homework 2")
    filled, taken = fill_missing(mine, course, ["squad", "sst2", "conll2000", "policyqa", "qnli"])
    assert taken == ["conll2000", "policyqa"]  # in the library and measured by the course; sst2 stays the student's
    assert filled.scores["sst2"] == 40.0 and filled.baseline == 47.0 and "conll2000, policyqa" in filled.note
    # Another encoder, another scale: a taken source keeps its relative gain over the course's baseline.
    for source in taken:
        assert filled.scores[source] / 47.0 == pytest.approx(course.scores[source] / course.baseline)
    assert "rescaled" in filled.note
    empty = TransferResults("squad", "f1", None, {}, {}, "")
    kept = fill_missing(empty, course, course.scores)[0]
    assert kept.baseline == course.baseline and kept.scores == course.scores  # nothing to rescale by
    with pytest.raises(ValueError, match="target"):
        fill_missing(TransferResults("gen_qa", "f1", None, {}), course, [])
