"""Per-example gradients for TaskEmb (issue 5, part 3): vectorised vs loop, side by side in one run.

For each (examples B, tokens T) setting, on MiniLM (offline wheel) with a classification head:

* weight Fisher: ``torch.func`` (functional_call + vmap(grad)) vs one backward per example; equal
  within 1e-5 of each tensor's largest entry; time ratio; peak memory.
* layer-output features: one batched backward of the summed loss (activation gradients only) vs a
  per-example loop with ``retain_grad``; equal values; time ratio.

Inputs are random token ids (seeded) of lengths spread over [T/2, T] so that padding and the
attention-mask work-around are exercised; the first sequence is exactly T tokens long.

Work: each computation's floating-point operations are counted once (``torch.utils.flop_counter``) and
divided by its time, next to this machine's dense matmul rate (a 1024x1024 float32 product), so the
ratio can be read against the work each side does: the loop also computes weight gradients, the batched
pass does not, and once the batched pass runs near the matmul rate no implementation can go faster.

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated`` above what was allocated before the call.
On CPU, ``tracemalloc`` cannot see tensors (torch allocates outside Python's allocator), so a thread
samples the process's resident memory every 2 ms; freed memory is handed back to the OS
(``malloc_trim``) before each call, so the figure is the growth during the call.

    python bench/bench_fisher.py [--device cuda] [--batch-sizes 4,8] [--lengths 64,128] [--repeats 3] \\
        [--parts weights,layers] [--threads N] [--out bench/out/fisher_cpu.json]
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
from typing import cast

import common  # noqa: F401  (puts the repo on sys.path)
import torch
from torch.utils.flop_counter import FlopCounterMode

from itft_utils.fisher import layer_features, max_relative_error, weight_fisher
from itft_utils.models import build_model, load_tokenizer
from itft_utils.runtime import get_device

TOLERANCE = 1e-5


def synthetic_features(tokenizer, n: int, length: int, num_labels: int, seed: int) -> dict[str, list]:
    """``n`` classification features of [CLS] + random word pieces + [SEP], lengths in [length/2, length]."""
    gen = torch.Generator().manual_seed(seed)
    special = set(tokenizer.all_special_ids)
    vocab = [i for i in range(tokenizer.vocab_size) if i not in special]
    lengths = [length] + [int(x) for x in torch.randint(length // 2, length + 1, (n - 1,), generator=gen)]
    features: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "labels": []}
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


def _time(fn, device: torch.device) -> tuple[object, float]:
    started = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - started


def _peak_mib(fn, device: torch.device) -> float:
    with PeakMemory(device) as mem:
        fn()
    return mem.mib


def side_by_side(fast, slow, device: torch.device, repeats: int):
    """Time two computations interleaved (fast, slow, slow, fast, ...) after a warm-up of each, so a
    noisy neighbour on a shared machine slows both alike; then one call of each with the memory probe
    (kept out of the timed calls: on a CPU its sampling thread would compete with torch's threads).
    Returns, per side: (result, median s, peak MiB)."""
    fast(), slow()  # warm-up: vmap's first call traces; CUDA kernels load
    runs: dict[str, list] = {"fast": [], "slow": []}
    for r in range(repeats):
        order = (("fast", fast), ("slow", slow)) if r % 2 == 0 else (("slow", slow), ("fast", fast))
        for side, fn in order:
            runs[side].append(_time(fn, device))
    return [(rows[-1][0], statistics.median(x[1] for x in rows), _peak_mib(fn, device))
            for rows, fn in ((runs["fast"], fast), (runs["slow"], slow))]


def gflop(fn) -> float:
    """Floating-point operations of one call of ``fn``, in GFLOP (counted, not timed)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def matmul_gflops(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """This machine's dense float32 matmul rate, the ceiling for a transformer's forward and backward."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def encoder_gemm_gflops(model, tokens: int, device: torch.device, repeats: int = 5) -> float:
    """The rate of the encoder's own dense products at ``tokens`` rows (one layer's query, key, value,
    output, feed-forward up and down projections, forward): the ceiling that matters for its passes,
    lower than a square 1024 product's because the inner sizes are small (384 and 1536 for MiniLM)."""
    hidden, inner = model.config.hidden_size, model.config.intermediate_size
    shapes = [(hidden, hidden)] * 4 + [(hidden, inner), (inner, hidden)]
    inputs = {k: torch.randn(tokens, k, device=device) for k in {hidden, inner}}
    weights = [torch.randn(k, n, device=device) for k, n in shapes]
    def once():
        for (k, _), w in zip(shapes, weights):
            inputs[k] @ w
    once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        once()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * tokens * sum(k * n for k, n in shapes) * repeats / (time.perf_counter() - started) / 1e9


# part -> (its fast and slow method names, the function computing it)
PARTS = {"weights": (("vmap", "loop"), weight_fisher), "layers": (("batched", "loop"), layer_features)}


def compare(part: str, model, features: dict, kw: dict, device: torch.device, repeats: int, peak: float) -> dict:
    """One part's two methods side by side: times, ratio, peak memory, work rate and the largest difference.
    For the layer features also the work on real tokens only (the batched method run on each example alone,
    which pads nothing) and its rate against the machine's matmul rate ``peak``."""
    (fast_name, slow_name), compute = PARTS[part]
    fast, slow = (lambda m=m: compute(model, features, method=m, **kw) for m in (fast_name, slow_name))
    (fast_value, t_fast, m_fast), (slow_value, t_slow, m_slow) = side_by_side(fast, slow, device, repeats)
    g_fast, g_slow = gflop(fast), gflop(slow)
    err = max_relative_error(fast_value, slow_value)
    row = {f"{fast_name}_s": t_fast, "loop_s": t_slow, "speedup": t_slow / t_fast, f"{fast_name}_peak_mib": m_fast,
           "loop_peak_mib": m_slow, f"{fast_name}_gflop": g_fast, "loop_gflop": g_slow,
           f"{fast_name}_gflops": g_fast / t_fast, "loop_gflops": g_slow / t_slow,
           "max_rel_err": err, "equal": err <= TOLERANCE}
    if part == "layers":
        real = gflop(lambda: compute(model, features, method=fast_name, **{**kw, "batch_size": 1}))
        tokens = kw["batch_size"] * max(len(x) for x in features["input_ids"])
        gemm = encoder_gemm_gflops(model, tokens, device)
        row.update({"real_gflop": real, "real_gflops": real / t_fast, "real_share_of_matmul": real / t_fast / peak,
                    "encoder_gemm_gflops": gemm, "real_share_of_encoder_gemm": real / t_fast / gemm,
                    "padded_share_of_work": 1 - real / g_fast})
    return row


def profile_setting(model, tokenizer, n: int, length: int, args, device: torch.device) -> dict:
    """Where one batched layer-feature pass spends its time (``torch.profiler``, by operator) and the rate
    of its dense products alone (their counted FLOPs over their own time): RESULTS §2's breakdown."""
    from torch.profiler import ProfilerActivity, profile

    features = synthetic_features(tokenizer, args.examples or n, length, model.config.num_labels, args.seed)
    kw = dict(task_type="classification", batch_size=n, pad_token_id=tokenizer.pad_token_id, device=str(device))
    layer_features(model, features, method="batched", **kw)  # warm-up
    with FlopCounterMode(display=False) as counter:
        layer_features(model, features, method="batched", **kw)
    product_flops = sum(v for k, v in counter.get_flop_counts()["Global"].items() if str(k) in ("aten.mm", "aten.addmm"))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        layer_features(model, features, method="batched", **kw)
    times = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    total = sum(times.values())
    products = times.get("aten::addmm", 0.0) + times.get("aten::mm", 0.0)
    groups = {"dense products (mm, addmm)": products,
              "attention (scaled dot product and its backward)": sum(t for k, t in times.items() if "scaled_dot_product" in k),
              "GELU and its backward": sum(t for k, t in times.items() if k.startswith("aten::gelu")),
              "copies": times.get("aten::copy_", 0.0),
              "layer norms and their backward": sum(t for k, t in times.items() if "layer_norm" in k)}
    print(f"profile B={n} T={length}, {args.examples or n} examples: {total:.2f} s of operator time")
    for label, seconds in groups.items():
        print(f"  {label:<50} {100 * seconds / total:5.1f} %")
    rate = product_flops / 1e9 / products if products else float("nan")
    print(f"  dense products: {product_flops / 1e9:.0f} GFLOP in {products:.2f} s = {rate:.0f} GFLOP/s")
    return {"examples": n, "max_tokens": length, "seconds": total, "shares": {k: v / total for k, v in groups.items()},
            "product_gflop": product_flops / 1e9, "product_gflops": rate}


def run_setting(model, tokenizer, n: int, length: int, parts: list[str], args, device: torch.device, peak: float) -> dict:
    """B = ``n`` examples per batch, over ``args.examples`` examples in all (default: one batch of B)."""
    total = args.examples or n
    features = synthetic_features(tokenizer, total, length, model.config.num_labels, args.seed)
    kw = dict(task_type="classification", batch_size=n, pad_token_id=tokenizer.pad_token_id, device=str(device))
    row = {"examples": n, "total_examples": total, "max_tokens": length, "tokens": sum(len(x) for x in features["input_ids"])}
    for part in parts:
        row[part] = compare(part, model, features, kw, device, args.repeats, peak)
    return row


def print_table(rows: list[dict], parts: list[str]) -> None:
    for part in parts:
        fast = PARTS[part][0][0]
        head = (f"{part:>7}: {'B':>2} {'T':>4} | {fast + ' s':>9} {'loop s':>7} {'ratio':>6} | {'GFLOP ' + fast + '/loop':>18} "
                f"{'GFLOP/s ' + fast + '/loop':>20} | {'peak MiB':>11} {'rel err':>8}")
        print(head)
        print("-" * len(head))
        for r in rows:
            p = r[part]
            print(f"{'':>7}  {r['examples']:>2} {r['max_tokens']:>4} | {p[fast + '_s']:>9.3f} {p['loop_s']:>7.3f} {p['speedup']:>5.2f}x | "
                  f"{p[fast + '_gflop']:>8.2f}/{p['loop_gflop']:<9.2f} {p[fast + '_gflops']:>9.1f}/{p['loop_gflops']:<10.1f} | "
                  f"{p[fast + '_peak_mib']:>5.0f}/{p['loop_peak_mib']:<5.0f} {p['max_rel_err']:>8.1e}"
                  + (f" | real-token GFLOP/s {p['real_gflops']:.1f} = {100 * p['real_share_of_matmul']:.0f} % of the 1024 matmul, "
                     f"{100 * p['real_share_of_encoder_gemm']:.0f} % of the encoder's own products ({p['encoder_gemm_gflops']:.0f}); "
                     f"padding {100 * p['padded_share_of_work']:.0f} % of the work" if "real_gflops" in p else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch-sizes", default="4,8")
    parser.add_argument("--lengths", default="64,128")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="weights,layers", help="which computations to compare (weights, layers)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=None,
                        help="examples per setting, batched by B (default: one batch of B); a task's Fisher set is many batches")
    parser.add_argument("--profile", default=None, help="B,T: instead of the comparison, where one batched layer pass spends its time")
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
    model = build_model(args.model, "classification", num_labels=2)
    cast(torch.nn.Module, model).to(device).eval()  # in place (PreTrainedModel.to's decorated signature hides the device)
    parts = args.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"--parts: unknown {sorted(unknown)}; choose from {sorted(PARTS)}")
    n_params = sum(p.numel() for p in model.base_model.parameters())
    peak = matmul_gflops(device)
    print(f"{args.model} ({n_params / 1e6:.1f}M encoder parameters) on {device}; dense matmul {peak:.0f} GFLOP/s; {common.machine()}")
    if args.profile:
        n, length = (int(x) for x in args.profile.split(","))
        result: dict[str, object] = {"machine": common.machine(), "setting": vars(args),
                                     "profile": profile_setting(model, tokenizer, n, length, args, device)}
        if args.out:
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)
        return 0
    rows = []
    for n in [int(x) for x in args.batch_sizes.split(",")]:
        for length in [int(x) for x in args.lengths.split(",")]:
            rows.append(run_setting(model, tokenizer, n, length, parts, args, device, peak))
            print(f"  done B={n} T={length}", flush=True)
    print_table(rows, parts)
    ok = all(r[part]["equal"] for r in rows for part in parts)
    print(f"values equal within {TOLERANCE:g} of each tensor's max: {'yes' if ok else 'NO'}")
    result = {"machine": common.machine(), "device": str(device), "model": args.model, "setting": vars(args),
              "matmul_gflops": peak, "tolerance": TOLERANCE, "rows": rows, "all_equal": ok}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
