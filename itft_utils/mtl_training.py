"""Multi-task fine-tuning: one shared encoder, one head per task, and the lecture's two ways to mix.

* **weighting** (``MTLConfig(mode="weighting")``): every step takes one batch of every task whose
  weight is not 0 (a zero-weight task costs nothing, so λ = 1 is exactly single-task training) and
  minimises ``L = λ·L_target + (1 − λ)·L_aux`` (the auxiliary share split equally when there are
  several). λ is a constant, follows a schedule over training (:mod:`itft_utils.mtl`: linear or
  cosine annealing, or the step schedule, which *is* intermediate-task fine-tuning), or is learned
  (``"uncertainty"``, Kendall et al. 2018).
* **sampling** (``MTLConfig(mode="sampling")``): every step draws *one* task and takes a batch of it;
  the probabilities come from a function of the dataset sizes (``"uniform"``, ``"proportional"``,
  or any ``(sizes, epoch, num_epochs) -> probabilities``, e.g. a temperature or an annealed one).

Homework 1's exercises plug in here, so that the student's code is the experiment: the weighted
loss (``combine``), the sampling distributions (``sampling``), the seeded sampler (``sampler``), the
uncertainty loss (``uncertainty``) and the step schedule (``weighting``). Without them the trainer
uses its own plain weighted sum and draws an epoch's tasks in one call.

An *epoch* processes as many batches in both modes: ``K × (batches of the target)`` for K tasks
(weighting: one step per target batch, K batches a step; sampling: K times as many one-batch
steps), so the two modes are compared at equal compute; weighting runs in which a task's weight is
0 for some steps (λ = 1, the step schedule) process fewer. Everything the run did per
step (weights, which task had a batch, its loss) is logged in an :class:`MTLHistory` for plots;
:func:`~itft_utils.mtl_sweep.lambda_sweep` runs the homework's whole comparison in one call.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import cast

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .data.task import Task
from .encoding import collate, encode, num_features
from .finetune import EvalSet
from .models import build_model, load_tokenizer
from .mtl import ConstantSchedule, LambdaSchedule, get_sampling_method
from .mtl_history import MTLHistory, target_share, task_shares
from .qa import QASettings
from .runtime import get_device, is_grading, set_seed
from .training import (
    Precision,
    TrainConfig,
    epoch_batches,
    finish_epoch,
    linear_schedule,
    log_step,
    make_optimizer,
    optimizer_step,
)
from .validation import require_between, require_distribution

__all__ = [
    "MTLConfig",
    "MTLHistory",
    "MTLResult",
    "MultiTaskModel",
    "fine_tune_multitask",
    "target_share",
    "task_shares",
]

MODES = ("weighting", "sampling")


# ---------------------------------------------------------------------------------------------
# The model: Hugging Face head models that share one encoder object
# ---------------------------------------------------------------------------------------------


class MultiTaskModel(nn.Module):
    """One Hugging Face head model per task (``AutoModelFor*``), all sharing one encoder object.

    Each head model keeps its own forward and loss, so ``model.heads[task]`` is an ordinary model
    that :func:`itft_utils.finetune.evaluate` accepts. Sharing is done by pointing every head model's
    base-model attribute (``bert``, ``roberta``, … = ``base_model_prefix``) at the same module, so
    ``parameters()`` lists the encoder once and the optimiser updates it once.
    """

    def __init__(self, heads: Mapping[str, nn.Module]):
        super().__init__()
        if not heads:
            raise ValueError("heads is empty: need one head model per task")
        bad = [name for name in heads if not name or "." in name]
        if bad:
            raise ValueError(f"task names must be non-empty and contain no '.', got {bad}")
        models = list(heads.values())
        kinds = {type(m.base_model).__name__ for m in models}
        if len(kinds) != 1:
            raise ValueError(f"head models must have the same encoder architecture to share it, got {sorted(kinds)}")
        # Share an encoder that has a pooler if any has one: classification heads read the pooler,
        # QA and tagging heads are loaded without it and simply ignore it.
        shared = next((m.base_model for m in models if getattr(m.base_model, "pooler", None) is not None), models[0].base_model)
        for m in models:
            setattr(m, str(m.base_model_prefix), shared)
        self.heads = nn.ModuleDict(dict(heads))

    @classmethod
    def build(cls, model: str, tasks: Sequence[Task], dtype: torch.dtype = torch.float32) -> MultiTaskModel:
        """Fresh heads for ``tasks`` on the encoder ``model`` (a preset, hub name or encoder folder).

        Heads are initialised in the order of ``tasks`` from the global torch generator: seed first.
        """
        return cls({t.name: build_model(model, t.task_type, t.num_labels, t.label_names, dtype) for t in tasks})

    @property
    def encoder(self) -> nn.Module:
        """The shared encoder (the same object in every head model)."""
        return cast(nn.Module, next(iter(self.heads.values())).base_model)

    @property
    def task_names(self) -> list[str]:
        return list(self.heads)

    def forward(self, task: str, **batch):
        """The head model of ``task`` on ``batch``; its output carries ``.loss`` when labels are given."""
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; heads: {self.task_names}")
        return self.heads[task](**batch)


# ---------------------------------------------------------------------------------------------
# Configuration, history, result
# ---------------------------------------------------------------------------------------------

Weighting = float | LambdaSchedule | Callable[[int, int], float] | str
Sampling = str | Callable[[list[int], int, int], Sequence[float]]


@dataclass
class MTLConfig:
    """How the tasks are mixed; the optimiser, epochs, batch size and seed stay in :class:`TrainConfig`.

    The callables are where Homework 1's exercises plug in: ``combine(losses, weights) -> loss``,
    ``sampling(sizes, epoch, num_epochs) -> probabilities``, ``sampler(task_names, probs, seed)``
    (an object with ``sample() -> task name``), ``uncertainty(losses, log_vars) -> loss`` and a
    weighting ``(step, total_steps) -> λ``.
    """

    target: str  # the task we care about: λ is its weight, "target_share" is measured for it
    mode: str = "weighting"  # "weighting": a batch of every task each step, losses weighted; "sampling": one task a step
    weighting: Weighting = 0.5  # weighting mode: a constant λ, a schedule (step, total) -> λ, or "uncertainty" (learned)
    sampling: Sampling = "proportional"  # sampling mode: "uniform", "proportional" or (sizes, epoch, num_epochs) -> probabilities
    combine: Callable | None = None  # (losses, weights) -> the combined loss; None: the trainer's own weighted sum
    sampler: Callable | None = None  # (task_names, probs, seed) -> an object with sample(); None: the trainer's own draws
    uncertainty: Callable | None = None  # (losses, log_vars) -> loss, for weighting="uncertainty"
    steps_per_epoch: int | None = None  # None: equal compute in both modes (see the module docstring)
    cosines: Callable | None = None  # (target's, auxiliary's encoder gradients by name) -> {layer: cosine}, logged per step
    surgery: Callable | None = None  # [target's, auxiliary's flat encoder gradients] -> the update's (e.g. PCGrad)
    steps_factor: int = 1  # times the steps per epoch: 2 gives a step schedule at 0.5 the target-only run's full budget
    resample: str = "epoch"  # sampling mode: new probabilities (and a new sampler) every "epoch" or every "step"
    weight_learning_rate: float = 1e-2  # learned weights only: at the encoder's 3e-5 they would barely move in one run

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.sampling, str):
            get_sampling_method(self.sampling)  # an unknown name lists the known ones
        elif not callable(self.sampling):
            raise TypeError(f"sampling must be a method name or a function (sizes, epoch, num_epochs) -> probabilities, "
                            f"got {type(self.sampling).__name__}")
        if isinstance(self.weighting, str) and self.weighting != "uncertainty":
            raise ValueError(f"weighting must be a number, a schedule or 'uncertainty', got {self.weighting!r}")
        if self.weighting == "uncertainty" and self.uncertainty is None:
            raise ValueError("weighting='uncertainty' needs the uncertainty loss: MTLConfig(..., uncertainty=uncertainty_loss)")
        if isinstance(self.weighting, (int, float)) and not isinstance(self.weighting, bool):
            self.weighting = ConstantSchedule(self.weighting)  # checks 0 <= λ <= 1
        elif not (isinstance(self.weighting, str) or callable(self.weighting)):
            raise TypeError(f"weighting must be a number, a schedule or 'uncertainty', got {type(self.weighting).__name__}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be positive or None, got {self.steps_per_epoch}")
        if self.steps_factor < 1:
            raise ValueError(f"steps_factor must be a positive integer, got {self.steps_factor}")
        if self.resample not in ("epoch", "step"):
            raise ValueError(f"resample must be 'epoch' or 'step', got {self.resample!r}")
        if (self.cosines or self.surgery) and (self.mode != "weighting" or self.combine is not None or self.weighting == "uncertainty"):
            raise ValueError("cosines and surgery need the tasks' gradients one by one: weighting mode with a number or a "
                             "schedule, and no combine (each task's loss is weighted and backpropagated on its own)")

    def describe(self) -> dict:
        """A plain dict for logs and tables (schedules by their repr, functions by their name)."""
        plain = (str, int, float, bool, type(None), dict)

        def show(v):
            if isinstance(v, plain):
                return v
            return repr(v) if isinstance(v, LambdaSchedule) else getattr(v, "__qualname__", repr(v))

        return {k: show(v) for k, v in vars(self).items()}


@dataclass
class MTLResult:
    model: MultiTaskModel
    tokenizer: object
    history: MTLHistory
    metrics: dict[str, dict[str, float]]  # {task: {metric: value}} after the last epoch


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


class _BatchStream:
    """Endless batches of one task: pass after pass, each pass ordered as ``epoch_batches`` orders it.

    The target's stream uses the run's own config, so its batches are exactly those single-task
    :func:`~itft_utils.training.train` would see; the others get seeds of their own.
    """

    def __init__(self, features: dict[str, list], config: TrainConfig):
        self.features, self.config = features, config
        self.passes = 0
        self._queue: deque[list[int]] = deque()

    def next(self) -> list[int]:
        if not self._queue:
            self._queue.extend(epoch_batches(self.features, self.config, self.passes))
            self.passes += 1
        return self._queue.popleft()


def _task_weights(schedule: Callable[[int, int], float], step: int, total: int, target: str, names: list[str]) -> dict[str, float]:
    """λ on the target, ``1 − λ`` shared equally by the auxiliary tasks."""
    lam = require_between(schedule(step, total), 0.0, 1.0, f"the weighting's λ at step {step} of {total}")
    if len(names) == 1:
        return {target: 1.0}
    return {n: lam if n == target else (1.0 - lam) / (len(names) - 1) for n in names}


def _epoch_probs(mix: MTLConfig, sizes: dict[str, int], epoch: int, epochs: int) -> list[float]:
    """This epoch's (or, with ``resample="step"``, this update's: then ``epoch`` counts updates)
    sampling probabilities, one per task in the order of ``sizes``, checked."""
    counts = list(sizes.values())
    probs = get_sampling_method(mix.sampling)(counts) if isinstance(mix.sampling, str) else mix.sampling(counts, epoch, epochs)
    what = f"probabilities from the sampling function (sizes {counts}, epoch {epoch} of {epochs})"
    return require_distribution(np.asarray(probs, dtype=np.float64).reshape(-1), what, count=len(counts))


def _epoch_draws(mix: MTLConfig, names: list[str], probs: list[float], n: int, seed: int):
    """The tasks of an epoch's ``n`` steps, drawn under their own seed (never the model's generators)."""
    if mix.sampler is not None:
        sampler = mix.sampler(names, probs, seed)
        return (sampler.sample() for _ in range(n))
    p = np.asarray(probs) / sum(probs)
    return iter([names[i] for i in np.random.default_rng(seed).choice(len(names), size=n, p=p)])


def _apply_encoder_grads(mix: MTLConfig, shared: list[tuple[str, nn.Parameter]], grads: dict[str, list[torch.Tensor]],
                         names: list[str]) -> dict:
    """Set the encoder's gradient from the tasks' own: their sum, or ``mix.surgery`` of them (target first);
    return what the step logs (``cosines`` per layer when both tasks had a batch)."""
    logged: dict = {}
    if not grads:
        return logged
    if len(grads) == 2 and mix.cosines is not None:
        by_name = [dict(zip([n for n, _ in shared], grads[task])) for task in names]
        logged["cosines"] = {layer: float(c) for layer, c in mix.cosines(*by_name).items()}
    if len(grads) == 2 and mix.surgery is not None:
        flat = [torch.cat([g.flatten() for g in grads[task]]) for task in names]
        update = mix.surgery(flat)
        if not (torch.is_tensor(update) and update.shape == flat[0].shape):
            raise ValueError(f"surgery returned {type(update).__name__} {getattr(update, 'shape', '')}; "
                             f"expected one flat gradient of shape {tuple(flat[0].shape)}")
        pieces = torch.split(update.detach(), [p.numel() for _, p in shared])
        for (_, p), piece in zip(shared, pieces):
            p.grad = piece.view_as(p).to(p.dtype)
    else:
        for i, (_, p) in enumerate(shared):
            p.grad = torch.stack([task_grads[i] for task_grads in grads.values()]).sum(0)
    return logged


def _check_inputs(tasks: Sequence[Task], train_examples: Mapping, eval_examples: Mapping, mix: MTLConfig, config: TrainConfig) -> None:
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    if mix.target not in names:
        raise ValueError(f"target {mix.target!r} is not among the tasks {names}")
    missing = [n for n in names if not train_examples.get(n)]
    if missing:
        raise ValueError(f"no training examples for tasks {missing}; train_examples has {sorted(train_examples)}")
    unknown = sorted(set(eval_examples) - set(names))
    if unknown:
        raise ValueError(f"eval_examples names tasks {unknown} that are not among the tasks {names}")
    if config.grad_accum_steps != 1:
        raise ValueError("the multi-task trainer does not accumulate gradients (grad_accum_steps must be 1); "
                         "every weighting step already holds one batch of each task")


def fine_tune_multitask(
    model: str | MultiTaskModel,
    tasks: Sequence[Task],
    train_examples: Mapping[str, list[dict]],
    eval_examples: Mapping[str, list[dict] | EvalSet] | None = None,
    mix: MTLConfig | None = None,
    config: TrainConfig | None = None,
    tokenizer=None,
    settings: QASettings | None = None,
) -> MTLResult:
    """Fine-tune one shared encoder on several tasks at once; evaluate after every epoch.

    ``model`` is a preset, hub name or encoder folder (heads are built fresh, the target's first),
    or a :class:`MultiTaskModel` with its ``tokenizer``. ``train_examples`` / ``eval_examples`` map
    task names to examples; only the tasks in ``eval_examples`` are evaluated. ``mix`` defaults to
    ``MTLConfig(target=tasks[0].name)`` (λ = 0.5 weighting).

    A task whose weight is 0 in a step gets no batch in that step: it would add no gradient. So with
    a constant λ = 1 the run *is* single-task training on the target, batch for batch.
    """
    config = config or TrainConfig()
    mix = mix or MTLConfig(target=tasks[0].name)
    eval_examples = {k: v for k, v in (eval_examples or {}).items() if v}
    _check_inputs(tasks, train_examples, eval_examples, mix, config)
    by_name = {t.name: t for t in tasks}
    names = [mix.target] + [t.name for t in tasks if t.name != mix.target]  # target first: its head is built first
    if isinstance(model, str):
        set_seed(config.seed)  # the heads' initial weights are part of the run
        tokenizer = tokenizer or load_tokenizer(model)
        model = MultiTaskModel.build(model, [by_name[n] for n in names])
    elif tokenizer is None:
        raise ValueError("pass the tokenizer along with a model object")
    elif sorted(model.task_names) != sorted(names):
        raise ValueError(f"the model has heads for {model.task_names}, the tasks are {names}")
    features = {n: encode(by_name[n].task_type, train_examples[n], tokenizer, settings) for n in names}
    # An EvalSet passed in is used as it is (a sweep scores one dev set in many runs).
    eval_sets = {n: v if isinstance(v, EvalSet) else EvalSet.build(by_name[n], v, tokenizer, settings)
                 for n, v in eval_examples.items()}

    def evaluate_epoch(m: MultiTaskModel) -> dict[str, float]:
        row = {}
        for n, eval_set in eval_sets.items():
            row.update({f"{n}/{k}": v for k, v in eval_set.score(m.heads[n], device=config.device).items()})
        return row

    history = _train_multitask(model, features, mix, config, tokenizer.pad_token_id, evaluate_epoch if eval_examples else None)
    final = history.evals[-1] if history.evals else {}
    metrics: dict[str, dict[str, float]] = {}
    for key, value in final.items():
        if "/" in key:
            task, metric = key.split("/", 1)
            metrics.setdefault(task, {})[metric] = value
    return MTLResult(model, tokenizer, history, metrics)


def _train_multitask(
    model: MultiTaskModel,
    features: dict[str, dict[str, list]],
    mix: MTLConfig,
    config: TrainConfig,
    pad_token_id: int,
    evaluate: Callable[[MultiTaskModel], dict] | None,
) -> MTLHistory:
    """The loop. ``features`` is ordered target first; the target's batches follow ``config.seed``."""
    set_seed(config.seed)  # dropout draws from the global generator, as in training.train
    device = get_device(config.device)
    model.to(device)
    names = list(features)
    k = len(names)
    precision = Precision(config.mixed_precision, device)
    target_batches = math.ceil(num_features(features[mix.target]) / config.batch_size)
    sampling = mix.mode == "sampling"
    steps_per_epoch = mix.steps_per_epoch or (k * target_batches if sampling else target_batches) * mix.steps_factor
    total = steps_per_epoch * config.epochs if config.max_steps is None else min(config.max_steps, steps_per_epoch * config.epochs)

    learned = mix.weighting == "uncertainty" and not sampling
    log_vars = nn.Parameter(torch.zeros(k, device=device)) if learned else None  # s_k = log σ_k², weight e^{-s_k}
    optimizer = make_optimizer(model, config.learning_rate, config.weight_decay)
    if log_vars is not None:
        optimizer.add_param_group({"params": [log_vars], "lr": mix.weight_learning_rate, "weight_decay": 0.0})
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(int(config.warmup_ratio * total), total))
    streams = {n: _BatchStream(features[n], config if n == mix.target else replace(config, seed=config.seed + 7919 * i))
               for i, n in enumerate(names)}
    sizes = {n: num_features(features[n]) for n in names}
    show = (not is_grading()) if config.progress is None else config.progress
    history = MTLHistory(config=asdict(config), tasks=names, target=mix.target, mix=mix.describe())
    step = 0
    bar = tqdm(total=total, desc=f"multi-task ({mix.mode})", disable=not show, unit="step")
    per_task_grads = mix.cosines is not None or mix.surgery is not None
    shared = [(n, p) for n, p in model.encoder.named_parameters() if p.requires_grad]
    if per_task_grads and k != 2:
        raise ValueError(f"cosines and surgery compare two tasks' gradients; this run has {k} tasks {names}")
    for epoch in range(config.epochs):
        model.train()
        started = time.perf_counter()
        if sampling and mix.resample == "epoch":
            probs = _epoch_probs(mix, sizes, epoch, config.epochs)
            history.task_probs.append({"epoch": epoch, **dict(zip(names, probs))})
            draws = _epoch_draws(mix, names, probs, steps_per_epoch, config.seed * 1000 + epoch)
        for b in range(steps_per_epoch):
            if sampling and mix.resample == "step":  # probabilities of this update, from (step, total steps)
                probs = _epoch_probs(mix, sizes, step, total)
                history.task_probs.append({"epoch": epoch + b / steps_per_epoch, **dict(zip(names, probs))})
                draws = _epoch_draws(mix, names, probs, 1, config.seed * 1_000_003 + step)
            if sampling:
                drawn = next(draws)
                if drawn not in names:
                    raise ValueError(f"the sampler drew {drawn!r}, which is not one of the tasks {names}")
                weights = {n: float(n == drawn) for n in names}
            elif log_vars is not None:
                weights = dict(zip(names, torch.exp(-log_vars.detach()).tolist()))
            else:
                weights = _task_weights(cast(Callable[[int, int], float], mix.weighting), step, total, mix.target, names)
            terms: list[torch.Tensor] = []
            losses: dict[str, float] = {}
            encoder_grads: dict[str, list[torch.Tensor]] = {}
            for i, n in enumerate(names):
                if weights[n] == 0.0:
                    continue  # no gradient to add: skip the forward (and λ = 1 stays exactly single-task)
                indices = streams[n].next()
                batch = {key: v.to(device) for key, v in collate(features[n], indices, pad_token_id, config.pad_to).items()}
                with precision.autocast():
                    loss = model(n, **batch).loss
                losses[n] = loss.item()
                history.train_features += len(indices)
                if mix.combine is not None and log_vars is None:
                    terms.append(loss.float())  # combined below, by the caller's function
                    continue
                # Backpropagate task by task: the gradients add up to those of the combined loss,
                # and only one task's activations are held in memory at a time.
                if log_vars is not None and mix.uncertainty is not None:
                    term = mix.uncertainty([loss.float()], log_vars[i:i + 1])
                else:
                    term = weights[n] * loss
                precision.backward(term)
                terms.append(term.detach())
                if per_task_grads:  # keep this task's encoder gradient apart; the heads' are their own anyway
                    encoder_grads[n] = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for _, p in shared]
                    for _, p in shared:
                        p.grad = None
            if mix.combine is not None and log_vars is None:
                combined = mix.combine(terms, [weights[n] for n in losses])
                precision.backward(combined)
                step_loss = combined.item()
            else:
                step_loss = float(sum(t.item() for t in terms))
            extra = _apply_encoder_grads(mix, shared, encoder_grads, names) if per_task_grads else {}
            optimizer_step(model, optimizer, scheduler, precision.scaler, config.max_grad_norm)
            step += 1
            log_step(history, bar, {"step": step, "epoch": epoch + b / steps_per_epoch, "loss": step_loss,
                                    "lr": scheduler.get_last_lr()[0], "weights": weights, "losses": losses, **extra})
            if step >= total:
                break
        finish_epoch(history, model, device, started, step, epoch, evaluate)
        if step >= total:
            break
    bar.close()
    return history
