"""The class atlas's outputs: ``atlas.json`` (what Homework 3 loads), ``cells.csv`` (every harvested
cell with its student, status and reasons) and ``report.html`` (the matrix as a heat map of paired
gains with intervals, one strip plot per target, the leaderboard, and every problem by student)."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from itft_grader.atlas.harvest import Harvest, aggregate, leaderboard, score_estimators
from itft_utils.atlas import ATLAS_VERSION, AtlasLibrary
from itft_utils.files import write_atomic


def write_atlas(harvest: Harvest, library: AtlasLibrary, out: str | Path,
                rankings: Mapping[str, Mapping[str, list[str]]] | None = None) -> dict:
    """Write the three outputs into ``out``; return the atlas JSON as written. ``rankings``
    ({method: {target: sources, best first}}, e.g. TaskEmb's and TextEmb's from Homework 3) adds the
    estimators' leaderboard, scored on the class matrix with bootstrap intervals."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    targets = aggregate(harvest.cells)
    for result in targets.values():  # DataSize's sizes: the examples each source trained on (one budget for all)
        result["source_sizes"] = {name: spec.n_train for name, spec in library.sources.items() if name in result["scores"]}
    atlas = {
        "itft_atlas": ATLAS_VERSION,
        "library": {"mode": library.mode, "model": library.model, "targets": {t: spec.budget() for t, spec in library.targets.items()},
                    "seeds": list(library.seeds), "sources": {name: spec.budget() for name, spec in library.sources.items()},
                    "cells": len(library.cells), "assignments": len(library.assignments)},
        "plan": harvest.plan,
        "tolerance": harvest.tolerance,
        "targets": targets,
        "leaderboard": leaderboard(targets),
        "estimators": score_estimators(targets, rankings) if rankings else [],
        "counts": {"valid": sum(c.valid for c in harvest.cells), "used": sum(c.used for c in harvest.cells),
                   "invalid": sum(not c.valid for c in harvest.cells),
                   "flagged": sum(bool(c.flags) for c in harvest.cells), "unreadable": len(harvest.problems),
                   "missing": len(harvest.missing)},
        "problems": harvest.problems,
        "missing": harvest.missing,
    }
    write_atomic(out / "atlas.json", json.dumps(atlas, indent=1, default=str) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student_id", "file", "cell", "status", "score", "device", "reasons", "flags"])
    for c in harvest.cells:
        status = "used" if c.used else "set aside" if c.valid else "invalid"
        writer.writerow([c.student_id, c.file, c.name, status, c.cell.get("score"), c.cell.get("device", ""),
                         "; ".join(c.reasons), "; ".join(c.flags)])
    write_atomic(out / "cells.csv", buffer.getvalue())
    write_atomic(out / "report.html", _html(atlas, harvest))
    return atlas


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    data = io.BytesIO()
    fig.savefig(data, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(data.getvalue()).decode()}">'


def _heatmap(targets: dict) -> str:
    """Sources x targets: the mean paired gain over seeds (points), annotated with its 95 % t interval, or
    with "too few seeds" where it has none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = sorted({s for t in targets.values() for s in t["gains"]})
    if not names:
        return "<p>No source has cells paired with a baseline yet.</p>"
    columns = sorted(targets)
    gains = np.array([[targets[t]["gains"].get(s, {}).get("mean", np.nan) for t in columns] for s in names])
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(columns), 0.6 + 0.5 * len(names)))
    bound = float(np.nanmax(np.abs(gains))) or 1.0
    image = ax.imshow(gains, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    for i, s in enumerate(names):
        for j, t in enumerate(columns):
            if not np.isnan(gains[i, j]):
                gain = targets[t]["gains"][s]
                low_high = gain.get("interval")
                below = f"[{low_high[0]:+.1f}, {low_high[1]:+.1f}]" if low_high else "too few seeds"
                ax.text(j, i, f"{gains[i, j]:+.1f}\n{below}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(names)), names)
    ax.set_title("Paired gain over the baseline, within students (points; mean over seeds, 95 % t interval)")
    fig.colorbar(image, ax=ax, label="gain (points)")
    return _png(fig)


def _strips(harvest: Harvest) -> str:
    from itft_utils.plots import plot_transfer

    cells = [c.cell for c in harvest.cells if c.valid]
    return "".join(_png(plot_transfer(cells, target=t, title=f"The class's transfers to {t}"))
                   for t in sorted({c["target"] for c in cells}))


def _table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(atlas: dict, harvest: Harvest) -> str:
    counts = atlas["counts"]
    invalid = [{"student": c.student_id, "file": c.file, "cell": c.name, "reasons": "; ".join(c.reasons)}
               for c in harvest.cells if not c.valid]
    flagged = [{"student": c.student_id, "cell": c.name, "flags": "; ".join(c.flags)} for c in harvest.cells if c.flags]
    parts = [
        "<html><head><meta charset='utf-8'><title>Class transfer atlas</title><style>body{font-family:sans-serif;"
        "max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px;"
        "font-size:13px}</style></head><body>",
        f"<h1>Class transfer atlas</h1><p>Model {html.escape(atlas['library']['model'])}, mode "
        f"{html.escape(atlas['library']['mode'])}; {len(atlas['library']['targets'])} targets, {atlas['library']['cells']} "
        f"cells in {atlas['library']['assignments']} assignments (plan {html.escape(atlas['plan'])}). Cells: "
        f"{counts['valid']} valid ({counts['used']} used), {counts['invalid']} invalid, {counts['flagged']} flagged; "
        f"{counts['unreadable']} submission problems; {counts['missing']} library cells not handed in by anyone. "
        f"Replicates judged at {atlas['tolerance']['value']:.2f} points for baselines ({html.escape(atlas['tolerance']['basis'])}) "
        f"and {atlas['tolerance']['gain_value']:.2f} for paired gains ({html.escape(atlas['tolerance']['gain_basis'])}; "
        f"measured robust spread {atlas['tolerance']['within_kind']:.2f} on one device kind, "
        f"{atlas['tolerance']['across_kinds']:.2f} across kinds).</p>",
        "<h2>The matrix</h2>", _heatmap(atlas["targets"]), _strips(harvest),
        "<h2>Leaderboard: the best intermediate task per target</h2>",
        _table(atlas["leaderboard"], ["target", "best_source", "score", "interval", "gain", "relative_gain_pct", "p_sign_flip", "seeds"]),
        "<h2>Leaderboard: transferability estimators on the class matrix</h2>",
        _table([{**r, "ndcg@3": f"{r['ndcg@3']:.2f} [{r['ndcg@3_interval'][0]:.2f}, {r['ndcg@3_interval'][1]:.2f}]",
                 "regret@1": f"{r['regret@1']:.1f} [{r['regret@1_interval'][0]:.1f}, {r['regret@1_interval'][1]:.1f}]"}
                for r in atlas["estimators"]], ["method", "ndcg@3", "regret@1", "targets"])
        if atlas["estimators"] else "<p>No rankings given (<code>--rankings</code>).</p>",
        "<h2>Invalid cells (not counted)</h2>", _table(invalid, ["student", "file", "cell", "reasons"]) if invalid else "<p>None.</p>",
        "<h2>Flagged cells (counted)</h2>", _table(flagged, ["student", "cell", "flags"]) if flagged else "<p>None.</p>",
        "<h2>Submission problems</h2>",
        _table(harvest.problems, ["student_id", "file", "problem"]) if harvest.problems else "<p>None.</p>",
        "<h2>Cells nobody handed in</h2>",
        _table([{"cell": m["cell"], "assigned to": ", ".join(m["students"])} for m in harvest.missing], ["cell", "assigned to"])
        if harvest.missing else "<p>None.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def build_atlas(grading_dir: str | Path, out: str | Path, mode: str | None = None, plan_path: str | Path | None = None,
                tolerance: float | None = None, rankings_path: str | Path | None = None,
                rankings_from: str | Path | None = None) -> dict:
    """``itft atlas``: harvest ``grading_dir`` (the class's atlas ``mode``, default the course's), write the
    outputs to ``out``, print a summary. The
    estimators' leaderboard scores ``rankings_path`` (a JSON file) or the rankings Homework 3's submissions
    stored (``rankings_from``: its grading folder)."""
    from itft_grader.atlas.harvest import harvest, harvest_rankings
    from itft_grader.checks.submitted import course_atlas_mode
    from itft_utils.atlas import atlas_library

    library = atlas_library(course_atlas_mode(mode))
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8")) if plan_path else None
    rankings = json.loads(Path(rankings_path).read_text(encoding="utf-8")) if rankings_path else None
    if rankings_from:
        rankings, problems = harvest_rankings(rankings_from)
        print(f"rankings: {sum(len(r) for r in next(iter(rankings.values()), {}).values())} submissions' rankings harvested "
              f"from {rankings_from}; {len(problems)} without usable rankings: {', '.join(p['student_id'] for p in problems) or 'none'}")
    atlas = write_atlas(harvest(grading_dir, library, plan, tolerance), library, out, rankings)
    c = atlas["counts"]
    print(f"atlas: {c['valid']} valid cells ({c['used']} used), {c['invalid']} invalid, {c['flagged']} flagged, "
          f"{c['unreadable']} submission problems, {c['missing']} library cells missing; replicates judged at "
          f"{atlas['tolerance']['value']:.2f} points for baselines ({atlas['tolerance']['basis']}) and "
          f"{atlas['tolerance']['gain_value']:.2f} for paired gains; see {Path(out) / 'report.html'}")
    for row in atlas["leaderboard"]:
        print(f"  best intermediate task for {row['target']}: {row['best_source']} ({row['score']:.1f})")
    for row in atlas["estimators"]:
        print(f"  {row['method']}: NDCG@3 {row['ndcg@3']:.2f} {row['ndcg@3_interval']}, regret@1 {row['regret@1']:.1f}")
    return atlas


def write_plan(roster: str | Path, out: str | Path, mode: str | None = None) -> dict:
    """``itft atlas-plan``: the class's plan for a roster (one student id per line, or a CSV whose first
    column is the id), stored by hashed id; publish it as ``plan.json`` in the course's atlas folder
    (``ITFT_ATLAS_HOME``), where the notebooks read it when the atlas cell runs: no new release needed.
    An existing plan at ``out`` is extended, never reshuffled (late enrolments fill the least-covered assignments)."""
    from itft_grader.checks.submitted import course_atlas_mode
    from itft_utils.atlas import atlas_library, atlas_plan

    lines = Path(roster).read_text(encoding="utf-8").splitlines()
    ids = [row[0] for row in csv.reader(lines) if row and row[0].strip() and not row[0].lower().startswith("student")]
    library = atlas_library(course_atlas_mode(mode))
    previous = json.loads(Path(out).read_text(encoding="utf-8")) if Path(out).exists() else None
    plan = atlas_plan(ids, library, previous)  # a published plan only grows: no student changes assignment
    write_atomic(out, json.dumps(plan, indent=0) + "\n")
    runs = Counter(plan["students"].values())
    print(f"plan for {len(plan['students'])} students over {len(library.assignments)} assignments ({len(library.cells)} cells): "
          f"each assignment run by {min(runs.get(i, 0) for i in range(len(library.assignments)))}-{max(runs.values())} "
          f"students; wrote {out}")
    return plan
