"""The planted family (issue 35): each task's answers follow its stated rule, and the recorded transfer
matrix (``bench/planted_family.py``, tiny model, 6 seeds, committed in ``bench/results/planted``) shows the
lecture's effects with paired tests at the small target: a related source helps, a conflicting one hurts, a
source that shares only the target's words does not help; the related source's gain shrinks as the target
grows, and both effects are small when the target is large. The
last test reruns part of the recorded command and finds the committed numbers."""
from __future__ import annotations

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from itft_grader.checks import references as ref
from itft_utils.data import generate_task, planted
from itft_utils.data.generated import CITIES, FOODS, NAMES, THINGS
from itft_utils.homework import planted_experiment
from itft_utils.selection import packaged_transfer_results
from itft_utils.transfer import load_cells

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "bench" / "results" / "planted"


def _fact(example: dict, relation: str) -> str:
    """The value the passage states for ``relation`` about its person (one sentence per relation)."""
    sentence, _, slot = planted.RELATIONS[relation]
    between, after = sentence.removeprefix("{p}").split("{" + slot + "}")
    name = example["context"].split()[0]
    return re.search(re.escape(name + between) + "(.+?)" + re.escape(after), example["context"]).group(1)


def _asked(example: dict) -> str:
    name = example["context"].split()[0]
    return next(rel for rel, (_, question, _) in planted.RELATIONS.items() if question.format(p=name) == example["question"])


def test_the_rules_are_the_planted_ones():
    """The target and the related source answer the asked fact, the conflicting source the other type's
    fact; the related source's words are the other half of the world's."""
    for name, rule in (("plant_qa", lambda asked: asked), ("plant_related", lambda asked: asked),
                       ("plant_conflict", lambda asked: planted.CONFLICT[asked])):
        task = generate_task(name, sizes={"train": 60, "validation": 10})
        assert not task.repaired  # every answer start was right as generated, none moved by the Task
        for example in task.split("train"):
            assert example["answers"]["text"] == [_fact(example, rule(_asked(example)))], (name, example)
    for example in generate_task("plant_surface", sizes={"train": 40, "validation": 10}).split("train"):
        text = example["text"]
        assert example["label"] == int(text.index(" eat ") < text.index(" owns "))
    slot_of = {v: slot for slot, values in planted.SLOTS.items() for v in values}
    for example in generate_task("plant_tagging", sizes={"train": 40, "validation": 10}).split("train"):
        tags = [planted.SLOT_TAGS[t] for t in example["tags"]]
        for token, tag in zip(example["tokens"], tags):
            if tag.startswith("B-"):
                assert tag == f"B-{slot_of.get(token, 'city' if tag == 'B-CITY' else '?').upper()}", (token, tag)
        assert tags.count("O") < len(tags) and {t for t in tags if t != "O"} <= set(planted.SLOT_TAGS[1:])
    words = lambda task: {w for ex in generate_task(task, sizes={"train": 80, "validation": 10}).split("train")  # noqa: E731
                          for w in ex["context"].split()}
    values = set(NAMES) | {w for v in (*CITIES, *FOODS, *THINGS) for w in v.split()}
    assert not (words("plant_qa") & words("plant_related") & values)


def test_the_share_dial_mixes_the_two_rules():
    rows = planted.planted_qa(400, seed=1, share=0.5)
    by_rule = sum(ex["answers"]["text"] == [_fact(ex, _asked(ex))] for ex in rows)
    assert 150 < by_rule < 250  # about half follow the target's rule, the rest the conflicting one


def _scores(size: int) -> dict[str, dict[int, float]]:
    scores: dict[str, dict[int, float]] = {}
    for cell in load_cells(RECORDED / f"n{size}"):
        scores.setdefault(cell["source"] or "baseline", {})[cell["seed"]] = cell["score"]
    return scores


def test_the_recorded_family_shows_the_lectures_effects_with_paired_tests():
    small, large = _scores(64), _scores(512)
    assert len(small["baseline"]) == 6 and all(len(s) == 6 for s in small.values())  # 6 seeds: sign-flip p can reach 1/32
    assert 20 < statistics.mean(small["baseline"].values()) < 80  # learned partly: no floor, no ceiling
    related = ref.paired_summary(small["plant_related"], small["baseline"])
    conflict = ref.paired_summary(small["plant_conflict"], small["baseline"])
    versus_surface = ref.paired_summary(small["plant_related"], small["plant_surface"])
    assert related["mean"] > 0 and related["p_value"] <= 0.05 and related["interval"][0] > 0
    assert conflict["mean"] < 0 and conflict["p_value"] <= 0.05 and conflict["interval"][1] < 0
    assert versus_surface["mean"] > 0 and versus_surface["p_value"] <= 0.05  # the surface twin is no substitute
    # both effects are larger, in size, when the target is small; the related source's gain shrinks with the target
    middle = _scores(256)
    assert (related["mean"] > ref.paired_summary(middle["plant_related"], middle["baseline"])["mean"]
            > ref.paired_summary(large["plant_related"], large["baseline"])["mean"])
    assert abs(related["mean"]) > abs(ref.paired_summary(large["plant_related"], large["baseline"])["mean"])
    assert abs(conflict["mean"]) > abs(ref.paired_summary(large["plant_conflict"], large["baseline"])["mean"])


def test_the_recorded_cells_are_what_the_command_makes(tmp_path):
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "planted_family.py"), "--out", str(tmp_path), "--seeds", "0",
                           "--sizes", "64", "--sources", "plant_related,plant_conflict"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    rerun = {c["source"] or "baseline": c for c in load_cells(tmp_path / "n64")}
    recorded = {c["source"] or "baseline": c for c in load_cells(RECORDED / "n64") if c["seed"] == 0}
    assert set(rerun) == {"baseline", "plant_related", "plant_conflict"}
    for source, cell in rerun.items():  # the same configuration, data and batch order...
        assert {k: cell[k] for k in ("key", "batch_order", "target_steps", "eval_examples")} == \
            {k: recorded[source][k] for k in ("key", "batch_order", "target_steps", "eval_examples")}, source
    # ...and the same score up to three questions of 200: another CPU's kernels round differently, and the tiny random
    # model's start/end logits have near-ties that an argmax can resolve the other way (CI once moved one question's
    # F1 by 4.8 points, 0.024 on the mean). A changed command moves scores by many questions.
    assert {s: c["score"] for s, c in rerun.items()} == pytest.approx(
        {s: recorded[s]["score"] for s in rerun}, abs=3 * 100 / recorded["baseline"]["eval_examples"])


MINILM = ["--out", str(RECORDED.parent / "planted_minilm"), "--sizes", "32", "--sources",
          "plant_related,plant_conflict,plant_surface"]
#: Homework 2 offline without the data folder, as recorded (relative --out: the packaged file names its command).
OFFLINE = ["--model", "minilm", "--seeds", "0,1,2", "--sizes", "16,64", "--out", "bench/results/planted_offline"]


@pytest.mark.parametrize("arguments", [[], MINILM, OFFLINE], ids=["tiny model", "MiniLM", "the homeworks offline"])
def test_results_section_12_prints_what_the_committed_cells_give(arguments):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "planted_family.py"), "--report-only", *arguments], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    results = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    for block in done.stdout.strip().split("\n\n"):
        assert block.strip() in results, f"RESULTS section 12 differs from planted_family.py --report-only:\n{block}"


def test_with_the_pretrained_encoder_the_contrasts_hold_at_a_small_target():
    """MiniLM, 32 target questions, 4 epochs (bench/results/planted_minilm): the related source helps at every
    one of 6 seeds, more than the conflicting and the sentence-order sources at every seed; the conflicting one
    hurts on average (not at every seed: some recover, RESULTS section 12)."""
    scores: dict[str, dict[int, float]] = {}
    for cell in load_cells(RECORDED.parent / "planted_minilm" / "n32"):
        scores.setdefault(cell["source"] or "baseline", {})[cell["seed"]] = cell["score"]
    assert all(len(s) == 6 for s in scores.values()) and 20 < statistics.mean(scores["baseline"].values()) < 80
    related = ref.paired_summary(scores["plant_related"], scores["baseline"])
    conflict = ref.paired_summary(scores["plant_conflict"], scores["baseline"])
    assert related["mean"] > 0 and related["p_value"] <= 0.05 and conflict["mean"] < 0
    for other in ("plant_conflict", "plant_surface"):
        versus = ref.paired_summary(scores["plant_related"], scores[other])
        assert versus["mean"] > 0 and versus["p_value"] <= 0.05, other


def test_homework_2_offline_is_the_recorded_run():
    """The experiment a CPU-only student runs (no data folder) has the recorded run's target and sources,
    so the notebook's "what to expect" rows and Homework 3's packaged transfers describe it."""
    experiment = planted_experiment("minilm")
    assert experiment.model == "minilm" and experiment.seeds == [0, 1, 2]
    for cell in load_cells(RECORDED.parent / "planted_offline" / "n64", [0, 1, 2]):
        assert cell["target_spec"].items() <= dataclasses.asdict(experiment.target).items()
        if cell["source"] is not None:
            spec = next(s for s in experiment.sources if s.name == cell["source"])
            # the homework skips the sources' own scores (n_eval 0): the target runs are the same
            assert {**cell["source_spec"], "n_eval": 0}.items() <= dataclasses.asdict(spec).items()
    assert experiment.with_target_size(experiment.target.n_train // 4).target.n_train == 16  # the recorded small size


def test_the_packaged_planted_transfers_are_the_recorded_cells(bench_module, tmp_path, monkeypatch):
    family = bench_module("planted_family")
    monkeypatch.setattr(family, "PACKAGED", tmp_path / "made.json")
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["planted_family.py", *OFFLINE, "--report-only", "--package", "64"])
    family.main()
    made, shipped = (json.loads(path.read_text()) for path in (tmp_path / "made.json", family.RESOURCES / "transfer_results_plant_qa.json"))
    assert {k: v for k, v in made.items() if k != "versions"} == {k: v for k, v in shipped.items() if k != "versions"}
    results = packaged_transfer_results("plant_qa")
    assert max(results.scores, key=results.scores.get) == "plant_related" and min(results.scores, key=results.scores.get) == "plant_tagging"
