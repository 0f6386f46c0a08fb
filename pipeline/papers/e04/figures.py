"""Figures of E04's claims (E04.C1–E04.C3), drawn from each claim's verdict record alone.

Each function is registered with :func:`~pipeline.papers.figure` for its claim and writes the PNG it is
given (``results/figures/E04.C1.png``, ``E04.C2.png``; ``E04.C3_timing.png`` for the wall-clock claim) in
the lab's figure style (:mod:`pipeline.core.style`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure


@figure("E04.C1")
def e04_c1(v: dict, path: Path) -> None:
    """Rank C(d+g, g)/τ of the least degree meeting 1/τ against B²/ln τ per τ, and the thresholds x*(τ)."""
    d = v["details"]
    rows, th = d["table"], d["thresholds"]
    fig, (ax, bx) = style.axes_pair(f"E04.C1: rank of the low-rank retrieval against B²/ln τ (d = {d['d']}, "
                                    f"entries U[−B, B], ‖Z̃ − Z‖_max ≤ 1/τ)")
    for t in th:
        pts = [r for r in rows if r["tau"] == t["tau"]]
        line = ax.plot([r["x"] for r in pts if not r["censored"]], [r["ratio"] for r in pts if not r["censored"]],
                       marker="o", label=f"τ = {t['tau']}")[0]
        cen = [r for r in pts if r["censored"]]
        if cen:
            ax.plot([r["x"] for r in cen], [r["ratio"] for r in cen], ls="none", marker="^", color=line.get_color(),
                    alpha=0.6)
        if t["x_star"] is not None:
            ax.axvline(t["x_star"], color=line.get_color(), ls=":", lw=1)
    ax.plot([], [], ls="none", marker="^", color="gray", label="censored: even rank ≥ τ misses 1/τ (lower bound)")
    ax.plot([], [], ls=":", color="gray", label="threshold x*(τ) (bisected)")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="rank = τ (no saving)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("B²/ln τ")
    ax.set_ylabel("C(d+g, g)/τ at the least degree g")
    ax.legend(fontsize=7, loc="upper left")
    taus = [t["tau"] for t in th if t["x_star"] is not None]
    xs = [t["x_star"] for t in th if t["x_star"] is not None]
    b2 = [t["B2_star"] for t in th if t["x_star"] is not None]
    if xs:
        bx.plot(taus, xs, marker="o", label=f"x* = B*²/ln τ (spread {d['threshold_spread']:.2f})")
        bx.plot(taus, b2, marker="s", ls="--", label=f"B*² un-normalised (spread {d['B2_threshold_spread']:.2f})")
        lo = min(xs)
        bx.fill_between([min(taus), max(taus)], [lo, lo], [1.5 * lo, 1.5 * lo], color="C0", alpha=0.12,
                        label="pass band: max/min ≤ 1.5")
    bx.set_xscale("log", base=2)
    bx.set_ylim(0, None)
    bx.set_xlabel("τ = M = L")
    bx.set_ylabel("threshold (B*²/ln τ, or B*²)")
    bx.set_title("thresholds where rank < τ stops sufficing", fontsize=9)
    bx.legend(fontsize=7, loc="upper left")
    style.caption(fig, f"Triangles: censored points (even the degree of rank ≥ τ misses 1/τ). Control: at B²/ln τ = "
                       f"{max(r['x'] for r in rows):g} every τ is censored. {d['regime']}.")
    style.save(fig, path)


@figure("E04.C2")
def e04_c2(v: dict, path: Path) -> None:
    """Fractions retrieved (exact, low-rank of rank < τ, wrong axis) and the required rank against βR²."""
    d = v["details"]
    rows = d["table"]
    b = [r["bR2"] for r in rows]
    fig, (ax, bx) = style.axes_pair(f"E04.C2: retrieval accuracy against efficiency (d = {d['d']}, M = L = {d['M']}, "
                                    f"noise 0.2R)")
    ax.plot(b, [r["eps_exact"] for r in rows], marker="o", label="exact, ε-retrieval ‖T(x) − ξ‖ ≤ 0.1R")
    ax.plot(b, [r["argmax_exact"] for r in rows], marker="s", ls="--", label="exact, argmax overlap")
    ax.plot(b, [r["argmax_lowrank"] for r in rows], marker="v", ls="-.",
            label=f"low-rank, degree {d['g_cap'] - 1} (rank < τ), argmax overlap")
    ax.plot(b, [r["eps_lowrank"] for r in rows], marker="x", ls=":", label="low-rank (rank < τ), ε-retrieval")
    ax.plot(b, [r["eps_wrong_axis"] for r in rows], marker="d", color="gray", ls=":",
            label="control: softmax over the queries, ε-retrieval")
    if d["onset_bR2_eps"]:
        ax.axvline(d["onset_bR2_eps"], color="k", ls=":", lw=1, label=f"onset of ε-retrieval, βΔ/ln M = {v['measured']:.2f}")
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("βR²")
    ax.set_ylabel("fraction of queries retrieved")
    ax.legend(fontsize=7, loc="center right")
    req = [(r["bR2"], r["rank_required_over_tau"]) for r in rows if r["rank_required_over_tau"] is not None]
    bx.plot(*zip(*req), marker="o", label="C(d+g, g)/τ, least g with ‖Z̃ − Z‖_max ≤ 1/τ")
    bx.plot(b, [r["max_logit"] / d["ln_tau"] for r in rows], marker="s", ls="--", label="max logit / ln τ")
    bx.axhline(1.0, color="k", ls="--", lw=1, label="= 1 (rank τ, or max logit ln τ)")
    if d["largest_efficient_bR2"]:
        bx.axvline(d["largest_efficient_bR2"], color="C2", ls=":", lw=1, label="largest βR² with rank < τ")
    bx.set_xscale("log", base=2)
    bx.set_yscale("log")
    bx.set_xlabel("βR²")
    bx.set_ylabel("ratio")
    bx.legend(fontsize=7, loc="upper left")
    style.caption(fig, d["regime"] + ". " + d["control"] + ".")
    style.save(fig, path)


@figure("E04.C3")
def e04_c3(v: dict, path: Path) -> None:
    """Exact and low-rank retrieval time against τ, with the fitted slopes and the slopes 2 and 1."""
    d = v["details"]
    pts = d["points"]
    fig, ax = style.axes(f"E04.C3: retrieval time against τ = M = L (d = {d['d']}, degree {d['g']}, t = {d['t']})",
                         "τ = M = L", "seconds per retrieval (median CPU, one thread)")
    for key, fit, label, m in (("exact_s", d["exact_fit"], "exact Ξ softmax(ΞᵀX)", "s"),
                               ("lowrank_s", d["lowrank_fit"], "low-rank (Φ, Ψ features)", "o")):
        xy = [(p["tau"], p[key]) for p in pts if p[key] is not None]
        line = ax.plot(*zip(*xy), marker=m, ls="none", label=f"{label}")[0]
        if fit["ci"]:
            floor = d["lowrank_fit_min"] if key == "lowrank_s" else 0
            xs = np.array([x for x, _ in xy if x >= floor], float)
            ax.plot(xs, 10 ** (fit["intercept"] + fit["slope"] * np.log10(xs)), color=line.get_color(),
                    label=f"fit: slope {fit['slope']:.2f}, 95% CI [{fit['ci'][0]:.2f}, {fit['ci'][1]:.2f}]")
            theory = 2.0 if key == "exact_s" else 1.0
            mid = xs[len(xs) // 2]
            y0 = 10 ** (fit["intercept"] + fit["slope"] * np.log10(mid))
            ax.plot(xs, y0 * (xs / mid) ** theory, color=line.get_color(), ls="--", lw=1, alpha=0.7,
                    label=f"slope {theory:g} (theory)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left")
    style.caption(fig, f"Low-rank slope fitted on τ ≥ {d['lowrank_fit_min']}; bands: exact {d['exact_band']}, "
                       f"low-rank {d['lowrank_band']}. {d['regime']}.")
    style.save(fig, path)
