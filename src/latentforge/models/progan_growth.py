"""ProGAN's growth schedule (Karras et al. 2018, sec. 3 and A.1) as pure functions of the
number of training images seen so far.

Levels: level k works at resolution 4 * 2^k (level 0 = 4x4), up to level L - 1 = the
data's resolution. Phases, in images:

    level 0:      stabilisation over `stable` images (no fade: nothing to fade from);
    level k >= 1: fade-in over `fade` images (alpha 0 -> 1 linearly), then stabilisation
                  over `stable` images (alpha 1);
    after the last level's stabilisation the network stays at level L - 1, alpha 1.

So level k starts at images_seen = stable + (k - 1) * (fade + stable) and ends (its growth
phase is over) at `phase_end(k)` = stable + k * (fade + stable). alpha is taken for the
images seen before a step, so it is exactly 0 on the first step of a fade.
"""
from __future__ import annotations


def level_alpha(images_seen: int, n_levels: int, fade: int, stable: int) -> tuple[int, float]:
    """(level, alpha) after `images_seen` images; alpha in [0, 1] is the weight of the
    newest level's block during its fade-in (1 outside fades)."""
    if images_seen < stable:
        return 0, 1.0
    period = fade + stable
    if period == 0:
        return n_levels - 1, 1.0
    level = 1 + (images_seen - stable) // period
    if level > n_levels - 1:
        return n_levels - 1, 1.0
    into = (images_seen - stable) % period
    return level, (1.0 if into >= fade else into / fade)


def phase_end(level: int, fade: int, stable: int) -> int:
    """images_seen at which `level`'s growth phase (fade-in, then stabilisation) ends."""
    return stable + level * (fade + stable)


def phase_batch_size(level: int, batch_sizes, default: int) -> int:
    """The batch size of `level`: batch_sizes[level] when the list has that entry, else
    `default` (train.batch_size)."""
    return int(batch_sizes[level]) if level < len(batch_sizes) else int(default)
