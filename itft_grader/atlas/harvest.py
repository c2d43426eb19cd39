"""The class transfer atlas, the grader's side: harvest the cells students stored in their Homework 2
notebooks, validate each, aggregate the class matrix (targets x sources x seeds).

Cells are read from ``originals/`` (the notebooks exactly as submitted: autograding re-executes a
copy, and its outputs are the grader's, not the student's). Every cell ends in exactly one place:
``valid`` (aggregated) or ``invalid`` with its reasons, each row naming the student and the file;
nothing is dropped silently. Checks per cell: it belongs to the library; its configuration key is
the one the library's settings give (:meth:`itft_utils.atlas.AtlasLibrary.key`); its score agrees with
its own metrics and last evaluation (a hand-edited number does not); library versions are recorded
and not a known-broken tokenizers release; values in range; its batch order agrees with the class
consensus for its (target, seed), since every run of a seed sees the same batches.

Across the class (:func:`judge_replicates`): the replicates of a cell are judged against a tolerance
derived from their own spread (provisional until the class has enough); with three or more the median
is used and an outlier set aside, two that disagree are both set aside until a third runs. Gains are
paired **within a student** (:func:`aggregate`): each source cell against the same student's baseline of
the same seed, run on the same machine; a cell without one is not paired. Assigned cells that no one
handed in are listed.
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
from itft_utils.atlas import ATLAS_MIME, ATLAS_VERSION, AtlasCell, AtlasLibrary, assign, plan_label, points

REQUIRED = ("target", "source", "seed", "metric", "score", "metrics", "curve", "key", "batch_order", "versions")
BROKEN_TOKENIZERS = ("0.23.1", "0.23.2")  # they drop the windows of long QA contexts
#: The replicate tolerance, in points, until the class's replicates measure their own spread: the one
#: cross-device spread the project holds (bench/RESULTS.md section 3: seed 0's SQuAD-1k baseline 3.9 F1
#: apart on an H100 in bf16 and on this CPU, other batches too). Provisional: a class's replicates replace it.
PROVISIONAL_TOLERANCE = 3.9
MIN_DEVIATIONS = 30  # replicate deviations needed before the class's own spread sets the tolerance
SPREADS = 4.0  # how many robust standard deviations a replicate may stray from its cell's median
MIN_SEEDS = 2  # seeds a gain needs before it gets an interval and enters the estimators' scores


@dataclass
class Harvested:
    """One cell as a student handed it in, and what the atlas made of it."""

    student_id: str
    file: str
    cell: dict
    reasons: list[str] = field(default_factory=list)  # why it is invalid (empty: valid)
    flags: list[str] = field(default_factory=list)  # valid, but worth a look (not assigned, another plan, replicates)
    set_aside: bool = False  # valid, but not used: an outlier among its replicates, or one of two that disagree

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def used(self) -> bool:
        return self.valid and not self.set_aside

    @property
    def name(self) -> str:
        c = self.cell
        return f"{c.get('source') or 'baseline'}->{c.get('target')}@{c.get('seed')}"


@dataclass
class Harvest:
    cells: list[Harvested]
    problems: list[dict]  # submissions that could not be read, or claim another student's id: {student_id, file, problem}
    missing: list[dict]  # assigned cells nobody handed in: {cell, students}
    tolerance: dict = field(default_factory=dict)  # how replicates were judged: value, basis, measured spreads
    plan: str = "by id"  # the plan the grader expected (plan_label)


def _payloads(notebook: dict, marker: str = "itft_atlas") -> list[dict]:
    """The outputs of a notebook carrying ``marker`` (the atlas cells; Homework 3's rankings), in order."""
    found = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data", {}) if isinstance(output, dict) else {}
            payload = data.get(ATLAS_MIME)
            if isinstance(payload, dict) and marker in payload:
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


def harvest(grading_dir: str | Path, library: AtlasLibrary, plan: Mapping | None = None,
            tolerance: float | None = None) -> Harvest:
    """Read, check and cross-check every atlas cell in ``grading_dir/originals`` (see the module docstring);
    ``tolerance`` (points) overrides the one derived from the replicates."""
    originals = Path(grading_dir) / "originals"
    manifest = json.loads((originals / "manifest.json").read_text(encoding="utf-8"))
    expected_plan = plan_label(plan)
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
                problems.append({"student_id": sid, "file": name, "problem": f"atlas format {payload.get('itft_atlas')!r}, "
                                 f"not {ATLAS_VERSION}: made by another version of the package (not counted)"})
                continue
            if claimed != sid:
                problems.append({"student_id": sid, "file": name, "problem": f"cells stored under student id "
                                 f"{claimed!r}, not the file's {sid!r}: copied from another notebook? (not counted)"})
                continue
            assigned = {c.name for c in assign(sid, library, plan).cells}
            for cell in payload.get("cells", []):
                item = Harvested(sid, name, cell if isinstance(cell, dict) else {"raw": cell}, check_cell(cell, library))
                if item.valid and payload.get("plan") != expected_plan:
                    item.flags.append(f"run under {payload.get('plan')!r}, not the course's {expected_plan!r}")
                if item.valid and item.name not in assigned:
                    item.flags.append("not among the student's assigned cells")
                cells.append(item)
    _check_batch_orders(cells)
    judged = judge_replicates(cells, tolerance)
    _flag_unpaired(cells)
    handed_in = {c.name for c in cells if c.valid}
    wanted: dict[str, list[str]] = defaultdict(list)
    for sid in students:
        for cell in assign(sid, library, plan).cells:
            wanted[cell.name].append(sid)
    missing = [{"cell": name, "students": sorted(sids)} for name, sids in sorted(wanted.items()) if name not in handed_in]
    return Harvest(cells, problems, missing, judged, expected_plan)


def _check_batch_orders(cells: list[Harvested]) -> None:
    """Batch order against the class consensus per (target, seed): every run of a seed sees the same batches."""
    orders: dict[tuple, Counter] = defaultdict(Counter)
    for c in cells:
        if c.valid:
            orders[(c.cell["target"], c.cell["seed"])][c.cell["batch_order"]] += 1
    for c in cells:
        if c.valid:
            consensus, count = orders[(c.cell["target"], c.cell["seed"])].most_common(1)[0]
            if c.cell["batch_order"] != consensus and count > 1:
                c.reasons.append(f"batch order {c.cell['batch_order']} differs from the class's {consensus} "
                                 f"({count} cells): other data or another data order")


def _robust_spread(deviations: list[float]) -> float:
    """The standard deviation a normal sample with these deviations' median absolute value would have."""
    return 1.4826 * statistics.median(abs(d) for d in deviations) if deviations else float("nan")


def judge_replicates(cells: list[Harvested], tolerance: float | None = None) -> dict:
    """Judge each cell's replicates (the valid copies of one cell, from different students) and set aside
    what disagrees; return how: the tolerance in points and its basis, and the replicates' measured
    spread on one device kind and across kinds."""
    groups: dict[str, list[Harvested]] = defaultdict(list)
    for c in cells:
        if c.valid:
            groups[c.name].append(c)
    across, within = [], []
    for group in groups.values():
        if len(group) >= 3:
            middle = statistics.median(points(c.cell) for c in group)
            across += [points(c.cell) - middle for c in group]
        by_kind: dict[str, list[float]] = defaultdict(list)
        for c in group:
            by_kind[str(c.cell.get("device", "unrecorded"))].append(points(c.cell))
        for values in by_kind.values():
            if len(values) >= 3:
                within += [v - statistics.median(values) for v in values]
    spread = {"within_kind": _robust_spread(within), "across_kinds": _robust_spread(across), "deviations": len(across)}
    if tolerance is not None:
        value, basis = tolerance, "given"
    elif len(across) >= MIN_DEVIATIONS:
        value = SPREADS * spread["across_kinds"]
        basis = f"{SPREADS:g} robust standard deviations of the class's {len(across)} replicate deviations"
    else:
        value, basis = PROVISIONAL_TOLERANCE, (f"provisional: {len(across)} replicate deviations (fewer than {MIN_DEVIATIONS}); "
                                               "the one cross-device spread measured (bench/RESULTS.md section 3)")
    for group in groups.values():
        scores = [points(c.cell) for c in group]
        middle = statistics.median(scores)
        if len(group) == 2 and abs(scores[0] - scores[1]) > value:
            for c in group:
                c.set_aside = True
                c.flags.append(f"its two replicates disagree ({scores[0]:.1f} and {scores[1]:.1f} points, tolerance "
                               f"{value:.1f}): neither is used until a third student runs the cell")
        elif len(group) >= 3:
            for c, score in zip(group, scores):
                if abs(score - middle) > value:
                    c.set_aside = True
                    c.flags.append(f"an outlier among {len(group)} replicates ({score:.1f} points against their median "
                                   f"{middle:.1f}, tolerance {value:.1f}): not used")
    return {"value": value, "basis": basis, **spread}


def _flag_unpaired(cells: list[Harvested]) -> None:
    """A source cell pairs only with its own student's baseline of the same seed (one machine, one precision)."""
    baselines = {(c.student_id, c.cell["target"], c.cell["seed"]) for c in cells if c.used and c.cell["source"] is None}
    for c in cells:
        if c.used and c.cell["source"] is not None and (c.student_id, c.cell["target"], c.cell["seed"]) not in baselines:
            c.flags.append("no used baseline of the same student and seed: not paired (its score counts, not its gain)")


def aggregate(cells: list[Harvested]) -> dict[str, dict]:
    """Per target, the matrix in :class:`itft_utils.selection.TransferResults`'s file format, in points,
    plus what it rests on. ``per_seed``: each run's median over its used replicates; ``baseline``: the
    baseline's mean over seeds. Each source is paired within students: its cell minus the same student's
    baseline of the same seed; per seed the median of those differences, ``paired_per_seed`` the baseline's
    median plus it, ``scores`` their mean over seeds (what Homework 3 ranks by); ``gains`` the paired
    summary over seeds (mean, std, sign-flip p, 95 % t interval, None below :data:`MIN_SEEDS` seeds with
    a note) and how many within-student pairs it rests on. A source cell with no used baseline of its
    own student (flagged by the harvest) is left out of the gains."""
    used = [c for c in cells if c.used]
    raw: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    own_baseline: dict[tuple, float] = {}
    metric: dict[str, str] = {}
    for c in used:
        target, seed = c.cell["target"], int(c.cell["seed"])
        raw[target][c.cell["source"] or "baseline"][seed].append(points(c.cell))
        metric[target] = c.cell["metric"]
        if c.cell["source"] is None:
            own_baseline[(c.student_id, target, seed)] = points(c.cell)
    diffs: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for c in used:
        if c.cell["source"] is None:
            continue
        key = (c.student_id, c.cell["target"], int(c.cell["seed"]))
        if key in own_baseline:  # else unpaired, flagged by the harvest
            diffs[key[1]][c.cell["source"]][key[2]].append(points(c.cell) - own_baseline[key])
    out = {}
    for target, runs in sorted(raw.items()):
        per_seed = {run: {seed: statistics.median(v) for seed, v in sorted(seeds.items())} for run, seeds in sorted(runs.items())}
        base = per_seed.get("baseline", {})
        paired = {source: {seed: base[seed] + statistics.median(d) for seed, d in sorted(by_seed.items()) if seed in base}
                  for source, by_seed in sorted(diffs[target].items())}
        gains = {}
        for source, scores in paired.items():
            if not scores:
                continue
            summary = paired_summary(scores, base)
            enough = summary["n"] >= MIN_SEEDS
            gains[source] = {**summary, "interval": summary["interval"] if enough else None,
                             "pairs": sum(len(d) for d in diffs[target][source].values()),
                             **({} if enough else {"note": f"too few seeds for an interval ({summary['n']})"})}
        stats = {run: mean_interval(list(seeds.values())) for run, seeds in per_seed.items()}
        out[target] = {
            "target": target, "metric": f"{metric[target]} in points", "baseline": stats["baseline"][0] if "baseline" in stats else None,
            "scores": {source: statistics.mean(s.values()) for source, s in paired.items() if s},
            "intervals": {run: h for run, (_, h) in stats.items()},
            "per_seed": {run: {str(s): v for s, v in seeds.items()} for run, seeds in per_seed.items()},
            "paired_per_seed": {source: {str(s): v for s, v in seeds.items()} for source, seeds in paired.items()},
            "gains": gains,
            "note": f"the class atlas: {sum(len(s) for s in per_seed.values())} (run, seed) cells for {target}, each the "
                    "median of the students who ran it; sources scored as the baseline plus their gain paired within students",
        }
    return out


def harvest_rankings(grading_dir: str | Path) -> tuple[dict[str, dict[str, list[list[str]]]], list[dict]]:
    """Homework 3's rankings as the class handed them in (``originals/`` of its grading folder, the
    output :func:`itft_utils.atlas.rankings_output` stored): {method: {target: [one ranking per student]}},
    and the submissions that hold none or a damaged one ({student_id, file, problem})."""
    originals = Path(grading_dir) / "originals"
    manifest = json.loads((originals / "manifest.json").read_text(encoding="utf-8"))
    rankings: dict[str, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    problems = []
    for entry in manifest:
        sid, name = entry.get("student_id"), entry.get("kept_as") or entry.get("file")
        if not sid or not name or not name.endswith(".ipynb"):
            continue
        try:
            notebook = json.loads((originals / name).read_text(encoding="utf-8"))
            found = _payloads(notebook, "itft_rankings")[-1:] if isinstance(notebook, dict) else []  # the last one counts
        except (OSError, ValueError) as exc:
            problems.append({"student_id": sid, "file": name, "problem": f"unreadable notebook: {exc}"})
            continue
        if not found:
            problems.append({"student_id": sid, "file": name, "problem": "no rankings stored (the transfer cell never ran?)"})
            continue
        payload = found[0]
        if not isinstance(payload.get("rankings"), dict) or not isinstance(payload.get("target"), str):
            problems.append({"student_id": sid, "file": name, "problem": "rankings damaged (not counted)"})
            continue
        for method, ranking in payload["rankings"].items():
            if isinstance(ranking, list) and all(isinstance(x, str) for x in ranking):
                rankings[str(method)][payload["target"]].append(ranking)
    return {m: dict(t) for m, t in rankings.items()}, problems


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


def score_estimators(targets: Mapping[str, dict], rankings: Mapping[str, Mapping[str, list]], k: int = 3,
                     n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """The transferability estimators' leaderboard on the class matrix: per method (``rankings``:
    {method: {target: sources, best first}}, or {method: {target: [one such ranking per student]}} as
    :func:`harvest_rankings` gives), NDCG@k and regret@1 averaged over the targets (and students), each with a
    95 % bootstrap interval. A draw resamples the targets and, within each target, its seeds, once for
    all its sources, so a source keeps its pairing with the baseline and with the other sources of the same
    seed; sources with fewer than :data:`MIN_SEEDS` seeds are left out (a source on one seed would otherwise
    have no seed noise at all). Best NDCG first."""
    import numpy as np

    from itft_grader.checks.references import ndcg_at_k, regret_at_k

    rng = np.random.default_rng(seed)
    paired = {t: {s: {int(k): v for k, v in by_seed.items()} for s, by_seed in targets[t]["paired_per_seed"].items()
                  if len(by_seed) >= MIN_SEEDS} for t in targets}
    names = [t for t in targets if paired[t]]

    # One ranking per target, or one per student (harvested): identical rankings are scored once, weighted.
    counted = {m: {t: Counter(tuple(r) for r in (given if given and isinstance(given[0], list) else [given]))
                   for t, given in by_target.items()} for m, by_target in rankings.items()}

    def metrics(scores_by_target: Mapping[str, Mapping[str, float]], method: str, chosen: list[str]) -> tuple[float, float]:
        ndcg, regret, weights = [], [], []
        for t in chosen:
            for given, count in counted[method].get(t, Counter()).items():
                ranking = [s for s in given if s in scores_by_target[t]]
                if ranking:
                    ndcg.append(ndcg_at_k(ranking, scores_by_target[t], k))
                    regret.append(regret_at_k(ranking, scores_by_target[t], 1))
                    weights.append(count)
        if not weights:
            return float("nan"), float("nan")
        return float(np.average(ndcg, weights=weights)), float(np.average(regret, weights=weights))

    def scores_on(t: str, seeds: list[int]) -> dict[str, float]:
        return {s: float(np.mean([v[k] for k in seeds if k in v] or list(v.values()))) for s, v in paired[t].items()}

    def resample() -> tuple[dict, list[str]]:
        drawn = {}
        for t in names:
            seeds = sorted({k for v in paired[t].values() for k in v})
            drawn[t] = scores_on(t, list(rng.choice(seeds, len(seeds))))
        return drawn, list(rng.choice(names, len(names))) if names else []

    observed = {t: scores_on(t, sorted({k for v in paired[t].values() for k in v})) for t in names}
    boots = [resample() for _ in range(n_boot)]
    rows = []
    for method in rankings:
        ndcg, regret = metrics(observed, method, names)
        draws = np.array([metrics(scores, method, chosen) for scores, chosen in boots])
        low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0) if len(draws) else ([np.nan] * 2, [np.nan] * 2)
        rows.append({"method": method, f"ndcg@{k}": ndcg, f"ndcg@{k}_interval": [float(low[0]), float(high[0])],
                     "regret@1": regret, "regret@1_interval": [float(low[1]), float(high[1])], "targets": len(names),
                     "left_out": {t: sorted(set(targets[t]["paired_per_seed"]) - set(paired[t])) for t in targets
                                  if set(targets[t]["paired_per_seed"]) - set(paired[t])}})
    return sorted(rows, key=lambda r: (math.isnan(r[f"ndcg@{k}"]), -r[f"ndcg@{k}"]))
