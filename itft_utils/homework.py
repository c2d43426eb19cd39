"""The course layer: the one module that knows the modes and what each homework runs in each.

The engines (:mod:`~itft_utils.training`, :mod:`~itft_utils.mtl_training`, :mod:`~itft_utils.transfer`,
:mod:`~itft_utils.taskemb`) take tasks, examples and settings and know nothing of modes or of where
data comes from; this module picks, per mode (:func:`itft_utils.runtime.detect_mode`), each
homework's data (hub, local files or generated), model and budget, and loads the data:

* Homework 1: :func:`load_task_pair`, the target and auxiliary QA tasks;
* Homework 2: :func:`homework_experiment`, the transfer experiment (:func:`real_data_experiment` is
  the benchmark's setting on the real data folder), with :func:`prepare_task` loading a spec's data.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .data import (
    GENERATED_TASKS,
    SQUAD_TRAIN_ARTICLES,
    default_data_dir,
    generate_task,
    load_task,
    split_by_article,
    subsample,
)
from .data.local import missing_files
from .data.planted import PLANTED
from .data.task import Task
from .encoding import encode
from .models import describe_encoder, load_tokenizer
from .qa import QASettings
from .runtime import detect_mode, get_preset
from .training import TrainConfig
from .transfer import PreparedTask, TaskSpec, run_transfer_matrix

# ---------------------------------------------------------------------------------------------
# How long each homework's experiments take, by mode and data
# ---------------------------------------------------------------------------------------------

#: Whole-notebook times: measured ones say where (bench/RESULTS.md), the rest are labelled estimates.
EXPECTED_TIME = {
    ("hw1_mtl", "grading"): "under a minute (measured: about 11 s graded alone on 2 CPU cores, bench/RESULTS.md §11)",
    ("hw1_mtl", "offline", "generated"): "about 5 minutes on a 2-core CPU (measured on the planted family: 5.2 min, "
                                         "bench/RESULTS.md §12)",
    ("hw1_mtl", "offline", "local"): "about 1.5 hours on a 2-core CPU (measured: 91 min on one thread beside other "
                                     "jobs; every run is saved, so rerun to resume)",
    ("hw1_mtl", "colab"): "30–40 minutes on a T4 (an estimate: not yet measured on a T4)",
    ("hw2_intermediate", "grading"): "under a minute",
    ("hw2_intermediate", "offline", "generated"): "about 13 minutes on a 2-core CPU (measured on the planted family with "
                                                  "the budget design's arm and Part 7: 13.4 min, bench/RESULTS.md §13)",
    # The recorded cells' range: the cost line of python bench/bench_transfer.py --model .carry/minilm
    # --out bench/results/transfer --seeds 0,1,2,3,4 --report-only.
    ("hw2_intermediate", "offline", "local"): "many hours on a 2-core CPU (the course's recorded cells: 15–38 min per "
                                              "target run, 1–42 min per source model; resumable)",
    ("hw2_intermediate", "colab"): "about 30–40 minutes on a T4 (an estimate: not yet measured on a T4; "
                                   "the quarter-size target adds six short runs, the budget design's arm three "
                                   "source and three target runs)",
    ("hw3_taskemb", "grading"): "under a minute",
    ("hw3_taskemb", "offline", "generated"): "about 3 minutes on a 2-core CPU (measured on the planted family: 2.3 min, "
                                             "bench/RESULTS.md §12)",
    ("hw3_taskemb", "offline", "local"): "about an hour on a 2-core CPU (an estimate; resumable)",
    ("hw3_taskemb", "colab"): "15–30 minutes on a T4 (an estimate: not yet measured on a T4; the ablation and the "
                              "estimator race add two Fisher passes and a forward pass of the target per source)",
}


def expected_time(homework: str, mode: str, data: str = "generated") -> str:
    """The line "expected: ..." for a homework's experiments in ``mode`` (offline: on ``data``, "local" or "generated")."""
    mode = "colab" if mode == "online" else mode
    key = (homework, mode, data) if mode == "offline" else (homework, mode)
    return f"expected: {EXPECTED_TIME.get(key, 'unknown')}"


# ---------------------------------------------------------------------------------------------
# Homework 1: the QA pair, by mode
# ---------------------------------------------------------------------------------------------


@dataclass
class TaskPair:
    """A target task, an auxiliary task, their training examples and held-out target examples."""

    target: Task
    auxiliary: Task
    train: dict[str, list[dict]]  # {task name: training examples}
    eval: list[dict]  # held-out target examples to report on (the test set; never trained on or selected on)
    source: str  # one line: where the data came from
    dev: list[dict] = field(default_factory=list)  # held-out target examples to choose λ (and anything else) on
    kind: str = "generated"  # "hub", "local" or "generated"


#: Homework 1's sizes per mode: (target training questions, auxiliary training questions, held-out target
#: questions to report on (test), held-out target questions to choose on (dev)).
PAIR_SIZES = {"grading": (32, 64, 16, 16), "colab": (1000, 4000, 1000, 500), "online": (1000, 4000, 1000, 500),
              "offline": (200, 800, 200, 100)}


#: Homework 1's target epochs per mode: Homework 2 found the small-target baseline still undertrained
#: after 2 epochs, so the real runs train 4 (grading trains 1: it checks that the student's code runs in
#: the experiment, in seconds; its numbers mean nothing).
TARGET_EPOCHS = {"grading": 1, "colab": 4, "online": 4, "offline": 4}

#: Offline without the data folder Homework 1 runs the generated pair with MiniLM: its numbers only show
#: that the student's functions drive the runs (the course's recorded real-data run answers the
#: questions), so it is sized for a 2-core CPU well under an hour: these sizes and 2 target epochs.
GENERATED_OFFLINE_SIZES = (96, 384, 64, 32)
GENERATED_OFFLINE_EPOCHS = 2


def target_epochs(mode: str, kind: str) -> int:
    """Homework 1's target epochs in ``mode`` on data of ``kind`` ("hub", "local" or "generated")."""
    return GENERATED_OFFLINE_EPOCHS if mode == "offline" and kind == "generated" else TARGET_EPOCHS[mode]


def load_task_pair(mode: str, n_target: int | None = None, n_aux: int | None = None, n_eval: int | None = None,
                   seed: int = 0, data_dir=None, n_dev: int | None = None) -> TaskPair:
    """The homework's QA pair for ``mode`` (see :mod:`itft_utils.runtime`), subsampled under ``seed``;
    sizes default to the mode's :data:`PAIR_SIZES` (offline on generated tasks: :data:`GENERATED_OFFLINE_SIZES`).

    * ``grading``: the generated ``gen_qa`` (target) and ``gen_qa_aux`` (shares one relation with it);
    * ``colab`` / ``online``: SQuAD from the hub (train / validation) and HotpotQA (MRQA's Parquet copy);
    * ``offline``: SQuAD v1.1 dev split by article (no passage both trained on and evaluated on) and
      PolicyQA from the data folder (``ITFT_DATA_DIR``) when both are there, else the planted pair:
      ``plant_qa`` and ``plant_related``, which shares its rule (:mod:`itft_utils.data.planted`).
    """
    if mode not in PAIR_SIZES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(PAIR_SIZES)}")
    data_dir = data_dir or default_data_dir()
    local = mode == "offline" and data_dir is not None and not (missing_files(data_dir, "squad") or missing_files(data_dir, "policyqa"))
    defaults = GENERATED_OFFLINE_SIZES if mode == "offline" and not local else PAIR_SIZES[mode]
    n_target, n_aux, n_eval, n_dev = (n if n is not None else d for n, d in zip((n_target, n_aux, n_eval, n_dev), defaults))
    if mode in ("colab", "online"):
        squad, aux = load_task("squad", source="hub"), load_task("hotpotqa", source="hub")
        train, held_out = squad.split("train"), squad.split("validation")
        source, kind = "hub: SQuAD (rajpurkar/squad) + HotpotQA (mrqa-workshop/mrqa, HotpotQA part)", "hub"
    elif local:
        squad, aux = load_task("squad", source="local", data_dir=data_dir), load_task("policyqa", source="local", data_dir=data_dir)
        train, held_out = split_by_article(squad.split("all"), SQUAD_TRAIN_ARTICLES)
        source = f"local files in {data_dir}: SQuAD v1.1 dev ({SQUAD_TRAIN_ARTICLES} articles to train, 10 to evaluate) + PolicyQA"
        kind = "local"
    else:  # grading, or offline without the data folder (the planted pair, whose transfer is known)
        names = ("gen_qa", "gen_qa_aux") if mode == "grading" else (PLANTED_TARGET, "plant_related")
        squad = generate_task(names[0], sizes={"train": n_target, "validation": n_eval + n_dev}, seed=seed)
        aux = generate_task(names[1], sizes={"train": n_aux}, seed=seed)
        train, held_out = squad.split("train"), squad.split("validation")
        source = ("generated: gen_qa + gen_qa_aux" if mode == "grading" else
                  f"generated, the planted family: {names[0]} + {names[1]} (by construction the same rule about other people, "
                  "places and foods: it should help)")
        kind = "generated"
    held_out = subsample(held_out, n_eval + n_dev, seed)  # one draw, cut in two: dev and test never overlap
    return TaskPair(squad, aux, {squad.name: subsample(train, n_target, seed), aux.name: subsample(aux.split("train"), n_aux, seed)},
                    held_out[n_dev:], source, held_out[:n_dev], kind)


def load_classification_auxiliary(mode: str, n: int | None = None, seed: int = 0, data_dir=None) -> tuple[Task, list[dict]]:
    """Homework 1's auxiliary task of another format: sentence classification, with a head of its
    own on the shared encoder (SST-2 from the hub in Colab, from the data folder offline, else the
    generated ``gen_sentiment`` when grading and the planted ``plant_surface`` offline); ``n`` training
    sentences (default: as many as the QA auxiliary's questions)."""
    if mode not in PAIR_SIZES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(PAIR_SIZES)}")
    data_dir = data_dir or default_data_dir()
    local = mode == "offline" and data_dir is not None and not missing_files(data_dir, "sst2")
    n = (GENERATED_OFFLINE_SIZES if mode == "offline" and not local else PAIR_SIZES[mode])[1] if n is None else n
    if mode in ("colab", "online"):
        task = load_task("sst2", source="hub")
    elif local:
        task = load_task("sst2", source="local", data_dir=data_dir)
    else:
        task = generate_task("gen_sentiment" if mode == "grading" else "plant_surface", sizes={"train": n}, seed=seed)
    return task, subsample(task.split("train"), n, seed)


# ---------------------------------------------------------------------------------------------
# Homework 2's data: a spec becomes examples
# ---------------------------------------------------------------------------------------------


def prepare_task(spec: TaskSpec, data_dir: str | Path | None = None) -> PreparedTask:
    """Load ``spec``'s task and draw its training and evaluation examples (seeded by ``data_seed``)."""
    kwargs = {}
    if spec.name in GENERATED_TASKS:  # generated tasks are made at the size asked for
        sizes = {spec.train_split: spec.n_train or 400}
        if spec.eval_split and spec.n_eval != 0 and not spec.articles:
            sizes[spec.eval_split] = spec.n_eval or 100
        kwargs = {"sizes": sizes, "seed": spec.data_seed}
    task = load_task(spec.name, source=spec.source, data_dir=data_dir if data_dir is not None else default_data_dir(), **kwargs)
    if spec.articles:
        # No passage is in both: a question about a trained-on paragraph would flatter the score.
        pool, held_out = split_by_article(task.split(spec.train_split), spec.articles)
    else:
        pool = task.split(spec.train_split)
        held_out = task.split(spec.eval_split) if spec.eval_split and spec.n_eval != 0 else []
    train = subsample(pool, spec.n_train, spec.data_seed)
    eval_examples = [] if spec.n_eval == 0 else subsample(held_out, spec.n_eval, spec.data_seed)
    return PreparedTask(spec, task, train, eval_examples)


# ---------------------------------------------------------------------------------------------
# Homework 2: the transfer experiment, by mode, and the real-data benchmark's
# ---------------------------------------------------------------------------------------------


@dataclass
class TransferExperiment:
    """Everything :func:`run_transfer_matrix` needs, so that a notebook or script runs it in one call."""

    target: TaskSpec
    sources: list[TaskSpec]
    seeds: list[int]
    model: str
    config: TrainConfig
    settings: QASettings
    data_dir: str | Path | None = None
    description: str = ""
    notes: list[str] = field(default_factory=list)
    threads: int | None = None  # torch CPU threads while it runs (None: leave as is)

    @property
    def max_length(self) -> int:  # notebooks released before QASettings read these two
        return self.settings.max_length

    @property
    def doc_stride(self) -> int:
        return self.settings.doc_stride

    def with_target_size(self, n_train: int) -> TransferExperiment:
        """The same experiment on a target of ``n_train`` questions, against the QA source only (listed
        first in every mode): the target-size axis of "intermediate training helps most when the target
        is small". The target is labelled with its size, so its cells sit beside the main run's, and the
        source encoders are the main run's (same cache key), so only the target runs are new."""
        target = replace(self.target, n_train=n_train, label=f"{self.target.display}-{n_train}")
        return replace(self, target=target, sources=self.sources[:1],
                       description=f"{self.description}; target cut to {n_train} questions, QA source only")

    def source_profiles(self, tokenizer=None) -> dict[str, dict[str, int]]:
        """What one epoch of each source costs, measured on its training examples as the runs cut them:
        examples, training windows (a long QA passage makes several), their tokens (padding excluded)
        and the windows one optimiser step trains on (``batch_size``, accumulation included). Homework 2's budget
        design turns these into equal budgets."""
        tokenizer = tokenizer or load_tokenizer(self.model)
        profiles = {}
        for spec in self.sources:
            source = prepare_task(spec, self.data_dir)
            features = encode(source.task.task_type, source.train, tokenizer, self.settings)
            profiles[spec.display] = {"examples": len(source.train), "windows": len(features["input_ids"]),
                                      "tokens": sum(len(ids) for ids in features["input_ids"]),
                                      "batch_size": self.config.batch_size * self.config.grad_accum_steps}
        return profiles

    def with_source_steps(self, steps: dict[str, int], profiles: dict[str, dict[str, int]]) -> TransferExperiment:
        """The same experiment on the sources named in ``steps``, each trained for exactly that many
        optimiser steps (as many epochs over its examples as that takes, cut at the step; ``profiles``:
        :meth:`source_profiles`): Homework 2's budget design. A source whose steps changed is labelled with
        them (``policyqa-120steps``), so its cells sit beside Part 5's, whose baselines they reuse; one whose
        steps did not keeps its spec, and Part 5's cells."""
        known = {s.display: s for s in self.sources}
        unknown = sorted(set(steps) - set(known))
        if unknown:
            raise ValueError(f"steps given for {unknown}, which are not sources of this experiment ({', '.join(known)})")
        bad = {name: n for name, n in steps.items() if isinstance(n, bool) or not isinstance(n, int) or n < 1}
        if bad:
            raise ValueError(f"steps must be whole numbers >= 1; got {bad}")
        sources = []
        for name, spec in known.items():
            if name not in steps:
                continue
            n = steps[name]
            per_epoch = math.ceil(math.ceil(profiles[name]["windows"] / self.config.batch_size) / self.config.grad_accum_steps)
            if spec.max_steps is None and n == per_epoch * spec.epochs:
                sources.append(spec)  # its own budget already: the same runs, so Part 5's cells are reused
            else:
                sources.append(replace(spec, epochs=math.ceil(n / per_epoch), max_steps=n, label=f"{name}-{n}steps"))
        return replace(self, sources=sources, description=f"{self.description}; sources at chosen budgets")

    def run(self, out_dir: str | Path, progress: bool | None = None, *, label_span: Callable | None = None,
            decode_span: Callable | None = None, normalize_answer: Callable | None = None,
            answer_f1: Callable | None = None, hand_over: Callable | None = None, **kwargs) -> list[dict]:
        """Run (or resume) the matrix into ``out_dir``. The keyword functions put the student's
        exercises into every run in place of the library's steps (see :class:`QASettings` and
        :func:`run_transfer_matrix`): a bug in them shows in the numbers, and an edited function
        reruns the cells it decides."""
        settings = replace(self.settings, label_span=label_span, decode_span=decode_span,
                           normalize_answer=normalize_answer, answer_f1=answer_f1)
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            return run_transfer_matrix(self.sources, [self.target], self.seeds, out_dir, self.model, self.config,
                                       settings, progress=progress, hand_over=hand_over,
                                       prepare=functools.partial(prepare_task, data_dir=self.data_dir), **kwargs)
        finally:
            torch.set_num_threads(before)

    def __str__(self) -> str:
        t = self.target
        lines = [self.description,
                 f"model {self.model}; {len(self.seeds)} seeds {list(self.seeds)}; "
                 f"max_length {self.settings.max_length}, stride {self.settings.doc_stride}",
                 f"target  {t.display}: {t.n_train or 'all'} training examples, {t.epochs} epochs, "
                 f"evaluated on {'all' if t.n_eval is None else t.n_eval} held-out examples"
                 + (f", learning rate {t.learning_rate:g}" if t.learning_rate is not None else "")]
        for s in self.sources:
            cap = f" (at most {s.max_steps} steps)" if s.max_steps else ""
            lines.append(f"source  {s.display}: {s.n_train or 'all'} examples, {s.epochs} epochs{cap}")
        return "\n".join(lines + self.notes)


#: The real-data benchmark's sources: Homework 2's four, then those that give Homework 3's selection six or
#: more measured sources of three types in every mode (Colab's library has no PolicyQA or SubjQA). QNLI is
#: left out: it is built from SQuAD's own questions (see :data:`itft_utils.atlas.ATLAS_SOURCES`).
REAL_DATA_SOURCES = ("policyqa", "subjqa", "sst2", "conll2000", "mrpc", "stsb", "wnut17", "rte")
#: The held-out split a source is scored on where it is not "test" (RTE's test file has no labels).
_SOURCE_EVAL_SPLIT = {"rte": "validation"}


def real_data_sources(n_train: int = 2000, epochs: int = 2, n_eval: int | None = 500,
                      names: Sequence[str] = REAL_DATA_SOURCES[:4]) -> list[TaskSpec]:
    """The benchmark's sources on the real data folder, one example budget for all (2,000 examples, 2
    epochs; equal in examples, not in steps or tokens: a long passage makes several windows); each is
    scored on up to 500 of its own held-out examples, to show what the intermediate model learned."""
    unknown = sorted(set(names) - set(REAL_DATA_SOURCES))
    if unknown:
        raise ValueError(f"no real-data source spec for {unknown}; known: {', '.join(REAL_DATA_SOURCES)}")
    return [TaskSpec(name, "local", n_train, n_eval, epochs, eval_split=_SOURCE_EVAL_SPLIT.get(name, "test"))
            for name in names]


def squad_target(source: str = "local", n_train: int = 1000, n_eval: int | None = None, epochs: int = 4) -> TaskSpec:
    """The course's target: 1,000 SQuAD questions (seed-0 subsample). Local: the first 38 articles of
    the v1.1 dev file, evaluated on all questions of the last 10 (no shared passage); hub: the train
    split, evaluated on the validation split. Four epochs: at two the MiniLM baseline is still
    undertrained, and a transfer gain would partly be mere extra QA steps."""
    if source == "local":
        return TaskSpec("squad", "local", n_train, n_eval, epochs, train_split="all", eval_split=None, articles=SQUAD_TRAIN_ARTICLES)
    return TaskSpec("squad", source, n_train, n_eval, epochs)


#: Targets other than SQuAD for the race's second target (issue 33): a labelled held-out split each.
PAIR_TARGETS = {"mrpc": "test", "rte": "validation"}


def pair_target(name: str, n_train: int = 1000, epochs: int = 4) -> TaskSpec:
    """A sentence-pair classification target on the data folder: ``n_train`` examples of its training split
    (seed-0 subsample), scored on every example of its labelled held-out split (MRPC: test; RTE: dev)."""
    if name not in PAIR_TARGETS:
        raise ValueError(f"no target spec for {name!r}; known: squad, {', '.join(PAIR_TARGETS)}")
    return TaskSpec(name, "local", n_train, None, epochs, eval_split=PAIR_TARGETS[name])


def real_data_experiment(data_dir: str | Path | None = None, seeds: Sequence[int] = (0, 1, 2),
                         sources: Sequence[TaskSpec] | None = None, target: TaskSpec | None = None) -> TransferExperiment:
    """Issue 4's benchmark: MiniLM, SQuAD-1k target (or ``target``, e.g. :func:`pair_target`), PolicyQA /
    SubjQA / SST-2 / CoNLL-2000 sources, the foundation benchmark's settings (length 256, stride 64, batch 16,
    lr 1e-4, 10 % warm-up). A source that is the target's own task is refused."""
    preset = get_preset("offline")
    config = TrainConfig(learning_rate=preset.learning_rate, batch_size=preset.batch_size, warmup_ratio=0.1)
    sources = list(sources or real_data_sources())
    target = target or squad_target("local")
    if same := [s.display for s in sources if s.name == target.name]:
        raise ValueError(f"source {same[0]} is the target's own task ({target.name}): leave it out of the sources")
    described = (f"SQuAD-1k target ({SQUAD_TRAIN_ARTICLES} articles to train, 10 to evaluate)" if target.name == "squad" else
                 f"{target.name} target ({target.n_train} training examples, its {target.eval_split} split to evaluate)")
    return TransferExperiment(target, sources, list(seeds), "minilm", config, preset.settings, data_dir or default_data_dir(),
                              f"Real data: {described}, sources {' / '.join(s.display for s in sources)}")


#: Offline without the data folder the homeworks run the planted family (:mod:`itft_utils.data.planted`):
#: its transfers are known and measured (bench/RESULTS.md section 12), so a CPU-only student's own run
#: shows the lecture's effects, and a bug in their functions shows in the numbers.
PLANTED_TARGET = "plant_qa"
PLANTED_SOURCES = ("plant_related", "plant_conflict", "plant_surface", "plant_tagging")


@dataclass(frozen=True)
class PlantedSetting:
    """How Homework 2 runs the planted family on one encoder: sized so that the baseline learns the
    target partly (no floor, no ceiling) and the sources' effects show within minutes on a CPU."""

    learning_rate: float
    target_questions: int
    target_epochs: int
    source_examples: int
    source_epochs: int = 2
    eval_questions: int = 200


#: Per encoder, the settings bench/planted_family.py measured: the tiny random BERT needs many source
#: steps (it learns the words as well as the rule), MiniLM few.
PLANTED_SETTINGS = {"tiny": PlantedSetting(2e-3, 64, 8, 2000), "minilm": PlantedSetting(1e-4, 64, 4, 500)}


def planted_experiment(model: str = "minilm") -> TransferExperiment:
    """Homework 2 on the planted family: target ``plant_qa``; sources that share its rule, its words
    with the opposite rule, its words with a classification task, its words with a tagging task."""
    setting = PLANTED_SETTINGS[model]
    target = TaskSpec(PLANTED_TARGET, "generated", setting.target_questions, setting.eval_questions, setting.target_epochs)
    sources = [TaskSpec(name, "generated", setting.source_examples, 0, setting.source_epochs) for name in PLANTED_SOURCES]
    config = TrainConfig(learning_rate=setting.learning_rate, batch_size=16, warmup_ratio=0.1)
    truth = "; ".join(f"{name} (rule: {what['rule']}; words: {what['words']})" for name, what in PLANTED.items())
    return TransferExperiment(target, sources, [0, 1, 2], model, config, QASettings(128, 32),
                              description="Offline without the data folder: the planted family (generated tasks "
                                          "whose relatedness is known)",
                              notes=[f"encoder: {describe_encoder(model)}", f"planted: {truth}"],
                              threads=1 if model == "tiny" else None)


#: The data folder's files Homework 2 runs on offline; without them it runs the planted family.
HOMEWORK2_LOCAL = ("squad", "policyqa", "sst2", "conll2000")


def _has_local(data_dir, *names: str) -> bool:
    return data_dir is not None and not any(missing_files(data_dir, n) for n in names)


def homework_experiment(mode: str | None = None, data_dir: str | Path | None = None) -> TransferExperiment:
    """Homework 2's experiment: baseline vs a QA, a classification and a tagging source, by mode.

    * ``grading``: the tiny model on generated tasks (target ``gen_qa``; sources ``gen_qa_aux``,
      ``gen_sentiment``, ``gen_tagging``), 3 seeds, a few steps: seconds on a CPU.
    * ``colab`` / ``online``: BERT-Small from the hub (:data:`~itft_utils.models.COLAB_ENCODER`, the
      encoder of all three homeworks in Colab: MLM-pretrained, small enough for 3 seeds x 4 runs on a
      T4); SQuAD-1k target; sources HotpotQA (QA), SST-2 (classification), CoNLL-2000 (tagging) from the hub.
    * ``offline``: MiniLM; with the real data folder, the benchmark's target and PolicyQA / SST-2 /
      CoNLL-2000 (hours on a CPU: the runner resumes, so run it in pieces); without it, the planted
      family (:func:`planted_experiment`, minutes).
    """
    mode = mode or detect_mode()
    data_dir = data_dir if data_dir is not None else default_data_dir()
    if mode == "grading":
        preset = get_preset("grading")
        n, n_eval, epochs = preset.n_train, preset.n_eval, preset.epochs
        target = TaskSpec("gen_qa", "generated", n, n_eval, epochs)
        sources = [TaskSpec(name, "generated", n, 0, epochs) for name in ("gen_qa_aux", "gen_sentiment", "gen_tagging")]
        # One thread: the tiny model gains nothing from more, and on a busy 2-core grader two threads
        # waiting on each other made it ten times slower.
        return TransferExperiment(target, sources, [0, 1, 2], preset.model, _config(preset), preset.settings,
                                  description="Grading mode: tiny model, generated tasks (numbers mean nothing here)", threads=1)
    if mode in ("colab", "online"):
        preset = get_preset(mode)
        # Every source is scored on 500 of its own held-out examples (HotpotQA: one question in ten of its
        # hub split, held out by id), so that what each intermediate model learned is on the table.
        sources = [TaskSpec("hotpotqa", "hub", 2000, 500, 2), TaskSpec("sst2", "hub", 2000, 500, 2),
                   TaskSpec("conll2000", "hub", 2000, 500, 2, eval_split="test")]
        return TransferExperiment(squad_target("hub", n_eval=1000), sources, [0, 1, 2], preset.model, _config(preset),
                                  preset.settings,
                                  description="Hub data: SQuAD-1k target, HotpotQA / SST-2 / CoNLL-2000 sources",
                                  notes=[f"encoder: {describe_encoder(preset.model)}"])
    if mode == "offline":
        preset = get_preset("offline")
        if _has_local(data_dir, *HOMEWORK2_LOCAL):
            sources = [s for s in real_data_sources() if s.name != "subjqa"]
            experiment = real_data_experiment(data_dir, sources=sources)
            experiment.notes += [f"encoder: {describe_encoder('minilm')}",
                                 "On a CPU this takes hours: rerun the cell to resume where it stopped."]
            return experiment
        return planted_experiment("minilm")
    raise ValueError(f"unknown mode {mode!r}; expected grading, colab, online or offline")


def _config(preset) -> TrainConfig:
    return TrainConfig(learning_rate=preset.learning_rate, batch_size=preset.batch_size, warmup_ratio=0.1)


# ---------------------------------------------------------------------------------------------
# Homework 3: the task library to embed, by mode
# ---------------------------------------------------------------------------------------------


@dataclass
class TaskLibrary:
    """The tasks Homework 3 embeds, and how much of each it trains on and takes the Fisher over."""

    tasks: dict[str, Task]
    examples: dict[str, list[dict]] | None  # training examples where a task's default split is not the right one
    n_train: int
    n_fisher: int
    batch_size: int  # examples per vmap call of the Fisher
    threads: int | None  # torch CPU threads while embedding (the tiny model is faster on one)
    description: str
    n_eval: int = 0  # held-out examples each task model is scored on (its own dev score)
    eval_examples: dict[str, list[dict]] | None = None  # held-out examples where a task has no validation/test split
    target: str = "squad"  # the task the sources are ranked for
    kind: str = "local"  # where the data came from: "hub", "local" or "generated"


def taskemb_library(mode: str | None = None, data_dir: str | Path | None = None) -> TaskLibrary:
    """Homework 3's library for ``mode``: generated tasks when grading; the planted family offline
    without the data folder (Homework 2's target and sources there, whose relatedness is known);
    otherwise real tasks of all three families with Homework 2's sources among them and SQuAD as the
    target (hub in Colab, local files offline; SQuAD trained on its first 38 dev articles)."""
    mode = mode or detect_mode()
    data_dir = data_dir if data_dir is not None else default_data_dir()
    if mode == "grading":
        # Six sources of four task types, so that a ranking of them can be told from a random one.
        names = ["gen_qa", "gen_qa_aux", "gen_sentiment", "gen_topic", "gen_pair", "gen_similarity", "gen_tagging"]
        return TaskLibrary({name: load_task(name) for name in names}, None, 32, 16, 32, 1, "generated tasks (grading)",
                           n_eval=16, target="gen_qa", kind="generated")
    if mode == "offline" and not _has_local(data_dir, *HOMEWORK2_LOCAL):  # where Homework 2 ran the planted family
        names = [PLANTED_TARGET, *PLANTED_SOURCES]
        return TaskLibrary({name: load_task(name) for name in names}, None, 400, 128, 8, None,
                           "the planted family (offline without the data folder; by construction plant_related shares the "
                           "target's rule, the others only its words)", n_eval=100, target=PLANTED_TARGET,
                           kind="generated")
    if mode not in ("colab", "online", "offline"):
        raise ValueError(f"unknown mode {mode!r}; expected grading, colab, online or offline")
    qa_sources = ["hotpotqa"] if mode in ("colab", "online") else ["policyqa", "subjqa"]
    names = ["squad", *qa_sources, "qnli", "sst2", "rte", "mrpc", "stsb", "conll2000", "wnut17"]
    n_train, n_fisher = (500, 128) if mode in ("colab", "online") else (200, 64)
    source = "local" if mode == "offline" else "hub"
    tasks = {name: load_task(name, source=source, data_dir=data_dir) for name in names}
    examples = held_out = None
    if "all" in tasks["squad"].splits:  # the local SQuAD dev file: the first 38 articles, as in Homework 2
        pool, rest = split_by_article(tasks["squad"].split("all"), SQUAD_TRAIN_ARTICLES)
        examples, held_out = {"squad": subsample(pool, n_train, seed=0)}, {"squad": subsample(rest, 200, seed=0)}
    return TaskLibrary(tasks, examples, n_train, n_fisher, 8, None, f"real tasks from the {source} source ({mode})",
                       n_eval=200, eval_examples=held_out, kind=source)
