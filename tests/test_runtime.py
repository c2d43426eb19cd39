"""Mode detection, presets, seeding and device choice."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from itft_utils import runtime


def test_grading_wins_and_itft_mode_overrides(monkeypatch):
    monkeypatch.delenv("ITFT_MODE", raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "x")
    assert runtime.detect_mode() == "grading"
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setattr(runtime, "get_device", lambda prefer=None: torch.device("cuda"))
    assert runtime.detect_mode() == "colab"
    monkeypatch.setattr(runtime, "get_device", lambda prefer=None: torch.device("cpu"))
    assert runtime.detect_mode() == "offline", "a CPU-only Colab session runs the small CPU version"
    monkeypatch.setattr(runtime, "get_device", lambda prefer=None: torch.device("cuda"))
    monkeypatch.setenv("ITFT_MODE", "offline")
    assert runtime.detect_mode() == "offline"
    monkeypatch.setenv("ITFT_MODE", "cloud")
    with pytest.raises(ValueError, match="not a mode"):
        runtime.detect_mode()


def test_offline_when_hub_is_disabled(monkeypatch):
    for var in ("ITFT_MODE", "NBGRADER_EXECUTION", "COLAB_RELEASE_TAG", "COLAB_GPU"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert runtime.hub_reachable() is False
    assert runtime.detect_mode() == "offline"


def test_presets_are_sized_for_their_mode():
    grading = runtime.get_preset("grading")
    assert grading.model == "tiny" and grading.settings.max_length == grading.max_length
    assert grading.n_train * grading.epochs < runtime.get_preset("colab").n_train
    assert runtime.get_preset("grading", epochs=1).epochs == 1
    with pytest.raises(ValueError, match="known modes"):
        runtime.get_preset("mainframe")


def test_set_seed_reproduces_all_generators():
    runtime.set_seed(7)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.set_seed(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_device_choice():
    assert runtime.get_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert runtime.get_device().type == expected
    else:
        assert runtime.get_device().type in ("mps", "cpu")


def test_the_runs_notice_warns_in_colab_unless_the_runs_are_on_drive(monkeypatch, tmp_path):
    """Homework 2's last cell and Homework 3's first say what becomes of Homework 2's runs (issue 30)."""
    for var in ("COLAB_RELEASE_TAG", "COLAB_GPU"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ITFT_RUNS_DIR", str(tmp_path))
    assert "forgets" not in runtime.runs_notice() and str(tmp_path / "hw2_intermediate") in runtime.runs_notice()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-20261201")
    warned = runtime.runs_notice()
    assert "forgets them" in warned and "RUNS_ON_DRIVE = True" in warned and "recorded run" in warned
    monkeypatch.setenv("ITFT_RUNS_DIR", "/content/drive/MyDrive/itft-runs")
    assert "forgets" not in runtime.runs_notice()
