"""data.streaming's throughput: decoded images/s against what training consumes.

    python benchmarks/streaming.py                      # 5,000 images, 1 torch thread
    python benchmarks/streaming.py --images 10000 --threads 2

Writes the first N Fashion-MNIST training images (the in-memory source, `load_data`) as
28x28 PNGs in class subfolders of a temporary folder, then prints a markdown table:

- the streaming folder's decode rate (images/s) with data.workers 0, 1 and 2: one pass
  over the train split in shuffled batches of 32 through `StreamingData.batches`, the
  path the engine takes (PNG decode, uint8 -> float32), nothing trained;
- the rate training consumes images (images/s) of the stacked_ae and conv_ae book steps:
  one epoch of the book recipe on the same N in-memory images (the engine's time_s, whose
  validation on 100 items is a small part).

Decoding keeps up with training when its rate is above the training rate; each worker
is a process, so the workers' rate also needs free cores.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

import latentforge as lf
from latentforge.data import DataConfig, FASHION_CLASSES, load_data

BATCH = 32
EVAL_ITEMS = 100


def write_folder(root: Path, n: int) -> None:
    """The first ``n`` Fashion-MNIST training images as PNGs in class subfolders."""
    train = load_data(DataConfig(limit_train=n, limit_eval=1)).train
    for name in FASHION_CLASSES:
        (root / name.replace("/", "-")).mkdir()
    for i in range(len(train)):
        name = FASHION_CLASSES[int(train.y[i])].replace("/", "-")
        Image.fromarray(train.x[i, 0].numpy(), "L").save(root / name / f"{i:05d}.png")


def decode_rate(root: Path, workers: int) -> float:
    """Images/s of one shuffled pass over the streaming train split."""
    data = load_data(DataConfig(source=str(root), streaming=True, valid_fraction=0.0,
                                test_fraction=0.0)).train
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    batches = list(perm.split(BATCH))
    start = time.perf_counter()
    n = sum(len(x) for x, _ in data.batches(batches, workers))
    return n / (time.perf_counter() - start)


def train_rate(model: str, n: int) -> float:
    """Images/s of one book-recipe epoch of ``model`` on ``n`` in-memory images."""
    run = lf.train(model, "book", run_dir=False, overrides=[
        f"data.limit_train={n}", f"data.limit_eval={EVAL_ITEMS}", "train.epochs=1",
        "train.progress=false", "train.device=cpu"])
    return n / run.history[0]["time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_folder(root, args.images)
        rows = [(f"streaming folder decode, data.workers={w}", decode_rate(root, w))
                for w in (0, 1, 2)]
    rows += [(f"{m} book step (training consumes)", train_rate(m, args.images))
             for m in ("stacked_ae", "conv_ae")]
    print(f"{args.images:,} Fashion-MNIST 28x28 PNGs, batches of {BATCH}, "
          f"{args.threads} torch thread(s)\n")
    print("| what | images/s |\n|---|---:|")
    for what, rate in rows:
        print(f"| {what} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
