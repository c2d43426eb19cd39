"""Is a harmful transfer the hand-over's fault? Checks on Homework 2's cached intermediate encoders.

For each encoder in ``--cache`` (bench_transfer.py's ``intermediate/`` folder): whether the QA model built
from it holds the saved tensors bit for bit, how far each block's weights moved from the start model
(relative L2 norm), and how alike its token vectors are (mean cosine between the tokens of one window,
last layer, on the last 40 questions of the local SQuAD file; a collapse would show as values near 1).

    python bench/transfer_diagnose.py --model .carry/minilm --cache bench/results/transfer/intermediate
"""
from __future__ import annotations

import argparse
from pathlib import Path

import common
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from itft_utils.data import load_task
from itft_utils.models import build_model, quiet_transformers

BLOCKS = ["embeddings."] + [f"encoder.layer.{i}." for i in range(6)]


def token_cosine(model_dir: str, enc: dict) -> float:
    with quiet_transformers():
        model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    sims = []
    for h, mask in zip(hidden, enc["attention_mask"].bool()):
        v = F.normalize(h[mask], dim=-1)
        n = v.shape[0]
        sims.append(((v @ v.T).sum() - n) / (n * n - n))
    return float(torch.stack(sims).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=".carry/minilm")
    parser.add_argument("--cache", default="bench/results/transfer/intermediate")
    args = parser.parse_args()
    start = {k.removeprefix("bert."): v.float() for k, v in load_file(next(Path(args.model).glob("*.safetensors"))).items()}
    questions = load_task("squad", source="local", data_dir=common.data_dir_or_exit()).split("all")[-40:]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    enc = tokenizer([q["question"] for q in questions], [q["context"] for q in questions], truncation="only_second",
                    max_length=256, padding=True, return_tensors="pt")
    print(f"start model {args.model}: token cosine {token_cosine(args.model, enc):.3f}")
    for folder in sorted(Path(args.cache).iterdir()):
        saved = load_file(folder / "model.safetensors")
        with quiet_transformers():
            own = build_model(str(folder), "qa").base_model.state_dict()
        shared = [k for k in saved if k in own]  # a classification encoder's pooler has no place in a QA model
        identical = sum(torch.equal(saved[k].float(), own[k].float()) for k in shared)
        moved = []
        for block in BLOCKS:
            keys = [k for k in saved if k.startswith(block) and k in start]
            change = sum(((saved[k].float() - start[k]) ** 2).sum() for k in keys) ** 0.5
            moved.append(f"{float(change / sum((start[k] ** 2).sum() for k in keys) ** 0.5):.3f}")
        print(f"{folder.name}: QA model holds {identical}/{len(shared)} saved tensors bit for bit; "
              f"relative change per block (embeddings, layers 0-5) {' '.join(moved)}; token cosine {token_cosine(str(folder), enc):.3f}")


if __name__ == "__main__":
    main()
