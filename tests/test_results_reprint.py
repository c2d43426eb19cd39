"""Every table RESULTS quotes from a ``--report-only`` command is that command's output, verbatim, over the
committed results (issue 33): an edited number, or results added without the table redone, fails here.
Sections 1 and 12 have their own tests (``test_bench_scripts.py``, ``test_planted.py``); running a report
leaves the committed files as they were."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from itft_utils.data import default_data_dir

ROOT = Path(__file__).resolve().parents[1]
NEEDS_DATA = pytest.mark.skipif(default_data_dir() is None,
                                reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
REPORTS = [
    pytest.param(["bench/bench_transfer.py", "--model", ".carry/minilm", "--out", "bench/results/transfer", "--seeds",
                  "0,1,2,3,4,5", "--report-only"], 4, 0, id="section 3: the transfer matrix", marks=NEEDS_DATA),
    pytest.param(["bench/harm_probe.py", "--report-only"], 3, 0, id="section 3: knowledge or optimisation"),
    pytest.param(["bench/estimator_race.py", "--report-only", "--transfer-seeds", "0,1,2,3,4,5"], 1, 1,
                 id="section 4: the estimator race (and its cost line)"),
    pytest.param(["bench/bench_transfer.py", "--model", ".carry/minilm", "--out", "bench/results/transfer_mrpc", "--target", "mrpc",
                  "--seeds", "0,1,2", "--sources", "conll2000,sst2,stsb,wnut17,rte,policyqa,subjqa", "--report-only"], 4, 0,
                 id="section 4: the second target's transfers", marks=NEEDS_DATA),
    pytest.param(["bench/estimator_race.py", "--report-only", "--out", "bench/results/estimator_race_span",
                  "--transfer-seeds", "0,1,2,3,4,5"], 1, 1, id="section 4: the race in the span head's casting"),
    pytest.param(["bench/estimator_race.py", "--report-only", "--target", "mrpc", "--transfer-results", "bench/results/transfer_mrpc",
                  "--transfer-seeds", "0,1,2", "--out", "bench/results/estimator_race_mrpc"], 1, 1, id="section 4: the race on MRPC"),
    pytest.param(["bench/race_targets.py", "--race", "squad", "bench/results/estimator_race_span", "bench/results/transfer",
                  "0,1,2,3,4,5", "--race", "mrpc", "bench/results/estimator_race_mrpc", "bench/results/transfer_mrpc", "0,1,2"], 1, 0,
                 id="section 4: the race over both targets"),
    pytest.param(["bench/hw1_recorded.py", "--report-only"], 2, 0, id="section 9: Homework 1's recorded run"),
    pytest.param(["bench/hw1_effect.py", "--report-only"], 2, 0, id="section 9: Homework 1 at four times the steps"),
    pytest.param(["bench/hw1_recorded.py", "--planted", "--report-only"], 2, 0,
                 id="section 12: Homework 1 offline on the planted family"),
    pytest.param(["bench/planted_selection.py", "--report-only"], 1, 0, id="section 12: Homework 3 offline on the planted family"),
    pytest.param(["bench/target_size.py", "--sizes", "250=bench/results/transfer_n250,500=bench/results/transfer_n500,"
                  "1000=bench/results/transfer", "--source", "policyqa", "--report-only"], 1, 0, id="section 3: the target-size axis"),
    pytest.param(["bench/equal_budgets.py", "--report-only"], 2, 0, id="section 13: Homework 2's budget design"),
    pytest.param(["bench/chain.py", "--report-only"], 1, 0, id="section 14: chains and forgetting"),
]


def _status() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--", "bench/results", "itft_utils/resources"], cwd=ROOT,
                          capture_output=True, text=True).stdout


@pytest.mark.parametrize(("command", "tables", "cost_lines"), REPORTS)
def test_results_quotes_each_report_verbatim_and_the_report_changes_no_file(command, tables, cost_lines):
    before = _status()
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = re.findall(r"(?:^\|.*\n)+", done.stdout, re.M)
    assert len(printed) == tables, f"{command[0]} printed {len(printed)} tables, RESULTS quotes {tables}"
    results = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    for table in printed:
        assert table.strip() in results, f"RESULTS differs from {' '.join(command)}:\n{table}"
    costs = [line for line in done.stdout.splitlines() if line.startswith("cost: ")]  # the seconds RESULTS quotes
    assert len(costs) == cost_lines
    for line in costs:
        assert line in results, f"RESULTS differs from {' '.join(command)}:\n{line}"
    assert _status() == before, f"{' '.join(command)} changed committed files"


def test_the_task_embedding_report_needs_no_model_and_no_data(tmp_path):
    """taskemb_real.py --report-only over the committed embeddings, with no ``.carry/`` model named and no data
    folder (issue 33): it prints the nearest neighbours and the selection, and writes nothing."""
    before = _status()
    env = {**os.environ, "ITFT_DATA_DIR": str(tmp_path / "no-data")}
    done = subprocess.run([sys.executable, "bench/taskemb_real.py", "--report-only", "--model", str(tmp_path / "no-model"),
                           "--out", "bench/results/taskemb_real", "--transfer-results", "bench/results/transfer",
                           "--transfer-seeds", "0,1,2,3,4,5"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "same-family share" in done.stdout and "method random (expected)  ndcg@3 0.709" in done.stdout
    assert _status() == before and not list(tmp_path.iterdir())
