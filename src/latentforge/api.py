"""The public Python API: train a model into a run directory, load a run, use it.

    >>> import latentforge as lf
    >>> run = lf.train("stacked_ae", recipe="book", overrides=["train.epochs=2"])
    >>> run = lf.load_run("runs/stacked_ae")        # rebuilds the model with no flags
    >>> codings = run.encode(run.data().test.batch(torch.arange(10)))
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentforge.config import RunConfig, build_config, config_from_dict
from latentforge.errors import RunError
from latentforge.registry import get_spec
from latentforge.training import checkpoint
from latentforge.training.engine import Trainer, evaluate_model
from latentforge.viz.report import read_history

log = logging.getLogger(__name__)
CONFIG = "config.json"


@dataclass
class Run:
    """A run directory with its config, model (eval mode, on CPU) and metrics history."""

    path: Path
    config: RunConfig
    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    _splits: object = None

    def data(self):
        """The run's data splits (loaded once, on first use)."""
        if self._splits is None:
            from latentforge.data import load_data

            self._splits = load_data(self.config.data)
        return self._splits

    def split(self, name: str):
        """One split by name ("train" | "valid" | "test"); an absent split raises RunError."""
        splits = self.data()
        data = getattr(splits, name, None) if name in ("train", "valid", "test") else None
        if data is None:
            raise RunError(f"Split '{name}' is not available for data source "
                           f"'{self.config.data.source}'. Use train, valid or test.")
        return data

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
        """Codings of x (B, *sample_shape), float in the data range -> (B, coding_dim)."""
        return torch.cat([self.model.encode(x[i:i + batch_size])
                          for i in range(0, len(x), batch_size)])

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.reconstruct(x)

    def evaluate(self, split: str = "valid") -> dict[str, float]:
        """The model's evaluation metrics on one split (e.g. loss, rounded_accuracy)."""
        return evaluate_model(self.model, self.split(split), self.config.train.eval_batch_size)

    def report(self, out: str | Path | None = None) -> Path:
        """Write the run's self-contained HTML report (default RUN/report.html); see
        `latentforge.viz.report.write_report`."""
        from latentforge.viz.report import write_report

        return write_report(self.path, out)


def build_model(cfg: RunConfig, sample_shape) -> torch.nn.Module:
    """A freshly initialised model for `cfg` (seeded by cfg.train.seed)."""
    torch.manual_seed(cfg.train.seed)
    return get_spec(cfg.model_name).model_cls(cfg.model, sample_shape)


def train(model: str | RunConfig, recipe: str = "book", overrides=(), run_dir=None,
          resume: bool = False, overwrite: bool = False, splits=None, callbacks=(),
          init=None) -> Run:
    """Train a registered model (or a resolved RunConfig) and return its `Run`.

    run_dir: defaults to runs/<model>-<recipe>. An existing run is refused unless `resume`
    (continue from its last checkpoint, with its saved config plus `overrides`) or
    `overwrite` (delete it first).
    splits: data to use instead of loading `cfg.data` (the config should still describe it).
    init: called with the freshly built model before training, e.g. to load pretrained
        weights (greedy layer-wise training); a resumed run's checkpoint replaces them.
    """
    from latentforge.data import load_data

    cfg = model if isinstance(model, RunConfig) else None
    name = cfg.model_name if cfg else model
    run_dir = Path(run_dir or Path("runs") / f"{name}-{cfg.recipe if cfg else recipe}")
    if resume:
        cfg = _resume_config(run_dir, overrides)
    else:
        cfg = cfg or build_config(model, recipe, overrides=overrides)
        _check_new_dir(run_dir, overwrite)
    if cfg.train.tensorboard:  # fails early (ConfigError) when TensorBoard is missing
        from latentforge.training.tensorboard import TensorBoardLogger

        callbacks = [*callbacks, TensorBoardLogger.checked()]
    # Everything that can fail on bad input (data, model, device, optimizer) is checked
    # before the run directory is touched, so a typo never costs an existing run.
    splits = splits if splits is not None else load_data(cfg.data)
    net = build_model(cfg, splits.train.sample_shape)
    if init is not None:
        init(net)
    if hasattr(net, "generate"):  # generative models: a fixed-noise grid every epoch
        from latentforge.viz.samples import SampleGrid

        callbacks = [*callbacks, SampleGrid()]
    trainer = Trainer(net, splits, cfg, run_dir, callbacks)
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / CONFIG)
    result = trainer.fit(resume=resume)
    net.to("cpu").eval()
    return Run(run_dir, cfg, net, result.history, splits)


def _check_new_dir(run_dir: Path, overwrite: bool) -> None:
    """A new run may go to `run_dir` (deleted later, once the config has been checked)."""
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunError(f"Run directory '{run_dir}' already exists. Use --resume to "
                           "continue it, --overwrite to replace it, or --name for a new one.")
        if not (run_dir / CONFIG).is_file():
            raise RunError(f"Refusing to overwrite '{run_dir}': it is not a latentforge run "
                           "(no config.json).")


def _resume_config(run_dir: Path, overrides) -> RunConfig:
    from latentforge.config import apply_override

    cfg = read_config(run_dir)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise RunError(f"'{run_dir}' is not a latentforge run directory (no {CONFIG}).")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise RunError(f"'{path}' is not valid JSON ({exc}).") from None
    return config_from_dict(data)


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Rebuild a trained model from its run directory with no flags (weights + config)."""
    path = Path(path)
    cfg = read_config(path)
    weights = path / checkpoint.WEIGHTS
    if not weights.is_file():
        raise RunError(f"'{path}' has no {checkpoint.WEIGHTS} yet: no epoch has finished.")
    shape = _sample_shape(weights, cfg)
    model = build_model(cfg, shape)
    checkpoint.load_weights(model, weights)
    model.to(device).eval()
    return Run(path, cfg, model, read_history(path))


def _sample_shape(weights: Path, cfg: RunConfig) -> tuple[int, ...]:
    """The input shape recorded beside the weights (saved by the engine at the first save)."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), "pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise RunError(f"Weights file '{weights}' is unreadable ({exc}).") from None
    if "sample_shape" in meta:
        return tuple(json.loads(meta["sample_shape"]))
    from latentforge.data import load_data

    return load_data(cfg.data).train.sample_shape
