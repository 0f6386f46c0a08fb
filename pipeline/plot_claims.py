"""Figures of the claims' evidence, drawn from ``results/verify/verdicts.json`` only.

One function per claim that has something to show; each writes
``<results_dir>/figures/<claim>.png`` (e.g. ``C1.5.png``).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np


def _axes(title: str, xlabel: str, ylabel: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    ax.set_title(title, fontsize=10.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def _plain_ticks(ax, values) -> None:
    """Label a log x axis at the data's own values, written plainly (2, 5, 10 rather than 2×10⁰)."""
    import matplotlib.ticker
    ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def _parse(key: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=([^,]+)", key))


def c13(v: dict, path: Path) -> None:
    """Optimum of -λ_min(B) found against n, with the tight constants 0.2405 (ℓ1) and 5/16 (ℓ2)."""
    d = v["details"]
    fig, ax = _axes("C1.3: worst lower eigenvalue of B(x) over f and b", "n (length of f and b)", "max −λ_min(B) found")
    for name, key, tight, m in (("‖b‖₁ ≤ 1", "l1_by_n", 0.2405, "o"), ("‖b‖₂ ≤ 1", "l2_by_n", 0.3125, "s")):
        ns = sorted(d[key], key=int)
        line = ax.plot([int(n) for n in ns], [d[key][n] for n in ns], marker=m, label=f"found, {name}")[0]
        ax.axhline(tight, color=line.get_color(), ls="--", lw=1, label=f"tight reference {tight:g}")
    ax.set_xscale("log")
    _plain_ticks(ax, sorted({int(n) for n in d["l1_by_n"]} | {int(n) for n in d["l2_by_n"]}))
    ax.set_ylim(0, 0.4)
    ax.legend(fontsize=8, loc="lower right")
    _save(fig, path)


def c14(v: dict, path: Path) -> None:
    """Smallest Hessian eigenvalue found per case against the lemma's bound l, and the w = 0 control."""
    d = v["details"]
    cases = sorted(d["min_lambda_by_case"])
    vals = [d["min_lambda_by_case"][c] for c in cases]
    fig, ax = _axes("C1.4: PD lemma, min λ_min(∇²L(x)) over the points tried (l = 1)", "", "min λ_min(∇²L)")
    ax.bar(range(len(cases)), vals, color="#4c72b0", label="C_w = 0.25, weights from the PD rule")
    ax.bar([len(cases)], [d["control_min_lambda"]], color="#c44e52", label="control: w = 0, b = e₁, A = I₄")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="lemma's bound l = 1")
    ax.axhline(0.0, color="gray", lw=0.8)
    ax.set_xticks(range(len(cases) + 1), [c.replace(",", "\n") for c in cases] + ["control"], fontsize=7)
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def c15(v: dict, path: Path) -> None:
    """Measured Hessian-Lipschitz M̂ against R for each n, with the tight bound 0.572R³."""
    d = v["details"]["M_hat"]
    rows = [(_parse(k), val) for k, val in d.items()]
    ns = sorted({int(r["n"]) for r, _ in rows})
    fig, ax = _axes("C1.5: Hessian-Lipschitz constant M̂ (‖A‖ = R)", "R (radius of the ball, = ‖A‖)", "M̂ (measured)")
    Rs = sorted({float(r["R"]) for r, _ in rows})
    for n in ns:
        pts = sorted((float(r["R"]), val) for r, val in rows if int(r["n"]) == n)
        ax.plot(*zip(*pts), marker="o", label=f"measured, n = {n}")
    grid = np.geomspace(min(Rs), max(Rs), 50)
    ax.plot(grid, 0.572 * grid**3, "k--", lw=1, label="tight bound 0.572 R³")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax, Rs)
    ax.legend(fontsize=8, loc="lower right")
    ax.text(0.02, 0.97, "paper: M = exp(O(R² + log n)), constants unknown", transform=ax.transAxes, fontsize=8,
            va="top")
    _save(fig, path)


def c16(v: dict, path: Path) -> None:
    """Worst spectral deviation of the sparsified Hessian against ε0, leverage vs uniform sampling."""
    cases = v["details"]["by_case"]
    fig, ax = _axes("C1.6: sparsifier, max |eig(H^-1/2 H̃ H^-1/2) − 1| over the trials", "ε0 (s = ⌈d ln(d/δ)/ε0²⌉ rows)",
                    "max spectral deviation")
    for scores, marker in (("exact", "o"), ("uniform", "s")):
        pts = sorted((float(_parse(k)["eps0"]), c["max_deviation"]) for k, c in cases.items() if k.endswith(scores))
        label = "leverage-score sampling" if scores == "exact" else "uniform sampling (control)"
        ax.plot(*zip(*pts), marker=marker, label=label)
    eps = sorted({float(_parse(k)["eps0"]) for k in cases})
    ax.plot(eps, eps, "k--", lw=1, label="deviation = ε0 (pass line)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax, eps)
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)


def c17(v: dict, path: Path) -> None:
    """Distance to x* per step with the one-step bound of P1-L8 evaluated at the measured ε̂0(t) and M̂."""
    fig, ax = _axes("C1.7: one-step shrinking, r_{t+1} against 2(ε̂0 + M̂r/(l − M̂r))·r", "iteration t",
                    "‖x_t − x*‖")
    for (name, rows), color in zip(v["details"]["runs"].items(), ("#4c72b0", "#dd8452")):
        r = [rows[0]["r"]] + [row["r_next"] for row in rows]
        ax.plot(range(len(r)), r, marker="o", color=color, label=f"r_t, start {name.replace('_', ' ')}")
        bt = [(t + 1, row["bound"]) for t, row in enumerate(rows) if row["applicable"]]
        if bt:
            ax.plot(*zip(*bt), ls="--", marker="x", color=color, alpha=0.7, label=f"bound on r_t, {name.replace('_', ' ')}")
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper right")
    _save(fig, path)


def c19(v: dict, path: Path) -> None:
    """Time of one iteration against nnz(A), approximate vs exact Newton, with the fit and slope 1."""
    d = v["details"]
    pts = d["points"]
    fig, ax = _axes("C1.9: time of one iteration against nnz(A) (sparse A, d = 20)", "nnz(A)",
                    "seconds per iteration (median)")
    floor = d["fit_nnz_min"]
    for key, label, m in (("approx_s", "approximate Newton, sketched scores", "o"), ("exact_s", "exact Newton", "s")):
        for n in sorted({p["n"] for p in pts}):
            sub = sorted((p["nnz"], p[key]) for p in pts if p["n"] == n)
            ax.plot(*zip(*sub), marker=m, ls=":" if key == "exact_s" else "-",
                    label=f"{label}, n = {n:g}")
    used = sorted((p["nnz"], p["approx_s"]) for p in pts if p["nnz"] >= floor)
    if len(used) >= 2 and v["measured"] == v["measured"]:
        xs = np.array([u[0] for u in used], float)
        ys = np.array([u[1] for u in used], float)
        c = np.exp(np.mean(np.log(ys)) - v["measured"] * np.mean(np.log(xs)))
        grid = np.geomspace(xs.min(), xs.max(), 20)
        ax.plot(grid, c * grid ** v["measured"], "k-", lw=1.5, alpha=0.6,
                label=f"fit on nnz ≥ {floor}: slope {v['measured']:.2f} (band [0.8, 1.2]: {v['verdict']})")
        ax.plot(grid, float(np.exp(np.mean(np.log(ys)))) * (grid / float(np.exp(np.mean(np.log(xs))))),
                "k--", lw=1, label="slope 1 (input-sparsity time) through the fitted points")
    ax.axvline(floor, color="gray", lw=0.8, ls=":")
    if d.get("slope_against_nnz_plus_n") is not None:
        ax.text(0.98, 0.03, f"approximate Newton, all points: slope {d['slope_against_nnz_plus_n']:.2f} against "
                f"nnz + n,\n{d['slope_all_points']:.2f} against nnz (length-n vectors cost O(n) when rows are empty)",
                transform=ax.transAxes, fontsize=7, ha="right", va="bottom")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left")
    _save(fig, path)


def _axes_pair(title: str, width: float = 11.0):
    """A figure with two panels side by side (for a claim with two views of its evidence)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(width, 4.4), dpi=120)
    fig.suptitle(title, fontsize=10.5)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


def c21(v: dict, path: Path) -> None:
    """SPSA bias against ε: the paired bias, the plain error of the mean and the ε² law with the leading constant."""
    d = v["details"]
    rows = d["by_eps"]
    eps = np.array([r["eps"] for r in rows])
    fig, ax = _axes(f"C2.1: SPSA bias against ε (d = {d['d']}, {d['draws']:,} Gaussian draws)", "ε (perturbation scale)",
                    "relative error ‖·‖/‖∇L‖")
    ax.errorbar(eps, [r["bias"] for r in rows], yerr=[r["bias_se"] for r in rows], marker="o", ls="-", capsize=3,
                label="bias: ‖mean(ĝ_ε − zzᵀ∇L)‖ (same draws), ± 1 s.e.")
    ax.plot(eps, [r["rel_error"] for r in rows], marker="s", ls=":", label="‖ḡ − ∇L‖ (plain mean of ĝ_ε)")
    ax.plot(eps, [r["rel_error_se"] for r in rows], color="gray", ls="--", lw=1, label="s.e. of the plain mean")
    grid = np.geomspace(eps.min(), eps.max(), 50)
    ax.plot(grid, d["C_leading"] * grid**2, "k--", lw=1,
            label=f"Cε², C = ‖∇tr∇²L‖/(2‖∇L‖) = {d['C_leading']:.3g} (leading term)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax, sorted(eps))
    ax.text(0.98, 0.03, f"bias shrinks {d['shrink_per_decade_1e-2_to_1e-3']:.1f}× per decade (1e-2 → 1e-3);\n"
            "at ε = 1e-5 it is at the float64 round-off floor", transform=ax.transAxes, fontsize=7.5, ha="right",
            va="bottom")
    ax.legend(fontsize=7.5, loc="center left")
    _save(fig, path)


def c22(v: dict, path: Path) -> None:
    """E‖ĝ_n‖²/‖u‖² against n for each d and kind of z, with both exact factors and the paper's factor."""
    cells = v["details"]["cells"]
    fig, (ax, bx) = _axes_pair("C2.2: SPSA second moment E‖ĝ_n‖²/‖u‖² (P2-L1), ε → 0")
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
    _plain_ticks(ax, ns)
    ax.legend(fontsize=7, loc="upper right")
    bx.set_xlabel("n (perturbations per estimate)")
    bx.set_ylabel("measured factor / paper's factor (d+n−1)/n")
    bx.set_xscale("log")
    _plain_ticks(bx, ns)
    top = max(c["ratio"] / c["paper"] for c in cells)
    bx.set_ylim(0.98, 1.0 + 1.7 * (top - 1.0))
    bx.legend(fontsize=6.5, loc="upper right", ncol=2)
    _save(fig, path)


def c23(v: dict, path: Path) -> None:
    """E[ĝ_nᵀHĝ_n] against the bound ℓγ‖u‖² per cell (γ of the kind, and the printed γ for Gaussian z)."""
    cells = v["details"]["cells"]
    fig, ax = _axes("C2.3: E[ĝ_nᵀHĝ_n] / ℓγ‖u‖² per cell (H = ∇²L(x), u = ∇L(x))", "cell (d, n)",
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
    _save(fig, path)


def c24(v: dict, path: Path) -> None:
    """P2-L2 per point of the trajectory: actual decrease against the guaranteed one, and their ratio."""
    d = v["details"]
    pts = d["points"]
    t = np.array([p["t"] for p in pts]) + 1
    fig, (ax, bx) = _axes_pair(f"C2.4: per-step decrease (P2-L2), B-sweep instance, B = {d['B']}, n = {d['n']}, "
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
    _save(fig, path)


def c25(v: dict, path: Path) -> None:
    """λ_max/ℓ_tight against λ_min/μ_tight of ∇²L at the sampled points: the pass region is x ≥ 1, y ≤ 1."""
    d = v["details"]
    fig, ax = _axes(f"C2.5: Hessian extremes over the R-balls (one instance, {d['points_per_R']} points per R)",
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
    _save(fig, path)


def c26(v: dict, path: Path) -> None:
    """tr Σ(x)/(L(x) − L*) against ‖x − x*‖: bounded by the quadratic-model α when realizable, blowing up otherwise."""
    d = v["details"]
    r = np.array(d["radii"])
    fig, ax = _axes("C2.6: gradient-noise ratio tr Σ(x)/(L(x) − L*) near x* (B4)", "‖x − x*‖", "tr Σ(x) / (L(x) − L*)")
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
    _save(fig, path)


FIGURES: dict[str, Callable[[dict, Path], None]] = {"C1.3": c13, "C1.4": c14, "C1.5": c15, "C1.6": c16, "C1.7": c17,
                                                    "C1.9": c19, "C2.1": c21, "C2.2": c22, "C2.3": c23, "C2.4": c24,
                                                    "C2.5": c25, "C2.6": c26}


def draw_claims(verdicts: list[dict], figures_dir: Path, suffix: str = "") -> list[Path]:
    """Each claim's figure as ``<claim><suffix>.png`` (suffix ``_timing`` for the wall-clock claims)."""
    from pipeline.plot_claims_e2 import FIGURES as E2  # the claims judged on the zo_* studies
    from pipeline.plot_claims_p3 import FIGURES as P3  # the P3 lemmas and cost (C3.5–C3.7, C3.11)
    from pipeline.plot_claims_p3_newton import FIGURES as P3N  # P3's convergence claims (C3.9, C3.10)

    out = []
    for v in verdicts:
        fn = FIGURES.get(v["claim"]) or E2.get(v["claim"]) or P3.get(v["claim"]) or P3N.get(v["claim"])
        if fn is not None:
            path = figures_dir / f"{v['claim']}{suffix}.png"
            fn(v, path)
            out.append(path)
    return out
