"""Sample quality of the generative models on Fashion-MNIST, trained and measured in one run.

    python benchmarks/generative.py                       # every row below
    python benchmarks/generative.py --rows gan gan+replay --keep runs/bench
    python benchmarks/generative.py --feature-net net.safetensors   # another 1x28x28 net

Each row trains one model (a recipe plus overrides) into a temporary folder (or under
--keep), draws 10,000 samples with a fixed seed and compares them with the 10,000 test
images on the shipped feature network (latentforge/assets/fashion_cnn.safetensors, or
--feature-net FILE: a network of `latentforge featurenet train` for 1x28x28 images):
FID, KID (on these 128-D features; its scale is not Inception's), precision / recall
(k = 3), the number of classes holding at least 5% of the samples, and the normalised
entropy of the predicted classes (1 = uniform). "real" is the floor: 10,000 training images
in place of samples. Wall time is training only.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import latentforge as lf
from latentforge.evaluation.featurenet import INPUT_SHAPE, load_feature_net
from latentforge.evaluation.generative import evaluate_samples
from latentforge.evaluation.sample_quality import sample_quality

ROWS = {  # name: (model, recipe, overrides)
    "vae": ("vae", "fast", []),
    "gan": ("gan", "fast", []),
    "gan+replay": ("gan", "fast", ["model.replay_fraction=0.5"]),
    "gan+minibatch": ("gan", "fast", ["model.minibatch_kernels=100"]),
    "dcgan": ("dcgan", "fast", []),
}


def train_row(name: str, root: Path) -> tuple[object, float]:
    model, recipe, overrides = ROWS[name]
    start = time.perf_counter()
    run = lf.train(model, recipe, overrides=["train.progress=false", *overrides],
                   run_dir=root / name, overwrite=True)
    return run, time.perf_counter() - start


def real_floor(n: int, net=None) -> dict:
    from latentforge.data import DataConfig, load_data

    splits = load_data(DataConfig())
    return evaluate_samples(splits.train.x[:n], splits.test.x, net=net)


def feature_net(path: str | None, parser: argparse.ArgumentParser):
    """The network of --feature-net (None: the shipped one); a parser error unless it takes
    Fashion-MNIST's 1x28x28 images."""
    if path is None:
        return None
    net = load_feature_net(path)
    if net.input_shape != INPUT_SHAPE:
        parser.error(f"--feature-net {path} takes {net.input_shape} images; these rows "
                     f"sample Fashion-MNIST's {INPUT_SHAPE}")
    return net


def print_row(name: str, recipe: str, steps, wall, m: dict) -> None:
    print(f"| {name} | {recipe} | {steps} | {wall} | {m['fid']:.2f} | "
          f"{m['kid_mean']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | "
          f"{m['classes_covered']} | {m['class_entropy']:.3f} | "
          f"{min(m['class_shares']):.3f}-{max(m['class_shares']):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--keep", help="keep the runs under this folder")
    parser.add_argument("--feature-net", metavar="FILE", help="feature network of the "
                        "metrics (default: the shipped Fashion-MNIST one)")
    args = parser.parse_args()
    net = feature_net(args.feature_net, parser)
    print("| row | recipe | steps | train (s) | FID | KID | precision | recall | "
          "classes >= 5% | class entropy | class shares |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print_row("real (train images)", "-", "-", "-", real_floor(args.samples, net))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        for name in args.rows:
            run, wall = train_row(name, root)
            quality = sample_quality(run, args.samples, net=net)
            print_row(name, ROWS[name][1] + "".join(f" {o}" for o in ROWS[name][2]),
                      run.history[-1]["step"], f"{wall:.0f}", quality)


if __name__ == "__main__":
    main()
