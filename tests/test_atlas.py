"""The class transfer atlas at class scale, without training anything: a synthetic class of 300 Homework 2
submissions over the grading library's three targets (some tampered, misconfigured, copied, disagreeing with
their replicates, run with a broken tokenizers release, unpaired, from an older package, under another plan,
or missing), each student on one of three GPU kinds that shifts every score it makes, harvested from a
grading folder as ``itft grade`` leaves it. Every bad cell is reported with its reason and student; every
cell is covered by at least three students; the matrix, paired within students, recovers the simulated
effects; Homework 3 loads every target of it."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from itft_grader.atlas.cells import check_cell, library_facts
from itft_grader.atlas.harvest import harvest, score_estimators
from itft_grader.atlas.report import write_atlas, write_plan
from itft_grader.atlas.sample import notebook_with, task_type, write_synthetic_class
from itft_grader.checks import references as ref
from itft_utils import atlas as atlas_module
from itft_utils.atlas import assign, atlas_library, atlas_plan, course_plan, plan_label, student_hash
from itft_utils.selection import load_transfer_results

#: Simulated gains in points, per (target, source); sources not named for a target gain their default.
EFFECTS = {"gen_qa_aux": 3.0, "gen_sentiment": -2.0, "gen_pair": 1.0, "gen_similarity": -1.0, "gen_tagging": -6.0,
           ("gen_pair", "gen_similarity"): 4.0, ("gen_tagging", "gen_qa_aux"): -3.0}
BASELINE = 50.0
N_STUDENTS = 300


@pytest.fixture(scope="module")
def library():
    return atlas_library("grading")


@pytest.mark.parametrize("mode", ["grading", "colab"])
def test_the_matrix_has_three_targets_of_two_types_and_sources_of_every_type(mode):
    library = atlas_library(mode)
    targets = {name: task_type(spec.name) for name, spec in library.targets.items()}
    assert len(targets) >= 3 and len(set(targets.values())) >= 2, targets
    assert {"qa", "classification", "tagging"} <= {task_type(spec.name) for spec in library.sources.values()}
    for target, spec in library.targets.items():  # a task is no source of itself
        assert spec.name not in {library.sources[s].name for s in library.sources_for(target)}
    assert {c.name for a in library.assignments for c in a.cells} == {c.name for c in library.cells}


def test_every_colab_target_is_scored_on_a_split_its_hub_dataset_has():
    """Each target's held-out split is one the hub loader serves (the dry run of Part 7 found MRPC asked for
    a validation split its hub spec does not map)."""
    from itft_utils.data.hub import HUB_TASKS

    for name, spec in atlas_library("colab").targets.items():
        assert spec.source == "hub" and spec.eval_split in HUB_TASKS[spec.name].splits, (name, spec.eval_split)


@pytest.mark.parametrize("mode", ["grading", "colab"])
def test_the_plan_covers_every_cell_first_then_replicates_evenly(mode):
    library = atlas_library(mode)
    n_assignments = len(library.assignments)
    for n in [10, n_assignments, n_assignments + 7, 3 * n_assignments, 97, 300, 500]:
        ids = [str(20_000 + 37 * i) for i in range(n)]
        plan = atlas_plan(ids, library)
        runs = Counter(plan["students"].values())
        counts = [runs.get(i, 0) for i in range(n_assignments)]
        assert len(plan["students"]) == n and max(counts) - min(counts) <= 1, (mode, n, counts)  # balanced
        assert min(counts) >= min(3, n // n_assignments)  # every assignment before any twice; 3 once the class allows
        cover = Counter(c.name for sid in ids for c in assign(sid, library, plan).cells)
        if n >= n_assignments:
            assert set(cover) == {c.name for c in library.cells}
        if n >= 3 * n_assignments:
            assert min(cover.values()) >= 3
        # Each student's notebook derives the same assignment from their id and the plan.
        assert assign(ids[0], library, plan) == library.assignments[plan["students"][student_hash(ids[0])]]
    # A late enrolment appends: no one already in the plan changes assignment, the newcomer fills a least-covered one.
    grown = atlas_plan([*ids, "late-1"], library, previous=plan)
    assert {h: grown["students"][h] for h in plan["students"]} == plan["students"]
    runs = Counter(plan["students"].values())
    assert runs[grown["students"][student_hash("late-1")]] == min(runs.get(i, 0) for i in range(n_assignments))
    with pytest.raises(ValueError, match="STUDENT_ID"):
        assign("  ", library)
    other = {**plan, "assignments": plan["assignments"][:-1]}
    with pytest.raises(ValueError, match="another matrix"):
        assign(ids[0], library, other)


@pytest.fixture(scope="module")
def graded_class(library, tmp_path_factory):
    """A grading folder of 300 submissions, and which student is which kind of bad."""
    folder = tmp_path_factory.mktemp("grading")
    plan, bad = write_synthetic_class(folder, library, N_STUDENTS, EFFECTS, BASELINE)
    return folder, plan, bad


def _effect(target: str, source: str) -> float:
    return EFFECTS.get((target, source), EFFECTS[source])


def test_a_synthetic_class_is_harvested_validated_and_paired_within_students(library, graded_class, tmp_path):
    folder, plan, bad = graded_class
    result = harvest(folder, library, plan)
    by_student: dict[str, list] = {}
    for c in result.cells:
        by_student.setdefault(c.student_id, []).append(c)
    reasons = {sid: " ".join(r for c in cells for r in c.reasons) for sid, cells in by_student.items()}
    assert "disagrees with its own metrics" in reasons[bad["tampered"]]
    assert "configuration differs" in reasons[bad["config"]]
    assert "0.23.1" in reasons[bad["tokenizers"]]
    assert "batch order" in reasons[bad["order"]]
    assert "not a cell of the atlas library" in reasons[bad["foreign"]]
    assert {sid for sid, text in reasons.items() if text} == {bad[k] for k in ("tampered", "config", "tokenizers", "order", "foreign")}
    flags = {sid: " ".join(f for c in cells for f in c.flags) for sid, cells in by_student.items()}
    assert "points from the median of its other" in flags[bad["disagree"]]  # its baseline, set aside; so its sources are unpaired
    assert "not paired" in flags[bad["disagree"]] and "not paired" in flags[bad["unpaired"]]
    assert "run under 'plan-000000000000'" in flags[bad["plan"]]
    problems = {p["student_id"]: p["problem"] for p in result.problems}
    assert "another notebook" in problems[bad["copied"]] and "unreadable" in problems[bad["corrupt"]]
    assert "atlas format 1" in problems[bad["old"]]
    assert result.missing == []  # every cell was still handed in by someone
    assert all(c.file.startswith(f"student_{c.student_id}_") for c in result.cells)  # no cell lost or misattributed

    # Coverage before replication: every library cell has at least three used replicates.
    used = Counter(c.name for c in result.cells if c.used)
    assert set(used) == {c.name for c in library.cells} and min(used.values()) >= 3
    # The tolerance comes from the class's own replicates; devices spread them more than one device does.
    assert "robust standard deviations" in result.tolerance["basis"]
    assert result.tolerance["within_kind"] < result.tolerance["across_kinds"]

    atlas = write_atlas(result, library, tmp_path / "atlas")
    for target in library.targets:
        gains = atlas["targets"][target]["gains"]
        assert set(gains) == set(library.sources_for(target))
        for source, gain in gains.items():
            # Device shifts of ±1.5 points cancel within a student: the gains come back within a third of a point.
            assert gain["mean"] == pytest.approx(_effect(target, source), abs=0.35), (target, source)
            assert gain["n"] == 3 and gain["interval"] is not None
            # Pairs only within students: one per student who handed in both the source and their own baseline.
            paired = {c.student_id for c in result.cells if c.used and c.cell["target"] == target and c.cell["source"] == source
                      and any(b.used and b.student_id == c.student_id and b.cell["source"] is None and b.cell["seed"] == c.cell["seed"]
                              for b in by_student[c.student_id])}
            assert gain["pairs"] == len(paired)
    assert {row["target"]: row["best_source"] for row in atlas["leaderboard"]} == {
        t: max(library.sources_for(t), key=lambda s: _effect(t, s)) for t in library.targets}
    report = (tmp_path / "atlas" / "report.html").read_text()
    assert "data:image/png;base64" in report and bad["tampered"] in report and bad["copied"] in report
    rows = (tmp_path / "atlas" / "cells.csv").read_text().splitlines()
    assert len(rows) == 1 + len(result.cells)

    # Homework 3 scores a selection method on every target of the class matrix.
    for target in library.targets:
        results = load_transfer_results(tmp_path / "atlas" / "atlas.json", target=target)
        assert "class atlas" in results.note and results.baseline == pytest.approx(BASELINE, abs=1.0)
        oracle = sorted(results.scores, key=lambda s: _effect(target, s), reverse=True)
        assert ref.ndcg_at_k(oracle, results.scores, 3) == pytest.approx(1.0) and ref.regret_at_k(oracle, results.scores, 1) == 0


def test_the_estimators_bootstrap_keeps_a_seeds_pairs_and_leaves_one_seed_sources_out():
    """Sources about 2 points apart at every seed while the seeds themselves move the baseline by 20: resampling
    seeds jointly never swaps them, so the oracle's NDCG interval is [1, 1] and the reversed ranking's stays
    below it; a source measured on one seed is left out of the scores, and said to be."""
    base = {"0": 40.0, "1": 50.0, "2": 60.0}  # the seeds move every run by 20 points
    gains = {"a": {"0": 2.0, "1": 2.5, "2": 1.5}, "b": {"0": 0.0, "1": 0.5, "2": -0.5}, "c": {"0": -5.0, "1": -4.0, "2": -6.0},
             "lonely": {"0": 49.0}}
    targets = {"t": {"per_seed": {"baseline": base}, "gains_per_seed": gains, "scores": {}}}
    best, worst = score_estimators(targets, {"oracle": {"t": ["a", "b", "c", "lonely"]}, "reversed": {"t": ["c", "b", "a", "lonely"]}})
    assert best["method"] == "oracle" and best["ndcg@3_interval"] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert worst["ndcg@3_interval"][1] < 1.0 and best["left_out"] == {"t": ["lonely"]}


def test_the_atlas_command_reports_a_class(graded_class, tmp_path, capsys):
    from itft_utils.cli import main

    folder, plan, bad = graded_class
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["atlas", str(folder), "--out", str(tmp_path / "atlas"), "--mode", "grading", "--plan", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "5 invalid" in out and "best intermediate task for gen_qa: gen_qa_aux" in out and "robust standard deviations" in out
    assert (tmp_path / "atlas" / "report.html").exists()


def test_a_cell_that_is_not_a_record_is_refused(library):
    assert check_cell("f1 = 99", library_facts(library)) == ["not a cell record (str)"]
    assert "fields missing" in check_cell({"target": "gen_qa"}, library_facts(library))[0]


def test_the_plan_is_written_by_hashed_id_and_read_where_the_course_publishes_it(tmp_path, library, monkeypatch):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n" + "\n".join(f"{30_000 + i},Name {i}" for i in range(40)))
    home = tmp_path / "atlas-home"
    plan = write_plan(roster, home / "plan.json", mode="grading")
    assert len(plan["students"]) == 40 and "30000" not in (home / "plan.json").read_text()
    monkeypatch.setattr(atlas_module, "PLAN", tmp_path / "not-shipped.json")
    monkeypatch.delenv("ITFT_ATLAS_HOME", raising=False)
    assert course_plan() is None and plan_label(None) == "by id"  # no plan anywhere: assignments from the id
    monkeypatch.setenv("ITFT_ATLAS_HOME", str(home))  # what the setup cell sets from the course's settings
    assert course_plan() == plan and plan_label(course_plan()).startswith("plan-")


@pytest.fixture(scope="module")
def stored_run(library, tmp_path_factory):
    """Student 12345's assignment as run_atlas_cells runs it (tiny model, generated tasks) and displays it."""
    from itft_utils.atlas import run_atlas_cells
    from itft_utils.runtime import torch_threads

    with torch_threads(1):
        return run_atlas_cells("12345", library, tmp_path_factory.mktemp("atlas-runs"), plan={})


def _with_cells(output: dict, edit) -> dict:
    """A copy of a stored atlas output whose cells ``edit`` changed."""
    copy = json.loads(json.dumps(output))
    edit(copy["application/json"]["cells"])
    return copy


def test_part_7_points_go_to_ones_own_valid_baseline_and_a_source_paired_with_it(library, stored_run):
    """Part 7's two points (``credit``, run by the grader on the notebook as submitted): a run's own output
    earns both; a copied, missing, other-mode, hand-edited or unpaired one says why it earns what it does."""
    from itft_grader.atlas.cells import NO_OUTPUT, credit

    facts = library_facts(library, ["12345", "54321"])
    assert json.loads(json.dumps(facts)) == facts  # plain data: computed once, handed to every nbgrader run in a file
    earned = {"baseline": [], "paired source": []}
    assert credit(notebook_with([stored_run]), "12345", facts) == earned
    copied = credit(notebook_with([stored_run]), "54321", facts)
    assert all("copied from another notebook" in r for reasons in copied.values() for r in reasons) and all(copied.values())
    assert credit(notebook_with([]), "12345", facts) == {"baseline": [NO_OUTPUT], "paired source": [NO_OUTPUT]}
    other_mode = credit(notebook_with([stored_run]), "12345", {**facts, "mode": "colab"})
    assert all("ran in 'grading' mode; the class atlas counts 'colab'" in r[0] for r in other_mode.values())

    def edit_baseline(cells):
        cells[0]["score"] = min(1.0, cells[0]["score"] + 0.5)
    edited = credit(notebook_with([_with_cells(stored_run, edit_baseline)]), "12345", facts)
    assert "edited by hand" in edited["baseline"][0] and "edited by hand" in edited["paired source"][0]

    def elsewhere(cells):
        for c in cells[1:]:
            c["device"] = "cuda"
    unpaired = credit(notebook_with([_with_cells(stored_run, elsewhere)]), "12345", facts)
    assert unpaired["baseline"] == [] and "same device and precision" in unpaired["paired source"][0]
    unfinished = credit(notebook_with([_with_cells(stored_run, lambda cells: cells.__delitem__(slice(1, None)))]), "12345", facts)
    assert unfinished == {"baseline": [], "paired source": ["no source cell stored (rerun the atlas cell until it finishes)"]}
    # Only the student's own assignment counts (not the cheapest cells of the library), and "" is no baseline.
    elsewhere_assigned = credit(notebook_with([stored_run]), "12345", {**facts, "assigned": {"12345": []}})
    assert all(r[0].endswith("not a cell of your assignment") for r in elsewhere_assigned.values()), elsewhere_assigned

    def aliased(cells):
        cells[1:] = [{**cells[0], "source": ""}]
    alias = credit(notebook_with([_with_cells(stored_run, aliased)]), "12345", facts)
    assert alias["baseline"] == [] and "not a cell of the atlas library" in alias["paired source"][0], alias
    long_id = credit(notebook_with([stored_run]), "9" * 100_000, facts)  # reasons quote what was stored: kept short
    assert all(len(r) <= 300 for reasons in long_id.values() for r in reasons) and long_id["baseline"]
    # The last stored output counts: an earlier complete run does not rescue a later broken one, nor the reverse.
    assert credit(notebook_with([stored_run, _with_cells(stored_run, edit_baseline)]), "12345", facts) == edited
    assert credit(notebook_with([_with_cells(stored_run, edit_baseline), stored_run]), "12345", facts) == earned


def test_the_grader_decides_part_7_without_importing_the_training_stack():
    """nbgrader's own process scores Part 7 for every submission: importing torch there would double the
    cost of grading a notebook (``atlas/cells.py``)."""
    import subprocess
    import sys

    code = ("import sys, itft_grader.checks.execute, itft_grader.checks.submitted, itft_grader.atlas.cells\n"
            "print(sorted(m for m in ('torch', 'transformers', 'itft_utils.atlas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_cells_a_notebook_really_runs_pass_the_graders_checks(library, stored_run, tmp_path, monkeypatch):
    """The students' side and the grader's agree: an assignment run by run_atlas_cells (tiny model,
    generated tasks), stored as the notebook's output, is harvested as valid and paired, with its device."""
    from itft_utils.atlas import points, where_you_stand

    output = stored_run
    payload = output["application/json"]
    mine = assign("12345", library)
    assert [(c["source"], c["target"], c["seed"]) for c in payload["cells"]] == [(c.source, c.target, c.seed) for c in mine.cells]
    assert payload["plan"] == "by id" and payload["assignment"] == mine.name
    assert all(check_cell(c, library_facts(library)) == [] and c["device"] == "cpu" and c["precision"] == "fp32" for c in payload["cells"])
    (tmp_path / "grading" / "originals").mkdir(parents=True)
    (tmp_path / "grading" / "originals" / "a_12345.ipynb").write_text(json.dumps(notebook_with([output])))
    (tmp_path / "grading" / "originals" / "manifest.json").write_text(
        json.dumps([{"file": "a_12345.ipynb", "kept_as": "a_12345.ipynb", "student_id": "12345"}]))
    result = harvest(tmp_path / "grading", library)
    assert [c.used for c in result.cells] == [True] * len(payload["cells"]) and not result.problems
    assert not any(c.flags for c in result.cells)
    atlas = write_atlas(result, library, tmp_path / "atlas")
    gains = atlas["targets"][mine.target]["gains"]
    assert set(gains) == set(mine.sources) and all(g["pairs"] == 1 and g["interval"] is None for g in gains.values())
    assert "Class atlas: 4 cell(s) of student 12345" in output["text/plain"]
    # Part 7's feedback: the student's own numbers against the class's (here a class of one), in points.
    feedback = where_you_stand(output, atlas)
    base = next(c for c in payload["cells"] if c["source"] is None)
    assert f"baseline: yours {points(base):.1f}, the class's median {points(base):.1f}" in feedback
    for source in mine.sources:
        mine_cell = next(c for c in payload["cells"] if c["source"] == source)
        gain = points(mine_cell) - points(base)
        assert f"{source}: your gain {gain:+.1f}; the class's {gain:+.1f} over 1 seeds (too few seeds" in feedback
    monkeypatch.delenv("ITFT_ATLAS_HOME", raising=False)
    assert "has not published an interim class matrix yet" in where_you_stand(output)


def test_the_estimator_leaderboard_comes_from_homework_3s_submissions(library, graded_class, tmp_path, capsys):
    """Homework 3 stores each student's rankings in the notebook; ``itft atlas --rankings-from`` harvests
    them (the last stored run of each), scores every method over the students on the class matrix, and
    names the submissions without usable rankings."""
    from itft_utils.atlas import rankings_output
    from itft_utils.cli import main

    folder, plan, _ = graded_class
    oracle = {t: sorted(library.sources_for(t), key=lambda s: _effect(t, s), reverse=True) for t in library.targets}
    originals = tmp_path / "hw3" / "originals"
    originals.mkdir(parents=True)
    manifest = []
    for i in range(40):
        sid, target = str(50_000 + i), list(library.targets)[i % 3]
        taskemb = oracle[target] if i % 4 else oracle[target][::-1]  # three students in four rank as the class measured
        outputs = [rankings_output(target, "atlas", {"TaskEmb": oracle[target][::-1]}),  # an earlier run, superseded
                   rankings_output(target, "atlas", {"TaskEmb": taskemb, "TextEmb": oracle[target][::-1]})]
        text = "{ not json" if i == 38 else json.dumps(notebook_with([] if i == 39 else outputs))
        (originals / f"s_{sid}.ipynb").write_text(text)
        manifest.append({"file": f"s_{sid}.ipynb", "kept_as": f"s_{sid}.ipynb", "student_id": sid})
    (originals / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    assert main(["atlas", str(folder), "--out", str(tmp_path / "atlas"), "--mode", "grading", "--plan", str(tmp_path / "plan.json"),
                 "--rankings-from", str(tmp_path / "hw3")]) == 0
    out = capsys.readouterr().out
    assert "38 submissions' rankings harvested" in out and "2 without usable rankings: 50038, 50039" in out
    rows = {r["method"]: r for r in json.loads((tmp_path / "atlas" / "atlas.json").read_text())["estimators"]}
    assert rows["TaskEmb"]["ndcg@3"] > rows["TextEmb"]["ndcg@3"] and rows["TaskEmb"]["targets"] == 3
    assert 0 < rows["TextEmb"]["ndcg@3"] < 0.5 < rows["TaskEmb"]["ndcg@3"] < 1  # a quarter of TaskEmb's rankings reversed


def test_odd_and_hostile_payloads_end_as_reasons_or_problems_never_as_a_crash(library, tmp_path):
    """Whatever a notebook holds, the harvest finishes and says what it made of each submission: malformed
    notebooks and outputs are problems, malformed cells are invalid with a reason, a student's second copy of a
    cell is not counted, an earlier submission gives way to the later one, and a source whose baseline ran on
    another machine is not paired."""
    from itft_grader.atlas.sample import synthetic_cell
    from itft_utils.atlas import atlas_output

    plan = atlas_plan([str(60_000 + i) for i in range(20)], library)
    originals = tmp_path / "g" / "originals"
    originals.mkdir(parents=True)
    manifest = []

    def submit(sid: str, notebook: object, name: str | None = None) -> None:
        name = name or f"s_{sid}.ipynb"
        (originals / name).write_text(json.dumps(notebook))
        manifest.append({"file": name, "kept_as": name, "student_id": sid})

    def good(sid: str, device: str = "NVIDIA L4") -> tuple[list[dict], object]:
        mine = assign(sid, library, plan)
        return [synthetic_cell(library, c, 50.0 + i, device) for i, c in enumerate(mine.cells)], mine

    submit("60000", {"cells": None})
    submit("60001", {"cells": [{"outputs": None}, {"outputs": [{"data": []}]}]})
    cells, mine = good("60002")
    broken = atlas_output("60002", library, mine, cells, plan_label(plan))
    broken["application/json"]["cells"] = None
    submit("60002", notebook_with([broken]))
    cells, mine = good("60003")
    base = cells[0]
    odd = [{**base, "seed": "0"}, {**base, "seed": [0]}, {**base, "curve": {"a": 1}}, {**base, "metrics": [1]},
           {**base, "batch_order": ["x"]}, {**base, "score": True}, {**base, "target_type": "qa" if base["target_type"] != "qa" else "tagging"}]
    submit("60003", notebook_with([atlas_output("60003", library, mine, odd, plan_label(plan))]))
    cells, mine = good("60004")
    submit("60004", notebook_with([atlas_output("60004", library, mine, cells + [dict(cells[1])], plan_label(plan))]))
    cells, mine = good("60005")
    submit("60005", notebook_with([atlas_output("60005", library, mine, cells[:1], plan_label(plan))]), "first_60005.ipynb")
    submit("60005", notebook_with([atlas_output("60005", library, mine, cells, plan_label(plan))]), "second_60005.ipynb")
    cells, mine = good("60006")
    cells[1] = synthetic_cell(library, mine.cells[1], 51.0, "Tesla T4")  # resumed on another runtime
    submit("60006", notebook_with([atlas_output("60006", library, mine, cells, plan_label(plan))]))
    cells, mine = good("60007")
    stale = atlas_output("60007", library, mine, cells, plan_label(plan))
    stale["application/json"]["cells"] = 5  # an earlier, damaged output beside the last one
    submit("60007", notebook_with([stale, atlas_output("60007", library, mine, cells, plan_label(plan))]))
    (originals / "manifest.json").write_text(json.dumps(manifest))

    result = harvest(tmp_path / "g", library, plan)
    problems = {(p["student_id"], p["file"]): p["problem"] for p in result.problems}
    assert "without a list of cells" in problems[("60002", "s_60002.ipynb")]
    assert "an earlier submission" in problems[("60005", "first_60005.ipynb")]
    assert "an earlier atlas output" in problems[("60007", "s_60007.ipynb")]
    by_student: dict[str, list] = {}
    for c in result.cells:
        by_student.setdefault(c.student_id, []).append(c)
    assert {"60000", "60001"}.isdisjoint(by_student) and len(by_student["60003"]) == 7
    assert all(not c.valid and c.reasons for c in by_student["60003"])
    assert [r for c in by_student["60004"] for r in c.reasons] == ["a second copy of this cell from the same student (not counted)"]
    assert len(by_student["60005"]) == len(assign("60005", library, plan).cells)  # the later submission's cells
    t4 = next(c for c in by_student["60006"] if c.cell["device"] == "Tesla T4")
    assert any("another device or precision" in f for f in t4.flags)


def test_nbgrader_run_by_hand_computes_the_facts_for_the_student_it_grades(stored_run, tmp_path, monkeypatch):
    """Without the pipeline's facts file (nbgrader autograde run by hand) the submission checks compute the
    course's facts themselves, with the cells of the student being graded (without them no cell would be
    anyone's), in the course's mode (release.toml's colab: grading-mode cells are refused for that reason)."""
    from itft_grader.atlas.cells import credit
    from itft_grader.checks.submitted import COURSE_ENV, STUDENT_ENV, submission_namespace

    monkeypatch.delenv(COURSE_ENV, raising=False)
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    folder = tmp_path / "submitted" / "12345__2" / "hw2_intermediate"
    folder.mkdir(parents=True)
    (folder / "hw2_intermediate.ipynb").write_text(json.dumps(notebook_with([stored_run])))
    names = submission_namespace(tmp_path, {"student": "12345__2", "assignment": "hw2_intermediate", "notebook": "hw2_intermediate"})
    assert names["student_id"] == "12345" and names["course"]["atlas"]["mode"] == "colab"
    assert set(names["course"]["atlas"]["assigned"]) == {"12345"} and names["course"]["atlas"]["assigned"]["12345"]
    assert credit(names["submitted"], "12345", names["course"]["atlas"])["baseline"][0].startswith("your atlas cells ran in 'grading'")
