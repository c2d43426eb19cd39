"""Transferability estimators on the target (Homework 3, Part C): the rows each task type gives, H-score
against its definition, LogME's reference against a numerical maximum of the evidence, and the race's
bookkeeping."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from itft_grader.checks.references import logme
from itft_utils import estimators
from itft_utils.data import generate_task
from itft_utils.encoding import encode
from itft_utils.models import build_model
from itft_utils.qa import QASettings


def _evidence(f: np.ndarray, t: np.ndarray, alpha: float, beta: float) -> float:
    """The log evidence per example by its textbook formula (solves, no eigenbasis)."""
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.solve(a, f.T @ t)
    return (n / 2 * math.log(beta) + d / 2 * math.log(alpha) - n / 2 * math.log(2 * math.pi)
            - beta / 2 * np.sum((f @ m - t) ** 2) - alpha / 2 * m @ m - 0.5 * np.linalg.slogdet(a)[1]) / n


def test_logme_reference_is_the_maximum_of_the_evidence():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    f = np.eye(2)[y] @ rng.normal(size=(2, 6)) + 0.5 * rng.normal(size=(200, 6))
    column = (y == 1).astype(float)
    grid = max(_evidence(f, column, a, b) for a in np.logspace(-2, 3, 26) for b in np.logspace(-2, 3, 26))
    fixed_point = logme(f, column, regression=True)
    assert fixed_point >= grid - 1e-6, "the fixed point is at least as good as any grid point"
    for a, b in ((1.0, 1.0), (10.0, 3.0)):
        assert fixed_point >= _evidence(f, column, a, b)
    # Classification: the mean over one-hot columns (two classes: the two indicator columns).
    both = np.mean([logme(f, (y == c).astype(float), regression=True) for c in (0, 1)])
    assert logme(f, y) == pytest.approx(both)


def test_h_score_follows_its_definition_and_prefers_separating_features():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    good = np.eye(3)[y] @ rng.normal(size=(3, 5)) + 0.2 * rng.normal(size=(300, 5))
    noise = rng.normal(size=(300, 5))
    assert estimators.h_score(good, y) > estimators.h_score(noise, y) + 0.5
    centred = good - good.mean(0)
    means = np.stack([centred[y == c].mean(0) for c in y])
    expected = np.trace(np.linalg.pinv(np.cov(centred.T, bias=True)) @ np.cov(means.T, bias=True))
    assert estimators.h_score(good, y) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="need"):
        estimators.h_score(good[:, 0], y)


@pytest.mark.parametrize("name, unit", [("gen_qa", "token"), ("gen_sentiment", "example"),
                                        ("gen_similarity", "example"), ("gen_tagging", "word")])
def test_target_features_give_one_labelled_row_per_unit(name, unit, tiny_tokenizer):
    task = generate_task(name, sizes={"train": 10})
    examples = task.split("train")
    encoder = build_model("tiny", "regression").base_model
    rows = estimators.target_features(encoder, task, examples, tiny_tokenizer, QASettings(64, 16))
    assert rows.unit == unit and rows.features.shape[0] == len(rows.labels) and rows.features.shape[1] == 64
    assert rows.regression == (task.task_type == "regression")
    if unit == "example":
        assert len(rows.labels) == len(examples)
    if unit == "token":  # every window: one gold start (label 1); ends (2) unless the answer is one token
        assert set(np.unique(rows.labels)) <= {0, 1, 2} and (rows.labels == 1).sum() >= len(examples)
    capped = estimators.target_features(encoder, task, examples, tiny_tokenizer, QASettings(64, 16), max_rows=7)
    assert len(capped.labels) == min(7, len(rows.labels))


def test_the_race_times_each_estimator_and_ranks_best_first():
    rows = {s: estimators.TargetFeatures(np.random.default_rng(i).normal(size=(40, 4)), np.arange(40) % 2, False, "example")
            for i, s in enumerate("abc")}
    out = estimators.run_estimators({"H-score": estimators.h_score_estimator, "const": lambda r: 1.0}, rows)
    assert set(out["H-score"]["scores"]) == {"a", "b", "c"} and out["H-score"]["seconds"] >= 0
    assert estimators.ranking_from_scores({"a": 1.0, "b": 3.0, "c": 3.0}) == ["b", "c", "a"]
    regression = estimators.TargetFeatures(np.ones((3, 2)), np.zeros(3), True, "example")
    with pytest.raises(ValueError, match="class labels"):
        estimators.h_score_estimator(regression)


def test_a_fine_tuned_encoder_scores_its_own_task_higher_than_a_random_one(tiny_tokenizer):
    """The point of the estimators: the encoder that learned the labels represents them better."""
    from itft_utils.finetune import fine_tune
    from itft_utils.training import TrainConfig

    task = generate_task("gen_sentiment", sizes={"train": 96})
    examples = task.split("train")
    torch.manual_seed(0)
    trained = fine_tune("tiny", task, examples, None, TrainConfig(learning_rate=3e-3, epochs=3, batch_size=16, progress=False),
                        tiny_tokenizer, QASettings(64, 16)).model
    fresh = build_model("tiny", "classification", 2)
    score = {name: logme(*(lambda r: (r.features, r.labels))(estimators.target_features(m, task, examples, tiny_tokenizer,
                                                                                        QASettings(64, 16))))
             for name, m in (("trained", trained), ("fresh", fresh))}
    assert score["trained"] > score["fresh"]


def test_span_rows_are_the_context_tokens_with_their_gold_start_and_end(tiny_tokenizer):
    task = generate_task("gen_qa", sizes={"train": 10})
    examples = task.split("train")
    encoder = build_model("tiny", "regression").base_model
    rows = estimators.span_rows(encoder, task, examples, tiny_tokenizer, QASettings(64, 16))
    tokens = estimators.target_features(encoder, task, examples, tiny_tokenizer, QASettings(64, 16))
    assert rows.features.shape[1] == 64 and len(rows.features) == len(rows.starts) == len(rows.ends)
    assert len(rows.features) < len(tokens.labels)  # no [CLS], question or separator rows
    assert rows.starts.sum() == (tokens.labels == 1).sum()  # every window here holds its answer
    with pytest.raises(ValueError, match="span rows are for extractive QA"):
        estimators.span_rows(encoder, generate_task("gen_sentiment", sizes={"train": 4}), [], tiny_tokenizer, QASettings(64, 16))


def test_one_pass_of_hidden_states_serves_both_castings(tiny_tokenizer):
    """The race passes the target through a source encoder once and builds both castings from it: the rows are
    those of two separate passes, and states of other windows are refused."""
    task = generate_task("gen_qa", sizes={"train": 10})
    examples, settings = task.split("train"), QASettings(64, 16)
    encoder = build_model("tiny", "regression").base_model
    states = list(estimators.hidden_states(encoder, encode("qa", examples, tiny_tokenizer, settings), tiny_tokenizer))
    shared = estimators.span_rows(encoder, task, examples, tiny_tokenizer, settings, states=states)
    alone = estimators.span_rows(encoder, task, examples, tiny_tokenizer, settings)
    np.testing.assert_allclose(shared.features, alone.features, rtol=1e-5, atol=1e-6)
    assert (shared.starts == alone.starts).all() and (shared.ends == alone.ends).all()
    tokens = estimators.target_features(encoder, task, examples, tiny_tokenizer, settings, states=states)
    np.testing.assert_allclose(tokens.features, estimators.target_features(encoder, task, examples, tiny_tokenizer, settings).features,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not each of the .* windows of these examples once"):
        estimators.span_rows(encoder, task, examples[:5], tiny_tokenizer, settings, states=states)
    spent = estimators.hidden_states(encoder, encode("qa", examples, tiny_tokenizer, settings), tiny_tokenizer)
    again = estimators.span_rows(encoder, task, examples, tiny_tokenizer, settings, states=spent)  # a generator serves too
    np.testing.assert_allclose(again.features, alone.features, rtol=1e-5, atol=1e-6)
    longer = [ex | {"context": ex["context"] + " and more words here"} for ex in examples]  # the same count of windows
    with pytest.raises(ValueError, match="shorter than window"):
        estimators.span_rows(encoder, task, longer, tiny_tokenizer, settings, states=states)


def test_the_span_casting_prefers_features_that_locate_the_answer_over_a_constant_offset():
    """Issue 33's synthetic case: in the token casting (three one-hot columns, about 1 % positives, uncentred)
    LogME ranks a useless encoder with a constant offset above one that marks the answer; cast as the span head's
    two balanced, centred decisions, the informative encoder wins, under every row sample."""
    rng = np.random.default_rng(0)
    n, d = 4000, 8
    starts = np.zeros(n, bool)
    starts[rng.choice(n, 40, replace=False)] = True
    ends = np.roll(starts, 2)
    noise = rng.normal(size=(n, d))
    informative = noise + 1.5 * np.outer(starts, np.eye(d)[0]) + 1.5 * np.outer(ends, np.eye(d)[1])
    useless = rng.normal(size=(n, d)) + 5.0
    labels = np.where(starts, 1, np.where(ends, 2, 0))
    assert logme(useless, labels) > logme(informative, labels)  # the token casting's flaw
    for seed in range(3):
        good = estimators.span_estimate(estimators.SpanRows(informative, starts, ends), logme, seed)
        bad = estimators.span_estimate(estimators.SpanRows(useless, starts, ends), logme, seed)
        assert good > bad
        assert estimators.span_estimate(estimators.SpanRows(informative, starts, ends), estimators.h_score, seed) > \
            estimators.span_estimate(estimators.SpanRows(useless, starts, ends), estimators.h_score, seed)
    with pytest.raises(ValueError, match="too few to balance"):
        estimators.span_estimate(estimators.SpanRows(informative[:3], np.array([True, True, False]), np.array([True, False, False])), logme)
