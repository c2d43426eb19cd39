"""Figures that are easier to look at than to read: learning curves, the λ sweep, task mixes.

Every figure has a title, labelled axes, and is returned so notebooks can add to it; nothing here
calls ``plt.show()`` so figures also work headless (CI, grading).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .training import History


def plot_training_curve(history: History, metric: str | None = None, title: str = "Training curve", ax=None):
    """Training loss per step and, on a second axis, the evaluation metric after each epoch."""
    if not history.steps:
        raise ValueError("the history has no training steps to plot")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    epochs = [row["epoch"] for row in history.steps]
    ax.plot(epochs, [row["loss"] for row in history.steps], color="tab:blue", alpha=0.8, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    ax.set_title(title)
    if history.evals:
        metric = metric or next(k for k in history.evals[-1] if k not in ("step", "epoch"))
        twin = ax.twinx()
        twin.plot([e["epoch"] for e in history.evals], [e[metric] for e in history.evals], "o-", color="tab:red", label=f"eval {metric}")
        twin.set_ylabel(f"evaluation {metric}", color="tab:red")
    ax.grid(alpha=0.3)
    return ax.figure


def plot_lambda_sweep(table: list[dict], metric: str = "f1", title: str = "Target score against λ", ax=None):
    """The target's ``metric`` against λ for the constant-weighting runs of :func:`~itft_utils.mtl_training.lambda_sweep`.

    The λ = 1 run (the target alone, no auxiliary loss) is drawn as a horizontal baseline; the
    other runs (sampling, schedules) as labelled markers at their realised target share, so that
    a sampler that gave the target 30 % of the batches sits near λ = 0.3.
    """
    weighted = sorted((r for r in table if r.get("lambda") is not None), key=lambda r: r["lambda"])
    others = [r for r in table if r.get("lambda") is None]
    if not weighted and not others:
        raise ValueError("the table has no runs to plot")
    if any(metric not in r for r in table):
        raise ValueError(f"metric {metric!r} is missing from some rows; rows have {sorted(table[0])}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    if weighted:
        ax.plot([r["lambda"] for r in weighted], [r[metric] for r in weighted], "o-", color="tab:blue", label="constant λ (weighting)")
    baseline = next((r for r in weighted if r["lambda"] == 1.0), None)
    if baseline is not None:
        ax.axhline(baseline[metric], color="gray", ls="--", label="target only (λ = 1)")
    markers = iter("s^DvP*X")
    for r in others:
        ax.plot(r["target_share"], r[metric], next(markers, "o"), ms=8, ls="none", label=r["run"])
    ax.set_xlabel("λ = weight on the target (other runs: the target's realised share)")
    ax.set_ylabel(f"target {metric}")
    ax.set_xlim(-0.05, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return ax.figure


def plot_task_shares(history, quantity: str = "batches", cumulative: bool = True, title: str | None = None, ax=None):
    """Stacked areas of each task's share over training (from an :class:`~itft_utils.mtl_training.MTLHistory`).

    ``quantity="batches"`` shows what a sampler realised (dashed lines: the probabilities it was
    given, per epoch); ``"weights"`` shows the loss weights (λ over training for a schedule).
    """
    from .mtl_training import task_shares

    shares = task_shares(history, quantity, cumulative)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4))
    epochs = np.array([row["epoch"] for row in history.steps])
    ax.stackplot(epochs, *shares.values(), labels=list(shares), alpha=0.7, step="post" if not cumulative else None)
    if quantity == "batches" and history.task_probs:
        # The expected cumulative boundary between the first task and the rest, epoch by epoch.
        first = history.tasks[0]
        for row in history.task_probs:
            ax.hlines(row[first], row["epoch"], row["epoch"] + 1, colors="black", linestyles="--", lw=1)
        ax.plot([], [], "k--", lw=1, label=f"sampling probability of {first}")
    what = "batches" if quantity == "batches" else "loss weight"
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"share of {what}" + (" so far" if cumulative else " in the step"))
    ax.set_ylim(0, 1)
    ax.set_title(title or f"Task mix over training ({history.mix.get('mode', '')})")
    ax.legend(loc="upper right", fontsize="small")
    return ax.figure


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
