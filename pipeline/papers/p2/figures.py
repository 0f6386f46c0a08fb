"""Figures of P2's claims (C2.1–C2.8, C2.11), drawn from their verdicts' details only.

C2.1–C2.6: the SPSA bias, the moments, the per-step decrease, the constants and the noise ratio
(checks of ``lemmas``); C2.7, C2.8 and C2.11: the laws judged on the zo_* studies (``e2``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure


@figure("C2.1")
def c21(v: dict, path: Path) -> None:
    """SPSA bias against ε: the paired bias, the plain error of the mean and the ε² law with the leading constant."""
    d = v["details"]
    rows = d["by_eps"]
    eps = np.array([r["eps"] for r in rows])
    fig, ax = style.axes(f"C2.1: SPSA bias against ε (d = {d['d']}, {d['draws']:,} Gaussian draws)",
                         "ε (perturbation scale)", "relative error ‖·‖/‖∇L‖")
    ax.errorbar(eps, [r["bias"] for r in rows], yerr=[r["bias_se"] for r in rows], marker="o", ls="-", capsize=3,
                label="bias: ‖mean(ĝ_ε − zzᵀ∇L)‖ (same draws), ± 1 s.e.")
    ax.plot(eps, [r["rel_error"] for r in rows], marker="s", ls=":", label="‖ḡ − ∇L‖ (plain mean of ĝ_ε)")
    ax.plot(eps, [r["rel_error_se"] for r in rows], color="gray", ls="--", lw=1, label="s.e. of the plain mean")
    grid = np.geomspace(eps.min(), eps.max(), 50)
    ax.plot(grid, d["C_leading"] * grid**2, "k--", lw=1,
            label=f"Cε², C = ‖∇tr∇²L‖/(2‖∇L‖) = {d['C_leading']:.3g} (leading term)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, sorted(eps))
    ax.text(0.98, 0.03, f"bias shrinks {d['shrink_per_decade_1e-2_to_1e-3']:.1f}× per decade (1e-2 → 1e-3);\n"
            "at ε = 1e-5 it is at the float64 round-off floor", transform=ax.transAxes, fontsize=7.5, ha="right",
            va="bottom")
    ax.legend(fontsize=7.5, loc="center left")
    style.save(fig, path)


@figure("C2.2")
def c22(v: dict, path: Path) -> None:
    """E‖ĝ_n‖²/‖u‖² against n for each d and kind of z, with both exact factors and the paper's factor."""
    cells = v["details"]["cells"]
    fig, (ax, bx) = style.axes_pair("C2.2: SPSA second moment E‖ĝ_n‖²/‖u‖² (P2-L1), ε → 0")
    ns = sorted({c["n"] for c in cells})
    grid = np.geomspace(min(ns), max(ns), 60)
    colors = {20: "#4c72b0", 100: "#c44e52"}
    for dim in sorted({c["d"] for c in cells}):
        col = colors.get(dim)
        for kind, marker in (("gaussian", "o"), ("sphere", "s")):
            pts = sorted((c["n"], c["ratio"], c["ratio_se"], c["paper"]) for c in cells
                         if c["d"] == dim and c["kind"] == kind)
            n, r, se, paper = (np.array(t) for t in zip(*pts))
            ax.plot(n, r, marker=marker, ls="none", color=col, mfc="none" if kind == "sphere" else col,
                    label=f"measured, d = {dim}, {kind} z")
            bx.errorbar(n * (1.04 if kind == "sphere" else 0.96), r / paper, yerr=se / paper, marker=marker, ls="none",
                        color=col, mfc="none" if kind == "sphere" else col, capsize=3,
                        label=f"measured, d = {dim}, {kind} z")
        ax.plot(grid, (dim + grid + 1) / grid, color=col, ls="-", lw=1, alpha=0.6)
        ax.plot(grid, (dim + grid - 1) / grid, color=col, ls="--", lw=1, alpha=0.6)
        bx.plot(grid, (dim + grid + 1) / (dim + grid - 1), color=col, ls="-", lw=1, alpha=0.6,
                label=f"Gaussian exact (d+n+1)/(d+n−1), d = {dim}")
    ax.plot([], [], "k-", lw=1, label="Gaussian exact (d+n+1)/n")
    ax.plot([], [], "k--", lw=1, label="paper's (d+n−1)/n = sphere exact")
    bx.axhline(1.0, color="k", ls="--", lw=1, label="paper's factor = sphere exact")
    bx.axhspan(0.99, 1.01, color="gray", alpha=0.15, label="±1% (pass band)")
    ax.set_xlabel("n (perturbations per estimate)")
    ax.set_ylabel("E‖ĝ_n‖² / ‖u‖²")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, ns)
    ax.legend(fontsize=7, loc="upper right")
    bx.set_xlabel("n (perturbations per estimate)")
    bx.set_ylabel("measured factor / paper's factor (d+n−1)/n")
    bx.set_xscale("log")
    style.plain_ticks(bx, ns)
    top = max(c["ratio"] / c["paper"] for c in cells)
    bx.set_ylim(0.98, 1.0 + 1.7 * (top - 1.0))
    bx.legend(fontsize=6.5, loc="upper right", ncol=2)
    style.save(fig, path)


@figure("C2.3")
def c23(v: dict, path: Path) -> None:
    """E[ĝ_nᵀHĝ_n] against the bound ℓγ‖u‖² per cell (γ of the kind, and the printed γ for Gaussian z)."""
    cells = v["details"]["cells"]
    fig, ax = style.axes("C2.3: E[ĝ_nᵀHĝ_n] / ℓγ‖u‖² per cell (H = ∇²L(x), u = ∇L(x))", "cell (d, n)",
                         "E[ĝᵀHĝ] / (ℓγ‖u‖²)")
    keys = sorted({(c["d"], c["n"]) for c in cells})
    pos = {k: i for i, k in enumerate(keys)}
    for kind, marker, off, col in (("gaussian", "o", -0.12, "#4c72b0"), ("sphere", "s", 0.12, "#dd8452")):
        sub = [c for c in cells if c["kind"] == kind]
        x = np.array([pos[(c["d"], c["n"])] + off for c in sub])
        ax.errorbar(x, [c["over_bound"] for c in sub], yerr=[c["quad_se"] / c["bound"] for c in sub], marker=marker,
                    ls="none", color=col, capsize=3, label=f"Monte Carlo, {kind} z, γ of its kind (± 1 s.e.)")
        ax.plot(x, [c["formula_over_bound"] for c in sub], marker="_", ms=14, ls="none", color="k")
        if kind == "gaussian":
            ax.plot(x, [c["over_printed_bound"] for c in sub], marker="x", ls="none", color="#c44e52",
                    label="Gaussian z against the printed (sphere) γ")
    ax.plot([], [], marker="_", ms=14, ls="none", color="k", label="exact formula of P2.2")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="bound ℓγ‖u‖²")
    ax.set_xticks(range(len(keys)), [f"d={d}\nn={n}" for d, n in keys], fontsize=8)
    ax.legend(fontsize=7, loc="upper right")
    style.save(fig, path)


@figure("C2.4")
def c24(v: dict, path: Path) -> None:
    """P2-L2 per point of the trajectory: actual decrease against the guaranteed one, and their ratio."""
    d = v["details"]
    pts = d["points"]
    t = np.array([p["t"] for p in pts]) + 1
    fig, (ax, bx) = style.axes_pair(f"C2.4: per-step decrease (P2-L2), B-sweep instance, B = {d['B']}, n = {d['n']}, "
                                    f"η = {d['eta']:.3g}, {d['draws']:,} draws per point")
    for kind, col in (("sphere", "#dd8452"), ("gaussian", "#4c72b0")):
        ax.errorbar(t, [-p[kind]["lhs"] for p in pts], yerr=[p[kind]["se"] for p in pts], marker="o", ls="none",
                    color=col, capsize=2, ms=4, label=f"L(x_t) − E L(x_t+1), {kind} z (± 1 s.e.)")
        ax.plot(t, [-p[kind]["rhs"] for p in pts], ls="--", color=col, lw=1,
                label=f"guaranteed decrease (−RHS), γ = {'printed (sphere)' if kind == 'sphere' else '1 + (r+1)/n'}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("iteration t + 1 of the ZO-SGD trajectory")
    ax.set_ylabel("one-step decrease of L")
    ax.legend(fontsize=6.5, loc="lower left")
    for kind, key, rhs_key, col, marker, label in (
            ("sphere", "lhs", "rhs", "#dd8452", "s", "sphere z, printed γ (the lemma)"),
            ("gaussian", "lhs", "rhs", "#4c72b0", "o", "Gaussian z, γ = 1 + (r+1)/n"),
            ("gaussian", "lhs", "rhs_printed_gamma", "#c44e52", "x", "Gaussian z, printed γ (finding)")):
        ok = [p for p in pts if p[kind][rhs_key] < 0]
        bx.errorbar(np.array([p["t"] for p in ok]) + 1, [p[kind][key] / p[kind][rhs_key] for p in ok],
                    yerr=[p[kind]["se"] / abs(p[kind][rhs_key]) for p in ok], marker=marker, ls="none", color=col,
                    capsize=2, ms=4, label=label)
    for kind, key, col in (("sphere", "pred_ratio", "#dd8452"), ("gaussian", "pred_ratio", "#4c72b0"),
                           ("gaussian", "pred_ratio_printed_gamma", "#c44e52")):
        bx.plot(t, [p[kind][key] if p[kind][key] is not None else np.nan for p in pts], ls=":", color=col, lw=1)
    bx.plot([], [], ls=":", color="gray", lw=1, label="second-order predictions (exact moments of P2.2)")
    bx.axhline(1.0, color="k", ls="--", lw=1, label="ratio 1: decrease = guaranteed")
    bx.set_xscale("log")
    bx.set_xlabel("iteration t + 1 of the ZO-SGD trajectory")
    bx.set_ylabel("actual / guaranteed decrease (LHS/RHS)")
    bx.legend(fontsize=6.5, loc="best")
    style.save(fig, path)


@figure("C2.5")
def c25(v: dict, path: Path) -> None:
    """λ_max/ℓ_tight against λ_min/μ_tight of ∇²L at the sampled points: the pass region is x ≥ 1, y ≤ 1."""
    d = v["details"]
    fig, ax = style.axes(f"C2.5: Hessian extremes over the R-balls (one instance, {d['points_per_R']} points per R)",
                         "λ_min(∇²L(x)) / tight μ", "λ_max(∇²L(x)) / tight ℓ")
    xmax = 1.0
    for b in sorted(d["by_R"], key=lambda b: -b["R"]):  # the largest ball first, the smaller ones on top
        x = np.array(b["lambda_min"]) / d["mu_tight"]
        xmax = max(xmax, float(x.max()))
        ax.scatter(x, np.array(b["lambda_max"]) / d["ell_tight"], s=6, alpha=0.5,
                   label=f"points with ‖x‖ ≤ R = {b['R']:g}")
    ax.axhline(1.0, color="k", ls="--", lw=1,
               label=f"tight ℓ = ‖A‖²(0.3082 + max w²) = {d['ell_tight']:.3g} (λ_max below)")
    ax.axvline(1.0, color="k", ls=":", lw=1,
               label=f"tight μ = σ_min(A)²(min w² − 0.2405) = {d['mu_tight']:.3g} (λ_min right of it)")
    ax.set_xlim(0, 1.15 * xmax)
    ax.set_ylim(0, 1.15)
    ax.text(0.02, 0.03, f"finite sum (m = 100): sup‖∇²L‖ / tight ℓ = "
            f"{d['finite_sum_sup_norm'] / d['finite_sum_ell_tight']:.2f}\npaper's ℓ and μ: unknown [R?]",
            transform=ax.transAxes, fontsize=7.5, ha="left", va="bottom")
    ax.legend(fontsize=7.5, loc="center left")
    style.save(fig, path)


@figure("C2.6")
def c26(v: dict, path: Path) -> None:
    """tr Σ(x)/(L(x) − L*) against ‖x − x*‖: bounded by the quadratic-model α when realizable, blowing up otherwise."""
    d = v["details"]
    r = np.array(d["radii"])
    fig, ax = style.axes("C2.6: gradient-noise ratio tr Σ(x)/(L(x) − L*) near x* (B4)", "‖x − x*‖",
                         "tr Σ(x) / (L(x) − L*)")
    ax.scatter(r, d["ratios"], s=8, alpha=0.6, label="B-sweep instance (realizable, centred)")
    ax.scatter(r, d["control_ratios"], s=8, alpha=0.6, marker="^",
               label=f"control: non-realizable (slope {d['control_slope_vs_radius']:.2f})")
    ax.axhline(d["alpha"], color="k", ls="--", lw=1, label=f"quadratic-model α = {d['alpha']:.3g}")
    ax.axhspan(0.8 * d["alpha"], 1.2 * d["alpha"], color="gray", alpha=0.3, label="α ± 20% (the max must lie here)")
    grid = np.geomspace(r.min(), r.max(), 50)
    cr = np.abs(np.array(d["control_ratios"]))
    x0, y0 = np.exp(np.mean(np.log(r))), np.exp(np.mean(np.log(cr)))
    ax.plot(grid, y0 * (grid / x0) ** -2.0, color="gray", ls=":", lw=1.2,
            label="slope −2 (through the control's geometric mean)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=7.5, loc="upper right")
    style.save(fig, path)


#: marker and legend of each full-batch zo_* study in the figures of C2.7 and C2.8
STUDY_STYLE = {"zo_rank": ("o", "r varied"), "zo_kappa": ("s", "κ varied"), "zo_dim": ("D", "d varied"),
               "zo_nperturb": ("^", "n varied")}


@figure("C2.7")
def c27(v: dict, path: Path) -> None:
    """T_dec/(κγ) of every configuration against κγ, with the bound ln(10)·1.1 and the [V] range of docs/theory/p2.md."""
    rows = v["details"]["configurations"]
    fig, ax = style.axes("C2.7 / C2.9: T_dec/(κγ) for every ZO-SGD configuration (median over seeds)"
                         + (f"\n{v['regime']} regime" if v.get("regime") else ""),
                         "κγ (measured κ; γ = 1 + (r+1)/n)", "T_dec / (κγ)")
    for study, (marker, label) in STUDY_STYLE.items():
        sel = [r for r in rows if r["study"] == study]
        if sel:
            ax.scatter([r["kappa"] * r["gamma"] for r in sel], [r["T_dec"] / (r["kappa"] * r["gamma"]) for r in sel],
                       marker=marker, s=30, label=f"{study} ({label})", zorder=3)
    ax.axhline(1.1 * math.log(10), color="#a11", ls="--", lw=1.2, label="pass threshold 1.1·ln 10 (bound of P2-Thm, η = 1/(ℓγ))")
    ax.axhline(math.log(10), color="#a11", ls=":", lw=1.0, label="ln 10: the theorem's bound per decade")
    ax.axhspan(1.07, 1.21, color="gray", alpha=0.15, label="theory's reference range [1.07, 1.21] [V]")
    ax.set_xscale("log")
    ax.set_ylim(0, 3.2)
    ax.legend(fontsize=7, loc="center", bbox_to_anchor=(0.5, 0.58), ncol=2)
    style.save(fig, path)


@figure("C2.8")
def c28(v: dict, path: Path) -> None:
    """Measured T_dec against the joint power-law fit, with the fitted exponents and their bands."""
    d = v["details"]
    rows = d["configurations"]
    fig, ax = style.axes("C2.8: joint fit log T_dec = a + b_κ log κ + b_γ log γ + b_d log d"
                         + (f"\n{v['regime']} regime" if v.get("regime") else ""),
                         "fitted T_dec = e^a κ^b_κ γ^b_γ d^b_d", "measured T_dec (median over seeds)")
    for study, (marker, label) in STUDY_STYLE.items():
        sel = [r for r in rows if r["study"] == study]
        if sel:
            ax.scatter([r["T_fit"] for r in sel], [r["T_dec"] for r in sel], marker=marker, s=30,
                       label=f"{study} ({label})", zorder=3)
    lo = min(min(r["T_fit"] for r in rows), min(r["T_dec"] for r in rows)) / 1.3
    hi = max(max(r["T_fit"] for r in rows), max(r["T_dec"] for r in rows)) * 1.3
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--", label="measured = fitted")
    ax.set_xscale("log")
    ax.set_yscale("log")
    text = "\n".join(f"{t['coefficient']} = {t['fitted']:.3f} [{t['ci_low']:.2f}, {t['ci_high']:.2f}]"
                     f"  theory {t['theory']:g}, band [{t['band_low']:g}, {t['band_high']:g}]: {t['verdict']}"
                     for t in d["table"])
    ax.text(0.02, 0.98, text, transform=ax.transAxes, fontsize=7.5, va="top", family="monospace")
    ax.legend(fontsize=7.5, loc="lower right")
    style.save(fig, path)


@figure("C2.11")
def c211(v: dict, path: Path) -> None:
    """T_dec against B with the fitted c0(1 + B0/B), the prediction κγ(1 + α/(μB)) and the bound."""
    d = v["details"]
    B, T = np.array(d["B"]), np.array(d["T_dec"])
    regime = f"\n{v['regime']} regime, softmax share {d['softmax_share']:.2g}" if v.get("regime") else ""
    fig, ax = style.axes("C2.11: B-sweep, iterations per decade against the batch size" + regime,
                         "batch size B (drawn with replacement)", "T_dec (median over seeds)")
    grid = np.geomspace(B.min() / 1.2, B.max() * 1.2, 100)
    ax.scatter(B, T, color="C2", s=30, zorder=3, label="ZO-SGD, η = min(1, μB/α)/(ℓγ)")
    ax.plot(grid, d["c0"] * (1 + d["B0"] / grid), color="C2", lw=1.2,
            label=f"fit c0(1 + B0/B): c0 = {d['c0']:.3g} ({d['c0_over_kappa_gamma']:.2f}·κγ), "
                  f"B0 = {d['B0']:.3g} ({d['B0_over_alpha_over_mu']:.2f}·α/μ)")
    kg, am = d["kappa"] * d["gamma"], d["alpha_over_mu"]
    ax.plot(grid, kg * (1 + am / grid), color="black", lw=1, ls="--",
            label=f"prediction κγ(1 + α/(μB)), κγ = {kg:.3g}, α/μ = {am:.3g}")
    ax.plot(grid, 2 * kg * np.maximum(1, am / grid) * math.log(10), color="#a11", lw=1, ls=":",
            label="bound 2γκ·max(1, α/(μB))·ln 10")
    ax.axvline(am, color="gray", lw=0.8, ls="-.", label="B = α/μ")
    tuned = d.get("tuned")
    if tuned:
        Tt = np.array(tuned["T_dec"], dtype=float)
        ax.scatter(B, Tt, color="C0", marker="s", s=26, zorder=3,
                   label="control: best constant step c/(ℓγ) per B, c ∈ {" + ", ".join(f"{c:g}" for c in tuned["scales"]) + "}")
        if np.isfinite(tuned["B0"]):
            ax.plot(grid, tuned["c0"] * (1 + tuned["B0"] / grid), color="C0", lw=1.0,
                    label=f"control fit: B0 = {tuned['B0']:.3g} ({tuned['B0'] / am:.2f}·α/μ)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(B), [f"{b:g}" for b in B])
    ax.minorticks_off()
    ax.legend(fontsize=7, loc="upper right")
    style.save(fig, path)

