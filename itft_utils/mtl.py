"""Multi-task learning building blocks: loss weights, λ schedules, task sampling, learned weights.

The lecture's two ways of mixing tasks map onto two halves of this module:

* **Weight the losses** of every task in each update: ``L = Σ_k w_k L_k``; with two tasks
  ``L = λ·L_target + (1 − λ)·L_aux`` (:func:`weighted_loss`, :func:`two_task_weights`). λ may
  follow a schedule over training (:class:`ConstantSchedule`, :class:`LinearAnneal`,
  :class:`CosineAnneal`) or be learned (:class:`UncertaintyWeighting`, :class:`GradNorm`).
  Intermediate-task fine-tuning (STILTs) is the special case :class:`StepSchedule`: all weight on the
  intermediate task until the switch, then all on the target.
* **Sample the tasks**: each update draws one task with chosen probabilities (:class:`TaskSampler`
  over :func:`uniform_probs`, :func:`proportional_probs`, :func:`temperature_probs`,
  :func:`annealed_probs`).

Pure torch / numpy, no model code, so every piece can be tested on toy tensors. Random routines take
a ``seed`` and keep their own generator: global numpy and torch RNG state is never touched.
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "weighted_loss",
    "two_task_weights",
    "LambdaSchedule",
    "ConstantSchedule",
    "LinearAnneal",
    "CosineAnneal",
    "StepSchedule",
    "SCHEDULES",
    "get_schedule",
    "uniform_probs",
    "proportional_probs",
    "temperature_probs",
    "annealed_alpha",
    "annealed_probs",
    "SAMPLING_METHODS",
    "get_sampling_method",
    "TaskSampler",
    "UncertaintyWeighting",
    "GradNorm",
]

SUM_TOLERANCE = 1e-6  # weights / probabilities typed by hand (0.1 + 0.2 + 0.7) are off by ~1e-16


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


def _check_weights(
    names: list[str], weights: Sequence[float] | Mapping[str, float], require_sum_to_one: bool
) -> list[float]:
    """Validate weights against the task labels and return them as floats, in task order."""
    if isinstance(weights, Mapping):
        missing = [n for n in names if n not in weights]
        extra = [k for k in weights if k not in names]
        if missing or extra:
            raise ValueError(
                f"weights and losses name different tasks: missing weights for {missing}, "
                f"weights for unknown tasks {extra}; losses have {names}"
            )
        values = [weights[n] for n in names]
    else:
        values = list(weights)
        if len(values) != len(names):
            raise ValueError(f"got {len(values)} weights for {len(names)} losses; need one per task")
    out: list[float] = []
    for name, w in zip(names, values):
        w_f = float(w.item() if isinstance(w, Tensor) else w)
        if not math.isfinite(w_f):
            raise ValueError(f"weight for {name!r} is {w_f}; weights must be finite")
        if w_f < 0:
            raise ValueError(f"weight for {name!r} is {w_f}; weights must be non-negative")
        out.append(w_f)
    total = sum(out)
    if require_sum_to_one and abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(
            f"weights {dict(zip(names, out))} sum to {total}, not 1; rescale them, or pass "
            "require_sum_to_one=False if the scale is intended (it acts like a learning-rate factor)"
        )
    return out


def weighted_loss(
    losses: Sequence[Tensor] | Mapping[str, Tensor],
    weights: Sequence[float] | Mapping[str, float],
    *,
    require_sum_to_one: bool = True,
) -> Tensor:
    """Combine per-task losses as ``L = Σ_k w_k L_k``, the lecture's loss-weighting form of MTL.

    ``losses`` is a list of scalar tensors or a dict ``{task: loss}``; ``weights`` a list in the
    same order or a dict with the same keys. Weights must be finite and non-negative and, by
    default, sum to 1 (within 1e-6) so that changing λ moves weight between tasks instead of
    silently changing the effective learning rate. Gradients flow into every loss.
    """
    names, values = _loss_list(losses)
    ws = _check_weights(names, weights, require_sum_to_one)
    total = values[0] * ws[0]
    for w, loss in zip(ws[1:], values[1:]):
        total = total + w * loss
    return total


def _check_lam(lam: float, what: str = "lam") -> float:
    lam_f = float(lam)
    if not math.isfinite(lam_f) or not 0.0 <= lam_f <= 1.0:
        raise ValueError(f"{what} must be in [0, 1] (the weight on the target task), got {lam!r}")
    return lam_f


def two_task_weights(lam: float) -> tuple[float, float]:
    """Return ``(λ, 1 − λ)``: the weights of ``L = λ·L_target + (1 − λ)·L_aux``.

    λ = 0.8 puts 80 % of the loss on the target task (the lecture's SQuAD + HotpotQA example).
    """
    lam_f = _check_lam(lam)
    return lam_f, 1.0 - lam_f


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


class StepSchedule(LambdaSchedule):
    """λ = 0 before ``switch_fraction`` of training, 1 from there on: intermediate-task fine-tuning.

    All weight on the auxiliary (intermediate) task until the switch, then all on the target: the
    lecture's view of STILTs as MTL with a fixed schedule. The switch step itself already has λ = 1.
    """

    def __init__(self, switch_fraction: float):
        frac = float(switch_fraction)
        if not math.isfinite(frac) or not 0.0 <= frac <= 1.0:
            raise ValueError(f"switch_fraction must be in [0, 1], got {switch_fraction!r}")
        self.switch_fraction = frac

    def lam_at(self, t: float) -> float:
        return 0.0 if t < self.switch_fraction else 1.0


SCHEDULES: dict[str, type[LambdaSchedule]] = {
    "constant": ConstantSchedule,
    "linear": LinearAnneal,
    "cosine": CosineAnneal,
    "step": StepSchedule,
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
        raise TypeError("sizes must be a sequence of ints; for a dict use TaskSampler.from_sizes")
    values = list(sizes)
    if not values:
        raise ValueError("sizes is empty: need the size of at least one task")
    for i, n in enumerate(values):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n <= 0:
            raise ValueError(f"size of task {i} is {n!r}; sizes must be positive integers")
    return np.asarray(values, dtype=np.float64)


def _normalise_log(logits: np.ndarray) -> np.ndarray:
    """exp-normalise in log space, so tiny temperatures or huge datasets cannot overflow."""
    z = np.exp(logits - logits.max())
    return z / z.sum()


def uniform_probs(sizes: Sequence[int]) -> np.ndarray:
    """Every task equally likely, whatever its size (small tasks are seen many times over)."""
    n = _check_sizes(sizes)
    return np.full(len(n), 1.0 / len(n))


def proportional_probs(sizes: Sequence[int]) -> np.ndarray:
    """p_i ∝ n_i: the same mix as concatenating the datasets (large tasks dominate)."""
    n = _check_sizes(sizes)
    return n / n.sum()


def temperature_probs(sizes: Sequence[int], T: float, cap: int | None = None) -> np.ndarray:
    """p_i ∝ min(n_i, cap)^(1/T), T5-style temperature sampling.

    T = 1 is proportional, T → ∞ (``float("inf")`` accepted) is uniform; values between trade the
    two off. ``cap`` (the T5 paper's "K") stops one huge dataset from taking all the probability.
    """
    n = _check_sizes(sizes)
    T_f = float(T)
    if math.isnan(T_f) or T_f <= 0:
        raise ValueError(f"temperature T must be > 0 (or inf), got {T!r}")
    if cap is not None:
        if isinstance(cap, bool) or not isinstance(cap, numbers.Real) or not cap > 0:
            raise ValueError(f"cap must be a positive number or None, got {cap!r}")
        n = np.minimum(n, float(cap))
    return _normalise_log(np.log(n) / T_f)  # 1/inf == 0.0 gives uniform


def annealed_alpha(epoch: int, num_epochs: int) -> float:
    """Stickland & Murray (2019) exponent: ``1 − 0.8·epoch/(num_epochs − 1)``, 1 → 0.2.

    ``epoch`` counts from 0. With a single epoch the exponent stays 1 (proportional).
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f"num_epochs must be a positive integer, got {num_epochs!r}")
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or not 0 <= epoch < num_epochs:
        raise ValueError(f"epoch must be an integer in [0, {num_epochs - 1}] (0-based), got {epoch!r}")
    if num_epochs == 1:
        return 1.0
    return 1.0 - 0.8 * epoch / (num_epochs - 1)


def annealed_probs(sizes: Sequence[int], epoch: int, num_epochs: int) -> np.ndarray:
    """p_i ∝ n_i^α with α annealed from 1 (proportional) to 0.2 (near uniform) over the epochs.

    Large tasks dominate early, then small tasks get their turn, so they are not forgotten at the
    end of training. Build a new :class:`TaskSampler` each epoch.
    """
    n = _check_sizes(sizes)
    alpha = annealed_alpha(epoch, num_epochs)
    return _normalise_log(alpha * np.log(n))


SAMPLING_METHODS: dict[str, Callable[..., np.ndarray]] = {
    "uniform": uniform_probs,
    "proportional": proportional_probs,
    "temperature": temperature_probs,
    "annealed": annealed_probs,
}


def get_sampling_method(name: str) -> Callable[..., np.ndarray]:
    """Look up a registered ``sizes -> probabilities`` function by name."""
    if name not in SAMPLING_METHODS:
        raise ValueError(f"unknown sampling method {name!r}; known methods: {sorted(SAMPLING_METHODS)}")
    return SAMPLING_METHODS[name]


# ---------------------------------------------------------------------------------------------
# Task sampler
# ---------------------------------------------------------------------------------------------


class TaskSampler:
    """Draws which task the next batch comes from, with fixed probabilities.

    Probabilities are fixed at construction and exposed as ``task_probs`` (``{name: p}``), so tests
    and plots can check the mix without drawing. Draws use the sampler's own
    ``numpy.random.Generator`` seeded with ``seed``: the same seed gives the same sequence and the
    global numpy / torch RNG state is never touched.
    """

    def __init__(self, task_names: Sequence[str], probs: Sequence[float], seed: int):
        names = [str(n) for n in task_names]
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        if not names:
            raise ValueError("task_names is empty: need at least one task")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"task names must be unique, repeated: {dupes}")
        if len(p) != len(names):
            raise ValueError(f"got {len(p)} probabilities for {len(names)} tasks {names}")
        for name, pi in zip(names, p):
            if not math.isfinite(pi) or pi < 0:
                raise ValueError(f"probability for {name!r} is {pi}; must be finite and non-negative")
        if abs(p.sum() - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"probabilities sum to {p.sum()}, not 1: {dict(zip(names, p.tolist()))}")
        self.task_names: tuple[str, ...] = tuple(names)
        self._p = p / p.sum()  # remove rounding error so numpy's choice accepts it
        self.task_probs: dict[str, float] = dict(zip(names, self._p.tolist()))
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    @classmethod
    def from_sizes(
        cls, sizes: Mapping[str, int], method: str = "temperature", *, seed: int, **kwargs: float
    ) -> TaskSampler:
        """Sampler over ``{task: dataset size}`` with a registered method, e.g.
        ``TaskSampler.from_sizes(sizes, "temperature", T=2.0, seed=0)``."""
        if not isinstance(sizes, Mapping):
            raise TypeError(f"sizes must be a dict {{task: size}}, got {type(sizes).__name__}")
        fn = get_sampling_method(method)
        try:
            inspect.signature(fn).bind(list(sizes.values()), **kwargs)
        except TypeError as err:
            params = [p for p in inspect.signature(fn).parameters if p != "sizes"]
            raise ValueError(
                f"sampling method {method!r} takes arguments {params}, got {sorted(kwargs)}: {err}"
            ) from None
        probs = fn(list(sizes.values()), **kwargs)
        return cls(list(sizes), probs, seed)

    def sample_n(self, n: int) -> list[str]:
        """Draw ``n`` task names (with replacement) from ``task_probs``."""
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        idx = self._rng.choice(len(self._p), size=int(n), p=self._p)
        return [self.task_names[i] for i in idx]

    def sample(self) -> str:
        """Draw one task name (one draw of :meth:`sample_n`, so both share one random stream)."""
        return self.sample_n(1)[0]

    def __repr__(self) -> str:
        probs = ", ".join(f"{k}: {v:.3f}" for k, v in self.task_probs.items())
        return f"TaskSampler({{{probs}}}, seed={self.seed!r})"


# ---------------------------------------------------------------------------------------------
# Learned weights
# ---------------------------------------------------------------------------------------------


def _task_count(num_tasks: int | Sequence[str]) -> tuple[int, list[str] | None]:
    if isinstance(num_tasks, numbers.Integral) and not isinstance(num_tasks, bool):
        if num_tasks < 1:
            raise ValueError(f"num_tasks must be at least 1, got {num_tasks}")
        return int(num_tasks), None
    names = [str(n) for n in num_tasks]
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
    if len(values) != k:
        raise ValueError(f"got {len(values)} losses for {k} tasks")
    return values


class UncertaintyWeighting(nn.Module):
    """Learn task weights from homoscedastic uncertainty (Kendall, Gal & Cipolla, 2018).

    Each task k gets a learnable log-variance ``s_k = log σ_k²`` (initialised to 0, i.e. weight 1),
    and the combined loss is ``Σ_k exp(−s_k)·L_k + s_k``. A task with a large loss is down-weighted
    (its ``s_k`` grows) and the ``+ s_k`` term stops every weight from collapsing to zero. This is the
    common form used for classification; the paper's regression form has factors 0.5
    (``0.5·exp(−s_k)·L_k + 0.5·s_k``), omitted here since they only rescale the loss.

    Put ``module.parameters()`` into the optimizer alongside the model's.
    """

    def __init__(self, num_tasks: int | Sequence[str]):
        super().__init__()
        self.num_tasks, self.task_names = _task_count(num_tasks)
        self.log_vars = nn.Parameter(torch.zeros(self.num_tasks))

    def forward(self, losses: Sequence[Tensor] | Mapping[str, Tensor]) -> Tensor:
        values = torch.stack(_ordered_losses(losses, self.num_tasks, self.task_names))  # (K,)
        s = self.log_vars.to(values.dtype)
        return (torch.exp(-s) * values + s).sum()

    def task_loss(self, task: int | str, loss: Tensor) -> Tensor:
        """One task's term ``exp(−s_k)·L_k + s_k``; the terms of all tasks sum to :meth:`forward`.

        A trainer can backpropagate task by task with it, holding one task's activations at a time.
        ``task`` is an index, or a name when the module was built with task names.
        """
        if isinstance(task, str):
            if self.task_names is None or task not in self.task_names:
                raise ValueError(f"unknown task {task!r}; this module's tasks are {self.task_names or self.num_tasks}")
            k = self.task_names.index(task)
        elif isinstance(task, numbers.Integral) and not isinstance(task, bool) and 0 <= task < self.num_tasks:
            k = int(task)
        else:
            raise ValueError(f"task must be a name or an index in [0, {self.num_tasks}), got {task!r}")
        _loss_list([loss])  # one scalar tensor, or an error that says what arrived
        s = self.log_vars[k].to(loss.dtype)
        return torch.exp(-s) * loss + s

    def weights(self) -> Tensor:
        """Current weights ``exp(−s_k)`` (detached), for logging."""
        return torch.exp(-self.log_vars.detach())


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

        ratios = torch.stack([l.detach().double() for l in values]) / init  # L_k(t) / L_k(0)
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
