"""The figure style (pipeline/core/style.py): plain log tick labels, legends moved off the data."""
from __future__ import annotations

import matplotlib
import matplotlib.ticker as mt
import numpy as np

from pipeline.core import style

matplotlib.use("Agg")


def test_log_axes_get_plain_labels(tmp_path):
    fig, ax = style.axes("t", "x", "y")
    ax.loglog([1, 10, 1000], [0.01, 1, 1e5])
    style.save(fig, tmp_path / "f.png")
    assert isinstance(ax.yaxis.get_major_formatter(), mt.FuncFormatter)
    assert isinstance(ax.yaxis.get_minor_formatter(), mt.NullFormatter)
    assert [style.plain_number(v) for v in (0.01, 1, 300, 1e5)] == ["0.01", "1", "300", "100000"]


def test_a_legend_over_the_data_moves_under_the_panel(tmp_path):
    fig, ax = style.axes("t", "x", "y")
    x = np.linspace(0, 1, 50)
    ax.scatter(x, np.ones_like(x) * 0.95, label="points along the top")  # where loc="upper left" sits
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    h0 = fig.get_size_inches()[1]
    style.save(fig, tmp_path / "f.png")
    leg = ax.get_legend()
    assert leg.get_window_extent().y1 <= ax.get_window_extent().y0  # below the panel
    assert fig.get_size_inches()[1] > h0


def test_a_legend_clear_of_the_data_stays(tmp_path):
    fig, ax = style.axes("t", "x", "y")
    x = np.linspace(0, 1, 50)
    ax.scatter(x, 0.05 + 0 * x, label="points along the bottom")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    h0 = fig.get_size_inches()[1]
    style.save(fig, tmp_path / "f.png")
    assert fig.get_size_inches()[1] == h0 and ax.get_legend().get_window_extent().y0 > ax.get_window_extent().y0


def test_a_log_axis_under_two_decades_labels_its_twos_and_fives():
    """One decade of y shows a single major label; the minor ticks at 2 and 5 get plain labels there, and
    nowhere on an axis of many decades."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (short, long) = plt.subplots(1, 2)
    short.loglog([1, 10], [4, 30])
    long.loglog([1, 10], [1e-6, 1e3])
    for ax in (short, long):
        style.plain_log_labels(ax)
    fig.canvas.draw()
    minor = lambda ax: {t.get_text() for t in ax.yaxis.get_minorticklabels()} - {""}  # noqa: E731
    assert {"5", "20"} <= minor(short) <= {"2", "5", "20", "50"}  # (ticks just outside the view are labelled too)
    assert minor(long) == set()
    assert style._two_and_five(3.0) == "" and style._two_and_five(0.05) == "0.05"
    plt.close(fig)
