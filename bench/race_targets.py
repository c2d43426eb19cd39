"""Issue 33: the estimator race over several targets, each method ranked by its mean over them.

One target's race is a hint about the methods; a comparison needs several. Each ``--race`` names a target, the
folder of its ``estimator_race.py`` measurement (``estimates.json``), its measured transfers (a
``bench_transfer.py`` output folder) and the seeds of those to read; every race is scored as
``estimator_race.py --report-only`` scores it. An estimator is compared in its fair casting on every target: on
an extractive-QA target that is the span head's (``LogME (span head)``), on a classification target the
[CLS] row per example that ``LogME`` already reads there; the QA token casting stays as its own row. A method
absent from a target's race has no mean.

    python bench/race_targets.py --race squad bench/results/estimator_race_span bench/results/transfer 0,1,2,3,4,5 \\
        --race mrpc bench/results/estimator_race_mrpc bench/results/transfer_mrpc 0,1,2
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import common  # noqa: F401  (puts the repo on sys.path)
import estimator_race

from itft_utils.selection import load_transfer_results

#: On an extractive-QA target the fair casting of LogME and H-score is the span head's; the token casting is kept apart.
FAIR = {"LogME (span head)": "LogME", "H-score (span head)": "H-score"}
TOKEN = {"LogME": "LogME (token casting)", "H-score": "H-score (token casting)"}


def race_rows(target: str, race_dir: str, transfers_dir: str, seeds: list[int] | None, embeddings: str) -> dict[str, dict]:
    """One target's race rows by method, under the names they are compared by across targets."""
    estimates = json.loads((Path(race_dir) / "estimates.json").read_text())
    if estimates.get("target", "squad") != target:
        raise SystemExit(f"{race_dir}/estimates.json is the race of {estimates.get('target', 'squad')!r}, not {target!r}")
    transfers = load_transfer_results(transfers_dir, target=target, seeds=seeds)
    if transfers.baseline is None:
        raise SystemExit(f"{transfers_dir}: no baseline cell of {target}: the race scores gains over it")
    table, _ = estimator_race.race_table(estimates, transfers.scores, transfers.baseline, embeddings,
                                         digits=1 if transfers.metric == "f1" else 3)
    qa = any(r["unit"] == "token" for r in estimates["rows"].values())  # a QA target's race: token rows
    rename = {**TOKEN, **FAIR} if qa else {}
    return {rename.get(row["method"], row["method"]): row for row in table}


def combined_table(rows_by_target: dict[str, dict[str, dict]]) -> str:
    """Markdown: each method's NDCG@3 (with relevance the score, and the gain over the baseline) and regret@1 per
    target, and their means over the targets, best mean NDCG@3 first. A target on which no source helps has no
    gain NDCG (every order is as good there), so that column's mean is over the targets that have one."""
    targets = list(rows_by_target)
    methods = list(dict.fromkeys(m for rows in rows_by_target.values() for m in rows))

    def values(method: str, key: str) -> list[float | None]:
        return [rows_by_target[t][method][key] if method in rows_by_target[t] else None for t in targets]

    def mean(method: str, key: str) -> float:
        found = values(method, key)
        if None in found:
            return float("nan")
        defined = [v for v in found if v is not None and not math.isnan(v)]
        return sum(defined) / len(defined) if defined else float("nan")

    def shown(value: float | None, spec: str, unit: str = "") -> str:
        return "—" if value is None or math.isnan(value) else format(value, spec) + unit

    order = sorted(methods, key=lambda m: math.inf if math.isnan(mean(m, "ndcg@3")) else -mean(m, "ndcg@3"))
    lines = ["| method | " + " | ".join(f"NDCG@3, {t}" for t in targets) + " | mean NDCG@3 | "
             + " | ".join(f"NDCG@3 of gains, {t}" for t in targets) + " | mean NDCG@3 of gains | "
             + " | ".join(f"regret@1, {t}" for t in targets) + " | mean regret@1 |",
             "|---|" + "---|" * (3 * len(targets) + 3)]
    for m in order:
        cells = ([shown(v, ".3f") for v in values(m, "ndcg@3")] + [shown(mean(m, "ndcg@3"), ".3f")]
                 + [shown(v, ".3f") for v in values(m, "ndcg@3 gain")] + [shown(mean(m, "ndcg@3 gain"), ".3f")]
                 + [shown(v, ".2f", " %") for v in values(m, "regret@1")] + [shown(mean(m, "regret@1"), ".2f", " %")])
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--race", nargs=4, action="append", required=True, metavar=("TARGET", "RACE_DIR", "TRANSFERS", "SEEDS"),
                        help="a target, its race's folder, its transfers' folder and their seeds (e.g. 0,1,2; 'all': every seed)")
    parser.add_argument("--embeddings", default="bench/results/taskemb_real/embeddings", help="TaskEmb / TextEmb of the tasks")
    args = parser.parse_args()
    rows = {target: race_rows(target, race_dir, transfers, None if seeds == "all" else [int(s) for s in seeds.split(",")],
                              args.embeddings)
            for target, race_dir, transfers, seeds in args.race}
    print(f"the estimator race over {len(rows)} targets ({', '.join(rows)}); methods by their mean NDCG@3\n")
    print(combined_table(rows))


if __name__ == "__main__":
    main()
