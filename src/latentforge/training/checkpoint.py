"""Crash-safe checkpoints of a run: weights, optimizer states, RNG states, progress.

Layout inside a run directory (file names in `latentforge.rundir`)::

    model.safetensors              hard link to the newest checkpoint's weights (the
                                   averaged ones when train.ema_decay is on)
    trainer_state/latest           name of the newest complete checkpoint folder
    trainer_state/ckpt-000012-000002400/   model.safetensors, optimizers.pt,
                                           rng.safetensors, state.json
                                           [, ema.safetensors]

A checkpoint folder is written under a temporary name, every file fsynced, then renamed;
`latest` and the top-level weights are replaced atomically afterwards. A kill at any
moment leaves the previous checkpoint complete and loadable; a full disk (or any other
write error) removes the partial folder and raises ResourceError / WriteError naming the
checkpoint that is kept. The folder's model.safetensors holds the raw weights (resume
continues from them); ema.safetensors the averaged model (train.ema_decay), and state.json
the schedule's step and, under train.precision=16-mixed, the gradient scaler's state
(plain numbers, so a resumed run scales its losses exactly as the uninterrupted one).
Readers load the checkpoint's averaged weights when there are some, else its raw ones
(`rundir.weights_path`). Nothing is unpickled: weights and RNG states
are safetensors, optimizer states load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from latentforge import rundir
from latentforge.errors import LatentforgeError, RunError, write_error
from latentforge.atomic import atomic_path, atomic_write_bytes, atomic_write_text, fsync_dir

STATE_DIR = rundir.STATE_DIR
WEIGHTS = rundir.WEIGHTS
AVERAGED = rundir.AVERAGED


@dataclass
class TrainerState:
    """Progress saved with each checkpoint. epoch = number of completed epochs."""

    epoch: int
    step: int


def weights_bytes(model: torch.nn.Module) -> bytes:
    """The model's state dict as safetensors bytes, with its input shape in the metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"sample_shape": json.dumps(list(getattr(model, "sample_shape", [])))}
    return save(tensors, metadata=meta)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Atomically write the model's state dict as safetensors, with its input shape."""
    atomic_write_bytes(path, weights_bytes(model))


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights into `model`; a missing, broken or mismatched file raises
    RunError naming the tensors that do not fit."""
    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise RunError(f"No weights at '{path}': the run has not finished an epoch yet.") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise RunError(f"Weights file '{path}' is unreadable ({exc}).") from None
    problems = _mismatches(model.state_dict(), tensors)
    if problems:
        raise RunError(f"Weights in '{path}' do not fit the model in config.json: "
                       f"{'; '.join(problems[:4])}" + (" ..." if len(problems) > 4 else ""))
    model.load_state_dict(tensors)


def _mismatches(expected: dict, found: dict) -> list[str]:
    """Human-readable differences between the model's tensors and the file's."""
    out = [f"'{k}' is missing" for k in expected if k not in found]
    out += [f"'{k}' is not a tensor of this model" for k in found if k not in expected]
    out += [f"'{k}' has shape {tuple(found[k].shape)}, the model needs {tuple(v.shape)}"
            for k, v in expected.items() if k in found and found[k].shape != v.shape]
    return out


def rng_states(generator: torch.Generator, rank_rng=()) -> dict[str, torch.Tensor]:
    """torch's global RNG state, the shuffling generator's [, cuda's]; rank_rng: the global
    RNG states of ranks 1, 2, ... of a torchrun job (training/distributed.py)."""
    states = {"torch": torch.get_rng_state(), "shuffle": generator.get_state()}
    states.update({f"torch.rank{r}": t for r, t in enumerate(rank_rng, start=1)})
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda{i}"] = s
    return states


def restore_rng(states: dict[str, torch.Tensor], generator: torch.Generator,
                rank: int = 0) -> None:
    """The inverse of `rng_states`, for process `rank` (a rank the checkpoint has no state
    for, in a world larger than the saved one, keeps its freshly seeded stream)."""
    key = "torch" if rank == 0 else f"torch.rank{rank}"
    if key in states:
        torch.set_rng_state(states[key])
    generator.set_state(states["shuffle"])
    cuda = [states[k] for k in sorted(states) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(run_dir: Path, model, optimizers: dict, generator: torch.Generator,
                    state: TrainerState, schedule=None, ema=None, rank_rng=(),
                    precision=None) -> None:
    """Write a complete checkpoint, then point `latest` and the top-level weights at it.
    schedule, ema: the stepper's `Schedule` and `EMA` when those options are on; rank_rng:
    the other ranks' RNG states (`rng_states`); precision: the stepper's `Precision`
    (its gradient scaler's state under 16-mixed)."""
    root = Path(run_dir) / STATE_DIR
    name = f"ckpt-{state.epoch:06d}-{state.step:09d}"
    tmp = root / f".{name}.tmp"
    try:
        _write_folder(tmp, model, optimizers, generator, state, schedule, ema, rank_rng,
                      precision)
        shutil.rmtree(root / name, ignore_errors=True)
        os.replace(tmp, root / name)
        fsync_dir(root)
    except (OSError, LatentforgeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = latest_checkpoint(run_dir)
        keep = f"the checkpoint '{kept.name}' is kept" if kept else "no checkpoint was kept"
        raise write_error(exc, tmp, f"saving the checkpoint after epoch {state.epoch} failed; "
                          f"{keep} (free space, then continue with --resume)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", name)
    _link(root / name / (AVERAGED if ema is not None else WEIGHTS), Path(run_dir) / WEIGHTS)
    for old in root.glob("ckpt-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def _write_folder(folder: Path, model, optimizers: dict, generator: torch.Generator,
                  state: TrainerState, schedule=None, ema=None, rank_rng=(),
                  precision=None) -> None:
    """Every file of a checkpoint, written and fsynced into `folder` (a fresh temp name)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    buffer = io.BytesIO()
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, buffer)
    saved = {"epoch": state.epoch, "step": state.step,
             "optimizers": {k: type(o).__name__ for k, o in optimizers.items()}}
    scaler = None if precision is None else precision.state_dict()
    if scaler is not None:
        saved["scaler"] = scaler
    if schedule is not None:
        saved["schedule"] = schedule.state_dict()
    files = {WEIGHTS: weights_bytes(model), "optimizers.pt": buffer.getvalue(),
             "rng.safetensors": save(rng_states(generator, rank_rng)),
             "state.json": json.dumps(saved).encode()}
    if ema is not None:
        with ema.swapped():
            files[AVERAGED] = weights_bytes(model)
    for file_name, data in files.items():
        _write_synced(folder / file_name, data)
    fsync_dir(folder)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _link(source: Path, target: Path) -> None:
    """Make `target` name the same file as `source` atomically (a copy where the file
    system has no hard links)."""
    with atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None when the run has none."""
    return rundir.checkpoint_folder(run_dir)


def load_checkpoint(run_dir: Path, model, optimizers: dict, generator: torch.Generator,
                    schedule=None, ema=None, rank: int = 0,
                    precision=None) -> TrainerState | None:
    """Restore model, optimizers, RNG states [, schedule step, averaged weights, the
    gradient scaler's state into `precision`] from the
    newest checkpoint of `run_dir`; None (nothing restored) when the run has none yet.
    A schedule or average turned on at resume starts from the checkpoint's step and raw
    weights."""
    folder = latest_checkpoint(run_dir)
    if folder is None:
        return None
    load_weights(model, folder / WEIGHTS)
    try:
        saved = json.loads((folder / "state.json").read_text())
        kinds = saved.pop("optimizers", {})
        position = saved.pop("schedule", {"position": saved.get("step", 0)})
        scaler = saved.pop("scaler", None)
    except (OSError, ValueError, AttributeError) as exc:
        raise RunError(f"Checkpoint '{folder}' is unreadable ({exc}).") from None
    _check_optimizer_kinds(kinds, optimizers)
    try:
        with warnings.catch_warnings():  # a hostile file gets one error line, no warnings
            warnings.simplefilter("ignore")
            opt_states = torch.load(folder / "optimizers.pt", weights_only=True)
        for key, opt in optimizers.items():
            _load_optimizer_state(opt, opt_states[key])
        restore_rng(load_file(str(folder / "rng.safetensors")), generator, rank)
        scaler = _scaler_state(scaler)
        state = TrainerState(**saved)
        if precision is not None:
            precision.load_state_dict(scaler)
        if schedule is not None:
            schedule.load_state_dict(position)
        if ema is not None:
            _load_average(ema, folder / AVERAGED)
            ema.updates = state.step  # one update per engine step (train.ema_warmup)
    except Exception as exc:  # torch.load refuses pickled code with its own error types
        first = (str(exc).splitlines() or [""])[0][:200]
        raise RunError(f"Checkpoint '{folder}' is unreadable ({type(exc).__name__}: "
                       f"{first}); it cannot be resumed.") from None
    return state


SCALER_KEYS = ("scale", "growth_factor", "backoff_factor", "growth_interval",
               "_growth_tracker")  # torch.amp.GradScaler.state_dict()


def _scaler_state(saved) -> dict | None:
    """A saved gradient-scaler state, checked (ValueError unless it has GradScaler's keys
    with finite numbers and a positive scale); None when the checkpoint has none."""
    if saved is None:
        return None
    if not isinstance(saved, dict) or sorted(saved) != sorted(SCALER_KEYS):
        raise ValueError(f"the gradient scaler's state needs the keys {', '.join(SCALER_KEYS)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in saved.values()) or saved["scale"] <= 0:
        raise ValueError("the gradient scaler's state holds a value that is not a finite "
                         "number, or a scale that is not positive")
    return saved


def _load_average(ema, path: Path) -> None:
    """The saved averages, or (average turned on at resume) the restored raw weights."""
    if path.is_file():
        ema.load_state_dict(load_file(str(path)))
    else:
        ema.reset()


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
