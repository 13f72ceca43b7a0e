"""The public Python API: train a model into a run directory (or in memory), load a run,
use it.

    >>> import torch, latentforge as lf
    >>> run = lf.train("stacked_ae", recipe="book", overrides=["train.epochs=2"])
    >>> run = lf.load_run("runs/stacked_ae-book")   # rebuilds the model with no flags
    >>> codings = run.encode(run.data().test.batch(torch.arange(10)))
    >>> quick = lf.train("stacked_ae", overrides=["train.epochs=1"], run_dir=False)  # no file
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentforge import rundir
from latentforge.config import RunConfig, build_config, config_from_dict
from latentforge.errors import ConfigError, RunError
from latentforge.registry import get_spec
from latentforge.training import checkpoint
from latentforge.training.engine import Trainer, evaluate_model

log = logging.getLogger(__name__)
CONFIG = rundir.CONFIG


@dataclass
class Run:
    """A run directory with its config, model (eval mode, on CPU) and metrics history;
    path is None for a run trained in memory (``train(..., run_dir=False)``)."""

    path: Path | None
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

        if self.path is None:
            raise RunError("This run was trained in memory (run_dir=False): it has no run "
                           "directory to report on; train with a run_dir.")
        return write_report(self.path, out)


def build_model(cfg: RunConfig, sample_shape, training: bool = True) -> torch.nn.Module:
    """A freshly initialised model for `cfg` (seeded by cfg.train.seed). Its memory is
    estimated first (`models.size.check_model_size`, for training or for inference), so a
    model the machine cannot hold is refused with ResourceError before anything is built."""
    from latentforge.models.size import check_model_size

    model_cls = get_spec(cfg.model_name).model_cls
    check_model_size(model_cls, cfg.model, sample_shape, training=training)
    torch.manual_seed(cfg.train.seed)
    return model_cls(cfg.model, sample_shape)


def train(model: str | RunConfig, recipe: str = "book", overrides=(), run_dir=None,
          resume: bool = False, overwrite: bool = False, splits=None, callbacks=(),
          init=None) -> Run:
    """Train a registered model (or a resolved RunConfig) and return its `Run`.

    run_dir: defaults to runs/<model>-<recipe>; False trains in memory: no folder, no lock,
    no file of any kind (metrics, checkpoints, TensorBoard, sample grids), and the returned
    Run has path None (`resume`, `overwrite` and train.tensorboard need a folder and raise
    ConfigError). An existing run is refused unless `resume`
    (continue from its last checkpoint - or from the start when a kill came before the
    first one - with its saved config plus `overrides`; a complete run is returned as it
    is) or `overwrite` (delete what the run wrote first; a folder that is not a run is
    refused). One process at a time writes a run: a second one gets `RunBusy`.
    splits: data to use instead of loading `cfg.data` (the config should still describe it).
    init: called with the freshly built model before training, e.g. to load pretrained
        weights (greedy layer-wise training); a resumed run's checkpoint replaces them.
    Under torchrun (training/distributed.py) every rank trains and rank 0 alone locks and
    writes the run directory; every rank returns the same trained model.
    """
    from latentforge.training.device import resolve_device
    from latentforge.training.distributed import World

    cfg = model if isinstance(model, RunConfig) else None
    if run_dir is False:
        return _train_in_memory(cfg or build_config(model, recipe, overrides=overrides),
                                resume or overwrite, splits, callbacks, init)
    world = World.from_env()
    name = cfg.model_name if cfg else model
    run_dir = Path(run_dir or Path("runs") / f"{name}-{cfg.recipe if cfg else recipe}")
    if resume:
        cfg = _resume_config(run_dir, overrides)  # saved only once an epoch trained with it
    else:
        cfg = cfg or build_config(model, recipe, overrides=overrides)
        if world.is_main:
            _check_new_dir(run_dir, overwrite)
    cfg.data = _absolute_paths(cfg.data)
    # Everything that can fail on bad input (config, device, data, model, optimizer) is
    # checked before the run directory is touched, so a typo never costs an existing run.
    cfg.validate()
    resolve_device(cfg.train.device, cfg.train.precision)  # 16-mixed needs CUDA
    callbacks = _standard_callbacks(cfg, run_dir, callbacks, world.is_main)
    splits, net = _data_and_model(cfg, splits, init)
    if "generate" in net.capabilities() and world.is_main:  # a fixed-noise grid every epoch
        from latentforge.viz.samples import SampleGrid

        callbacks = [*callbacks, SampleGrid(run_dir)]
    trainer = Trainer(net, splits, cfg, run_dir, callbacks, world=world)
    with _writer_lock(run_dir, world):
        if not resume and world.is_main:
            _check_new_dir(run_dir, overwrite)  # again, now that no one else can write it
            rundir.clear_run(run_dir)
            cfg.save(run_dir / rundir.CONFIG)
        trainer.wait_for_all()  # the other ranks start once rank 0 has prepared the run
        result = trainer.fit(resume=resume)
    net.to("cpu").eval()
    return Run(run_dir, cfg, net, result.history, splits)


def _writer_lock(run_dir: Path, world):
    """The run's lock, held by the process that writes it (rank 0)."""
    from contextlib import nullcontext

    return rundir.run_lock(run_dir) if world.is_main else nullcontext()


def _train_in_memory(cfg: RunConfig, needs_dir: bool, splits, callbacks, init) -> Run:
    """`train(..., run_dir=False)`: the engine with no run directory; writes nothing."""
    if needs_dir or cfg.train.tensorboard:
        raise ConfigError("run_dir=False trains in memory: resume, overwrite and "
                          "train.tensorboard need a run directory.")
    cfg.data = _absolute_paths(cfg.data)
    cfg.validate()
    splits, net = _data_and_model(cfg, splits, init)
    result = Trainer(net, splits, cfg, None, callbacks).fit()
    net.to("cpu").eval()
    return Run(None, cfg, net, result.history, splits)


def _data_and_model(cfg: RunConfig, splits, init):
    """The splits (`splits`, else loaded from cfg.data) and a freshly built model, passed
    to `init` when given (e.g. pretrained weights)."""
    from latentforge.data import load_data

    splits = splits if splits is not None else load_data(cfg.data)
    net = build_model(cfg, splits.train.sample_shape)
    if init is not None:
        init(net)
    return splits, net


def _standard_callbacks(cfg: RunConfig, run_dir: Path, callbacks, writer: bool = True) -> list:
    """The caller's callbacks, then TensorBoard when asked and this process writes the run
    (the run directory's metrics and checkpoints come first: the Trainer adds them)."""
    if cfg.train.tensorboard and writer:  # ConfigError early when TensorBoard is missing
        from latentforge.training.tensorboard import TensorBoardLogger

        return [*callbacks, TensorBoardLogger.checked(run_dir)]
    return list(callbacks)


def _absolute_paths(data):
    """`data` with a path source (and data_dir) made absolute, so the saved config works
    from any folder; named sources stay as they are."""
    from dataclasses import replace

    from latentforge.data.codings import PREFIX
    from latentforge.data.loader import NAMED_SOURCES

    source = data.source
    if isinstance(source, str) and source.startswith(PREFIX):
        source = PREFIX + str(Path(source[len(PREFIX):]).expanduser().resolve())
    elif isinstance(source, str) and source.strip().lower() not in NAMED_SOURCES \
            and Path(source).expanduser().exists():
        source = str(Path(source).expanduser().resolve())
    data_dir = data.data_dir
    if isinstance(data_dir, str) and data_dir:
        data_dir = str(Path(data_dir).expanduser().resolve())
    return replace(data, source=source, data_dir=data_dir)


def _check_new_dir(run_dir: Path, overwrite: bool) -> None:
    """A new run may go to `run_dir`: absent, empty, or a run to replace (`overwrite`)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunError(f"Cannot train into '{run_dir}': it is a file, not a folder.")
    if any(p.name != rundir.LOCK for p in run_dir.iterdir()):
        if not rundir.is_run(run_dir):
            raise RunError(f"Refusing to train into '{run_dir}': the folder is not empty and "
                           f"is not a latentforge run (no readable {rundir.CONFIG}). Choose "
                           "another name (--name / run_dir).")
        if not overwrite:
            raise RunError(f"Run '{run_dir}' already exists. Continue it (--resume / "
                           "resume=True), replace it (--overwrite / overwrite=True) or train "
                           "into a new one (--name NAME / run_dir=...).")


def _resume_config(run_dir: Path, overrides) -> RunConfig:
    from latentforge.config import apply_override

    cfg = read_config(run_dir)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def read_config(run_dir: Path) -> RunConfig:
    """The RunConfig saved in `run_dir`; RunError when it is not a run."""
    return config_from_dict(rundir.read_config_dict(run_dir))


def load_run(path: str | Path, device: str = "cpu") -> Run:
    """Rebuild a trained model from its run directory with no flags: the config, the newest
    checkpoint's weights, and the history that checkpoint covers."""
    path = Path(path)
    cfg = read_config(path)
    weights = rundir.weights_path(path)
    if not weights.is_file():
        raise RunError(f"'{path}' has no {rundir.WEIGHTS} yet: no epoch has finished.")
    shape = _sample_shape(weights, cfg)
    model = build_model(cfg, shape, training=False)
    checkpoint.load_weights(model, weights)
    model.to(device).eval()
    return Run(path, cfg, model, rundir.read_history(path))


def _sample_shape(weights: Path, cfg: RunConfig) -> tuple[int, ...]:
    """The input shape recorded beside the weights (saved with every checkpoint): 1 to 3
    positive sizes; anything else is a broken file."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), "pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise RunError(f"Weights file '{weights}' is unreadable ({exc}).") from None
    if "sample_shape" not in meta:
        from latentforge.data import load_data

        return load_data(cfg.data).train.sample_shape
    try:
        shape = json.loads(meta["sample_shape"])
    except ValueError:
        shape = None
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3
            and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n <= 65536
                    for n in shape)):
        raise RunError(f"Weights file '{weights}' records an invalid input shape "
                       f"{meta['sample_shape'][:80]!r}; it was not written by latentforge.")
    return tuple(shape)
