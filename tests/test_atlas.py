"""The class transfer atlas at class scale, without training anything: a synthetic class of 240
Homework 2 submissions whose notebooks carry atlas cells (some tampered, misconfigured, copied,
duplicated with disagreeing numbers, run with a broken tokenizers release, or missing), harvested
from a grading folder as ``itft grade`` leaves it. Every bad cell is reported with its reason and
student; the matrix recovers the effects the class was simulated with; Homework 3 loads it."""
from __future__ import annotations

import json

import pytest

from itft_grader.atlas.harvest import check_cell, harvest
from itft_grader.atlas.report import write_atlas, write_plan
from itft_grader.atlas.sample import notebook_with, write_synthetic_class
from itft_grader.checks import references as ref
from itft_utils.atlas import assign_cells, atlas_library, atlas_plan, student_hash
from itft_utils.selection import load_transfer_results

EFFECTS = {None: 0.0, "gen_qa_aux": 3.0, "gen_sentiment": -2.0, "gen_pair": 1.0, "gen_similarity": -1.0, "gen_tagging": -6.0}
BASELINE = 50.0


@pytest.fixture(scope="module")
def library():
    return atlas_library("grading")


@pytest.mark.parametrize("mode", ["grading", "colab"])
def test_the_plan_covers_every_cell_twice_for_classes_of_30_to_500(mode):
    library = atlas_library(mode)
    for n in [30, 31, 45, 59, 60, 97, 150, 200, 333, 500]:
        ids = [str(20_000 + 37 * i) for i in range(n)]
        plan = atlas_plan(ids, library)
        cover = [0] * len(library.cells)
        for cells in plan.values():
            for i in cells:
                cover[i] += 1
        assert len(plan) == n and min(cover) >= 2, (mode, n, min(cover))
        assert max(cover) - min(cover) <= 1  # balanced
        # Each student's notebook derives the same cells from their id and the plan.
        assert [c.name for c in assign_cells(ids[0], library, plan)] == [library.cells[i].name for i in plan[student_hash(ids[0])]]
    with pytest.raises(ValueError, match="STUDENT_ID"):
        assign_cells("  ", library)


@pytest.fixture(scope="module")
def graded_class(library, tmp_path_factory):
    """A grading folder of 240 submissions, and which student is which kind of bad."""
    folder = tmp_path_factory.mktemp("grading")
    plan, bad = write_synthetic_class(folder, library, 240, EFFECTS, BASELINE)
    return folder, plan, bad


def test_a_synthetic_class_is_harvested_validated_and_aggregated(library, graded_class, tmp_path):
    folder, plan, bad = graded_class
    result = harvest(folder, library, plan, tolerance=3.0)  # 6 sd of the simulated seed noise
    invalid = {(c.student_id, reason.split(" ")[0]) for c in result.cells if not c.valid for reason in c.reasons}
    by_student = {c.student_id: c for c in result.cells if not c.valid}
    assert "disagrees with its own metrics" in by_student[bad["tampered"]].reasons[0]
    assert "configuration differs" in by_student[bad["config"]].reasons[0]
    assert "0.23.1" in by_student[bad["tokenizers"]].reasons[0]
    assert "batch order" in by_student[bad["order"]].reasons[0]
    assert "not a cell of the atlas library" in by_student[bad["foreign"]].reasons[0]
    assert len(invalid) == 5
    flagged = [c for c in result.cells if any("duplicates disagree" in f for f in c.flags)]
    assert {c.student_id for c in flagged} == {bad["disagree"]}
    problems = {p["student_id"]: p["problem"] for p in result.problems}
    assert "another notebook" in problems[bad["copied"]] and "unreadable" in problems[bad["corrupt"]]
    assert result.missing == []  # every cell was still handed in by someone
    # No cell lost: every stored cell is either valid or listed as invalid with its student and file.
    assert all(c.file.startswith(f"student_{c.student_id}_") for c in result.cells)

    oracle = sorted((s for s in EFFECTS if s), key=lambda s: EFFECTS[s], reverse=True)
    atlas = write_atlas(result, library, tmp_path / "atlas", {"oracle": {"gen_qa": oracle}, "reversed": {"gen_qa": oracle[::-1]}})
    gains = atlas["targets"]["gen_qa"]["gains"]
    for source, effect in EFFECTS.items():
        if source is not None:
            assert gains[source]["mean"] == pytest.approx(effect, abs=1.0), source
    top = atlas["leaderboard"][0]
    assert top["best_source"] == "gen_qa_aux" and top["relative_gain_pct"] == pytest.approx(100 * 3.0 / BASELINE, abs=2.0)
    best, worst = atlas["estimators"]
    assert (best["method"], best["ndcg@3"], best["regret@1"]) == ("oracle", pytest.approx(1.0), pytest.approx(0.0))
    assert worst["method"] == "reversed" and worst["ndcg@3_interval"][1] < best["ndcg@3_interval"][0]
    report = (tmp_path / "atlas" / "report.html").read_text()
    assert "data:image/png;base64" in report and bad["tampered"] in report and bad["copied"] in report
    rows = (tmp_path / "atlas" / "cells.csv").read_text().splitlines()
    assert len(rows) == 1 + len(result.cells)

    # Homework 3 scores a selection method on the class matrix.
    results = load_transfer_results(tmp_path / "atlas" / "atlas.json", target="gen_qa")
    assert "class atlas" in results.note and results.baseline == pytest.approx(BASELINE, abs=1.0)
    assert set(results.source_sizes) == set(results.scores)  # DataSize gets the budget each source trained on
    ranking = sorted(results.scores, key=lambda s: EFFECTS[s], reverse=True)  # an oracle ranking
    assert ref.ndcg_at_k(ranking, results.scores, 3) == pytest.approx(1.0)
    assert ref.regret_at_k(ranking, results.scores, 1) == pytest.approx(0.0)


def test_the_atlas_command_reports_a_class(graded_class, tmp_path, capsys):
    from itft_utils.cli import main

    folder, plan, bad = graded_class
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["atlas", str(folder), "--out", str(tmp_path / "atlas"), "--mode", "grading", "--plan", str(tmp_path / "plan.json"),
                 "--tolerance", "3"]) == 0
    out = capsys.readouterr().out
    assert "5 invalid" in out and "best intermediate task for gen_qa: gen_qa_aux" in out
    assert (tmp_path / "atlas" / "report.html").exists()


def test_a_cell_that_is_not_a_record_is_refused(library):
    assert check_cell("f1 = 99", library) == ["not a cell record (str)"]
    assert "fields missing" in check_cell({"target": "gen_qa"}, library)[0]


def test_the_plan_command_writes_a_plan_by_hashed_id(tmp_path, library):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n" + "\n".join(f"{30_000 + i},Name {i}" for i in range(40)))
    plan = write_plan(roster, tmp_path / "plan.json", mode="grading")
    assert len(plan) == 40 and "30000" not in (tmp_path / "plan.json").read_text()
    assert json.loads((tmp_path / "plan.json").read_text()) == plan


def test_cells_a_notebook_really_runs_pass_the_graders_checks(library, tmp_path):
    """The students' side and the grader's agree: cells run by run_atlas_cells (tiny model, generated
    tasks), stored as the notebook's output, are harvested as valid, with their keys and versions."""
    import torch

    from itft_utils.atlas import run_atlas_cells

    torch.set_num_threads(1)
    output = run_atlas_cells("12345", library, tmp_path / "runs")
    cells = output["application/json"]["cells"]
    assert [(c["source"], c["seed"]) for c in cells] == [(c.source, c.seed) for c in assign_cells("12345", library)]
    assert all(check_cell(c, library) == [] for c in cells)
    (tmp_path / "grading" / "originals").mkdir(parents=True)
    (tmp_path / "grading" / "originals" / "a_12345.ipynb").write_text(json.dumps(notebook_with([output])))
    (tmp_path / "grading" / "originals" / "manifest.json").write_text(
        json.dumps([{"file": "a_12345.ipynb", "kept_as": "a_12345.ipynb", "student_id": "12345"}]))
    result = harvest(tmp_path / "grading", library)
    assert [c.valid for c in result.cells] == [True] * len(cells) and not result.problems
    assert "Class atlas: 2 cell(s) of student 12345" in output["text/plain"]
