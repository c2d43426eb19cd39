"""Homework 1's comparison in one call: train a set of multi-task runs (the student's functions in
their :class:`~itft_utils.mtl_training.MTLConfig`) under several seeds, score the target on dev and
test, and keep every finished run on disk so that an interrupted sweep resumes.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from tqdm.auto import tqdm

from .data.task import Task
from .files import code_digest, digest, slug, write_atomic
from .finetune import EvalSet
from .models import load_tokenizer
from .mtl import ConstantSchedule, LambdaSchedule
from .mtl_history import MTLHistory, target_share
from .mtl_training import MTLConfig, fine_tune_multitask
from .qa import QASettings, with_legacy_windows
from .runtime import is_grading
from .training import TrainConfig

__all__ = ["lambda_sweep", "best_on_dev"]


def lambda_sweep(
    model: str,
    target: Task,
    auxiliary: Task | Sequence[Task],
    train_examples: Mapping[str, list[dict]],
    eval_examples: list[dict],
    runs: Mapping[str, MTLConfig],
    config: TrainConfig | None = None,
    settings: QASettings | None = None,
    keep_histories: bool = False,
    dev_examples: list[dict] | None = None,
    seeds: Mapping[str, Sequence[int]] | None = None,
    out_dir: str | Path | None = None,
    **legacy_windows: int,
) -> list[dict]:
    """Train once per run (a label and its :class:`MTLConfig`) and seed, score the target; return a table.

    The runs carry the functions that mix the tasks, so in Homework 1 they are the student's:
    ``{"λ = 0.5": MTLConfig(target, weighting=0.5, combine=combine_losses), "sampling: T=3":
    MTLConfig(target, "sampling", sampling=lambda sizes, e, E: temperature_distribution(sizes, 3.0),
    sampler=SeededTaskSampler)}``. Only the target is scored: on ``dev_examples`` after every epoch
    (``dev_<metric>`` columns: choose λ there) and on ``eval_examples`` (the test set) once at the end
    (plain metric columns: report those). ``seeds[label]`` runs a label under several seeds (default:
    ``config.seed``), e.g. ``{"λ = 1": [0, 1, 2]}`` for a baseline band.

    One row (a dict) per run and seed: ``run``, ``seed``, ``mode``, ``lambda`` (constant weighting
    only), ``target_share`` (the target's realised share of weight or batches: where the run sits on
    the λ axis), ``target_batches`` (the target batches it trained on: its compute on the target),
    the metrics, ``seconds``, and with ``keep_histories`` the run's ``history`` (for
    :func:`~itft_utils.plots.plot_task_shares`). λ = 1 is the baseline: the target alone.

    With ``out_dir`` each finished run is saved there (one JSON per run and seed) and a rerun skips
    it, so an interrupted sweep resumes; a stored run counts only when its data, settings, seed and
    the code of every function in its :class:`MTLConfig` are unchanged.
    """
    settings = with_legacy_windows(settings, legacy_windows)
    wrong = [label for label, mix in runs.items() if mix.target != target.name]
    if wrong:
        raise ValueError(f"runs {wrong} name another target than {target.name!r}")
    unknown = sorted(set(seeds or {}) - set(runs))
    if unknown:
        raise ValueError(f"seeds for runs {unknown} that are not among the runs {list(runs)}")
    aux = [auxiliary] if isinstance(auxiliary, Task) else list(auxiliary)
    config = config or TrainConfig()
    plan = [(label, mix, seed) for label, mix in runs.items() for seed in (seeds or {}).get(label, [config.seed])]
    data_key = digest([model, [(t.name, t.task_type) for t in [target, *aux]], train_examples, eval_examples,
                       dev_examples or [], settings.max_length, settings.doc_stride])
    show = (not is_grading()) if config.progress is None else config.progress
    bar = tqdm(total=len(plan), desc="λ sweep", unit="run", disable=not show)
    sets: dict[str, object] = {}
    rows = []
    for label, mix, seed in plan:
        key = digest([data_key, replace(config, seed=seed).key(), _mix_key(mix)])
        path = Path(out_dir) / f"{slug(label)}-{digest(label, 6)}-seed{seed}.json" if out_dir is not None else None
        row = _stored_run(path, key)
        if row is None:
            bar.set_postfix_str(f"{label}, seed {seed}")
            if not sets:  # tokenised once for every run, and only when something is left to run
                tokenizer = load_tokenizer(model)
                sets = {"tokenizer": tokenizer, "test": EvalSet.build(target, eval_examples, tokenizer, settings),
                        "dev": {target.name: EvalSet.build(target, dev_examples, tokenizer, settings)} if dev_examples else {}}
            row = _one_run(model, target, aux, train_examples, sets, label, mix, replace(config, seed=seed), settings)
            if path is not None:
                write_atomic(path, json.dumps({"key": key, "row": _plain_row(row)}, default=str))
        if not keep_histories:
            row.pop("history", None)
        rows.append(row)
        bar.update(1)
    bar.close()
    return rows


def _one_run(model: str, target: Task, aux: list[Task], train_examples: Mapping[str, list[dict]], sets: dict,
             label: str, mix: MTLConfig, config: TrainConfig, settings: QASettings) -> dict:
    """Train one run of a sweep and score its target head on the test set: one table row."""
    started = time.perf_counter()
    result = fine_tune_multitask(model, [target, *aux], train_examples, sets["dev"], mix, config, sets["tokenizer"], settings)
    lam = mix.weighting.lam if mix.mode == "weighting" and isinstance(mix.weighting, ConstantSchedule) else None
    return {"run": label, "seed": config.seed, "mode": mix.mode, "lambda": lam, "target_share": target_share(result.history),
            "target_batches": sum(target.name in r["losses"] for r in result.history.steps),
            **{f"dev_{k}": v for k, v in result.metrics.get(target.name, {}).items()},
            **sets["test"].score(result.model.heads[target.name], device=config.device),
            "seconds": time.perf_counter() - started, "history": result.history}


def _mix_key(mix: MTLConfig) -> dict:
    """What decides a run's mix: plain settings as they are, the functions by their code (a fixed bug
    must not reuse the buggy run's numbers)."""
    return {k: code_digest(v) if callable(v) and not isinstance(v, LambdaSchedule) else repr(v) for k, v in vars(mix).items()}


def _plain_row(row: dict) -> dict:
    return {**row, "history": asdict(row["history"])}


def _stored_run(path: Path | None, key: str) -> dict | None:
    """A finished run's row from ``path`` when it was made under ``key``, else None (run it again)."""
    if path is None or not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged file is rerun, not trusted
    if stored.get("key") != key:
        return None
    row = stored["row"]
    if "history" in row:
        row["history"] = MTLHistory(**row["history"])
    return row


def best_on_dev(rows: Sequence[Mapping], metric: str = "f1") -> Mapping:
    """The run to report: the highest ``dev_<metric>`` (the test score is read off it, never chosen on)."""
    scored = [r for r in rows if f"dev_{metric}" in r]
    if not scored:
        raise ValueError(f"no row has dev_{metric}: run lambda_sweep with dev_examples")
    return max(scored, key=lambda r: r[f"dev_{metric}"])
