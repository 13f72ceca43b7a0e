"""Greedy layer-wise training (book ch. 17, "Training One Autoencoder at a Time").

Phase 1 trains a shallow autoencoder 784-h1-784 on the data; phase k trains
h(k-1)-hk-h(k-1) on the codings of phase k-1 (SELU output, MSE); then the encoders and
decoders are stacked into one `stacked_ae` (784-h1-...-hn-...-h1-784) and fine-tuned.
Each phase is an ordinary run directory (phase 2 reads its data as ``codings:<phase1>``),
so every phase can be evaluated, reused, and resumed after a crash::

    runs/<name>/phase1/   runs/<name>/phase2/   runs/<name>/stack/   runs/<name>/greedy.json
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from latentforge.errors import ConfigError, RunError
from latentforge.atomic import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class GreedySettings:
    """Book values (docs/book-reference.md): phase 1 SGD lr 1.5, later phases SGD lr 0.05 with SELU
    output and MSE, fine-tuning SGD lr 0.1; 10 epochs each, batch 32."""

    hidden: tuple[int, ...] = (100, 30)
    first_lr: float = 1.5
    inner_lr: float = 0.05
    finetune_lr: float = 0.1
    epochs: int = 10
    finetune_epochs: int = 10
    overrides: list[str] = field(default_factory=list)  # e.g. data.* or train.seed

    def __post_init__(self) -> None:
        if not self.hidden or min(self.hidden) < 1 or self.epochs < 1 \
                or self.finetune_epochs < 1:
            raise ConfigError("Greedy training needs positive layer sizes and at least one "
                              "epoch per phase and for fine-tuning.")


def _phase_overrides(settings: GreedySettings, k: int, prev_dir: Path | None) -> list[str]:
    size = settings.hidden[k]
    out = [f"model.hidden=[{size}]", f"train.epochs={settings.epochs}", "train.batch_size=32"]
    if prev_dir is None:
        return out + [f"train.lr={settings.first_lr}"] + settings.overrides
    non_data = [o for o in settings.overrides if not o.startswith("data.")]  # data: phase 1
    return out + [f"train.lr={settings.inner_lr}", 'model.output="selu"',
                  f"data.source={json.dumps('codings:' + str(prev_dir.resolve()))}"] + non_data


def _train_or_resume(run_dir: Path, overrides: list[str], init=None):
    """Train a stacked_ae phase into run_dir; finish it if a crash left it incomplete."""
    from latentforge import api

    if (run_dir / "config.json").is_file():
        done = api.load_run(run_dir) if (run_dir / "model.safetensors").is_file() else None
        target = api.read_config(run_dir).train.epochs
        if done is not None and done.history and done.history[-1]["epoch"] >= target:
            log.info("greedy: reusing finished %s", run_dir)
            return done
        if done is not None:
            return api.train("stacked_ae", run_dir=run_dir, resume=True)
    return api.train("stacked_ae", "book", overrides=overrides, run_dir=run_dir,
                     overwrite=True, init=init)


def _copy_phases(stack: nn.Module, phases: list) -> None:
    """Encoder layer k <- phase k's encoder; mirrored decoder layer <- phase k's decoder."""
    enc = [m for m in stack.encoder.modules() if isinstance(m, nn.Linear)]
    dec = [m for m in stack.decoder.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for k, phase in enumerate(phases):
            (p_enc,) = [m for m in phase.model.encoder.modules() if isinstance(m, nn.Linear)]
            (p_dec,) = [m for m in phase.model.decoder.modules() if isinstance(m, nn.Linear)]
            enc[k].load_state_dict(p_enc.state_dict())
            dec[len(dec) - 1 - k].load_state_dict(p_dec.state_dict())


def train_greedy(root: Path, settings: GreedySettings, overwrite: bool = False) -> dict:
    """Run every phase and the fine-tuning under `root`; return the summary written to
    root/greedy.json (final validation metrics of each phase)."""
    root = Path(root)
    if overwrite and root.exists():
        if not (root / "greedy.json").is_file() and any(root.iterdir()):
            raise RunError(f"Refusing to overwrite '{root}': it is not a greedy run.")
        shutil.rmtree(root)
    phases, prev = [], None
    for k in range(len(settings.hidden)):
        run_dir = root / f"phase{k + 1}"
        phases.append(_train_or_resume(run_dir, _phase_overrides(settings, k, prev)))
        prev = run_dir
    stack_overrides = [f"model.hidden={json.dumps(list(settings.hidden))}",
                       f"train.lr={settings.finetune_lr}",
                       f"train.epochs={settings.finetune_epochs}",
                       "train.batch_size=32", *settings.overrides]
    stack = _train_or_resume(root / "stack", stack_overrides,
                             init=lambda net: _copy_phases(net, phases))
    summary = {run.path.name: run.history[-1] for run in [*phases, stack]}
    atomic_write_text(root / "greedy.json", json.dumps(summary, indent=2) + "\n")
    return summary
