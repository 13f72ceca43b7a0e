"""Training images/s on a GPU in float32, bf16 and 16-mixed, beside the GPU's own peak.

    python benchmarks/gpu_throughput.py                    # needs CUDA; one short run
    python benchmarks/gpu_throughput.py --device cpu --steps 3 --models stacked_ae
                                                           # a smoke test of the script

Rows: stacked_ae, conv_ae, dcgan (book recipes) and stylegan (fast, Fashion-MNIST padded to
32x32), each at the recipe's batch and at --large-batch, in each train.precision. Timed is
the engine's own loop (`Trainer.train_epoch` on random uint8 data of the recipe's shape,
already on the device; no run directory): warm-up steps, then --steps timed steps between
two device synchronisations. FLOPs per step are matmul + convolution FLOPs counted by
FlopCounterMode on one float32 CPU step (elementwise work not counted; "-" where the
counter cannot follow the step: stylegan's R1 double backward), so "% of peak" is the step's
FLOP rate over the dense matmul rate measured in this run in the same precision (an
8192 x 8192 product; float32 with TF32 off, as torch's default). A row that fails (e.g. out
of memory) shows the error class. The README's GPU table comes from this script.
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from epoch_times import random_data, step_flops
from latentforge.config import build_config
from latentforge.data.dataset import Splits, TensorData
from latentforge.api import build_model
from latentforge.training.engine import Trainer

ROWS = {"stacked_ae": ("book", ()), "conv_ae": ("book", ()), "dcgan": ("book", ()),
        "stylegan": ("fast", ())}
DTYPES = {"32": torch.float32, "bf16": torch.bfloat16, "16-mixed": torch.float16}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(dtype: torch.dtype, device: torch.device, n: int = 8192,
                  repeats: int = 20) -> float:
    """Dense (n, n) @ (n, n) TFLOP/s in `dtype` on `device` (smaller n on the CPU)."""
    n = n if device.type == "cuda" else 1024
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e12


def row(model: str, batch: int | None, precision: str, device: torch.device, steps: int):
    """(batch, images/s, GFLOP per step, seconds per step) of one row."""
    recipe, extra = ROWS[model]
    overrides = [*extra, "train.progress=false", *([f"train.batch_size={batch}"] if batch else [])]
    cfg = build_config(model, recipe, overrides=[*overrides, f"train.device={device.type}",
                                                 f"train.precision={precision}"])
    side = cfg.data.pad_to or 28
    shape, bs = (1, side, side), cfg.train.batch_size
    try:  # FlopCounterMode's module hooks fail on some steps (stylegan's R1 pass)
        flops, _ = step_flops(build_config(model, recipe, overrides=[*overrides,
                                                                      "train.device=cpu"]),
                              shape, torch.uint8)
    except AssertionError:
        flops = math.nan
    data = random_data(shape, torch.uint8, bs * steps)
    trainer = Trainer(build_model(cfg, shape), Splits("random", data, None, None), cfg)
    data = TensorData(data.x.to(trainer.device), data.y.to(trainer.device))
    trainer.train_epoch(TensorData(data.x[:bs * 3], data.y[:bs * 3]), 0)  # warm-up
    sync(trainer.device)
    start = time.perf_counter()
    trainer.train_epoch(data, 0)
    sync(trainer.device)
    seconds = (time.perf_counter() - start) / steps
    return bs, bs / seconds, flops / 1e9, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--precisions", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--large-batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peaks = {p: matmul_tflops(DTYPES[p], device) for p in args.precisions}
    print(f"torch {torch.__version__}, {name}; dense matmul peak (TFLOP/s): "
          + ", ".join(f"{p} {v:.1f}" for p, v in peaks.items()) + "\n")
    print("| model (recipe) | batch | precision | images/s | ms/step | GFLOP/step | % of peak |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        for batch in (None, args.large_batch):
            for precision in args.precisions:
                label = f"`{model}` ({ROWS[model][0]})"
                try:
                    bs, ips, gflop, s = row(model, batch, precision, device, args.steps)
                except Exception as exc:  # a row's failure (e.g. out of memory) is a result
                    print(f"| {label} | {batch or 'recipe'} | {precision} | "
                          f"{type(exc).__name__} | - | - | - |", flush=True)
                    continue
                pct = 100 * gflop / 1e3 / s / peaks[precision]
                print(f"| {label} | {bs} | {precision} | {ips:,.0f} | {s * 1e3:.2f} | "
                      f"{gflop:.2f} | {pct:.1f} |".replace("nan", "-"), flush=True)


if __name__ == "__main__":
    main()
