"""Issue 16: the estimator race on the real data: TaskEmb, TextEmb, LogME, H-score, DataSize and random,
scored against the transfers measured in RESULTS §3 (target SQuAD-1k, MiniLM).

LogME and H-score read the target's 1,000 training questions through each source's encoder: the very
intermediate encoders whose transfers were measured (``bench_transfer.py``'s cache; a missing one is
trained with the same key, so a later ``bench_transfer.py`` run reuses it). Token rows (one per token of
each window, label start / end / other), subsampled to ``--max-rows``. TaskEmb and TextEmb are the
embeddings committed by ``bench/taskemb_real.py``. Reported per method: NDCG@3 and regret@1 (the course's
references), Spearman's ρ with the measured mean target F1, and seconds on this machine.

Cost, counted past what every method shares (the sources' fine-tuned models): LogME and H-score, one forward
pass of the target through each source encoder plus the estimator; TaskEmb, one Fisher pass over 500
examples of each task, the target's included, timed here on ``--taskemb-timing`` examples per task (the
committed embeddings did not record theirs; the pass is linear in examples) and scaled to 500, excluding the
fine-tuning of a target task model, which TaskEmb alone needs.

    python bench/estimator_race.py --model .carry/minilm --transfer-results bench/results/transfer \\
        --cache bench/results/transfer/intermediate --seed 3 --out bench/results/estimator_race
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import common

from itft_grader import references as ref  # LogME, NDCG and regret are Homework 3's exercises: the references
from itft_utils.estimators import h_score_estimator, ranking_from_scores, run_estimators, target_features
from itft_utils.homework import prepare_task, real_data_experiment, real_data_sources
from itft_utils.metrics import spearman
from itft_utils.models import build_model, load_tokenizer, quiet_transformers
from itft_utils.taskemb import TaskEmbedding, compute_task_embedding, rank_sources, selection_table
from itft_utils.transfer import intermediate_checkpoint, library_versions, load_cells, transfer_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--transfer-results", default="bench/results/transfer")
    parser.add_argument("--transfer-seeds", default=None, help="only these seeds' cells (default: all the folder has)")
    parser.add_argument("--cache", default="bench/results/transfer/intermediate", help="the transfer runs' source encoders")
    parser.add_argument("--embeddings", default="bench/results/taskemb_real/embeddings", help="TaskEmb / TextEmb of the tasks")
    parser.add_argument("--seed", type=int, default=3, help="whose source encoders to read (one seed's)")
    parser.add_argument("--max-rows", type=int, default=20000)
    parser.add_argument("--taskemb-timing", type=int, default=64, help="examples per task to time TaskEmb's Fisher pass on")
    parser.add_argument("--out", default="bench/results/estimator_race")
    args = parser.parse_args()

    data_dir = common.data_dir_or_exit()
    seeds = [int(s) for s in args.transfer_seeds.split(",")] if args.transfer_seeds else None
    cells = load_cells(args.transfer_results, seeds)
    rows_table = [r for r in transfer_table(cells) if r["target"] == "squad"]
    measured = {r["source"]: r["paired_mean"] for r in rows_table if r["source"] is not None}  # seeds may differ
    experiment = real_data_experiment(data_dir, sources=real_data_sources(names=sorted(measured)))
    experiment = dataclasses.replace(experiment, model=args.model)
    tokenizer = load_tokenizer(args.model)
    target = prepare_task(experiment.target, data_dir)
    rows, encoder_seconds, prepared = {}, {}, {}
    for spec in experiment.sources:
        source = prepare_task(spec, data_dir)
        folder, record = intermediate_checkpoint(source, args.model, args.seed, experiment.config, args.cache, tokenizer,
                                                 experiment.settings)
        prepared[spec.name] = (source, folder)
        with quiet_transformers():
            encoder = build_model(str(folder), "regression").base_model  # the encoder; the head is not read
        rows[spec.name] = target_features(encoder, target.task, target.train, tokenizer, experiment.settings,
                                          max_rows=args.max_rows)
        encoder_seconds[spec.name] = rows[spec.name].seconds
        print(f"{spec.name}: {len(rows[spec.name].labels)} {rows[spec.name].unit} rows, "
              f"{rows[spec.name].seconds:.0f} s (source model: {record['seconds']:.0f} s to train)", flush=True)
    fisher_seconds = {name: taskemb_seconds(source, str(folder), tokenizer, experiment, args.taskemb_timing)
                      for name, (source, folder) in prepared.items()}
    fisher_seconds["squad"] = taskemb_seconds(target, args.model, tokenizer, experiment, args.taskemb_timing)
    estimates = run_estimators({"LogME": lambda r: ref.logme(r.features, r.labels, r.regression), "H-score": h_score_estimator}, rows)
    rankings = {name: ranking_from_scores(e["scores"]) for name, e in estimates.items()}
    seconds = {name: sum(encoder_seconds.values()) + e["seconds"] for name, e in estimates.items()}
    embeddings = {p.stem: TaskEmbedding.load(p) for p in sorted(Path(args.embeddings).glob("*.npz"))
                  if p.stem in measured or p.stem == "squad"}
    if "squad" in embeddings and all(s in embeddings for s in measured):
        for method, vectors in (("TaskEmb", {n: e.taskemb() for n, e in embeddings.items()}),
                                ("TextEmb", {n: e.textemb() for n, e in embeddings.items()})):
            rankings[method] = [s for s, _ in rank_sources("squad", vectors, sources=measured)]
        seconds["TaskEmb"] = sum(fisher_seconds.values())
        seconds["TextEmb"] = float("nan")  # a forward pass inside TaskEmb's; not timed apart
    rankings["DataSize"] = sorted(measured)  # every source had the same 2,000 examples: a tie, alphabetical
    table = selection_table(rankings, measured, ref.ndcg_at_k, ref.regret_at_k, k=3, random_seeds=100)
    for row in table:
        ranking = rankings.get(row["method"])
        row["spearman"] = spearman([-ranking.index(s) for s in measured], list(measured.values())) if ranking else float("nan")
        row["seconds"] = seconds.get(row["method"], 0.0)
    lines = [f"target squad ({args.model}), {len(measured)} sources measured: "
             + ", ".join(f"{s} {v:.1f}" for s, v in sorted(measured.items(), key=lambda kv: -kv[1])),
             "", "| method | NDCG@3 | regret@1 | best source's rank | Spearman ρ | seconds | ranking |", "|---|---|---|---|---|---|---|"]
    for row in table:
        ranking = " > ".join(rankings[row["method"]]) if row["method"] in rankings else "-"
        lines.append(f"| {row['method']} | {row['ndcg@3']:.3f} | {row['regret@1']:.2f} % | {row['best_rank']:.1f} | "
                     f"{row['spearman']:+.2f} | {row['seconds']:.0f} | {ranking} |")
    report = "\n".join(lines)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "race.json").write_text(json.dumps({
        "command": "python bench/estimator_race.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "machine": common.machine(), "versions": library_versions(), "measured": measured,
        "estimates": {n: e["scores"] for n, e in estimates.items()}, "encoder_seconds": encoder_seconds,
        "taskemb_fisher_seconds_500": fisher_seconds,
        "rows": {s: {"n": len(r.labels), "unit": r.unit} for s, r in rows.items()}, "table": table, "report": report,
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, indent=1))


def taskemb_seconds(prepared, model: str, tokenizer, experiment, n: int, scale_to: int = 500) -> float:
    """Seconds of TaskEmb's Fisher pass (weights and layer outputs, per example) for ``scale_to`` examples of a
    task, timed on ``n`` of them with ``model``'s encoder and a head for the task (the head's values do not
    change the cost)."""
    task = prepared.task
    with quiet_transformers():
        net = build_model(model, task.task_type, task.num_labels, task.label_names)
    started = time.perf_counter()
    compute_task_embedding(net, tokenizer, task, prepared.train[:n], settings=experiment.settings)
    return (time.perf_counter() - started) * scale_to / n


if __name__ == "__main__":
    main()
