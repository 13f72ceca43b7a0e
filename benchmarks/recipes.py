"""Recipes against the book: final validation numbers and wall time, measured in one run.

    python benchmarks/recipes.py                          # every model, every recipe
    python benchmarks/recipes.py --models sparse_ae --recipes book book_kl
    python benchmarks/recipes.py --only-book              # only the book* recipes

Prints one row per (model, recipe): epochs, training wall time (epochs incl. validation),
the last epoch's validation loss (including any sparsity penalty, as Keras reports it)
and rounded accuracy, beside the book's values (docs/book-reference.md) and the gap; a
non-book recipe (``fast``) is compared with its model's ``book`` row. Greedy layer-wise
training has its own command (``latentforge greedy``), which prints its phases' numbers.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import latentforge as lf
from latentforge.registry import get_spec, names

# (model, recipe) -> (val loss, val rounded accuracy) from docs/book-reference.md (upper ends).
BOOK = {
    ("stacked_ae", "book"): (0.2842, 0.9370),
    ("stacked_ae", "book_sigmoid_codings"): (0.3098, 0.9118),
    ("tied_ae", "book"): (0.2844, 0.9325),
    ("denoising_ae", "book"): (0.2918, 0.930),
    ("denoising_ae", "book_dropout"): (0.2959, 0.9238),
    ("sparse_ae", "book"): (0.3210, 0.9082),
    ("sparse_ae", "book_kl"): (0.3054, 0.9169),
    ("conv_ae", "book"): (0.2671, 0.9509),
    ("recurrent_ae", "book"): (0.3224, 0.8992),
}


def run_one(name: str, recipe: str) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = lf.train(name, recipe, overrides=["train.progress=false"], run_dir=f"{tmp}/run")
        return run.history[-1], time.perf_counter() - start


def fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--recipes", nargs="+", default=None)
    parser.add_argument("--only-book", action="store_true")
    args = parser.parse_args()
    print("| model | recipe | epochs | wall (s) | val loss | book loss | gap | "
          "val rounded acc | book acc |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.models or names():
        for recipe in get_spec(name).recipes:
            if (args.recipes and recipe not in args.recipes) or \
                    (args.only_book and not recipe.startswith("book")):
                continue
            last, wall = run_one(name, recipe)
            # Other recipes (fast) aim at the model's plain book recipe's numbers.
            book_loss, book_acc = BOOK.get((name, recipe), BOOK.get((name, "book"), (None, None)))
            gap = None if book_loss is None else last["val_loss"] - book_loss
            print(f"| {name} | {recipe} | {last['epoch']} | {wall:.1f} | "
                  f"{fmt(last['val_loss'])} | {fmt(book_loss)} | "
                  f"{'-' if gap is None else f'{gap:+.4f}'} | "
                  f"{fmt(last.get('val_rounded_accuracy'))} | {fmt(book_acc)} |", flush=True)


if __name__ == "__main__":
    main()
