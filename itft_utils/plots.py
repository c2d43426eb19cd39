"""Figures that are easier to look at than to read: learning curves (more plots join per homework).

Every figure has a title, labelled axes, and is returned so notebooks can add to it; nothing here
calls ``plt.show()`` so figures also work headless (CI, grading).
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

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


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
