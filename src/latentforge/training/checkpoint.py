"""Crash-safe checkpoints of a run: weights, optimizer states, RNG states, progress.

Layout inside a run directory::

    model.safetensors              latest weights (what `load_run` reads)
    trainer_state/latest           name of the newest complete checkpoint folder
    trainer_state/ckpt-000012/     model.safetensors, optimizers.pt, rng.safetensors, state.json

A checkpoint folder is written under a temporary name, every file fsynced, then renamed;
`latest` and the root weights are replaced atomically afterwards. A kill at any moment
leaves the previous checkpoint complete and loadable. Nothing is unpickled: weights and RNG
states are safetensors, optimizer states load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from latentforge.errors import RunError
from latentforge.io import atomic_path, atomic_write_text, fsync_dir

STATE_DIR = "trainer_state"
WEIGHTS = "model.safetensors"


@dataclass
class TrainerState:
    """Progress saved with each checkpoint. epoch = number of completed epochs."""

    epoch: int
    step: int


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Atomically write the model's state dict as safetensors, with its input shape."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"sample_shape": json.dumps(list(getattr(model, "sample_shape", [])))}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`; a missing or broken file raises RunError."""
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise RunError(f"No weights at '{path}': the run has not finished an epoch yet.") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise RunError(f"Weights file '{path}' is unreadable ({exc}).") from None
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise RunError(f"Weights in '{path}' do not fit the model in config.json: "
                       f"{str(exc).splitlines()[0]}") from None


def rng_states(generator: torch.Generator) -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda{i}"] = s
    return states


def restore_rng(states: dict[str, torch.Tensor], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    generator.set_state(states["shuffle"])
    cuda = [states[k] for k in sorted(states) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(run_dir: Path, model, optimizers: dict, generator: torch.Generator,
                    state: TrainerState) -> None:
    """Write a complete checkpoint, then point `latest` and the root weights at it."""
    root = Path(run_dir) / STATE_DIR
    name = f"ckpt-{state.epoch:06d}-{state.step:09d}"
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_weights(model, tmp / WEIGHTS)
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, tmp / "optimizers.pt")
    save_file(rng_states(generator), str(tmp / "rng.safetensors"))
    kinds = {k: type(o).__name__ for k, o in optimizers.items()}
    (tmp / "state.json").write_text(json.dumps({**state.__dict__, "optimizers": kinds}))
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    fsync_dir(tmp)
    shutil.rmtree(root / name, ignore_errors=True)
    os.replace(tmp, root / name)
    fsync_dir(root)
    atomic_write_text(root / "latest", name)
    save_weights(model, Path(run_dir) / WEIGHTS)
    for old in root.glob("ckpt-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None when the run has none."""
    root = Path(run_dir) / STATE_DIR
    pointer = root / "latest"
    if pointer.is_file():
        folder = root / pointer.read_text().strip()
        if (folder / "state.json").is_file():
            return folder
    done = sorted(p for p in root.glob("ckpt-*") if (p / "state.json").is_file())
    return done[-1] if done else None


def load_checkpoint(run_dir: Path, model, optimizers: dict,
                    generator: torch.Generator) -> TrainerState:
    """Restore model, optimizers and RNG states from the newest checkpoint of `run_dir`."""
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise RunError(f"'{run_dir}' has no checkpoint to resume from; train without --resume.")
    load_weights(model, folder / WEIGHTS)
    try:
        saved = json.loads((folder / "state.json").read_text())
        kinds = saved.pop("optimizers", {})
    except (OSError, ValueError) as exc:
        raise RunError(f"Checkpoint '{folder}' is unreadable ({exc}).") from None
    _check_optimizer_kinds(kinds, optimizers)
    try:
        opt_states = torch.load(folder / "optimizers.pt", weights_only=True)
        for key, opt in optimizers.items():
            _load_optimizer_state(opt, opt_states[key])
        restore_rng(load_file(str(folder / "rng.safetensors")), generator)
        state = TrainerState(**saved)
    except (OSError, KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunError(f"Checkpoint '{folder}' is unreadable ({exc}); "
                       "it cannot be resumed.") from None
    return state


def _check_optimizer_kinds(saved: dict, optimizers: dict) -> None:
    now = {k: type(o).__name__ for k, o in optimizers.items()}
    if saved and saved != now:
        raise RunError(f"The checkpoint was trained with {saved}, the config now asks for "
                       f"{now}; an optimizer cannot change on resume (start a new run).")


def _load_optimizer_state(opt: torch.optim.Optimizer, saved: dict) -> None:
    """Restore the optimizer's state (moments, buffers) but keep the hyperparameters of
    the current config (lr, momentum, betas...), so ``--resume --set train.lr=...`` works."""
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    opt.load_state_dict(saved)
    for group, values in zip(opt.param_groups, hyper):
        group.update(values)
