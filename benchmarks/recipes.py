"""Book vs fast recipes: wall time and final validation numbers, measured in one run.

    python benchmarks/recipes.py [--models stacked_ae linear_ae]

Prints one row per (model, recipe): epochs, training wall time (epochs incl. validation),
and the last epoch's validation metrics, beside the book's value from REFERENCE.md.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import latentforge as lf
from latentforge.registry import get_spec

BOOK = {"stacked_ae": "val BCE 0.2835-0.2842, rounded acc 0.9366-0.9370",
        "linear_ae": "codings span PCA's plane"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["stacked_ae", "linear_ae"])
    args = parser.parse_args()
    print("| model | recipe | epochs | train wall (s) | val loss | val rounded acc | book |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        for recipe in get_spec(name).recipes:
            with tempfile.TemporaryDirectory() as tmp:
                start = time.perf_counter()
                run = lf.train(name, recipe, overrides=["train.progress=false"],
                               run_dir=f"{tmp}/run")
                wall = time.perf_counter() - start
            last = run.history[-1]
            acc = last.get("val_rounded_accuracy")
            print(f"| {name} | {recipe} | {last['epoch']} | {wall:.1f} | "
                  f"{last['val_loss']:.4f} | {'-' if acc is None else f'{acc:.4f}'} | "
                  f"{BOOK.get(name, '')} |")


if __name__ == "__main__":
    main()
