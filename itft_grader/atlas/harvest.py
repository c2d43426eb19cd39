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

from itft_grader.atlas.cells import cell_name, check_cell, library_facts, output_problem, stored_outputs
from itft_grader.checks.references import mean_interval, paired_summary
from itft_utils.atlas import ATLAS_MIME, ATLAS_VERSION, AtlasLibrary, assign, plan_label, usable_plan

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
    points: float = float("nan")  # its score in points, by its target's type (valid cells)

    @property
    def valid(self) -> bool:
        return not self.reasons

    @property
    def used(self) -> bool:
        return self.valid and not self.set_aside

    @property
    def name(self) -> str:
        return cell_name(self.cell.get("source"), self.cell.get("target"), self.cell.get("seed"))

    @property
    def machine(self) -> tuple[str, str]:
        return str(self.cell.get("device", "unrecorded")), str(self.cell.get("precision", "unrecorded"))


@dataclass
class Harvest:
    cells: list[Harvested]
    problems: list[dict]  # submissions that could not be read, or claim another student's id: {student_id, file, problem}
    missing: list[dict]  # assigned cells nobody handed in: {cell, students}
    tolerance: dict = field(default_factory=dict)  # how replicates were judged: value, basis, measured spreads
    plan: str = "by id"  # the plan the grader expected (plan_label)


def _stored(originals: Path, sid: str, name: str, marker: str, problems: list[dict]) -> list[dict] | None:
    """The outputs carrying ``marker`` in a submitted notebook; None, with a problem row, when it cannot be read."""
    try:
        return stored_outputs(json.loads((originals / name).read_text(encoding="utf-8")), marker, ATLAS_MIME)
    except (OSError, ValueError) as exc:
        problems.append({"student_id": sid, "file": name, "problem": f"unreadable notebook: {exc}"})
        return None


def latest_submissions(originals: Path) -> tuple[dict[str, str], list[dict]]:
    """{student: file} from the intake manifest, the last submission of each student counting (as the
    grading policy does); the earlier ones as problem rows, so that none is silently dropped."""
    manifest = json.loads((originals / "manifest.json").read_text(encoding="utf-8"))
    latest: dict[str, str] = {}
    problems = []
    for entry in manifest if isinstance(manifest, list) else []:
        sid, name = (entry.get("student_id"), entry.get("kept_as") or entry.get("file")) if isinstance(entry, dict) else (None, None)
        if not isinstance(sid, str) or not isinstance(name, str) or not name.endswith(".ipynb"):
            continue
        if sid in latest:
            problems.append({"student_id": sid, "file": latest[sid], "problem": f"an earlier submission (the later {name} counts)"})
        latest[sid] = name
    return latest, problems


def harvest(grading_dir: str | Path, library: AtlasLibrary, plan: Mapping | None = None,
            tolerance: float | None = None) -> Harvest:
    """Read, check and cross-check every atlas cell in ``grading_dir/originals`` (see the module docstring);
    ``tolerance`` (points) overrides the one derived from the replicates."""
    originals = Path(grading_dir) / "originals"
    students, problems = latest_submissions(originals)
    expected_plan = plan_label(usable_plan(plan, library))
    facts = library_facts(library)
    cells: list[Harvested] = []
    for sid, name in students.items():
        payloads = _stored(originals, sid, name, "itft_atlas", problems) or []
        for _ in payloads[:-1]:  # a copy of another output, or an old run kept: the last output counts
            problems.append({"student_id": sid, "file": name, "problem": "an earlier atlas output in the same notebook: "
                             "not counted (the last one is)"})
        for payload in payloads[-1:]:
            try:
                cells += _payload_cells(sid, name, payload, library, facts, plan, expected_plan, problems)
            except Exception as exc:  # noqa: BLE001 -- nothing a student stored may stop the class's harvest
                problems.append({"student_id": sid, "file": name, "problem": f"atlas output could not be read "
                                 f"({type(exc).__name__}: {exc}; not counted)"})
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


def _payload_cells(sid: str, name: str, payload: dict, library: AtlasLibrary, facts: dict, plan: Mapping | None, expected_plan: str,
                   problems: list[dict]) -> list[Harvested]:
    """One student's stored atlas output as harvested cells (none, with a problem row, when the output as a
    whole cannot count)."""
    problem = output_problem(payload, sid, ATLAS_VERSION)
    if problem:
        problems.append({"student_id": sid, "file": name, "problem": problem})
        return []
    assigned = {c.name for c in assign(sid, library, plan).cells}
    found: list[Harvested] = []
    seen: set[str] = set()
    for cell in payload["cells"]:
        item = Harvested(sid, name, cell if isinstance(cell, dict) else {"raw": cell}, check_cell(cell, facts))
        if item.valid and item.name in seen:
            item.reasons.append("a second copy of this cell from the same student (not counted)")
        if item.valid:
            seen.add(item.name)
            item.points = library.points(item.cell)
            if payload.get("plan") != expected_plan:
                item.flags.append(f"run under {payload.get('plan')!r}, not the course's {expected_plan!r}")
            if item.name not in assigned:
                item.flags.append("not among the student's assigned cells")
        found.append(item)
    return found


def _check_batch_orders(cells: list[Harvested]) -> None:
    """Batch order against the class's majority per (target, seed), one vote per student: every run of a seed
    sees the same batches. A cell is invalid only where more students agree on another order than on its own."""
    votes: dict[tuple, Counter] = defaultdict(Counter)
    for key in {(c.cell["target"], c.cell["seed"], c.cell["batch_order"], c.student_id) for c in cells if c.valid}:
        votes[key[:2]][key[2]] += 1
    for c in cells:
        if c.valid:
            tally = votes[(c.cell["target"], c.cell["seed"])]
            majority, count = tally.most_common(1)[0]
            if c.cell["batch_order"] != majority and count > tally[c.cell["batch_order"]]:
                c.reasons.append(f"batch order {c.cell['batch_order']} differs from the class's {majority} "
                                 f"({count} students): other data or another data order")


def _robust_spread(deviations: list[float]) -> float:
    """The standard deviation a normal sample with these deviations' median absolute value would have."""
    return 1.4826 * statistics.median(abs(d) for d in deviations) if deviations else float("nan")


def _deviations(values: list[float]) -> list[float]:
    """Each value's distance from the median of the others (leave-one-out: no value is measured against itself)."""
    return [v - statistics.median(values[:i] + values[i + 1:]) for i, v in enumerate(values)] if len(values) > 1 else []


def _tolerance(deviations: list[float], given: float | None, what: str) -> tuple[float, str]:
    if given is not None:
        return given, "given"
    if len(deviations) >= MIN_DEVIATIONS:
        return SPREADS * _robust_spread(deviations), (f"{SPREADS:g} robust standard deviations of the class's {len(deviations)} "
                                                      f"{what} deviations (each from the median of the other replicates)")
    return PROVISIONAL_TOLERANCE, (f"provisional: {len(deviations)} {what} deviations (fewer than {MIN_DEVIATIONS}); the one "
                                   "cross-device spread measured (bench/RESULTS.md section 3)")


def _set_aside(groups: Mapping[str, list[tuple[Harvested, float]]], tolerance: float, what: str) -> None:
    """Set aside each replicate further than ``tolerance`` from the median of the others: with two that disagree
    both, with three or more the outlier."""
    for group in groups.values():
        values = [v for _, v in group]
        for (c, value), deviation in zip(group, _deviations(values)):
            if abs(deviation) > tolerance:
                c.set_aside = True
                c.flags.append(f"its {what} {value:.1f} is {abs(deviation):.1f} points from the median of its other "
                               f"{len(group) - 1} replicate(s) (tolerance {tolerance:.1f}): not used"
                               + (" until a third student runs the cell" if len(group) == 2 else ""))


def judge_replicates(cells: list[Harvested], tolerance: float | None = None) -> dict:
    """Judge each cell's replicates (the valid copies of one cell, from different students) and set aside what
    disagrees. Baselines are judged on their scores; a source cell on its gain over its own student's used
    baseline of the same seed and machine (what the matrix uses: a device that shifts every score moves both,
    and the gain not). Returns the tolerances in points and their bases, and the baselines' measured spread on
    one device kind and across kinds."""
    baselines: dict[str, list[tuple[Harvested, float]]] = defaultdict(list)
    by_kind: dict[tuple, list[float]] = defaultdict(list)
    for c in cells:
        if c.valid and c.cell["source"] is None:
            baselines[c.name].append((c, c.points))
            by_kind[(c.name, c.machine[0])].append(c.points)
    across = [d for group in baselines.values() for d in _deviations([v for _, v in group])]
    within = [d for values in by_kind.values() for d in _deviations(values)]
    value, basis = _tolerance(across, tolerance, "baseline")
    _set_aside(baselines, value, "score")
    gains: dict[str, list[tuple[Harvested, float]]] = defaultdict(list)
    own = _own_baselines(cells)
    for c in cells:
        if c.valid and c.cell["source"] is not None and (c.student_id, c.cell["target"], c.cell["seed"], c.machine) in own:
            gains[c.name].append((c, c.points - own[(c.student_id, c.cell["target"], c.cell["seed"], c.machine)]))
    gain_deviations = [d for group in gains.values() for d in _deviations([v for _, v in group])]
    gain_value, gain_basis = _tolerance(gain_deviations, tolerance, "gain")
    _set_aside(gains, gain_value, "gain")
    return {"value": value, "basis": basis, "gain_value": gain_value, "gain_basis": gain_basis,
            "within_kind": _robust_spread(within), "across_kinds": _robust_spread(across), "deviations": len(across)}


def _own_baselines(cells: list[Harvested]) -> dict[tuple, float]:
    """{(student, target, seed, machine): the student's used baseline in points}: what their sources pair with."""
    return {(c.student_id, c.cell["target"], c.cell["seed"], c.machine): c.points for c in cells if c.used and c.cell["source"] is None}


def _flag_unpaired(cells: list[Harvested]) -> None:
    """A source cell pairs only with its own student's baseline of the same seed, device and precision."""
    own = _own_baselines(cells)
    others = {key[:3] for key in own}
    for c in cells:
        key = (c.student_id, c.cell.get("target"), c.cell.get("seed"))
        if c.used and c.cell["source"] is not None and (*key, c.machine) not in own:
            c.flags.append("its student's baseline ran on another device or precision: not paired (its score counts, not "
                           "its gain)" if key in others else
                           "no used baseline of the same student and seed: not paired (its score counts, not its gain)")


def aggregate(cells: list[Harvested]) -> dict[str, dict]:
    """Per target, the matrix in :class:`itft_utils.selection.TransferResults`'s file format, in points,
    plus what it rests on. ``per_seed``: each run's median over its used replicates; ``baseline``: the
    baseline's mean over seeds. Each source is paired within students: its cell minus the same student's
    baseline of the same seed on the same machine; ``gains_per_seed`` the median of those differences per
    seed; ``scores`` the baseline's mean plus the source's mean gain (what Homework 3 ranks by: sources
    measured on different seeds stay comparable); ``gains`` the paired summary over seeds (mean, std,
    sign-flip p, 95 % t interval, None below :data:`MIN_SEEDS` seeds with a note) and how many
    within-student pairs it rests on. A source cell with no such baseline (flagged by the harvest) is left
    out of the gains."""
    used = [c for c in cells if c.used]
    raw: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    metric: dict[str, str] = {}
    for c in used:
        raw[c.cell["target"]][c.cell["source"] or "baseline"][c.cell["seed"]].append(c.points)
        metric[c.cell["target"]] = c.cell["metric"]
    own = _own_baselines(cells)
    diffs: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for c in used:
        key = (c.student_id, c.cell["target"], c.cell["seed"], c.machine)
        if c.cell["source"] is not None and key in own:
            diffs[key[1]][c.cell["source"]][key[2]].append(c.points - own[key])
    out = {}
    for target, runs in sorted(raw.items()):
        per_seed = {run: {seed: statistics.median(v) for seed, v in sorted(seeds.items())} for run, seeds in sorted(runs.items())}
        base = per_seed.get("baseline", {})
        base_mean = statistics.mean(base.values()) if base else None
        per_seed_gain = {source: {seed: statistics.median(d) for seed, d in sorted(by_seed.items()) if seed in base}
                         for source, by_seed in sorted(diffs[target].items())}
        gains = {}
        for source, by_seed in per_seed_gain.items():
            if not by_seed:
                continue
            summary = paired_summary({k: base[k] + g for k, g in by_seed.items()}, base)
            enough = summary["n"] >= MIN_SEEDS
            gains[source] = {**summary, "interval": summary["interval"] if enough else None,
                             "pairs": sum(len(d) for d in diffs[target][source].values()),
                             **({} if enough else {"note": f"too few seeds for an interval ({summary['n']})"})}
        stats = {run: mean_interval(list(seeds.values())) for run, seeds in per_seed.items()}
        out[target] = {
            "target": target, "metric": f"{metric[target]} in points", "baseline": base_mean,
            "scores": {source: base_mean + gains[source]["mean"] for source in gains} if base_mean is not None else {},
            "intervals": {run: h for run, (_, h) in stats.items()},
            "per_seed": {run: {str(s): v for s, v in seeds.items()} for run, seeds in per_seed.items()},
            "gains_per_seed": {source: {str(s): v for s, v in seeds.items()} for source, seeds in per_seed_gain.items()},
            "gains": gains,
            "note": f"the class atlas: {sum(len(s) for s in per_seed.values())} (run, seed) cells for {target}, each the "
                    "median of the students who ran it; a source scored as the baseline's mean plus its gain paired within students",
        }
    return out


def harvest_rankings(grading_dir: str | Path) -> tuple[dict[str, dict[str, list[list[str]]]], list[dict]]:
    """Homework 3's rankings as the class handed them in (``originals/`` of its grading folder, the
    output :func:`itft_utils.atlas.rankings_output` stored; each student's last submission and its last
    stored rankings): {method: {target: [one ranking per student, repeats dropped]}}, and the submissions
    that hold none or a damaged one ({student_id, file, problem})."""
    originals = Path(grading_dir) / "originals"
    students, problems = latest_submissions(originals)
    rankings: dict[str, dict[str, list[list[str]]]] = defaultdict(lambda: defaultdict(list))
    for sid, name in students.items():
        stored = _stored(originals, sid, name, "itft_rankings", problems)
        if stored is None:
            continue
        found = stored[-1:]
        if not found:
            problems.append({"student_id": sid, "file": name, "problem": "no rankings stored (the transfer cell never ran?)"})
            continue
        payload = found[0]
        if not isinstance(payload.get("rankings"), dict) or not isinstance(payload.get("target"), str):
            problems.append({"student_id": sid, "file": name, "problem": "rankings damaged (not counted)"})
            continue
        for method, ranking in payload["rankings"].items():
            if isinstance(ranking, list) and all(isinstance(x, str) for x in ranking):
                rankings[str(method)][payload["target"]].append(list(dict.fromkeys(ranking)))
    return {m: dict(t) for m, t in rankings.items()}, problems


def leaderboard(targets: Mapping[str, dict]) -> list[dict]:
    """The best intermediate task per target: its score (the baseline's mean plus its paired gain), the gain
    in points with its 95 % t interval (paired within students, over seeds; None below two seeds), relative to
    the baseline, and the gain's sign-flip p-value."""
    rows = []
    for target, result in targets.items():
        if result["scores"]:
            best = max(result["scores"], key=result["scores"].get)
            paired = result["gains"].get(best, {})
            rows.append({"target": target, "best_source": best, "score": result["scores"][best],
                         "interval": paired.get("interval"), "gain": paired.get("mean"),
                         "relative_gain_pct": 100 * paired["gain"] if "gain" in paired else None,
                         "p_sign_flip": paired.get("p_value"), "seeds": paired.get("n")})
    return rows


def score_estimators(targets: Mapping[str, dict], rankings: Mapping[str, Mapping[str, list]], k: int = 3,
                     n_boot: int = 1000, seed: int = 0) -> list[dict]:
    """The transferability estimators' leaderboard on the class matrix: per method (``rankings``:
    {method: {target: sources, best first}}, or {method: {target: [one such ranking per student]}} as
    :func:`harvest_rankings` gives), NDCG@k and regret@1 averaged over the targets (and students), each with a
    95 % bootstrap interval. A draw resamples the targets and, within each target, the baseline's seeds, once
    for all its sources: a source scores the drawn seeds' baseline mean plus its mean paired gain on them, so
    it keeps its pairing with the baseline and with the other sources of the same seed; sources with fewer
    than :data:`MIN_SEEDS` seeds are left out (a source on one seed would otherwise have no seed noise at all).
    Best NDCG first."""
    import numpy as np

    from itft_grader.checks.references import ndcg_at_k, regret_at_k

    rng = np.random.default_rng(seed)
    base = {t: {int(k): v for k, v in targets[t]["per_seed"].get("baseline", {}).items()} for t in targets}
    gains = {t: {s: {int(k): v for k, v in by_seed.items()} for s, by_seed in targets[t]["gains_per_seed"].items()
                 if len(by_seed) >= MIN_SEEDS} for t in targets}
    names = [t for t in targets if gains[t] and base[t]]
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
        """Each source's score on these seeds: the baseline's mean plus the source's mean gain over those of
        them it has (a source with none of them sits this draw out)."""
        level = float(np.mean([base[t][k] for k in seeds]))
        out = {}
        for s, by_seed in gains[t].items():
            mine = [by_seed[k] for k in seeds if k in by_seed]
            if mine:
                out[s] = level + float(np.mean(mine))
        return out

    def resample() -> tuple[dict, list[str]]:
        drawn = {t: scores_on(t, list(rng.choice(sorted(base[t]), len(base[t])))) for t in names}
        return drawn, list(rng.choice(names, len(names))) if names else []

    observed = {t: scores_on(t, sorted(base[t])) for t in names}
    boots = [resample() for _ in range(n_boot)]
    rows = []
    for method in rankings:
        ndcg, regret = metrics(observed, method, names)
        draws = np.array([metrics(scores, method, chosen) for scores, chosen in boots])
        low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0) if len(draws) else ([np.nan] * 2, [np.nan] * 2)
        rows.append({"method": method, f"ndcg@{k}": ndcg, f"ndcg@{k}_interval": [float(low[0]), float(high[0])],
                     "regret@1": regret, "regret@1_interval": [float(low[1]), float(high[1])], "targets": len(names),
                     "left_out": {t: sorted(set(targets[t]["gains_per_seed"]) - set(gains[t])) for t in targets
                                  if set(targets[t]["gains_per_seed"]) - set(gains[t])}})
    return sorted(rows, key=lambda r: (math.isnan(r[f"ndcg@{k}"]), -r[f"ndcg@{k}"]))
