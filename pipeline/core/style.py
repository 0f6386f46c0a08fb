"""The lab's figure style, shared by the claims' and the studies' figures: axes with a title and a
light grid, a two-panel variant, plain tick labels on log axes, legends kept off the data, and
byte-stable saving (no software or date metadata, so that a rebuild writes the same PNG bytes)."""
from __future__ import annotations

import math
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
    """Write plain tick labels on log axes, move a legend that covers data below its panel, lay out,
    write a byte-stable PNG (no metadata) and close the figure."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        plain_log_labels(ax)
    fig.tight_layout()
    if any([legend_off_data(ax) for ax in fig.axes]):
        fig.tight_layout()
    _place_caption(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def caption(fig, text: str) -> None:
    """A caption under the figure (notes, what the tags mean), wrapped to the figure's width and
    placed by :func:`save` below everything else, off the data."""
    import textwrap

    width = int(fig.get_size_inches()[0] * 17)
    fig._lab_caption = "\n".join(line for para in str(text).split("\n") for line in textwrap.wrap(para, width))


def _place_caption(fig) -> None:
    text = getattr(fig, "_lab_caption", "")
    if not text:
        return
    w, h = fig.get_size_inches()
    extra = 0.14 * (text.count("\n") + 1) + 0.12
    fig.set_size_inches(w, h + extra)
    fig.tight_layout(rect=(0, extra / (h + extra), 1, 1))
    fig.text(0.01, 0.04 * extra / (h + extra), text, fontsize=7.5, va="bottom", ha="left")


def plain_number(v: float, _pos=None) -> str:
    """A tick label without ×10ⁿ: 0.01, 1, 300, 1e+05 (plain %g)."""
    return f"{v:g}"


def plain_log_labels(ax) -> None:
    """On each log axis left with matplotlib's default labels, write the major ticks as plain
    numbers and leave the minor ticks unlabelled (no "2×10⁰"), except on an axis that spans under two
    decades (it would show one number at most): there the minor ticks at 2 and 5 are labelled too."""
    import matplotlib.ticker as mt

    for axis, scale, (lo, hi) in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                  (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale == "log" and isinstance(axis.get_major_formatter(), mt.LogFormatter):
            axis.set_major_formatter(mt.FuncFormatter(plain_number))
            short = 0 < min(lo, hi) and max(lo, hi) / min(lo, hi) < 100
            axis.set_minor_formatter(mt.FuncFormatter(_two_and_five) if short else mt.NullFormatter())


def _two_and_five(v: float, _pos=None) -> str:
    """A minor tick's plain label if its leading digit is 2 or 5, else none."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v)), 6)
    return plain_number(v) if lead in (2.0, 5.0) else ""


def _data_points(ax):
    """Every plotted point of the panel in display coordinates (lines and scatter markers)."""
    import numpy as np

    pts = []
    for ln in ax.get_lines():
        xy = ln.get_transform().transform(np.column_stack(ln.get_data()).astype(float))
        if len(xy) > 1:  # the segments too, not only the vertices (a fit line has two)
            t = np.linspace(0.0, 1.0, 16)[:, None, None]
            xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
        pts.append(xy)
    pts += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
    return np.concatenate(pts) if pts else np.empty((0, 2))


def legend_off_data(ax) -> bool:
    """If the panel's legend covers a plotted point, put it under the panel (the figure grows by
    the legend's height) and return True."""
    import numpy as np

    leg = ax.get_legend()
    if leg is None or getattr(leg, "_lab_moved", False):
        return False
    fig = ax.figure
    fig.canvas.draw()
    box = leg.get_window_extent()
    pts = _data_points(ax)
    pts = pts[np.isfinite(pts).all(axis=1)]
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    if not inside.any():
        return False
    handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
    size = leg.get_texts()[0].get_fontsize() if labels else 8
    leg.remove()
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + (box.height / fig.dpi) * (1.0 if len(fig.axes) == 1 else 0.6) + 0.3)
    new = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=size,
                    ncol=1 if max(map(len, labels), default=0) > 40 else 2, frameon=False)
    new._lab_moved = True
    return True


def plain_ticks(ax, values) -> None:
    """Label a log x axis at the data's own values, written plainly (2, 5, 10 rather than 2×10⁰)."""
    import matplotlib.ticker

    ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def parse_key(key: str) -> dict[str, str]:
    """``"R=1,n=20"`` -> ``{"R": "1", "n": "20"}`` (the keys of a claim's tables of evidence)."""
    return dict(re.findall(r"(\w+)=([^,]+)", key))
