"""TaskEmb and TextEmb on the 13 real tasks (issue 5, part 4): one call, resumable, CPU-hours.

For every task of ../shared/data (SQuAD-1k for SQuAD: 1,000 questions of the first 38 dev
articles, as in Homework 2), MiniLM is fine-tuned with a bounded budget (1,000 examples, 1 epoch,
cached) or an encoder from Homework 2 is reused (``--hw2-models``: a head is trained on it, encoder
frozen); then the per-example Fisher (weights and layer outputs) and TextEmb are computed and cached.
An interrupted run resumes from its caches. Reported:

* per method (TaskEmb, TextEmb, and TaskEmb's weight and layer-output halves): the share of tasks
  whose nearest neighbour (cosine) has the same task family, and each task's nearest neighbour;
* the ranking of sources for SQuAD-1k, and, given Homework 2's measured transfers
  (``--transfer-results``: its output folder with ``cells/``, or a JSON file), NDCG@3, regret@1/3
  and the best source's rank for TaskEmb, TextEmb, DataSize and random (its exact expectation);
* the task maps (PCA, and classical MDS of 1 − cosine: t-SNE means little for 13 points) and the similarity
  heat maps (diagonal left blank) as PNG files.

    python bench/taskemb_real.py --out bench/out/taskemb_real [--transfer-results runs/hw2_real] \\
        [--hw2-models runs/hw2_real/intermediate] [--n-train 1000] [--n-fisher 500] [--device cuda]

Smoke test (seconds): ``--model tiny --tasks squad,sst2,conll2000 --n-train 32 --n-fisher 8``.
``--report-only`` prints the report over the embeddings cached in ``OUT/embeddings`` (committed in
``bench/results/taskemb_real``) with neither the model nor the data folder, and writes nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repo on sys.path)

from itft_grader.checks import references as ref  # NDCG and regret are Homework 3's exercises: the references
from itft_utils.data import load_task
from itft_utils.data.local import LOCAL_LOADERS
from itft_utils.plots import plot_similarity_heatmap, plot_task_map, save_figure
from itft_utils.qa import QASettings
from itft_utils.taskemb import (
    TaskEmbedding,
    datasize_ranking,
    embed_tasks,
    load_transfer_results,
    rank_sources,
    selection_table,
    similarity_matrix,
)
from itft_utils.training import TrainConfig

TARGET = "squad"


def hw2_encoders(folder: Path, model: str, seed: int = 0) -> dict[str, Path]:
    """Homework 2's cached intermediate encoders (``<folder>/*/intermediate.json``) of ``model`` and ``seed``, by task."""
    found: dict[str, Path] = {}
    for record_path in sorted(Path(folder).glob("*/intermediate.json")):
        record = json.loads(record_path.read_text())
        if record.get("model") == model and record.get("seed") == seed and record.get("spec", {}).get("name"):
            found.setdefault(record["spec"]["name"], record_path.parent)
    return found


def vectors_by_method(embeddings) -> dict[str, dict]:
    return {
        "TaskEmb": {n: e.taskemb() for n, e in embeddings.items()},
        "TextEmb": {n: e.textemb() for n, e in embeddings.items()},
        "TaskEmb (weights only)": {n: e.taskemb(("weights/",)) for n, e in embeddings.items()},
        "TaskEmb (layer outputs only)": {n: e.taskemb(("features/",)) for n, e in embeddings.items()},
    }


def draw(methods: dict, families: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for method in ("pca", "mds"):
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
        drawn = [plot_task_map(methods[m], families, method, f"{m}: 13 tasks ({method.upper()})", ax=ax)
                 for m, ax in zip(("TaskEmb", "TextEmb"), axes)]
        if all(d is None for d in drawn):
            plt.close(fig)
            continue
        written.append(str(save_figure(fig, out / f"task_map_{method}.png")))
    fig, axes = plt.subplots(1, 2, figsize=(20, 8))
    for m, ax in zip(("TaskEmb", "TextEmb"), axes):
        names, sim = similarity_matrix(methods[m])
        plot_similarity_heatmap(names, sim, f"{m}: cosine similarity", ax=ax)
    written.append(str(save_figure(fig, out / "similarity.png")))
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--tasks", default=",".join(sorted(LOCAL_LOADERS)), help="comma-separated (default: all 13)")
    parser.add_argument("--n-train", type=int, default=1000, help="fine-tuning budget per task (examples, 1 epoch)")
    parser.add_argument("--n-fisher", type=int, default=500, help="examples per task for the Fisher and TextEmb")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--doc-stride", type=int, default=64)
    parser.add_argument("--fisher", default="per_example", choices=("per_example", "batch_mean"))
    parser.add_argument("--hw2-models", default=None, help="Homework 2's intermediate-encoder cache to reuse (seed 0)")
    parser.add_argument("--transfer-results", default=None, help="Homework 2's output folder (cells/) or a results JSON")
    parser.add_argument("--transfer-seeds", default=None, help="only these seeds' cells of that folder (e.g. 0,1,2)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/taskemb_real")
    parser.add_argument("--report-only", action="store_true", help="report over OUT/embeddings only: no model, no data, "
                        "nothing written")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = [t for t in args.tasks.split(",") if t]
    out = Path(args.out)
    started = time.perf_counter()
    if args.report_only:
        embeddings = {p.stem: TaskEmbedding.load(p) for p in sorted((out / "embeddings").glob("*.npz")) if p.stem in names}
        if missing := sorted(set(names) - set(embeddings)):
            raise SystemExit(f"{out / 'embeddings'}: no cached embeddings of {missing}; run without --report-only first")
    else:
        embeddings = embed(args, names, out)
    summary = report(args, embeddings)
    if not args.report_only:  # a report runs nothing: the run's record and figures stay as the run left them
        summary["figures"] = draw(vectors_by_method(embeddings), {n: e.family for n, e in embeddings.items()}, out)
        summary["seconds"] = time.perf_counter() - started
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        print(f"\nwrote {out / 'summary.json'} and {', '.join(summary['figures'])} ({summary['seconds'] / 60:.1f} min)")
    return 0


def embed(args, names: list[str], out: Path) -> dict[str, TaskEmbedding]:
    """Fine-tune (or reuse) each task's model and embed it; cached in ``out``, so a rerun resumes."""
    data_dir = common.data_dir_or_exit()
    tasks = {name: load_task(name, source="local", data_dir=data_dir) for name in names}
    examples = {}
    if TARGET in tasks:
        _, squad_train, _ = common.squad_1k(data_dir, args.n_train, args.seed)
        examples[TARGET] = squad_train
    model_dirs = hw2_encoders(Path(args.hw2_models), args.model, args.seed) if args.hw2_models else {}
    model_dirs = {k: v for k, v in model_dirs.items() if k in tasks and k != TARGET}
    config = TrainConfig(learning_rate=1e-4, epochs=args.epochs, batch_size=16, warmup_ratio=0.1, seed=args.seed,
                         device=args.device)
    print(f"{len(tasks)} tasks, model {args.model}; {common.machine()}")
    if model_dirs:
        print(f"reusing Homework 2 encoders for {sorted(model_dirs)}")
    return embed_tasks(tasks, args.model, out, examples=examples, n_train=args.n_train, n_fisher=args.n_fisher,
                       config=config, settings=QASettings(args.max_length, args.doc_stride), model_dirs=model_dirs,
                       fisher=args.fisher, device=args.device, seed=args.seed)


def report(args, embeddings: dict[str, TaskEmbedding]) -> dict:
    """Print the nearest neighbours, the rankings for the target and the selection table; return them."""
    families = {n: e.family for n, e in embeddings.items()}
    methods = vectors_by_method(embeddings)
    summary = {"setting": vars(args), "machine": common.machine(), "seconds": None, "methods": {}}
    print("\nnearest neighbour (cosine) and same-family share")
    for method, vectors in methods.items():
        neighbours = {n: rank_sources(n, vectors)[0][0] for n in vectors}
        share = ref.nearest_neighbour_agreement(vectors, families)
        entry: dict[str, Any] = {"same_family_nearest_neighbour": share, "nearest_neighbour": neighbours}
        if TARGET in vectors:
            entry["ranking_for_target"] = [(s, round(c, 4)) for s, c in rank_sources(TARGET, vectors)]
        summary["methods"][method] = entry
        print(f"  {method:<30} {share:.2f}  " + ", ".join(f"{a}->{b}" for a, b in neighbours.items()))
        if TARGET in vectors:
            print(f"  {'':<30} cosine to {TARGET}: " + ", ".join(f"{s} {c:.2f}" for s, c in entry["ranking_for_target"]))

    if args.transfer_results and TARGET in embeddings:
        seeds = [int(x) for x in args.transfer_seeds.split(",")] if args.transfer_seeds else None
        results = load_transfer_results(args.transfer_results, target=TARGET, seeds=seeds)
        scores = {s: v for s, v in results.scores.items() if s in embeddings and s != TARGET}
        missing = sorted(set(results.scores) - set(scores))
        rankings = {m: [s for s, _ in rank_sources(TARGET, methods[m], sources=scores)] for m in ("TaskEmb", "TextEmb")}
        rankings["DataSize"] = datasize_ranking({s: results.source_sizes.get(s, embeddings[s].train_size) for s in scores})
        table = selection_table(rankings, scores, ref.ndcg_at_k, ref.regret_at_k, k=3, random_expected=True)
        summary["selection"] = {"target": TARGET, "metric": results.metric, "baseline": results.baseline, "scores": scores,
                                "left_out": missing, "table": table}
        print(f"\nselection for {TARGET} against measured transfers ({results.metric}; left out: {missing or 'none'})")
        for row in table:
            print("  " + "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    return summary


if __name__ == "__main__":
    sys.exit(main())
