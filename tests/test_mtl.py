"""Tests for itft_utils.mtl: weighted losses, λ schedules, task sampling and learned weights."""
import math

import numpy as np
import pytest
import torch

from itft_utils import mtl
from itft_utils.mtl import (
    SAMPLING_METHODS,
    SCHEDULES,
    ConstantSchedule,
    CosineAnneal,
    GradNorm,
    LinearAnneal,
    StepSchedule,
    TaskSampler,
    UncertaintyWeighting,
    annealed_alpha,
    annealed_probs,
    get_sampling_method,
    get_schedule,
    proportional_probs,
    temperature_probs,
    two_task_weights,
    uniform_probs,
    weighted_loss,
)


# ----------------------------------------------------------------------------- weighted loss


def test_weighted_loss_matches_hand_computation_and_backprops():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    la, lb = a**2, 2 * b  # 4.0 and 6.0
    total = weighted_loss([la, lb], [0.8, 0.2])
    assert total.item() == pytest.approx(0.8 * 4.0 + 0.2 * 6.0)
    total.backward()
    assert a.grad.item() == pytest.approx(0.8 * 2 * 2.0)  # d(0.8 a²)/da
    assert b.grad.item() == pytest.approx(0.2 * 2)


def test_weighted_loss_dict_and_two_task_weights():
    losses = {"squad": torch.tensor(1.0), "hotpot": torch.tensor(3.0)}
    lam = two_task_weights(0.8)
    assert lam == pytest.approx((0.8, 0.2))
    total = weighted_loss(losses, {"hotpot": lam[1], "squad": lam[0]})
    assert total.item() == pytest.approx(0.8 * 1.0 + 0.2 * 3.0)
    # A list of weights follows the dict's order.
    assert weighted_loss(losses, list(lam)).item() == pytest.approx(total.item())
    assert weighted_loss([torch.tensor(1.0)] * 2, [2.0, 1.0], require_sum_to_one=False).item() == 3.0


@pytest.mark.parametrize(
    "weights, match",
    [
        ([1.2, -0.2], "task 1.*non-negative"),
        ([float("nan"), 1.0], "task 0.*finite"),
        ([float("inf"), 0.0], "finite"),
        ([0.5, 0.3, 0.2], "3 weights for 2 losses"),
        ([0.5, 0.4], "sum to 0.9"),
    ],
)
def test_weighted_loss_rejects_bad_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        weighted_loss([torch.tensor(1.0), torch.tensor(2.0)], weights)


def test_weighted_loss_rejects_bad_inputs():
    losses = {"squad": torch.tensor(1.0), "hotpot": torch.tensor(3.0)}
    with pytest.raises(ValueError, match="'squad'.*non-negative"):
        weighted_loss(losses, {"squad": -1.0, "hotpot": 2.0})
    with pytest.raises(ValueError, match="missing weights"):
        weighted_loss(losses, {"squad": 1.0})
    with pytest.raises(ValueError, match="scalar"):
        weighted_loss([torch.ones(3)], [1.0])
    with pytest.raises(ValueError, match="empty"):
        weighted_loss([], [])
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="lam"):
            two_task_weights(bad)


# ----------------------------------------------------------------------------- schedules


def test_constant_and_linear_schedules():
    const = ConstantSchedule(0.8)
    assert [const(s, 10) for s in (0, 5, 10)] == [0.8, 0.8, 0.8]
    lin = LinearAnneal(0.5, 1.0)
    assert lin(0, 100) == pytest.approx(0.5)
    assert lin(50, 100) == pytest.approx(0.75)
    assert lin(100, 100) == pytest.approx(1.0)
    assert LinearAnneal(1.0, 0.0)(25, 100) == pytest.approx(0.75)


def test_cosine_schedule_endpoints_and_midpoint():
    cos = CosineAnneal(0.2, 0.9)
    assert cos(0, 10) == pytest.approx(0.2)
    assert cos(5, 10) == pytest.approx((0.2 + 0.9) / 2)
    assert cos(10, 10) == pytest.approx(0.9)
    # Slow at the start: less than a quarter of the way after a quarter of training.
    assert cos(25, 100) < 0.2 + 0.25 * (0.9 - 0.2)


def test_step_schedule_is_intermediate_task_fine_tuning():
    sched = StepSchedule(0.5)
    values = [sched(s, 10) for s in range(11)]
    assert values == [0.0] * 5 + [1.0] * 6  # aux (intermediate) task first, then the target
    assert StepSchedule(0.0)(0, 10) == 1.0  # no intermediate phase at all
    assert StepSchedule(1.0)(9, 10) == 0.0  # target only at the very end


def test_schedule_registry_and_validation():
    assert set(SCHEDULES) == {"constant", "linear", "cosine", "step"}
    assert isinstance(get_schedule("linear", start=0.5, end=1.0), LinearAnneal)
    with pytest.raises(ValueError, match="known schedules.*constant"):
        get_schedule("exponential")
    with pytest.raises(ValueError, match="start"):
        LinearAnneal(-0.1, 1.0)
    with pytest.raises(ValueError, match="end"):
        CosineAnneal(0.0, 1.5)
    with pytest.raises(ValueError, match="switch_fraction"):
        StepSchedule(1.5)
    with pytest.raises(ValueError, match="step"):
        ConstantSchedule(0.5)(11, 10)
    with pytest.raises(ValueError, match="total_steps"):
        ConstantSchedule(0.5)(0, 0)


# ----------------------------------------------------------------------------- sampling probabilities

SIZES = [100, 1_000, 10_000]


def test_uniform_and_proportional():
    np.testing.assert_allclose(uniform_probs(SIZES), [1 / 3] * 3)
    np.testing.assert_allclose(proportional_probs(SIZES), np.array(SIZES) / 11_100)
    for fn in (uniform_probs, proportional_probs):
        p = fn(SIZES)
        assert isinstance(p, np.ndarray) and p.dtype.kind == "f"
        assert p.sum() == pytest.approx(1.0)


def test_temperature_limits_and_cap():
    np.testing.assert_allclose(temperature_probs(SIZES, T=1), proportional_probs(SIZES))
    np.testing.assert_allclose(temperature_probs(SIZES, T=float("inf")), [1 / 3] * 3)
    np.testing.assert_allclose(temperature_probs(SIZES, T=1e9), [1 / 3] * 3, atol=1e-8)
    # T = 2: p ∝ sqrt(n) = 10, 31.62..., 100.
    root = np.sqrt(SIZES)
    np.testing.assert_allclose(temperature_probs(SIZES, T=2), root / root.sum())
    # cap = 1000, T = 1: the 10,000-example task counts as 1,000 -> 100 : 1000 : 1000.
    np.testing.assert_allclose(temperature_probs(SIZES, T=1, cap=1000), [100 / 2100, 1000 / 2100, 1000 / 2100])
    # Tiny T puts everything on the largest task without overflowing.
    np.testing.assert_allclose(temperature_probs(SIZES, T=1e-3), [0, 0, 1], atol=1e-12)


def test_annealed_probs_first_and_last_epoch():
    np.testing.assert_allclose(annealed_probs(SIZES, epoch=0, num_epochs=5), proportional_probs(SIZES))
    last = np.array(SIZES, dtype=float) ** 0.2
    np.testing.assert_allclose(annealed_probs(SIZES, epoch=4, num_epochs=5), last / last.sum())
    assert annealed_alpha(2, 5) == pytest.approx(0.6)
    assert annealed_alpha(0, 1) == 1.0
    np.testing.assert_allclose(annealed_probs(SIZES, 0, 1), proportional_probs(SIZES))
    with pytest.raises(ValueError, match="epoch"):
        annealed_probs(SIZES, epoch=5, num_epochs=5)


@pytest.mark.parametrize("bad", [[], [10, 0], [10, -3], [10, 2.5], [True, 3]])
def test_sizes_validated(bad):
    for name, fn in SAMPLING_METHODS.items():
        kwargs = {"T": 2.0} if name == "temperature" else {"epoch": 0, "num_epochs": 2} if name == "annealed" else {}
        with pytest.raises(ValueError, match="size"):
            fn(bad, **kwargs)


def test_temperature_and_registry_validation():
    for bad_T in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="T must be > 0"):
            temperature_probs(SIZES, T=bad_T)
    with pytest.raises(ValueError, match="cap"):
        temperature_probs(SIZES, T=1, cap=0)
    assert get_sampling_method("temperature") is temperature_probs
    with pytest.raises(ValueError, match="known methods.*proportional"):
        get_sampling_method("round_robin")


# ----------------------------------------------------------------------------- task sampler


def test_sampler_exposes_probs_and_realised_proportions_match():
    sampler = TaskSampler(["squad", "hotpot", "newsqa"], [0.5, 0.3, 0.2], seed=0)
    assert sampler.task_probs == pytest.approx({"squad": 0.5, "hotpot": 0.3, "newsqa": 0.2})
    draws = sampler.sample_n(20_000)
    for name, p in sampler.task_probs.items():
        assert draws.count(name) / len(draws) == pytest.approx(p, abs=0.01)
    assert sampler.sample() in sampler.task_probs


def test_sampler_is_deterministic_per_seed():
    names, probs = ["a", "b", "c"], [0.2, 0.3, 0.5]
    first = TaskSampler(names, probs, seed=123).sample_n(200)
    assert TaskSampler(names, probs, seed=123).sample_n(200) == first
    assert TaskSampler(names, probs, seed=124).sample_n(200) != first
    # sample() draws from the same stream as sample_n().
    s = TaskSampler(names, probs, seed=123)
    assert [s.sample() for _ in range(200)] == first


def test_sampler_leaves_global_rng_untouched():
    np_state = np.random.get_state()
    torch_state = torch.get_rng_state()
    sampler = TaskSampler.from_sizes({"a": 10, "b": 1000}, "temperature", T=2.0, seed=7)
    sampler.sample_n(1000)
    sampler.sample()
    after = np.random.get_state()
    assert np_state[0] == after[0] and np.array_equal(np_state[1], after[1]) and np_state[2:] == after[2:]
    assert torch.equal(torch_state, torch.get_rng_state())


def test_sampler_from_sizes_and_validation():
    sizes = {"a": 100, "b": 400}
    s = TaskSampler.from_sizes(sizes, "proportional", seed=0)
    assert s.task_probs == pytest.approx({"a": 0.2, "b": 0.8})
    s = TaskSampler.from_sizes(sizes, "temperature", T=2.0, seed=0)
    assert s.task_probs == pytest.approx({"a": 10 / 30, "b": 20 / 30})
    s = TaskSampler.from_sizes(sizes, "annealed", epoch=1, num_epochs=2, seed=0)
    assert s.task_probs["a"] == pytest.approx(100**0.2 / (100**0.2 + 400**0.2))
    with pytest.raises(ValueError, match="takes arguments.*T"):
        TaskSampler.from_sizes(sizes, "temperature", seed=0)
    with pytest.raises(ValueError, match="known methods"):
        TaskSampler.from_sizes(sizes, "nope", seed=0)
    with pytest.raises(ValueError, match="sum to"):
        TaskSampler(["a", "b"], [0.5, 0.6], seed=0)
    with pytest.raises(ValueError, match="'b'.*non-negative"):
        TaskSampler(["a", "b"], [1.5, -0.5], seed=0)
    with pytest.raises(ValueError, match="2 probabilities for 3 tasks"):
        TaskSampler(["a", "b", "c"], [0.5, 0.5], seed=0)
    with pytest.raises(ValueError, match="unique"):
        TaskSampler(["a", "a"], [0.5, 0.5], seed=0)


# ----------------------------------------------------------------------------- uncertainty weighting


def test_uncertainty_weighting_value_and_gradient_direction():
    uw = UncertaintyWeighting(["big", "small"])
    big, small = torch.tensor(5.0), torch.tensor(0.1)
    total = uw({"big": big, "small": small})
    assert total.item() == pytest.approx(5.1)  # s = 0: weights 1, no regulariser
    total.backward()
    # d/ds_k = 1 − exp(−s_k) L_k: negative for the big loss (s grows, its weight shrinks),
    # positive for the small one (s falls, its weight grows).
    np.testing.assert_allclose(uw.log_vars.grad.numpy(), [1 - 5.0, 1 - 0.1], rtol=1e-6)
    opt = torch.optim.SGD(uw.parameters(), lr=0.1)
    opt.step()
    s_big, s_small = uw.log_vars.detach().tolist()
    assert s_big > 0 > s_small
    w = uw.weights()
    assert w[0] < 1 < w[1] and not w.requires_grad


def test_uncertainty_weighting_converges_to_inverse_loss():
    # With fixed losses the optimum is s_k = log L_k, i.e. weight 1/L_k.
    uw = UncertaintyWeighting(2)
    opt = torch.optim.SGD(uw.parameters(), lr=0.1)
    losses = [torch.tensor(4.0), torch.tensor(0.5)]
    for _ in range(300):
        opt.zero_grad()
        uw(losses).backward()
        opt.step()
    np.testing.assert_allclose(uw.weights().numpy(), [0.25, 2.0], rtol=1e-3)
    with pytest.raises(ValueError, match="3 losses for 2 tasks"):
        uw(losses + [torch.tensor(1.0)])


def test_uncertainty_task_terms_sum_to_forward_and_check_the_task():
    uw = UncertaintyWeighting(["a", "b"])
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.3, -0.7]))
    losses = {"a": torch.tensor(2.0), "b": torch.tensor(0.5)}
    by_term = uw.task_loss("a", losses["a"]) + uw.task_loss(1, losses["b"])
    assert by_term.item() == pytest.approx(uw(losses).item())
    with pytest.raises(ValueError, match="unknown task 'c'"):
        uw.task_loss("c", losses["a"])
    with pytest.raises(ValueError, match="index in \\[0, 2\\)"):
        uw.task_loss(2, losses["a"])
    with pytest.raises(ValueError, match="expected a scalar"):
        uw.task_loss(0, torch.ones(3))


# ----------------------------------------------------------------------------- GradNorm


def test_gradnorm_loss_pushes_lagging_task_weight_up():
    # Two tasks with gradients of equal norm on W; task 1's loss has fallen less (ratio 1 vs 0.5),
    # so its target gradient is larger and the GradNorm loss asks for a larger w_1.
    w_shared = torch.tensor([1.0, 1.0], requires_grad=True)
    loss0 = (w_shared * torch.tensor([1.0, 0.0])).sum()  # grad norm 1, value 1
    loss1 = (w_shared * torch.tensor([0.0, 1.0])).sum()  # grad norm 1, value 1
    gn = GradNorm(2, alpha=1.0)
    gl = gn.gradnorm_loss([loss0, loss1], initial_losses=[2.0, 1.0], shared_params=w_shared)
    # G = (1, 1), Ḡ = 1, ratios (0.5, 1) -> r = (2/3, 4/3), target = r; |1 − 2/3| + |1 − 4/3| = 2/3.
    assert gl.item() == pytest.approx(2 / 3)
    gl.backward()
    g0, g1 = gn.task_weights.grad.tolist()
    assert g0 > 0 > g1  # descent lowers w_0 and raises w_1
    assert w_shared.grad is None  # the GradNorm loss trains only the weights


def _tiny_two_task_problem():
    """Shared linear layer + two linear heads; task "noisy" has irreducible noise, so its loss
    ratio L(t)/L(0) stays high while task "clean" can be fit exactly."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y_clean = x @ torch.randn(4, 1, generator=g)
    y_noisy = x @ torch.randn(4, 1, generator=g) + 1.5 * torch.randn(64, 1, generator=g)
    shared = torch.nn.Parameter(0.5 * torch.randn(4, 4, generator=g))
    heads = [torch.nn.Parameter(0.5 * torch.randn(4, 1, generator=g)) for _ in range(2)]

    def losses():
        h = x @ shared  # (B, 4)
        return [((h @ heads[0] - y_clean) ** 2).mean(), ((h @ heads[1] - y_noisy) ** 2).mean()]

    return shared, heads, losses


def test_gradnorm_grows_weight_of_slower_task():
    torch_state = torch.get_rng_state()
    shared, heads, losses = _tiny_two_task_problem()
    gn = GradNorm(["clean", "noisy"], alpha=1.5)
    opt = torch.optim.SGD([shared, *heads], lr=0.02)
    w_opt = torch.optim.SGD(gn.parameters(), lr=0.02)
    initial = None
    history = []
    for _ in range(150):
        ls = losses()
        if initial is None:
            initial = [l.item() for l in ls]
        gl = gn.gradnorm_loss(dict(zip(["clean", "noisy"], ls)), initial, shared)
        total = gn.weighted_loss(ls)
        opt.zero_grad()
        w_opt.zero_grad()
        total.backward()
        gl.backward()
        opt.step()
        w_opt.step()
        gn.renormalize()
        history.append([l.item() for l in ls])
    ratios = np.array(history[-1]) / np.array(initial)
    assert ratios[1] > ratios[0]  # the noisy task's loss did decrease more slowly
    w = gn.weights()
    assert w[1] > 1.0 > w[0]  # ...and its weight grew
    assert w.sum().item() == pytest.approx(2.0)
    assert torch.equal(torch_state, torch.get_rng_state())


def test_gradnorm_validation():
    with pytest.raises(ValueError, match="alpha"):
        GradNorm(2, alpha=-1.0)
    gn = GradNorm(2)
    p = torch.ones(2, requires_grad=True)
    ls = [p.sum(), (2 * p).sum()]
    with pytest.raises(ValueError, match="initial losses"):
        gn.gradnorm_loss(ls, [1.0, 0.0], p)
    with pytest.raises(ValueError, match="1 initial losses for 2 tasks"):
        gn.gradnorm_loss(ls, [1.0], p)
    with pytest.raises(ValueError, match="task names"):
        GradNorm(2).weighted_loss({"a": ls[0], "b": ls[1]})


def test_public_names_are_exported():
    for name in mtl.__all__:
        assert hasattr(mtl, name)
    assert math.isclose(sum(uniform_probs([3, 4])), 1.0)
