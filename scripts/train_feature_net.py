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
of train, valid and test, in that order). Prints one line per epoch (the engine's mean
batch loss and the validation accuracy) and one JSON summary line at the end.

Training runs through latentforge's one engine, in memory (`FeatureNetTraining`: the CNN
under the engine's model contract; the engine's cosine schedule; the flips drawn from the
engine's shuffling generator, as before, so the weights are those of the earlier loop).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from latentforge.config import RunConfig, TrainConfig
from latentforge.data import DataConfig, load_data
from latentforge.data.dataset import Splits, TensorData
from latentforge.evaluation.featurenet import (INPUT_SHAPE, FashionCNN, predict_classes,
                                               save_feature_net)
from latentforge.models.base import Model
from latentforge.training.callbacks import Callback
from latentforge.training.engine import Trainer

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


class FeatureNetTraining(Model):
    """`FashionCNN` under the engine's contract: Adam (torch's default implementation) at
    train.lr, random horizontal flips drawn from `flips` (the engine's shuffling generator),
    channels_last input, cross-entropy on logits."""

    def __init__(self, net: FashionCNN, flips: torch.Generator):
        super().__init__(None, INPUT_SHAPE)
        self.net, self.flips = net, flips

    def init_weights(self) -> None:
        """Nothing: the network arrives initialised."""

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.net.parameters(), lr=train_cfg.lr)}

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def train_step(self, x, y, step):
        flip = torch.rand(len(x), generator=self.flips) < 0.5
        loss = F.cross_entropy(self.logits(torch.where(flip[:, None, None, None],
                                                       x.flip(-1), x)), y)
        step.step("main", loss)
        return {"loss": loss.detach()}

    def eval_step(self, x, y):
        logits = self.logits(x)
        return {"loss": F.cross_entropy(logits, y),
                "accuracy": (logits.argmax(1) == y).float().mean()}


class PrintEpoch(Callback):
    """One line per epoch: loss, validation accuracy, seconds since the start."""

    def __init__(self, epochs: int):
        self.epochs, self.start = epochs, time.perf_counter()

    def on_epoch_end(self, trainer, record: dict) -> None:
        print(f"epoch {record['epoch']}/{self.epochs} loss {record['loss']:.4f} valid_acc "
              f"{record['val_accuracy']:.4f} ({time.perf_counter() - self.start:.0f} s)",
              flush=True)


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
    train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam",
                            lr=args.lr, schedule="cosine", device="cpu", progress=False,
                            eval_batch_size=1000, seed=args.seed)
    cfg = RunConfig("fashion_cnn", "script", None, train=train_cfg)
    start = time.perf_counter()
    Trainer(FeatureNetTraining(net, gen), Splits("fashion-mnist", train, splits.valid, None),
            cfg, callbacks=[PrintEpoch(args.epochs)], generator=gen).fit()
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
