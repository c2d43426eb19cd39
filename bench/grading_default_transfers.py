"""The grading-mode default transfers (``itft_utils/resources/transfer_results_default.json``), made by
a command instead of by hand: Homework 3 ranks sources against these numbers when a student has no
Homework 2 output of their own in grading mode (tiny random BERT, generated tasks: NOT real-data results).

    python bench/grading_default_transfers.py            # rebuild the file (about a minute on 2 CPU cores)
    python bench/grading_default_transfers.py --check    # rebuild into bench/out and compare with the shipped file

The matrix: target gen_qa (200 questions, 2 epochs, F1 on 200 held-out questions), sources gen_qa_aux,
gen_sentiment, gen_topic, gen_pair, gen_similarity, gen_tagging (400 examples, 2 epochs each: six sources of
four task types, Homework 3's grading library), the grading preset's
tiny model, lr 3e-3, batch 16, windows of 96 tokens (stride 32), seeds 0, 1, 2. A test rebuilds it and
compares (tests/test_recorded.py), under the torch version recorded in the file.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import results_file  # noqa: E402  (puts the repo on sys.path)

from itft_utils.homework import prepare_task  # noqa: E402
from itft_utils.qa import QASettings  # noqa: E402
from itft_utils.selection import DEFAULT_TRANSFER_RESULTS  # noqa: E402
from itft_utils.training import TrainConfig  # noqa: E402
from itft_utils.transfer import TaskSpec, run_transfer_matrix  # noqa: E402

SOURCES = ("gen_qa_aux", "gen_sentiment", "gen_topic", "gen_pair", "gen_similarity", "gen_tagging")
SEEDS = (0, 1, 2)
COMMAND = "python bench/grading_default_transfers.py"


def build(out_dir: str | Path) -> dict:
    """Run the matrix into ``out_dir`` (resumable) and return the file's content."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model gains nothing from threads, and one thread is reproducible
    try:
        target = TaskSpec("gen_qa", "generated", 200, 200, 2)
        sources = [TaskSpec(name, "generated", 400, 0, 2) for name in SOURCES]
        cells = run_transfer_matrix(sources, [target], SEEDS, out_dir, "tiny", TrainConfig(learning_rate=3e-3, batch_size=16),
                                    QASettings(96, 32), progress=False, prepare=prepare_task)
    finally:
        torch.set_num_threads(threads)
    by_arm = [[c["score"] for c in cells if c["source"] == name] for name in (None, *SOURCES)]
    spread = max(max(scores) - min(scores) for scores in by_arm)  # one arm's spread over seeds
    return results_file(
        cells, "gen_qa", SOURCES, SEEDS, flags={"grading_default": True}, model="tiny", source_sizes=dict.fromkeys(SOURCES, 400),
        command=COMMAND,
        note=("GRADING-MODE DEFAULT, NOT REAL-DATA RESULTS. Measured with the tiny random BERT of the grading preset "
              "(2 layers, hidden size 64) on generated tasks: each source fine-tuned on 400 examples, then the target "
              "gen_qa on 200 examples (2 epochs each, lr 3e-3, batch 16, max length 96), F1 on 200 held-out questions, "
              f"mean of seeds 0, 1, 2 (`{COMMAND}`). The differences between sources are within seed noise (per-seed F1 "
              f"varies by up to {spread:.0f} points). For real data, load Homework 2's measured results instead."))

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare a rebuild with the shipped file; change nothing")
    parser.add_argument("--out", default=None, help="where the cells go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        made = build(args.out or scratch)
    if args.check:
        shipped = json.loads(DEFAULT_TRANSFER_RESULTS.read_text())
        same = {k: v for k, v in made.items() if k != "versions"} == {k: v for k, v in shipped.items() if k != "versions"}
        print("the shipped file matches its command" if same else
              f"DIFFERS from {DEFAULT_TRANSFER_RESULTS}: shipped {shipped['per_seed']}, made {made['per_seed']}")
        raise SystemExit(0 if same else 1)
    DEFAULT_TRANSFER_RESULTS.write_text(json.dumps(made, indent=1) + "\n")
    print(f"wrote {DEFAULT_TRANSFER_RESULTS}: baseline {made['baseline']}, {made['scores']}")


if __name__ == "__main__":
    main()
