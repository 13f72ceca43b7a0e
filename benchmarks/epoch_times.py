"""Epoch time of every model's book recipe, beside the machine's matmul throughput (one run).

    python benchmarks/epoch_times.py                      # all tables, 200 timed steps a row
    python benchmarks/epoch_times.py --steps 50 --models conv_ae recurrent_ae
    python benchmarks/epoch_times.py --skip-options --threads 1
    python benchmarks/epoch_times.py --no-compile         # without the torch.compile rows

Everything runs on the CPU (train.device=cpu). Timed is the engine's own training loop,
`Trainer.train_epoch` (in memory: no run directory), i.e. what `latentforge train` does
per batch: slice a shuffled permutation, uint8 -> float batch, `model.train_step` (the
fused dense SGD step where the model takes it, else autograd + the recipe's optimizer),
loss bookkeeping. The data are
random uint8 images of Fashion-MNIST's shape (1, 28, 28) with random labels (the speed does
not depend on pixel values); a model whose book recipe uses other data (linear_ae:
synthetic3d) gets random data of that source's shape and split sizes. Every row first runs
warm-up steps (the first one timed alone, then 3); its timed steps then run in `--rounds`
chunks, interleaved with the other rows of its table, and ms/step is the median chunk, so
ratios hold on a noisy machine.

Header: torch version, intra-op threads, CPU model, and float32 matmul throughput measured
in this run: the best of 0.3 s of 1024x1024 products ("peak"; measured again at the end to
show whether the machine's load changed) and of a batch-shaped 32x784 @ 784x100 product.

Table 1, every registered model with its `book` recipe:
  optimizer, batch   the recipe's; "fused" = the hand-written dense SGD step (models/fused.py)
  steps/epoch        ceil(training images / batch): 55,000 Fashion-MNIST images
  ms/step            median training-step time, as above
  train (s)          ms/step x steps/epoch: one epoch of training
  valid (s)          one validation pass (5,000 images at the eval batch size, the engine's
                     `evaluate_model`), timed separately, once
  epoch (s)          train + valid: one epoch of `latentforge train`
  MFLOP/step         matmul + convolution FLOPs of one real training step (forward, backward,
                     the fused step's in-place weight updates) by FlopCounterMode; elementwise
                     work is not counted. oneDNN is off while counting so that LSTMs run as
                     countable matmuls (timed steps keep it on)
  GFLOP/s, % peak    MFLOP/step / ms/step, and that as a fraction of the matmul peak

Tables 2 and 3, speed options of conv_ae and recurrent_ae (book recipe, one change per row
against the first row, all measured in this run): memory format (model.channels_last; the
config default is channels_last; conv_ae only), threads (torch.set_num_threads; the other
of 1 and 2), batch 64, oneDNN off (torch.backends.mkldnn; conv_ae: NCHW rows only) and
torch.compile (default mode).
  speedup      first row's train epoch / this row's (per image, so batch 64 compares fairly)
  first step   time of the row's first training step: for compiled rows, the compile time
Compiled rows compile what train.compile compiles (`model.compile_networks("inductor")`:
the encoder and decoder, their backward via AOTAutograd); the optimizer step stays eager.
In a real epoch the last, smaller batch (55,000 = 1,718 x 32 + 24) compiles once more, in
the first epoch only (train.drop_last: never).
A row that fails (e.g. torch.compile without a C++ compiler) shows the error class.

Table 4, the GANs at 32x32 (Fashion-MNIST zero-padded to 32x32, data.pad_to=32): dcgan
(book), progan (fast) and stylegan (fast and book), beside the matmul throughput of
the header (same run, interleaved rounds). ProGAN is timed at its last level (32x32, fade
over: `images_seen` set past the growth schedule), the cost of most of its training.
  images/s     training images per second (batch / ms per step)
"""
from __future__ import annotations

import argparse
import contextlib
import math
import platform
import statistics
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch.utils.flop_counter import FlopCounterMode

from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.data import Splits, TensorData, load_data
from latentforge.registry import names
from latentforge.training.engine import Trainer, evaluate_model
from latentforge.training.step import Stepper

BASE_OVERRIDES = ("train.device=cpu", "train.progress=false")
IMAGE_SOURCES = {"fashion-mnist": (1, 28, 28), "mnist": (1, 28, 28)}
TRAIN_FILE_IMAGES = 60000  # the IDX training file; its last valid_size images are validation
WARMUP_STEPS = 3  # after the first step; fewer when --steps is small (steps // 10)
OPTION_MODELS = ("conv_ae", "recurrent_ae")
# progan's book recipe (the paper's 512 channels) takes ~84 s a step at 32x32 on one core:
# a GPU recipe, left out; dcgan's fast recipe is its book one cut to one epoch.
GAN_ROWS = (("dcgan", "book"), ("progan", "fast"), ("stylegan", "fast"), ("stylegan", "book"))


# ---------------------------------------------------------------- machine


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_gflops(m: int, k: int, n: int, seconds: float = 0.3) -> float:
    """Best float32 GFLOP/s of an (m, k) @ (k, n) product, repeated for about `seconds`."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    out = a @ b
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


@contextlib.contextmanager
def settings(threads: int, mkldnn: bool = True):
    """Intra-op threads and oneDNN on/off for the block (both are process-global)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():  # toggling oneDNN warns about Intel-GPU TF32
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.backends.mkldnn.flags(enabled=mkldnn):
                yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- data and FLOPs


def data_layout(cfg) -> tuple[tuple[int, ...], torch.dtype, int, int]:
    """(sample shape, dtype, train size, valid size) of the recipe's data. Fashion-MNIST is
    not loaded (its shape follows data.image_size and data.pad_to); other sources (small,
    offline: synthetic3d) are loaded to read them."""
    if cfg.data.source in IMAGE_SOURCES:
        valid = cfg.data.valid_size
        c, h, w = IMAGE_SOURCES[cfg.data.source]
        h = w = cfg.data.image_size or h
        h = w = cfg.data.pad_to or h
        return (c, h, w), torch.uint8, TRAIN_FILE_IMAGES - valid, valid
    splits = load_data(cfg.data)
    return splits.train.sample_shape, splits.train.x.dtype, len(splits.train), len(splits.valid)


def random_data(shape, dtype, n: int) -> TensorData:
    if dtype == torch.uint8:
        x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8)
    else:
        x = torch.rand(n, *shape)
    return TensorData(x, torch.randint(0, 10, (n,)))


def _mm_flops(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _mv_flops(self_shape, a_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    return 2 * a_shape[0] * a_shape[1]


# The fused dense step updates weights in place (addmm_, addmv_): not counted by default.
IN_PLACE_FLOPS = {torch.ops.aten.addmm_: _mm_flops, torch.ops.aten.addmv_: _mv_flops}


def step_flops(cfg, shape, dtype) -> tuple[int, bool]:
    """FLOPs of one training step of a fresh model (oneDNN off: LSTMs run as matmuls), and
    whether it was the fused dense SGD step (the one that calls addmm_)."""
    model = build_model(cfg, shape).train()
    opts = model.configure_optimizers(cfg.train)
    data = random_data(shape, dtype, cfg.train.batch_size)
    x = data.batch(torch.arange(len(data)))
    counter = FlopCounterMode(display=False, custom_mapping=IN_PLACE_FLOPS)
    with settings(1, mkldnn=False), counter:  # untimed: one thread is quickest on a busy box
        model.train_step(x, data.y, Stepper(opts))
    fused = torch.ops.aten.addmm_ in counter.get_flop_counts()["Global"]
    return counter.get_total_flops(), fused


# ---------------------------------------------------------------- timing


@dataclass
class Case:
    """One row: a model's book recipe, config overrides and global settings; `build`,
    `warm_up` and `time_chunk` fill in the rest."""

    label: str
    model: str
    overrides: tuple[str, ...] = ()
    threads: int = 1
    mkldnn: bool = True
    compile: bool = False
    recipe: str = "book"
    cfg: object = None
    trainer: Trainer | None = None
    chunk: TensorData | None = None
    layout: tuple = ()
    first_step_s: float = math.nan
    chunk_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def batch(self) -> int:
        return self.cfg.train.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.layout[2] / self.batch)

    @property
    def ms_per_step(self) -> float:
        return statistics.median(self.chunk_ms)

    @property
    def train_s(self) -> float:
        return self.ms_per_step * self.steps_per_epoch / 1e3


def build(case: Case, chunk_steps: int) -> None:
    """Model, optimizer and a Trainer whose training split is `chunk_steps` random batches."""
    case.cfg = build_config(case.model, case.recipe,
                            overrides=[*BASE_OVERRIDES, *case.overrides])
    case.layout = shape, dtype, _, n_valid = data_layout(case.cfg)
    model = build_model(case.cfg, shape)
    if hasattr(model, "images_seen"):  # progan: time its last level (growth done)
        model.images_seen.fill_(10 ** 12)
    case.chunk = random_data(shape, dtype, chunk_steps * case.batch)
    splits = Splits("random", case.chunk, random_data(shape, dtype, n_valid), None)
    case.trainer = Trainer(model, splits, case.cfg)  # in memory: writes nothing
    if case.compile:
        model.compile_networks("inductor")


def warm_up(case: Case, steps: int) -> None:
    """Time the first step alone (the compile time of compiled rows), then run `steps` more."""
    shape, dtype = case.layout[:2]
    with settings(case.threads, case.mkldnn):
        start = time.perf_counter()
        case.trainer.train_epoch(random_data(shape, dtype, case.batch), 0)
        case.first_step_s = time.perf_counter() - start
        if steps:
            case.trainer.train_epoch(random_data(shape, dtype, steps * case.batch), 0)


def time_chunk(case: Case) -> None:
    """One engine pass over the case's chunk of batches; appends its ms/step."""
    steps = len(case.chunk) // case.batch
    with settings(case.threads, case.mkldnn):
        start = time.perf_counter()
        case.trainer.train_epoch(case.chunk, 0)
        case.chunk_ms.append((time.perf_counter() - start) / steps * 1e3)


def valid_seconds(case: Case) -> float:
    """One validation pass over the (random) validation split, as the engine runs it."""
    model, valid = case.trainer.model, case.trainer.splits.valid
    eval_bs = case.cfg.train.eval_batch_size
    with settings(case.threads, case.mkldnn):
        evaluate_model(model, valid.head(64), eval_bs)  # warm-up
        start = time.perf_counter()
        evaluate_model(model, valid, eval_bs)
        return time.perf_counter() - start


def attempt(case: Case, fn):
    """fn(case); on an exception, None and the error class kept on the case (for its row);
    a case that failed once is skipped from then on."""
    if case.error is None:
        try:
            return fn(case)
        except Exception as exc:  # report it in the row, benchmark the other rows
            case.error = type(exc).__name__
    return None


def run_cases(cases: list[Case], steps: int, rounds: int) -> None:
    """Build and warm up every case, then time `steps` steps of each in `rounds` chunks,
    interleaved across the cases."""
    chunk_steps, warm_steps = max(1, steps // rounds), min(WARMUP_STEPS, steps // 10)
    stages = [lambda c: build(c, chunk_steps), lambda c: warm_up(c, warm_steps)]
    for stage in stages + [time_chunk] * rounds:
        for case in cases:
            attempt(case, stage)


# ---------------------------------------------------------------- tables


def book_table(models: list[str], args, peak: float) -> None:
    cases = [Case(name, name, threads=args.threads) for name in models]
    run_cases(cases, args.steps, args.rounds)
    print("\n### Every model, book recipe\n")
    print("| model | optimizer | batch | steps/epoch | ms/step | train (s) | valid (s) | "
          "epoch (s) | MFLOP/step | GFLOP/s | % peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        valid = attempt(case, valid_seconds)
        flops, fused = attempt(case, lambda c: step_flops(c.cfg, *c.layout[:2])) or (0, False)
        if case.error:
            print(f"| {case.model} | failed: {case.error} |" + " |" * 9, flush=True)
            continue
        tc = case.cfg.train
        gflops = flops / case.ms_per_step / 1e6
        print(f"| {case.model} | {tc.optimizer} lr {tc.lr:g}{' (fused)' if fused else ''} | "
              f"{case.batch} | {case.steps_per_epoch} | {case.ms_per_step:.2f} | "
              f"{case.train_s:.2f} | {valid:.2f} | {case.train_s + valid:.2f} | "
              f"{flops / 1e6:.3g} | {gflops:.1f} | {100 * gflops / peak:.1f} |", flush=True)


def option_cases(model: str, threads: int, compile_rows: bool) -> list[Case]:
    """One change per row against the first (conv_ae: in both memory formats)."""
    other = 1 if threads > 1 else 2
    plural = {n: f"{n} thread{'s' if n > 1 else ''}" for n in (threads, other)}
    formats = {"": ()}
    if model == "conv_ae":
        formats = {"NCHW, ": ("model.channels_last=false",),
                   "channels_last, ": ("model.channels_last=true",)}
    cases = []
    for i, (fmt, ov) in enumerate(formats.items()):
        cases += [Case(f"{fmt}{plural[threads]}", model, ov, threads),
                  Case(f"{fmt}{plural[other]}", model, ov, other),
                  Case(f"{fmt}batch 64", model, (*ov, "train.batch_size=64"), threads)]
        if i == 0:  # oneDNN off once, in the plain NCHW format (it is the slowest row)
            cases.append(Case(f"{fmt}oneDNN off", model, ov, threads, mkldnn=False))
        if compile_rows:
            cases.append(Case(f"{fmt}torch.compile", model, ov, threads, compile=True))
    return cases


def options_table(model: str, args) -> None:
    cases = option_cases(model, args.threads, not args.no_compile)
    run_cases(cases, args.steps, args.rounds)
    base = math.nan if cases[0].error else cases[0].train_s
    print(f"\n### {model} speed options (book recipe; speedup against the first row)\n")
    print("| variant | batch | threads | ms/step | train epoch (s) | speedup | first step (s) |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        if case.error:
            batch = case.batch if case.cfg else ""
            print(f"| {case.label} | {batch} | {case.threads} | failed: {case.error} | | | |")
            continue
        print(f"| {case.label} | {case.batch} | {case.threads} | {case.ms_per_step:.2f} | "
              f"{case.train_s:.2f} | {base / case.train_s:.2f}x | {case.first_step_s:.2f} |",
              flush=True)
    done = [c for c in cases if c.error is None]
    if done:
        best = min(done, key=lambda c: c.train_s)
        print(f"\nFastest epoch: {best.label} ({best.train_s:.2f} s, "
              f"{base / best.train_s:.2f}x the first row).", flush=True)


def gan_table(args, peak: float) -> None:
    cases = [Case(f"{model} {recipe}", model, ("data.pad_to=32",), args.threads,
                  recipe=recipe) for model, recipe in GAN_ROWS]
    run_cases(cases, args.steps, args.rounds)
    print(f"\n### GANs at 32x32 (Fashion-MNIST padded; matmul peak {peak:.1f} GFLOP/s)\n")
    print("| model | recipe | batch | ms/step | images/s | epoch of 55,000 (s) |")
    print("|---|---|---|---|---|---|")
    for case in cases:
        if case.error:
            print(f"| {case.model} | {case.recipe} | failed: {case.error} | | | |")
            continue
        per_s = case.batch / case.ms_per_step * 1e3
        print(f"| {case.model} | {case.recipe} | {case.batch} | {case.ms_per_step:.1f} | "
              f"{per_s:.0f} | {case.train_s:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per row")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved chunks per row")
    parser.add_argument("--models", nargs="+", default=None, help="default: every model")
    parser.add_argument("--skip-options", action="store_true", help="only the book table")
    parser.add_argument("--only-gans", action="store_true",
                        help="only the table of the GANs at 32x32")
    parser.add_argument("--no-compile", action="store_true", help="no torch.compile rows")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads of the book table and the options' baseline")
    args = parser.parse_args()
    args.steps = max(1, args.steps)
    args.rounds = max(1, min(args.rounds, args.steps))
    models = args.models or names()
    start = time.perf_counter()
    with settings(args.threads):
        peak, small = matmul_gflops(1024, 1024, 1024), matmul_gflops(32, 784, 100)
    print(f"torch {torch.__version__}, {args.threads} threads (default "
          f"{torch.get_num_threads()}), CPU: {cpu_name()}; {args.steps} timed steps a row in "
          f"{args.rounds} interleaved rounds (median), random data")
    print(f"float32 matmul: {peak:.1f} GFLOP/s peak (1024x1024), {small:.1f} GFLOP/s at "
          "32x784 @ 784x100 (batch-shaped)", flush=True)
    if not args.only_gans:
        book_table(models, args, peak)
        for model in OPTION_MODELS:
            if model in models and not args.skip_options:
                options_table(model, args)
    gan_table(args, peak)
    with settings(args.threads):
        end = matmul_gflops(1024, 1024, 1024)
    print(f"\nmatmul peak at the end: {end:.1f} GFLOP/s (start {peak:.1f}; a large change "
          f"means the machine's load changed). Total {time.perf_counter() - start:.0f} s.")


if __name__ == "__main__":
    main()
