"""Intermediate-task transfer on the tiny model and generated tasks: the encoder really carries over,
the baseline and the transfer runs train on the identical target budget, each source is trained
once per seed, and the matrix resumes without redoing finished cells."""
from __future__ import annotations

import json
import math
import shutil

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.collections import PathCollection

from itft_utils import finetune, homework, training, transfer
from itft_utils.homework import prepare_task
from itft_utils.models import build_model, save_encoder
from itft_utils.plots import plot_transfer
from itft_utils.qa import QASettings
from itft_utils.training import TrainConfig
from itft_utils.transfer import (
    TaskSpec,
    format_table,
    load_cells,
    run_transfer_matrix,
    transfer_table,
    unpaired_cells,
)

SETTINGS = QASettings(96, 32)
CONFIG = TrainConfig(learning_rate=3e-3, batch_size=8)
TARGETS = [TaskSpec("gen_qa", "generated", 16, 8, 2), TaskSpec("gen_qa", "generated", 8, 8, 1, label="gen_qa_small")]
SOURCES = [TaskSpec("gen_sentiment", "generated", 16, 0, 1), TaskSpec("gen_tagging", "generated", 16, 0, 1)]
SEEDS = [0, 1]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


class Recorder:
    """Wraps what a run calls, to see what it did: every fine-tuning (task, starting point), every
    training batch (the features' tokens), the encoder of each freshly built model and of each
    trained source model."""

    def __init__(self, monkeypatch):
        self.runs: list[dict] = []
        real_fine_tune, real_build, real_collate = transfer.fine_tune, finetune.build_model, training.collate

        def fine_tune(model, task, train_examples, eval_examples=None, config=None, *args, **kwargs):
            run = {"task": task.name, "start": str(model), "batches": [], "built": None}
            self.runs.append(run)
            result = real_fine_tune(model, task, train_examples, eval_examples, config, *args, **kwargs)
            run["trained"] = {k: v.clone() for k, v in encoder_state(result.model).items()}
            run["steps"] = len(result.history.steps)
            return result

        def build(*args, **kwargs):
            model = real_build(*args, **kwargs)
            self.runs[-1]["built"] = {k: v.clone() for k, v in encoder_state(model).items()}
            return model

        def collate(features, indices, *args, **kwargs):
            if "labels" in features or "start_positions" in features:  # training batches, not prediction
                self.runs[-1]["batches"].append([tuple(features["input_ids"][i]) for i in indices])
            return real_collate(features, indices, *args, **kwargs)

        monkeypatch.setattr(transfer, "fine_tune", fine_tune)
        monkeypatch.setattr(finetune, "build_model", build)
        monkeypatch.setattr(training, "collate", collate)

    def tasks(self) -> list[str]:
        return [r["task"] for r in self.runs]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    """One matrix: 2 targets x (baseline + 2 sources) x 2 seeds, every call recorded."""
    out = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as mp:
        recorder = Recorder(mp)
        cells = run_transfer_matrix(SOURCES, TARGETS, SEEDS, out, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    return out, cells, recorder


def encoder_state(model) -> dict:
    """The encoder's weights without the pooler (QA and tagging heads do not use one)."""
    return {k: v for k, v in model.base_model.state_dict().items() if not k.startswith("pooler.")}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_source_is_trained_once_per_seed_and_reused_for_every_target(matrix):
    _, cells, recorder = matrix
    tasks = recorder.tasks()
    assert tasks.count("gen_sentiment") == len(SEEDS) and tasks.count("gen_tagging") == len(SEEDS)
    assert tasks.count("gen_qa") == len(TARGETS) * (1 + len(SOURCES)) * len(SEEDS)
    assert len(cells) == len(TARGETS) * (1 + len(SOURCES)) * len(SEEDS)
    # Both targets of one (source, seed) started from the same cached folder.
    starts = {(r["start"]) for r in recorder.runs if r["task"] == "gen_qa" and "intermediate" in r["start"]}
    assert len(starts) == len(SOURCES) * len(SEEDS)


def test_hand_over_keeps_the_intermediate_encoder_bit_identical(matrix):
    _, _, recorder = matrix
    runs = recorder.runs
    for i, source_run in enumerate(runs):
        if source_run["task"] == "gen_qa":
            continue
        pretrained = source_run["built"]
        assert not _same(pretrained, source_run["trained"]), "the source run did not change the encoder"
        target_runs = [r for r in runs[i + 1:] if r["task"] == "gen_qa" and r["start"] != "tiny"][:1]
        assert target_runs, "no target run followed the source run"
        assert _same(target_runs[0]["built"], source_run["trained"])  # before any target step


def test_baseline_and_transfer_runs_see_the_same_target_batches_for_the_same_steps(matrix):
    _, cells, recorder = matrix
    target_runs = [r for r in recorder.runs if r["task"] == "gen_qa"]
    # Target runs come in plan order: per seed, per target, the baseline and then each source.
    order = [(seed, t.display) for seed in SEEDS for t in TARGETS for _ in range(1 + len(SOURCES))]
    assert len(order) == len(target_runs)
    groups: dict[tuple, list[dict]] = {}
    for key, run in zip(order, target_runs):
        assert len(run["batches"]) == run["steps"] > 0  # one batch per optimiser step
        groups.setdefault(key, []).append(run)
    for key, runs in groups.items():
        assert runs[0]["start"] == "tiny" and all(r["start"] != "tiny" for r in runs[1:])  # baseline first
        assert all(r["batches"] == runs[0]["batches"] for r in runs), key  # same examples, same order
        # The digest each cell records says the same, for results read back from disk.
        assert len({c["batch_order"] for c in cells if (c["seed"], c["target"]) == key}) == 1
    assert unpaired_cells(cells) == []
    moved = [dict(c, batch_order="elsewhere") if c["source"] == "gen_tagging" and c["seed"] == 1 else c for c in cells]
    assert [line.split(",")[0] for line in unpaired_cells(moved)] == ["gen_tagging -> gen_qa", "gen_tagging -> gen_qa_small"]
    assert all(c["versions"]["tokenizers"] for c in cells)  # each cell records what cut its windows
    other = [dict(c, versions=dict(c["versions"], tokenizers="0.23.1")) if c["batch_order"] == "elsewhere" else c for c in moved]
    lines = unpaired_cells(other)
    assert len(lines) == 2 and all(line.endswith(f"(tokenizers 0.23.1 vs {cells[0]['versions']['tokenizers']})") for line in lines)
    assert groups[(0, "gen_qa")][0]["batches"] != groups[(1, "gen_qa")][0]["batches"], "the seed should change the order"


def test_rerun_skips_finished_cells_and_resumes_after_an_interruption(matrix, tmp_path, monkeypatch):
    out, cells, _ = matrix
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    recorder = Recorder(monkeypatch)
    again = run_transfer_matrix(SOURCES, TARGETS, SEEDS, copy, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    assert recorder.runs == []  # nothing trained
    assert [c["score"] for c in again] == [c["score"] for c in cells]
    # An interruption lost one cell (or never wrote it): only that target run is redone, its source
    # comes from the cache.
    lost = transfer.cell_path(copy, "gen_qa", "gen_tagging", 1)
    lost.unlink()
    run_transfer_matrix(SOURCES, TARGETS, SEEDS, copy, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    assert recorder.tasks() == ["gen_qa"] and lost.exists()
    # A changed budget is a different experiment: its cells are rerun, not reused.
    recorder.runs.clear()
    longer = [TaskSpec("gen_qa", "generated", 16, 8, 3)]
    run_transfer_matrix([], longer, [0], copy, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    assert recorder.tasks() == ["gen_qa"]


def test_an_interrupted_matrix_keeps_its_finished_cells(tmp_path, monkeypatch):
    recorder = Recorder(monkeypatch)
    inner = transfer.fine_tune

    def interrupted(*args, **kwargs):
        if len(recorder.runs) == 3:  # baseline, source, first transfer done; the next one dies
            raise KeyboardInterrupt
        return inner(*args, **kwargs)

    monkeypatch.setattr(transfer, "fine_tune", interrupted)
    target, sources = [TaskSpec("gen_qa", "generated", 8, 4, 1)], [TaskSpec("gen_sentiment", "generated", 8, 0, 1)]
    with pytest.raises(KeyboardInterrupt):
        run_transfer_matrix(sources, target, [0, 1], tmp_path, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    assert len(load_cells(tmp_path)) == 2 and not list(tmp_path.glob("cells/*/.*.tmp"))
    monkeypatch.setattr(transfer, "fine_tune", inner)
    recorder.runs.clear()
    cells = run_transfer_matrix(sources, target, [0, 1], tmp_path, "tiny", CONFIG, SETTINGS, progress=False, prepare=prepare_task)
    assert recorder.tasks() == ["gen_qa", "gen_sentiment", "gen_qa"]  # seed 1 only
    assert len(cells) == 4


def test_tagging_encoder_hands_over_to_a_qa_head_of_two_outputs(tmp_path, tiny_tokenizer):
    tagger = build_model("tiny", "tagging", label_names=["O", "B-X", "I-X", "B-Y", "I-Y"])
    folder = save_encoder(tagger, tmp_path / "enc", tiny_tokenizer)
    qa = build_model(str(folder), "qa")
    assert qa.qa_outputs.out_features == 2  # not the tagger's 5 labels
    out = qa(**tiny_tokenizer(["where does anna live ?"], ["anna lives in rome ."], return_tensors="pt"))
    assert out.start_logits.shape == out.end_logits.shape
    assert _same(encoder_state(tagger), encoder_state(qa))


def _cell(source, seed, f1, target="t"):
    return {"target": target, "source": source, "seed": seed, "metric": "f1", "score": f1, "target_type": "qa",
            "metrics": {"f1": f1, "exact_match": f1 - 10}, "source_type": None if source is None else "qa"}


def test_table_means_stds_and_relative_gains():
    cells = [_cell(None, 0, 40.0), _cell(None, 1, 60.0), _cell("a", 0, 55.0), _cell("a", 1, 65.0), _cell("b", 0, 30.0)]
    rows = transfer_table(cells)
    assert [r["source"] for r in rows] == [None, "a", "b"]
    base, a, b = rows
    assert base["mean"] == 50.0 and math.isclose(base["std"], math.sqrt(200)) and base["gain"] is None
    assert a["mean"] == 60.0 and math.isclose(a["gain"], 0.2) and a["exact_match_mean"] == 50.0
    assert math.isnan(b["std"]) and math.isclose(b["gain"], -0.4)
    text = format_table(rows)
    assert "+20.0 %" in text and "-40.0 %" in text and transfer.BASELINE in text


def test_a_source_on_fewer_seeds_is_compared_through_its_paired_differences():
    """Source "b" ran only at seed 1, where the baseline had its best run: its plain mean (62) would rank it
    above "a" (60), whose paired gain (+10 per seed) is larger than b's (+2). The paired mean (50 + 2)
    and the selection's scores built from it do not confuse the two."""
    from itft_utils.selection import transfer_results_from_rows

    cells = [_cell(None, 0, 40.0), _cell(None, 1, 60.0), _cell("a", 0, 50.0), _cell("a", 1, 70.0), _cell("b", 1, 62.0)]
    rows = {r["source"]: r for r in transfer_table(cells)}
    assert rows["a"]["paired_mean"] == rows["a"]["mean"] == 60.0  # the same seeds: the same number
    assert rows["b"]["mean"] == 62.0 and rows["b"]["paired_mean"] == 52.0
    assert rows[None]["paired_mean"] == 50.0
    assert transfer_results_from_rows(list(rows.values())).scores == {"a": 60.0, "b": 52.0}


def test_transfer_plot_has_baseline_line_labels_and_one_dot_per_seed():
    cells = [_cell(None, 0, 40.0), _cell(None, 1, 60.0), _cell("a", 0, 55.0), _cell("a", 1, 65.0), _cell("b", 0, 30.0)]
    fig = plot_transfer(cells)
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and "f1" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 50.0 for line in ax.get_lines())
    assert sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)) == 3  # source seeds
    plt.close(fig)
    with pytest.raises(ValueError, match="targets"):
        plot_transfer(cells + [_cell(None, 0, 1.0, target="other")])


def test_gain_by_target_size_plot_shows_seeds_means_and_the_given_intervals():
    from itft_utils.plots import plot_gain_by_target_size

    fig = plot_gain_by_target_size({1000: {0: 1.0, 1: 3.0}, 250: {0: 4.0, 1: 6.0, 2: 5.0}}, {250: (3.0, 7.0), 1000: (-1.0, 5.0)})
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection)) == 5
    mean_line = next(line for line in ax.get_lines() if line.get_label() == "mean paired difference")
    assert list(mean_line.get_xdata()) == [250, 1000] and list(mean_line.get_ydata()) == [5.0, 2.0]
    assert ax.get_xscale() == "log" and [t.get_text() for t in ax.get_xticklabels()] == ["250", "1000"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no target sizes"):
        plot_gain_by_target_size({})


def test_a_smaller_target_keeps_the_qa_source_and_its_encoders(tmp_path):
    experiment = homework.homework_experiment("grading")
    small = experiment.with_target_size(16)
    assert small.target.n_train == 16 and small.target.display == "gen_qa-16"
    assert [s.name for s in small.sources] == ["gen_qa_aux"] and small.seeds == experiment.seeds
    key = transfer.cell_key(small.target, small.sources[0], small.model, 0, small.config, small.settings)
    assert key != transfer.cell_key(experiment.target, experiment.sources[0], experiment.model, 0, experiment.config,
                                    experiment.settings)
    for mode in ("colab", "offline"):  # the QA source comes first in every mode
        first = homework.homework_experiment(mode, data_dir=tmp_path).sources[0]
        assert first.name in ("hotpotqa", "plant_related", "policyqa")  # offline without the data folder: the planted family


def test_specs_refuse_bad_budgets_and_duplicate_labels(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        TaskSpec("gen_qa", epochs=0)
    with pytest.raises(ValueError, match="distinct labels"):
        run_transfer_matrix([SOURCES[0], SOURCES[0]], TARGETS[:1], [0], tmp_path, "tiny", CONFIG, prepare=prepare_task)


def test_homework_experiment_in_grading_mode_is_small_and_generated():
    experiment = homework.homework_experiment("grading")
    assert experiment.model == "tiny" and experiment.target.name == "gen_qa"
    assert [s.name for s in experiment.sources] == ["gen_qa_aux", "gen_sentiment", "gen_tagging"]
    assert "gen_qa" in str(experiment)


def test_cells_are_json_with_what_the_report_needs(matrix):
    out, _, _ = matrix
    cell = json.loads(transfer.cell_path(out, "gen_qa", "gen_sentiment", 0).read_text())
    for key in ("score", "metrics", "curve", "target_steps", "target_features", "batch_order", "source_type", "key"):
        assert key in cell
    assert cell["source_type"] == "classification" and cell["target_steps"] == 4


def test_the_source_table_shows_what_each_source_learned_and_cost():
    """From the committed real-data cells: each source's own held-out score, examples and steps (the
    same 2,000 examples are more steps for SubjQA's long contexts)."""
    from pathlib import Path

    from itft_utils.transfer import load_cells, source_table

    # RESULTS §3's seeds, whatever else the folder gains
    table = source_table(load_cells(Path(__file__).resolve().parents[1] / "bench" / "results" / "transfer", seeds=[0, 1, 2]))
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert sorted(rows) == ["conll2000", "policyqa", "sst2", "subjqa"]
    assert "| 3 | f1 31.7 ± 1.0 | 2000 | 410 | 26–27 |" in rows["subjqa"] and "accuracy 0.825" in rows["sst2"]


def test_a_second_target_is_a_pair_classification_spec_and_refuses_its_own_task_as_a_source():
    """Issue 33's second target: MRPC (or RTE) scored on its labelled held-out split, from the same source specs
    (so the same cached source encoders) as the SQuAD matrix; the target's own task cannot be one of its sources."""
    from itft_utils.homework import pair_target, real_data_experiment, real_data_sources

    experiment = real_data_experiment("/nonexistent", sources=real_data_sources(names=["policyqa", "rte"]), target=pair_target("mrpc"))
    assert (experiment.target.name, experiment.target.n_train, experiment.target.eval_split) == ("mrpc", 1000, "test")
    assert "mrpc target" in experiment.description
    assert experiment.sources == real_data_experiment("/nonexistent", sources=real_data_sources(names=["policyqa", "rte"])).sources
    assert pair_target("rte").eval_split == "validation"  # RTE's test file has no labels
    with pytest.raises(ValueError, match="source mrpc is the target's own task"):
        real_data_experiment("/nonexistent", sources=real_data_sources(names=["mrpc"]), target=pair_target("mrpc"))
    with pytest.raises(ValueError, match="no target spec for 'cola'"):
        pair_target("cola")
