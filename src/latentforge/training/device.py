"""Device selection: "auto" picks cuda, then mps, then cpu; and the check that the
resolved device can run the run's train.precision."""
from __future__ import annotations

import torch

from latentforge.errors import ConfigError

# Device types that run train.precision="16-mixed" (float16 autocast + a gradient scaler).
MIXED16_DEVICES = ("cuda",)


def resolve_device(name: str, precision: str | int = "32") -> torch.device:
    """The torch device for `name` ("auto" | "cpu" | "cuda" | "cuda:N" | "mps"), checked
    against `precision` (train.precision): ConfigError when that device cannot run it."""
    device = _device(name)
    check_precision(precision, device)
    return device


def check_precision(precision: str | int, device: torch.device) -> None:
    """ConfigError when `device` cannot train in `precision` (16-mixed needs CUDA)."""
    if str(precision) == "16-mixed" and device.type not in MIXED16_DEVICES:
        raise ConfigError(f"train.precision=16-mixed (float16 with a gradient scaler) needs "
                          f"a CUDA GPU, and this run trains on {device.type}; use "
                          f"train.precision=bf16 on {device.type}, or train.device=cuda.")


def _device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("train.device is 'cuda' but no CUDA GPU is available; "
                              "use --device cpu or auto.")
        return torch.device(name)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ConfigError("train.device is 'mps' but MPS is not available; use cpu or auto.")
        return torch.device("mps")
    raise ConfigError(f"Unknown device '{name}'. Use auto, cpu, cuda, cuda:N or mps.")
