"""The grading package's references (what the hidden tests compare students' answers with) are right:
checked against hand computations, the exercises' statements and the solutions' behaviour."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from itft_grader.checks import references as ref

SIZES = [100, 1_000, 10_000]


def test_combine_losses_value_gradient_and_validation():
    a, b = torch.tensor(2.0, requires_grad=True), torch.tensor(3.0, requires_grad=True)
    total = ref.combine_losses([a**2, 2 * b], [0.8, 0.2])
    assert total.dim() == 0 and total.item() == pytest.approx(4.4)
    total.backward()
    assert (a.grad.item(), b.grad.item()) == pytest.approx((3.2, 0.4))
    assert ref.combine_losses([torch.tensor(1.0)] * 3, [0.1, 0.2, 0.7]).item() == pytest.approx(1.0)
    two = [torch.tensor(1.0), torch.tensor(2.0)]
    for weights in ([1.0], [1.2, -0.2], [float("nan"), 1.0], [0.5, 0.6]):
        with pytest.raises(ValueError):
            ref.combine_losses(two, weights)
    with pytest.raises(ValueError, match="no losses"):
        ref.combine_losses([], [])


def test_temperature_distribution_limits_cap_and_tiny_temperatures():
    np.testing.assert_allclose(ref.temperature_distribution(SIZES, 1), np.array(SIZES) / sum(SIZES))
    np.testing.assert_allclose(ref.temperature_distribution(SIZES, float("inf")), [1 / 3] * 3)
    root = np.sqrt(SIZES)
    np.testing.assert_allclose(ref.temperature_distribution(SIZES, 2), root / root.sum())
    np.testing.assert_allclose(ref.temperature_distribution(SIZES, 1, cap=1000), [100 / 2100, 1000 / 2100, 1000 / 2100])
    np.testing.assert_allclose(ref.temperature_distribution([1000, 2000], 0.01), [0, 1], atol=1e-12)
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="T must be > 0"):
            ref.temperature_distribution(SIZES, bad)


def test_annealed_exponent_runs_from_one_to_a_fifth():
    assert [ref.annealed_exponent(e, 5) for e in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])
    assert ref.annealed_exponent(0, 1) == 1.0
    for epoch, n in ((5, 5), (-1, 5), (0, 0)):
        with pytest.raises(ValueError):
            ref.annealed_exponent(epoch, n)


def test_seeded_sampler_proportions_determinism_and_global_generators():
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()
    s = ref.SeededTaskSampler(["a", "b", "c"], [0.5, 0.3, 0.2], seed=1)
    draws = [s.sample() for _ in range(6000)]
    assert s.task_probs == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2})
    assert all(abs(draws.count(k) / 6000 - p) < 0.025 for k, p in s.task_probs.items())
    again = ref.SeededTaskSampler(["a", "b", "c"], [0.5, 0.3, 0.2], seed=1)
    assert [again.sample() for _ in range(100)] == draws[:100]
    assert np.array_equal(np.random.get_state()[1], np_state[1]) and torch.equal(torch.get_rng_state(), torch_state)
    with pytest.raises(ValueError, match="sum to"):
        ref.SeededTaskSampler(["a", "b"], [0.5, 0.6], 0)


def test_uncertainty_loss_value_gradient_and_optimum():
    s = torch.zeros(2, requires_grad=True)
    total = ref.uncertainty_loss([torch.tensor(5.0), torch.tensor(0.1)], s)
    assert total.item() == pytest.approx(5.1)
    total.backward()
    np.testing.assert_allclose(s.grad.numpy(), [1 - 5.0, 1 - 0.1], rtol=1e-6)
    s = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([s], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        ref.uncertainty_loss([torch.tensor(4.0), torch.tensor(0.5)], s).backward()
        opt.step()
    np.testing.assert_allclose(torch.exp(-s).detach().numpy(), [0.25, 2.0], rtol=1e-3)
    with pytest.raises(ValueError, match="1 losses for 2"):
        ref.uncertainty_loss([torch.tensor(1.0)], torch.zeros(2))


def test_step_lambda_switches_at_the_fraction():
    assert [ref.step_lambda(s, 10, 0.5) for s in range(11)] == [0.0] * 5 + [1.0] * 6
    assert ref.step_lambda(0, 10, 0.0) == 1.0 and ref.step_lambda(9, 10, 1.0) == 0.0
    for args in ((11, 10, 0.5), (-1, 10, 0.5), (0, 0, 0.5), (3, 10, 1.5)):
        with pytest.raises(ValueError):
            ref.step_lambda(*args)


@pytest.mark.parametrize("prediction, golds, f1", [
    ("Buenos Aires", ["buenos aires."], 1.0),
    ("in buenos aires", ["buenos aires"], 0.8),
    ("paris", ["rome", "Paris"], 1.0),
    ("the", ["a"], 0.0),
    ("cat cat", ["cat cat dog"], 0.8),  # counts, not sets: 2 shared of 2 and of 3
    ("1,000 people", ["1000 people"], 1.0),
])
def test_answer_f1_is_squads(prediction, golds, f1):
    assert ref.answer_f1(prediction, golds) == pytest.approx(f1)


def test_normalize_answer_follows_squads_order():
    assert ref.normalize_answer("the-end") == "theend"  # punctuation goes before articles
    assert ref.normalize_answer("Anthem of the Theatre") == "anthem of theatre"
    assert ref.normalize_answer("  new \t york  ") == "new york"


def test_same_encoder_ignores_heads_and_poolers_and_sees_one_ulp():
    from itft_utils.models import build_model, quiet_transformers

    with quiet_transformers():
        qa, clf = build_model("tiny", "qa"), build_model("tiny", "classification", num_labels=3)
    assert ref.same_encoder(qa, clf)
    with torch.no_grad():
        w = clf.base_model.encoder.layer[-1].output.dense.weight
        w[0, 0] = torch.nextafter(w[0, 0], torch.tensor(float("inf")))
    assert not ref.same_encoder(qa, clf)


def test_paired_summary_and_seeds_needed():
    out = ref.paired_summary({0: 55.0, 1: 65.0, 2: 60.0, 9: 1.0}, {0: 50.0, 1: 60.0, 2: 58.0})  # differences 5, 5, 2
    interval = out.pop("interval")
    assert out == pytest.approx({"n": 3, "mean": 4.0, "std": math.sqrt(3.0), "gain": 4.0 / 56.0, "p_value": 0.25})
    assert interval == pytest.approx((4.0 - 4.303, 4.0 + 4.303))  # t(0.975, 2) * sqrt(3) / sqrt(3)
    scipy_stats = pytest.importorskip("scipy.stats")
    for n in (2, 5, 12):
        diffs = [float(k % 3) + 0.5 * k for k in range(n)]
        low, high = ref.paired_summary({k: 50.0 + d for k, d in enumerate(diffs)}, dict.fromkeys(range(n), 50.0))["interval"]
        expected = scipy_stats.t.interval(0.95, n - 1, loc=np.mean(diffs), scale=scipy_stats.sem(diffs))
        assert (low + high) / 2 == pytest.approx(np.mean(diffs))
        assert high - low == pytest.approx(expected[1] - expected[0], rel=1e-3)  # the table's 3 decimals
    assert all(math.isnan(x) for x in ref.paired_summary({0: 3.0}, {0: 1.0})["interval"])
    assert ref.paired_summary({0: 13.0, 1: 9.0, 2: 11.0, 3: 11.0}, {k: 10.0 for k in range(4)})["p_value"] == 0.5
    assert ref.seeds_needed(2.5, 1.0) == 50 and ref.seeds_needed(0.1, 1.0) == 2
    with pytest.raises(ValueError, match="no seed in common"):
        ref.paired_summary({0: 1.0}, {1: 1.0})


def test_aggregate_parts_and_cosine_ranking():
    v = ref.aggregate_parts({"b": np.array([3.0, 4.0]), "a": np.array([[2.0, 0.0], [0.0, 0.0]]), "z": np.zeros(2)})
    np.testing.assert_allclose(v, np.array([1, 0, 0, 0, 0.6, 0.8, 0, 0]) / np.sqrt(3))
    vectors = {"t": np.array([1.0, 0.0]), "a": np.array([0.0, 1.0]), "b": np.array([1.0, 1.0]), "c": np.array([2.0, 0.1]),
               "z": np.zeros(2)}
    assert ref.cosine_ranking("t", vectors) == ["c", "b", "a", "z"]  # a and z tie at 0: by name


def test_ndcg_and_regret_by_hand():
    scores = {"a": 50.0, "b": 70.0, "c": 60.0}  # relevance a 0, b 20, c 10
    ideal = 20 + 10 / math.log2(3)
    assert ref.ndcg_at_k(["a", "b", "c"], scores, 2) == pytest.approx((20 / math.log2(3)) / ideal)
    assert ref.ndcg_at_k(["a", "b", "c"], scores, 3) == pytest.approx((20 / math.log2(3) + 10 / 2) / ideal)
    assert ref.ndcg_at_k(["b", "c", "a"], scores, 3) == pytest.approx(1.0)
    assert ref.ndcg_at_k(["x", "a", "b"], {"a": 5.0, "b": 5.0}, 1) == 1.0  # no relevance anywhere; unmeasured x skipped
    assert ref.regret_at_k(["a", "b", "c"], scores, 1) == pytest.approx(20 / 70 * 100)
    assert ref.regret_at_k(["a", "b", "c"], scores, 2) == 0.0
    assert ref.regret_at_k(["c", "a", "b"], scores, 1) == pytest.approx(10 / 70 * 100)


def test_char_to_token_span_on_a_hand_window():
    offsets = [(0, 0), (0, 5), (6, 8), (9, 13), (14, 15), (0, 0), (0, 4), (5, 10), (11, 13), (14, 20), (21, 26), (26, 27), (0, 0)]
    ids = [None, 0, 0, 0, 0, None, 1, 1, 1, 1, 1, 1, None]
    assert ref.char_to_token_span(offsets, ids, 14, 26) == (9, 10)  # "buenos aires"
    assert ref.char_to_token_span(offsets, ids, 0, 4) == (6, 6)  # only context tokens count
    assert ref.char_to_token_span(offsets[:10], ids[:10], 14, 26, cls_index=0) == (0, 0)  # cut answer: CLS
    sub = [(0, 0), (0, 3), (0, 0), (0, 4), (5, 8), (8, 10), (0, 0)]
    assert ref.char_to_token_span(sub, [None, 0, None, 1, 1, 1, None], 6, 9) == (4, 5)  # inside sub-words


def test_best_span_takes_the_best_valid_pair():
    offsets = [None, None, None, (0, 4), (5, 10), (11, 13), (14, 20), (21, 26), (26, 27), None]
    start = np.array([0.0, 9, 0, 1, 0, 0, 5, 0, 0, 0])  # the best start is a question token
    end = np.array([0.0, 0, 0, 0, 0, 0, 1, 4, 0, 0])
    assert ref.best_span(start, end, offsets) == (6, 7)
    late, early = np.array([0.0, 0, 0, 1, 0, 0, 0, 6, 0, 0]), np.array([0.0, 0, 0, 0, 5, 0, 0, 1, 0, 0])
    assert ref.best_span(late, early, offsets) == (7, 7)
    assert ref.best_span(late, early, offsets, n_best_size=1) is None
    assert ref.best_span(np.array([0.0, 0, 0, 6, 0, 0, 1, 0, 0, 0]), np.array([0.0, 0, 0, 0, 0, 0, 0, 0, 6, 0]), offsets,
                         max_answer_length=3) == (6, 8)


def test_the_library_labels_and_decodes_windows_as_the_references_do():
    """Two implementations of one rule (the library's masked arrays, the references' loops) agree on
    every window of real tokenised examples and on random logits."""
    from itft_utils import qa
    from itft_utils.data import generate_task
    from itft_utils.models import load_tokenizer

    tokenizer = load_tokenizer("tiny")
    examples = generate_task("gen_qa", sizes={"train": 40}, seed=3).split("train")
    features = qa.prepare_train_features(examples, tokenizer, max_length=24, doc_stride=6)
    enc = tokenizer([ex["question"] for ex in examples], [ex["context"] for ex in examples], truncation="only_second",
                    max_length=24, stride=6, return_overflowing_tokens=True, return_offsets_mapping=True)
    cls_windows = 0
    for i, offsets in enumerate(enc["offset_mapping"]):
        ex = examples[enc["overflow_to_sample_mapping"][i]]
        start = ex["answers"]["answer_start"][0]
        want = ref.char_to_token_span(offsets, enc.sequence_ids(i), start, start + len(ex["answers"]["text"][0]), 0)
        assert (features["start_positions"][i], features["end_positions"][i]) == want, i
        cls_windows += want == (0, 0)
    assert 0 < cls_windows < len(enc["offset_mapping"])
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(4, 40))
        q = int(rng.integers(1, n - 1))
        offsets = [None] * q + [(3 * j, 3 * j + 2) for j in range(n - q - 1)] + [None]
        start, end = rng.normal(size=n), rng.normal(size=n)
        n_best, max_len = int(rng.integers(1, 8)), int(rng.integers(1, 6))
        top = qa._top_span(start, end, np.array([o is not None for o in offsets]), n_best, max_len)
        assert (None if top is None else top[1:]) == ref.best_span(start, end, offsets, n_best, max_len)


def test_layer_cosines_group_by_layer_and_pcgrad_projects_conflicts_only():
    t = {"embeddings.w": torch.tensor([1.0, 0.0]), "encoder.layer.2.b": torch.tensor([1.0, 1.0]), "pooler.w": torch.zeros(2)}
    a = {"embeddings.w": torch.tensor([0.0, 1.0]), "encoder.layer.2.b": torch.tensor([-2.0, -2.0]), "pooler.w": torch.ones(2)}
    assert ref.layer_cosines(t, a) == pytest.approx({"embeddings": 0.0, "layer.2": -1.0, "pooler": 0.0})
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    assert torch.allclose(ref.pcgrad([g1, g2]), torch.tensor([0.5, 1.5]))  # (0.5, 0.5) + (0, 1)
    assert torch.allclose(ref.pcgrad([g1, torch.tensor([1.0, 1.0])]), torch.tensor([2.0, 1.0]))  # no conflict: the sum
