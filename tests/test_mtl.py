"""Tests for itft_utils.mtl: λ schedules, the simple sampling distributions and GradNorm (Homework 1's
exercises are not in the library: their references are tested in test_references.py)."""
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
    get_sampling_method,
    get_schedule,
    proportional_probs,
    uniform_probs,
)

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


def test_schedule_registry_and_validation():
    assert set(SCHEDULES) == {"constant", "linear", "cosine"}
    assert isinstance(get_schedule("linear", start=0.5, end=1.0), LinearAnneal)
    with pytest.raises(ValueError, match="known schedules.*constant"):
        get_schedule("exponential")
    with pytest.raises(ValueError, match="start"):
        LinearAnneal(-0.1, 1.0)
    with pytest.raises(ValueError, match="end"):
        CosineAnneal(0.0, 1.5)
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


@pytest.mark.parametrize("bad", [[], [10, 0], [10, -3], [10, 2.5], [True, 3]])
def test_sizes_validated(bad):
    for fn in SAMPLING_METHODS.values():
        with pytest.raises(ValueError, match="size"):
            fn(bad)


def test_registry_validation():
    assert get_sampling_method("proportional") is proportional_probs
    with pytest.raises(ValueError, match="known methods.*proportional"):
        get_sampling_method("temperature")  # an exercise: the trainer takes the student's function


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
            initial = [loss.item() for loss in ls]
        gl = gn.gradnorm_loss(dict(zip(["clean", "noisy"], ls)), initial, shared)
        total = gn.weighted_loss(ls)
        opt.zero_grad()
        w_opt.zero_grad()
        total.backward()
        gl.backward()
        opt.step()
        w_opt.step()
        gn.renormalize()
        history.append([loss.item() for loss in ls])
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
