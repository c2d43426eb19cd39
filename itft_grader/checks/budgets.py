"""Homework 2's budget design, checked on sources the notebook never shows.

Part 5 gives every source the same number of *examples*, which is not the same compute: a QA example is
cut into one or more 256-token windows, an SST-2 example is one short sentence. The design exercise asks a
student to choose what "the same budget" means (optimiser steps or tokens) and to write
``equal_budgets(profiles, amount)``, the optimiser steps each source gets so that all of them spend
``amount`` of that unit. The grader runs it on the profiles of the course's eight real sources (measured,
committed in ``resources/budget_profiles.json`` by ``python -m itft_grader.checks.budgets --measure``)
and measures what each source would spend, with the trainer's own arithmetic: a step is ``batch_size``
windows of the source's mean window length. A rule fitted to the notebook's own three or four sources, or
one that equalises examples, shows here.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

UNITS = ("steps", "tokens")
#: How much each source spends in the hidden check, per unit: about what Part 5's sources spend at 2,000
#: examples (steps: 250-410; tokens: 0.05-1.2 million), so that both directions of equalising are exercised.
AMOUNTS = {"steps": 300, "tokens": 600_000}
MAX_STEPS = 10**9  # beyond any budget; also keeps the arithmetic below in floating point
TOLERANCE = 0.05  # a source may spend 5 % more or less than the amount (or one step's worth, when a step is more)
PROFILES_FILE = Path(__file__).resolve().parent / "resources" / "budget_profiles.json"


def hidden_profiles() -> dict[str, dict[str, int]]:
    """The eight real sources' profiles the check runs the design on."""
    return json.loads(PROFILES_FILE.read_text())["profiles"]


def tokens_per_step(profile: dict[str, int]) -> float:
    """A step's tokens: ``batch_size`` windows of the source's mean window length."""
    return profile["tokens"] / profile["windows"] * profile["batch_size"]


def _problem(answer: Any) -> str | None:
    """Why the probe's answer is not a usable design (None: it is)."""
    if not isinstance(answer, dict) or set(answer) != {"unit", "steps"}:
        return f"expected your unit and your steps per source; got {type(answer).__name__}"
    if answer["unit"] not in UNITS:
        return f"BUDGET_UNIT must be one of {', '.join(map(repr, UNITS))}; got {answer['unit']!r}"
    steps, profiles = answer["steps"], hidden_profiles()
    if not isinstance(steps, dict) or set(steps) != set(profiles):
        got = sorted(steps) if isinstance(steps, dict) else type(steps).__name__
        return f"expected steps for each of the {len(profiles)} sources given ({', '.join(sorted(profiles))}); got {got}"
    bad = {name: n for name, n in steps.items() if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS}
    return f"steps must be whole numbers from 1 to {MAX_STEPS:,}; got {bad}"[:500] if bad else None


def usable_budgets(answer: Any) -> tuple[bool, str]:
    """A check's ``expect``: a unit and whole steps for every hidden source."""
    problem = _problem(answer)
    return problem is None, problem or ""


def spent(profile: dict[str, int], steps: int, unit: str) -> float:
    """What ``steps`` optimiser steps on a source with ``profile`` spend, in ``unit``."""
    return float(steps) if unit == "steps" else steps * tokens_per_step(profile)


def equal_on_hidden_sources(answer: Any) -> tuple[bool, str]:
    """A check's ``expect``: every hidden source spends the amount of the student's unit, within
    :data:`TOLERANCE` (or within one step, where a step is a larger share)."""
    problem = _problem(answer)
    if problem:
        return False, problem
    unit, amount, profiles = answer["unit"], AMOUNTS[answer["unit"]], hidden_profiles()
    off = [name for name, profile in profiles.items()
           if abs(spent(profile, answer["steps"][name], unit) - amount) > max(TOLERANCE * amount, spent(profile, 1, unit))]
    shown = ", ".join(f"{name} {spent(p, answer['steps'][name], unit):,.0f}" for name, p in profiles.items())
    text = f"hidden sources, {amount:,} {unit} each: yours spend {shown}"
    return not off, text + (f"; off by more than {TOLERANCE:.0%}: {', '.join(sorted(off))}" if off else "")


def measure() -> dict[str, Any]:
    """The eight real sources' profiles as Homework 2's real-data runs cut them (MiniLM's tokenizer,
    256-token windows, stride 64, batch 16, 2,000 examples each); needs the course's data folder."""
    from itft_utils.homework import REAL_DATA_SOURCES, real_data_experiment, real_data_sources

    experiment = real_data_experiment(sources=real_data_sources(names=REAL_DATA_SOURCES))
    return {"command": "python -m itft_grader.checks.budgets --measure", "model": experiment.model,
            "max_length": experiment.settings.max_length, "doc_stride": experiment.settings.doc_stride,
            "profiles": experiment.source_profiles()}


def report(profiles: dict[str, dict[str, int]]) -> None:
    """Each source's cost per epoch and what equal steps or equal tokens give it (the model answer quotes these)."""
    print(f"{'source':<10} {'examples':>8} {'windows':>8} {'tokens':>10} {'tokens/step':>11} "
          f"{'steps/epoch':>11} {'steps at ' + format(AMOUNTS['tokens'], ',') + ' tokens':>24}")
    for name, p in profiles.items():
        print(f"{name:<10} {p['examples']:>8} {p['windows']:>8} {p['tokens']:>10,} {tokens_per_step(p):>11,.0f} "
              f"{math.ceil(p['windows'] / p['batch_size']):>11} {round(AMOUNTS['tokens'] / tokens_per_step(p)):>24}")


def main(argv: list[str] | None = None) -> int:
    """Print the hidden sources' profiles; --measure: remeasure them (data folder) and write the file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--measure", action="store_true", help="remeasure on the data folder and write " + PROFILES_FILE.name)
    args = parser.parse_args(argv)
    if args.measure:
        PROFILES_FILE.write_text(json.dumps(measure(), indent=1) + "\n")
        print(f"wrote {PROFILES_FILE}")
    report(hidden_profiles())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
