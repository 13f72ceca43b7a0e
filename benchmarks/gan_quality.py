"""DCGAN vs ProGAN vs StyleGAN: sample quality after the same wall-clock training budget.

    python benchmarks/gan_quality.py                          # Fashion-MNIST padded to 32x32
    python benchmarks/gan_quality.py --minutes 2 --rows dcgan stylegan   # a quick look
    python benchmarks/gan_quality.py --data colour-fashion --feature-net net.safetensors

Each row trains one model in memory (no run directory) on the training split for exactly
`--minutes` of wall-clock time on this machine (the engine's own loop; a callback stops it
after the first batch past the deadline; the EMA weights are used for sampling where the
recipe averages), then draws `--samples` samples with a fixed seed and compares them with
as many test images on a feature network: FID, KID, precision / recall (k = 3), the number
of classes holding at least 5% of the samples, and the smallest class share.

Data:
  fashion-mnist (default)  Fashion-MNIST zero-padded to 32x32 (data.pad_to=32); samples are
                           cropped back to the 28x28 centre for the shipped feature network.
  colour-fashion           an offline colour dataset: Fashion-MNIST at 32x32 with each
                           garment tinted by a per-image random hue (the folder is built by
                           `colour_fashion` under --work); it needs a feature network trained
                           on it: `latentforge featurenet train --data FOLDER`.
  cifar10                  CIFAR-10 (data.source=cifar10), when its archive is reachable.
The first row, "real", is the floor: training images in place of samples.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch

import latentforge as lf
from latentforge.api import build_model
from latentforge.config import build_config
from latentforge.data import load_data
from latentforge.evaluation.generative import evaluate_samples
from latentforge.evaluation.sample_quality import unpadded
from latentforge.training.callbacks import Callback
from latentforge.training.engine import Trainer

ROWS = ("dcgan", "progan", "stylegan")
# The CPU-sized recipes: the book's DCGAN (fast = its recipe, epochs aside), and the narrow
# ProGAN / StyleGAN. ProGAN is scaled to the budget: StyleGAN fast's widths (64 channels
# up to 8x8, 32 at 16x16, 16 at 32x32: 63 images/s at 32x32 on one thread instead of 20)
# and 20,000 images per fade and per stabilisation, so the cheap low resolutions get
# ~100,000 images and the growth ends (120,000 images) with a third of 20 minutes left.
RECIPE = {"dcgan": "fast", "progan": "fast", "stylegan": "fast"}
ROW_OVERRIDES = {"progan": ("model.fmap_base=512", "model.fmap_max=64",
                            "model.fade_images=20000", "model.stable_images=20000")}
BASE = ("train.device=cpu", "train.progress=false", "train.epochs=100000")


class BudgetSpent(Exception):
    """Raised by `Deadline` to end training mid-epoch."""


class Deadline(Callback):
    """Stops training after the first batch that ends past `seconds` from the fit's start;
    counts the images trained on."""

    def __init__(self, seconds: float):
        self.seconds, self.images, self.steps = seconds, 0, 0

    def on_fit_start(self, trainer, resume: bool) -> None:
        self.start = time.perf_counter()

    def on_batch_end(self, trainer, step: int, losses: dict) -> None:
        self.steps += 1
        self.images += trainer.batch_size()  # the epoch's (its last batch may be smaller)
        if time.perf_counter() - self.start >= self.seconds:
            raise BudgetSpent


def data_overrides(data: str, work: Path) -> list[str]:
    if data == "fashion-mnist":
        return ["data.source=fashion-mnist", "data.pad_to=32"]
    if data == "colour-fashion":
        return [f"data.source={colour_fashion(work / 'colour-fashion')}"]
    return [f"data.source={data}"]


def colour_fashion(folder: Path, seed: int = 0) -> Path:
    """Fashion-MNIST as a colour folder: 3x32x32 PNGs (padded to 32), each garment tinted by
    a random hue, in class subfolders; built once (a `.done` file marks it complete)."""
    import colorsys

    import numpy as np
    from PIL import Image

    if (folder / ".done").exists():
        return folder
    splits = load_data(build_config("dcgan", overrides=["data.pad_to=32"]).data)
    rng = np.random.default_rng(seed)
    for part in ("train", "valid", "test"):
        data = getattr(splits, part)
        for i, (img, label) in enumerate(zip(data.x.numpy(), data.y.numpy())):
            rgb = np.array(colorsys.hsv_to_rgb(rng.random(), 0.8, 1.0))
            pixels = (img[0, :, :, None] * rgb).round().astype(np.uint8)
            out = folder / f"{label}"
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(out / f"{part}-{i:05d}.png")
    (folder / ".done").touch()
    return folder


def train_for(name: str, overrides: list[str], splits, seconds: float):
    """The model trained on `splits` for `seconds` in memory; (model, the `Deadline`)."""
    cfg = build_config(name, RECIPE[name],
                       overrides=[*BASE, *overrides, *ROW_OVERRIDES.get(name, ())])
    model = build_model(cfg, splits.train.sample_shape)
    deadline = Deadline(seconds)
    trainer = Trainer(model, splits, cfg, callbacks=[deadline])
    try:
        trainer.fit()
    except BudgetSpent:
        pass
    if trainer.stepper.ema is not None:
        trainer.stepper.ema.copy_to_model()
    return model, deadline


@torch.no_grad()
def samples(model, n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([model.generate(min(500, n - i), generator=gen)
                      for i in range(0, n, 500)])


def print_row(name, minutes, images, m) -> None:
    shares = m["class_shares"]
    print(f"| {name} | {minutes} | {images} | {m['fid']:.2f} | {m['kid_mean']:.4f} | "
          f"{m['precision']:.3f} | {m['recall']:.3f} | {m['classes_covered']} | "
          f"{min(shares):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per row")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--data", default="fashion-mnist",
                        help="fashion-mnist (padded to 32), colour-fashion or cifar10")
    parser.add_argument("--feature-net", help="feature network for --data other than "
                        "fashion-mnist (latentforge featurenet train --data ...)")
    parser.add_argument("--work", default=None, help="folder for built datasets (kept)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for every row")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="gan-quality-"))
    net = None
    if args.feature_net:
        from latentforge.evaluation.featurenet import load_feature_net
        net = load_feature_net(args.feature_net)
    elif args.data != "fashion-mnist":
        parser.error("--data other than fashion-mnist needs --feature-net")
    overrides = [*data_overrides(args.data, work), *args.set]
    print(f"torch {torch.__version__}, {args.threads} threads, data {args.data}, "
          f"{args.minutes:g} min of training per row, {args.samples} samples vs as many "
          "test images")
    print("\n| row | minutes | images trained | FID | KID | precision | recall | "
          "classes >= 5% | smallest class share |")
    print("|---|---|---|---|---|---|---|---|---|")
    first = args.rows[0]  # every row trains on the same splits (loaded once)
    splits = load_data(build_config(first, RECIPE[first], overrides=[*BASE, *overrides]).data)
    crop = splits.info.get("pad_to") if net is None else None  # the shipped net: 28x28
    real = unpadded(splits.train.x[:args.samples], crop)
    test = unpadded(splits.test.x[:args.samples], crop)
    print_row("real (train images)", "-", "-", evaluate_samples(real, test, net=net))
    for name in args.rows:
        model, spent = train_for(name, overrides, splits, args.minutes * 60)
        fake = unpadded(samples(model, args.samples), crop)
        print_row(f"{name} ({RECIPE[name]})", f"{args.minutes:g}", spent.images,
                  evaluate_samples(fake, test, net=net))


if __name__ == "__main__":
    main()
