"""Figures of E09's claims (E09.C1–E09.C3), each drawn from its verdict record alone."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure

ERRORS = [("jacobian", "Jacobian ∂v/∂x"), ("gradient", "gradient"), ("hessian", "Hessian"), ("hvp", "HVP vs Hessian"),
          ("gauss_newton_split", "MᵀM + CᵀW²C + curv. vs Hessian"), ("control_no_softmax_term", "control: no softmax term")]


def num(v, floor: float = 0.0) -> float:
    """A number of the verdict record (null → NaN), at least ``floor``."""
    x = math.nan if v is None else float(v)
    return max(x, floor) if math.isfinite(x) else x


@figure("E09.C1")
def c1(v: dict, path: Path) -> None:
    """Relative errors of each model's derivatives against differences (grouped bars, log scale), with the pass
    threshold and the control's."""
    d = v["details"]
    rows = d["table"]
    fig, ax = style.axes(f"E09.C1: derivatives of the two-layer loss against differences (n = {d['n']}, d = {d['d']}, "
                         f"m = {d['m']}, worst of {d['points']} points)", "model: activation φ, reading",
                         "relative error max|a − b|/max|b|", size=(11.0, 4.8))
    width = 0.8 / len(ERRORS)
    colors = ["#4c72b0", "#55a868", "#8172b2", "#64b5cd", "#ccb974", "#c44e52"]
    for j, ((key, label), c) in enumerate(zip(ERRORS, colors)):
        ax.bar(np.arange(len(rows)) + (j - (len(ERRORS) - 1) / 2) * width, [num(r[key], 1e-18) for r in rows], width,
               color=c, label=label)
    ax.axhline(1e-6, color="k", ls="--", lw=1, label="pass threshold 1e-6 (differences)")
    ax.axhline(1e-3, color="#c44e52", ls=":", lw=1, label="the control must exceed 1e-3")
    ax.set_xticks(range(len(rows)), [f"{r['activation']}\n{r['reading']}" for r in rows])
    ax.set_yscale("log")
    ax.set_ylim(1e-18, 1e6)  # room above the bars for the legend
    ax.legend(fontsize=7, ncol=4, loc="upper left")
    same = ", ".join(f"{r['reading']}: {num(r['relu_vs_identity_hessian']):.2g}" for r in d["readings"])
    style.caption(fig, f"relu and identity rows coincide: every pre-activation is positive (min Au = "
                       f"{min(r['min_pre_activation'] for r in rows if r['reading'] == 'composed'):.3g}; read-out: φ acts on "
                       f"u > 0), so ReLU is the identity here (largest Hessian difference, relative: {same}). Jacobian: "
                       f"fourth-order differences, h = 1e-4; gradient: h = 1e-6; Hessian: differences of the gradient, h = 1e-5.")
    style.save(fig, path)


def _trajectories(ax, d: dict) -> None:
    runs = [r for r in d["runs"] if r["seed"] == 0 and r["r0"] == d["sweep_r0"] and r["scores"] in ("full", "leverage")]
    for r in sorted(runs, key=lambda r: (r["scores"] != "full", r["factor"])):
        dist = np.array([num(x, 1e-16) for x in r["distance"]])
        label = "exact Newton" if r["scores"] == "full" else f"s = {r['factor']:g}d ({r['status']})"
        ax.plot(np.arange(len(dist)), dist, marker="o" if r["scores"] == "full" else None, ms=3,
                lw=2 if r["scores"] == "full" else 1.2, color="k" if r["scores"] == "full" else None, label=label)
    ax.axhline(d["tol"], color="gray", ls=":", lw=1, label=f"tolerance {d['tol']:g}")
    ax.axhline(d["x_star_offset"], color="#c44e52", ls="--", lw=1,
               label=f"‖x* − x_true‖ = {d['x_star_offset']:.2g} (the plateau of an error to x_true)")
    ax.set_yscale("log")
    ax.set_ylim(1e-16, 1e3)
    ax.set_xlabel("iteration t")
    ax.set_ylabel("‖x_t − x*‖ (x*: the regularised minimiser)")
    ax.set_title(f"leverage sketch, first direction, r0 = {d['sweep_r0']:g}", fontsize=9.5)
    ax.legend(fontsize=6.5, loc="upper right")


def _iterations(ax, d: dict) -> None:
    import matplotlib.ticker

    rows = d["table"]
    for scores, color, mk in (("leverage", "#4c72b0", "o"), ("uniform", "#dd8452", "s")):
        rs = [r for r in rows if r["scores"] == scores]
        pts = [(r["factor"], r["median_iterations"]) for r in rs if r["median_iterations"] is not None and r["converged"] == r["runs"]]
        if pts:
            ax.plot(*zip(*pts), marker=mk, color=color, label=f"{scores} scores: median iterations to {d['tol']:g}")
        pred = [(r["factor"], r["predicted_iterations"]) for r in rs if r["predicted_iterations"] is not None and r["converged"]]
        if pred:
            ax.scatter(*zip(*pred), marker=mk, facecolors="none", edgecolors=color, s=60,
                       label=f"{scores}: log(r0/tol)/log(1/ρ), ρ the median ratio")
        bad = [r["factor"] for r in rs if r["converged"] < r["runs"]]
        if bad:
            ax.scatter(bad, [70] * len(bad), marker="x", color=color, s=50,
                       label=f"{scores}: not every run converged (drawn at 70)")
    newton = [r["iterations"] for r in d["runs"] if r["scores"] == "full" and r["r0"] == d["sweep_r0"] and r["iterations"] is not None]
    if newton:
        ax.axhline(float(np.median(newton)), color="k", lw=1.5, ls="--",
                   label=f"exact Newton (median {np.median(newton):g} iterations)")
    factors = sorted({r["factor"] for r in rows})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, 100)
    ax.set_yticks([1, 2, 5, 10, 20, 50, 100], ["1", "2", "5", "10", "20", "50", "100"])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    style.plain_ticks(ax, factors)
    ax.set_xlabel("sample size s / d (rows of M = GC drawn per iteration)")
    ax.set_ylabel(f"iterations to ‖x_t − x*‖ ≤ {d['tol']:g}")
    ax.set_title("iteration complexity against the sample size", fontsize=9.5)
    ax.legend(fontsize=6.5, loc="upper right")


def _bound(ax, d: dict) -> None:
    steps = np.array([s[:4] for s in d["steps"]], dtype=float) if d["steps"] else np.zeros((0, 4))
    inside = steps[:, 3] == 1
    ax.scatter(steps[inside, 1], steps[inside, 0], s=8, color="#4c72b0", alpha=0.6, label="sampled steps with ε₀,t ≤ 1/2 (judged)")
    ax.scatter(steps[~inside, 1], steps[~inside, 0], s=8, color="#bbbbbb", alpha=0.6, label="ε₀,t in (1/2, 1): beyond the framework (not judged)")
    ax.scatter(steps[:, 2], steps[:, 0], s=4, color="#c44e52", alpha=0.25, label="control: the bound without ε₀")
    lo, hi = 1e-4, 10.0
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="ratio = bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(1e-3, hi)
    ax.set_xlabel("bound 2(ε₀,t + Mr_t/(l − Mr_t))")
    ax.set_ylabel("measured r_{t+1}/r_t")
    ax.set_title(f"one-step bound, l = {d['l']:.3g}, M = {d['M']:.3g} (measured)", fontsize=9.5)
    ax.legend(fontsize=6.5, loc="lower right")


@figure("E09.C2")
def c2(v: dict, path: Path) -> None:
    """Error against iteration for each s (and Newton); iterations to tolerance against s; the measured per-step
    ratio against the framework's bound (and against the bound without ε₀, the control)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = v["details"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16.5, 5.0), dpi=120)
    fig.suptitle(f"E09.C2: local convergence of exact and approximate Newton (d = {d['d']}, error to x*)", fontsize=10.5)
    for ax in (a, b, c):
        ax.grid(True, which="both", alpha=0.25)
    _trajectories(a, d)
    _iterations(b, d)
    _bound(c, d)
    ref = "; ".join(f"{r['quantity']}: {_fmt(r['measured'])} (reference {_fmt(r['reference'])})" for r in d["reference_values"])
    style.caption(fig, f"Against the reference run of the write-up — {ref}. Judged: sampled steps with ε₀,t ≤ 1/2 and "
                       f"Mr_t < l (blue, all on or below the diagonal); beyond ε₀ = 1/2 the factor 2ε₀ is not a bound "
                       f"(worst ratio/bound there {num(d['beyond_framework']['worst_over_bound']):.3g}).")
    style.save(fig, path)


def _fmt(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return " → ".join(f"{float(x):.2g}" for x in v)
    return f"{float(v):.2g}"


def _kappa_panels(a, b, d: dict) -> None:
    ks = [r for r in d["table"] if r["sweep"] == "kappa_C"]
    x = np.array([r["kappa_C"] for r in ks])
    a.scatter(x, [r["lambda_min"] for r in ks], color="#4c72b0", s=22, label="λ_min(∇²L(x*)), each instance")
    f = d["fit"]
    if f:
        grid = np.geomspace(d["fit_kappa_min"], x.max(), 20)
        a.plot(grid, 10 ** f["intercept"] * grid ** f["slope"], color="#4c72b0",
               label=f"fit (κ(C) ≥ {d['fit_kappa_min']:g}): slope {f['slope']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]")
        a.plot(grid, 10 ** f["intercept"] * grid[0] ** (f["slope"] + 2) * grid ** -2.0, "k--", lw=1,
               label=f"theory slope −2, band [{d['band'][0]:g}, {d['band'][1]:g}]")
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("κ(C) (‖C‖ fixed, ‖Cx*‖∞ = 3)")
    a.set_ylabel("λ_min(∇²L(x*))")
    a.set_title("smallest eigenvalue against κ(C)", fontsize=9.5)
    a.legend(fontsize=7, loc="lower left")
    b.scatter(x, [r["basin"] for r in ks], color="#55a868", marker="o", s=26, label="measured Newton basin (grid 0.01·2^k)")
    b.scatter(x, [r["framework_radius"] for r in ks], color="#c44e52", marker="v", s=26, label="framework's radius 0.1·l/M")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("κ(C)")
    b.set_ylabel("radius ‖x0 − x*‖")
    b.set_title("basin of exact Newton against the framework's good start", fontsize=9.5)
    b.legend(fontsize=7, loc="lower left")


def _peak_panel(ax, d: dict) -> None:
    import matplotlib.ticker

    for p in d["peaked"]:
        rs = sorted((r for r in d["table"] if r["sweep"] == "logit_scale" and r["seed"] == p["seed"]), key=lambda r: r["value"])
        ax.plot([r["value"] for r in rs], [r["lambda_min"] for r in rs], marker="o", ms=4,
                label=f"instance {p['seed']}: top output u_max from {rs[0]['u_max']:.3f} to {rs[-1]['u_max']:.2f}"
                      + ("" if p["judged"] else " (not judged: u_max < 0.1)"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    lam = [r["lambda_min"] for r in d["table"] if r["sweep"] == "logit_scale"]
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200) if min(lam) / 1.5 <= t <= max(lam) * 1.5]
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("logit scale ‖Cx*‖∞ (C fixed, x_true scaled)")
    ax.set_ylabel("λ_min(∇²L(x*))")
    ax.set_title("smallest eigenvalue against the softmax's peakedness", fontsize=9.5)
    ax.legend(fontsize=7, loc="lower left")


def _control_panel(ax, d: dict) -> None:
    ks = sorted((r for r in d["table"] if r["sweep"] == "kappa_C"), key=lambda r: r["kappa_C"])
    x = [r["kappa_C"] for r in ks]
    ax.scatter(x, [r["sketch_iterations"] for r in ks], color="#4c72b0", s=24, label="leverage sketch: iterations to 1e-10")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1, 1e3)
    ax.set_xlabel("κ(C)")
    ax.set_ylabel("iterations (sketched Newton)")
    tw = ax.twinx()
    tw.scatter(x, [max(r["gd_progress"], 1e-16) for r in ks], color="#c44e52", marker="s", s=24,
               label="control: gradient descent, ‖x_T − x*‖/r0 after the budget")
    tw.set_yscale("log")
    tw.set_ylim(1e-16, 10)
    tw.set_ylabel("gradient descent: remaining error ‖x_T − x*‖/r0")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = tw.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower right")
    ax.set_title("Newton is affine invariant; gradient descent is not", fontsize=9.5)


@figure("E09.C3")
def c3(v: dict, path: Path) -> None:
    """λ_min against κ(C) (fit, theory −2); λ_min against the logit scale per instance; the Newton basin against the
    framework's radius; the sketched iterations and the gradient-descent control against κ(C)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = v["details"]
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 9.0), dpi=120)
    fig.suptitle("E09.C3: conditioning of the minimiser against κ(C) and the softmax's peakedness", fontsize=10.5)
    for ax in axes.flat:
        ax.grid(True, which="both", alpha=0.25)
    _kappa_panels(axes[0, 0], axes[1, 0], d)
    _peak_panel(axes[0, 1], d)
    _control_panel(axes[1, 1], d)
    style.save(fig, path)
