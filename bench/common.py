"""Shared set-up of the benchmarks: the real-data folder and the SQuAD-1k split of the issues."""
from __future__ import annotations

import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itft_utils.data import SQUAD_TRAIN_ARTICLES, default_data_dir, load_task, split_by_article, subsample  # noqa: E402


def data_dir_or_exit() -> Path:
    """The real-data folder, or a clear exit: benchmarks need ../shared/data or ITFT_DATA_DIR."""
    data_dir = default_data_dir()
    if data_dir is None or not (data_dir / "squad_v1.1" / "dev-v1.1.json").exists():
        sys.exit("benchmark skipped: no real data folder (set ITFT_DATA_DIR or place ../shared/data)")
    return data_dir


def squad_1k(data_dir: Path, n_train: int = 1000, seed: int = 0, n_eval: int | None = None):
    """The course's target: n_train questions of the first 38 articles, evaluation on the last 10."""
    task = load_task("squad", source="local", data_dir=data_dir)
    pool, held_out = split_by_article(task.split("all"), SQUAD_TRAIN_ARTICLES)
    return task, subsample(pool, n_train, seed), subsample(held_out, n_eval, seed)


def machine() -> str:
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {gpu}, torch {torch.__version__}"
