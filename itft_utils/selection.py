"""Choosing an intermediate task: rank candidate sources by the cosine of their embeddings to the
target's, and score a ranking against measured transfers (Homework 2's results) next to two
baselines, DataSize and random.

NDCG@k and regret@k are Homework 3's exercises: :func:`selection_table` takes them as arguments.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------
# Similarity and ranking
# ---------------------------------------------------------------------------------------------

def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b); 0.0 when either vector is all zeros."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"vectors of different sizes: {a.shape[0]} and {b.shape[0]}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def similarity_matrix(vectors: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Task names (in the mapping's order) and their pairwise cosine similarities."""
    names = list(vectors)
    sim = np.array([[cosine_similarity(vectors[a], vectors[b]) for b in names] for a in names])
    return names, sim


def rank_sources(target: str, vectors: Mapping[str, np.ndarray], sources: Iterable[str] | None = None) -> list[tuple[str, float]]:
    """Candidate sources for ``target``, most similar first: [(name, cosine)], the target itself left
    out; ties broken by name so the ranking is deterministic."""
    if target not in vectors:
        raise KeyError(f"no vector for target {target!r}; have {sorted(vectors)}")
    names = [s for s in (sources if sources is not None else vectors) if s != target]
    missing = [s for s in names if s not in vectors]
    if missing:
        raise KeyError(f"no vectors for sources {missing}; have {sorted(vectors)}")
    scored = [(s, cosine_similarity(vectors[target], vectors[s])) for s in names]
    return sorted(scored, key=lambda pair: (-pair[1], pair[0]))


# ---------------------------------------------------------------------------------------------
# Scoring a ranking against measured transfers
# ---------------------------------------------------------------------------------------------

def _measured(ranking: Sequence[str], scores: Mapping[str, float]) -> list[str]:
    """The ranking restricted to sources with a measured transfer; every measured source must be ranked."""
    ranked = [s for s in ranking if s in scores]
    missing = sorted(set(scores) - set(ranked))
    if missing:
        raise ValueError(f"the ranking leaves out measured sources {missing}")
    if len(set(ranked)) != len(ranked):
        raise ValueError(f"the ranking names a source twice: {ranked}")
    return ranked


def relevance_from_scores(scores: Mapping[str, float]) -> dict[str, float]:
    """NDCG relevance of each source: its target score minus the worst source's (so >= 0, and the
    worst source counts nothing)."""
    low = min(scores.values())
    return {s: float(v - low) for s, v in scores.items()}


def best_source_rank(ranking: Sequence[str], scores: Mapping[str, float]) -> int:
    """Position (1 = first) of the best measured source in ``ranking``; ties: the earliest one."""
    ranked = _measured(ranking, scores)
    best = max(scores.values())
    return 1 + min(i for i, s in enumerate(ranked) if scores[s] == best)


def datasize_ranking(sizes: Mapping[str, int]) -> list[str]:
    """The DataSize baseline: largest training set first (ties by name)."""
    return sorted(sizes, key=lambda s: (-sizes[s], s))


def random_ranking(sources: Iterable[str], seed: int = 0) -> list[str]:
    """The random baseline: a seeded shuffle (sorted first, so the input order does not matter)."""
    order = sorted(sources)
    random.Random(seed).shuffle(order)
    return order


def selection_table(rankings: Mapping[str, Sequence[str]], scores: Mapping[str, float], ndcg: Callable, regret: Callable,
                    k: int = 3, random_expected: bool = False) -> list[dict]:
    """One row per method: NDCG@k, regret@1, regret@k, rank of the best source, the top pick.

    ``ndcg(ranking, scores, k)`` and ``regret(ranking, scores, k)`` are Homework 3's exercises, passed
    in (the student's, or the grading package's references). ``random_expected`` adds a "random" row:
    each value's exact expectation over uniformly random orders (:func:`top_k_orders`; the rank of the
    earliest of m tied best sources among n has mean (n + 1) / (m + 1)).
    """
    def row(method: str, ranking: Sequence[str]) -> dict:
        ranked = _measured(ranking, scores)
        return {"method": method, f"ndcg@{k}": ndcg(ranked, scores, k), "regret@1": regret(ranked, scores, 1),
                f"regret@{k}": regret(ranked, scores, k), "best_rank": best_source_rank(ranked, scores), "top": ranked[0]}

    rows = [row(m, r) for m, r in rankings.items()]
    if random_expected:
        draws = [row("random", ranking) for ranking in top_k_orders(scores, k)]
        tied_best = sum(v == max(scores.values()) for v in scores.values())  # the earliest of them counts
        rows.append({"method": "random (expected)",
                     **{key: float(np.mean([d[key] for d in draws])) for key in (f"ndcg@{k}", "regret@1", f"regret@{k}")},
                     "best_rank": (len(scores) + 1) / (tied_best + 1), "top": "-"})
    return rows


def top_k_orders(sources: Iterable[str], k: int) -> list[list[str]]:
    """One ranking per ordered choice of the first ``k`` sources (the rest in name order): under a uniformly
    random order each is equally likely, so a metric that reads only the first k averages exactly over them."""
    names = sorted(sources)
    return [[*top, *(s for s in names if s not in top)] for top in itertools.permutations(names, min(k, len(names)))]


# ---------------------------------------------------------------------------------------------
# Measured transfers (Homework 2's results)
# ---------------------------------------------------------------------------------------------

@dataclass
class TransferResults:
    """Target scores after intermediate training on each source (Homework 2's measurements).

    File format (JSON): ``{"target": str, "metric": str, "baseline": float (no intermediate task),
    "scores": {source: target score after source -> target}, "source_sizes": {source: training
    examples}, "note": str}``.
    """

    target: str
    metric: str
    baseline: float | None
    scores: dict[str, float]
    source_sizes: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def gains(self) -> dict[str, float]:
        if self.baseline is None:
            raise ValueError("these results have no baseline (target trained without an intermediate task)")
        return {s: v - self.baseline for s, v in self.scores.items()}


RESOURCES = Path(__file__).resolve().parent / "resources"
DEFAULT_TRANSFER_RESULTS = RESOURCES / "transfer_results_default.json"


def transfer_results_from_rows(rows: Sequence[Mapping], target: str | None = None, note: str = "") -> TransferResults:
    """Results from Homework 2's summary rows (``transfer.transfer_table``: one row per (target,
    source) with ``mean`` over seeds, and ``paired_mean`` where it has one; ``source`` None is the baseline). ``target`` picks one target
    when the rows hold several."""
    targets = sorted({r["target"] for r in rows})
    if target is None:
        if len(targets) != 1:
            raise ValueError(f"the results hold targets {targets}: pass target=")
        target = targets[0]
    mine = [r for r in rows if r["target"] == target]
    if not mine:
        raise ValueError(f"no results for target {target!r}; targets: {targets}")
    baseline = next((float(r["mean"]) for r in mine if r["source"] is None), None)
    # Seed-paired where the rows have it: sources measured on different seeds compare on one footing.
    scores = {r["source"]: float(r.get("paired_mean", r["mean"])) for r in mine if r["source"] is not None}
    return TransferResults(target, mine[0]["metric"], baseline, scores, {}, note)


def load_transfer_results(path: str | Path | None = None, target: str | None = None,
                          seeds: Iterable[int] | None = None) -> TransferResults:
    """Measured transfers from ``path``: a JSON file in :class:`TransferResults`'s format, a JSON list
    of Homework 2's summary rows, Homework 2's output folder (its ``cells/``), or the class atlas
    (``atlas.json`` of ``itft atlas``, a file or an http(s) URL, or by name: ``"atlas"`` is the one the course
    publishes, :func:`itft_utils.atlas.read_published`; ``target`` picks one of its targets). ``None`` reads
    the grading-mode default shipped with the package (tiny model, generated tasks: NOT real-data results).
    ``seeds`` keeps only those seeds' cells of an output folder (a results table stays reproducible while
    more seeds are added to the folder)."""
    if path == "atlas":
        from .atlas import HOME_VARIABLE, atlas_home, read_published

        published = read_published("atlas.json")
        if published is None:
            raise FileNotFoundError(f"the course has not published the class atlas yet (no atlas.json in "
                                    f"{HOME_VARIABLE}={atlas_home()!r}): use your Homework 2 runs for now")
        return _from_json(published, target, f"{atlas_home()}/atlas.json")
    if isinstance(path, str) and path.startswith(("http://", "https://")):
        import urllib.request

        with urllib.request.urlopen(path, timeout=30) as response:
            return _from_json(json.loads(response.read().decode("utf-8")), target, path)
    path = Path(path) if path is not None else DEFAULT_TRANSFER_RESULTS
    if path.is_dir():
        from .transfer import (  # Homework 2's own reader of its cells
            load_cells,
            transfer_table,
        )

        cells = load_cells(path, seeds)
        if not cells:
            raise FileNotFoundError(f"{path}: no cells/<target>/*.json; expected Homework 2's output folder")
        results = transfer_results_from_rows(transfer_table(cells), target, f"measured by Homework 2 in {path}")
        # DataSize ranks by the examples each transfer trained on (its budget), not by the full training set.
        budgets = {c["source"]: c["source_spec"]["n_train"] for c in cells
                   if c["source"] and c.get("target") == results.target and (c.get("source_spec") or {}).get("n_train")}
        return replace(results, source_sizes=budgets)
    return _from_json(json.loads(path.read_text()), target, path)


def _from_json(data, target: str | None, path: str | Path) -> TransferResults:
    if isinstance(data, list):
        return transfer_results_from_rows(data, target, f"Homework 2's summary rows in {path}")
    if "itft_atlas" in data:  # the class atlas: one results block per target
        targets = data.get("targets", {})
        if target is None and len(targets) != 1:
            raise ValueError(f"{path}: the atlas holds targets {sorted(targets)}: pass target=")
        if (target or next(iter(targets))) not in targets:
            raise ValueError(f"{path}: the atlas has no cells for target {target!r}; targets: {sorted(targets)}")
        data = {**targets[target or next(iter(targets))]}
        data["note"] = f"the class atlas ({path}): {data.get('note', '')}"
    missing = [k for k in ("target", "metric", "scores") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; expected target, metric, scores (and baseline, source_sizes)")
    if target is not None and data["target"] != target:
        raise ValueError(f"{path} holds results for target {data['target']!r}, not {target!r}")
    return TransferResults(data["target"], data["metric"], data.get("baseline"),
                           {s: float(v) for s, v in data["scores"].items()},
                           {s: int(v) for s, v in data.get("source_sizes", {}).items()}, data.get("note", ""))


def fill_missing(results: TransferResults, fallback: TransferResults, wanted: Iterable[str]) -> tuple[TransferResults, list[str]]:
    """``results`` with the sources in ``wanted`` that it lacks taken from ``fallback`` (the same target),
    and the names taken. An interrupted Homework 2 (say, only its baseline finished) then still gives
    Homework 3 sources to rank; the note says which numbers come from the other run. The other run may
    have used another encoder and other target data (the course's MiniLM on local SQuAD-1k against a
    student's BERT-Small in Colab), so a taken score keeps its *relative* gain over that run's baseline and is
    put on the scale of this run's baseline; without a baseline here, the other run's scores are taken as they are."""
    if fallback.target != results.target:
        raise ValueError(f"the fallback is for target {fallback.target!r}, the results for {results.target!r}")
    taken = sorted(s for s in wanted if s not in results.scores and s in fallback.scores and s != results.target)
    if not taken:
        return results, []
    scale = results.baseline / fallback.baseline if results.baseline and fallback.baseline else 1.0
    rescaled = f", rescaled by this run's baseline over that run's ({scale:.3f}: relative gains kept)" if scale != 1.0 else ""
    note = f"{results.note} Taken from another run ({fallback.note[:80]}...){rescaled}: {', '.join(taken)}."
    return replace(results, scores={**results.scores, **{s: fallback.scores[s] * scale for s in taken}},
                   source_sizes={**results.source_sizes, **{s: fallback.source_sizes[s] for s in taken if s in fallback.source_sizes}},
                   baseline=results.baseline if results.baseline is not None else fallback.baseline, note=note), taken


def packaged_transfer_results(target: str) -> TransferResults:
    """The measured transfers shipped with the package for ``target``
    (``itft_utils/resources/transfer_results_*.json``): the grading-mode default for ``gen_qa``, and
    real-data results where they have been added."""
    for path in sorted(RESOURCES.glob("transfer_results_*.json")):
        if json.loads(path.read_text()).get("target") == target:
            return load_transfer_results(path)
    raise FileNotFoundError(f"no packaged transfer results for target {target!r} in {RESOURCES}: pass Homework 2's "
                            "output folder (the one holding cells/) or a results file to load_transfer_results")


def homework2_results(folder: str | Path, target: str, wanted: Iterable[str]) -> tuple[TransferResults, str]:
    """Homework 3's transfers for ``target`` from whatever Homework 2 left in ``folder`` (its runs
    folder), and one line saying which results were used and why. The target's own cells
    (``cells/<target>/*.json``) come first, the sources in ``wanted`` they lack taken from the course's
    recorded run (:func:`fill_missing`); a missing, empty, unfinished (``.tmp`` files only),
    foreign-target or unreadable folder gives the course's recorded run for ``target``. Homework 2 is
    often run weeks earlier, in another runtime, on another target: nothing it left may stop Homework 3."""
    recorded = packaged_transfer_results(target)
    cells = Path(folder) / "cells"
    if not any((cells / target).glob("*.json")):
        others = sorted(p.name for p in cells.iterdir() if p.is_dir() and any(p.glob("*.json"))) if cells.is_dir() else []
        unfinished = cells.is_dir() and any(cells.rglob("*.tmp"))
        why = (f"Homework 2's finished runs in {folder} are for {', '.join(others)}, not {target}" if others else
               f"Homework 2 left only unfinished files in {cells} (interrupted during its first write?)" if unfinished else
               f"no Homework 2 runs in {folder}")
        return recorded, f"transfer results: the course's recorded run for {target}, because {why}"
    try:
        mine = load_transfer_results(folder, target=target)
    except (ValueError, KeyError, TypeError, OSError) as exc:  # a damaged cell file (json's errors are ValueErrors)
        return recorded, (f"transfer results: the course's recorded run for {target}, because Homework 2's runs in {folder} "
                          f"could not be read ({type(exc).__name__}: {exc})")
    mine, taken = fill_missing(mine, recorded, wanted)
    line = f"transfer results: your Homework 2 runs in {folder} ({target})"
    if taken:
        line += (f"; not in them, taken from the course's recorded run: {', '.join(taken)} (another encoder and other data: "
                 "each keeps its relative gain, put on your baseline's scale; read them with care)")
    return mine, line
