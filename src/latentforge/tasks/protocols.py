"""Use cases that train many runs: greedy layer-wise training (one shallow autoencoder at
a time, stacked, then fine-tuned: `training.greedy`) and the one-class anomaly detection
protocol (`evaluation.one_class`), with its result files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from latentforge.errors import ConfigError


@dataclass
class Greedy:
    """root: the folder of the phases; summary: {phase: final validation metrics}
    ("phase1", ..., "stack"); the fine-tuned model is root/stack."""

    root: Path
    summary: dict


def greedy(runs_dir: str | Path = "runs", name: str = "greedy", hidden=(100, 30),
           epochs: int = 10, finetune_epochs: int = 10, data: str | None = None,
           overrides=(), progress: bool = True, overwrite: bool = False) -> Greedy:
    """Train the greedy phases and the fine-tuned stack into RUNS_DIR/NAME (book ch. 17);
    `data`: the data source, `overrides`: data.* / train.* for every phase."""
    from latentforge.rundir import check_name
    from latentforge.training.greedy import GreedySettings, train_greedy

    overrides = list(overrides)
    if data:
        overrides.append(f"data.source={json.dumps(data)}")
    if not progress:
        overrides.append("train.progress=false")
    settings = GreedySettings(hidden=tuple(hidden), epochs=epochs,
                              finetune_epochs=finetune_epochs, overrides=overrides)
    root = Path(runs_dir) / check_name(name)
    return Greedy(root, train_greedy(root, settings, overwrite=overwrite))


def one_class(model: str = "conv_ae", recipe: str = "fast", epochs: int = 20, classes=None,
              seeds=(0, 1, 2), scores=("knn", "reconstruction"), k: int = 5, overrides=(),
              out: str | Path = "runs/one-class", progress=None) -> dict:
    """Train one `model` per (normal class, seed) for `epochs` under `out` and measure the
    AUROC of each score (`evaluation.one_class.run_protocol`'s result). progress: called
    with a line of text after each run."""
    from latentforge.evaluation.one_class import run_protocol

    if epochs < 1 or k < 1:
        raise ConfigError("--epochs and --k must be at least 1")
    overrides = [*overrides, f"train.epochs={epochs}", "train.progress=false"]
    return run_protocol(model, recipe, classes, list(seeds), tuple(dict.fromkeys(scores)), k,
                        overrides, Path(out), progress=progress)


def one_class_table(result: dict) -> str:
    """The per-class AUROC table of a `one_class` result, as Markdown."""
    from latentforge.evaluation.one_class import markdown_table

    return markdown_table(result)


def write_one_class(result: dict, out: str | Path) -> tuple[Path, Path]:
    """OUT/results.json and OUT/results.md (the table); returns both paths."""
    from latentforge.atomic import atomic_write_text
    from latentforge.tasks.files import save_json

    out = Path(out)
    atomic_write_text(out / "results.md", one_class_table(result) + "\n")
    return save_json(out / "results.json", result), out / "results.md"
