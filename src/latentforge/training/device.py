"""Device selection: "auto" picks cuda, then mps, then cpu."""
from __future__ import annotations

import torch

from latentforge.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """The torch device for `name` ("auto" | "cpu" | "cuda" | "cuda:N" | "mps")."""
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
