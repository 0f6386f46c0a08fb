"""The lab's figure style, shared by the claims' and the studies' figures: axes with a title and a
light grid, a two-panel variant, plain tick labels on log axes, and byte-stable saving (no
software or date metadata, so that a rebuild writes the same PNG bytes)."""
from __future__ import annotations

import re
from pathlib import Path


def axes(title: str, xlabel: str, ylabel: str, size: tuple[float, float] = (6.4, 4.4)):
    """One panel (figure, axes) with title, axis labels and a grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size, dpi=120)
    ax.set_title(title, fontsize=10.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def axes_pair(title: str, width: float = 11.0):
    """A figure with two panels side by side (for a claim with two views of its evidence)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, panels = plt.subplots(1, 2, figsize=(width, 4.4), dpi=120)
    fig.suptitle(title, fontsize=10.5)
    for ax in panels:
        ax.grid(True, which="both", alpha=0.25)
    return fig, panels


def save(fig, path: Path) -> None:
    """Lay out, write a byte-stable PNG (no metadata) and close the figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def plain_ticks(ax, values) -> None:
    """Label a log x axis at the data's own values, written plainly (2, 5, 10 rather than 2×10⁰)."""
    import matplotlib.ticker

    ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def parse_key(key: str) -> dict[str, str]:
    """``"R=1,n=20"`` -> ``{"R": "1", "n": "20"}`` (the keys of a claim's tables of evidence)."""
    return dict(re.findall(r"(\w+)=([^,]+)", key))
