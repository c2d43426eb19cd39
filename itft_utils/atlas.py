"""The class transfer atlas, the students' side: which extra transfer cells a student runs, and how
the finished cells travel inside the submitted notebook.

Vu et al. needed a cluster for their transfer matrix; a class has more GPU hours than that between
them. Each student's Homework 2 runs a few extra (source, target, seed) cells of one course-wide
library (:func:`atlas_library`: sources of every task type, a fixed configuration), assigned from the
student id so that every cell is run by at least two students (:func:`atlas_plan`), and stores them
as a JSON output of the notebook (:func:`atlas_output`): nothing to upload separately. At grading
time ``itft atlas`` (:mod:`itft_grader.atlas.harvest`) harvests, validates and aggregates them.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .homework import PLANTED_SOURCES, TransferExperiment, homework_experiment
from .transfer import TaskSpec, cell_key

ATLAS_VERSION = 1
ATLAS_MIME = "application/json"  # a standard type: Colab keeps it in the saved notebook and shows it
#: The sources of the library per mode, every task type the package knows (QA, classification,
#: sentence pairs, regression, tagging), each on the same budget as Homework 2's sources. QNLI is built
#: from SQuAD's questions: offline its file (GLUE's dev set) holds 727 questions of the SQuAD target's
#: evaluation articles (tests/test_real_data.py), so it is no source there; in Colab it comes from
#: SQuAD's train split, the target's own training pool (more target-domain data, not a leak of its test).
ATLAS_SOURCES = {
    "colab": ["hotpotqa", "sst2", "cola", "qnli", "rte", "mrpc", "stsb", "conll2000", "wnut17"],
    "offline": ["policyqa", "subjqa", "sst2", "cola", "rte", "mrpc", "stsb", "conll2000", "wnut17"],
    "grading": ["gen_qa_aux", "gen_sentiment", "gen_pair", "gen_similarity", "gen_tagging"],
}
ATLAS_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class AtlasCell:
    """One cell of the matrix: ``source`` None is the baseline (the target alone)."""

    source: str | None
    target: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.source or 'baseline'}->{self.target}@{self.seed}"


@dataclass
class AtlasLibrary:
    """The course-wide cells and the one configuration every student runs them with."""

    experiment: TransferExperiment  # target spec, model, training config, windows
    sources: dict[str, TaskSpec]
    seeds: tuple[int, ...]
    mode: str

    @property
    def cells(self) -> list[AtlasCell]:
        target = self.experiment.target.display
        return [AtlasCell(source, target, seed) for seed in self.seeds for source in [None, *self.sources]]

    def key(self, cell: AtlasCell) -> str:
        """The configuration key a correctly run cell carries (:func:`itft_utils.transfer.cell_key`)."""
        e = self.experiment
        source = self.sources[cell.source] if cell.source else None
        return cell_key(e.target, source, e.model, cell.seed, e.config, e.settings)


def atlas_library(mode: str = "colab", seeds: Iterable[int] = ATLAS_SEEDS) -> AtlasLibrary:
    """The library for ``mode`` ("online" is "colab"): Homework 2's target, model and configuration;
    every source on Homework 2's source budget (2,000 examples, 2 epochs; generated: its own). Offline
    without the data folder, Homework 2's planted family (its cells are Homework 2's own, already run)."""
    mode = "colab" if mode == "online" else mode
    if mode not in ATLAS_SOURCES:
        raise ValueError(f"no atlas for mode {mode!r}; modes: {sorted(ATLAS_SOURCES)}")
    experiment = homework_experiment(mode)
    template, kind = experiment.sources[0], experiment.target.source  # hub, local or generated
    names = ATLAS_SOURCES[mode] if kind != "generated" else ATLAS_SOURCES["grading"] if mode == "grading" else list(PLANTED_SOURCES)
    sources = {name: TaskSpec(name, kind, template.n_train, 0, template.epochs) for name in names}
    return AtlasLibrary(experiment, sources, tuple(seeds), mode)


def student_hash(student_id: str) -> str:
    """A student id as the plan stores it: published plans name no student."""
    return hashlib.sha256(f"itft-atlas:{student_id.strip()}".encode()).hexdigest()[:16]


def cells_per_student(n_students: int, n_cells: int, min_cover: int = 2) -> int:
    """How many cells each student runs so that every cell is run ``min_cover`` times."""
    if n_students < 1:
        raise ValueError("a plan needs at least one student")
    return max(1, math.ceil(min_cover * n_cells / n_students))


def atlas_plan(student_ids: Iterable[str], library: AtlasLibrary, min_cover: int = 2) -> dict[str, list[int]]:
    """Balanced assignment: {student hash: cell indices}. Students in hash order take consecutive
    blocks of ``k`` cells round the library, so every cell is run ``floor`` or ``ceil`` of
    ``n·k / cells`` times, at least ``min_cover``."""
    hashes = sorted({student_hash(s) for s in student_ids if s.strip()})
    n_cells = len(library.cells)
    k = min(cells_per_student(len(hashes), n_cells, min_cover), n_cells)
    return {h: [(i * k + j) % n_cells for j in range(k)] for i, h in enumerate(hashes)}


def assign_cells(student_id: str, library: AtlasLibrary, plan: Mapping[str, list[int]] | None = None,
                 k: int = 2) -> list[AtlasCell]:
    """The cells ``student_id`` runs: from the course's ``plan`` when it names the student, else
    ``k`` cells spread round the library from the id's hash (late enrolments still contribute)."""
    if not student_id or not student_id.strip():
        raise ValueError("set STUDENT_ID to your student id (as in the file name you submit): it decides your cells")
    cells = library.cells
    h = student_hash(student_id)
    if plan and h in plan:
        return [cells[i] for i in plan[h]]
    start, step = int(h, 16) % len(cells), max(1, len(cells) // k)
    return [cells[(start + j * step) % len(cells)] for j in range(min(k, len(cells)))]


def atlas_output(student_id: str, library: AtlasLibrary, cells: list[dict]) -> dict:
    """The notebook output that carries the finished cells to the grader (display it with raw=True)."""
    payload = {"itft_atlas": ATLAS_VERSION, "student_id": student_id.strip(), "mode": library.mode,
               "cells": cells}
    summary = "\n".join(f"  {c['source'] or 'baseline'} -> {c['target']}, seed {c['seed']}: {c['metric']} {c['score']:.1f}"
                        for c in cells)
    return {ATLAS_MIME: payload,
            "text/plain": f"Class atlas: {len(cells)} cell(s) of student {student_id} stored in this notebook\n{summary}"}


PLAN = Path(__file__).resolve().parent / "resources" / "atlas_plan.json"


def course_plan() -> dict[str, list[int]] | None:
    """The course's plan (``itft atlas-plan`` writes it into the package before a release), if any."""
    return json.loads(PLAN.read_text(encoding="utf-8")) if PLAN.exists() else None


def run_atlas_cells(student_id: str, library: AtlasLibrary, out_dir: str | Path,
                    plan: Mapping[str, list[int]] | None = None) -> dict:
    """Run (or resume) the student's assigned cells (from ``plan``, default the course's) and return
    the output that stores them in the notebook: ``display(output, raw=True)``."""
    plan = plan if plan is not None else course_plan()
    from .homework import prepare_task
    from .transfer import run_transfer_matrix

    e = library.experiment
    finished = []
    for cell in assign_cells(student_id, library, plan):
        sources = [library.sources[cell.source]] if cell.source else []
        ran = run_transfer_matrix(sources, [e.target], [cell.seed], out_dir, e.model, e.config, e.settings,
                                  baseline=cell.source is None, prepare=lambda spec: prepare_task(spec, e.data_dir))
        finished += [c for c in ran if c["source"] == cell.source]
    return atlas_output(student_id, library, finished)
