"""Homework 3 offline on the planted family, recorded: TaskEmb and TextEmb of the planted target and sources
with MiniLM at the notebook's settings (``itft_utils.homework.taskemb_library("offline")`` without the data
folder), ranked against Homework 2's recorded transfers (``transfer_results_plant_qa.json``), once with the
model solution's layer Fisher (Exercise B1) and once with its typical mistake, |g| instead of g².

    python bench/planted_selection.py                # embeds what is missing (minutes on a CPU), then reports
    python bench/planted_selection.py --report-only  # the committed embeddings' report; no model, writes nothing

Embeddings go to ``--out``/right and ``--out``/abs, the fine-tuned task models to ``--out``/right/models (which the |g|
variant reuses, so the two differ only in the Fisher); neither is committed (they would weigh on every device
session's carry), only ``--out``/cosines.json, each source's cosine to the target per variant and method.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import common  # noqa: F401  (puts the repo on sys.path)
import nbformat

from itft_grader.checks import references as ref  # NDCG and regret are Homework 3's exercises: the references
from itft_grader.checks.local import solution_namespace
from itft_grader.course import solutions_dir
from itft_utils.homework import PLANTED_TARGET, homework_experiment, taskemb_library
from itft_utils.selection import packaged_transfer_results
from itft_utils.taskemb import TaskEmbedding, embed_tasks, similarity_matrix
from itft_utils.training import TrainConfig

VARIANTS = {"right": None, "abs": ("((g ** 2 * mask).sum(1) / tokens)", "((g.abs() * mask).sum(1) / tokens)")}


def layer_fisher(mistake: tuple[str, str] | None):
    """Exercise B1's model solution, or that solution with ``mistake`` written into it."""
    before = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # the notebook's set-up cells run quietly, in seconds
    try:
        notebook = nbformat.read(solutions_dir() / "hw3_taskemb.ipynb", as_version=4)
        return solution_namespace(notebook, "layer_fisher_code", mistake)["layer_output_fisher"]
    finally:
        if before is None:
            del os.environ["NBGRADER_EXECUTION"]
        else:
            os.environ["NBGRADER_EXECUTION"] = before


def embed(out: Path) -> None:
    """Both variants, as the notebook's Part B cell embeds them offline without the data folder."""
    no_data = out / "no-data"  # not there: offline, the homeworks run the planted family
    library, hw2 = taskemb_library("offline", data_dir=no_data), homework_experiment("offline", data_dir=no_data)
    config = TrainConfig(learning_rate=hw2.config.learning_rate, epochs=1, batch_size=hw2.config.batch_size, seed=0)
    settings: dict[str, Any] = dict(model=hw2.model, examples=library.examples, n_train=library.n_train, n_fisher=library.n_fisher,
                    config=config, settings=hw2.settings, batch_size=library.batch_size, threads=library.threads,
                    n_eval=library.n_eval, eval_examples=library.eval_examples)
    right = embed_tasks(library.tasks, out_dir=out / "right", layer_fisher=layer_fisher(VARIANTS["right"]), **settings)
    models = {name: e.meta["model_folder"] for name, e in right.items()}
    embed_tasks(library.tasks, out_dir=out / "abs", layer_fisher=layer_fisher(VARIANTS["abs"]), model_dirs=models, **settings)


def cosines(out: Path) -> dict:
    """Each variant's cosines of every source to the target, by method, from the embeddings in ``out`` (written
    to ``out``/cosines.json, the committed record: the embeddings themselves stay out of the repository)."""
    record: dict[str, dict[str, dict[str, float]]] = {}
    for variant in VARIANTS:
        embeddings = {path.stem: TaskEmbedding.load(path.with_suffix("")) for path in sorted((out / variant / "embeddings").glob("*.json"))}
        methods = {"TaskEmb": {n: e.taskemb() for n, e in embeddings.items()}}
        if variant == "right":  # TextEmb does not depend on the Fisher
            methods["TextEmb"] = {n: e.textemb() for n, e in embeddings.items()}
        for method, vectors in methods.items():
            names, sim = similarity_matrix(vectors)
            row = sim[names.index(PLANTED_TARGET)]
            record.setdefault(variant, {})[method] = {n: float(row[i]) for i, n in enumerate(names) if n != PLANTED_TARGET}
    return record


def report(record: dict) -> str:
    results = packaged_transfer_results(PLANTED_TARGET)
    scores = {s: v for s, v in results.scores.items() if s != PLANTED_TARGET}
    lines = ["measured (Homework 2's recorded run, transfer_results_plant_qa.json): "
             + " > ".join(f"{s} {scores[s]:.1f}" for s in sorted(scores, key=scores.__getitem__, reverse=True))
             + f"; no intermediate task {results.baseline:.1f}", "",
             "| Fisher | method | ranking (cosine to the target) | NDCG@3 | regret@1 | best source's rank |", "|---|---|---|---|---|---|"]
    for variant, methods in record.items():
        for method, cosine in methods.items():
            ranking = sorted(scores, key=lambda s: (-cosine[s], s))
            lines.append(f"| {'g²' if variant == 'right' else 'abs(g)'} | {method} | "
                         + " > ".join(f"{s} ({cosine[s]:.3f})" for s in ranking)
                         + f" | {ref.ndcg_at_k(ranking, scores, 3):.3f} | {ref.regret_at_k(ranking, scores, 1):.1f} % "
                         f"| {ranking.index(max(scores, key=scores.__getitem__)) + 1} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "planted_selection")
    parser.add_argument("--report-only", action="store_true", help="report the committed embeddings; run nothing")
    args = parser.parse_args()
    record_path = args.out / "cosines.json"
    if not args.report_only:
        embed(args.out)
        record_path.write_text(json.dumps(cosines(args.out), indent=1) + "\n")
    print(report(json.loads(record_path.read_text())))


if __name__ == "__main__":
    main()
