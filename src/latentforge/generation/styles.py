"""The style space of a style-based generator (stylegan: `mapping(z) -> w`, `synthesize`,
`decode_w`, `n_styles`, `style_resolutions`): the coarse / middle / fine groups of style
inputs, style mixing of two sources, decoding with fixed noise, and the w space seen as a
latent space by `generation.latent`'s decode helpers.

Style groups (Karras et al. 2019, figure 3: coarse 4-8 px, middle 16-32 px, fine 64-1024 px)
are defined on the distinct resolutions r_1 < ... < r_n of `style_resolutions`:
- when the generator reaches 64 px or more, the paper's split: coarse <= 8, middle 16-32,
  fine >= 64;
- smaller generators split their n resolutions in order: coarse the first ceil(n / 3),
  middle the first half (rounded up) of the rest, fine the remainder; with two
  resolutions, coarse and fine. So 32x32: coarse 4-8, middle 16, fine 32; 16x16: 4 / 8 /
  16; 8x8: coarse 4, fine 8 (no middle group).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

PAPER_COARSE_MAX, PAPER_FINE_MIN = 8, 64


@dataclass(frozen=True)
class StyleGroup:
    """A named group of style inputs: name, the resolutions it acts at, its style-input
    indices (into `style_resolutions`)."""

    name: str
    resolutions: tuple[int, ...]
    layers: tuple[int, ...]

    @property
    def label(self) -> str:
        """e.g. "coarse (4-8 px)"."""
        lo, hi = self.resolutions[0], self.resolutions[-1]
        return f"{self.name} ({lo} px)" if lo == hi else f"{self.name} ({lo}-{hi} px)"


def style_groups(style_resolutions) -> list[StyleGroup]:
    """The coarse / middle / fine groups of a generator's style inputs (module docstring);
    empty groups are left out."""
    resolutions = [int(r) for r in style_resolutions]
    distinct = sorted(set(resolutions))
    if distinct[-1] >= PAPER_FINE_MIN:
        split = [[r for r in distinct if r <= PAPER_COARSE_MAX],
                 [r for r in distinct if PAPER_COARSE_MAX < r < PAPER_FINE_MIN],
                 [r for r in distinct if r >= PAPER_FINE_MIN]]
    else:
        n_coarse = math.ceil(len(distinct) / 3)
        rest = distinct[n_coarse:]
        n_middle = math.ceil(len(rest) / 2) if len(rest) > 1 else 0
        split = [distinct[:n_coarse], rest[:n_middle], rest[n_middle:]]
    return [StyleGroup(name, tuple(res), tuple(i for i, r in enumerate(resolutions)
                                               if r in res))
            for name, res in zip(("coarse", "middle", "fine"), split) if res]


def mix_styles(w_a: Tensor, w_b: Tensor, layers, n_styles: int) -> Tensor:
    """Styles (n, n_styles, w_dim): w_b (n, w_dim) at the style inputs `layers`, w_a
    (n, w_dim) at every other one."""
    from_b = torch.zeros(n_styles, dtype=torch.bool, device=w_a.device)
    from_b[list(layers)] = True
    return torch.where(from_b[None, :, None], w_b.unsqueeze(1), w_a.unsqueeze(1))


@torch.no_grad()
def decode_styles(model, ws: Tensor, noise_seed: int = 0) -> Tensor:
    """`model.synthesize` of each styles row ws (n, w_dim) or (n, n_styles, w_dim) with the
    same noise maps (drawn from a generator seeded with `noise_seed` for every image), so
    images differ only by their styles -> (n, C, H, W) float CPU in [0, 1]. Runs in the
    model's current mode."""
    return torch.cat([model.synthesize(w[None], generator=torch.Generator().manual_seed(
        noise_seed)).float().cpu() for w in ws])


SPACES = ("z", "w")


class StyleSpace:
    """A style model seen as a latent space for `generation.latent`'s helpers, with fixed
    noise: space "w": decode(w) = `decode_styles(model, w, noise_seed)`, coding_dim =
    w_dim; space "z": decode(z) = the same of mapping(z), coding_dim = the model's."""

    def __init__(self, model, space: str = "w", noise_seed: int = 0):
        if space not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got '{space}'")
        self.model, self.space, self.noise_seed = model, space, noise_seed
        self.coding_dim = int(model.w_dim if space == "w" else model.coding_dim)

    def parameters(self):
        return self.model.parameters()

    @torch.no_grad()
    def decode(self, codes: Tensor) -> Tensor:
        ws = codes if self.space == "w" else self.model.mapping(codes)
        return decode_styles(self.model, ws, self.noise_seed)


@torch.no_grad()
def prior_w(model, n: int, seed: int) -> Tensor:
    """w = mapping(z) of n codings z ~ N(0, I) from a generator seeded with `seed`
    (n, w_dim) CPU; the model's mode is kept."""
    z = torch.randn(n, model.coding_dim, generator=torch.Generator().manual_seed(seed))
    return model.mapping(z).float().cpu()
