"""Multi-task learning building blocks that are not Homework 1's exercises: λ schedules, the
simple sampling distributions and GradNorm.

The lecture's two ways of mixing tasks, and where each piece lives:

* **Weight the losses** of every task in each update, ``L = Σ_k w_k L_k``; λ may follow a schedule
  over training (:class:`ConstantSchedule`, :class:`LinearAnneal`, :class:`CosineAnneal`) or be
  learned (:class:`GradNorm` here; uncertainty weighting is an exercise).
* **Sample the tasks**: each update draws one task with chosen probabilities
  (:func:`uniform_probs`, :func:`proportional_probs`; temperature and annealed sampling are exercises).

The weighted loss, temperature and annealed sampling, the seeded sampler, uncertainty weighting and
the step schedule are what students write in Homework 1, and the trainer
(:mod:`itft_utils.mtl_training`) takes their functions as arguments: the library keeps no version of
them (the course's references live in the grading package, which students do not install).

Pure torch / numpy, no model code, so every piece can be tested on toy tensors.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from .validation import require_between, require_count

__all__ = [
    "LambdaSchedule",
    "ConstantSchedule",
    "LinearAnneal",
    "CosineAnneal",
    "SCHEDULES",
    "get_schedule",
    "uniform_probs",
    "proportional_probs",
    "SAMPLING_METHODS",
    "get_sampling_method",
    "GradNorm",
]


# ---------------------------------------------------------------------------------------------
# Weighted losses
# ---------------------------------------------------------------------------------------------


def _loss_list(losses: Sequence[Tensor] | Mapping[str, Tensor]) -> tuple[list[str], list[Tensor]]:
    """Return (task labels, scalar losses); labels are dict keys or ``"task 0"``, ``"task 1"``, …"""
    if isinstance(losses, Mapping):
        names = [str(k) for k in losses]
        values = list(losses.values())
    elif isinstance(losses, Sequence) and not isinstance(losses, (str, bytes)):
        names = [f"task {i}" for i in range(len(losses))]
        values = list(losses)
    else:
        raise TypeError(
            f"losses must be a sequence or a dict of scalar tensors, got {type(losses).__name__}"
        )
    if not values:
        raise ValueError("losses is empty: need the loss of at least one task")
    for name, value in zip(names, values):
        if not isinstance(value, Tensor):
            raise TypeError(f"loss for {name!r} is a {type(value).__name__}, expected a torch.Tensor")
        if value.dim() != 0:
            # A per-example loss here would silently be summed with the wrong scale: reduce it first.
            raise ValueError(
                f"loss for {name!r} has shape {tuple(value.shape)}; expected a scalar "
                "(reduce it with .mean() first)"
            )
    return names, values


def _check_lam(lam: float, what: str = "lam") -> float:
    return require_between(lam, 0.0, 1.0, f"{what} (the weight on the target task)")


# ---------------------------------------------------------------------------------------------
# λ schedules: schedule(step, total_steps) -> weight on the target task
# ---------------------------------------------------------------------------------------------


class LambdaSchedule:
    """Base class: ``schedule(step, total_steps)`` returns λ, the weight on the target task.

    ``step`` counts finished updates, from 0 to ``total_steps`` inclusive, so progress
    ``t = step / total_steps`` runs over [0, 1] and the end value is reached at the last step
    (the convention of Hugging Face's learning-rate schedules).
    """

    def lam_at(self, t: float) -> float:
        """λ at training progress ``t`` in [0, 1]; subclasses implement this."""
        raise NotImplementedError

    def __call__(self, step: int, total_steps: int) -> float:
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step <= total_steps:
            raise ValueError(f"step must be an integer in [0, total_steps={total_steps}], got {step!r}")
        return self.lam_at(step / total_steps)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class ConstantSchedule(LambdaSchedule):
    """Fixed λ all through training (λ = 0.5 with equal-size tasks is naive MTL)."""

    def __init__(self, lam: float):
        self.lam = _check_lam(lam)

    def lam_at(self, t: float) -> float:
        return self.lam


class LinearAnneal(LambdaSchedule):
    """λ moves linearly from ``start`` to ``end``.

    ``LinearAnneal(0.5, 1.0)`` is the lecture's "equal at first, then more on the target".
    """

    def __init__(self, start: float, end: float):
        self.start = _check_lam(start, "start")
        self.end = _check_lam(end, "end")

    def lam_at(self, t: float) -> float:
        return self.start + (self.end - self.start) * t


class CosineAnneal(LambdaSchedule):
    """λ follows half a cosine from ``start`` to ``end``: flat at both ends, fastest in the middle.

    At half-way it equals the mean of ``start`` and ``end``.
    """

    def __init__(self, start: float, end: float):
        self.start = _check_lam(start, "start")
        self.end = _check_lam(end, "end")

    def lam_at(self, t: float) -> float:
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * t))


SCHEDULES: dict[str, type[LambdaSchedule]] = {
    "constant": ConstantSchedule,
    "linear": LinearAnneal,
    "cosine": CosineAnneal,
}


def get_schedule(name: str, **kwargs: float) -> LambdaSchedule:
    """Build a registered schedule by name, e.g. ``get_schedule("linear", start=0.5, end=1.0)``."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known schedules: {sorted(SCHEDULES)}")
    return SCHEDULES[name](**kwargs)


# ---------------------------------------------------------------------------------------------
# Task sampling distributions: sizes -> probabilities (numpy float arrays summing to 1)
# ---------------------------------------------------------------------------------------------


def _check_sizes(sizes: Sequence[int]) -> np.ndarray:
    """Dataset sizes as a float array; they must be positive integers, at least one task."""
    if isinstance(sizes, Mapping):
        raise TypeError("sizes must be a sequence of ints (for a dict, pass list(sizes.values()))")
    values = list(sizes)
    if not values:
        raise ValueError("sizes is empty: need the size of at least one task")
    for i, n in enumerate(values):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(f"size of task {i} is {n!r}; sizes must be positive integers")
    return np.asarray(values, dtype=np.float64)


def uniform_probs(sizes: Sequence[int]) -> np.ndarray:
    """Every task equally likely, whatever its size (small tasks are seen many times over)."""
    n = _check_sizes(sizes)
    return np.full(len(n), 1.0 / len(n))


def proportional_probs(sizes: Sequence[int]) -> np.ndarray:
    """p_i ∝ n_i: the same mix as concatenating the datasets (large tasks dominate)."""
    n = _check_sizes(sizes)
    return n / n.sum()


SAMPLING_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "uniform": uniform_probs,
    "proportional": proportional_probs,
}


def get_sampling_method(name: str) -> Callable[..., np.ndarray]:
    """Look up a registered ``sizes -> probabilities`` function by name."""
    if name not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {name!r}; known methods: {sorted(SAMPLING_METHODS)}")
    return SAMPLING_METHODS[name]


# ---------------------------------------------------------------------------------------------
# Learned weights
# ---------------------------------------------------------------------------------------------


def _task_count(num_tasks: int | Sequence[str]) -> tuple[int, list[str] | None]:
    if isinstance(num_tasks, numbers.Integral) and not isinstance(num_tasks, bool):
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {num_tasks}")
        return int(num_tasks), None
    names = [str(n) for n in num_tasks]  # type: ignore[union-attr]  # not an int: a sequence of names
    if not names or len(set(names)) != len(names):
        raise ValueError(f"task names must be a non-empty list of unique names, got {names}")
    return len(names), names


def _ordered_losses(
    losses: Sequence[Tensor] | Mapping[str, Tensor], k: int, names: list[str] | None
) -> list[Tensor]:
    """Losses in the module's task order; dicts must use the names given at construction."""
    got_names, values = _loss_list(losses)
    if isinstance(losses, Mapping):
        if names is None:
            raise ValueError("losses came as a dict but the module was built with a task count; "
                             "build it with task names to pass losses by name")
        if sorted(got_names) != sorted(names):
            raise ValueError(f"losses are for tasks {got_names}, expected {names}")
        return [losses[n] for n in names]
    require_count(values, k, f"losses for {k} tasks")
    return values


class GradNorm(nn.Module):
    """Learn task weights by balancing gradient norms (Chen et al., 2018).

    Each task k has a weight ``w_k`` (``task_weights``, initialised to 1). On the shared parameters
    ``W`` (usually the last shared layer, to keep it cheap) GradNorm compares each task's gradient
    norm ``G_k = ||∇_W w_k L_k||`` with a target ``Ḡ · r_k^α``, where ``Ḡ`` is the mean of the
    ``G_k`` and ``r_k = (L_k/L_k(0)) / mean_j(L_j/L_j(0))`` is the task's relative inverse training
    rate: a task whose loss has fallen less than the others (r_k > 1) should get a larger gradient,
    so its weight grows. ``alpha`` sets how strongly (0 = equal gradient norms).

    One training step::

        gn_loss = gradnorm.gradnorm_loss(losses, initial_losses, shared_layer.weight)
        total = gradnorm.weighted_loss(losses)          # weights act as constants here
        opt.zero_grad(); weight_opt.zero_grad()
        total.backward(); gn_loss.backward()            # model grads, then grads of w only
        opt.step(); weight_opt.step()
        gradnorm.renormalize()                          # keep Σ_k w_k = K

    ``initial_losses`` are the losses at the first step (detached).
    """

    def __init__(self, num_tasks: int | Sequence[str], alpha: float = 1.5):
        super().__init__()
        self.num_tasks, self.task_names = _task_count(num_tasks)
        alpha_f = float(alpha)
        if not math.isfinite(alpha_f) or alpha_f < 0:
            raise ValueError(f"alpha must be finite and >= 0 (the paper uses 0.12 to 3), got {alpha!r}")
        self.alpha = alpha_f  # 1.5 is the paper's choice for its NYUv2 experiments
        self.task_weights = nn.Parameter(torch.ones(self.num_tasks))

    def weights(self) -> Tensor:
        """Current weights ``w_k`` (detached), for logging."""
        return self.task_weights.detach().clone()

    def weighted_loss(self, losses: Sequence[Tensor] | Mapping[str, Tensor]) -> Tensor:
        """``Σ_k w_k L_k`` for the model update; the weights are detached, since only the GradNorm
        loss should train them."""
        values = torch.stack(_ordered_losses(losses, self.num_tasks, self.task_names))
        return (self.task_weights.detach().to(values.dtype) * values).sum()

    def gradnorm_loss(
        self,
        losses: Sequence[Tensor] | Mapping[str, Tensor],
        initial_losses: Sequence[float] | Tensor,
        shared_params: Tensor | Iterable[Tensor],
    ) -> Tensor:
        """``Σ_k |G_k − Ḡ·r_k^α|``, a loss whose gradient reaches only ``task_weights``.

        ``losses`` must still have their graph to ``shared_params``; it is kept (``retain_graph``)
        so the caller can backpropagate the weighted loss afterwards.
        """
        values = _ordered_losses(losses, self.num_tasks, self.task_names)
        params = [shared_params] if isinstance(shared_params, Tensor) else list(shared_params)
        if not params or not all(p.requires_grad for p in params):
            raise ValueError("shared_params must be one or more tensors that require grad")
        init = torch.as_tensor(initial_losses, dtype=torch.float64).detach().reshape(-1)
        if init.numel() != self.num_tasks:
            raise ValueError(f"got {init.numel()} initial losses for {self.num_tasks} tasks")
        if not bool(torch.all(torch.isfinite(init) & (init > 0))):
            raise ValueError(f"initial losses must be finite and > 0 (they divide), got {init.tolist()}")

        # ||∇_W (w_k L_k)|| = w_k · ||∇_W L_k|| for w_k >= 0, so the norms of the plain task
        # gradients are constants and the only path to the weights is the factor w_k.
        norms = []
        for loss in values:
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            sq = sum((g.detach().double() ** 2).sum() for g in grads if g is not None)
            norms.append(torch.sqrt(torch.as_tensor(sq, dtype=torch.float64)))
        w = self.task_weights
        G = w * torch.stack(norms).to(w.dtype)  # (K,)

        ratios = torch.stack([loss.detach().double() for loss in values]) / init  # L_k(t) / L_k(0)
        r = ratios / ratios.mean()
        # The target is a constant (the paper stops its gradient), otherwise the weights could
        # lower the loss by shrinking Ḡ for everyone.
        target = (G.detach().double().mean() * r**self.alpha).to(w.dtype)
        return (G - target).abs().sum()

    @torch.no_grad()
    def renormalize(self, eps: float = 1e-6) -> None:
        """Rescale weights to sum to K (the number of tasks) after each optimizer step, keeping them
        positive, so GradNorm only moves weight between tasks and never changes the overall scale."""
        self.task_weights.clamp_(min=eps)
        self.task_weights.mul_(self.num_tasks / self.task_weights.sum())
