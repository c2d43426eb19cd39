"""The multi-task trainer: a really shared encoder, samplers and schedules that do what the log says,
λ = 1 as single-task training, determinism, the sweep + plots the homework calls, and the exercises'
functions (here the grading package's references, standing in for a student's) driving the runs."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from itft_grader.checks import references as ref
from itft_utils.data import generate_task
from itft_utils.data.hub import load_hub_task
from itft_utils.encoding import encode
from itft_utils.homework import load_task_pair
from itft_utils.models import load_tokenizer
from itft_utils.mtl import LinearAnneal, proportional_probs
from itft_utils.mtl_sweep import best_on_dev, lambda_sweep
from itft_utils.mtl_training import MTLConfig, MultiTaskModel, fine_tune_multitask, target_share, task_shares
from itft_utils.plots import plot_lambda_sweep, plot_task_shares
from itft_utils.qa import QASettings
from itft_utils.training import TrainConfig, train

SETTINGS = QASettings(96, 32)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def pair():
    """Target gen_qa (16 training questions: 2 batches of 8) and a 3x larger auxiliary task."""
    return load_task_pair("grading", n_target=16, n_aux=48, n_eval=8)


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{"learning_rate": 3e-3, "epochs": 2, "batch_size": 8, "progress": False, **overrides})


def _run(pair, mix: MTLConfig, evaluate: bool = False, **config):
    tasks = [pair.target, pair.auxiliary]
    eval_examples = {pair.target.name: pair.eval} if evaluate else None
    return fine_tune_multitask("tiny", tasks, pair.train, eval_examples, mix, _config(**config), settings=SETTINGS)


def test_heads_share_one_encoder_object_and_it_is_trained():
    qa = generate_task("gen_qa", sizes={"train": 8})
    sentiment = generate_task("gen_sentiment", sizes={"train": 8})
    torch.manual_seed(0)
    model = MultiTaskModel.build("tiny", [qa, sentiment])
    a, b = model.heads["gen_qa"], model.heads["gen_sentiment"]
    assert a.base_model is b.base_model is model.encoder
    # The classification head reads the pooler, so the shared encoder is the one that has it.
    assert model.encoder.pooler is not None
    head_params = sum(p.numel() for m in (a.qa_outputs, b.classifier) for p in m.parameters())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in model.encoder.parameters()) + head_params
    with pytest.raises(KeyError, match="no head for task 'nope'"):
        model("nope")


def test_training_updates_the_one_shared_encoder(pair):
    result = _run(pair, MTLConfig(pair.target.name, "weighting", 0.5), epochs=1)
    heads = list(result.model.heads.values())
    embeddings = [h.base_model.embeddings.word_embeddings.weight for h in heads]
    assert embeddings[0] is embeddings[1]  # one tensor, updated once per step by both tasks
    rows = result.history.steps
    assert len(rows) == 2 and all(set(r["losses"]) == {pair.target.name, pair.auxiliary.name} for r in rows)
    assert rows[0]["weights"] == pytest.approx({pair.target.name: 0.5, pair.auxiliary.name: 0.5})


def test_lambda_one_is_single_task_training_batch_for_batch(pair):
    mtl = _run(pair, MTLConfig(pair.target.name, "weighting", 1.0))
    # The same run through the single-task loop: same seed, same head initialisation, same batches.
    tokenizer = load_tokenizer("tiny")
    from itft_utils.models import build_model
    from itft_utils.runtime import set_seed

    config = _config()
    set_seed(config.seed)
    single = build_model("tiny", "qa")
    features = encode("qa", pair.train[pair.target.name], tokenizer, SETTINGS)
    history = train(single, features, config, tokenizer.pad_token_id)
    assert [r["loss"] for r in mtl.history.steps] == pytest.approx([r["loss"] for r in history.steps], abs=1e-6)
    target_head = mtl.model.heads[pair.target.name]
    for (name, p), q in zip(target_head.named_parameters(), single.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)
    # The auxiliary head never had a batch, so it never got a gradient.
    assert all(r["losses"].keys() == {pair.target.name} for r in mtl.history.steps)
    assert all(p.grad is None for p in mtl.model.heads[pair.auxiliary.name].qa_outputs.parameters())


def test_realised_tasks_are_the_samplers_draws(pair):
    result = _run(pair, MTLConfig(pair.target.name, "sampling", sampling="proportional"))
    history = result.history
    sizes = {pair.target.name: 16, pair.auxiliary.name: 48}  # generated questions are one window each
    assert len(history.steps) == 2 * 2 * 2  # K tasks × 2 target batches × 2 epochs: equal compute
    for epoch in range(2):
        rows = [r for r in history.steps if int(r["epoch"]) == epoch]
        rng = np.random.default_rng(0 * 1000 + epoch)  # the trainer's own draws: one call per epoch
        drawn = [list(sizes)[i] for i in rng.choice(2, size=len(rows), p=proportional_probs([16, 48]))]
        assert [next(iter(r["losses"])) for r in rows] == drawn
        assert history.task_probs[epoch] == pytest.approx({"epoch": epoch, **dict(zip(sizes, proportional_probs([16, 48])))})
    shares = task_shares(history, "batches")
    assert shares[pair.target.name][-1] == pytest.approx(target_share(history))
    assert shares[pair.target.name][-1] + shares[pair.auxiliary.name][-1] == pytest.approx(1.0)


def test_step_schedule_switches_from_auxiliary_to_target(pair):
    step = lambda s, total: ref.step_lambda(s, total, 0.5)  # noqa: E731
    result = _run(pair, MTLConfig(pair.target.name, "weighting", step, combine=ref.combine_losses))
    tasks = [set(r["losses"]) for r in result.history.steps]
    assert tasks == [{pair.auxiliary.name}] * 2 + [{pair.target.name}] * 2  # 4 steps, switch at half-way
    lams = task_shares(result.history, "weights", cumulative=False)[pair.target.name]
    assert lams.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert target_share(result.history) == pytest.approx(0.5)


def test_annealed_schedule_and_learned_weights_are_logged(pair):
    linear = _run(pair, MTLConfig(pair.target.name, "weighting", LinearAnneal(0.5, 1.0)), epochs=1)
    assert [r["weights"][pair.target.name] for r in linear.history.steps] == pytest.approx([0.5, 0.75])
    learned = _run(pair, MTLConfig(pair.target.name, "weighting", "uncertainty", uncertainty=ref.uncertainty_loss))
    weights = [r["weights"][pair.auxiliary.name] for r in learned.history.steps]
    assert weights[0] == 1.0 and weights[-1] != 1.0  # exp(−s) starts at 1 and is trained


def test_same_seed_same_run_and_another_seed_another(pair):
    mix = MTLConfig(pair.target.name, "sampling", sampling=_temperature(2.0), sampler=ref.SeededTaskSampler)
    a, b, c = _run(pair, mix), _run(pair, mix), _run(pair, mix, seed=1)
    assert [r["loss"] for r in a.history.steps] == [r["loss"] for r in b.history.steps]
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert [r["loss"] for r in a.history.steps] != [r["loss"] for r in c.history.steps]


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "mixing"}, "mode must be one of"),
    ({"weighting": 1.5}, "must be in \\[0, 1\\]"),
    ({"weighting": "learned"}, "'uncertainty'"),
    ({"mode": "sampling", "sampling": "zipf"}, "unknown sampling method"),
    ({"weighting": "uncertainty"}, "needs the uncertainty loss"),
])
def test_bad_mix_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MTLConfig("gen_qa", **kwargs)


def test_a_weighting_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="got list"):
        MTLConfig("gen_qa", weighting=[0.5])


def test_bad_inputs_are_rejected(pair):
    with pytest.raises(ValueError, match="target 'squad' is not among"):
        _run(pair, MTLConfig("squad"))
    with pytest.raises(ValueError, match="grad_accum_steps must be 1"):
        _run(pair, MTLConfig(pair.target.name), grad_accum_steps=2)


def _temperature(T: float, distribution=ref.temperature_distribution):
    return lambda sizes, epoch, epochs: distribution(sizes, T)


def _homework_runs(target: str, combine=ref.combine_losses, distribution=ref.temperature_distribution,
                   sampler=ref.SeededTaskSampler) -> dict[str, MTLConfig]:
    """The homework's kinds of run, built from the exercises' functions as the notebook builds them."""
    return {"λ = 0.5": MTLConfig(target, weighting=0.5, combine=combine),
            "λ = 1": MTLConfig(target, weighting=1.0, combine=combine),
            "sampling: temperature T=2": MTLConfig(target, "sampling", sampling=_temperature(2.0, distribution), sampler=sampler),
            "intermediate": MTLConfig(target, weighting=lambda s, total: ref.step_lambda(s, total, 0.5), combine=combine)}


def _sweep(pair, runs):
    return lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, pair.eval, runs, config=_config(epochs=1),
                        settings=SETTINGS, keep_histories=True)


def test_the_exercises_functions_drive_the_sweep(pair):
    """A wrong loss or a wrong sampler passed in (as a student's would be) changes the sweep's numbers."""
    def loss_without_weights(losses, weights):  # forgets the weights: an equal sum whatever λ says
        return sum(losses)

    def inverted_temperature(sizes, T, cap=None):  # the exponent's sign flipped: small tasks favoured
        p = np.asarray(sizes, dtype=np.float64) ** (-1.0 / T)
        return p / p.sum()

    class FirstTaskSampler(ref.SeededTaskSampler):  # never draws at random
        def sample(self):
            return self.task_names[0]

    target = pair.target.name
    right = _sweep(pair, {k: v for k, v in _homework_runs(target).items() if k in ("λ = 0.5", "sampling: temperature T=2")})
    wrong_loss = _sweep(pair, {"λ = 0.5": MTLConfig(target, weighting=0.5, combine=loss_without_weights)})
    wrong_probs = _sweep(pair, {"T=2": MTLConfig(target, "sampling", sampling=_temperature(2.0, inverted_temperature),
                                                 sampler=ref.SeededTaskSampler)})
    wrong_sampler = _sweep(pair, {"T=2": MTLConfig(target, "sampling", sampling=_temperature(2.0), sampler=FirstTaskSampler)})
    losses = lambda row: [r["loss"] for r in row["history"].steps]  # noqa: E731
    assert losses(wrong_loss[0]) != pytest.approx(losses(right[0]))
    assert wrong_probs[0]["history"].task_probs != right[1]["history"].task_probs
    assert wrong_sampler[0]["target_share"] == 1.0 != right[1]["target_share"]


def test_a_function_that_breaks_the_rules_is_named(pair):
    with pytest.raises(ValueError, match="probabilities from the sampling function"):
        _run(pair, MTLConfig(pair.target.name, "sampling", sampling=lambda sizes, e, n: [0.7, 0.7]))
    with pytest.raises(ValueError, match="sampler drew 'squad'"):
        _run(pair, MTLConfig(pair.target.name, "sampling", sampler=lambda names, probs, seed: type("S", (), {"sample": lambda self: "squad"})()))
    with pytest.raises(ValueError, match="λ at step 0 of .* got 1.5"):
        _run(pair, MTLConfig(pair.target.name, weighting=lambda step, total: 1.5))


def test_lambda_sweep_table_and_its_plots(pair):
    table = _sweep(pair, _homework_runs(pair.target.name))
    assert [r["run"] for r in table] == ["λ = 0.5", "λ = 1", "sampling: temperature T=2", "intermediate"]
    assert [r["lambda"] for r in table] == [0.5, 1.0, None, None]
    assert all(0 <= r["f1"] <= 100 and 0 <= r["target_share"] <= 1 for r in table)
    fig = plot_lambda_sweep(table, "f1")
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() == "target f1"
    assert any("target only" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)
    fig = plot_task_shares(table[2]["history"])
    assert fig.axes[0].get_ylabel() == "share of batches so far"
    plt.close(fig)


class _FakeSplit(list):
    def __getitem__(self, key):
        return [row[key] for row in self] if isinstance(key, str) else super().__getitem__(key)

    def select(self, indices):
        return _FakeSplit(self[i] for i in indices)


def test_hotpotqa_hub_rows_become_squad_examples():
    calls = []
    context = "[TLE] A [SEP] Anna lives in Paris. [PAR] [TLE] B [SEP] Paris is big."

    def fake_load_dataset(path, config, split, data_files=None):
        calls.append((path, split, data_files))
        return _FakeSplit([
            {"subset": "SQuAD", "qid": "s", "context": "x", "question": "?", "detected_answers": {"text": [], "char_spans": []}},
            # datasets gives a sequence of structs as a dict of lists (inclusive ends in MRQA).
            {"subset": "HotpotQA", "qid": "h1", "context": context, "question": "Where does Anna live?",
             "detected_answers": {"text": ["Paris"], "char_spans": [{"start": [28, 55], "end": [32, 59]}]}},
        ])

    task = load_hub_task("hotpotqa", fake_load_dataset)
    assert calls == [("mrqa-workshop/mrqa", "validation", {"validation": "plain_text/validation-*.parquet"})]
    (example,) = task.split("train")
    assert example["answers"] == {"text": ["Paris", "Paris"], "answer_start": [28, 55]}
    assert "[SEP]" not in example["context"] and len(example["context"]) == len(context)


def test_dev_chooses_test_reports_and_the_baseline_runs_under_several_seeds(pair, monkeypatch):
    from itft_utils import finetune

    built = []
    real_build = finetune.EvalSet.build.__func__
    monkeypatch.setattr(finetune.EvalSet, "build", classmethod(lambda cls, *a, **k: built.append(a[1]) or real_build(cls, *a, **k)))
    dev, test = pair.eval[:4], pair.eval[4:]
    runs = {k: v for k, v in _homework_runs(pair.target.name).items() if k in ("λ = 0.5", "λ = 1")}
    table = lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, test, runs, config=_config(epochs=1),
                         settings=SETTINGS, dev_examples=dev, seeds={"λ = 1": [0, 1, 2]})
    assert sorted(map(len, built)) == [4, 4]  # the dev and the test set, each tokenised once for all four runs
    assert [(r["run"], r["seed"]) for r in table] == [("λ = 0.5", 0), ("λ = 1", 0), ("λ = 1", 1), ("λ = 1", 2)]
    assert all("dev_f1" in r and "f1" in r for r in table)
    assert best_on_dev(table) is max(table, key=lambda r: r["dev_f1"])
    assert table[1]["target_batches"] == 2 and table[0]["target_batches"] == 2  # one epoch of 16 questions, batch 8
    fig = plot_lambda_sweep(table, "f1")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("mean of 3 seeds" in t for t in labels) and any("standard deviation" in t for t in labels)
    plt.close(fig)
    with pytest.raises(ValueError, match="not among the runs"):
        lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, test, runs, seeds={"λ = 2": [0]})


def test_annealing_per_update_and_a_step_schedule_with_the_full_target_budget(pair):
    anneal = lambda sizes, step, total: ref.temperature_distribution(sizes, 1 / ref.annealed_exponent(step, total))  # noqa: E731
    per_step = _run(pair, MTLConfig(pair.target.name, "sampling", sampling=anneal, sampler=ref.SeededTaskSampler, resample="step"))
    probs = [row[pair.target.name] for row in per_step.history.task_probs]
    assert len(probs) == len(per_step.history.steps) == 8 and probs[0] == pytest.approx(0.25)  # 16 : 48, proportional
    assert all(a < b for a, b in zip(probs, probs[1:]))  # the small target's share grows every update
    step = lambda s, total: ref.step_lambda(s, total, 0.5)  # noqa: E731
    full = _run(pair, MTLConfig(pair.target.name, weighting=step, combine=ref.combine_losses, steps_factor=2))
    baseline = _run(pair, MTLConfig(pair.target.name, weighting=1.0))
    target_steps = [s for s in full.history.steps if pair.target.name in s["losses"]]
    assert len(target_steps) == len(baseline.history.steps) == 4  # the target phase gets the baseline's budget
    with pytest.raises(ValueError, match="resample"):
        MTLConfig("t", resample="batch")


def test_gradient_cosines_are_logged_and_surgery_sets_the_encoders_update(pair):
    logged = _run(pair, MTLConfig(pair.target.name, weighting=0.5, cosines=ref.layer_cosines), epochs=1)
    rows = logged.history.steps
    assert all(set(r["cosines"]) == {"embeddings", "layer.0", "layer.1"} for r in rows)  # QA heads: no pooler
    assert all(-1.0 <= c <= 1.0 for r in rows for c in r["cosines"].values())
    start = {n: p.detach().clone() for n, p in MultiTaskModel.build("tiny", [pair.target, pair.auxiliary]).encoder.named_parameters()}
    frozen = _run(pair, MTLConfig(pair.target.name, weighting=0.5, surgery=lambda grads: torch.zeros_like(grads[0])), epochs=1)
    # AdamW's weight decay still shrinks the weights a little: compare the moves, not exact values
    moved = {n: (p.detach() - start[n]).abs().max().item() for n, p in frozen.model.encoder.named_parameters()}
    heads_moved = any((p.detach() != 0).any() for p in frozen.model.heads[pair.target.name].qa_outputs.parameters())
    assert max(moved.values()) < 1e-3 and heads_moved  # a zero update: the encoder stays, the heads learn
    projected = _run(pair, MTLConfig(pair.target.name, weighting=0.5, surgery=ref.pcgrad), epochs=1)
    assert [r["loss"] for r in projected.history.steps][0] == pytest.approx(rows[0]["loss"])  # same first step
    with pytest.raises(ValueError, match="surgery returned"):
        _run(pair, MTLConfig(pair.target.name, weighting=0.5, surgery=lambda grads: grads[0][:3]), epochs=1)
    with pytest.raises(ValueError, match="one by one"):
        MTLConfig(pair.target.name, weighting=0.5, combine=ref.combine_losses, cosines=ref.layer_cosines)


def test_an_interrupted_sweep_resumes_and_a_changed_function_reruns(pair, tmp_path, monkeypatch):
    """Runs saved to out_dir are reused on a rerun (same numbers, no training); a run whose function's
    code changed is trained again (a fixed bug must not keep the buggy numbers)."""
    from itft_utils import mtl_sweep

    def combine(losses, weights):
        return sum(w * loss for loss, w in zip(losses, weights))

    runs = {"λ = 0.5": MTLConfig(pair.target.name, weighting=0.5, combine=combine),
            "λ = 1": MTLConfig(pair.target.name, weighting=1.0, combine=combine)}
    first = lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, pair.eval, runs, config=_config(epochs=1),
                         settings=SETTINGS, keep_histories=True, out_dir=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 2
    trained = []
    real = mtl_sweep.fine_tune_multitask
    monkeypatch.setattr(mtl_sweep, "fine_tune_multitask", lambda *a, **k: trained.append(a) or real(*a, **k))
    again = lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, pair.eval, runs, config=_config(epochs=1),
                         settings=SETTINGS, keep_histories=True, out_dir=tmp_path)
    assert trained == []
    assert [r["f1"] for r in again] == [r["f1"] for r in first]
    assert again[0]["history"].steps == first[0]["history"].steps and again[0]["target_share"] == first[0]["target_share"]

    def combine(losses, weights):  # noqa: F811  (the student's edit: the weights forgotten)
        return sum(losses)

    runs["λ = 0.5"] = MTLConfig(pair.target.name, weighting=0.5, combine=combine)
    lambda_sweep("tiny", pair.target, pair.auxiliary, pair.train, pair.eval, runs, config=_config(epochs=1),
                 settings=SETTINGS, out_dir=tmp_path)
    assert len(trained) == 1  # only the edited run


def test_code_digest_follows_the_code_and_what_it_calls():
    from itft_utils.files import code_digest

    def helper(x):
        return x + 1

    def f(x):
        return helper(x) * 2

    g = lambda x: helper(x) * 2  # noqa: E731
    assert code_digest(f) == code_digest(f) and code_digest(f) != code_digest(lambda x: x)
    before = code_digest(g)

    def helper(x):  # noqa: F811
        return x + 2

    assert code_digest(g) != before  # a closure's helper changed: so did the key
    assert code_digest(LinearAnneal(0.5, 1.0)) != code_digest(LinearAnneal(0.5, 0.9))
    assert code_digest(ref.SeededTaskSampler) == code_digest(ref.SeededTaskSampler)
