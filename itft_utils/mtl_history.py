"""What a multi-task run did, step by step, and how to read it: the task mix it realised.

:class:`MTLHistory` is written by :func:`itft_utils.mtl_training.fine_tune_multitask`;
:func:`task_shares` and :func:`target_share` read it for tables and plots.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .training import History


@dataclass
class MTLHistory(History):
    """A :class:`~itft_utils.training.History` whose step rows also carry the task mix.

    Each row of ``steps``: ``step``, ``epoch``, ``loss`` (the combined loss), ``lr``, ``weights``
    (``{task: weight}`` used in that step; 1 for the sampled task, 0 for the others) and
    ``losses`` (``{task: loss}`` for the tasks that had a batch). ``evals`` rows have keys
    ``"<task>/<metric>"``. ``task_probs`` holds the sampling probabilities of each epoch.
    """

    tasks: list[str] = field(default_factory=list)
    target: str = ""
    task_probs: list[dict] = field(default_factory=list)
    mix: dict = field(default_factory=dict)


def task_shares(history: MTLHistory, quantity: str = "batches", cumulative: bool = True) -> dict[str, np.ndarray]:
    """Each task's share per step, ``{task: array(steps)}``; the shares of a step sum to 1.

    ``quantity="batches"``: the share of the batches that came from the task (what a sampler
    realises); ``"weights"``: the task's share of the loss weight (λ for the target). With
    ``cumulative`` the share is over all steps so far, else per step.
    """
    if quantity not in ("batches", "weights"):
        raise ValueError(f"quantity must be 'batches' or 'weights', got {quantity!r}")
    if not history.steps:
        raise ValueError("the history has no training steps")
    names = history.tasks
    if quantity == "batches":
        raw = np.array([[float(n in row["losses"]) for n in names] for row in history.steps])
    else:
        raw = np.array([[row["weights"][n] for n in names] for row in history.steps])
    if cumulative:
        raw = np.cumsum(raw, axis=0)
    shares = raw / raw.sum(axis=1, keepdims=True)
    return {n: shares[:, i] for i, n in enumerate(names)}


def target_share(history: MTLHistory) -> float:
    """The target's share of the whole run: of the loss weight when weighting, of the batches when sampling."""
    quantity = "batches" if history.mix.get("mode") == "sampling" else "weights"
    return float(task_shares(history, quantity)[history.target][-1])
