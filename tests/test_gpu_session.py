"""The prepared GPU session (``bench/gpu_session.py``) and its notebook runner (``bench/colab_dry_run.py``),
without a GPU: what travels is checked before the trip, a runner killed mid-notebook has already written
each run it finished, and the report prices the runs a cap cut off from those measured. The whole session
runs in an environment like the GPU machine's in ``scripts/check_gpu_like.sh`` (CI)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gpu_session  # noqa: E402


def test_a_carry_over_the_limit_fails_the_preparation_and_names_the_sizes(tmp_path, capsys):
    (tmp_path / "minilm").mkdir()
    (tmp_path / "minilm" / "model.safetensors").write_bytes(b"\0" * (3 * 2**20))
    (tmp_path / "data.txz").write_bytes(b"\0" * 2**20)
    tree = gpu_session.carried_size(tmp_path)["working tree"] / 2**20
    assert gpu_session.check_carry(tmp_path, limit_mib=tree + 5) == 0
    assert gpu_session.check_carry(tmp_path, limit_mib=tree + 3.5) == 1
    out = capsys.readouterr()
    assert ".carry/minilm 3.0 MiB" in out.out and ".carry/data.txz 1.0 MiB" in out.out and "too big to carry" in out.err


def _run(kind: str, seconds: float, function: str = "fine_tune", cell: int = 3) -> dict:
    return {"cell": cell, "function": function, "tasks": kind, "examples": 32, "epochs": 1, "seconds": seconds}


def test_a_notebook_cut_by_its_cap_is_extrapolated_from_its_measured_runs_and_labelled():
    cells = [{"cell": 0, "seconds": 5.0, "error": None}, {"cell": 1, "seconds": 30.0, "error": None}]
    runs = [_run("squad", 10.0), _run("squad", 14.0), _run("hotpotqa", 6.0)]
    plan = {"fine_tune squad": 5, "fine_tune hotpotqa": 1, "fine_tune sst2": 2, "compute_task_embedding squad": 3}
    result = gpu_session.extrapolate(cells, runs, plan, total_cells=6)
    # the finished cells (35 s) and the runs that ended in cell 3, which the cap cut (30 s); then 3 squad runs
    # at their mean (12 s) and 2 sst2 runs at the mean of every fine_tune run (10 s); the embeddings unpriced
    assert result["measured_seconds"] == pytest.approx(65.0)
    assert result["whole_notebook_seconds"] == pytest.approx(65.0 + 3 * 12.0 + 2 * 10.0)
    assert result["runs_measured"] == 3 and result["runs_planned"] == 11
    assert result["label"].startswith("extrapolated, a lower bound (2 of 6 cells finished")
    assert "compute_task_embedding squad" in result["label"]  # said to be left out, not silently priced at zero


def test_a_notebook_that_ran_to_its_end_is_measured_not_extrapolated():
    cells = [{"cell": 0, "seconds": 40.0, "error": None}]
    runs = [_run("squad", 10.0, cell=0), _run("squad", 12.0, cell=0)]
    result = gpu_session.extrapolate(cells, runs, {"fine_tune squad": 2}, total_cells=1)
    assert result["whole_notebook_seconds"] == 40.0 and result["label"] == "measured: every cell ran"
    # every planned run done but a later cell cut: still a lower bound, not "measured"
    assert "lower bound" in gpu_session.extrapolate(cells, runs, {"fine_tune squad": 2}, total_cells=3)["label"]


def test_the_runner_writes_each_run_the_moment_it_ends_so_a_killed_notebook_keeps_them(tmp_path):
    """Homework 2's notebook (smoke sizes, tiny model) is killed the moment its first training run is written."""
    from itft_utils.data import default_data_dir

    data_dir = default_data_dir()
    if data_dir is None:
        pytest.skip("the Colab path reads the real data folder (ITFT_DATA_DIR or ../shared/data)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "ITFT_RUNS_DIR": str(tmp_path / "runs")}
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "colab_dry_run.py"), "hw2_intermediate", "--model",
                                "tiny", "--smoke", "--data-dir", str(data_dir), "--out", str(tmp_path)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs, deadline = tmp_path / "runs.jsonl", time.monotonic() + 900  # generous: a busy machine is slow, not wrong
    try:
        while process.poll() is None and time.monotonic() < deadline and not (runs.exists() and runs.read_text().strip()):
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert runs.exists() and runs.read_text().strip(), "the runner wrote no run (it ended or hung before its first)"
    first = json.loads(runs.read_text().splitlines()[0])
    assert first["function"] == "fine_tune" and first["examples"] == 32 and first["epochs"] == 1 and first["seconds"] > 0
    cells = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert [c["cell"] for c in cells] == list(range(-1, first["cell"]))  # every cell before the running one
    assert all(c["error"] is None for c in cells)
