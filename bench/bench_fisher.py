"""Per-example gradients for TaskEmb (issue 5, part 3): vectorised vs loop, side by side in one run.

For each (examples B, tokens T) setting, on MiniLM (offline wheel) with a classification head:

* weight Fisher: ``torch.func`` (functional_call + vmap(grad)) vs one backward per example; equal
  within 1e-5 of each tensor's largest entry; time ratio; peak memory.
* layer-output features: one batched backward of the summed loss (activation gradients only) vs a
  per-example loop with ``retain_grad``; equal values; time ratio.

Inputs are random token ids (seeded) of lengths spread over [T/2, T] so that padding and the
attention-mask work-around are exercised; the first sequence is exactly T tokens long.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above what was allocated before the call.
On CPU, ``tracemalloc`` cannot see tensors (torch allocates outside Python's allocator), so a thread
samples the process's resident memory every 2 ms; freed memory is handed back to the OS
(``malloc_trim``) before each call, so the figure is the growth during the call.

    python bench/bench_fisher.py [--device cuda] [--batch-sizes 4,8] [--lengths 64,128] [--repeats 3] \\
        [--threads N] [--out bench/out/fisher_cpu.json]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import sys
import threading
import time

import common  # noqa: F401  (puts the repo on sys.path)
import torch

from itft_utils.models import build_model, load_tokenizer
from itft_utils.runtime import get_device
from itft_utils.taskemb import layer_features, max_relative_error, weight_fisher

TOLERANCE = 1e-5


def synthetic_features(tokenizer, n: int, length: int, num_labels: int, seed: int) -> dict[str, list]:
    """``n`` classification features of [CLS] + random word pieces + [SEP], lengths in [length/2, length]."""
    gen = torch.Generator().manual_seed(seed)
    special = set(tokenizer.all_special_ids)
    vocab = [i for i in range(tokenizer.vocab_size) if i not in special]
    lengths = [length] + [int(x) for x in torch.randint(length // 2, length + 1, (n - 1,), generator=gen)]
    features = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "labels": []}
    for size in lengths:
        body = torch.randint(0, len(vocab), (size - 2,), generator=gen).tolist()
        features["input_ids"].append([tokenizer.cls_token_id] + [vocab[i] for i in body] + [tokenizer.sep_token_id])
        features["token_type_ids"].append([0] * size)
        features["attention_mask"].append([1] * size)
        features["labels"].append(int(torch.randint(0, num_labels, (1,), generator=gen)))
    return features


class PeakMemory:
    """Peak memory growth (MiB) during a block: CUDA allocator stats, or sampled RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device, self.mib = device, 0.0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        self.base = self.peak = self._rss()
        self.running = True

        def sample():
            while self.running:
                self.peak = max(self.peak, self._rss())
                time.sleep(0.002)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = (torch.cuda.max_memory_allocated() - self.base) / 2**20
        else:
            self.running = False
            self.thread.join()
            self.mib = (max(self.peak, self._rss()) - self.base) / 2**20


def _measure(fn, device: torch.device):
    with PeakMemory(device) as mem:
        started = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return result, seconds, mem.mib


def side_by_side(fast, slow, device: torch.device, repeats: int):
    """Time two computations interleaved (fast, slow, slow, fast, ...) after a warm-up of each, so a
    noisy neighbour on a shared machine slows both alike. Returns, per side: (result, median s, peak MiB)."""
    fast(), slow()  # warm-up: vmap's first call traces; CUDA kernels load
    runs = {"fast": [], "slow": []}
    for r in range(repeats):
        order = (("fast", fast), ("slow", slow)) if r % 2 == 0 else (("slow", slow), ("fast", fast))
        for side, fn in order:
            runs[side].append(_measure(fn, device))
    return [(rows[-1][0], statistics.median(x[1] for x in rows), max(x[2] for x in rows)) for rows in (runs["fast"], runs["slow"])]


def run_setting(model, tokenizer, n: int, length: int, args, device: torch.device) -> dict:
    features = synthetic_features(tokenizer, n, length, model.config.num_labels, args.seed)
    kw = dict(task_type="classification", batch_size=n, pad_token_id=tokenizer.pad_token_id, device=str(device))
    (fv, t_vmap, m_vmap), (fl, t_loop, m_loop) = side_by_side(
        lambda: weight_fisher(model, features, method="vmap", **kw), lambda: weight_fisher(model, features, method="loop", **kw),
        device, args.repeats)
    (lb, t_batched, m_batched), (ll, t_lloop, m_lloop) = side_by_side(
        lambda: layer_features(model, features, method="batched", **kw), lambda: layer_features(model, features, method="loop", **kw),
        device, args.repeats)
    row = {
        "examples": n, "max_tokens": length, "tokens": sum(len(x) for x in features["input_ids"]),
        "weights": {"vmap_s": t_vmap, "loop_s": t_loop, "speedup": t_loop / t_vmap, "vmap_peak_mib": m_vmap,
                    "loop_peak_mib": m_loop, "max_rel_err": max_relative_error(fv, fl)},
        "layers": {"batched_s": t_batched, "loop_s": t_lloop, "speedup": t_lloop / t_batched, "batched_peak_mib": m_batched,
                   "loop_peak_mib": m_lloop, "max_rel_err": max_relative_error(lb, ll)},
    }
    row["weights"]["equal"] = row["weights"]["max_rel_err"] <= TOLERANCE
    row["layers"]["equal"] = row["layers"]["max_rel_err"] <= TOLERANCE
    return row


def print_table(rows: list[dict]) -> None:
    head = (f"{'B':>2} {'T':>4} | {'weights: vmap s':>15} {'loop s':>7} {'ratio':>6} {'MiB vmap/loop':>13} {'rel err':>8} | "
            f"{'layers: batched s':>17} {'loop s':>7} {'ratio':>6} {'MiB b/loop':>11} {'rel err':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        w, lay = r["weights"], r["layers"]
        print(f"{r['examples']:>2} {r['max_tokens']:>4} | {w['vmap_s']:>15.3f} {w['loop_s']:>7.3f} {w['speedup']:>5.2f}x "
              f"{w['vmap_peak_mib']:>6.0f}/{w['loop_peak_mib']:<6.0f} {w['max_rel_err']:>8.1e} | "
              f"{lay['batched_s']:>17.3f} {lay['loop_s']:>7.3f} {lay['speedup']:>5.2f}x "
              f"{lay['batched_peak_mib']:>5.0f}/{lay['loop_peak_mib']:<5.0f} {lay['max_rel_err']:>8.1e}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-sizes", default="4,8")
    parser.add_argument("--lengths", default="64,128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device")
    torch.manual_seed(args.seed)
    tokenizer = load_tokenizer(args.model)
    model = build_model(args.model, "classification", num_labels=2).to(device).eval()
    n_params = sum(p.numel() for p in model.base_model.parameters())
    print(f"{args.model} ({n_params / 1e6:.1f}M encoder parameters) on {device}; {common.machine()}")
    rows = []
    for n in [int(x) for x in args.batch_sizes.split(",")]:
        for length in [int(x) for x in args.lengths.split(",")]:
            rows.append(run_setting(model, tokenizer, n, length, args, device))
            print(f"  done B={n} T={length}", flush=True)
    print_table(rows)
    ok = all(r["weights"]["equal"] and r["layers"]["equal"] for r in rows)
    print(f"values equal within {TOLERANCE:g} of each tensor's max: {'yes' if ok else 'NO'}")
    result = {"machine": common.machine(), "device": str(device), "model": args.model, "setting": vars(args),
              "tolerance": TOLERANCE, "rows": rows, "all_equal": ok}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
