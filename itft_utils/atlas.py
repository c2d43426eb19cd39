"""The class transfer atlas, the students' side: which cells of the course-wide matrix a student runs,
and how the finished cells travel inside the submitted notebook.

Vu et al. needed a cluster for their transfer matrix; a class has more GPU hours than that between
them. The matrix (:func:`atlas_library`) has several targets of several task types, sources of every
type, and three seeds. A student's share is one **assignment**: a (target, seed) with its baseline and a
group of up to three sources, all run in the student's own runtime, so that every paired difference
(source minus baseline) comes from one machine and one precision. The plan (:func:`atlas_plan`) covers
every assignment before it repeats any, then adds replicates evenly; it is read when the cell runs
(:func:`course_plan`: from the course's published atlas folder), so it changes without a new release,
and a student missing from it still gets an assignment from their id. The finished cells are a JSON
output of the notebook (:func:`atlas_output`) naming the plan they followed; ``itft atlas``
(:mod:`itft_grader.atlas.harvest`) harvests, validates and aggregates them.
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .data.registry import built_in_task_type
from .homework import PLANTED_SOURCES, homework_experiment
from .qa import QASettings
from .training import TrainConfig
from .transfer import TaskSpec, cell_key

ATLAS_VERSION = 2  # 2: one assignment per student (a target, a seed, a group of sources), the plan named
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
#: The targets besides Homework 2's QA target: a sentence-pair classification and a tagging task, each
#: trained on 1,000 examples (generated when grading: the tasks of those types).
ATLAS_TARGETS = {"colab": ("mrpc", "wnut17"), "offline": ("mrpc", "wnut17"), "grading": ("gen_pair", "gen_tagging")}
ATLAS_SEEDS = (0, 1, 2)
GROUP_SIZE = 3  # sources per assignment, beside its baseline: about a third of Homework 2's compute in Colab
#: Where the course publishes the plan and the interim matrix (a folder or an http(s) URL holding
#: ``plan.json`` and ``atlas.json``); the notebooks' setup cell sets it from the course's release settings.
HOME_VARIABLE = "ITFT_ATLAS_HOME"
PLAN = Path(__file__).resolve().parent / "resources" / "atlas_plan.json"  # a plan shipped in the package, if any


@dataclass(frozen=True)
class AtlasCell:
    """One cell of the matrix: ``source`` None is the baseline (the target alone)."""

    source: str | None
    target: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.source or 'baseline'}->{self.target}@{self.seed}"


@dataclass(frozen=True)
class Assignment:
    """One student's share: the baseline of (``target``, ``seed``) and ``sources``, run on one runtime."""

    target: str
    seed: int
    sources: tuple[str, ...]

    @property
    def cells(self) -> list[AtlasCell]:
        return [AtlasCell(source, self.target, self.seed) for source in (None, *self.sources)]

    @property
    def name(self) -> str:
        return f"{self.target}@{self.seed}: {', '.join(self.sources)}"


@dataclass
class AtlasLibrary:
    """The course-wide matrix: its targets, its sources, its seeds and the one configuration every
    student runs them with."""

    targets: dict[str, TaskSpec]
    sources: dict[str, TaskSpec]
    seeds: tuple[int, ...]
    mode: str
    model: str
    config: TrainConfig
    settings: QASettings
    data_dir: str | Path | None = None
    group_size: int = GROUP_SIZE
    assignments: list[Assignment] = field(init=False)

    def __post_init__(self) -> None:
        # Groups first, then seeds, then targets: the first students cover every (target, seed)'s baseline.
        rows = {t: self.sources_for(t) for t in self.targets}
        groups = {t: [tuple(row[i:i + self.group_size]) for i in range(0, len(row), self.group_size)] for t, row in rows.items()}
        depth = max(len(g) for g in groups.values())
        self.assignments = [Assignment(t, seed, groups[t][g]) for g in range(depth) for seed in self.seeds
                            for t in self.targets if g < len(groups[t])]

    def sources_for(self, target: str) -> list[str]:
        """The sources of ``target``'s row: every source but the target's own task."""
        return [s for s, spec in self.sources.items() if spec.name != self.targets[target].name]

    @property
    def cells(self) -> list[AtlasCell]:
        return [AtlasCell(source, t, seed) for t in self.targets for seed in self.seeds for source in [None, *self.sources_for(t)]]

    def target_type(self, target: str) -> str:
        """``target``'s task type, from the registry (not from what a cell says it is)."""
        return built_in_task_type(self.targets[target].name)

    def points(self, cell: Mapping) -> float:
        """A cell's score in points by its target's registered type (not by what the cell says it is)."""
        return points(cell, self.target_type(cell["target"]))

    def key(self, cell: AtlasCell) -> str:
        """The configuration key a correctly run cell carries (:func:`itft_utils.transfer.cell_key`)."""
        source = self.sources[cell.source] if cell.source else None
        return cell_key(self.targets[cell.target], source, self.model, cell.seed, self.config, self.settings)


def atlas_library(mode: str = "colab", seeds: Iterable[int] = ATLAS_SEEDS) -> AtlasLibrary:
    """The matrix for ``mode`` ("online" is "colab"): Homework 2's QA target, model and configuration,
    a classification and a tagging target on 1,000 examples and as many epochs, every source on Homework 2's
    source budget (2,000 examples, 2 epochs; generated: its own). Offline without the data folder, Homework
    2's planted family alone (its cells are Homework 2's own, already run)."""
    mode = "colab" if mode == "online" else mode
    if mode not in ATLAS_SOURCES:
        raise ValueError(f"no atlas for mode {mode!r}; modes: {sorted(ATLAS_SOURCES)}")
    experiment = homework_experiment(mode)
    template, kind = experiment.sources[0], experiment.target.source  # hub, local or generated
    qa = experiment.target
    targets = {qa.display: qa}
    if kind == "generated" and mode != "grading":  # offline without the data folder
        names: Iterable[str] = PLANTED_SOURCES
    else:
        names = ATLAS_SOURCES[mode]
        n = qa.n_train if kind == "generated" else 1000
        for name in ATLAS_TARGETS[mode]:
            split = "validation" if kind == "generated" else "test"  # labelled on the hub and in the local files
            targets[name] = TaskSpec(name, kind, n, qa.n_eval if kind == "generated" else None, qa.epochs, eval_split=split)
    sources = {name: TaskSpec(name, kind, template.n_train, 0, template.epochs) for name in names}
    return AtlasLibrary(targets, sources, tuple(seeds), mode, experiment.model, experiment.config, experiment.settings,
                        experiment.data_dir)


def points(cell: Mapping, target_type: str | None = None) -> float:
    """A cell's score on one scale for every target: QA's F1 is in points already, accuracy and tagging F1
    (0-1) become points, so that one tolerance and one heat map serve every target. ``target_type``: the
    target's type (default: the one the cell records, as for a student's own cells)."""
    score = float(cell["score"])
    return score if (target_type or cell.get("target_type")) == "qa" else 100 * score


def student_hash(student_id: str) -> str:
    """A student id as the plan stores it: published plans name no student."""
    return hashlib.sha256(f"itft-atlas:{student_id.strip()}".encode()).hexdigest()[:16]


def atlas_plan(student_ids: Iterable[str], library: AtlasLibrary, previous: Mapping | None = None) -> dict:
    """The class's plan: students in hash order take the least-covered assignment in turn (ties: the first),
    so every assignment (and so every cell) is covered before any is repeated, and each is run by floor or ceil
    of n / assignments students (at least 3 once the class has three times as many students as assignments).
    With ``previous`` (the plan already published for this matrix) it only appends: no student already in it
    changes assignment, and newcomers fill the least-covered ones."""
    names = [a.name for a in library.assignments]
    kept = dict(previous["students"]) if previous and previous.get("assignments") == names else {}
    counts = [0] * len(names)
    for index in kept.values():
        counts[index] += 1
    for h in sorted({student_hash(s) for s in student_ids if s.strip()} - set(kept)):
        kept[h] = counts.index(min(counts))
        counts[kept[h]] += 1
    if not kept:
        raise ValueError("a plan needs at least one student id")
    return {"itft_atlas_plan": ATLAS_VERSION, "mode": library.mode, "assignments": names, "students": kept}


def usable_plan(plan: Mapping | None, library: AtlasLibrary) -> Mapping | None:
    """``plan`` when it is one for ``library``'s mode, else None: a plan for another mode's matrix says nothing
    about this one (an offline student under the class's Colab plan gets an assignment from the id)."""
    return plan if plan and plan.get("mode") == library.mode else None


def plan_label(plan: Mapping | None) -> str:
    """How a plan is named in what students hand in: a digest of its content, or "by id" without one."""
    if not plan:
        return "by id"
    return "plan-" + hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]


def assign(student_id: str, library: AtlasLibrary, plan: Mapping | None = None) -> Assignment:
    """What ``student_id`` runs: their assignment in ``plan`` when it names them, else one drawn from the id's
    hash (a late enrolment still contributes; replicates are then not guaranteed)."""
    if not student_id or not student_id.strip():
        raise ValueError("set STUDENT_ID to your student id (as in the file name you submit): it decides your cells")
    assignments, h = library.assignments, student_hash(student_id)
    plan = usable_plan(plan, library)
    if plan:
        if plan.get("assignments") != [a.name for a in assignments]:
            raise ValueError(f"the atlas plan ({plan_label(plan)}) was made for another matrix than this package's "
                             f"{library.mode} library: ask the course staff which package version to use")
        if h in plan["students"]:
            return assignments[plan["students"][h]]
    return assignments[int(h, 16) % len(assignments)]


def atlas_home() -> str | None:
    """The course's published atlas folder or URL (``ITFT_ATLAS_HOME``), if set."""
    return os.environ.get(HOME_VARIABLE) or None


def read_published(name: str, home: str | None = None) -> dict | None:
    """``name`` (``plan.json``, ``atlas.json``) from the course's atlas folder or URL; None when there is no
    such place or file yet, or when it cannot be reached (offline): then it says so and where it looked."""
    home = home or atlas_home()
    if not home:
        return None
    if not home.startswith(("http://", "https://")):
        path = Path(home) / name
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except (OSError, ValueError) as exc:
            print(f"Could not read the course's {name} from {path} ({exc}): going on without it.")
            return None
    url = f"{home.rstrip('/')}/{name}"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:  # not published yet
            return None
        print(f"Could not read the course's {name} from {url} (HTTP {exc.code}): going on without it.")
    except (OSError, ValueError) as exc:
        print(f"Could not read the course's {name} from {url} ({exc}): going on without it (offline?).")
    return None


def course_plan() -> dict | None:
    """The course's plan as published now (``plan.json`` in :func:`atlas_home`), else one shipped in the
    package, else None (assignments from the id)."""
    published = read_published("plan.json")
    if published is not None:
        return published
    return json.loads(PLAN.read_text(encoding="utf-8")) if PLAN.exists() else None


def atlas_output(student_id: str, library: AtlasLibrary, assignment: Assignment, cells: list[dict], plan: str) -> dict:
    """The notebook output that carries the finished cells to the grader (display it with raw=True)."""
    payload = {"itft_atlas": ATLAS_VERSION, "student_id": student_id.strip(), "mode": library.mode, "plan": plan,
               "assignment": assignment.name, "cells": cells}
    summary = "\n".join(f"  {c['source'] or 'baseline'} -> {c['target']}, seed {c['seed']}: {c['metric']} {c['score']:.3g}"
                        for c in cells)
    return {ATLAS_MIME: payload,
            "text/plain": f"Class atlas: {len(cells)} cell(s) of student {student_id} ({assignment.name}; {plan}) stored in "
                          f"this notebook\n{summary}"}


def run_atlas_cells(student_id: str, library: AtlasLibrary, out_dir: str | Path, plan: Mapping | None = None) -> dict:
    """Run (or resume) the student's assignment (from ``plan``, default :func:`course_plan`) in this runtime
    and return the output that stores it in the notebook: ``display(output, raw=True)``."""
    plan = usable_plan(plan if plan is not None else course_plan(), library)
    from .homework import prepare_task
    from .transfer import run_transfer_matrix

    mine = assign(student_id, library, plan)
    cells = run_transfer_matrix([library.sources[s] for s in mine.sources], [library.targets[mine.target]], [mine.seed],
                                out_dir, library.model, library.config, library.settings,
                                prepare=lambda spec: prepare_task(spec, library.data_dir))
    return atlas_output(student_id, library, mine, cells, plan_label(plan))


def rankings_output(target: str, transfers: str, rankings: Mapping[str, Iterable[str]]) -> dict:
    """Homework 3's rankings as a notebook output (display it with raw=True): the class's estimator
    leaderboard harvests them from the submitted notebooks (``itft atlas --rankings-from``)."""
    payload = {"itft_rankings": ATLAS_VERSION, "target": target, "transfers": str(transfers),
               "rankings": {method: list(ranking) for method, ranking in rankings.items()}}
    return {ATLAS_MIME: payload, "text/plain": f"Your rankings for {target}, stored in this notebook for the class's "
                                               "estimator leaderboard"}


def where_you_stand(output: Mapping, atlas: Mapping | None = None) -> str:
    """Feedback on an assignment's cells (:func:`run_atlas_cells`'s output) against the class matrix
    (``atlas``, default the interim ``atlas.json`` the course publishes): your baseline against the class's
    for the same target and seed, and each of your paired gains against the class's, in points."""
    payload = output.get(ATLAS_MIME, output)
    atlas = atlas if atlas is not None else read_published("atlas.json")
    if not atlas:
        return "The course has not published an interim class matrix yet: rerun this cell after it has."
    cells = payload["cells"]
    base = next((c for c in cells if c["source"] is None), None)
    if base is None:
        return "Your assignment has no finished baseline, so your sources cannot be compared: rerun the cell above."
    target, seed = base["target"], str(base["seed"])
    mode = atlas.get("library", {}).get("mode")
    if mode and mode != payload.get("mode"):
        return f"The class matrix was run in {mode} mode, your cells in {payload.get('mode')} mode: they are not comparable."
    result = atlas.get("targets", {}).get(target)
    if not result:
        return f"The interim matrix has no cells for {target} yet."
    class_base = result.get("per_seed", {}).get("baseline", {}).get(seed)
    lines = [f"Your cells against the class's ({target}, seed {seed}; points; the class's gains are paired within students):",
             f"  baseline: yours {points(base):.1f}, the class's median " + ("-" if class_base is None else f"{class_base:.1f}")]
    for c in cells:
        if c["source"] is None:
            continue
        gain, theirs = points(c) - points(base), result.get("gains", {}).get(c["source"])
        if theirs is None:
            lines.append(f"  {c['source']}: your gain {gain:+.1f}; the class has no paired cells for it yet")
            continue
        low_high = theirs.get("interval")
        spread = f"95 % interval [{low_high[0]:+.1f}, {low_high[1]:+.1f}]" if low_high else theirs.get("note", "")
        lines.append(f"  {c['source']}: your gain {gain:+.1f}; the class's {theirs['mean']:+.1f} over {theirs['n']} seeds "
                     f"({spread}; {theirs.get('pairs', '?')} students' pairs)")
    return "\n".join(lines)
