"""Issue 16: the estimator race on the real data: TaskEmb, TextEmb, LogME, H-score, DataSize and random,
scored against the transfers measured in RESULTS §3 (target SQuAD-1k, MiniLM).

LogME and H-score read the target's 1,000 training questions through each source's encoder: the very
intermediate encoders whose transfers were measured (``bench_transfer.py``'s cache; a missing one is
trained with the same key, so a later ``bench_transfer.py`` run reuses it). Token rows (one per token of
each window, label start / end / other), subsampled to ``--max-rows``. TaskEmb and TextEmb are the
embeddings committed by ``bench/taskemb_real.py``. Reported per method: NDCG@3 (with the share of all orders of
the sources that score as well: how often a random pick does), regret@1 (the course's references), Spearman's ρ
with the measured mean target F1, and seconds on this machine.

Cost, counted past what every method shares (the sources' fine-tuned models): LogME and H-score, one forward
pass of the target through each source encoder plus the estimator; TaskEmb, one Fisher pass over 500
examples of each task, the target's included, timed here on ``--taskemb-timing`` examples per task (the
committed embeddings did not record theirs; the pass is linear in examples) and scaled to 500, excluding the
fine-tuning of a target task model, which TaskEmb alone needs.

    python bench/estimator_race.py --model .carry/minilm --transfer-results bench/results/transfer \\
        --cache bench/results/transfer/intermediate --seed 3 --out bench/results/estimator_race
    python bench/estimator_race.py --report-only --transfer-seeds 0,1,2,3,4,5

The measurement (``estimates.json``: every source's LogME and H-score, the seconds of each part) is made once;
``--report-only`` scores it again against the transfers of other seeds as the matrix grows.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import time
from pathlib import Path

import common

from itft_grader.checks import references as ref  # LogME, NDCG and regret are Homework 3's exercises: the references
from itft_utils.encoding import encode
from itft_utils.estimators import (
    h_score,
    h_score_estimator,
    hidden_states,
    ranking_from_scores,
    run_estimators,
    span_estimate,
    span_rows,
    target_features,
)
from itft_utils.homework import pair_target, prepare_task, real_data_experiment, real_data_sources
from itft_utils.metrics import spearman
from itft_utils.models import build_model, load_tokenizer, quiet_transformers
from itft_utils.selection import top_k_orders
from itft_utils.taskemb import TaskEmbedding, compute_task_embedding, load_transfer_results, rank_sources, selection_table
from itft_utils.transfer import intermediate_checkpoint, library_versions

#: The span head's casting (issue 33): each estimator on context tokens, start and end apart, balanced and
#: centred, over ROW_SAMPLES draws of the negative rows; today's token casting stays beside it.
SPAN_METHODS = {"LogME (span head)": ref.logme, "H-score (span head)": h_score}
ROW_SAMPLES = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--target", default="squad", help="whose transfers are raced: squad, or a pair target of "
                        "bench_transfer.py --target (mrpc, rte; its --transfer-results folder)")
    parser.add_argument("--transfer-results", default="bench/results/transfer")
    parser.add_argument("--transfer-seeds", default=None, help="only these seeds' cells (default: all the folder has)")
    parser.add_argument("--cache", default="bench/results/transfer/intermediate", help="the transfer runs' source encoders")
    parser.add_argument("--embeddings", default="bench/results/taskemb_real/embeddings", help="TaskEmb / TextEmb of the tasks")
    parser.add_argument("--seed", type=int, default=3, help="whose source encoders to read (one seed's)")
    parser.add_argument("--max-rows", type=int, default=20000)
    parser.add_argument("--taskemb-timing", type=int, default=64, help="examples per task to time TaskEmb's Fisher pass on")
    parser.add_argument("--out", default="bench/results/estimator_race")
    parser.add_argument("--report-only", action="store_true",
                        help="score the estimates in OUT/estimates.json against the transfers of --transfer-seeds, measuring nothing")
    args = parser.parse_args()

    seeds = [int(s) for s in args.transfer_seeds.split(",")] if args.transfer_seeds else None
    # Each source's target F1 as Homework 3 reads it: the baseline's mean plus its mean same-seed difference.
    transfers = load_transfer_results(args.transfer_results, target=args.target, seeds=seeds)
    if transfers.baseline is None:
        raise SystemExit(f"{args.transfer_results}: no baseline cell of {args.target}: the race scores gains over it")
    measured = transfers.scores
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        estimates = json.loads((out / "estimates.json").read_text())
        if missing := sorted(set(measured) - set(estimates["encoder_seconds"])):
            raise SystemExit(f"{out / 'estimates.json'}: no estimates for {missing}; run without --report-only")
    else:
        estimates = measure(args, sorted(measured))
        (out / "estimates.json").write_text(json.dumps(estimates, indent=1))
    table, report = race_table(estimates, measured, transfers.baseline, args.embeddings, digits=1 if transfers.metric == "f1" else 3)
    print(report)
    if args.report_only:  # a report runs nothing: race.json stays as the measuring call wrote it (issue 33)
        return
    (out / "race.json").write_text(json.dumps({
        "command": "python bench/estimator_race.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items() if v not in (None, False)),
        "measured": measured, "transfer_seeds": seeds, "table": table, "report": report}, indent=1))


def measure(args, sources: list[str]) -> dict:
    """The expensive part, done once: LogME's and H-score's scores of every source (the target's rows
    through the source's encoder) and what each method costs."""
    data_dir = common.data_dir_or_exit()
    experiment = real_data_experiment(data_dir, sources=real_data_sources(names=sources),
                                      target=None if args.target == "squad" else pair_target(args.target))
    experiment = dataclasses.replace(experiment, model=args.model)
    tokenizer = load_tokenizer(args.model)
    target = prepare_task(experiment.target, data_dir)
    rows, prepared = {}, {}
    span_scores: dict[str, dict[str, list[float]]] = {}
    span_seconds: dict[str, dict[str, float]] = {}  # by method, then source
    span_pass: dict[str, float] = {}
    encoder_seconds: dict[str, float] = {}
    target_windows = encode(target.task.task_type, target.train, tokenizer, experiment.settings)  # the same for every source
    for spec in experiment.sources:
        source = prepare_task(spec, data_dir)
        folder, record = intermediate_checkpoint(source, args.model, args.seed, experiment.config, args.cache, tokenizer,
                                                 experiment.settings)
        prepared[spec.name] = (source, folder)
        with quiet_transformers():
            encoder = build_model(str(folder), "regression").base_model  # the encoder; the head is not read
        started = time.perf_counter()  # one pass of the target through the encoder, shared by both castings
        states = list(hidden_states(encoder, target_windows, tokenizer))
        shared = time.perf_counter() - started
        rows[spec.name] = target_features(encoder, target.task, target.train, tokenizer, experiment.settings,
                                          max_rows=args.max_rows, states=states)
        encoder_seconds[spec.name] = shared + rows[spec.name].seconds  # each casting is charged the pass, as alone
        if target.task.task_type == "qa":  # a classification target's rows are already the head's: one per example
            spans = span_rows(encoder, target.task, target.train, tokenizer, experiment.settings, states=states)
            for method, score in SPAN_METHODS.items():
                started = time.perf_counter()
                span_scores.setdefault(method, {})[spec.name] = [span_estimate(spans, score, seed) for seed in range(ROW_SAMPLES)]
                span_seconds.setdefault(method, {})[spec.name] = time.perf_counter() - started
            span_pass[spec.name] = shared + spans.seconds
        del states
        print(f"{spec.name}: {len(rows[spec.name].labels)} {rows[spec.name].unit} rows, "
              f"{encoder_seconds[spec.name]:.0f} s (source model: {record['seconds']:.0f} s to train)", flush=True)
    fisher_seconds = {name: taskemb_seconds(source, str(folder), tokenizer, experiment, args.taskemb_timing)
                      for name, (source, folder) in prepared.items()}
    fisher_seconds[args.target] = taskemb_seconds(target, args.model, tokenizer, experiment, args.taskemb_timing)
    estimates = run_estimators({"LogME": lambda r: ref.logme(r.features, r.labels, r.regression), "H-score": h_score_estimator}, rows)
    return {"machine": common.machine(), "versions": library_versions(), "model": args.model, "target": args.target,
            "encoder_seed": args.seed,
            "scores": {name: e["scores"] for name, e in estimates.items()},
            "estimator_seconds": {name: e["seconds"] for name, e in estimates.items()},
            "encoder_seconds": encoder_seconds, "taskemb_fisher_seconds_500": fisher_seconds,
            "rows": {name: {"n": len(r.labels), "unit": r.unit} for name, r in rows.items()},
            "span_scores": span_scores, "span_estimator_seconds": span_seconds, "span_encoder_seconds": span_pass,
            "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def race_table(estimates: dict, measured: dict[str, float], baseline: float, embeddings_dir: str,
               digits: int = 1) -> tuple[list[dict], str]:
    """Every method's ranking of the measured sources, scored with the course's NDCG@3 (and with a source's
    relevance its gain over ``baseline``, 0 when it hurts), regret@1 and Spearman's ρ against the measured F1,
    beside its cost in seconds; the type rule and random as exact expectations (Markdown and rows). ``digits``:
    of the scores (1 for F1, 3 for an accuracy)."""
    target = estimates.get("target", "squad")  # estimates measured before issue 33's second target are SQuAD's
    rankings = {name: ranking_from_scores({s: v for s, v in scores.items() if s in measured})
                for name, scores in estimates["scores"].items()}
    fisher = {src: v for src, v in estimates["taskemb_fisher_seconds_500"].items() if src in measured or src == target}
    encoder_seconds = sum(v for s, v in estimates["encoder_seconds"].items() if s in measured)
    seconds = {name: encoder_seconds + v for name, v in estimates["estimator_seconds"].items()}
    embeddings = {p.stem: TaskEmbedding.load(p) for p in sorted(Path(embeddings_dir).glob("*.npz"))
                  if p.stem in measured or p.stem == target}
    if target in embeddings and all(s in embeddings for s in measured):
        for method, vectors in (("TaskEmb", {n: e.taskemb() for n, e in embeddings.items()}),
                                ("TextEmb", {n: e.textemb() for n, e in embeddings.items()})):
            rankings[method] = [s for s, _ in rank_sources(target, vectors, sources=measured)]
        seconds["TaskEmb"] = sum(fisher.values())
        seconds["TextEmb"] = float("nan")  # a forward pass inside TaskEmb's; not timed apart
    span = {method: {src: v for src, v in by_source.items() if src in measured}
            for method, by_source in estimates.get("span_scores", {}).items()}
    for method, by_source in span.items():  # ranked by the mean over row samples; each sample's NDCG printed below
        rankings[method] = ranking_from_scores({src: sum(v) / len(v) for src, v in by_source.items()})
        seconds[method] = (sum(v for src, v in estimates["span_encoder_seconds"].items() if src in measured)
                           + sum(v for src, v in estimates["span_estimator_seconds"][method].items() if src in measured))
    rankings["DataSize"] = sorted(measured)  # every source had the same 2,000 examples: a tie, alphabetical
    table = selection_table(rankings, measured, ref.ndcg_at_k, ref.regret_at_k, k=3, random_expected=True)
    if target in embeddings and all(s in embeddings for s in measured):  # the types come with the embeddings
        table.insert(-1, type_rule_row(measured, {n: e.task_type for n, e in embeddings.items()}, target))
    for row in table:
        ranking = rankings.get(row["method"])
        row["spearman"] = spearman([-ranking.index(s) for s in measured], list(measured.values())) if ranking else float("nan")
        row["seconds"] = seconds.get(row["method"], 0.0)
        row["chance"] = share_of_orders_as_good(row["ndcg@3"], measured) if ranking else float("nan")
        row["ndcg@3 gain"] = (ndcg_of_gains(ranking, measured, baseline) if ranking else
                              mean_over_orders(ndcg_of_gains, row.pop("orders", None) or top_k_orders(measured, 3), measured, baseline))
    lines = [f"target {target} ({estimates['model']}), baseline {baseline:.{digits}f}, {len(measured)} sources measured: "
             + ", ".join(f"{s} {v:.{digits}f}" for s, v in sorted(measured.items(), key=lambda kv: -kv[1])),
             "", "| method | NDCG@3 | NDCG@3, relevance max(0, gain) | orders as good (%) | regret@1 | best source's rank "
             "| Spearman ρ | seconds | ranking |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in table:
        order = " > ".join(rankings[row["method"]]) if row["method"] in rankings else "-"
        lines.append(f"| {row['method']} | {row['ndcg@3']:.3f} | {_number(row['ndcg@3 gain'], '.3f')} "
                     f"| {_number(100 * row['chance'], '.1f')} | {row['regret@1']:.2f} % | {row['best_rank']:.1f} | "
                     f"{_number(row['spearman'], '+.2f')} | {_number(row['seconds'], '.0f')} | {order} |")
    for method, by_source in span.items():
        samples = [ref.ndcg_at_k(ranking_from_scores({src: v[i] for src, v in by_source.items()}), measured, 3)
                   for i in range(min(len(v) for v in by_source.values()))]
        lines.append(f"{method}: NDCG@3 per row sample " + ", ".join(f"{v:.3f}" for v in samples)
                     + "; scores, mean (range over the samples): "
                     + ", ".join(f"{src} {sum(v) / len(v):.3f} ({min(v):.3f} to {max(v):.3f})"
                                 for src, v in sorted(by_source.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))))
    passes = [v for src, v in estimates["encoder_seconds"].items() if src in measured]
    lines += ["", f"cost: the target's forward pass through each source's encoder {min(passes):.0f}-{max(passes):.0f} s "
              f"({sum(passes) / 60:.1f} min for the {len(passes)}); beyond it, LogME {estimates['estimator_seconds']['LogME']:.1f} s "
              f"and H-score {estimates['estimator_seconds']['H-score']:.1f} s; TaskEmb's Fisher pass over 500 examples "
              f"{min(fisher.values()):.0f}-{max(fisher.values()):.0f} s per task (timed on 64 and scaled; the target's "
              f"{fisher.get(target, float('nan')):.0f} s)"]
    return table, "\n".join(lines)


def ndcg_of_gains(ranking: list[str], measured: dict[str, float], baseline: float, k: int = 3) -> float:
    """NDCG@k with a source's relevance its gain over the baseline, 0 for a source that hurts (issue 33: "score
    minus the worst source" gives a top three of harmful sources credit). A zero-score stand-in for "no
    transfer" makes the course's NDCG subtract nothing; nan when no source has a gain."""
    gains = {s: max(0.0, v - baseline) for s, v in measured.items()}
    if not any(gains.values()):  # no source helps: every order is as good, and the column says nothing
        return float("nan")
    return ref.ndcg_at_k(ranking, {**gains, "(no intermediate task)": 0.0}, k)


def mean_over_orders(metric, orders: list[list[str]], measured: dict[str, float], baseline: float) -> float:
    return sum(metric(order, measured, baseline) for order in orders) / len(orders)


def type_rule_orders(types: dict[str, str], target: str) -> list[list[str]]:
    """Every order of the sources (``types``: task type by task, the target's included) that the rule "same task
    type as the target first" allows: the target's type in any order, then the others in any order."""
    same = [s for s in sorted(types) if s != target and types[s] == types[target]]
    other = [s for s in sorted(types) if s != target and s not in same]
    return [[*a, *b] for a in itertools.permutations(same) for b in itertools.permutations(other)]


def type_rule_row(measured: dict[str, float], types: dict[str, str], target: str) -> dict:
    """The type rule's exact expectations over the orders it allows (issue 33: as good as H-score?)."""
    orders = type_rule_orders({s: types[s] for s in [*measured, target]}, target)
    best = max(measured, key=measured.__getitem__)
    return {"method": "same type first (expected)", "ndcg@3": sum(ref.ndcg_at_k(o, measured, 3) for o in orders) / len(orders),
            "regret@1": sum(ref.regret_at_k(o, measured, 1) for o in orders) / len(orders),
            "best_rank": sum(o.index(best) + 1 for o in orders) / len(orders), "top": "-", "orders": orders}


def share_of_orders_as_good(ndcg: float, measured: dict[str, float], k: int = 3) -> float:
    """The share of all orders of the sources whose NDCG@k is at least ``ndcg``: how often a random pick
    does as well (exact: NDCG@k depends only on the first k, so the k-permutations are enumerated)."""
    orders = top_k_orders(measured, k)
    return sum(ref.ndcg_at_k(order, measured, k) >= ndcg - 1e-12 for order in orders) / len(orders)


def _number(value: float, spec: str) -> str:
    return "—" if math.isnan(value) else format(value, spec)  # random has no ranking, TextEmb no separate time


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
