"""Where a book recipe's training step spends its time on this CPU (torch.profiler).

For each model: `--steps` engine steps of its book recipe on random data (after warm-up
steps), profiled; the operators' own CPU time grouped into kinds (convolutions forward and
backward, matrix products, elementwise and activations, losses and reductions, the
optimizer's arithmetic, copies and layout changes, everything else), the time outside any
operator (Python, the engine, dispatch), and the step's FLOP rate (FLOPs counted as in
benchmarks/epoch_times.py) as a whole and in the convolutions and matrix products alone,
against the float32 matmul peak measured in the same run. Usage:

    python benchmarks/profile_step.py [--models conv_ae dcgan] [--steps 30] [--threads 1]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.data.dataset import Splits, TensorData
from latentforge.training.engine import Trainer

from epoch_times import step_flops  # benchmarks/epoch_times.py: FLOPs of one step

KINDS = (  # (kind, substrings of aten operator names), first match wins
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("convolution", "conv2d", "conv_transpose")),
    ("matmul", ("addmm", "::mm", "bmm", "matmul", "linear")),
    ("optimizer arithmetic", ("_foreach", "addcdiv", "addcmul", "lerp", "sqrt")),
    ("loss, reductions", ("binary_cross_entropy", "sum", "mean", "softplus", "norm")),
    ("elementwise, activations", ("relu", "selu", "elu", "sigmoid", "tanh", "mul", "add",
                                  "sub", "div", "threshold", "leaky", "batch_norm",
                                  "native_batch_norm", "fill", "zero", "where", "clamp",
                                  "pow", "neg", "exp", "log", "rsub")),
    ("copies, layout", ("copy", "contiguous", "clone", "to", "cat", "stack", "index",
                        "view", "reshape", "permute", "transpose", "empty", "as_strided",
                        "select", "slice", "unsqueeze", "squeeze", "flatten", "expand")),
)


DENSE = ("convolution forward", "convolution backward", "matmul")


def matmul_gflops(n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(reps))
    return 2 * n ** 3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def kind_of(name: str) -> str:
    for kind, parts in KINDS:
        if any(p in name for p in parts):
            return kind
    return "other operators"


def trainer_for(model_name: str, steps: int) -> tuple[Trainer, TensorData]:
    cfg = build_config(model_name, "book", overrides=["train.progress=false"])
    shape = (1, 28, 28)
    batch = cfg.train.batch_size
    data = TensorData(torch.randint(0, 256, (steps * batch, *shape), dtype=torch.uint8), None)
    valid = TensorData(data.x[:batch], None)
    model = build_model(cfg, shape)
    return Trainer(model, Splits("random", data, valid, None), cfg), data


def profile_model(model_name: str, steps: int) -> dict:
    trainer, data = trainer_for(model_name, steps)
    trainer.train_epoch(data.head(5 * trainer.batch_size()), 0)  # warm-up
    plain = _timed(lambda: trainer.train_epoch(data, 0))  # unprofiled
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        trainer.train_epoch(data, 0)
    wall = time.perf_counter() - start
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith("aten::"):
            kind = kind_of(event.key)
            totals[kind] = totals.get(kind, 0.0) + event.self_cpu_time_total
    dense_us = sum(totals.get(k, 0.0) for k in DENSE)
    flops = step_flops(trainer.cfg, (1, 28, 28), torch.uint8)[0] * steps
    return {"model": model_name, "ms_per_step": plain / steps * 1e3, "plain_s": plain,
            "wall_us": wall * 1e6, "kinds": totals, "flops": flops, "dense_us": dense_us}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["stacked_ae", "conv_ae", "dcgan"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    rows = [profile_model(m, args.steps) for m in args.models]
    peak = max(peak, matmul_gflops())  # before and after: the better of the two
    print(f"threads {torch.get_num_threads()}, torch {torch.__version__}, {args.steps} "
          f"profiled steps per model; float32 matmul peak {peak:.1f} GFLOP/s (1024x1024)\n")
    kinds = [k for k, _ in KINDS] + ["other operators"]
    print("| model | ms/step | " + " | ".join(kinds) + " | outside operators |")
    print("|---|---|" + "---|" * (len(kinds) + 1))
    for r in rows:
        shares = [100 * r["kinds"].get(k, 0.0) / r["wall_us"] for k in kinds]
        outside = 100 - sum(shares)
        print(f"| {r['model']} | {r['ms_per_step']:.2f} | "
              + " | ".join(f"{s:.1f}%" for s in shares) + f" | {outside:.1f}% |")
    print("\nShares are of the profiled run's time; the profiler itself slows the steps, so "
          "ms/step is an unprofiled pass.\n")
    print("| model | MFLOP/step | whole step GFLOP/s | % of peak | conv + matmul ops alone: "
          "GFLOP/s | % of peak |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        whole = r["flops"] / r["plain_s"] / 1e9
        # the dense operators' share of the profiled time, applied to the unprofiled time
        dense_s = r["plain_s"] * r["dense_us"] / r["wall_us"]
        dense = r["flops"] / dense_s / 1e9 if dense_s else float("nan")
        print(f"| {r['model']} | {r['flops'] / args.steps / 1e6:.1f} | {whole:.1f} | "
              f"{100 * whole / peak:.1f}% | {dense:.1f} | {100 * dense / peak:.1f}% |")


if __name__ == "__main__":
    main()
