"""Figures of the P3 claims (C3.5, C3.6, C3.7, C3.11), from their verdicts' details only."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from pipeline.plot_claims import _axes, _axes_pair, _plain_ticks, _save

SIZE_STYLE = ("o", "s", "^", "D", "v")


def c35(v: dict, path: Path) -> None:
    """max ‖E(f, g)‖/osc(g) found against n (vertices g ∈ {±1}^n, and random g inside the box), with 1/(3√3)."""
    d = v["details"]
    rows = sorted(d["by_n"], key=lambda r: r["n"])
    ns = [r["n"] for r in rows]
    fig, ax = _axes("C3.5: max ‖E(f, g)‖ / osc(g) over f ∈ Δ_n", "n (length of f and g)", "‖E(f, g)‖ / osc(g)")
    ax.plot(ns, [r["max_over_osc"] for r in rows], marker="o", ms=7,
            label=f"optimum over f, g ∈ {{±1}}^n ({d['restarts']} Powell starts per orbit)")
    ax.plot(ns, [r["random_max_over_osc"] for r in rows], marker="s", ls=":",
            label=f"max over {d['random_pairs_per_n']} random (f, g), g ∈ [−1, 1]^n")
    ax.axhline(d["bound_over_osc"], color="k", ls="--", lw=1, label="bound 1/(3√3) = 0.19245")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_ylim(0.12, 0.205)
    ax.legend(fontsize=7.5, loc="lower left", title_fontsize=7.5,
              title=f"max ‖E‖ found {v['measured']:.10f} (osc = 2), bound 2/(3√3) = {v['bound']:.10f}: {v['verdict']}")
    _save(fig, path)


def c36(v: dict, path: Path) -> None:
    """Quantiles of λ_min(∇²_x) over the sampled (X, Y): with the rule's regulariser (against l) and without (against 0)."""
    d = v["details"]
    levels = d["quantile_levels"]
    fig, (ax, bx) = _axes_pair(f"C3.6: PD lemma in x, λ_min(∇²_x) over {d['points_per_size']} random (X, Y) per size "
                               f"(R = {d['R']:g}, l = {d['l']:g})")
    for row, marker in zip(d["by_size"], SIZE_STYLE):
        size = f"n = {row['n']}, d = {row['d']}"
        ax.plot(levels, row["uniform"]["quantiles"], marker=marker, color="#4c72b0", ms=4,
                label=f"a priori osc bound, {size}")
        ax.plot(levels, row["pointwise"]["quantiles"], marker=marker, color="#dd8452", ms=4, ls="--",
                label=f"point's own osc, {size}")
        bx.plot(levels, row["none"]["quantiles"], marker=marker, color="#c44e52", ms=4,
                label=f"w = 0, {size} ({row['none']['negative']} of {d['points_per_size']} < 0)")
    ax.axhline(d["l"], color="k", ls="--", lw=1, label=f"lemma's bound l = {d['l']:g}")
    ax.set_yscale("log")
    top = max(max(r["uniform"]["quantiles"] + r["pointwise"]["quantiles"]) for r in d["by_size"])
    ax.set_ylim(d["l"] / 2, top * 60)  # room for the legend above the curves
    ax.set_xlabel("quantile over the sampled points")
    ax.set_ylabel("λ_min(∇²_x(L + L_reg))")
    ax.legend(fontsize=6.5, loc="upper left", ncol=2, title="w² from the rule of P3-L3 with", title_fontsize=6.5)
    bx.axhline(0.0, color="k", ls="--", lw=1, label="0 (indefinite below)")
    bx.set_xlabel("quantile over the sampled points")
    bx.set_ylabel("λ_min(∇²_x L), no regulariser")
    bx.legend(fontsize=6.5, loc="lower right")
    _save(fig, path)


def c37(v: dict, path: Path) -> None:
    """M̂ against n, one line per R (geometric mean over instances, instances as dots), with the fitted slopes."""
    d = v["details"]
    table = d["table"]
    ns = sorted({r["n"] for r in table})
    Rs = sorted({r["R"] for r in table})
    slopes = {s["R"]: s for s in d["slope_in_n_by_R"]}
    fig, ax = _axes(f"C3.7: Hessian-Lipschitz M̂ (d = {d['d']}, {d['instances']} instances per n, "
                    f"{d['points_per_instance']} samples each)", "n", "M̂ = max ‖d/dt ∇²_x L(x + te)‖")
    for k, R in enumerate(Rs):
        rows = sorted((r for r in table if r["R"] == R), key=lambda r: r["n"])
        s = slopes.get(R, {})
        ci = s.get("ci")
        label = f"R = {R:g}: slope {s.get('slope', math.nan):.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        line = ax.plot([r["n"] for r in rows], [r["M_hat_geomean"] for r in rows], marker="o", label=label)[0]
        for r in rows:
            ax.scatter([r["n"] * (1 + 0.03 * (k - 1))] * len(r["M_hat_by_instance"]), r["M_hat_by_instance"], s=9,
                       color=line.get_color(), alpha=0.35)
    top = max(Rs)
    first = min((r for r in table if r["R"] == top), key=lambda r: r["n"])
    grid = np.array([min(ns), max(ns)], float)
    ax.plot(grid, first["M_hat_geomean"] * grid / grid[0], "k--", lw=1, label="slope 1 (the O(n) of the structure bound)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax, ns)
    ax.legend(fontsize=7.5, loc="lower right", title="geometric mean; slope in n [95% interval]", title_fontsize=7.5)
    ax.text(0.02, 0.97, "dots: single instances; paper's M unknown [R?]", transform=ax.transAxes, fontsize=7.5,
            va="top")
    _save(fig, path)


def _guide(ax, x, y, slope, label, style="k--"):
    """A power-law guide of the given slope through the geometric mean of the points (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    x0, y0 = np.exp(np.mean(np.log(x))), np.exp(np.mean(np.log(y)))
    grid = np.geomspace(x.min(), x.max(), 20)
    ax.plot(grid, y0 * (grid / x0) ** slope, style, lw=1, label=label)


def c311(v: dict, path: Path) -> None:
    """Time of the non-Hessian work against n and of the d²×d² solve against d, log-log, with fits and guides."""
    d = v["details"]
    pn, pd = d["points_n"], d["points_d"]
    fig, (ax, bx) = _axes_pair(f"C3.11: cost of one iteration, single-threaded CPU time (median of {d['repeats']} "
                               "after a warm-up)")
    ns = [p["n"] for p in pn]
    ax.plot(ns, [p["cpu_s"] for p in pn], marker="o",
            label=f"S + ∇_x L + Y-step, d = {d['cost_d']}: slope {d['slope_n']['slope']:.2f}")
    ax.plot(ns, [p["hessian_build_s"] for p in pn], marker="s", ls=":", color="gray",
            label=f"Hessian build (not in the claim): slope {d['hessian_build_slope_n']['slope']:.2f}")
    _guide(ax, ns, [p["cpu_s"] for p in pn], 2.0, "slope 2 (classical T_mat(n, n, d))")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax, ns)
    ax.set_xlabel("n")
    ax.set_ylabel("seconds per call")
    ax.legend(fontsize=7, loc="upper left", title=f"band [{d['n_band'][0]:g}, {d['n_band'][1]:g}]",
              title_fontsize=7)
    ds = [p["d"] for p in pd]
    used = [p for p in pd if p["d"] >= d["d_fit_min"]]
    bx.plot(ds, [p["cpu_s"] for p in pd], marker="o",
            label=f"Cholesky solve, d²×d² (n = {d['solve_n']}): slope {d['slope_d']['slope']:.2f} on d ≥ {d['d_fit_min']}")
    bx.plot(ds, [p["hessian_build_s"] for p in pd], marker="s", ls=":", color="gray",
            label=f"Hessian build (not in the claim): slope {d['hessian_build_slope_d']['slope']:.2f}")
    if len(used) >= 2:
        _guide(bx, [p["d"] for p in used], [p["cpu_s"] for p in used], 6.0, "slope 6 (classical (d²)³)")
    bx.axvline(d["d_fit_min"], color="gray", lw=0.8, ls="-.", label=f"fit from d = {d['d_fit_min']}")
    bx.set_xscale("log")
    bx.set_yscale("log")
    low = min(min(p["cpu_s"] for p in pd), min(p["hessian_build_s"] for p in pd))
    high = max(max(p["cpu_s"] for p in pd), max(p["hessian_build_s"] for p in pd))
    bx.set_ylim(low / 12, high * 2)  # room for the legend below the curves
    _plain_ticks(bx, ds)
    bx.set_xlabel("d")
    bx.set_ylabel("seconds per call")
    bx.legend(fontsize=7, loc="lower right", title=f"band [{d['d_band'][0]:g}, {d['d_band'][1]:g}]; verdict: "
              f"{v['verdict']}", title_fontsize=7)
    _save(fig, path)


FIGURES: dict[str, Callable[[dict, Path], None]] = {"C3.5": c35, "C3.6": c36, "C3.7": c37, "C3.11": c311}
