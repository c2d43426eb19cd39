"""Where and how big to run: device choice, seeding, mode detection and per-mode presets.

The same notebook runs in three places: a student's Colab GPU (full size), an instructor's or a
grader's CPU machine under nbgrader (tiny, seconds), and an offline machine (no hub, or no GPU). Everything
that depends on where we are is decided here, once, so the rest of the package stays mode-free.
"""
from __future__ import annotations

import contextlib
import os
import random
import socket
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .hub_access import hub_endpoint, hub_offline
from .qa import QASettings

MODES = ("grading", "colab", "offline", "online")


def runs_dir(homework: str) -> Path:
    """Where ``homework``'s resumable runs live: ``$ITFT_RUNS_DIR/<homework>`` (default ``runs/``).

    In Colab a disconnect usually recycles the machine and its disk; the setup cell's Drive option
    points ``ITFT_RUNS_DIR`` at Google Drive, so a rerun of a long cell resumes instead of starting over."""
    return Path(os.environ.get("ITFT_RUNS_DIR") or "runs") / homework


def runs_notice(homework: str = "hw2_intermediate") -> str:
    """Where ``homework``'s runs are and whether they outlive this session: a Colab runtime forgets its
    disk when it is recycled, so runs not on Google Drive are gone a week later, when the next homework
    wants them (Homework 3 then uses the course's recorded run, and says so)."""
    folder = runs_dir(homework).resolve()
    if in_colab() and not str(folder).startswith("/content/drive"):
        return (f"{homework}'s runs are in {folder}, on this Colab runtime, which forgets them when it is recycled "
                "(after a disconnect, or within a day): to keep them for Homework 3, download that folder, or set "
                "RUNS_ON_DRIVE = True in the setup cell (Google Drive) before the long cells. Without them Homework 3 "
                "uses the course's recorded run, and says so.")
    return f"{homework}'s runs are in {folder}; Homework 3 reads them from there (or from ITFT_RUNS_DIR)."


def get_device(prefer: str | None = None) -> torch.device:
    """cuda, then mps, then cpu; ``prefer`` (e.g. "cpu") overrides the choice."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (all devices) for a reproducible run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch CPU threads (None: leave as it is), then restore the count.

    A tiny model gains nothing from several threads, and on a busy grader (parallel kernels on two
    cores) their synchronisation makes each small operation wait for the others: one thread is faster.
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def is_grading() -> bool:
    """nbgrader sets NBGRADER_EXECUTION during autograde/validate."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def in_colab() -> bool:
    return "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ


def hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the hub's address (``HF_ENDPOINT``, else huggingface.co) accepts a connection; False when
    the hub is switched off (HF_HUB_OFFLINE, ITFT_OFFLINE) or the network is closed."""
    if hub_offline():
        return False
    address = urllib.parse.urlsplit(hub_endpoint())
    try:
        socket.create_connection((address.hostname, address.port or (443 if address.scheme == "https" else 80)),
                                 timeout=timeout).close()
        return True
    except (OSError, ValueError):
        return False


def detect_mode() -> str:
    """One of MODES. ``ITFT_MODE`` overrides; grading wins over everything else.

    ``colab`` and ``online`` are sized for a GPU (BERT-Small, thousands of examples): without an
    accelerator they would run for hours, so a CPU-only Colab session or machine gets ``offline``,
    the small CPU version (MiniLM; local data if a folder is set, else generated tasks)."""
    forced = os.environ.get("ITFT_MODE")
    if forced:
        if forced not in MODES:
            raise ValueError(f"ITFT_MODE={forced!r} is not a mode; choose one of {MODES}")
        return forced
    if is_grading():
        return "grading"
    if get_device().type == "cpu":
        return "offline"
    if in_colab():
        return "colab"
    return "online" if hub_reachable() else "offline"


@dataclass(frozen=True)
class Preset:
    """How big an experiment is in a given mode."""

    model: str  # model preset or hub name (see itft_utils.models)
    n_train: int  # target-task training examples
    n_eval: int  # evaluation examples
    epochs: int
    batch_size: int
    max_length: int
    doc_stride: int
    learning_rate: float

    @property
    def settings(self) -> QASettings:
        """The preset's windows as the engines take them."""
        return QASettings(self.max_length, self.doc_stride)


PRESETS: dict[str, Preset] = {
    # Tiny random BERT on generated data, one epoch: grading checks that the student's code runs in the
    # experiments (its numbers mean nothing), and a class of 300 must grade in minutes on 2 CPU cores.
    "grading": Preset("tiny", 32, 16, 1, 16, 96, 32, 3e-3),
    # One MLM-pretrained encoder for all three homeworks on a T4 (itft_utils.models.COLAB_ENCODER, 4
    # layers): 1e-4 suits BERT's small variants (Turc et al. 2019 sweep 1e-4 to 3e-4 for them).
    "colab": Preset("google/bert_uncased_L-4_H-512_A-8", 1000, 1000, 2, 16, 384, 128, 1e-4),
    "online": Preset("google/bert_uncased_L-4_H-512_A-8", 1000, 1000, 2, 16, 384, 128, 1e-4),
    # No hub: the MiniLM shipped in a wheel; local data when a folder is given, else generated.
    "offline": Preset("minilm", 1000, 300, 2, 16, 256, 64, 1e-4),
}


def get_preset(mode: str | None = None, **overrides) -> Preset:
    """The preset for ``mode`` (detected when None), with fields overridden by keyword."""
    mode = mode or detect_mode()
    if mode not in PRESETS:
        raise ValueError(f"no preset for mode {mode!r}; known modes: {sorted(PRESETS)}")
    return replace(PRESETS[mode], **overrides)
