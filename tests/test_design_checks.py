"""The design exercises of Homeworks 2 and 3 are checked by the grader on inputs the notebook never shows
(issue 31): the probes carry exactly the grading package's hidden inputs, the hidden sets are what their
committed command makes, and the verdicts read plain answers as the module documents."""
from __future__ import annotations

import ast

import nbformat
import pytest

from itft_grader.checks import budgets, selection_design
from itft_grader.checks.spec import load_checks
from itft_grader.course import solutions_dir


def _probe_literal(assignment: str, test_id: str, name: str) -> object:
    """The value a probe of ``test_id`` assigns to ``name`` (its hidden input), as written in the solution notebook."""
    nb = nbformat.read(solutions_dir() / f"{assignment}.ipynb", as_version=4)
    values = []
    for check in load_checks(nb)[test_id].checks:
        for node in ast.walk(ast.parse(check.source)):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [name]:
                values.append(ast.literal_eval(node.value))
    assert len(values) == 2 and values[0] == values[1], f"{test_id}: both probes carry the same {name}"
    return values[0]


def test_the_budget_probes_carry_the_committed_profiles():
    assert _probe_literal("hw2_intermediate", "budget_design_tests", "profiles") == budgets.hidden_profiles()


def test_equal_budgets_are_measured_in_the_students_unit_with_a_tolerance():
    profiles = budgets.hidden_profiles()
    per_step = {n: budgets.tokens_per_step(p) for n, p in profiles.items()}
    tokens = {n: round(budgets.AMOUNTS["tokens"] / c) for n, c in per_step.items()}
    assert budgets.equal_on_hidden_sources({"unit": "tokens", "steps": tokens})[0]
    assert budgets.equal_on_hidden_sources({"unit": "steps", "steps": dict.fromkeys(profiles, 300)})[0]
    assert not budgets.equal_on_hidden_sources({"unit": "tokens", "steps": dict.fromkeys(profiles, 300)})[0]  # equal steps
    passed, text = budgets.equal_on_hidden_sources({"unit": "steps", "steps": {**dict.fromkeys(profiles, 300), "sst2": 330}})
    assert not passed and "off by more than 5%: sst2" in text  # 10 % over
    assert budgets.equal_on_hidden_sources({"unit": "steps", "steps": {**dict.fromkeys(profiles, 300), "sst2": 314}})[0]
    for bad in (None, {"unit": "flops", "steps": tokens}, {"unit": "steps", "steps": {"sst2": 3}},
                {"unit": "steps", "steps": {**tokens, "sst2": 10**400}}, {"unit": "steps", "steps": {**tokens, "sst2": "3"}},
                {"unit": "steps", "steps": {**tokens, "sst2": 2.5}}, {"unit": "steps", "steps": {**tokens, "sst2": True}}):
        assert not budgets.usable_budgets(bad)[0], bad


def test_the_selection_probes_carry_the_hidden_sets_without_their_outcomes():
    hidden = _probe_literal("hw3_taskemb", "rule_design_tests", "hidden")
    assert hidden == selection_design.probe_input()
    assert "scores" not in str(hidden) and "random" not in str(hidden)


def test_the_hidden_sets_are_what_the_committed_runs_give(capsys):
    assert selection_design.main(["--check"]) == 0
    assert "the committed hidden sets are what the committed runs give" in capsys.readouterr().out


def test_the_random_expectation_is_exact_and_the_bar_separates_task_from_text():
    # RESULTS section 4 quotes 0.709 for SQuAD's eight sources (the same expectation, computed another way there).
    assert selection_design.hidden_sets()["1.0"]["random_ndcg3"] == pytest.approx(0.709, abs=5e-4)
    sets = selection_design.probe_input()
    assert len(sets) == 8 + 4  # each target under as many letterings as it has sources

    def by(key):
        return {k: sorted(s["candidates"], key=lambda c: (-s["candidates"][c][key], c)) for k, s in sets.items()}

    assert selection_design.beats_random(by("taskemb"))[0]
    passed, text = selection_design.beats_random(by("textemb"))
    assert not passed and "to pass: more than 0.790" in text
    # A rule that ignores the features (the dict's order, or equal sizes broken by letter) scores chance, not better.
    for blind in ({k: list(s["candidates"]) for k, s in sets.items()}, by("examples")):
        passed, text = selection_design.beats_random(blind)
        assert not passed and "mean 0.690" in text
    assert not selection_design.usable_rule({k: r[:3] for k, r in by("taskemb").items()})[0]
    assert not selection_design.usable_rule({"1.0": by("taskemb")["1.0"]})[0]
    assert not selection_design.usable_rule({k: r[:-1] + r[:1] for k, r in by("taskemb").items()})[0]  # a duplicate


def test_the_graders_ndcg_is_the_references_and_deciding_loads_no_training_stack():
    """The check's own NDCG@3 (torch-free, for nbgrader's process) equals the exercise's reference on every hidden set,
    over rankings drawn at random; deciding a rule in a fresh process imports no torch."""
    import random
    import subprocess
    import sys

    from itft_grader.checks.references import ndcg_at_k

    rng = random.Random(0)
    for s in selection_design.hidden_sets().values():
        for _ in range(50):
            ranking = rng.sample(sorted(s["scores"]), len(s["scores"]))
            assert selection_design.ndcg3(ranking, s["scores"]) == pytest.approx(ndcg_at_k(ranking, s["scores"], 3), abs=1e-12)
    code = ("import sys; from itft_grader.checks import selection_design as d; "
            "d.beats_random({k: list(s['candidates']) for k, s in d.probe_input().items()}); print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
