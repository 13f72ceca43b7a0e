"""The style-mixing figure (the StyleGAN paper's figure 3): source A across the top, source
B down the side, a block of rows per group of style inputs copied from B."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from latentforge.viz.figures import _show


def style_mix_figure(sources_a, sources_b, mixed, group_labels) -> Figure:
    """sources_a (M, *shape), sources_b (N, *shape), mixed (G, N, M, *shape) in [0, 1],
    group_labels (G,) e.g. "coarse (4-8 px) from B".

    Row 0: an empty corner, then the M A images. Then, per group g, N rows: B image n in
    the first column, then mixed[g, n, :]; the group's label left of its first row; the
    first A and B images titled "source A" / "source B"."""
    sources_a, sources_b, mixed = (np.asarray(a) for a in (sources_a, sources_b, mixed))
    n_groups, n_rows, n_cols = mixed.shape[:3]
    rows, cols = 1 + n_groups * n_rows, 1 + n_cols
    fig = Figure(figsize=(cols * 1.1 + 1.5, rows * 1.1))
    grid = fig.add_gridspec(rows, cols, wspace=0.05, hspace=0.1)
    for a in range(n_cols):
        ax = fig.add_subplot(grid[0, 1 + a])
        _show(ax, sources_a[a])
        if a == 0:
            ax.set_title("source A", fontsize=9, loc="left")
    for g in range(n_groups):
        for b in range(n_rows):
            row = 1 + g * n_rows + b
            ax = fig.add_subplot(grid[row, 0])
            _show(ax, sources_b[b])
            if g == 0 and b == 0:
                ax.set_title("source B", fontsize=9, loc="left")
            if b == 0:
                ax.text(-0.15, 0.5, group_labels[g], transform=ax.transAxes, ha="right",
                        va="center", fontsize=9)
            for a in range(n_cols):
                _show(fig.add_subplot(grid[row, 1 + a]), mixed[g, b, a])
    return fig
