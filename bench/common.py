"""Shared set-up of the benchmarks: the real-data folder and the SQuAD-1k split of the issues."""
from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
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



def results_file(cells: list[dict], target: str, sources: Sequence[str], seeds: Sequence[int], *, note: str, model: str,
                 source_sizes: dict[str, int], command: str, flags: dict | None = None) -> dict:
    """A packaged transfer-results file (``itft_utils/resources/transfer_results_*.json``, read by
    :func:`itft_utils.selection.load_transfer_results`) from one target's cells: the mean and the per-seed
    scores of the baseline and of each source, with what they are (``note``) and how they were made."""
    from itft_utils.transfer import library_versions, transfer_table

    rows = {row["source"]: row for row in transfer_table(cells)}
    per_seed = {name or "baseline": [round(c["score"], 2) for s in seeds for c in cells if c["source"] == name and c["seed"] == s]
                for name in (None, *sources)}
    return {"note": note, **(flags or {}), "target": target, "metric": "f1", "model": model,
            "baseline": round(rows[None]["mean"], 2), "scores": {name: round(rows[name]["mean"], 2) for name in sources},
            "source_sizes": source_sizes, "per_seed": per_seed, "seeds": list(seeds), "command": command,
            "versions": library_versions()}
