"""The training loop: schedule, configuration errors, determinism, and end-to-end learning."""
from __future__ import annotations

import pytest
import torch

from itft_utils.data import generate_task
from itft_utils.encoding import encode
from itft_utils.finetune import evaluate, fine_tune
from itft_utils.models import build_model
from itft_utils.qa import QASettings
from itft_utils.training import TrainConfig, linear_schedule, resolve_precision, train


def test_linear_schedule_warms_up_then_decays():
    f = linear_schedule(warmup_steps=4, total_steps=10)
    assert [round(f(s), 3) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0 and f(7) == pytest.approx(0.5) and f(10) == 0.0


@pytest.mark.parametrize("kwargs", [{"mixed_precision": "fp8"}, {"learning_rate": 0}, {"warmup_ratio": 1.0}, {"batch_size": -1}])
def test_bad_config_is_rejected(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_precision_choice_on_cpu_is_full_precision():
    assert resolve_precision("auto", torch.device("cpu")) is None
    assert resolve_precision("fp16", torch.device("cpu")) is None


def _tiny_run(seed: int, **overrides):
    task = generate_task("gen_sentiment", sizes={"train": 48, "validation": 16})
    model = build_model("tiny", task.task_type, label_names=task.label_names)
    from itft_utils.models import load_tokenizer

    tok = load_tokenizer("tiny")
    features = encode(task.task_type, task.split("train"), tok, QASettings(64, 16))
    config = TrainConfig(learning_rate=1e-3, epochs=2, batch_size=8, seed=seed, progress=False, **overrides)
    history = train(model, features, config, tok.pad_token_id)
    return model, history


def test_same_seed_same_model_and_history():
    torch.manual_seed(0)
    a, ha = _tiny_run(seed=3)
    torch.manual_seed(0)
    b, hb = _tiny_run(seed=3)
    assert [s["loss"] for s in ha.steps] == [s["loss"] for s in hb.steps]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert len(ha.steps) == 12 and ha.steps[-1]["lr"] == 0.0  # 48/8 * 2 steps, decayed to zero


def test_gradient_accumulation_halves_the_optimizer_steps():
    _, history = _tiny_run(seed=0, grad_accum_steps=2)
    assert len(history.steps) == 6


def test_max_steps_stops_early():
    _, history = _tiny_run(seed=0, max_steps=5)
    assert len(history.steps) == 5


def test_end_to_end_tiny_model_learns_generated_qa():
    task = generate_task("gen_qa", sizes={"train": 600, "validation": 100})
    config = TrainConfig(learning_rate=3e-3, epochs=4, batch_size=16, progress=False, seed=0)
    result = fine_tune("tiny", task, task.split("train"), task.split("validation"), config, settings=QASettings(96, 32))
    f1_curve = [e["f1"] for e in result.history.evals]
    assert len(f1_curve) == 4
    # A random span scores a few F1 points; learning the relation words gets far beyond that.
    assert result.metrics["f1"] > 60, f1_curve
    assert f1_curve[-1] > f1_curve[0]


@pytest.mark.parametrize("name,metric,floor", [("gen_sentiment", "accuracy", 0.75), ("gen_tagging", "f1", 0.9)])
def test_end_to_end_other_task_types(name, metric, floor):
    task = generate_task(name, sizes={"train": 400, "validation": 100})
    # Four epochs: with three, some seeds still sit at the majority class (seen for seed 0).
    config = TrainConfig(learning_rate=3e-3, epochs=4, batch_size=16, progress=False)
    result = fine_tune("tiny", task, task.split("train"), task.split("validation"), config, settings=QASettings(64, 16))
    assert result.metrics[metric] > floor


def test_regression_evaluation_returns_correlations(tiny_tokenizer):
    task = generate_task("gen_similarity", sizes={"validation": 20})
    model = build_model("tiny", "regression")
    scores = evaluate(model, tiny_tokenizer, task, task.split("validation"), QASettings(64, 16))
    assert set(scores) == {"pearson", "spearman"}
    assert -1 <= scores["pearson"] <= 1


def test_fine_tune_needs_a_tokenizer_with_a_model_object():
    task = generate_task("gen_sentiment", sizes={"train": 4})
    with pytest.raises(ValueError, match="tokenizer"):
        fine_tune(build_model("tiny", "classification", label_names=task.label_names), task, task.split("train"))


class _CountingTokenizer:
    """A tokenizer that counts its calls (tokenisations) and otherwise is the real one."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.mark.parametrize("task_name", ["gen_qa", "gen_sentiment"])
def test_evaluation_features_are_built_once_per_run(tiny_tokenizer, task_name):
    """Evaluating after every epoch costs one tokenisation of the evaluation set, not one per epoch."""
    task = generate_task(task_name, sizes={"train": 16, "validation": 8})
    calls = {}
    for epochs in (1, 3):
        tokenizer = _CountingTokenizer(tiny_tokenizer)
        config = TrainConfig(learning_rate=3e-3, epochs=epochs, batch_size=8, progress=False)
        result = fine_tune(build_model("tiny", task.task_type, task.num_labels, task.label_names), task, task.split("train"),
                           task.split("validation"), config, tokenizer, QASettings(64, 16))
        assert len(result.history.evals) == epochs
        calls[epochs] = tokenizer.calls
    # train and eval (QA: each a question-length check, then the windows) + QA's answer-length count
    assert calls[1] == calls[3] == (5 if task_name == "gen_qa" else 2)
