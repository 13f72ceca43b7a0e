"""Inception FID (the number papers quote), through the optional torch-fidelity package
(``pip install 'latentforge[inception]'``); Inception itself is not written here.

torch-fidelity's ``inception-v3-compat`` extractor (the TensorFlow FID Inception, 2048-D
pool features) takes uint8 RGB images of any size and resizes them itself to 299x299 with
its TensorFlow-1.x-compatible bilinear interpolation; grayscale images are repeated to three
channels first. Its weights (`WEIGHTS_FILE`, from `WEIGHTS_URL`) are not on PyPI: torch
hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``) must hold them. This module only uses a file that is
already there and passes its path to torch-fidelity, so it never downloads anything;
`missing` says what to install or download instead.
"""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import torch
import torch.hub
from torch.utils.data import Dataset

from latentforge.errors import ConfigError

WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               + WEIGHTS_FILE)
PIP = "pip install 'latentforge[inception]' (torch-fidelity; it needs torchvision)"


def weights_folder() -> Path:
    """Torch hub's checkpoint folder, where torch-fidelity keeps its Inception weights:
    ``torch.hub.get_dir()/checkpoints`` ($TORCH_HOME/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_path() -> Path:
    """Where the Inception weights must be (`weights_folder` / `WEIGHTS_FILE`)."""
    return weights_folder() / WEIGHTS_FILE


def has_package() -> bool:
    """Whether torch-fidelity is installed (found without importing it)."""
    return importlib.util.find_spec("torch_fidelity") is not None


def _get_weights() -> str:
    return (f"download {WEIGHTS_URL} into {weights_folder()} (torch hub's checkpoint "
            "folder: $TORCH_HOME/hub/checkpoints)")


def missing() -> str | None:
    """What Inception FID lacks here, as one sentence saying how to get it; None when the
    torch-fidelity package and its weights file are both present (torch-fidelity is not
    imported)."""
    if not has_package():
        return (f"Inception FID needs the torch-fidelity package and its Inception weights: "
                f"{PIP}, then {_get_weights()}.")
    if not weights_path().is_file():
        return f"Inception FID needs torch-fidelity's Inception weights: {_get_weights()}."
    return None


def check_available() -> Path:
    """The weights file; `ConfigError` with `missing`'s sentence when something lacks."""
    reason = missing()
    if reason:
        raise ConfigError(reason)
    return weights_path()


class _Images(Dataset):
    """A map-style dataset of uint8 (3, H, W) tensors, what torch-fidelity reads."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i]


def as_uint8_rgb(images):
    """(N, C, H, W) uint8 or float in [0, 1] -> uint8 (N, 3, H, W) (C = 1 repeated)."""
    from latentforge.evaluation.featurenet import as_image_batch

    x = images if isinstance(images, torch.Tensor) and images.dtype == torch.uint8 else (
        as_image_batch(images).mul(255).round().to(torch.uint8))
    if x.shape[1] not in (1, 3):
        raise ConfigError(f"Inception FID needs 1- or 3-channel images, got {x.shape[1]}.")
    return x.expand(-1, 3, -1, -1).contiguous() if x.shape[1] == 1 else x.contiguous()


def inception_fid(images, reference_images, batch_size: int = 64) -> dict:
    """FID of ``images`` against ``reference_images`` (both (N, C, H, W), uint8 or float in
    [0, 1]) on torch-fidelity's Inception (CUDA when available). Returns {"fid",
    "n_samples", "n_reference", "feature_extractor", "seconds"}; `ConfigError` saying how
    to get the package or weights when they are missing (nothing is downloaded)."""
    path = check_available()
    try:
        import torch_fidelity
    except ImportError as exc:  # e.g. torchvision missing or built for another torch
        raise ConfigError(f"torch-fidelity is installed but does not import ({exc}); "
                          f"{PIP}.") from None
    x, ref = as_uint8_rgb(images), as_uint8_rgb(reference_images)
    start = time.perf_counter()
    out = torch_fidelity.calculate_metrics(
        input1=_Images(x), input2=_Images(ref), fid=True, cuda=torch.cuda.is_available(),
        batch_size=batch_size, feature_extractor_weights_path=str(path), cache=False,
        verbose=False, save_cpu_ram=True)  # save_cpu_ram: no DataLoader worker processes
    return {"fid": float(out["frechet_inception_distance"]), "n_samples": len(x),
            "n_reference": len(ref), "feature_extractor": "inception-v3-compat",
            "seconds": round(time.perf_counter() - start, 1)}
