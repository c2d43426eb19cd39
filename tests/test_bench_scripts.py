"""The benchmark scripts still run: each one's documented smoke command (tiny model, a few examples) or,
for the report scripts, their report over the committed cells. A script that only runs for hours in the
background can otherwise break unnoticed (``taskemb_real.py`` once passed ``embed_tasks`` its options by
position after the signature had changed)."""
from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from itft_grader.checks import references as ref
from itft_utils.data import default_data_dir
from itft_utils.transfer import load_cells

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_target_size_reports_the_paired_differences_of_the_committed_cells(tmp_path):
    out = _run("target_size.py", "--sizes", "1000=bench/results/transfer", "--source", "policyqa", "--seeds", "0,1,2",
               "--out", str(tmp_path))
    cells = load_cells(ROOT / "bench/results/transfer", seeds=[0, 1, 2])
    base = {c["seed"]: c["score"] for c in cells if c["source"] is None}
    mine = {c["seed"]: c["score"] for c in cells if c["source"] == "policyqa"}
    row = ref.paired_summary(mine, base)
    assert (f"| 1000 | 292 | 3 | {sum(base.values()) / 3:.1f} | {sum(mine.values()) / 3:.1f} | {row['mean']:+.2f} ± {row['std']:.2f} |"
            in out)
    written = json.loads((tmp_path / "target_size.json").read_text())
    assert written["rows"]["1000"]["seeds"] == [0, 1, 2] and (tmp_path / "gain_by_target_size.png").stat().st_size > 0


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_taskemb_real_smoke_embeds_ranks_and_draws(tmp_path):
    """The documented smoke command of bench/taskemb_real.py, with the committed transfers for selection."""
    _run("taskemb_real.py", "--model", "tiny", "--tasks", "squad,sst2,conll2000", "--n-train", "32", "--n-fisher", "8",
         "--transfer-results", "bench/results/transfer", "--transfer-seeds", "0,1,2", "--out", str(tmp_path))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["methods"]) >= {"TaskEmb", "TextEmb"}
    assert set(summary["selection"]["scores"]) == {"sst2", "conll2000"}  # the measured sources that were embedded
    assert {Path(f).name for f in summary["figures"]} == {"task_map_pca.png", "task_map_mds.png", "similarity.png"}


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_transfer_report_keeps_to_the_seeds_and_sources_asked_for(tmp_path):
    """bench_transfer.py --report-only over a copy of the committed cells: a table in RESULTS stays what its
    command prints while the queue adds seeds and sources to the folder."""
    cells = tmp_path / "cells" / "squad"
    cells.mkdir(parents=True)
    for path in (ROOT / "bench/results/transfer/cells/squad").glob("*-seed[0-3].json"):
        (cells / path.name).write_text(path.read_text())
    out = _run("bench_transfer.py", "--model", ".carry/minilm", "--out", str(tmp_path), "--seeds", "0,1,2",
               "--sources", "policyqa,sst2", "--report-only", "--package", str(tmp_path / "package.json"))
    package = json.loads((tmp_path / "package.json").read_text())
    assert set(package["per_seed"]) == {"baseline", "policyqa", "sst2"}
    assert all(set(per_seed) == {"0", "1", "2"} for per_seed in package["per_seed"].values())
    assert "| policyqa |" in out and "| subjqa |" not in out and "| conll2000 |" not in out
    assert not (tmp_path / "summary.json").exists()  # a report runs nothing, so it leaves the runs' record alone


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_packaged_squad_transfers_are_what_their_recorded_command_makes(tmp_path):
    """Homework 3's real-data fallback names the command that made it; rerun over a copy of the committed
    cells, it makes the same file."""
    shipped_path = ROOT / "itft_utils/resources/transfer_results_squad.json"
    shipped = json.loads(shipped_path.read_text())
    args = shipped["command"].split()
    assert args[:2] == ["python", "bench/bench_transfer.py"] and "--report-only" in args
    out, package = args.index("--out") + 1, args.index("--package") + 1
    assert args[out] == "bench/results/transfer" and args[package] == "itft_utils/resources/transfer_results_squad.json"
    (tmp_path / "cells").symlink_to(ROOT / "bench/results/transfer/cells")
    args[out], args[package] = str(tmp_path), str(tmp_path / "package.json")
    _run("bench_transfer.py", *args[2:])
    made = json.loads((tmp_path / "package.json").read_text())
    assert {k: v for k, v in made.items() if k != "command"} == {k: v for k, v in shipped.items() if k != "command"}


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_sources_only_trains_the_encoders_the_transfer_runs_look_up(tmp_path):
    """bench_transfer.py --sources-only puts each source encoder where a transfer run (and the race) finds it by
    its key, and runs no target: a second call, and the library's lookup, train nothing."""
    args = ("--model", "tiny", "--sources", "sst2", "--seeds", "0", "--cache", str(tmp_path / "cache"),
            "--out", str(tmp_path / "out"), "--sources-only")
    first = _run("bench_transfer.py", *args)
    assert not (tmp_path / "out").exists()  # no target cell, no summary
    [folder] = (tmp_path / "cache").iterdir()
    assert f"sst2, seed 0: {folder} (" in first and _run("bench_transfer.py", *args).endswith(first.split("\n", 1)[1])
    from itft_utils.homework import prepare_task, real_data_experiment, real_data_sources
    from itft_utils.transfer import intermediate_checkpoint
    experiment = real_data_experiment(sources=real_data_sources(names=["sst2"]))
    found, record = intermediate_checkpoint(prepare_task(experiment.sources[0]), "tiny", 0, experiment.config,
                                            tmp_path / "cache", settings=experiment.settings)
    assert found == folder and record["source"] == "sst2"


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_no_baseline_runs_the_source_cells_and_a_later_call_adds_the_baseline(tmp_path):
    """bench_transfer.py --no-baseline runs only the source cells, so that a long pair (a source and its baseline) can
    run as two processes; the call that then runs the baseline reuses the source cell and reports the pair."""
    args = ("--model", "tiny", "--target", "mrpc", "--target-n", "32", "--sources", "sst2", "--seeds", "0",
            "--out", str(tmp_path))
    _run("bench_transfer.py", *args, "--no-baseline")
    cells = tmp_path / "cells" / "mrpc"
    assert sorted(p.name for p in cells.iterdir()) == ["sst2-seed0.json"]
    source_cell = (cells / "sst2-seed0.json").read_text()
    out = _run("bench_transfer.py", *args)
    assert sorted(p.name for p in cells.iterdir()) == ["baseline-seed0.json", "sst2-seed0.json"]
    assert (cells / "sst2-seed0.json").read_text() == source_cell and "| mrpc | sst2 |" in out


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_estimator_race_smoke_ranks_with_every_estimator_and_times_them(tmp_path):
    """bench/estimator_race.py on the tiny model, over two committed sources (short texts: quick to train)."""
    cells = tmp_path / "transfer" / "cells" / "squad"
    cells.mkdir(parents=True)
    for run in ("baseline", "sst2", "conll2000"):
        (cells / f"{run}-seed0.json").write_text((ROOT / "bench/results/transfer/cells/squad" / f"{run}-seed0.json").read_text())
    _run("estimator_race.py", "--model", "tiny", "--transfer-results", str(tmp_path / "transfer"), "--cache", str(tmp_path / "cache"),
         "--seed", "0", "--taskemb-timing", "4", "--max-rows", "500", "--out", str(tmp_path / "race"))
    race = json.loads((tmp_path / "race" / "race.json").read_text())
    assert set(race["measured"]) == {"sst2", "conll2000"}
    rows = {row["method"]: row for row in race["table"]}
    assert {"LogME", "H-score", "TaskEmb", "TextEmb", "DataSize"} <= set(rows)
    assert all(rows[m]["seconds"] > 0 for m in ("LogME", "H-score", "TaskEmb"))
    estimates = json.loads((tmp_path / "race" / "estimates.json").read_text())
    assert set(estimates["taskemb_fisher_seconds_500"]) == {"sst2", "conll2000", "squad"}
    assert {"LogME (span head)", "H-score (span head)"} <= set(rows)  # the span head's casting beside the token casting
    assert all(len(v) == 3 for v in estimates["span_scores"]["LogME (span head)"].values())  # one score per row sample
    low, high = min(estimates["span_scores"]["H-score (span head)"]["sst2"]), max(estimates["span_scores"]["H-score (span head)"]["sst2"])
    assert f"sst2 {statistics.mean(estimates['span_scores']['H-score (span head)']['sst2']):.3f} ({low:.3f} to {high:.3f})" in race["report"]
    # --report-only scores the stored estimates again, measuring nothing: the same table from the same cells.
    again = _run("estimator_race.py", "--report-only", "--transfer-results", str(tmp_path / "transfer"),
                 "--transfer-seeds", "0", "--out", str(tmp_path / "race"))
    assert race["report"] in again and json.loads((tmp_path / "race" / "race.json").read_text())["table"] == race["table"]


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_race_runs_on_a_pair_classification_target(tmp_path):
    """Issue 33's second target: the race reads MRPC's cells, scores LogME and H-score on one [CLS] row per
    MRPC pair (a classification target has no span casting) and ranks TaskEmb from MRPC's embedding."""
    cells = tmp_path / "transfer" / "cells" / "mrpc"
    cells.mkdir(parents=True)
    template = json.loads((ROOT / "bench/results/transfer/cells/squad/sst2-seed0.json").read_text())
    for run, accuracy, kind in (("baseline", 0.70, None), ("sst2", 0.68, "classification"), ("stsb", 0.72, "regression")):
        cell = {**template, "target": "mrpc", "source": None if run == "baseline" else run, "seed": 0, "metric": "accuracy",
                "score": accuracy, "metrics": {"accuracy": accuracy}, "target_type": "classification", "source_type": kind}
        (cells / f"{run}-seed0.json").write_text(json.dumps(cell))
    out = _run("estimator_race.py", "--model", "tiny", "--target", "mrpc", "--transfer-results", str(tmp_path / "transfer"),
               "--cache", str(tmp_path / "cache"), "--seed", "0", "--taskemb-timing", "4", "--out", str(tmp_path / "race"))
    estimates = json.loads((tmp_path / "race" / "estimates.json").read_text())
    assert estimates["target"] == "mrpc" and estimates["rows"]["stsb"] == {"n": 1000, "unit": "example"}
    assert set(estimates["taskemb_fisher_seconds_500"]) == {"sst2", "stsb", "mrpc"} and not estimates["span_scores"]
    rows = {row["method"]: row for row in json.loads((tmp_path / "race" / "race.json").read_text())["table"]}
    assert {"LogME", "H-score", "TaskEmb", "same type first (expected)"} <= set(rows) and "LogME (span head)" not in rows
    assert "target mrpc (tiny), baseline 0.700, 2 sources measured: stsb 0.720, sst2 0.680\n" in out  # accuracy: 3 digits
    # the race over both targets: LogME in its fair casting on each (the span head's on SQuAD, from the committed
    # span race), the token casting apart, TaskEmb averaged over the two
    both = _run("race_targets.py", "--race", "mrpc", str(tmp_path / "race"), str(tmp_path / "transfer"), "0",
                "--race", "squad", "bench/results/estimator_race_span", "bench/results/transfer", "0,1,2,3,4,5")
    mine = {line.split(" | ")[0].lstrip("| "): line for line in both.splitlines() if line.startswith("| ")}
    squad = {row["method"]: row for row in json.loads((ROOT / "bench/results/estimator_race_span/race.json").read_text())["table"]}
    assert mine["LogME (token casting)"].startswith(f"| LogME (token casting) | — | {squad['LogME']['ndcg@3']:.3f} | — | — |"
                                                    f" {squad['LogME']['ndcg@3 gain']:.3f} | — |")
    logme = (rows["LogME"]["ndcg@3"] + squad["LogME (span head)"]["ndcg@3"]) / 2
    assert mine["LogME"].startswith(f"| LogME | {rows['LogME']['ndcg@3']:.3f} | {squad['LogME (span head)']['ndcg@3']:.3f} | {logme:.3f} |")
    taskemb = (rows["TaskEmb"]["ndcg@3"] + squad["TaskEmb"]["ndcg@3"]) / 2
    assert mine["TaskEmb"].startswith(f"| TaskEmb | {rows['TaskEmb']['ndcg@3']:.3f} | {squad['TaskEmb']['ndcg@3']:.3f} | {taskemb:.3f} |")


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_harm_probe_scores_frozen_encoders_and_their_hand_over(tmp_path):
    """bench/harm_probe.py on the tiny model: both span probes of the random floor, the start model and one source
    encoder, and the hand-over of the two encoders; resumable (a second call measures nothing)."""
    args = ("--model", "tiny", "--encoders", "sst2:0", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path),
            "--reruns")
    out = _run("harm_probe.py", *args)
    results = json.loads((tmp_path / "probe.json").read_text())
    assert set(results["probes"]) == {"random encoder", "start model", "sst2:0"}
    assert set(results["handover"]) == {"start model", "sst2:0"}  # the floor is a probe, not a hand-over
    for entry in results["probes"].values():
        assert {"linear", "question"} <= set(entry) and all(0 <= entry[k]["f1"] <= 100 for k in ("linear", "question"))
    handed = results["handover"]["sst2:0"]
    assert len(handed["attention_entropy"]) == 2 and handed["windows"] == 128  # the tiny model's 2 layers
    probe = results["probes"]["sst2:0"]
    assert f"| sst2, seed 0 | {probe['linear']['f1']:.1f} ({probe['linear']['exact_match']:.1f}) | " in out
    assert "| random encoder (tiny) | " in out and "| — | — | — |" in out  # the floor has no transfer
    again = _run("harm_probe.py", *args)
    assert out.endswith(again) and "start model: {" in out and "start model: {" not in again


def test_the_probes_heads_ignore_padding_and_read_the_question(bench_module):
    """The span heads give a window the same logits alone and padded into a batch; the question-aware head
    changes a passage token's logits when the question changes, the linear one does not."""
    probe = bench_module("harm_probe")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    short = (torch.randn(5, 4), torch.tensor([True, True, False, False, False]))
    long = (torch.randn(9, 4), torch.tensor([True] * 3 + [False] * 6))
    for question in (False, True):
        head = probe.SpanHead(4, question)
        alone = head(*probe._padded([short], [0]))[0]
        batched = head(*probe._padded([short, long], [0, 1]))
        assert torch.allclose(alone, batched[0, :5], atol=1e-6) and (batched[0, 5:] == -1e4).all()
        other = (torch.cat([short[0][:2] * 3, short[0][2:]]), short[1])  # another question, the same passage
        moved = head(*probe._padded([other], [0]))[0, 2:]
        assert torch.allclose(moved, alone[2:]) != question
    uniform = torch.full((1, 2, 4, 4), 0.25)  # two heads attending evenly over four real tokens
    assert probe.attention_entropy(uniform, torch.ones(1, 4, dtype=torch.bool)) == pytest.approx(4 * math.log(4))


def test_the_race_over_targets_ranks_methods_by_their_mean_and_gives_a_partial_one_none(bench_module):
    """The gain column's mean skips a target where no source helps (nan there: every order is as good)."""
    nan = float("nan")
    rows = {"squad": {"A": {"ndcg@3": 0.9, "ndcg@3 gain": 0.6, "regret@1": 5.0},
                      "B": {"ndcg@3": 0.5, "ndcg@3 gain": 0.2, "regret@1": 20.0},
                      "C": {"ndcg@3": 1.0, "ndcg@3 gain": 1.0, "regret@1": 0.0}},
            "mrpc": {"A": {"ndcg@3": 0.7, "ndcg@3 gain": nan, "regret@1": 10.0},
                     "B": {"ndcg@3": 0.8, "ndcg@3 gain": nan, "regret@1": 2.0}}}
    assert bench_module("race_targets").combined_table(rows).splitlines()[2:] == [
        "| A | 0.900 | 0.700 | 0.800 | 0.600 | — | 0.600 | 5.00 % | 10.00 % | 7.50 % |",
        "| B | 0.500 | 0.800 | 0.650 | 0.200 | — | 0.200 | 20.00 % | 2.00 % | 11.00 % |",
        "| C | 1.000 | — | — | 1.000 | — | — | 0.00 % | — | — |"]


def test_the_paired_table_gives_a_one_seed_source_no_spread_and_no_interval(bench_module):
    """A source measured at one seed so far (the race's extra sources) has a difference but no spread:
    the table says so instead of printing nan."""
    cells = [{"source": None, "seed": s, "score": v, "metric": "f1"} for s, v in ((0, 50.0), (1, 48.0))]
    cells += [{"source": "mrpc", "seed": 0, "score": 47.0, "metric": "f1"},
              {"source": "policyqa", "seed": 0, "score": 52.0, "metric": "f1"}, {"source": "policyqa", "seed": 1, "score": 51.0, "metric": "f1"}]
    table = bench_module("bench_transfer").paired_statistics(cells)
    assert "nan" not in table
    assert "| mrpc | -3.00 (1 seed) | — |" in table
    row = ref.paired_summary({0: 52.0, 1: 51.0}, {0: 50.0, 1: 48.0})
    low, high = row["interval"]
    assert f"| policyqa | +2.50 ± {row['std']:.2f} (2 seeds) | [{low:+.1f}, {high:+.1f}] |" in table
    # an accuracy target (issue 33's second target) keeps its digits, and a point is 0.01 of it
    accuracy = [{**c, "score": c["score"] / 100, "metric": "accuracy"} for c in cells]
    table = bench_module("bench_transfer").paired_statistics(accuracy)
    assert "| mrpc | -0.0300 (1 seed) | — |" in table and "seeds for +0.01 |" in table


def test_the_race_says_how_often_a_random_order_ranks_as_well(bench_module):
    """The race's chance column: the share of all orders of the sources whose NDCG@3 reaches a method's."""
    race = bench_module("estimator_race")
    measured = {"a": 60.0, "b": 50.0, "c": 40.0, "d": 10.0}
    best = ref.ndcg_at_k(["a", "b", "c", "d"], measured, 3)
    assert race.share_of_orders_as_good(best, measured) == pytest.approx(1 / 24)  # only the measured order itself
    assert race.share_of_orders_as_good(0.0, measured) == 1.0
    five = {**measured, "e": 45.0}  # 120 orders, 60 different top threes: every order counted, as brute force does
    middle = ref.ndcg_at_k(["b", "a", "d", "e", "c"], five, 3)
    brute = [ref.ndcg_at_k(list(order), five, 3) >= middle - 1e-12 for order in itertools.permutations(five)]
    assert 0 < sum(brute) < len(brute)
    assert race.share_of_orders_as_good(middle, five) == pytest.approx(sum(brute) / len(brute))


def test_the_trainer_ablation_report_pairs_runs_by_seed(tmp_path, bench_module):
    """bench/trainer_ablation.py --report-only over finished runs: per run the F1 per seed, and each
    comparison as same-seed differences with an interval; a comparison with an unfinished side is left out."""
    ablation = bench_module("trainer_ablation")
    f1 = {"ours": [40.0, 41.0, 39.0], "ours_ungrouped": [38.0, 40.0, 36.0], "hf_trainer": [30.0, 29.0, 33.0]}
    for run, values in f1.items():
        for seed, value in enumerate(values):
            (tmp_path / f"{run}-epochs2-seed{seed}.json").write_text(json.dumps({"run": run, "epochs": 2, "seed": seed, "f1": value}))
    report = ablation.report(tmp_path)
    assert "| ours | yes | 2 | 3 | 40.0 ± 1.0 | 0: 40.0, 1: 41.0, 2: 39.0 |" in report
    row = ref.paired_summary(dict(enumerate(f1["ours"])), dict(enumerate(f1["ours_ungrouped"])))
    low, high = row["interval"]
    assert f"| grouping, this loop | 2 | 3 | +2.0 ± {row['std']:.1f} | [{low:+.1f}, {high:+.1f}] | {row['p_value']:.3f} |" in report
    assert "loop − Trainer, both shuffled | 2 | 3 | +7.3" in report
    assert "both grouped" not in report and "grouping, Trainer" not in report  # hf_trainer_grouped never ran
    (tmp_path / "hf_trainer_grouped-epochs2-seed0.json").write_text(json.dumps({"run": "hf_trainer_grouped", "epochs": 2,
                                                                               "seed": 0, "f1": 28.0}))
    one_pair = ablation.report(tmp_path)
    assert "| grouping, Trainer | 2 | 1 | -2.0 | - |" in one_pair and "nan" not in one_pair
    with pytest.raises(SystemExit, match="no finished runs"):
        ablation.report(tmp_path / "empty")


def test_results_section_1_prints_what_the_committed_ablation_runs_give(bench_module):
    """RESULTS §1's two tables are the report over the committed runs, all 24 of them (issue 18: 2 and 4 epochs,
    three seeds an arm), so an edited number or a run added without the tables redone fails here."""
    ablation = bench_module("trainer_ablation")
    out = ROOT / "bench/results/trainer_ablation"
    runs = {(r["run"], r["epochs"], r["seed"]) for r in map(json.loads, map(Path.read_text, out.glob("*.json")))}
    assert runs == set(itertools.product(ablation.RUNS, (2, 4), (0, 1, 2)))
    results = (ROOT / "bench/RESULTS.md").read_text()
    for table in ablation.report(out).strip().split("\n\n"):
        assert table.strip() in results, f"RESULTS §1 differs from bench/trainer_ablation.py --report-only:\n{table}"


@pytest.mark.skipif(default_data_dir() is None, reason="real data not found: set ITFT_DATA_DIR or place ../shared/data")
def test_the_interleaved_throughput_times_every_ablation_arm_and_records_versions(tmp_path):
    """bench/bench_trainer.py --throughput-rounds: RESULTS §1's speed table, the four arms of the ablation and
    the padded loop, each timed in every round, written with the libraries that ran."""
    arms = ["ours", "ours_ungrouped", "ours_padded", "hf_trainer", "hf_trainer_grouped"]
    out = _run("bench_trainer.py", "--model", "tiny", "--n-train", "24", "--n-eval", "4", "--throughput-rounds", "2",
               "--throughput-steps", "1", "--runs", ",".join(arms), "--out", str(tmp_path / "throughput.json"))
    written = json.loads((tmp_path / "throughput.json").read_text())
    assert set(written["throughput"]) == set(arms)
    assert all(len(run["samples"]) == 2 and run["features_per_second_median"] > 0 for run in written["throughput"].values())
    assert written["versions"]["torch"] and written["versions"]["transformers"]
    assert "throughput ratio ours_ungrouped/hf_trainer" in out


def test_grading_throughput_and_phases_time_a_small_class_and_account_for_every_second(tmp_path):
    out = tmp_path / "throughput.json"
    printed = _run("bench_grading.py", "--throughput", "--phases", "--class-size", "3", "--assignment", "hw2_intermediate",
                   "--out", str(out))
    result = json.loads(out.read_text())
    row = result["homeworks"]["hw2_intermediate"]
    # the sample class's first three kinds (solution, untouched, Colab-saved), each graded by a kernel
    assert sum(row["statuses"].values()) == 3 and set(row["statuses"]) <= {"graded", "graded_with_notes"}
    assert row["minutes_for_300"] == pytest.approx(row["seconds_per_submission"] * 5)
    assert 0 < row["untouched_alone_seconds"] and 0 < row["solution_alone_seconds"]
    phases = result["phases"]["hw2_intermediate"]
    assert all(seconds > 0 for name, seconds in phases.items() if not name.startswith("the rest"))
    assert sum(v for k, v in phases.items() if k != "total") == pytest.approx(phases["total"])
    assert "min for 300" in printed and "set-up cells" in printed


def test_the_solution_line_count_counts_validation_as_a_raise_and_its_guard_or_a_provided_check(tmp_path, monkeypatch):
    """``scripts/solution_lines.py`` (issue 31's measure of how much of a reference solution is input
    validation) on a made-up answer cell: seven code lines, of which one ``if`` and its ``raise`` and one call of a
provided check validate."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("solution_lines", ROOT / "scripts" / "solution_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answer = nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    # a comment\n    if x < 0:\n"
                                       "        raise ValueError('negative')\n\n    y = x + 1\n    if y > 3:\n        y = 3\n"
                                       "    return y\n    z = require_between(y, 0, 3, 'y')\n    ### END SOLUTION\n")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f_code"}
    path = tmp_path / "toy.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[answer, nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]), path)
    assert module.count(path) == (1, 7, 3)


def test_each_homework_header_states_its_reference_solutions_current_size():
    """The headers' workload estimate quotes the solutions' size (issue 31); an edited solution updates it."""
    import importlib.util
    import re

    import nbformat

    spec = importlib.util.spec_from_file_location("solution_lines", ROOT / "scripts" / "solution_lines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        header = nbformat.read(path, as_version=4).cells[0].source
        stated = re.search(r"reference solutions write (\d+) lines of code", header)
        assert stated, f"{path.name}: the header states no workload"
        assert int(stated.group(1)) == module.count(path)[1], f"{path.name}: run scripts/solution_lines.py and update the header"
