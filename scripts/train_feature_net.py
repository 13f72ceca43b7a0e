"""Retrain the shipped Fashion-MNIST feature network, reproducibly.

    nice -n 10 .venv/bin/python scripts/train_feature_net.py            # rewrite the asset
    .venv/bin/python scripts/train_feature_net.py --out /tmp/net.safetensors --epochs 1 \
        --limit-train 2000                                               # quick smoke run

Data: the book's split of Fashion-MNIST through `latentforge.data.load_data` (train = first
55,000 training images, valid = last 5,000, test = the 10,000 test images). Training: Adam,
cosine learning-rate decay per step, random horizontal flips, cross-entropy; all randomness
from one seeded torch generator, deterministic algorithms, a fixed number of threads. The
same seed, thread count, torch version and CPU kind give bitwise-identical weights and
identical metadata (the training time is printed, not stored; safetensors may order the
metadata keys differently, so compare tensors, not file bytes).

Writes ``--out`` (default: the package's ``assets/fashion_cnn.safetensors``) with the
metadata: test and valid accuracy, seed, epochs, batch size, learning rate, threads, torch
version, train size and ``data_sha256`` (SHA-256 of the uint8 images and int64 labels
of train, valid and test, in that order). Prints one JSON summary line at the end.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentforge.data import DataConfig, load_data
from latentforge.data.dataset import TensorData
from latentforge.evaluation.featurenet import FashionCNN, predict_classes, save_feature_net

DEFAULT_OUT = (Path(__file__).resolve().parents[1] / "src" / "latentforge" / "assets"
               / "fashion_cnn.safetensors")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=None, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--limit-train", type=int, default=None, help="smoke runs only")
    return p.parse_args(argv)


def data_sha256(splits) -> str:
    """SHA-256 of the uint8 images and int64 labels of train, valid, test (in that order)."""
    h = hashlib.sha256()
    for part in (splits.train, splits.valid, splits.test):
        h.update(part.x.contiguous().numpy().tobytes())
        h.update(part.y.contiguous().numpy().tobytes())
    return h.hexdigest()


def accuracy(net: FashionCNN, data: TensorData) -> float:
    """Share of ``data`` the net classifies correctly (eval mode, batches of 1,000)."""
    pred = predict_classes(net, data.x, batch_size=1000)
    return float((pred == data.y).float().mean())


def train_epoch(net, opt, sched, data: TensorData, batch_size: int, gen) -> float:
    """One shuffled pass with random horizontal flips; returns the mean training loss."""
    net.train()
    perm = torch.randperm(len(data), generator=gen)
    total, n = 0.0, 0
    for i in range(0, len(data), batch_size):
        idx = perm[i:i + batch_size]
        xb, yb = data.batch(idx), data.y.index_select(0, idx)
        flip = torch.rand(len(idx), generator=gen) < 0.5
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        loss = F.cross_entropy(net(xb.contiguous(memory_format=torch.channels_last)), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        total, n = total + float(loss.detach()) * len(idx), n + len(idx)
    return total / n


def cosine(total_steps: int):
    """LambdaLR factor: cosine decay from 1 to 0 over ``total_steps``."""
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    splits = load_data(DataConfig(source="fashion-mnist", data_dir=args.data_dir))
    checksum = data_sha256(splits)
    train = splits.train.head(args.limit_train)
    net = FashionCNN().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = args.epochs * math.ceil(len(train) / args.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine(steps))
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss = train_epoch(net, opt, sched, train, args.batch_size, gen)
        print(f"epoch {epoch}/{args.epochs} loss {loss:.4f} valid_acc "
              f"{accuracy(net, splits.valid):.4f} ({time.perf_counter() - start:.0f} s)",
              flush=True)
    seconds = time.perf_counter() - start
    meta = {"test_accuracy": round(accuracy(net, splits.test), 4),
            "valid_accuracy": round(accuracy(net, splits.valid), 4),
            "seed": args.seed, "epochs": args.epochs, "batch_size": args.batch_size,
            "lr": args.lr, "threads": args.threads, "torch_version": torch.__version__,
            "train_size": len(train), "data_sha256": checksum,
            "classes": splits.train.classes}
    save_feature_net(net, args.out, meta)
    shown = {k: v for k, v in meta.items() if k != "classes"}
    print(json.dumps({"out": str(args.out), "train_seconds": round(seconds, 1), **shown}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
