"""Train a feature network on any labelled image data (``latentforge featurenet train``):
the data source plus ``data.KEY=VALUE`` overrides -> a `DataConfig`, and the file written by
`evaluation.featurenet_training.train_feature_net`."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from latentforge.errors import ConfigError

if TYPE_CHECKING:
    from latentforge.data import DataConfig


def featurenet_data(source: str, overrides=()) -> DataConfig:
    """`DataConfig(source=source)` with ``data.KEY=VALUE`` overrides applied (type-checked
    like `--set` of `train`); other sections are refused with a `ConfigError`."""
    from latentforge.config import RunConfig, apply_override
    from latentforge.data import DataConfig

    cfg = RunConfig("feature_cnn", "featurenet", None, data=DataConfig(source=source))
    for item in overrides:
        if not item.strip().startswith("data."):
            raise ConfigError(f"--set {item}: featurenet train takes data.KEY=VALUE only; "
                              "the training settings are --epochs, --seed, --batch-size, "
                              "--lr.")
        apply_override(cfg, item)
    return cfg.data


def default_out(source: str) -> Path:
    """``featurenet-NAME.safetensors`` in the current folder: NAME is a named source or the
    stem of a path source (folder or file)."""
    name = Path(source.rstrip("/\\")).stem or "data"
    return Path(f"featurenet-{name}.safetensors")


def train_featurenet(source: str, out: str | Path | None = None, epochs: int = 12,
                     seed: int = 0, overrides=(), batch_size: int = 128, lr: float = 2e-3,
                     flip: bool | None = None,
                     progress: Callable[[str], None] | None = None) -> dict:
    """Train a feature network on `source` (with ``data.*`` `overrides`) and write it to
    `out` (default `default_out`). Returns the metadata written plus "out" and
    "train_seconds" (`featurenet_training.train_feature_net`)."""
    from latentforge.evaluation.featurenet_training import train_feature_net

    data = featurenet_data(source, overrides)
    out = Path(out) if out is not None else default_out(data.source)
    if out.suffix != ".safetensors":
        raise ConfigError(f"--out must end in .safetensors, got '{out}'.")
    return train_feature_net(data, out, epochs, seed, batch_size, lr, flip=flip,
                             progress=progress)
