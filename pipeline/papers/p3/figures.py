"""Figures of the P3 claims (C3.5, C3.6, C3.7, C3.9, C3.10, C3.11), each drawn from its verdict's details only."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure

SIZE_STYLE = ("o", "s", "^", "D", "v")


@figure("C3.5")
def c35(v: dict, path: Path) -> None:
    """max ‖E(f, g)‖/osc(g) found against n (vertices g ∈ {±1}^n, and random g inside the box), with 1/(3√3)."""
    d = v["details"]
    rows = sorted(d["by_n"], key=lambda r: r["n"])
    ns = [r["n"] for r in rows]
    fig, ax = style.axes("C3.5: max ‖E(f, g)‖ / osc(g) over f ∈ Δ_n", "n (length of f and g)", "‖E(f, g)‖ / osc(g)")
    ax.plot(ns, [r["max_over_osc"] for r in rows], marker="o", ms=7,
            label=f"optimum over f, g ∈ {{±1}}^n ({d['restarts']} Powell starts per orbit)")
    ax.plot(ns, [r["random_max_over_osc"] for r in rows], marker="s", ls=":",
            label=f"max over {d['random_pairs_per_n']} random (f, g), g ∈ [−1, 1]^n")
    ax.axhline(d["bound_over_osc"], color="k", ls="--", lw=1, label="bound 1/(3√3) = 0.19245")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_ylim(0.12, 0.205)
    ax.legend(fontsize=7.5, loc="lower left", title_fontsize=7.5,
              title=f"max ‖E‖ found {v['measured']:.10f} (osc = 2), bound 2/(3√3) = {v['bound']:.10f}: {v['verdict']}")
    style.save(fig, path)


@figure("C3.6")
def c36(v: dict, path: Path) -> None:
    """Quantiles of λ_min(∇²_x) over the sampled (X, Y): with the rule's regulariser (against l) and without (against 0)."""
    d = v["details"]
    levels = d["quantile_levels"]
    fig, (ax, bx) = style.axes_pair(f"C3.6: PD lemma in x, λ_min(∇²_x) over {d['points_per_size']} random (X, Y) "
                                    f"per size (R = {d['R']:g}, l = {d['l']:g})")
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
    style.save(fig, path)


@figure("C3.7")
def c37(v: dict, path: Path) -> None:
    """M̂ against n, one line per R (geometric mean over instances, instances as dots), with the fitted slopes."""
    d = v["details"]
    table = d["table"]
    ns = sorted({r["n"] for r in table})
    Rs = sorted({r["R"] for r in table})
    slopes = {s["R"]: s for s in d["slope_in_n_by_R"]}
    fig, ax = style.axes(f"C3.7: Hessian-Lipschitz M̂ (d = {d['d']}, {d['instances']} instances per n, "
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
    style.plain_ticks(ax, ns)
    ax.legend(fontsize=7.5, loc="lower right", title="geometric mean; slope in n [95% interval]", title_fontsize=7.5)
    ax.text(0.02, 0.97, "dots: single instances; paper's M unknown [R?]", transform=ax.transAxes, fontsize=7.5,
            va="top")
    style.save(fig, path)


def _guide(ax, x, y, slope, label, fmt="k--"):
    """A power-law guide of the given slope through the geometric mean of the points (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    x0, y0 = np.exp(np.mean(np.log(x))), np.exp(np.mean(np.log(y)))
    grid = np.geomspace(x.min(), x.max(), 20)
    ax.plot(grid, y0 * (grid / x0) ** slope, fmt, lw=1, label=label)


@figure("C3.11")
def c311(v: dict, path: Path) -> None:
    """Time of the non-Hessian work against n and of the d²×d² solve against d, log-log, with fits and guides."""
    d = v["details"]
    pn, pd = d["points_n"], d["points_d"]
    fig, (ax, bx) = style.axes_pair(f"C3.11: cost of one iteration, single-threaded CPU time (median of "
                                    f"{d['repeats']} after a warm-up)")
    ns = [p["n"] for p in pn]
    ax.plot(ns, [p["cpu_s"] for p in pn], marker="o",
            label=f"S + ∇_x L + Y-step, d = {d['cost_d']}: slope {d['slope_n']['slope']:.2f}")
    ax.plot(ns, [p["hessian_build_s"] for p in pn], marker="s", ls=":", color="gray",
            label=f"Hessian build (not in the claim): slope {d['hessian_build_slope_n']['slope']:.2f}")
    _guide(ax, ns, [p["cpu_s"] for p in pn], 2.0, "slope 2 (classical T_mat(n, n, d))")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, ns)
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
    style.plain_ticks(bx, ds)
    bx.set_xlabel("d")
    bx.set_ylabel("seconds per call")
    bx.legend(fontsize=7, loc="lower right", title=f"band [{d['d_band'][0]:g}, {d['d_band'][1]:g}]; verdict: "
              f"{v['verdict']}", title_fontsize=7)
    style.save(fig, path)



@figure("C3.9")
def c39(v: dict, path: Path) -> None:
    """‖x_t − x*‖ against the Newton step, exact and row-sampled Hessian, one line per start."""
    det = v["details"]
    fig, ax = style.axes(f"C3.9: Newton in x with Y fixed (n = {det['n']}, d = {det['d']})", "Newton step t",
                         "‖x_t − x*‖")
    colors = {0.1: "#1f77b4", 0.01: "#d62728"}
    seen = set()
    for s in det["starts"]:
        c = colors.get(s["rho"], "gray")
        for key, ls, name in (("exact_r", "-", "exact Hessian"), ("sampled_r", "--", f"sampled Hessian, s = {det['sample_size']}")):
            r = np.array([s["rho"], *s[key]])
            pos = r > 0
            label = f"ρ = {s['rho']:g}, {name}" if (s["rho"], key) not in seen else None
            seen.add((s["rho"], key))
            ax.plot(np.arange(len(r))[pos], r[pos], ls=ls, color=c, lw=1.0, alpha=0.7, marker="o", ms=2.5, label=label)
    ax.axhline(1e-12, color="black", lw=0.8, ls=":", label="1e-12 (pass: ≤ 6 exact steps)")
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper right")
    style.save(fig, path)


@figure("C3.10")
def c310(v: dict, path: Path) -> None:
    """Relative loss gap of the alternating method against iteration, (b) near z* and (a) from zero."""
    det = v["details"]
    regime = f", {v['regime']} regime" if v.get("regime") else ""
    fig, axes = style.axes_pair("C3.10: alternating method on planted instances (n = 16, d = 3): local vs from zero"
                                + regime)
    for ax, key, title in ((axes[0], "near", "(b) from z* + 1e-2·ξ: linear rate (local claim)"),
                           (axes[1], "zero", "(a) from X = Y = 0: reported as it comes out")):
        for row in det[key]:
            t, gap = np.array(row["gap_iters"]), np.array(row["gap_curve"])
            pos = gap > 0
            label = f"instance {row['instance']}: final gap {row['final_gap']:.1e}"
            if row.get("ended_below_reference"):
                label += " (ended below L*)"
            elif row["q"] is not None and key == "near":
                label += f", q = {row['q']:.3f}/iteration"
            ax.plot(t[pos], gap[pos], marker="o", ms=2.5, lw=1.1, label=label)
        ax.set_yscale("log")
        ax.set_xlabel("outer iteration (Y-step + damped Newton step in x)")
        ax.set_ylabel("(L_t − L*)/(L_0 − L*)")
        ax.set_title(title, fontsize=9.5)
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    style.save(fig, path)
