"""The top-activations figure (the book's exercise 9 for autoencoders): a row per coding
unit, the items that activate it most, each titled with its activation."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from latentforge.viz.figures import _show


def top_activations_figure(images, units, values, title: str = "") -> Figure:
    """images (K, M, *shape) in [0, 1], units (K,) unit indices, values (K, M): row k shows
    the M images of unit units[k], labelled "unit u" on the left, each titled with its
    activation (3 significant digits)."""
    images, values = np.asarray(images), np.asarray(values)
    n_units, per_unit = images.shape[:2]
    fig = Figure(figsize=(per_unit * 1.1 + 1, n_units * 1.25 + 0.5))
    grid = fig.add_gridspec(n_units, per_unit, wspace=0.1, hspace=0.45)
    for k in range(n_units):
        for m in range(per_unit):
            ax = fig.add_subplot(grid[k, m])
            _show(ax, images[k, m])
            ax.set_title(f"{values[k, m]:.3g}", fontsize=7)
            if m == 0:
                ax.text(-0.15, 0.5, f"unit {int(units[k])}", transform=ax.transAxes,
                        ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
