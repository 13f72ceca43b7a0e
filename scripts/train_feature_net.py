"""Retrain the shipped Fashion-MNIST feature network, reproducibly.

    nice -n 10 .venv/bin/python scripts/train_feature_net.py            # rewrite the asset
    .venv/bin/python scripts/train_feature_net.py --out /tmp/net.safetensors --epochs 1 \
        --limit-train 2000                                               # quick smoke run

A thin wrapper over `latentforge.evaluation.featurenet_training.train_feature_net` (what
``latentforge featurenet train --data fashion-mnist`` runs too) with the shipped network's
settings: the book's split of Fashion-MNIST (train = first 55,000 training images, valid =
last 5,000, test = the 10,000 test images), 12 epochs, batch 128, Adam at 2e-3 with cosine
decay, random horizontal flips, seed 0, one thread. The same seed, thread count, torch
version and CPU kind give bitwise-identical weights (compare tensors, not file bytes:
safetensors may order the metadata keys differently).

Writes ``--out`` (default: the package's ``assets/fashion_cnn.safetensors``) with the
training facts in its metadata (see `featurenet_training`). Prints one line per epoch and
one JSON summary line at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from latentforge.data import DataConfig
from latentforge.evaluation.featurenet_training import train_feature_net

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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = DataConfig(source="fashion-mnist", data_dir=args.data_dir,
                      limit_train=args.limit_train)
    meta = train_feature_net(data, args.out, args.epochs, args.seed, args.batch_size,
                             args.lr, flip=True, threads=args.threads,
                             progress=lambda line: print(line, flush=True))
    print(json.dumps({k: v for k, v in meta.items()
                      if k not in ("classes", "data_config")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
