"""The Fashion-MNIST feature network: a small CNN classifier whose penultimate layer is the
feature space of the generative metrics (FID, KID, precision/recall, class coverage).

The weights ship inside the package (``latentforge/assets/fashion_cnn.safetensors``), so the
metrics work offline; ``scripts/train_feature_net.py`` retrains them reproducibly and stores
the training facts (test accuracy, seed, epochs, torch version, data checksum) in the
safetensors metadata (`read_metadata`).

Feature-network protocol (`FeatureNet`): any ``torch.nn.Module`` with
``features(x) -> (N, D)`` float features and ``forward(x) -> (N, K)`` class logits, for
images ``x`` of the shape it was trained on. Other datasets pass their own such network to
`features`, `predict_classes` and `generative.evaluate_samples`.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from latentforge.errors import DataError
from latentforge.atomic import atomic_path
from latentforge.models.base import evaluating

FORMAT = "latentforge.fashion_cnn/1"
INPUT_SHAPE = (1, 28, 28)
ASSET = "fashion_cnn.safetensors"


@runtime_checkable
class FeatureNet(Protocol):
    """What the metrics need of a network: penultimate features and class logits."""

    def features(self, x: Tensor) -> Tensor:
        """x: (N, *input_shape) -> (N, D) features."""

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, *input_shape) -> (N, K) class logits."""


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    """3x3 conv (same padding) -> BatchNorm -> ReLU -> 2x2 max-pool: halves H and W (floor)."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(), nn.MaxPool2d(2)]


class FashionCNN(nn.Module):
    """Three conv blocks (28 -> 14 -> 7 -> 3) -> dense ``hidden`` + ReLU (the features) ->
    dropout -> dense ``n_classes`` (logits).

    Input: (B, 1, 28, 28) in [0, 1]. `features`: (B, hidden), non-negative.
    """

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64), hidden: int = 128,
                 n_classes: int = 10, dropout: float = 0.3) -> None:
        super().__init__()
        self.arch = {"widths": [int(w) for w in widths], "hidden": int(hidden),
                     "n_classes": int(n_classes), "dropout": float(dropout)}
        c1, c2, c3 = widths
        self.body = nn.Sequential(*_block(1, c1), *_block(c1, c2), *_block(c2, c3),
                                  nn.Flatten(), nn.Linear(c3 * 3 * 3, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """x: (B, 1, 28, 28) in [0, 1] -> (B, hidden) penultimate activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 1, 28, 28) in [0, 1] -> (B, n_classes) logits."""
        return self.head(self.dropout(self.body(x)))


def default_path() -> Path:
    """The shipped weights inside the installed package."""
    return Path(str(resources.files("latentforge") / "assets" / ASSET))


def read_metadata(path: str | Path | None = None) -> dict:
    """The training facts stored with the weights (values JSON-decoded where possible)."""
    from safetensors import safe_open

    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise DataError(f"No feature-network weights at {path}; reinstall latentforge or "
                        "run scripts/train_feature_net.py to create them.")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise DataError(f"{path} is not a readable safetensors file ({exc}); rerun "
                        "scripts/train_feature_net.py to rewrite it.") from exc
    return {k: _decode(v) for k, v in raw.items()}


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def load_feature_net(path: str | Path | None = None) -> FashionCNN:
    """The feature network saved at ``path`` (default: the shipped weights), in eval mode
    on the CPU, with its metadata as ``net.metadata``."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else default_path()
    meta = read_metadata(path)
    if meta.get("format") != FORMAT or not isinstance(meta.get("arch"), dict):
        raise DataError(f"{path} is not a latentforge feature network (metadata format "
                        f"{meta.get('format')!r}, expected {FORMAT!r}); rerun "
                        "scripts/train_feature_net.py.")
    net = FashionCNN(**meta["arch"])
    try:
        net.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise DataError(f"{path} does not match its stored architecture ({exc}); rerun "
                        "scripts/train_feature_net.py.") from exc
    net.metadata = meta
    return net.eval()


def save_feature_net(net: FashionCNN, path: str | Path, metadata: dict) -> None:
    """Atomically write ``net``'s weights (contiguous, CPU) with ``metadata`` (JSON-encoded
    values) plus its architecture and format tag."""
    from safetensors.torch import save_file

    meta = {**metadata, "format": FORMAT, "arch": net.arch}
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(Path(path)) as tmp:
        save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
        tmp.chmod(0o644)  # package data: readable by all (the temp file starts as 0600)


def as_image_batch(images, name: str = "images") -> Tensor:
    """(N, C, H, W) uint8 (scaled by 1/255) or float in [0, 1] -> float32 CPU tensor.

    Raises `DataError` for other ranks, NaN/inf, values outside [0, 1] or no images.
    """
    x = images if isinstance(images, Tensor) else torch.as_tensor(np.asarray(images))
    if x.dim() != 4 or len(x) == 0:
        raise DataError(f"{name} must be a non-empty (N, C, H, W) batch, got shape "
                        f"{tuple(x.shape)}; reshape flat images to (N, 1, 28, 28).")
    if x.dtype == torch.uint8:
        return x.detach().cpu().to(torch.float32).div_(255.0)
    x = x.detach().cpu().to(torch.float32)
    if not torch.isfinite(x).all():
        raise DataError(f"{name} contain NaN or infinite values; the generator may have "
                        "diverged.")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise DataError(f"{name} must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]; rescale "
                        "tanh outputs with (x + 1) / 2.")
    return x.clamp_(0.0, 1.0)


def _batched(net: nn.Module, fn, images, batch_size: int, name: str) -> Tensor:
    """Apply ``fn(net, batch)`` in eval mode and inference mode; rows concatenated on CPU."""
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}.")
    x = as_image_batch(images, name)
    param = next(iter(net.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    with evaluating(net), torch.inference_mode():
        out = [fn(net, x[i:i + batch_size].to(device)).float().cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(out)


def features(net: nn.Module, images, batch_size: int = 1000) -> Tensor:
    """Penultimate-layer features of ``images`` (N, C, H, W) -> float32 CPU (N, D).

    ``net`` follows the `FeatureNet` protocol; it runs in eval mode (its mode is restored).
    """
    return _batched(net, lambda m, xb: m.features(xb), images, batch_size, "images")


def class_logits(net: nn.Module, images, batch_size: int = 1000) -> Tensor:
    """``net(images)`` in eval mode -> float32 CPU logits (N, K)."""
    return _batched(net, lambda m, xb: m(xb), images, batch_size, "images")


def predict_classes(net: nn.Module, images, batch_size: int = 1000) -> Tensor:
    """Predicted classes (argmax of the logits) -> int64 CPU (N,)."""
    return class_logits(net, images, batch_size).argmax(dim=1)
