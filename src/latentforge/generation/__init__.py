"""Generation tools: latent-space paths, grids and traversals (`latent`), a run's
interpolation images (`paths`), seeded samples (`sampling`).

The names below load on first use (PEP 562), so the CLI can read `paths.INTERPOLATIONS`
without importing torch.
"""
from __future__ import annotations

import importlib

__all__ = ["PATH_METHODS", "decode_grid", "decode_path", "decode_traversals",
           "grid_interpolation", "interpolate", "interpolate_images", "lerp",
           "semantic_interpolation", "slerp", "traversal", "traversal_images"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("latentforge.generation.latent"), name)
    raise AttributeError(f"module 'latentforge.generation' has no attribute '{name}'")
