"""Figures of E10's claims (E10.C1–E10.C3), drawn from each claim's verdict record alone.

Each function is registered with :func:`~pipeline.papers.figure` for its claim and writes the PNG it is
given (``results/figures/E10.C1.png`` …) in the lab's figure style (:mod:`pipeline.core.style`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure


def _pow2_ticks(ax, ns) -> None:
    """Label a base-2 log x axis at the data's n, written 2^e."""
    import matplotlib.ticker

    ax.set_xticks(list(ns), [f"2^{int(np.log2(n))}" for n in ns])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _fit_line(ax, xs, fit: dict, label: str, **kw) -> None:
    grid = np.geomspace(min(xs), max(xs), 30)
    ax.plot(grid, 10.0 ** (fit["intercept"] + fit["slope"] * np.log10(grid)), lw=1, alpha=0.7,
            label=f"{label}: slope {fit['slope']:.3f} [{fit['ci_low']:.3f}, {fit['ci_high']:.3f}]", **kw)


@figure("E10.C1")
def c1(v: dict, path: Path) -> None:
    """Floats kept against n: the streaming estimator, the KV cache and the tabulated-hash control."""
    d = v["details"]
    rows = d["table"]
    ns = [r["n"] for r in rows]
    fig, ax = style.axes("E10.C1: floats kept in one pass over n tokens\n(d = 3, t = 35, k = 20, ε₁ = 0.5)",
                         "n (tokens streamed)", "floats kept (peak over the stream)")
    for key, label, marker, color in (("sketch", "streaming estimator (M_kv, z, Y_sk, row sum)", "o", "#4c72b0"),
                                      ("kv_cache", "KV cache (2nd)", "s", "#dd8452"),
                                      ("tabulated_hashes", "control: hashes tabulated for all n", "^", "#c44e52")):
        ax.plot(ns, [r[key] for r in rows], marker=marker, ls="none", color=color, label=label)
        _fit_line(ax, ns, d["fits"][key], "fit", color=color)
    for r in rows[::2]:
        ax.annotate(f"R={r['R']}", (r["n"], r["sketch"]), textcoords="offset points", xytext=(0, 7), fontsize=7,
                    ha="center", color="#4c72b0")
    ax.set_xscale("log", base=2)
    _pow2_ticks(ax, ns)
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left")
    style.caption(fig, f"Counted from the state tensors after every block of 2^14 tokens. Pass: the estimator's slope "
                       f"CI ≤ 0.2 (its growth is the log n of R only; theory slope ≈ 1/ln n = {v['tight']:.3f}), the "
                       f"KV cache's slope 1. At the largest n the KV cache keeps "
                       f"{d['largest_n_kv_over_sketch']:.0f}× more floats.")
    style.save(fig, path)


def _ratio_panel(ax, d: dict) -> None:
    table, bounded, eps1 = d["table"], d["bounded"], d["eps1"]
    Bs = [r["B"] for r in table]
    for key, label, color, marker, ms in (("raw", "estimator, raw columns", "#4c72b0", "o", 9),
                                          ("centred", "estimator, mean-centred", "#55a868", "s", 5),
                                          ("one_repetition", "control: R = 1", "#c44e52", "^", 6),
                                          ("few_buckets", "control: W = ⌈k/2⌉", "#8172b2", "v", 6)):
        ax.plot(Bs, [r[f"{key}_ratio_median"] for r in table], marker=marker, ms=ms, color=color,
                mfc="none" if key == "raw" else color, label=f"{label} (median)")
        ax.plot(Bs, [r[f"{key}_ratio_max"] for r in table], marker=marker, ms=ms * 0.7, color=color, ls=":", alpha=0.6)
        ax.plot([0.8], [bounded[key]["ratio_max"]], marker=marker, color=color, ls="none", mfc="none", ms=ms)
    ax.axhline(1 + eps1, color="k", ls="--", lw=1, label=f"1 + ε₁ = {1 + eps1:g}")
    ax.axvline(0.9, color="gray", lw=0.6)
    ax.text(0.8, 3.0, "bounded\nsweep\n(max)", fontsize=7, ha="center", va="bottom")
    ax.set_yscale("log")
    ax.set_xlabel("B (planted logit B²; bounded sweep at B = 0.8)")
    ax.set_ylabel("‖T_i − y_i‖ / min_k-sparse ‖y' − y_i‖")
    ax.set_title("recovery ratio (dotted: max over runs)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def _degree_panel(ax, d: dict) -> None:
    table = d["table"]
    Bs = [r["B"] for r in table]
    ax.plot(Bs, [r["rank"] for r in table], marker="o", color="#4c72b0",
            label=f"rank t at the degree needed (ε₂ ≤ {d['small_eps2']:g}·tail_k)")
    ax.plot(Bs, [r["rank_apriori_taylor"] for r in table], marker="s", color="#dd8452",
            label="rank t of the Taylor degree whose error bound is ≤ 1/n (number: g)")
    ax.plot(Bs, [r["floats_kept"] for r in table], marker="^", color="#55a868", label="floats kept at the degree needed")
    ax.plot(Bs, [r["kv_cache"] for r in table], color="k", ls="--", lw=1, label=f"KV cache 2nd (n = {d['planted']['n']})")
    for r in table:
        ax.annotate(f"g={r['g']}", (r["B"], r["rank"]), textcoords="offset points", xytext=(0, -12), fontsize=7,
                    ha="center", color="#4c72b0")
        ax.annotate(f"{r['g_apriori_taylor']}", (r["B"], r["rank_apriori_taylor"]), textcoords="offset points",
                    xytext=(0, 5), fontsize=7, ha="center", color="#dd8452")
    ax.set_yscale("log")
    ax.set_xlabel("B (planted logit B²)")
    ax.set_ylabel("rank t = C(d + g, g), floats")
    ax.set_title("degree and rank needed as B grows", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


@figure("E10.C2")
def c2(v: dict, path: Path) -> None:
    """Recovery ratio against the planted B (with the bounded sweep and the controls), and the degree and
    rank needed for a small ε₂."""
    d = v["details"]
    fig, (left, right) = style.axes_pair("E10.C2: ℓ2/ℓ2 k-sparse recovery of each output column (k = 20, ε₁ = 0.5)")
    _ratio_panel(left, d)
    _degree_panel(right, d)
    t = d["table"]
    ref = d["reference"]
    style.caption(fig, f"Fraction of runs meeting the bound: {', '.join(f'{k} {x:.3f}' for k, x in d['fractions_ok'].items())}. "
                       f"Sparsity tail_k/‖y‖ (median): {t[0]['tail_over_norm_median']:.3f} at B = {t[0]['B']:g} to "
                       f"{t[-1]['tail_over_norm_median']:.3f} at B = {t[-1]['B']:g}; bounded raw "
                       f"{d['bounded']['raw']['tail_over_norm_median']:.4f} (the guarantee says little there). Reference "
                       f"(n = {ref['n']}, R = {ref['R']}): {ref['floats_three_matrices']} floats vs KV {ref['kv_cache']}, "
                       f"polynomial max error {ref['poly_max_error']:.2g}, ratios "
                       f"{', '.join(f'{x:.3f}' for x in ref['ratios'])}.")
    style.save(fig, path)


@figure("E10.C3")
def c3(v: dict, path: Path) -> None:
    """The additive part ε₂ against n at a fixed sketch: measured and a priori, with g(n) and with the
    degree fixed (control), against the best k-sparse error."""
    d = v["details"]
    rows = d["table"]
    ns = [r["n"] for r in rows]
    fig, ax = style.axes("E10.C3: additive error ε₂ against n at a fixed sketch (R×W = "
                         f"{rows[0]['sketch_size']})", "n (tokens)", "ε₂ (ℓ2 over the column)")
    for key, label, color, marker, ls in (
            ("eps2_measured", "measured ε₂, degree g(n) (ε ≤ 1/n)", "#4c72b0", "o", "-"),
            ("eps2_apriori", "a-priori ε₂, degree g(n)", "#4c72b0", "s", "--"),
            ("control_eps2_measured", f"control: measured ε₂, g = {d['degree_control']} fixed", "#c44e52", "o", "-"),
            ("control_eps2_apriori", f"control: a-priori ε₂, g = {d['degree_control']} fixed", "#c44e52", "s", "--")):
        f = d["fits"][key]
        ax.plot(ns, [r[key] for r in rows], marker=marker, color=color, ls=ls,
                label=f"{label}: slope {f['slope']:.2f} [{f['ci_low']:.2f}, {f['ci_high']:.2f}]")
    ax.plot(ns, [r["tail_min"] for r in rows], marker="x", color="gray", label="min_i best k-sparse error tail_k(y_i)")
    env = np.array(ns, float)
    ax.plot(env, (2 + d["eps1"]) * 2 / np.sqrt(env), color="k", lw=0.8, ls=":",
            label="(2 + ε₁)·2‖V‖∞/√n, ‖V‖∞ ≤ 1 (ε = 1/n exactly)")
    for r in rows:
        ax.annotate(f"g={r['g']}", (r["n"], r["eps2_measured"]), textcoords="offset points", xytext=(0, 6),
                    fontsize=7, ha="center", color="#4c72b0")
    ax.set_xscale("log", base=2)
    _pow2_ticks(ax, ns)
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="lower left")
    style.caption(fig, f"Floats kept {d['floats_kept_range'][0]} → {d['floats_kept_range'][1]} (t grows with g; the "
                       f"sketch is fixed). Worst measured ε₂/tail_k = {d['worst_eps2_over_tail']:.2g}. The guarantee "
                       "‖T − y‖ ≤ (1 + ε₁)tail_k + ε₂ held at every n.")
    style.save(fig, path)
