"""Intermediate-task fine-tuning (STILTs): source task -> keep the encoder -> fresh head -> target task.

The pieces, in the order a run uses them:

* :class:`TaskSpec` names a task, where its data comes from, how many examples and how many epochs
  it gets: the *budget*; a :class:`PreparedTask` holds its examples (seeded subsamples, SQuAD split
  by article), made by the caller's ``prepare`` function.
* :func:`intermediate_checkpoint` fine-tunes a pretrained model on a source task and keeps only its
  encoder (:func:`~itft_utils.models.save_encoder`), cached on disk under a key of (source, model,
  seed, budget): each source is trained once per seed and reused for every target.
* :func:`run_transfer_matrix` runs sources x targets x seeds, plus the no-intermediate baseline of
  each target with the identical target budget: the same examples, the same batch order (the loop's
  order depends only on ``TrainConfig.seed`` and the epoch) and the same number of steps. Each cell
  is one JSON file written atomically; a rerun skips finished cells, so an interrupted experiment
  resumes where it stopped.
* :func:`transfer_table` and :func:`format_table` summarise the cells (mean, std over seeds, and
  the relative gain ``(p_s→t − p_t) / p_t`` over the baseline, as in Vu et al. 2020);
  :func:`~itft_utils.plots.plot_transfer` draws them.

The engine knows no modes and loads no data itself: :mod:`itft_utils.homework` sizes Homework 2's
experiment by mode (and the real-data benchmark's) and supplies the function that loads a spec's data.
"""
from __future__ import annotations

import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from .data.task import TASK_FAMILIES, Task
from .encoding import encode
from .files import code_digest, digest, move_into_place, new_folder, slug, write_atomic
from .finetune import PRIMARY_METRIC, EvalSet, fine_tune
from .models import build_model, load_tokenizer, quiet_transformers, save_encoder
from .qa import QASettings
from .replaced import StudentCodeError, call_replaced
from .runtime import is_grading, set_seed
from .training import TrainConfig, epoch_batches, run_device

BASELINE = "no intermediate task"  # how tables and plots name the baseline (its cells have source None)


# ---------------------------------------------------------------------------------------------
# Task specs and their data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One task with its data and training budget. Frozen: it is part of cache keys."""

    name: str  # registry name, as load_task takes it ("squad", "sst2", "gen_qa", ...)
    source: str = "auto"  # "generated", "local", "hub" or "auto" (local files when present, else hub)
    n_train: int | None = None  # training examples, a seeded subsample; None: the whole split
    n_eval: int | None = 0  # held-out examples to score; None: all of them; 0: do not evaluate
    epochs: int = 2
    max_steps: int | None = None  # a hard cap on optimiser steps, to bound a large source's budget
    train_split: str = "train"
    eval_split: str | None = "validation"
    articles: int | None = None  # train on the first `articles` articles of train_split, evaluate on the rest (SQuAD dev)
    data_seed: int = 0  # which examples; fixed across run seeds so that seeds vary only the training
    label: str | None = None  # name in files, tables and plots (default: name); unique within one matrix
    learning_rate: float | None = None  # this task's own peak learning rate; None: the run config's

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"{self.display}: epochs must be positive; got {self.epochs}")
        if self.learning_rate is not None and self.learning_rate <= 0:
            raise ValueError(f"{self.display}: learning_rate must be positive or None (the config's); got {self.learning_rate}")
        if self.n_train is not None and self.n_train <= 0:
            raise ValueError(f"{self.display}: n_train must be positive or None (all); got {self.n_train}")
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", self.display):
            raise ValueError(f"{self.display!r}: a task label must be a plain file name (letters, digits, _ . + -)")

    @property
    def display(self) -> str:
        return self.label or self.name

    def budget(self) -> dict:
        """Everything that decides what a run on this task trains on, for cache keys. A learning rate
        left to the config is not a field of the key, so the keys of specs older than the field hold."""
        return {k: v for k, v in asdict(self).items() if k != "label" and not (k == "learning_rate" and v is None)}


@dataclass
class PreparedTask:
    """A spec's task and examples: what :func:`~itft_utils.finetune.fine_tune` takes."""

    spec: TaskSpec
    task: Task
    train: list[dict]
    eval: list[dict]


# ---------------------------------------------------------------------------------------------
# One run: configs, the cached intermediate checkpoint, the target run
# ---------------------------------------------------------------------------------------------


def run_config(base: TrainConfig, spec: TaskSpec, seed: int) -> TrainConfig:
    """``base`` with the spec's budget (and learning rate, if it has its own) and the run's seed. Inner
    progress bars stay off unless ``base.progress`` is True: the matrix shows one bar of its own."""
    return replace(base, epochs=spec.epochs, max_steps=spec.max_steps, seed=seed, progress=bool(base.progress),
                   learning_rate=base.learning_rate if spec.learning_rate is None else spec.learning_rate)


def intermediate_checkpoint(
    source: PreparedTask,
    model: str,
    seed: int,
    config: TrainConfig,
    cache_dir: str | Path,
    tokenizer=None,
    settings: QASettings | None = None,
    keep_head: bool = False,
) -> tuple[Path, dict]:
    """The encoder of ``model`` fine-tuned on ``source`` under ``seed``: a folder and its record.

    Cached under a key of (source budget, model, seed, training config, lengths, replaced steps): a
    second call with the same key loads nothing and trains nothing. The folder is written under a
    temporary name and renamed, so an interrupted run never leaves a half-written checkpoint behind.
    ``keep_head``: save the whole source model, head included, for a hand-over done by someone
    else's function (Homework 2's ``hand_over``) instead of the library's :func:`save_encoder`.
    """
    run = run_config(config, source.spec, seed)
    settings = settings or QASettings()
    key = digest([source.spec.budget(), model, seed, run.key(), *settings.key(), *(["with head"] if keep_head else [])])
    folder = Path(cache_dir) / f"{source.spec.display}-{slug(model)}-seed{seed}-{key}"
    record_path = folder / "intermediate.json"
    if record_path.exists():
        return folder, json.loads(record_path.read_text())
    tokenizer = tokenizer or load_tokenizer(model)
    started = time.perf_counter()
    result = fine_tune(model, source.task, source.train, source.eval or None, run, tokenizer, settings)
    tmp = new_folder(folder)
    if keep_head:
        with quiet_transformers():
            cast(PreTrainedModel, result.model).save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
    else:
        save_encoder(result.model, tmp, tokenizer)  # only the encoder: the source's head is thrown away
    record = {"source": source.spec.display, "task_type": source.task.task_type, "model": model, "seed": seed,
              "metrics": result.metrics, "steps": len(result.history.steps), "train_examples": len(source.train),
              "seconds": time.perf_counter() - started, "spec": source.spec.budget()}
    (tmp / "intermediate.json").write_text(json.dumps(record, indent=1))
    move_into_place(tmp, folder)  # a parallel run that finished the same checkpoint first: its copy is as good
    return folder, record


def batch_order_digest(features: dict[str, list], config: TrainConfig) -> str:
    """A fingerprint of what a run trains on, in which order: the features' tokens and each epoch's
    batches (the loop's own :func:`~itft_utils.training.epoch_batches`). Equal digests across the
    cells of one target mean the baseline and every transfer run had the identical target budget."""
    batches = [epoch_batches(features, config, epoch) for epoch in range(config.epochs)]
    payload = [features["input_ids"], batches, config.max_steps, config.grad_accum_steps]
    return digest(payload, 16)


# ---------------------------------------------------------------------------------------------
# The transfer matrix
# ---------------------------------------------------------------------------------------------


def cell_key(target: TaskSpec, source: TaskSpec | None, model: str, seed: int, config: TrainConfig,
              settings: QASettings, hand_over: Callable | None = None) -> str:
    """What decides a cell's result, as a short digest: a finished cell is reused only under the same
    key, and a cell handed in by someone else is checked against the key its settings must give.
    Replaced steps (the settings' functions, a hand-over function) enter by their code."""
    handed = [{"hand_over": code_digest(hand_over)}] if hand_over is not None and source is not None else []
    return digest([target.budget(), source.budget() if source else None, model, seed, config.key(), *settings.key(), *handed])


def cell_path(out_dir: str | Path, target: str, source: str | None, seed: int) -> Path:
    """Where the result of one (target, source, seed) cell lives; the baseline's source is None."""
    return Path(out_dir) / "cells" / target / f"{source or 'baseline'}-seed{seed}.json"


def encoder_cache(out_dir: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Where a matrix under ``out_dir`` keeps its source encoders: ``cache_dir``, else ``out_dir/intermediate``."""
    return Path(cache_dir) if cache_dir is not None else Path(out_dir) / "intermediate"


def load_cells(out_dir: str | Path, seeds: Iterable[int] | None = None) -> list[dict]:
    """Every finished cell under ``out_dir`` (only those of ``seeds`` when given: a table over chosen seeds
    stays reproducible while the folder gains more), in a stable order."""
    kept = None if seeds is None else set(seeds)
    cells = [json.loads(p.read_text()) for p in sorted(Path(out_dir).glob("cells/*/*.json"))]
    return [c for c in cells if kept is None or c["seed"] in kept]


def run_transfer_matrix(
    sources: Sequence[TaskSpec],
    targets: Sequence[TaskSpec],
    seeds: Sequence[int],
    out_dir: str | Path,
    model: str = "minilm",
    config: TrainConfig | None = None,
    settings: QASettings | None = None,
    cache_dir: str | Path | None = None,
    baseline: bool = True,
    progress: bool | None = None,
    *,
    prepare: Callable[[TaskSpec], PreparedTask],
    hand_over: Callable | None = None,
) -> list[dict]:
    """Fine-tune every target from every source's encoder (and from ``model`` alone), for every seed.

    Writes ``out_dir/cells/<target>/<source or baseline>-seed<seed>.json`` per cell and returns
    all cells. Finished cells whose settings match are read back, not rerun: call it again after an
    interruption and it resumes. Intermediate encoders are cached in ``cache_dir`` (default
    ``out_dir/intermediate``). Cells run seed by seed, so an interrupted run has whole seeds done.
    ``progress``: one bar over the cells (None: shown unless grading). ``prepare`` turns a spec into
    its task and examples (:func:`itft_utils.homework.prepare_task` loads them from the data registry).
    ``hand_over(source_model, folder, task_type, num_labels)`` makes each target model from its
    source model in place of the library's (Homework 2's exercise); with ``settings``' functions it
    puts someone else's code into every run, and keys the cells by that code.
    """
    config = config or TrainConfig()
    settings = settings or QASettings()
    for kind, specs in (("source", sources), ("target", targets)):
        names = [s.display for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"two {kind} specs share a name in {names}: give them distinct labels")
    if not targets or not seeds:
        raise ValueError(f"nothing to run: {len(targets)} targets and {len(seeds)} seeds")
    out_dir = Path(out_dir)
    cache_dir = encoder_cache(out_dir, cache_dir)
    plan = [(seed, target, source) for seed in seeds for target in targets
            for source in ([None] if baseline else []) + list(sources)]
    show = (not is_grading()) if progress is None else progress
    prepared: dict[str, PreparedTask] = {}
    encoded: dict[str, tuple[dict, EvalSet]] = {}  # each target tokenised once for all its cells
    tokenizer = None
    cells = []
    bar = tqdm(total=len(plan), desc="transfer matrix", unit="cell", disable=not show)
    for seed, target, source in plan:
        key = cell_key(target, source, model, seed, config, settings, hand_over)
        path = cell_path(out_dir, target.display, source.display if source else None, seed)
        if path.exists():
            done = json.loads(path.read_text())
            if done.get("key") == key:
                cells.append(done)
                bar.update(1)
                continue
        bar.set_postfix_str(f"{source.display if source else 'baseline'} -> {target.display}, seed {seed}")
        tokenizer = tokenizer or load_tokenizer(model)
        for spec in (target, source):
            if spec is not None and spec.display not in prepared:
                prepared[spec.display] = prepare(spec)
        goal = prepared[target.display]
        if target.display not in encoded:
            if not goal.eval:
                raise ValueError(f"target {target.display!r} has no evaluation examples: set its n_eval (None = all)")
            encoded[target.display] = (encode(goal.task.task_type, goal.train, tokenizer, settings),
                                       EvalSet.build(goal.task, goal.eval, tokenizer, settings))
        cell = _run_cell(goal, prepared[source.display] if source else None, seed, model, config,
                         cache_dir, tokenizer, settings, *encoded[target.display], hand_over=hand_over)
        cell["key"] = key
        write_atomic(path, json.dumps(cell, indent=1))
        cells.append(cell)
        bar.update(1)
    bar.close()
    return cells


def _run_cell(target: PreparedTask, source: PreparedTask | None, seed: int, model: str, config: TrainConfig,
              cache_dir: Path, tokenizer, settings: QASettings, features: dict, eval_set: EvalSet,
              hand_over: Callable | None = None) -> dict:
    run = run_config(config, target.spec, seed)
    start: str | Path | torch.nn.Module = model
    record = None
    if source is not None:
        folder, record = intermediate_checkpoint(source, model, seed, config, cache_dir, tokenizer, settings,
                                                 keep_head=hand_over is not None)
        start = folder if hand_over is None else _hand_over_with(hand_over, folder, source, target, seed)
    started = time.perf_counter()
    # A folder (the intermediate encoder) and a model name both get a fresh head seeded by the run's
    # seed, and both see the same features in the same batches: only the encoder's start differs.
    result = fine_tune(start if isinstance(start, torch.nn.Module) else str(start), target.task, target.train, eval_set,
                       run, tokenizer, settings, train_features=features)
    metric = PRIMARY_METRIC[target.task.task_type]
    cell = {
        "target": target.spec.display,
        "source": source.spec.display if source else None,
        "seed": seed,
        "model": model,
        "metric": metric,
        "score": result.metrics[metric],
        "metrics": result.metrics,
        "curve": [{k: v for k, v in row.items()} for row in result.history.evals],
        "target_type": target.task.task_type,
        "source_type": source.task.task_type if source else None,
        "source_metrics": record["metrics"] if record else None,
        "source_steps": record["steps"] if record else 0,
        "source_seconds": record["seconds"] if record else 0.0,  # once per (source, seed): later cells reuse the checkpoint
        "target_steps": len(result.history.steps),
        "target_examples": len(target.train),
        "target_features": len(features["input_ids"]),
        "eval_examples": len(target.eval),
        "batch_order": batch_order_digest(features, run),
        "seconds": time.perf_counter() - started,
        "target_spec": target.spec.budget(),
        "source_spec": source.spec.budget() if source else None,
        "versions": library_versions(),
        **run_device(run),
    }
    replaced = sorted(settings.functions()) + (["hand_over"] if hand_over is not None and source else [])
    return {**cell, "replaced_steps": replaced} if replaced else cell


def _hand_over_with(hand_over: Callable, folder: Path, source: PreparedTask, target: PreparedTask, seed: int) -> torch.nn.Module:
    """The target's starting model made by ``hand_over`` from the whole source model saved in ``folder``;
    seeded like the library's hand-over, so that the new head's draw is part of the run's seed."""
    src, tgt = source.task, target.task
    where = f"source {source.spec.display} -> target {target.spec.display}, seed {seed}"
    with quiet_transformers(), tempfile.TemporaryDirectory() as scratch:
        source_model = build_model(str(folder), src.task_type, src.num_labels, src.label_names)
        set_seed(seed)
        args = (tgt.task_type,) if tgt.task_type == "qa" else (tgt.task_type, tgt.num_labels or 1)
        made = call_replaced(hand_over, where, source_model, scratch, *args)
    if not isinstance(made, torch.nn.Module):
        name = getattr(hand_over, "__name__", "hand_over")
        raise StudentCodeError(f"{name} returned {type(made).__name__} ({where}); expected the target's model")
    return made


def library_versions() -> dict[str, str]:
    """The versions a cell's numbers depend on: cells resumed on another machine may differ in
    them (tokenizers 0.23.1 cut long contexts short, for one), and the record says which."""
    import tokenizers
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _mean_std(values: list[float]) -> tuple[float, float]:
    # Sample std (ddof=1): seeds are a sample of the runs one could have made; undefined for one seed.
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else float("nan")


def relative_gain(score: float, baseline: float) -> float:
    """``(p_s→t − p_t) / p_t``: the transfer gain as a fraction of the baseline (nan if it is 0)."""
    return (score - baseline) / baseline if baseline else float("nan")


def unpaired_cells(cells: Sequence[dict]) -> list[str]:
    """Transfer cells whose target batches differ from their seed's baseline (``batch_order``).

    Within one installation the runner pairs them by construction; cells resumed from another machine
    can differ (another tokenizers version may cut the same questions into other windows), and then
    the comparison with the baseline is no longer exact. One line per such cell, naming the library
    versions that differ where the cells recorded them; empty when all pair."""
    baselines = {(c["target"], c["seed"]): c for c in cells if c["source"] is None}
    lines = []
    for c in cells:
        base = baselines.get((c["target"], c["seed"]))
        if c["source"] is not None and base is not None and c["batch_order"] != base["batch_order"]:
            mine, theirs = c.get("versions", {}), base.get("versions", {})
            differ = [f"{k} {mine[k]} vs {theirs[k]}" for k in mine if k in theirs and mine[k] != theirs[k]]
            lines.append(f"{c['source']} -> {c['target']}, seed {c['seed']}: {c['target_features']} target windows in "
                         f"{c['target_steps']} steps, the baseline {base['target_features']} in {base['target_steps']}"
                         + (f" ({', '.join(differ)})" if differ else ""))
    return lines


def transfer_table(cells: Sequence[dict], metric: str | None = None) -> list[dict]:
    """One row per (target, source): seeds, mean and std of ``metric`` (default: the target's
    primary metric), the mean of every other metric, the relative gain over the target's
    baseline (None when the baseline was not run) and ``paired_mean`` (the mean adjusted to the baseline's
    seeds, :func:`_paired_mean`). The baseline row of each target comes first."""
    if not cells:
        raise ValueError("no cells to summarise: run run_transfer_matrix first")
    groups: dict[tuple[str, str | None], list[dict]] = {}
    for cell in cells:
        groups.setdefault((cell["target"], cell["source"]), []).append(cell)
    rows = []
    for (target, source), group in groups.items():
        name = metric or group[0]["metric"]
        if any(name not in c["metrics"] for c in group):
            raise ValueError(f"metric {name!r} is missing from cells of {target}; they have {sorted(group[0]['metrics'])}")
        mean, std = _mean_std([c["metrics"][name] for c in group])
        row = {"target": target, "source": source, "target_type": group[0].get("target_type"), "source_type": group[0]["source_type"],
               "seeds": sorted(c["seed"] for c in group),
               "metric": name, "mean": mean, "std": std, "scores": [c["metrics"][name] for c in sorted(group, key=lambda c: c["seed"])]}
        for other in group[0]["metrics"]:
            if other != name and all(other in c["metrics"] for c in group):
                row[f"{other}_mean"], row[f"{other}_std"] = _mean_std([c["metrics"][other] for c in group])
        rows.append(row)
    baselines = {r["target"]: r for r in rows if r["source"] is None}
    for row in rows:
        base = baselines.get(row["target"])
        row["gain"] = None if base is None or row["source"] is None else relative_gain(row["mean"], base["mean"])
        row["paired_mean"] = row["mean"] if base is None or row["source"] is None else _paired_mean(row, base)
    targets = list(dict.fromkeys(r["target"] for r in rows))
    return sorted(rows, key=lambda r: (targets.index(r["target"]), r["source"] is not None))


def _paired_mean(row: Mapping, base: Mapping) -> float:
    """A source's mean score as if it had been run on every seed of its baseline: the baseline's mean plus
    the mean paired difference over the seeds both have. Sources measured on different seeds (a new
    source at one seed beside others at five) are then compared on one footing: the seed-to-seed spread of
    the baseline (4.6 F1 in RESULTS §3) cancels. Equal to ``row["mean"]`` when the seeds are the same."""
    mine, theirs = dict(zip(row["seeds"], row["scores"])), dict(zip(base["seeds"], base["scores"]))
    shared = [s for s in mine if s in theirs]
    if not shared:
        return row["mean"]
    return base["mean"] + sum(mine[s] - theirs[s] for s in shared) / len(shared)


def source_table(cells: Sequence[dict]) -> str:
    """A Markdown table of what each intermediate model learned and what it cost: its own held-out
    score (mean ± std over seeds; "-" when not scored), its training examples, optimiser steps and minutes
    (the range over seeds, as recorded on whatever machine ran them). The same example budget is not the
    same compute: long QA contexts become several windows, so steps differ."""
    lines = ["| intermediate task | type | seeds | its own held-out score (mean ± std) | training examples | steps | minutes |",
             "|---|---|---|---|---|---|---|"]
    by_source: dict[str, dict[int, dict]] = {}
    for cell in cells:
        if cell["source"] is not None:  # a source model is shared by its seed's cells: count it once
            by_source.setdefault(cell["source"], {})[cell["seed"]] = cell
    for source, seeds in sorted(by_source.items()):
        first = next(iter(seeds.values()))
        kind = first.get("source_type") or ""
        metric = PRIMARY_METRIC.get(kind, "")
        scored = [c["source_metrics"][metric] for c in seeds.values() if metric in (c.get("source_metrics") or {})]
        score = f"{metric} " + _pm(*_mean_std(scored), kind) if scored else "-"
        steps = sorted({c.get("source_steps", 0) for c in seeds.values()})
        minutes = sorted({round(c["source_seconds"] / 60) for c in seeds.values() if "source_seconds" in c})
        lines.append(f"| {source} | {TASK_FAMILIES.get(kind, '-')} | {len(seeds)} | {score} "
                     f"| {(first.get('source_spec') or {}).get('n_train', '-')} | {_span(steps)} | {_span(minutes)} |")
    return "\n".join(lines)


def _span(values: Sequence[int]) -> str:
    """"7" or "7–42" (sorted values), "-" when there are none."""
    if not values:
        return "-"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def format_table(rows: Sequence[dict], extra: Sequence[str] = ("exact_match",)) -> str:
    """A Markdown table of :func:`transfer_table` rows: mean ± std over seeds and the relative gain."""
    extra = [m for m in extra if all(f"{m}_mean" in r for r in rows)]
    head = ["target", "intermediate task", "type", "seeds", f"{rows[0]['metric']} (mean ± std)"]
    head += [f"{m} (mean ± std)" for m in extra] + ["relative gain"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["target"], r["source"] or BASELINE, TASK_FAMILIES.get(r["source_type"], "-") if r["source"] else "-",
                 str(len(r["seeds"])), _pm(r["mean"], r["std"], r["target_type"])]
        cells += [_pm(r[f"{m}_mean"], r[f"{m}_std"], r["target_type"]) for m in extra]
        cells.append("-" if r["gain"] is None else f"{100 * r['gain']:+.1f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(mean: float, std: float, target_type: str | None) -> str:
    digits = 1 if target_type == "qa" else 3  # QA scores are percentages, the others fractions
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"
