"""Feature networks: small CNN classifiers whose penultimate layer is the feature space of
the generative metrics (FID, KID, precision/recall, class coverage).

The Fashion-MNIST network ships inside the package
(``latentforge/assets/fashion_cnn.safetensors``, input (1, 28, 28)), so the metrics work
offline on Fashion-MNIST; ``latentforge featurenet train --data SRC``
(`featurenet_training.train_feature_net`) trains the same kind of network on any labelled
image data (any channel count, sides >= 8) and ``scripts/train_feature_net.py`` retrains
the shipped one reproducibly. Each file stores its training facts (input shape, classes,
data source and config, test accuracy, data checksum, seed, epochs) in the safetensors
metadata (`read_metadata`).

Feature-network protocol (`FeatureNet`): any ``torch.nn.Module`` with
``features(x) -> (N, D)`` float features and ``forward(x) -> (N, K)`` class logits, for
images ``x`` of the shape it was trained on (`input_shape_of` reads it when the network
declares one). `load_feature_net` loads a saved network for `features`,
`predict_classes` and `generative.evaluate_samples`.
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

FORMAT = "latentforge.feature_cnn/1"  # written now; the input shape is in "arch"
FORMATS = (FORMAT, "latentforge.fashion_cnn/1")  # readable: the shipped file's older tag
INPUT_SHAPE = (1, 28, 28)  # the shipped network's input (and any arch without input_shape)
ASSET = "fashion_cnn.safetensors"
MIN_SIDE = 8  # three 2x2 max-pools need at least 8 pixels per side


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


class FeatureCNN(nn.Module):
    """Three conv blocks (H -> H//2 -> H//4 -> H//8, e.g. 28 -> 14 -> 7 -> 3) -> dense
    ``hidden`` + ReLU (the features) -> dropout -> dense ``n_classes`` (logits).

    Input: (B, *input_shape) in [0, 1], input_shape (C, H, W) with H, W >= 8.
    `features`: (B, hidden), non-negative.
    """

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64), hidden: int = 128,
                 n_classes: int = 10, dropout: float = 0.3,
                 input_shape: tuple[int, int, int] = INPUT_SHAPE) -> None:
        super().__init__()
        c, h, w = (int(v) for v in input_shape)
        if min(h, w) < MIN_SIDE or c < 1:
            raise DataError(f"A feature network needs images (C, H, W) with H, W >= "
                            f"{MIN_SIDE}, got {tuple(input_shape)}; pad or resize the data "
                            "(data.pad_to, data.image_size).")
        self.input_shape = (c, h, w)
        self.arch = {"widths": [int(v) for v in widths], "hidden": int(hidden),
                     "n_classes": int(n_classes), "dropout": float(dropout),
                     "input_shape": [c, h, w]}
        c1, c2, c3 = widths
        self.body = nn.Sequential(*_block(c, c1), *_block(c1, c2), *_block(c2, c3),
                                  nn.Flatten(), nn.Linear(c3 * (h // 8) * (w // 8), hidden),
                                  nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """x: (B, *input_shape) in [0, 1] -> (B, hidden) penultimate activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, *input_shape) in [0, 1] -> (B, n_classes) logits."""
        return self.head(self.dropout(self.body(x)))


def input_shape_of(net: nn.Module) -> tuple[int, ...] | None:
    """The (C, H, W) a network declares as ``net.input_shape``, or None when it declares
    none (a `FeatureNet` of the caller's own)."""
    shape = getattr(net, "input_shape", None)
    return None if shape is None else tuple(int(v) for v in shape)


def default_path() -> Path:
    """The shipped weights inside the installed package."""
    return Path(str(resources.files("latentforge") / "assets" / ASSET))


def read_metadata(path: str | Path | None = None) -> dict:
    """The training facts stored with the weights (values JSON-decoded where possible)."""
    from safetensors import safe_open

    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise DataError(f"No feature-network weights at {path}; make one with "
                        "'latentforge featurenet train --data SRC --out FILE' (the shipped "
                        "one: reinstall latentforge).")
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise DataError(f"{path} is not a readable safetensors file ({exc}); train it "
                        "again with 'latentforge featurenet train'.") from exc
    return {k: _decode(v) for k, v in raw.items()}


def _decode(value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def load_feature_net(path: str | Path | None = None) -> FeatureCNN:
    """The feature network saved at ``path`` (default: the shipped Fashion-MNIST weights),
    in eval mode on the CPU, with its metadata as ``net.metadata``, its input (C, H, W) as
    ``net.input_shape`` and its file as ``net.path``."""
    from safetensors.torch import load_file

    path = Path(path) if path is not None else default_path()
    meta = read_metadata(path)
    if meta.get("format") not in FORMATS or not isinstance(meta.get("arch"), dict):
        raise DataError(f"{path} is not a latentforge feature network (metadata format "
                        f"{meta.get('format')!r}, expected {FORMAT!r}); make one with "
                        "'latentforge featurenet train --data SRC'.")
    try:
        net = FeatureCNN(**meta["arch"])
        net.load_state_dict(load_file(str(path)))
    except (RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{path} does not match its stored architecture ({exc}); train it "
                        "again with 'latentforge featurenet train'.") from exc
    net.metadata, net.path = meta, str(path)
    return net.eval()


def save_feature_net(net: FeatureCNN, path: str | Path, metadata: dict) -> None:
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
