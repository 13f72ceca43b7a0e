"""The latent-arithmetic figure (the DCGAN paper's figure 7, the book's chapter 17): a row
per group (a few members, then the group's mean coding decoded), and beside them the
decoded result of the expression at the centre of its 3x3 grid of neighbours."""
from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from latentforge.viz.figures import _show


def arithmetic_figure(members, means, results, names, title: str) -> Figure:
    """members (T, M, *shape), means (T, *shape), results (R, *shape) with the result first
    (R a square, e.g. 9), names: one label per group (T,), title: the expression.

    Left: row t shows group t's M members and, after a gap, its decoded mean (framed).
    Right: the results on a sqrt(R) x sqrt(R) grid, the result itself at the centre
    (framed), its neighbours around it."""
    members, means, results = (np.asarray(a) for a in (members, means, results))
    n_groups, n_members = members.shape[:2]
    side = math.isqrt(len(results))
    rows = max(n_groups, side)
    cols = n_members + 1 + 1 + 1 + side  # members, gap, mean, gap, result grid
    fig = Figure(figsize=(cols * 1.1, rows * 1.2 + 0.6))
    ratios = [1] * n_members + [0.3, 1, 0.6] + [1] * side
    grid = fig.add_gridspec(rows, cols, wspace=0.1, hspace=0.35, width_ratios=ratios)
    for t in range(n_groups):
        for m in range(n_members):
            ax = fig.add_subplot(grid[t, m])
            _show(ax, members[t, m])
            if m == 0:  # the row's label, left of its first member
                ax.text(-0.15, 0.5, names[t], transform=ax.transAxes, ha="right",
                        va="center", fontsize=9)
        ax = fig.add_subplot(grid[t, n_members + 1])
        _show(ax, means[t])
        _frame(ax, "tab:blue")
        ax.set_title("mean", fontsize=8)
    _results(fig, grid, results, side, first_col=cols - side, first_row=(rows - side) // 2)
    fig.suptitle(title, fontsize=11)
    return fig


def _results(fig, grid, results, side: int, first_col: int, first_row: int) -> None:
    """The result at the centre of a side x side grid, neighbours in the other cells."""
    centre = (side // 2) * side + side // 2
    order = [centre] + [k for k in range(side * side) if k != centre]
    for image, cell in zip(results, order):
        ax = fig.add_subplot(grid[first_row + cell // side, first_col + cell % side])
        _show(ax, image)
        if cell == centre:
            _frame(ax, "tab:red")
            ax.set_title("result", fontsize=8)


def _frame(ax, colour: str) -> None:
    """A coloured border around an image whose axis is off."""
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2)
