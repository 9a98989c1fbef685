"""The figure every ptlab-report plot draws on, and its shared labelling: Agg figures of their own,
so a report made inside another program (a sweep's end) leaves its matplotlib state alone.
"""

from __future__ import annotations


def figure(ncols: int = 1, width: float = 7.0):
    """A figure drawn by Agg directly, so no pyplot/global backend state is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, sharey=True, squeeze=False)[0]


def label_panel(ax, title: str, xlabel: str) -> None:
    """One model's panel: its title, x label, grid and legend."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def title_row(fig, axes, ylabel: str, title: str) -> None:
    """A row of panels: the shared y label on the first, and the figure's title."""
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
