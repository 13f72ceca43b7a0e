"""Latent-space operations: interpolation paths, the book's grid-resize semantic
interpolation, per-dimension traversals, and the helpers that decode them with a model.

The pure functions take and return codings tensors. `decode_path`, `decode_grid` and
`decode_traversals` need a model with ``decode(z) -> (B, *sample_shape)``; the image
helpers (`interpolate_images`, `semantic_interpolation`, `traversal_images`) also
``encode(x) -> (B, D)`` (a VAE's posterior mean). Helpers run without gradients and leave
the model's train/eval mode alone (call ``model.eval()`` first). Figures are drawn
elsewhere (viz/interpolation.py); where a run's latent points come from is
generation/paths.py. Everything here returns tensors.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

PATH_METHODS = ("lerp", "slerp")
PARALLEL_EPS = 1e-6  # sin(angle) below this: a and b (anti)parallel, slerp falls back to lerp


def _steps(t: float | Tensor, like: Tensor) -> tuple[Tensor, bool]:
    """t as a (T, 1, ..., 1) tensor broadcasting against `like`, and whether t was 1-D."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() > 1:
        raise ValueError(f"t must be a number or a 1-D tensor of steps, got shape "
                         f"{tuple(t.shape)}")
    batched = t.dim() == 1
    return t.reshape(-1, *([1] * like.dim())), batched


def lerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """(1 - t) a + t b. a, b: (..., D); t: a number -> (..., D), or (T,) -> (T, ..., D)."""
    steps, batched = _steps(t, a)
    out = a + steps * (b - a)
    return out if batched else out[0]


def slerp(a: Tensor, b: Tensor, t: float | Tensor) -> Tensor:
    """Spherical interpolation along the great circle between the directions of a and b
    (Shoemake 1985; White 2016 for latent spaces): sin((1-t) w)/sin w a + sin(t w)/sin w b,
    w = angle(a, b). Unit vectors stay unit. Where a and b are (anti)parallel
    (sin w < 1e-6) it is `lerp`. a, b: (..., D); t: a number or (T,) as in `lerp`."""
    steps, batched = _steps(t, a)
    omega = _angle(a, b)
    sin = torch.sin(omega)
    parallel = sin.abs() < PARALLEL_EPS
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    wa = torch.where(parallel, 1 - steps, torch.sin((1 - steps) * omega) / safe)
    wb = torch.where(parallel, steps, torch.sin(steps * omega) / safe)
    out = wa * a + wb * b
    return out if batched else out[0]


def _angle(a: Tensor, b: Tensor) -> Tensor:
    """Angle between a and b (..., D) -> (..., 1) in [0, pi], by Kahan's
    2 atan2(|a' - b'|, |a' + b'|) of the unit vectors: exact 0 and pi for (anti)parallel
    vectors, where arccos of a rounded cosine is off by about 5e-4 in float32."""
    ua, ub = F.normalize(a, dim=-1, eps=1e-12), F.normalize(b, dim=-1, eps=1e-12)
    return 2 * torch.atan2((ua - ub).norm(dim=-1, keepdim=True),
                           (ua + ub).norm(dim=-1, keepdim=True))


def interpolate(a: Tensor, b: Tensor, steps: int, method: str = "lerp") -> Tensor:
    """`steps` codings from a to b, both included: (..., D) -> (steps, ..., D)."""
    if method not in PATH_METHODS:
        raise ValueError(f"method must be one of {', '.join(PATH_METHODS)}, got '{method}'")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (both ends), got {steps}")
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    return (lerp if method == "lerp" else slerp)(a, b, t)


def grid_interpolation(codings_grid: Tensor, out_shape: tuple[int, int],
                       align_corners: bool = False) -> Tensor:
    """The book's semantic interpolation: resize a (R, C, D) grid of codings bilinearly to
    (R', C', D) (book: 3x4 -> 5x7 with tf.image.resize).

    align_corners=False is TensorFlow 2's tf.image.resize (half-pixel centres, what the
    book's code runs): corners keep their codings, inner originals are blended. True
    places the originals exactly on every other row/column when R' = 2R - 1 and
    C' = 2C - 1 (what the book's text describes).
    """
    if codings_grid.dim() != 3:
        raise ValueError(f"codings_grid must be (rows, cols, D), got shape "
                         f"{tuple(codings_grid.shape)}")
    image = codings_grid.permute(2, 0, 1).unsqueeze(0)  # (1, D, R, C)
    out = F.interpolate(image, size=tuple(out_shape), mode="bilinear",
                        align_corners=align_corners)
    return out[0].permute(1, 2, 0)


def traversal(z: Tensor, dim: int, values: Tensor) -> Tensor:
    """Copies of one coding z (D,) with z[dim] set to each of `values` (V,) -> (V, D)."""
    if not -z.shape[-1] <= dim < z.shape[-1]:
        raise ValueError(f"dim {dim} is out of range for codings of size {z.shape[-1]}")
    values = torch.as_tensor(values, dtype=z.dtype, device=z.device)
    out = z.reshape(1, -1).repeat(len(values), 1)
    out[:, dim] = values
    return out


# ---------------------------------------------------------------- helpers with a model

def _device(model) -> torch.device:
    return next(model.parameters()).device


def _encode_one(model, x: Tensor) -> Tensor:
    """One image (*sample_shape) or a batch (B, *sample_shape) -> codings (B, D)."""
    single = x.dim() == len(model.sample_shape)
    return model.encode((x.unsqueeze(0) if single else x).to(_device(model)))


@torch.no_grad()
def decode_path(model, z_a: Tensor, z_b: Tensor, steps: int = 8,
                method: str = "lerp") -> Tensor:
    """Decoded `interpolate` path between codings z_a, z_b (B, D) ->
    (steps, B, *sample_shape)."""
    path = interpolate(z_a.to(_device(model)), z_b.to(_device(model)), steps, method)
    images = model.decode(path.reshape(-1, path.shape[-1]))
    return images.reshape(steps, -1, *images.shape[1:])


@torch.no_grad()
def decode_grid(model, codings_grid: Tensor, out_shape: tuple[int, int],
                align_corners: bool = False) -> Tensor:
    """Decode `grid_interpolation` of a (R, C, D) codings grid -> (R', C', *sample_shape)
    (book: 12 random codings as 3x4, resized to 5x7, decoded)."""
    grid = grid_interpolation(codings_grid.to(_device(model)), out_shape, align_corners)
    images = model.decode(grid.reshape(-1, grid.shape[-1]))
    return images.reshape(*grid.shape[:2], *images.shape[1:])


@torch.no_grad()
def decode_traversals(model, z: Tensor, values: Tensor, dims=None) -> Tensor:
    """Per-dimension traversals around one coding z (D,): for each of `dims` (default
    all), z[dim] takes each of `values` ((V,) for every dimension, or (D, V) per
    dimension) -> (len(dims), V, *sample_shape)."""
    z = z.to(_device(model))
    dims = range(z.shape[-1]) if dims is None else dims
    values = torch.as_tensor(values)
    rows = [traversal(z, d, values[d] if values.dim() == 2 else values) for d in dims]
    codes = torch.stack(rows)  # (n_dims, V, D)
    images = model.decode(codes.reshape(-1, z.shape[-1]))
    return images.reshape(*codes.shape[:2], *images.shape[1:])


def interpolate_images(model, x_a: Tensor, x_b: Tensor, steps: int = 8,
                       method: str = "lerp") -> Tensor:
    """Decoded path between the codings of two images: x_a, x_b (*sample_shape) ->
    (steps, *sample_shape), or batches (B, *sample_shape) -> (steps, B, *sample_shape)."""
    single = x_a.dim() == len(model.sample_shape)
    with torch.no_grad():
        images = decode_path(model, _encode_one(model, x_a), _encode_one(model, x_b), steps,
                             method)
    return images[:, 0] if single else images


def semantic_interpolation(model, codings_grid: Tensor, out_shape: tuple[int, int],
                           align_corners: bool = False) -> Tensor:
    """`decode_grid` (the book's name for it)."""
    return decode_grid(model, codings_grid, out_shape, align_corners)


def traversal_images(model, x: Tensor, values: Tensor, dims=None) -> Tensor:
    """Per-dimension traversals around the coding of one image x (*sample_shape): for each
    of `dims` (default all), z[dim] takes each of `values` (V,) (absolute; prior units for
    a VAE, e.g. torch.linspace(-3, 3, 7)) -> (len(dims), V, *sample_shape)."""
    with torch.no_grad():
        z = _encode_one(model, x)[0]
    return decode_traversals(model, z, values, dims)
