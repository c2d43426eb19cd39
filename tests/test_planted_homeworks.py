"""Issue 35: offline on the planted family, a typical mistake in one exercise of each homework moves the
numbers that homework's experiment prints, in a direction a student can notice. Each exercise is broken by
editing the model solution's text (as in test_typical_mistakes.py) and run through the homework's own
data and experiment functions, with the tiny model at its planted settings standing in for MiniLM
(seconds instead of minutes; the MiniLM numbers are RESULTS section 12's). Each test prints what it measured:
``python -m pytest -p no:xdist -o addopts="" tests/test_planted_homeworks.py -s`` gives the numbers RESULTS section
12 quotes for the tiny model."""
from __future__ import annotations

import statistics
from pathlib import Path

import nbformat
import numpy as np
import pytest

from itft_grader.checks.local import solution_namespace
from itft_grader.course import solutions_dir
from itft_utils.data import generate_task
from itft_utils.homework import PLANTED_SETTINGS, PLANTED_TARGET, load_task_pair, planted_experiment, taskemb_library
from itft_utils.mtl_sweep import lambda_sweep
from itft_utils.mtl_training import MTLConfig
from itft_utils.qa import QASettings
from itft_utils.taskemb import embed_tasks, similarity_matrix
from itft_utils.training import TrainConfig
from itft_utils.transfer import load_cells

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]  # one thread: the committed cells' numbers
ROOT = Path(__file__).resolve().parents[1]
SEEDS = [0, 1, 2]


@pytest.fixture(autouse=True)
def _offline_without_data(monkeypatch, tmp_path):
    """A data folder without the homeworks' files: offline, the homeworks run the planted family."""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the solutions' setup cells run in grading mode: quiet, small
    monkeypatch.setenv("ITFT_DATA_DIR", str(tmp_path / "no-data"))


def _solution(homework: str, answer: str, mistake: tuple[str, str] | None = None) -> dict:
    return solution_namespace(nbformat.read(solutions_dir() / f"{homework}.ipynb", as_version=4), answer, mistake)


def test_hw1_an_inverted_temperature_starves_the_target_and_its_score_falls(tmp_path):
    """T = 3 sampling with n ** T instead of n ** (1 / T): the target's share of the batches and its
    test F1 both fall, at every seed (the auxiliary shares the rule, so only the target's own words suffer)."""
    data = load_task_pair("offline", n_target=64, n_aux=256, n_eval=150, n_dev=50)
    assert (data.target.name, data.auxiliary.name) == (PLANTED_TARGET, "plant_related")
    right = _solution("hw1_mtl", "sampler_code")
    wrong = _solution("hw1_mtl", "temperature_code", ("logits = np.log(n) / T", "logits = np.log(n) * T"))

    def sampling(temperature_distribution):
        return MTLConfig(data.target.name, "sampling", sampler=right["SeededTaskSampler"],
                         sampling=lambda sizes, epoch, epochs: temperature_distribution(sizes, 3.0))

    setting = PLANTED_SETTINGS["tiny"]
    runs = {"right": sampling(right["temperature_distribution"]), "wrong": sampling(wrong["temperature_distribution"])}
    rows = lambda_sweep("tiny", data.target, data.auxiliary, data.train, data.eval, runs,
                        config=TrainConfig(learning_rate=setting.learning_rate, epochs=setting.target_epochs, batch_size=16,
                                           warmup_ratio=0.1, progress=False),
                        settings=QASettings(128, 32), dev_examples=data.dev, seeds=dict.fromkeys(runs, SEEDS),
                        out_dir=tmp_path / "runs")
    by = {(r["run"], r["seed"]): r for r in rows}
    for run in runs:
        print(f"hw1 {run} temperature: target share {[round(by[run, s]['target_share'], 3) for s in SEEDS]}, "
              f"test F1 {[round(by[run, s]['f1'], 1) for s in SEEDS]}")
    for seed in SEEDS:
        right_row, wrong_row = by["right", seed], by["wrong", seed]
        assert wrong_row["target_share"] < right_row["target_share"] / 5, seed
        assert wrong_row["f1"] < right_row["f1"] - 10, (seed, right_row["f1"], wrong_row["f1"])


def test_hw1_the_conflicting_auxiliary_pulls_against_the_target(tmp_path):
    """λ = 0.5 with the student's layer_cosines logged: in the second half of training the auxiliary that maps
    the target's words the other way has gradients opposed to the target's in the lower encoder (a negative
    mean cosine at every seed), the one that shares the rule aligned ones; and it costs the target more."""
    ns = _solution("hw1_mtl", "cosines_code")
    setting = PLANTED_SETTINGS["tiny"]
    config = TrainConfig(learning_rate=setting.learning_rate, epochs=setting.target_epochs, batch_size=16, warmup_ratio=0.1,
                         progress=False)
    late, f1 = {}, {}
    for auxiliary in ("plant_related", "plant_conflict"):
        target, aux = (generate_task(name, sizes={"train": n, "validation": 100}, seed=0)
                       for name, n in ((PLANTED_TARGET, 64), (auxiliary, 256)))
        rows = lambda_sweep("tiny", target, aux, {target.name: target.split("train"), aux.name: aux.split("train")},
                            target.split("validation")[50:], {"λ = 0.5": MTLConfig(target.name, "weighting", 0.5, cosines=ns["layer_cosines"])},
                            config=config, settings=QASettings(128, 32), keep_histories=True, dev_examples=target.split("validation")[:50],
                            seeds={"λ = 0.5": SEEDS}, out_dir=tmp_path / auxiliary)
        for row in rows:
            cosines = [step["cosines"]["layer.0"] for step in row["history"].steps if "cosines" in step]
            late[auxiliary, row["seed"]] = statistics.mean(cosines[len(cosines) // 2:])
            f1[auxiliary, row["seed"]] = row["f1"]
    for auxiliary in ("plant_related", "plant_conflict"):
        print(f"hw1 lambda 0.5 with {auxiliary}: late first-layer cosine {[round(late[auxiliary, s], 3) for s in SEEDS]}, "
              f"test F1 {[round(f1[auxiliary, s], 1) for s in SEEDS]}")
    for seed in SEEDS:
        assert late["plant_conflict", seed] < 0 < late["plant_related", seed], late
        assert f1["plant_conflict", seed] < f1["plant_related", seed], f1


def test_hw2_an_off_by_one_labeller_lowers_the_baseline_without_promoting_a_source(tmp_path):
    """Answer spans labelled one token too long: the baseline falls at every seed, while the source that
    shares the target's rule stays the best and the tagger stays below the baseline (on the generated
    tasks of the second edition a labelling bug instead made the tagger a top source)."""
    experiment = planted_experiment("tiny")
    # The right labeller's run is RESULTS section 12's (bench/planted_family.py), made with these same settings.
    recorded = load_cells(ROOT / "bench/results/planted/n64", SEEDS)
    assert experiment.model == "tiny" and all(c["target_spec"].items() <= experiment.target.budget().items() for c in recorded)
    experiment.sources = [s for s in experiment.sources if s.name in ("plant_related", "plant_tagging")]
    ns = _solution("hw2_intermediate", "hand_over_code")
    wrong = _solution("hw2_intermediate", "char_to_token_code", ("    return start, end\n", "    return start, end + 1\n"))
    cells = experiment.run(tmp_path / "runs", progress=False, label_span=wrong["char_to_token_span"],
                           decode_span=ns["best_span"], normalize_answer=ns["normalize_answer"], answer_f1=ns["answer_f1"],
                           hand_over=ns["hand_over"])
    right = {c["seed"]: c["score"] for c in recorded if c["source"] is None}
    mine = {(c["source"], c["seed"]): c["score"] for c in cells}
    print(f"hw2 baseline F1, right labeller {[round(right[s], 1) for s in SEEDS]} (mean {statistics.mean(right.values()):.1f}), "
          f"off by one {[round(mine[None, s], 1) for s in SEEDS]} (mean {statistics.mean(mine[None, s] for s in SEEDS):.1f})")
    for seed in SEEDS:
        assert mine[None, seed] < right[seed] - 5, (seed, right[seed], mine[None, seed])
        assert mine["plant_related", seed] > max(mine[None, seed], mine["plant_tagging", seed]), seed
    assert statistics.mean(mine["plant_tagging", s] - mine[None, s] for s in SEEDS) < 0


def test_hw3_a_fisher_of_absolute_gradients_flattens_the_task_space(tmp_path):
    """|g| instead of g² in the layer features passes the public checks, but every source's TaskEmb
    cosine to the target rises towards 1 (|g| is closer to uniform than g², so any two tasks look alike),
    and the spread between the most and the least similar source shrinks."""
    library = taskemb_library("offline")
    assert library.target == PLANTED_TARGET and library.kind == "generated"
    right = _solution("hw3_taskemb", "layer_fisher_code")
    wrong = _solution("hw3_taskemb", "layer_fisher_code", ("((g ** 2 * mask).sum(1) / tokens)", "((g.abs() * mask).sum(1) / tokens)"))
    config = TrainConfig(learning_rate=PLANTED_SETTINGS["tiny"].learning_rate, epochs=1, batch_size=16, seed=0, progress=False)
    cosines = {}
    for label, ns in (("right", right), ("wrong", wrong)):
        embedded = embed_tasks(library.tasks, model="tiny", out_dir=tmp_path / label, n_train=library.n_train,
                               n_fisher=library.n_fisher, config=config, settings=QASettings(128, 32), batch_size=32,
                               threads=1, verbose=False, text=False, layer_fisher=ns["layer_output_fisher"])
        names, sim = similarity_matrix({name: right["aggregate_parts"](e.parts) for name, e in embedded.items()})
        row = sim[names.index(library.target)]
        cosines[label] = {name: row[i] for i, name in enumerate(names) if name != library.target}
    for label, c in cosines.items():
        print(f"hw3 tiny TaskEmb cosines to the target, {label} Fisher: " + ", ".join(f"{s} {v:.3f}" for s, v in sorted(c.items())))
    assert all(cosines["wrong"][s] > cosines["right"][s] for s in cosines["right"]), cosines
    spread = {label: np.ptp(list(c.values())) for label, c in cosines.items()}
    assert spread["wrong"] < spread["right"], spread
