"""Task embeddings: the vectorised Fisher equals the per-example loop, the Fisher of a linear softmax
model equals its closed form, batched layer features equal the loop, embeddings are reproducible and
resume from their cache, and the selection metrics match hand-computed examples."""
from __future__ import annotations

import copy
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from itft_grader.checks import references as ref
from itft_utils import fisher, selection
from itft_utils import taskemb as te
from itft_utils.data import generate_task
from itft_utils.encoding import collate, encode, sorted_batches
from itft_utils.models import build_model
from itft_utils.qa import QASettings
from itft_utils.runtime import torch_threads
from itft_utils.training import TrainConfig

TOLERANCE = 1e-5  # relative to each tensor's largest entry (the criterion)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module", params=["qa", "classification", "regression", "tagging"])
def tiny_setup(request, tiny_tokenizer):
    """A tiny model with a head for one task type, and 6 features of varied lengths (so batches pad)."""
    name = {"qa": "gen_qa", "classification": "gen_pair", "regression": "gen_similarity", "tagging": "gen_tagging"}[request.param]
    task = generate_task(name, sizes={"train": 6})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model("tiny", task.task_type, task.num_labels, task.label_names).eval()
    features = encode(task.task_type, task.split("train"), tiny_tokenizer, QASettings(96, 32))
    return task, model, features


def test_vectorised_weight_fisher_equals_loop(tiny_setup):
    task, model, features = tiny_setup
    vectorised = te.weight_fisher(model, features, task.task_type, method="vmap", batch_size=3)
    loop = te.weight_fisher(model, features, task.task_type, method="loop", batch_size=3)
    # names relative to the base model, so they agree across heads; the pooler left out
    assert set(vectorised) == {n.removeprefix("bert.") for n in fisher.encoder_parameter_names(model)}
    assert not any(k.startswith("pooler.") for k in vectorised)
    assert te.max_relative_error(vectorised, loop) <= TOLERANCE


def test_per_example_grads_vmap_equals_loop_on_padded_batch(tiny_setup):
    """In float64: raw gradients (not squared) of a random tiny model include some that are zero in exact
    arithmetic (key biases; for QA, the last LayerNorm's bias) or 1e-7 of the largest, where float32
    rounding noise dominates; the algorithm is what is tested here (float32 on MiniLM: bench_fisher.py)."""
    task, model, features = tiny_setup
    model = copy.deepcopy(model).double()
    longest = max(len(x) for x in features["input_ids"])
    batch = collate(features, list(range(4)), 0, pad_to=longest + 3)  # every row padded: the mask matters
    if task.task_type == "regression":
        batch["labels"] = batch["labels"].double()
    loss_fn = fisher.hf_loss_fn(task.task_type, torch.float64)
    names = fisher.encoder_parameter_names(model)
    vectorised = te.per_example_grads(model, batch, loss_fn, names, "vmap")
    loop = te.per_example_grads(model, batch, loss_fn, names, "loop")
    assert next(iter(vectorised.values())).shape[0] == 4
    assert te.max_relative_error(vectorised, loop) <= TOLERANCE


def test_layer_features_batched_equal_loop(tiny_setup):
    task, model, features = tiny_setup
    batched = te.layer_features(model, features, task.task_type, method="batched", batch_size=3)
    loop = te.layer_features(model, features, task.task_type, method="loop", batch_size=3)
    layers = model.config.num_hidden_layers
    assert set(batched) == {"cls_output"} | {f"encoder.layer.{i}.{k}" for i in range(layers) for k in ("attention_output", "layer_output")}
    assert all(v.shape == (model.config.hidden_size,) and (v >= 0).all() for v in batched.values())
    assert te.max_relative_error(batched, loop) <= TOLERANCE


def test_layer_features_with_a_replaced_batch_step_equal_the_librarys(tiny_setup):
    """Homework 3's exercise runs through layer_features_with: the course's reference (one example at a time,
    retain_grad) plugged in gives the library's batched features, for every task type."""
    task, model, features = tiny_setup
    mine = te.layer_features_with(ref.layer_output_fisher, model, features, task.task_type, batch_size=3)
    assert te.max_relative_error(mine, te.layer_features(model, features, task.task_type, batch_size=3)) <= TOLERANCE
    assert all(not m._forward_hooks for m in model.modules()), "the reference leaves no hook behind"


@pytest.mark.parametrize("bad, message", [
    (lambda model, batch, loss_fn: {"cls_output": torch.zeros(4)}, r"returned \['cls_output'\].*expected a dict with the keys"),
    (lambda model, batch, loss_fn: None, r"returned NoneType"),
])
def test_a_replaced_layer_step_that_returns_the_wrong_thing_is_refused(bad, message, tiny_tokenizer):
    from itft_utils.replaced import StudentCodeError

    task = generate_task("gen_qa", sizes={"train": 4})
    model = build_model("tiny", "qa").eval()
    features = encode("qa", task.split("train"), tiny_tokenizer, QASettings(96, 32))
    with pytest.raises(StudentCodeError, match=message):
        fisher.layer_features_with(bad, model, features, "qa")

    def wrong_size(model, batch, loss_fn):
        return {k: torch.zeros(3) for k in ref.layer_output_fisher(model, batch, loss_fn)}

    with pytest.raises(StudentCodeError, match=r"has shape \(3,\).*expected \(\d+,\)"):
        fisher.layer_features_with(wrong_size, model, features, "qa")


def test_textemb_averages_each_example_first(tiny_tokenizer):
    """Vu et al.'s TextEmb: a long example (a QA context in several windows) counts once, like a short one."""
    examples = generate_task("gen_qa", sizes={"train": 3}).split("train")
    examples[0] = {**examples[0], "context": " ".join([examples[0]["context"]] * 12)}  # several windows
    features = encode("qa", examples, tiny_tokenizer, QASettings(48, 16))
    assert len(features["input_ids"]) > len(examples)
    encoder = build_model("tiny", "regression").base_model.eval()
    with torch.no_grad():
        per_example = []
        for e in range(len(examples)):
            rows = [i for i, x in enumerate(features["example_index"]) if x == e]
            hidden = torch.cat([encoder(input_ids=torch.tensor([features["input_ids"][i]]),
                                        token_type_ids=torch.tensor([features["token_type_ids"][i]])).last_hidden_state[0]
                                for i in rows])
            per_example.append(hidden.mean(0))
    expected = torch.stack(per_example).mean(0)
    assert torch.allclose(te.text_embedding(encoder, features, batch_size=2), expected, atol=1e-5)


def test_batch_mean_fisher_differs_from_per_example_and_follows_its_formula(tiny_setup):
    """Vu et al.'s variant: Σ_b (mean gradient of batch b)² / N."""
    task, model, features = tiny_setup
    per_example = te.weight_fisher(model, features, task.task_type, method="loop", batch_size=3)
    batch_mean = te.weight_fisher(model, features, task.task_type, fisher="batch_mean", batch_size=3)
    loss_fn = fisher.hf_loss_fn(task.task_type)
    names = fisher.encoder_parameter_names(model)
    expected = {}
    for indices in sorted_batches(features, 3):
        grads = te.per_example_grads(model, collate(features, indices, 0), loss_fn, names, "loop")
        for n in names:
            expected[n.removeprefix("bert.")] = expected.get(n.removeprefix("bert."), 0) + grads[n].mean(0) ** 2
    n_features = len(features["input_ids"])
    assert te.max_relative_error(batch_mean, {k: v / n_features for k, v in expected.items()}) <= TOLERANCE
    assert te.max_relative_error(batch_mean, per_example) > 1e-3


def test_additive_mask_gives_the_same_outputs_as_the_2d_mask(tiny_setup):
    task, model, features = tiny_setup
    batch = collate(features, list(range(4)), 0)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids")}
    with torch.no_grad():
        standard = model(**inputs, attention_mask=batch["attention_mask"])
        additive = model(**inputs, attention_mask=fisher.additive_attention_mask(batch["attention_mask"]))
    key = "start_logits" if task.task_type == "qa" else "logits"
    assert torch.allclose(getattr(standard, key), getattr(additive, key), atol=1e-5)


def test_per_example_loss_is_independent_of_batching(tiny_setup):
    task, model, features = tiny_setup
    loss_fn = fisher.hf_loss_fn(task.task_type)
    batch = collate(features, list(range(4)), 0)
    with torch.no_grad():
        together = loss_fn(model, batch)
        alone = torch.stack([loss_fn(model, fisher._one_example(batch, i))[0] for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)


# --- a model small enough for a closed form -------------------------------------------------------

def test_linear_softmax_fisher_matches_closed_form():
    """For softmax regression, dℓ/dW = (p − y) xᵀ and dℓ/db = p − y, so the Fisher is their mean square."""
    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(5, 3)
    X, y = torch.randn(8, 5, generator=gen), torch.randint(0, 3, (8,), generator=gen)

    def loss_fn(forward, batch):
        return F.cross_entropy(forward(batch["x"]), batch["y"], reduction="none")

    residual = torch.softmax(model(X), dim=1).detach() - F.one_hot(y, 3).float()
    closed = {"weight": residual[:, :, None] * X[:, None, :], "bias": residual}
    for method in ("vmap", "loop"):
        grads = te.per_example_grads(model, {"x": X, "y": y}, loss_fn, method=method)
        for name in closed:
            assert torch.allclose(grads[name], closed[name], atol=1e-6), (method, name)
            assert torch.allclose((grads[name] ** 2).mean(0), (closed[name] ** 2).mean(0), atol=1e-7)


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_max_relative_error_floors_tensors_that_are_zero_in_exact_arithmetic():
    a = {"big": torch.tensor([1.0, 2.0]), "noise": torch.tensor([1e-11])}
    b = {"big": torch.tensor([1.0, 2.0]), "noise": torch.tensor([3e-11])}
    assert te.max_relative_error(a, b) < 1e-6
    assert te.max_relative_error({"big": torch.tensor([1.0, 2.1])}, {"big": torch.tensor([1.0, 2.0])}) == pytest.approx(0.05)
    assert te.max_relative_error(a, b, floor=0.0) == pytest.approx(2 / 3)
    with pytest.raises(KeyError):
        te.max_relative_error(a, {"big": b["big"]})


def test_unknown_modes_are_rejected_with_the_valid_ones(tiny_setup):
    task, model, features = tiny_setup
    with pytest.raises(ValueError, match="per_example"):
        te.weight_fisher(model, features, task.task_type, fisher="exact")
    with pytest.raises(ValueError, match="vmap"):
        te.per_example_grads(model, collate(features, [0], 0), fisher.hf_loss_fn(task.task_type), method="jit")


# --- aggregation ----------------------------------------------------------------------------------

def test_group_weight_fisher_one_part_per_block():
    fisher = {"embeddings.word_embeddings.weight": torch.ones(10, 4), "embeddings.LayerNorm.weight": torch.ones(4),
              "encoder.layer.0.attention.self.query.weight": torch.full((4, 4), 2.0),
              "encoder.layer.0.output.dense.bias": torch.ones(4),
              "encoder.layer.1.output.dense.weight": torch.arange(8.0).reshape(2, 4)}
    parts = te.group_weight_fisher(fisher)
    assert list(parts) == ["weights/embeddings", "weights/encoder.layer.0", "weights/encoder.layer.1"]
    assert parts["weights/embeddings"].shape == (8,)  # (10, 4) averaged to 4, plus 4
    assert np.allclose(parts["weights/encoder.layer.1"], [2.0, 3.0, 4.0, 5.0])  # mean over the first dimension
    assert te.group_weight_fisher(fisher, reduce="none")["weights/embeddings"].shape == (44,)


def test_aggregate_unit_parts_in_sorted_order():
    parts = {"weights/b": np.array([3.0, 4.0]), "weights/a": np.array([2.0, 0.0]), "features/z": np.zeros(3)}
    v = te.aggregate(parts)
    expected = np.concatenate([np.zeros(3), [1.0, 0.0], [0.6, 0.8]]) / math.sqrt(3)
    assert np.allclose(v, expected)
    assert np.allclose(te.aggregate(parts, include=("weights/",)), np.array([1.0, 0.0, 0.6, 0.8]) / math.sqrt(2))
    with pytest.raises(ValueError, match="no parts"):
        te.aggregate(parts, include=("text/",))


# --- ranking and selection metrics, by hand -------------------------------------------------------

def test_cosine_and_ranking_by_hand():
    vectors = {"t": np.array([1.0, 0.0]), "a": np.array([0.0, 1.0]), "b": np.array([1.0, 1.0]),
               "c": np.array([2.0, 0.1]), "d": np.array([2.0, 2.0])}
    assert te.cosine_similarity(vectors["t"], vectors["b"]) == pytest.approx(1 / math.sqrt(2))
    assert te.cosine_similarity(vectors["t"], np.zeros(2)) == 0.0
    ranked = te.rank_sources("t", vectors)
    assert [name for name, _ in ranked] == ["c", "b", "d", "a"]  # b and d tie: alphabetical
    assert [name for name, _ in te.rank_sources("t", vectors, sources=["a", "c"])] == ["c", "a"]
    names, sim = te.similarity_matrix({k: vectors[k] for k in ("t", "a")})
    assert names == ["t", "a"] and np.allclose(sim, np.eye(2))
    with pytest.raises(KeyError, match="target"):
        te.rank_sources("missing", vectors)


def test_relevance_and_best_rank_by_hand():
    scores = {"a": 50.0, "b": 70.0, "c": 60.0}
    assert te.relevance_from_scores(scores) == {"a": 0.0, "b": 20.0, "c": 10.0}
    assert te.best_source_rank(["a", "c", "b"], scores) == 3
    assert te.best_source_rank(["x", "b", "a", "c"], scores) == 1  # an unmeasured source is not counted
    with pytest.raises(ValueError, match="leaves out"):
        te.best_source_rank(["a", "b"], scores)


def test_baselines_and_selection_table():
    assert te.datasize_ranking({"small": 10, "big": 1000, "also_big": 1000}) == ["also_big", "big", "small"]
    sources = ["a", "b", "c", "d", "e"]
    first = te.random_ranking(sources, seed=3)
    assert sorted(first) == sources and te.random_ranking(reversed(sources), seed=3) == first
    assert len({tuple(te.random_ranking(sources, seed=s)) for s in range(10)}) > 1
    scores = {"a": 50.0, "b": 70.0, "c": 60.0}
    rows = te.selection_table({"perfect": ["b", "c", "a"], "worst": ["a", "c", "b"]}, scores, ref.ndcg_at_k, ref.regret_at_k,
                              k=2, random_expected=True)
    perfect, worst, rand = rows
    assert perfect == {"method": "perfect", "ndcg@2": pytest.approx(1.0), "regret@1": 0.0, "regret@2": 0.0, "best_rank": 1, "top": "b"}
    assert worst["best_rank"] == 3 and worst["regret@1"] == pytest.approx(20 / 70 * 100)
    assert rand["method"] == "random (expected)"


@pytest.mark.parametrize("scores", [{"a": 50.0, "b": 70.0, "c": 60.0, "d": 55.0, "e": 40.0},
                                    {"a": 70.0, "b": 70.0, "c": 50.0, "d": 60.0}])  # two tied best sources
def test_the_random_row_is_the_exact_mean_over_every_order(scores):
    """Issue 33: not a sample of shuffles. Brute force over all n! orders (the row averages over the ordered
    top-k only, and puts the best source's mean rank in a closed form that must hold with ties too)."""
    [rand] = te.selection_table({}, scores, ref.ndcg_at_k, ref.regret_at_k, k=2, random_expected=True)
    orders = [list(order) for order in itertools.permutations(scores)]
    for key, metric in (("ndcg@2", lambda r: ref.ndcg_at_k(r, scores, 2)), ("regret@1", lambda r: ref.regret_at_k(r, scores, 1)),
                        ("regret@2", lambda r: ref.regret_at_k(r, scores, 2)),
                        ("best_rank", lambda r: te.best_source_rank(r, scores))):
        assert rand[key] == pytest.approx(sum(map(metric, orders)) / len(orders)), key


def test_nearest_neighbour_agreement():
    vectors = {"q1": np.array([1.0, 0.0]), "q2": np.array([0.9, 0.1]), "c1": np.array([0.0, 1.0]), "c2": np.array([0.6, 0.5])}
    families = {"q1": "qa", "q2": "qa", "c1": "cls", "c2": "cls"}
    # q1 -> q2, q2 -> q1, c1 -> c2, c2 -> q2 (0.6, 0.5 is closer to q2): 3 of 4
    assert ref.nearest_neighbour_agreement(vectors, families) == pytest.approx(0.75)


def test_default_transfer_results_are_flagged_as_grading_defaults(tmp_path):
    results = te.load_transfer_results()
    assert results.target == "gen_qa" and "NOT REAL-DATA" in results.note
    from itft_utils.homework import taskemb_library

    # Homework 3's grading library, every source of it measured: six sources of four task types.
    assert set(results.scores) == set(taskemb_library("grading").tasks) - {"gen_qa"}
    assert len(results.scores) >= 6 and len({generate_task(s, sizes={"train": 1}).task_type for s in results.scores}) >= 3
    assert set(results.gains) == set(results.scores)
    assert te.packaged_transfer_results("gen_qa").scores == results.scores
    with pytest.raises(FileNotFoundError, match="Homework 2"):
        te.packaged_transfer_results("no_such_target")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"target": "squad"}))
    with pytest.raises(ValueError, match="missing keys"):
        te.load_transfer_results(path)


@pytest.mark.parametrize("mode", ["colab", "offline"])
def test_every_real_data_library_ranks_six_measured_sources_of_three_types(mode, monkeypatch, tmp_path):
    """Without Homework 2's own output, Homework 3 ranks the library's sources that the package has measured
    transfers for (its transfers cell keeps those): at least six, of at least three task types, in Colab
    and offline alike, so that a ranking can be told from a random one (the grading library: above)."""
    from types import SimpleNamespace

    from itft_utils import homework
    from itft_utils.data.hub import HUB_TASKS

    types = {**{name: spec.task_type for name, spec in HUB_TASKS.items()}, "policyqa": "qa", "subjqa": "qa"}
    # The library's task list, without downloading or reading a task.
    monkeypatch.setattr(homework, "load_task", lambda name, **kwargs: SimpleNamespace(task_type=types[name], splits={}))
    monkeypatch.setattr(homework, "_has_local", lambda data_dir, *names: True)  # offline: the data folder's library
    library = homework.taskemb_library(mode, data_dir=tmp_path)
    ranked = [s for s in te.packaged_transfer_results("squad").scores if s in library.tasks and s != "squad"]
    assert len(ranked) >= 6, (mode, ranked)
    assert len({library.tasks[s].task_type for s in ranked}) >= 3, (mode, ranked)


def test_packaged_squad_results_are_the_committed_measurements():
    """Homework 3's fallback for SQuAD (Colab without Homework 2 output) holds the course's own measured
    cells: every per-seed score in it is a committed cell's, and its means are their means, a source on
    fewer seeds than the baseline paired with the baseline's seeds (cells added later are picked up with
    bench/bench_transfer.py --report-only --package)."""
    packaged = te.packaged_transfer_results("squad")
    assert "REAL-DATA RESULTS" in packaged.note and packaged.metric == "f1"
    raw = json.loads((selection.RESOURCES / "transfer_results_squad.json").read_text())
    cells = Path(__file__).resolve().parents[1] / "bench/results/transfer/cells/squad"
    means = {"baseline": packaged.baseline, **packaged.scores}
    assert set(raw["per_seed"]) == set(means)
    for run, per_seed in raw["per_seed"].items():
        for seed, score in per_seed.items():
            cell = json.loads((cells / f"{run}-seed{seed}.json").read_text())
            assert score == pytest.approx(cell["score"], abs=0.01), (run, seed)
    base = {seed: float(v) for seed, v in raw["per_seed"]["baseline"].items()}
    assert means["baseline"] == pytest.approx(np.mean(list(base.values())), abs=0.01)
    for run, per_seed in raw["per_seed"].items():
        paired = np.mean(list(base.values())) + np.mean([v - base[seed] for seed, v in per_seed.items()])
        assert means[run] == pytest.approx(paired, abs=0.01), run


def test_transfer_results_from_homework2_rows(tmp_path):
    rows = [{"target": "squad", "source": None, "metric": "f1", "mean": 60.0},
            {"target": "squad", "source": "policyqa", "metric": "f1", "mean": 63.0},
            {"target": "squad", "source": "sst2", "metric": "f1", "mean": 59.0},
            {"target": "rte", "source": "sst2", "metric": "accuracy", "mean": 0.6}]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    results = te.load_transfer_results(path, target="squad")
    assert (results.target, results.metric, results.baseline) == ("squad", "f1", 60.0)
    assert results.scores == {"policyqa": 63.0, "sst2": 59.0} and results.gains == {"policyqa": 3.0, "sst2": -1.0}
    with pytest.raises(ValueError, match="pass target"):
        te.load_transfer_results(path)
    with pytest.raises(ValueError, match="not 'squad'"):
        te.load_transfer_results(None, target="squad")


def test_homework2s_folder_gives_datasize_the_budgets_the_transfers_used():
    """DataSize must rank by the examples each transfer trained on, not by the full training splits."""
    # Seeds 0-2: the matrix of RESULTS §3, whatever later seeds and sources the folder gains.
    results = te.load_transfer_results(Path(__file__).resolve().parents[1] / "bench" / "results" / "transfer", target="squad",
                                       seeds=[0, 1, 2])
    assert results.source_sizes == {"conll2000": 2000, "policyqa": 2000, "sst2": 2000, "subjqa": 2000}
    assert te.datasize_ranking(results.source_sizes) == sorted(results.source_sizes)  # a tie, broken alphabetically


# --- the library pipeline -------------------------------------------------------------------------

def _embed(out_dir, **kwargs):
    tasks = {n: generate_task(n, sizes={"train": 24}) for n in ("gen_qa", "gen_tagging")}
    config = TrainConfig(learning_rate=3e-3, epochs=1, batch_size=8, progress=False)
    return te.embed_tasks(tasks, model="tiny", out_dir=out_dir, n_train=16, n_fisher=8, config=config,
                          settings=QASettings(64, 24), batch_size=4, **kwargs)


def test_each_task_models_own_held_out_score_is_recorded(tmp_path):
    tasks = {n: generate_task(n, sizes={"train": 24, "validation": 12}) for n in ("gen_qa", "gen_tagging")}
    given = {"gen_qa": generate_task("gen_qa", sizes={"train": 24, "validation": 12}, seed=5).split("validation")[:6]}
    config = TrainConfig(learning_rate=3e-3, epochs=1, batch_size=8, progress=False)
    embedded = te.embed_tasks(tasks, model="tiny", out_dir=tmp_path, n_train=16, n_fisher=8, config=config,
                              settings=QASettings(64, 24), batch_size=4, n_eval=10, eval_examples=given, verbose=False)
    assert embedded["gen_qa"].dev["metric"] == "f1" and embedded["gen_qa"].dev["examples"] == 6  # the examples given
    assert embedded["gen_tagging"].dev["metric"] == "f1" and embedded["gen_tagging"].dev["examples"] == 10  # its validation split
    assert all(0.0 <= e.dev["score"] <= 100.0 for e in embedded.values())
    assert te.TaskEmbedding.load(tmp_path / "embeddings" / "gen_qa").dev == embedded["gen_qa"].dev
    assert _embed(tmp_path / "none", verbose=False)["gen_qa"].dev is None  # n_eval 0: not measured


def test_embed_tasks_is_deterministic_and_resumes(tmp_path, capsys):
    first = _embed(tmp_path / "one", verbose=False)
    second = _embed(tmp_path / "two", verbose=False)
    assert list(first) == ["gen_qa", "gen_tagging"]
    for name in first:
        assert first[name].parts.keys() == second[name].parts.keys()
        assert np.array_equal(first[name].taskemb(), second[name].taskemb())
        assert np.array_equal(first[name].textemb(), second[name].textemb())
        assert first[name].train_size == 24 and first[name].family
    sizes = {len(e.taskemb()) for e in first.values()}
    assert len(sizes) == 1, "every task's TaskEmb covers the same parts"
    again = _embed(tmp_path / "one")
    assert "cached embedding" in capsys.readouterr().out
    assert all(np.array_equal(again[n].taskemb(), first[n].taskemb()) for n in first)
    changed = _embed(tmp_path / "one", fisher="batch_mean", verbose=True)  # new setting: recomputed, model reused
    out = capsys.readouterr().out
    assert "using the cached model" in out and "cached embedding" not in out
    assert not np.allclose(changed["gen_qa"].taskemb(), first["gen_qa"].taskemb())
    # Someone else's layer step (Homework 3's exercise): keyed by its code, so it recomputes; the reference
    # gives the library's numbers.
    replaced = _embed(tmp_path / "one", layer_fisher=ref.layer_output_fisher, verbose=True)
    assert "cached embedding" not in capsys.readouterr().out
    assert all(np.allclose(replaced[n].taskemb(), first[n].taskemb(), rtol=1e-4, atol=1e-7) for n in first)


def test_plots_task_map_and_heatmap():
    import matplotlib

    matplotlib.use("Agg")
    from itft_utils.plots import plot_similarity_heatmap, plot_task_map, project_2d

    rng = np.random.default_rng(0)
    vectors = {f"t{i}": rng.normal(size=12) for i in range(5)}
    families = {n: ("question answering" if i < 2 else "sequence labelling") for i, n in enumerate(vectors)}
    fig = plot_task_map(vectors, families, "pca", "map")
    ax = fig.axes[0]
    assert ax.get_title() == "map" and ax.get_xlabel() and ax.get_ylabel()
    coords = project_2d(np.stack(list(vectors.values())))
    assert coords.shape == (5, 2) and np.allclose(coords, project_2d(np.stack(list(vectors.values()))))
    if pytest.importorskip("sklearn", reason="t-SNE needs scikit-learn"):
        assert plot_task_map(vectors, families, "tsne").axes[0].get_title() == "Task map (t-SNE)"
    # MDS of 1 − cosine keeps two groups of similar tasks apart (and ignores the vectors' lengths).
    a, b = rng.normal(size=12), rng.normal(size=12)
    grouped = np.stack([a + 0.1 * rng.normal(size=12), 3 * a, b, b + 0.1 * rng.normal(size=12), 0.5 * b])
    mds = project_2d(grouped, "mds")
    planar = np.linalg.norm(mds[:, None] - mds[None], axis=-1)
    assert max(planar[0, 1], planar[2:, 2:].max()) < planar[:2, 2:].min()
    assert plot_task_map(vectors, families, "mds").axes[0].get_title() == "Task map (MDS)"
    names, sim = te.similarity_matrix(vectors)
    heat = plot_similarity_heatmap(names, sim, "similarity")
    assert heat.axes[0].get_title() == "similarity"
    written = {t.get_text() for t in heat.axes[0].texts}
    assert "1.00" not in written and len(heat.axes[0].texts) == 5 * 4  # the diagonal left blank
    with pytest.raises(ValueError, match="expected"):
        plot_similarity_heatmap(names[:2], sim)
