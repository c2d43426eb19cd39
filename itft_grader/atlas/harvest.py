"""The class transfer atlas, the grader's side: harvest the cells students stored in their Homework 2
notebooks, validate each, aggregate the class matrix (sources x targets x seeds).

Cells are read from ``originals/`` (the notebooks exactly as submitted: autograding re-executes a
copy, and its outputs are the grader's, not the student's). Every cell ends in exactly one place:
``valid`` (aggregated) or ``invalid`` with its reasons, each row naming the student and the file;
nothing is dropped silently. Checks per cell: it belongs to the library; its configuration key is
the one the library's settings give (:meth:`itft_utils.atlas.AtlasLibrary.key`); its score agrees with
its own metrics and last evaluation (a hand-edited number does not); library versions are recorded
and not a known-broken tokenizers release; values in range; its batch order agrees with the class
consensus for its (target, seed), since every run of a seed sees the same batches. Across the class:
duplicates further than ``tolerance`` from their median are flagged (the median is used), and
assigned cells that no one handed in are listed.
"""
from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from itft_grader.checks.references import mean_interval, paired_summary
from itft_utils.atlas import ATLAS_MIME, ATLAS_VERSION, AtlasCell, AtlasLibrary, assign_cells

REQUIRED = ("target", "source", "seed", "metric", "score", "metrics", "curve", "key", "batch_order", "versions")
BROKEN_TOKENIZERS = ("0.23.1", "0.23.2")  # they drop the windows of long QA contexts


@dataclass
class Harvested:
    """One cell as a student handed it in, and what the atlas made of it."""

    student_id: str
    file: str
    cell: dict
    reasons: list[str] = field(default_factory=list)  # why it is invalid (empty: valid)
    flags: list[str] = field(default_factory=list)  # valid, but worth a look (not assigned, duplicates disagree)

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def name(self) -> str:
        c = self.cell
        return f"{c.get('source') or 'baseline'}->{c.get('target')}@{c.get('seed')}"


@dataclass
class Harvest:
    cells: list[Harvested]
    problems: list[dict]  # submissions that could not be read, or claim another student's id: {student_id, file, problem}
    missing: list[dict]  # assigned cells nobody handed in: {cell, students}


def _payloads(notebook: dict) -> list[dict]:
    """The atlas outputs of a notebook (any cell, display or result), in order."""
    found = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data", {}) if isinstance(output, dict) else {}
            payload = data.get(ATLAS_MIME)
            if isinstance(payload, dict) and "itft_atlas" in payload:
                found.append(payload)
    return found


def check_cell(cell: object, library: AtlasLibrary) -> list[str]:
    """Why ``cell`` cannot be trusted on its own (empty: it can)."""
    if not isinstance(cell, dict):
        return [f"not a cell record ({type(cell).__name__})"]
    missing = [k for k in REQUIRED if k not in cell]
    if missing:
        return [f"fields missing: {', '.join(missing)}"]
    reasons = []
    source, target, seed = cell["source"], cell["target"], cell["seed"]
    known = {(c.source, c.target, c.seed) for c in library.cells}
    if (source, target, seed) not in known:
        return [f"not a cell of the atlas library ({source or 'baseline'} -> {target}, seed {seed})"]
    if cell["key"] != library.key(AtlasCell(source, target, seed)):
        reasons.append("configuration differs from the library's (its key does not match the fixed settings)")
    score, metric = cell["score"], cell["metric"]
    if not isinstance(score, (int, float)) or not math.isfinite(score) or not 0 <= score <= 100:
        reasons.append(f"score {score!r} out of range")
    else:
        last = cell["curve"][-1].get(metric) if cell["curve"] and isinstance(cell["curve"][-1], dict) else None
        if cell["metrics"].get(metric) != score or (last is not None and abs(last - score) > 1e-6):
            reasons.append(f"score {score:.2f} disagrees with its own metrics ({cell['metrics'].get(metric)!r}) "
                           f"or its last evaluation ({last!r}): edited by hand?")
    versions = cell["versions"] if isinstance(cell["versions"], dict) else {}
    if not {"torch", "transformers"} <= set(versions):
        reasons.append("library versions not recorded")
    elif versions.get("tokenizers") in BROKEN_TOKENIZERS:
        reasons.append(f"tokenizers {versions['tokenizers']} drops the windows of long QA contexts")
    return reasons


def harvest(grading_dir: str | Path, library: AtlasLibrary, plan: Mapping[str, list[int]] | None = None,
            tolerance: float = 2.0) -> Harvest:
    """Read, check and cross-check every atlas cell in ``grading_dir/originals`` (see the module docstring)."""
    originals = Path(grading_dir) / "originals"
    manifest = json.loads((originals / "manifest.json").read_text(encoding="utf-8"))
    cells: list[Harvested] = []
    problems: list[dict] = []
    students: dict[str, str] = {}
    for entry in manifest:
        sid, name = entry.get("student_id"), entry.get("kept_as") or entry.get("file")
        if not sid or not name or not name.endswith(".ipynb"):
            continue
        students[sid] = name
        try:
            notebook = json.loads((originals / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append({"student_id": sid, "file": name, "problem": f"unreadable notebook: {exc}"})
            continue
        for payload in _payloads(notebook) if isinstance(notebook, dict) else []:
            claimed = str(payload.get("student_id", "")).strip()
            if payload.get("itft_atlas") != ATLAS_VERSION:
                problems.append({"student_id": sid, "file": name, "problem": f"atlas format {payload.get('itft_atlas')!r}"})
                continue
            if claimed != sid:
                problems.append({"student_id": sid, "file": name, "problem": f"cells stored under student id "
                                 f"{claimed!r}, not the file's {sid!r}: copied from another notebook? (not counted)"})
                continue
            assigned = {c.name for c in assign_cells(sid, library, plan)}
            for cell in payload.get("cells", []):
                item = Harvested(sid, name, cell if isinstance(cell, dict) else {"raw": cell}, check_cell(cell, library))
                if item.valid and item.name not in assigned:
                    item.flags.append("not among the student's assigned cells")
                cells.append(item)
    _cross_check(cells, tolerance)
    handed_in = {c.name for c in cells if c.valid}
    wanted: dict[str, list[str]] = defaultdict(list)
    for sid in students:
        for cell in assign_cells(sid, library, plan):
            wanted[cell.name].append(sid)
    missing = [{"cell": name, "students": sorted(sids)} for name, sids in sorted(wanted.items()) if name not in handed_in]
    return Harvest(cells, problems, missing)


def _cross_check(cells: list[Harvested], tolerance: float) -> None:
    """Batch order against the class consensus per (target, seed); duplicates that disagree."""
    orders: dict[tuple, Counter] = defaultdict(Counter)
    for c in cells:
        if c.valid:
            orders[(c.cell["target"], c.cell["seed"])][c.cell["batch_order"]] += 1
    for c in cells:
        if c.valid:
            votes = orders[(c.cell["target"], c.cell["seed"])]
            consensus, count = votes.most_common(1)[0]
            if c.cell["batch_order"] != consensus and count > 1:
                c.reasons.append(f"batch order {c.cell['batch_order']} differs from the class's {consensus} "
                                 f"({count} cells): other data or another data order")
    groups: dict[str, list[Harvested]] = defaultdict(list)
    for c in cells:
        if c.valid:
            groups[c.name].append(c)
    for group in groups.values():
        scores = [c.cell["score"] for c in group]
        middle = statistics.median(scores)
        for c in group:  # with two duplicates both are flagged: nothing says which one is right
            if len(group) > 1 and abs(c.cell["score"] - middle) > tolerance:
                c.flags.append(f"duplicates disagree: {c.cell['score']:.1f} against the median {middle:.1f} of "
                               f"{len(group)} (tolerance {tolerance:g}); the median is used")


def aggregate(cells: list[Harvested]) -> dict[str, dict]:
    """Per target, the matrix in :class:`itft_utils.selection.TransferResults`'s file format plus
    intervals: ``per_seed`` (the median of a cell's duplicates), ``scores`` (mean over seeds),
    ``intervals`` (95 % t half-width) and ``gains`` (paired differences to the baseline per seed:
    mean, std, n, sign-flip p)."""
    values: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    metric: dict[str, str] = {}
    for c in cells:
        if c.valid:
            values[c.cell["target"]][c.cell["source"] or "baseline"][int(c.cell["seed"])].append(float(c.cell["score"]))
            metric[c.cell["target"]] = c.cell["metric"]
    out = {}
    for target, runs in sorted(values.items()):
        per_seed = {run: {seed: statistics.median(v) for seed, v in sorted(seeds.items())} for run, seeds in sorted(runs.items())}
        stats = {run: mean_interval(list(seeds.values())) for run, seeds in per_seed.items()}
        base = per_seed.get("baseline", {})
        gains = {run: paired_summary(seeds, base) for run, seeds in per_seed.items()
                 if run != "baseline" and set(seeds) & set(base)}
        out[target] = {
            "target": target, "metric": metric[target], "baseline": stats["baseline"][0] if "baseline" in stats else None,
            "scores": {run: m for run, (m, _) in stats.items() if run != "baseline"},
            "intervals": {run: h for run, (_, h) in stats.items()},
            "per_seed": {run: {str(s): v for s, v in seeds.items()} for run, seeds in per_seed.items()},
            "gains": gains,
            "note": f"the class atlas: {sum(len(s) for s in per_seed.values())} (run, seed) cells for {target}, "
                    "each the median of the students who ran it",
        }
    return out


def leaderboard(targets: Mapping[str, dict]) -> list[dict]:
    """The best intermediate task per target: its score (mean over seeds, 95 % t half-width), its paired
    gain over the baseline in points and relative to the baseline, and the gain's sign-flip p-value."""
    rows = []
    for target, result in targets.items():
        if result["scores"]:
            best = max(result["scores"], key=result["scores"].get)
            paired = result["gains"].get(best, {})
            rows.append({"target": target, "best_source": best, "score": result["scores"][best],
                         "interval": result["intervals"].get(best), "gain": paired.get("mean"),
                         "relative_gain_pct": 100 * paired["gain"] if "gain" in paired else None,
                         "p_sign_flip": paired.get("p_value"), "seeds": paired.get("n")})
    return rows


def score_estimators(targets: Mapping[str, dict], rankings: Mapping[str, Mapping[str, list[str]]], k: int = 3,
                     n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """The transferability estimators' leaderboard on the class matrix: per method (``rankings``:
    {method: {target: sources, best first}}), NDCG@k and regret@1 averaged over the targets, each with
    a 95 % bootstrap interval that resamples every source's seeds (and the targets) with replacement,
    so that it shows how much of a method's lead is seed noise. Best NDCG first."""
    import numpy as np

    from itft_grader.checks.references import ndcg_at_k, regret_at_k

    rng = np.random.default_rng(seed)
    names = [t for t in targets if targets[t]["scores"]]

    def metrics(scores_by_target: Mapping[str, Mapping[str, float]], method: str, chosen: list[str]) -> tuple[float, float]:
        ndcg, regret = [], []
        for t in chosen:
            ranking = [s for s in rankings[method].get(t, []) if s in scores_by_target[t]]
            if ranking:
                ndcg.append(ndcg_at_k(ranking, scores_by_target[t], k))
                regret.append(regret_at_k(ranking, scores_by_target[t], 1))
        return (float(np.mean(ndcg)) if ndcg else float("nan"), float(np.mean(regret)) if regret else float("nan"))

    def resample() -> tuple[dict, list[str]]:
        drawn = {t: {s: float(np.mean(rng.choice(list(v.values()), len(v))))
                     for s, v in targets[t]["per_seed"].items() if s != "baseline"} for t in names}
        return drawn, list(rng.choice(names, len(names))) if names else []

    observed = {t: dict(targets[t]["scores"]) for t in names}
    boots = [resample() for _ in range(n_boot)]
    rows = []
    for method in rankings:
        ndcg, regret = metrics(observed, method, names)
        draws = np.array([metrics(scores, method, chosen) for scores, chosen in boots])
        low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0) if len(draws) else ([np.nan] * 2, [np.nan] * 2)
        rows.append({"method": method, f"ndcg@{k}": ndcg, f"ndcg@{k}_interval": [float(low[0]), float(high[0])],
                     "regret@1": regret, "regret@1_interval": [float(low[1]), float(high[1])], "targets": len(names)})
    return sorted(rows, key=lambda r: (math.isnan(r[f"ndcg@{k}"]), -r[f"ndcg@{k}"]))
