"""Epoch time of the stacked autoencoder's book recipe against the machine's own limits.

Prints, measured in one run: the machine's float32 matmul throughput, the FLOP lower bound
of one epoch (55,000 images, batch 32, 784-100-30-100-784), and the epoch time of
  - latentforge's engine with the fused SGD step (the default),
  - the same with train.compile (inductor: the fused step as generated C++ kernels; timed
    on the epoch after the one that compiled),
  - latentforge's engine with the plain autograd + torch.optim.SGD step,
  - a plain PyTorch loop (autograd, randperm batches) for reference,
  - the step's matrix products alone (the same 11 matmuls per batch, nothing else): what
    small-batch matmul efficiency leaves of the bound.
Variants run interleaved, one epoch each per round, and the median is reported, so the
ratios hold on a noisy machine. Usage:

    python benchmarks/stacked_ae_epoch.py [--rounds 3] [--threads N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.data import DataConfig, load_data
from latentforge.training.compiling import compiled
from latentforge.training.engine import Trainer


def matmul_gflops(n: int = 2048, reps: int = 10) -> float:
    """Best float32 GFLOP/s of an n x n matmul over `reps` tries."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def epoch_flops(model, n_samples: int) -> float:
    """Matmul FLOPs of one epoch: forward, weight gradients, input gradients (none for the
    first layer: the images need no gradient). Elementwise work is not counted."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    macs = sum(m.in_features * m.out_features for m in linears)
    first = linears[0].in_features * linears[0].out_features
    return n_samples * (2 * macs + 2 * macs + 2 * (macs - first))


def engine_epoch(splits, fused: bool, compile_backend: str | None = None) -> float:
    """One epoch of the engine; compiled (train.compile): the second epoch, after one that
    compiled every graph (the full and the last, smaller batch)."""
    cfg = build_config("stacked_ae", "book", overrides=[
        "train.epochs=2", "train.progress=false", f"model.fused_sgd={str(fused).lower()}"])
    model = build_model(cfg, splits.train.sample_shape)
    trainer = Trainer(model, splits, cfg)  # in memory: writes nothing
    with compiled(model, compile_backend, trainer.device) if compile_backend else nullcontext():
        if compile_backend:
            trainer.train_epoch(splits.train, 0)
        start = time.perf_counter()
        trainer.train_epoch(splits.train, 0)
        return time.perf_counter() - start


def plain_epoch(splits) -> float:
    cfg = build_config("stacked_ae", "book", overrides=["model.fused_sgd=false"])
    model = build_model(cfg, splits.train.sample_shape)
    opt = torch.optim.SGD(model.parameters(), lr=1.5)
    x = splits.train.x
    start = time.perf_counter()
    perm = torch.randperm(len(x))
    for i in range(0, len(x), 32):
        xb = x[perm[i:i + 32]].float() / 255
        loss = F.binary_cross_entropy_with_logits(model(xb), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def matmuls_only_epoch(n_samples: int, batch: int = 32) -> float:
    """Time of the fused step's matmuls alone for one epoch (random data, same shapes)."""
    sizes = [784, 100, 30, 100, 784]
    ws = [torch.randn(o, i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [torch.zeros(o) for o in sizes[1:]]
    hs = [torch.rand(batch, n) for n in sizes[:-1]]
    gs = [torch.rand(batch, n) for n in sizes[1:]]
    start = time.perf_counter()
    for _ in range(-(-n_samples // batch)):
        for k in range(4):
            torch.addmm(bs[k], hs[k], ws[k].t())
            ws[k].addmm_(gs[k].t(), hs[k], alpha=-1e-12)
            if k:
                gs[k] @ ws[k]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    splits = load_data(DataConfig())
    variants = {
        "latentforge engine, fused SGD step": lambda: engine_epoch(splits, True),
        "fused SGD step, train.compile (inductor)": lambda: engine_epoch(splits, True,
                                                                        "inductor"),
        "latentforge engine, autograd step": lambda: engine_epoch(splits, False),
        "plain PyTorch loop (autograd)": lambda: plain_epoch(splits),
        "matmuls alone (no other op)": lambda: matmuls_only_epoch(len(splits.train)),
    }
    times = {k: [] for k in variants}
    peaks = []
    for _ in range(args.rounds):
        peaks.append(matmul_gflops())
        for name, fn in variants.items():
            times[name].append(fn())
    peak = statistics.median(peaks)
    model = build_model(build_config("stacked_ae"), (1, 28, 28))
    flops = epoch_flops(model, len(splits.train))
    bound = flops / (peak * 1e9)
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, "
          f"rounds {args.rounds} (median)")
    print(f"matmul throughput: {peak:.1f} GFLOP/s (2048x2048 float32)")
    print(f"epoch matmul work: {flops / 1e9:.1f} GFLOP -> lower bound {bound:.3f} s/epoch\n")
    print(f"| {'variant':38s} | epoch (s) | x lower bound | achieved GFLOP/s |")
    print(f"|{'-' * 40}|-----------|---------------|------------------|")
    for name, values in times.items():
        t = statistics.median(values)
        print(f"| {name:38s} | {t:9.3f} | {t / bound:13.2f} | {flops / t / 1e9:16.1f} |")


if __name__ == "__main__":
    main()
