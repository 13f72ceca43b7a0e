"""What several commands share: the split choices, the config arguments of `config` and
`train`, and printing a record of metrics."""
from __future__ import annotations

import argparse
from pathlib import Path

from latentforge.tasks.items import ITEM_SPLITS, SPLITS

__all__ = ["ITEM_SPLITS", "SPLITS", "add_config_args", "out_path", "print_metrics"]


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registered model name (see 'latentforge models')")
    p.add_argument("--recipe", default="book", help="recipe to start from (default: book)")
    p.add_argument("--config", metavar="FILE", help="JSON or TOML file with model/data/train "
                   "sections, applied after the recipe")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one value, e.g. --set train.epochs=5 (repeatable)")


def print_metrics(record: dict) -> None:
    for key, value in record.items():
        print(f"  {key:22s} {value:.4f}" if isinstance(value, float) else f"  {key:22s} {value}")


def out_path(value: str | None) -> Path | None:
    """An optional --out flag as a Path."""
    return Path(value) if value else None
