"""train.precision's quality check: the fast recipes in bf16 against float32, one run.

    python benchmarks/precision.py                        # stacked_ae and conv_ae, fast
    python benchmarks/precision.py --threads 1 --epochs 1 # shorter, on one thread

Prints a markdown table, one row per model: the last epoch's validation loss in float32
and in bf16 (autocast; validation itself runs in float32, training/engine.py), their
difference, seconds per epoch of each (training + validation, the engine's time_s), and
whether |difference| <= the tolerance (the issue's 0.002). The header gives the device,
threads and float32 / bfloat16 matmul throughput, which is what bf16 speed depends on (a
CPU without native bfloat16 instructions runs bf16 slower than float32). Same seed, same
data for both precisions; --epochs replaces the recipe's epoch count (say so when quoting).
"""
from __future__ import annotations

import argparse
import time

import torch

import latentforge as lf
from latentforge.training.device import resolve_device

MODELS = ("stacked_ae", "conv_ae")


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 512,
                  seconds: float = 0.3) -> float:
    """Best GFLOP/s of an (n, n) @ (n, n) product in `dtype`, repeated for about `seconds`."""
    a = torch.randn(n, n, device=device).to(dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ a
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def train_one(model: str, precision: str, args) -> tuple[float, float, int]:
    """(last validation loss, mean seconds per epoch, epochs) of `model`'s fast recipe."""
    overrides = ["train.progress=false", f'train.precision="{precision}"',
                 f'train.device="{args.device}"']
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.threads:
        overrides.append(f"train.threads={args.threads}")
    run = lf.train(model, "fast", overrides=overrides, run_dir=False)
    seconds = sum(r["time_s"] for r in run.history) / len(run.history)
    return run.history[-1]["val_loss"], seconds, len(run.history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="train this many epochs instead of the recipe's")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--tolerance", type=float, default=0.002)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads; "
          f"matmul float32 {matmul_gflops(torch.float32, device):.1f} GFLOP/s, bfloat16 "
          f"{matmul_gflops(torch.bfloat16, device):.1f} GFLOP/s\n")
    print(f"| model (fast) | epochs | val loss fp32 | val loss bf16 | bf16 - fp32 | "
          f"s/epoch fp32 | s/epoch bf16 | within {args.tolerance} |")
    print("|---|---|---|---|---|---|---|---|")
    for model in args.models:
        fp32, t32, epochs = train_one(model, "32", args)
        bf16, t16, _ = train_one(model, "bf16", args)
        diff = bf16 - fp32
        print(f"| {model} | {epochs} | {fp32:.4f} | {bf16:.4f} | {diff:+.4f} | {t32:.1f} | "
              f"{t16:.1f} | {'yes' if abs(diff) <= args.tolerance else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
