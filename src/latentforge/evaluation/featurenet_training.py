"""Training a feature network (`featurenet.FeatureCNN`) on any labelled image data, through
the one engine, in memory: what ``latentforge featurenet train`` and
``scripts/train_feature_net.py`` (the shipped Fashion-MNIST network) run.

Training: Adam at ``lr``, cosine learning-rate decay per step (the engine's schedule),
cross-entropy, optional random horizontal flips drawn from the engine's shuffling
generator; weights initialised from torch's global RNG seeded with ``seed`` inside
`torch.random.fork_rng` (the caller's RNG state is restored), deterministic algorithms and
a fixed thread count during training (both restored afterwards). The same seed, data,
thread count, torch version and CPU kind give bitwise-identical weights.

The written ``.safetensors`` (atomic) carries in its metadata: ``input_shape``,
``n_classes``, ``classes`` (names, or None), ``source`` and ``data_config`` (the
`DataConfig` as a dict), ``test_accuracy`` / ``valid_accuracy`` (None for an empty split),
``data_sha256`` (SHA-256 of the uint8 images and int64 labels of train, valid and test, in
that order), ``seed``, ``epochs``, ``batch_size``, ``lr``, ``flip``, ``threads``,
``torch_version``, ``train_size``.
"""
from __future__ import annotations

import hashlib
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from latentforge.config import RunConfig, TrainConfig, check_seed
from latentforge.data import DataConfig, load_data
from latentforge.data.dataset import Splits, TensorData
from latentforge.errors import ConfigError, DataError
from latentforge.evaluation.featurenet import (MIN_SIDE, FeatureCNN, predict_classes,
                                               save_feature_net)
from latentforge.models.base import Model
from latentforge.training.callbacks import Callback
from latentforge.training.engine import Trainer

# Sources whose mirror images keep their class (clothes, photos): flipped by default.
FLIP_SOURCES = ("fashion-mnist", "cifar10")


def data_sha256(splits: Splits) -> str:
    """SHA-256 of the uint8 images and int64 labels of train, valid, test (in that order;
    a missing test split adds nothing)."""
    h = hashlib.sha256()
    for part in (splits.train, splits.valid, splits.test):
        if part is not None:
            h.update(part.x.contiguous().numpy().tobytes())
            h.update(part.y.contiguous().numpy().tobytes())
    return h.hexdigest()


def accuracy(net: FeatureCNN, data: TensorData | None) -> float | None:
    """Share of ``data`` the net classifies correctly (eval mode, batches of 1,000); None
    for a missing or empty split."""
    if data is None or len(data) == 0:
        return None
    pred = predict_classes(net, data.x, batch_size=1000)
    return float((pred == data.y).float().mean())


def labelled_images(splits: Splits, source: str) -> tuple[tuple[int, int, int], int]:
    """The input shape (C, H, W) and number of classes of labelled image data; `DataError`
    for data without labels, tables, images smaller than 8x8 or a single class."""
    train = splits.train
    if any(part is not None and part.y is None
           for part in (train, splits.valid, splits.test)):
        raise DataError(f"'{source}' has no class labels, and a feature network is a "
                        "classifier: use a folder with one subfolder per class or an .npz "
                        "with a y (labels) array.")
    if len(train.sample_shape) != 3:
        raise DataError(f"'{source}' holds table rows of shape {train.sample_shape}, not "
                        "images (C, H, W); set data.image_shape=[C,H,W] for flat images.")
    c, h, w = train.sample_shape
    if min(h, w) < MIN_SIDE:
        raise DataError(f"'{source}' has {h}x{w} images; a feature network needs at least "
                        f"{MIN_SIDE}x{MIN_SIDE}: set data.pad_to or data.image_size.")
    labels = [p.y for p in (train, splits.valid, splits.test) if p is not None and len(p)]
    n_classes = len(train.classes) if train.classes else int(torch.cat(labels).max()) + 1
    if n_classes < 2 or len(train) == 0:
        raise DataError(f"'{source}' needs training images of at least 2 classes, got "
                        f"{len(train)} images of {n_classes} class(es).")
    return (c, h, w), n_classes


class FeatureNetTraining(Model):
    """`FeatureCNN` under the engine's contract: Adam (torch's default implementation) at
    train.lr, random horizontal flips drawn from `flips` (the engine's shuffling generator;
    None: no flips), channels_last input, cross-entropy on logits."""

    def __init__(self, net: FeatureCNN, flips: torch.Generator | None):
        super().__init__(None, net.input_shape)
        self.net, self.flips = net, flips

    def init_weights(self) -> None:
        """Nothing: the network arrives initialised."""

    def configure_optimizers(self, train_cfg) -> dict[str, torch.optim.Optimizer]:
        return {"main": torch.optim.Adam(self.net.parameters(), lr=train_cfg.lr)}

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=torch.channels_last))

    def train_step(self, x, y, step):
        if self.flips is not None:
            flip = torch.rand(len(x), generator=self.flips) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = F.cross_entropy(self.logits(x), y)
        step.step("main", loss)
        return {"loss": loss.detach()}

    def eval_step(self, x, y):
        logits = self.logits(x)
        return {"loss": F.cross_entropy(logits, y),
                "accuracy": (logits.argmax(1) == y).float().mean()}


class EpochLines(Callback):
    """Hands ``progress`` one line per epoch: loss, validation accuracy, seconds so far."""

    def __init__(self, epochs: int, progress: Callable[[str], None]):
        self.epochs, self.progress, self.start = epochs, progress, time.perf_counter()

    def on_epoch_end(self, trainer, record: dict) -> None:
        valid = record.get("val_accuracy")
        shown = "-" if valid is None else f"{valid:.4f}"
        self.progress(f"epoch {record['epoch']}/{self.epochs} loss {record['loss']:.4f} "
                      f"valid_acc {shown} ({time.perf_counter() - self.start:.0f} s)")


@contextmanager
def reproducible(seed: int, threads: int | None):
    """Seed torch's global RNG (restored afterwards), deterministic algorithms and
    ``threads`` intra-op threads (None: keep) for the duration; restores both flags."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if threads is not None:
                torch.set_num_threads(threads)
            torch.use_deterministic_algorithms(True)
            yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def check_settings(epochs: int, seed: int, batch_size: int, lr: float,
                   threads: int | None) -> None:
    """ConfigError for settings no training can use."""
    check_seed(seed, "--seed")
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"--epochs and --batch-size must be >= 1, got {epochs} and "
                          f"{batch_size}.")
    if not lr > 0:
        raise ConfigError(f"--lr must be > 0, got {lr}.")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}.")


def train_feature_net(data: DataConfig, out: str | Path, epochs: int = 12, seed: int = 0,
                      batch_size: int = 128, lr: float = 2e-3, flip: bool | None = None,
                      threads: int | None = None,
                      progress: Callable[[str], None] | None = None) -> dict:
    """Train a `FeatureCNN` on the labelled images of ``data`` and write it to ``out``.

    flip: random horizontal flips (None: on for `FLIP_SOURCES`, off otherwise, since a
        mirrored digit or letter may be another class). threads: intra-op threads during
        training (None: torch's current setting). progress: receives one line per epoch.
    Returns the metadata written, plus "out" and "train_seconds".
    """
    check_settings(epochs, seed, batch_size, lr, threads)
    splits = load_data(data)
    shape, n_classes = labelled_images(splits, data.source)
    flip = data.source in FLIP_SOURCES if flip is None else bool(flip)
    train_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, optimizer="adam", lr=lr,
                            schedule="cosine", device="cpu", progress=False,
                            eval_batch_size=1000, seed=seed)
    callbacks = [EpochLines(epochs, progress)] if progress else []
    with reproducible(seed, threads):
        used_threads = torch.get_num_threads()
        gen = torch.Generator().manual_seed(seed)
        net = FeatureCNN(n_classes=n_classes, input_shape=shape)
        net = net.to(memory_format=torch.channels_last)
        start = time.perf_counter()
        Trainer(FeatureNetTraining(net, gen if flip else None),
                Splits(splits.name, splits.train, splits.valid, None),
                RunConfig("feature_cnn", "featurenet", None, train=train_cfg),
                callbacks=callbacks, generator=gen).fit()
        seconds = time.perf_counter() - start
    meta = {"test_accuracy": _rounded(accuracy(net, splits.test)),
            "valid_accuracy": _rounded(accuracy(net, splits.valid)),
            "seed": seed, "epochs": epochs, "batch_size": batch_size, "lr": lr,
            "flip": flip, "threads": used_threads, "torch_version": torch.__version__,
            "train_size": len(splits.train), "data_sha256": data_sha256(splits),
            "classes": splits.train.classes, "input_shape": list(shape),
            "n_classes": n_classes, "source": data.source, "data_config": asdict(data)}
    save_feature_net(net, out, meta)
    return {**meta, "out": str(out), "train_seconds": round(seconds, 1)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
