"""Generation tools: latent-space paths, grids and traversals (`latent`)."""
from latentforge.generation.latent import (grid_interpolation, interpolate, interpolate_images,
                                           lerp, semantic_interpolation, slerp, traversal,
                                           traversal_images)

__all__ = ["grid_interpolation", "interpolate", "interpolate_images", "lerp",
           "semantic_interpolation", "slerp", "traversal", "traversal_images"]
