"""Homework 3's design exercise, checked on targets whose measured transfers the kernel never receives.

The student writes ``my_selection(target, candidates)``: a rule that ranks candidate sources from what a
selection method can know before any transfer is run (each source's task type and size, and the cosines of
its TaskEmb and TextEmb to the target's). The probe runs it on the sets below, each target under as many
letterings as it has sources (a shuffled order, rotated, so that a rule that ignores the features averages
chance), and returns the rankings; the grader scores them here with NDCG@3 against the measured transfers,
which the probe does not carry (``resources/selection_hidden.json``). Both targets are the course's published
runs (RESULTS sections 4 and 12): the check measures a rule, not secrecy; a rule that recognises the sources
by their rounded cosines and hard-codes their order is for the hand-graded defence to catch. The bar is the
exact expected NDCG@3 of a random ranking, averaged over the targets, plus :data:`MARGIN`: a rule that reads
the text, not the task, falls below it (TextEmb's cosine alone scores 0.45 on the mean).

The hidden sets come from the course's committed runs (``python -m itft_grader.checks.selection_design
--build``): SQuAD-1k with the eight real sources of ``bench/results/taskemb_real/summary.json`` (MiniLM
embeddings, transfers measured over six seeds) and the planted target with its four sources
(``bench/results/planted_selection/cosines.json``, ``transfer_results_plant_qa.json``).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

MARGIN = 0.1  # NDCG@3 above a random ranking's expectation, on the mean over the hidden targets
HIDDEN = Path(__file__).resolve().parent / "resources" / "selection_hidden.json"
ROOT = Path(__file__).resolve().parents[2]


def hidden_sets() -> dict[str, dict]:
    return json.loads(HIDDEN.read_text())["targets"]


def _problem(answer: Any) -> str | None:
    """Why the probe's answer is not a ranking of every hidden set's candidates (None: it is)."""
    sets = hidden_sets()
    if not isinstance(answer, dict) or set(answer) != set(sets):
        return f"expected a ranking for each of the {len(sets)} hidden candidate sets; got {type(answer).__name__}"
    for key, ranking in answer.items():
        candidates = set(sets[key]["candidates"])
        if not isinstance(ranking, list) or sorted(map(str, ranking)) != sorted(candidates) or len(ranking) != len(candidates):
            return f"hidden set {key}: expected every candidate exactly once ({len(candidates)}), got {ranking!r:.200}"
    return None


def usable_rule(answer: Any) -> tuple[bool, str]:
    """A check's ``expect``: a ranking of every candidate, for every hidden target."""
    problem = _problem(answer)
    return problem is None, problem or ""


def ndcg3(ranking: list[str], scores: dict[str, float]) -> float:
    """NDCG@3 as Homework 3's exercise defines it (relevance = score minus the lowest). Written here rather than
    imported from ``references``, which imports torch: this runs in every nbgrader process, which must not load the
    training stack (tests/test_design_checks.py holds the two equal)."""
    low = min(scores.values())
    gains = [scores[s] - low for s in ranking[:3]]
    ideal = sorted((v - low for v in scores.values()), reverse=True)[:3]
    dcg, best = (sum(g / math.log2(i + 2) for i, g in enumerate(values)) for values in (gains, ideal))
    return dcg / best if best > 0 else 1.0


def beats_random(answer: Any) -> tuple[bool, str]:
    """A check's ``expect``: the rule's mean NDCG@3 over the hidden targets (each the mean over its letterings)
    against a random ranking's."""
    problem = _problem(answer)
    if problem:
        return False, problem
    by_target: dict[str, list[float]] = {}
    chance: dict[str, float] = {}
    for key, s in hidden_sets().items():
        base = key.split(".")[0]
        by_target.setdefault(base, []).append(ndcg3(answer[key], s["scores"]))
        chance[base] = s["random_ndcg3"]
    mine = {base: statistics.mean(values) for base, values in by_target.items()}
    mean, bar = statistics.mean(mine.values()), statistics.mean(chance.values()) + MARGIN
    return mean > bar, (f"hidden targets: your rule's NDCG@3 {', '.join(f'{v:.3f}' for v in mine.values())} (each the mean "
                        f"over its letterings), mean {mean:.3f}; to pass: more than {bar:.3f} (a random ranking's "
                        f"expectation {bar - MARGIN:.3f} plus {MARGIN})")


def random_expectation(scores: dict[str, float]) -> float:
    """NDCG@3 of a ranking drawn uniformly at random, exactly (every ordered top three is equally likely)."""
    tops = list(itertools.permutations(scores, 3))
    return statistics.mean(ndcg3([*top, *(s for s in scores if s not in top)], scores) for top in tops)


def _letters(names: list[str], seed: int, rotation: int) -> dict[str, str]:
    """Letters for ``names``: a seeded shuffle, rotated by ``rotation``, so that across a target's rotations every
    source takes every place in the letters' (and the dict's) order: a rule that ignores the features, or breaks
    all its ties by letter, averages a random ranking's score."""
    shuffled = sorted(names)
    random.Random(seed).shuffle(shuffled)
    rotated = shuffled[rotation:] + shuffled[:rotation]
    return {name: "abcdefghijklmnop"[i] for i, name in enumerate(rotated)}


def _hidden_set(target: dict, cosines: dict[str, dict[str, float]], scores: dict[str, float], sizes: dict[str, int],
                types: dict[str, str], seed: int, rotation: int) -> dict:
    names = sorted(scores)
    letter = _letters(names, seed, rotation)
    candidates = {letter[n]: {"type": types[n], "examples": sizes[n], "taskemb": round(cosines["TaskEmb"][n], 4),
                              "textemb": round(cosines["TextEmb"][n], 4)} for n in names}
    lettered = {letter[n]: round(scores[n], 2) for n in names}
    return {"target": target, "candidates": dict(sorted(candidates.items())), "scores": dict(sorted(lettered.items())),
            "random_ndcg3": round(random_expectation(lettered), 4)}


def build() -> dict:
    """The hidden sets, from the committed runs (see the module's docstring)."""
    from itft_utils.data.registry import built_in_task_type

    summary = json.loads((ROOT / "bench/results/taskemb_real/summary.json").read_text())
    squad = summary["selection"]["scores"]
    squad_cosines = {m: dict(summary["methods"][m]["ranking_for_target"]) for m in ("TaskEmb", "TextEmb")}
    planted_cosines = json.loads((ROOT / "bench/results/planted_selection/cosines.json").read_text())["right"]
    planted = json.loads((ROOT / "itft_utils/resources/transfer_results_plant_qa.json").read_text())
    embedded = ROOT / "bench/results/taskemb_real/embeddings"
    squad_types = {n: json.loads((embedded / f"{n}.json").read_text())["task_type"] for n in squad}
    planted_types = {n: built_in_task_type(n) for n in planted["scores"]}
    sets = {}
    for rotation in range(len(squad)):
        sets[f"1.{rotation}"] = _hidden_set({"type": "qa", "examples": 1000}, squad_cosines, squad, dict.fromkeys(squad, 2000),
                                            squad_types, seed=1, rotation=rotation)
    for rotation in range(len(planted["scores"])):
        sets[f"2.{rotation}"] = _hidden_set({"type": "qa", "examples": 64}, planted_cosines, planted["scores"],
                                            planted["source_sizes"], planted_types, seed=2, rotation=rotation)
    return {"command": "python -m itft_grader.checks.selection_design --build", "margin": MARGIN, "targets": sets}


def probe_input() -> dict:
    """What the probe hands the student's rule: each hidden set without its measured scores."""
    return {key: {"target": s["target"], "candidates": s["candidates"]} for key, s in hidden_sets().items()}


def main(argv: list[str] | None = None) -> int:
    """Print the hidden sets' bar; --build: rebuild them from the committed runs; --check: compare, write nothing."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.build or args.check:
        made = build()
        if args.check:
            same = made == json.loads(HIDDEN.read_text())
            print("the committed hidden sets are what the committed runs give" if same else "differs: run --build")
            return 0 if same else 1
        HIDDEN.write_text(json.dumps(made, indent=1) + "\n")
        print(f"wrote {HIDDEN}")
    chance = {key.split(".")[0]: (len(s["candidates"]), s["random_ndcg3"]) for key, s in hidden_sets().items()}
    for base, (count, value) in chance.items():
        print(f"hidden target {base}: {count} candidates under {count} letterings, a random ranking's NDCG@3 {value:.3f}")
    print(f"bar: mean NDCG@3 above {statistics.mean(v for _, v in chance.values()) + MARGIN:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
