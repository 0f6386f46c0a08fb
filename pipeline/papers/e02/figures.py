"""Figures of E02's claims (E02.C1–E02.C3), each drawn from its verdict record alone."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure

FLOOR = 1e-17


def num(v, floor: float = FLOOR) -> float:
    """A number of the verdict record (NaN for null), at least ``floor`` (log axes)."""
    x = math.nan if v is None else float(v)
    return max(x, floor) if math.isfinite(x) else x


def y_ticks(ax, values) -> None:
    """Plain tick labels on a log y axis spanning ``values`` (1-2-5 steps), when matplotlib would label one decade
    or none."""
    vs = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not vs:
        return
    lo, hi = min(vs) / 1.3, max(vs) * 1.3
    steps = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in (1, 2, 5)]
    ticks = [s for s in steps if lo <= s <= hi]
    if len(ticks) >= 2:
        import matplotlib.ticker as mt

        ax.set_yticks(ticks, [f"{s:g}" for s in ticks])
        ax.yaxis.set_minor_formatter(mt.NullFormatter())


def panels(title: str, count: int, width: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, count, figsize=(width, 4.6), dpi=120)
    fig.suptitle(title, fontsize=10.5)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.25)
    return fig, axes


@figure("E02.C1")
def c1(v: dict, path: Path) -> None:
    """Left: the largest error of every derivative and identity over the instances (log scale), with its limit,
    and the controls. Right: exact against Gauss–Newton eigenvalues of ∇²L at zero residual, with the reference's."""
    d = v["details"]
    fig, (ax, bx) = style.axes_pair(f"E02.C1: derivatives of σ_*(x) and L (n = {d['n']}, d = {d['d']}, "
                                    f"{len(d['instances'])} instances)", width=12.0)
    rows = d["table"]
    names = [r["check"].split(" (")[0].replace("_", " ") for r in rows]
    vals = [num(r["max_over_instances"]) for r in rows]
    colors = ["#c44e52" if r["check"].startswith("control") else "#4c72b0" for r in rows]
    ax.barh(range(len(rows)), vals, color=colors)
    for i, r in enumerate(rows):
        if not r["max_over_instances"]:
            ax.text(2e-17, i, "0 (exact)", va="center", fontsize=7)
    for i, r in enumerate(rows):
        lim = r["limit"]
        x = float(str(lim).replace("≥ ", "")) if isinstance(lim, str) else float(lim)
        ax.plot([x, x], [i - 0.4, i + 0.4], color="k", lw=1.5)
    ax.set_xscale("log")
    ax.set_xlim(1e-17, 10)
    ax.set_yticks(range(len(rows)), names, fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlabel("largest relative error over the instances (black tick: the limit)")
    ax.set_title("blue: analytic vs differences/autograd/identities; red: controls (must exceed 1e-2)", fontsize=8)
    for sp in d["spectra"]:
        bx.scatter(sp["gauss_newton"], sp["exact"], s=18, alpha=0.8, color="#4c72b0")
    bx.scatter([], [], s=18, color="#4c72b0", label=f"our instances (max relative gap {d['zero_residual']['max_gap']:.1e})")
    ref = d["zero_residual"]["reference"]
    bx.scatter(ref, ref, marker="x", s=60, color="k", zorder=5, label="reference spectrum (one instance, seed unknown)")
    allv = [x for sp in d["spectra"] for x in sp["exact"]] + ref
    lo, hi = min(allv) / 1.5, max(allv) * 1.5
    bx.plot([lo, hi], [lo, hi], color="gray", lw=1, ls="--", label="exact = Gauss–Newton")
    bx.set_xscale("log")
    bx.set_yscale("log")
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20) if lo <= t <= hi]
    bx.set_xticks(ticks, [f"{t:g}" for t in ticks])
    bx.set_yticks(ticks, [f"{t:g}" for t in ticks])
    bx.xaxis.set_minor_formatter(__import__("matplotlib").ticker.NullFormatter())
    bx.yaxis.set_minor_formatter(__import__("matplotlib").ticker.NullFormatter())
    bx.set_xlabel("eigenvalues of 4A(x*)ᵀΛ²A(x*) (Gauss–Newton)")
    bx.set_ylabel("eigenvalues of the exact ∇²L(x*)")
    bx.set_title("zero residual: only the Gauss–Newton term survives", fontsize=9.5)
    bx.legend(fontsize=7, loc="upper left")
    style.save(fig, path)


@figure("E02.C2")
def c2(v: dict, path: Path) -> None:
    """Distance to x* against iteration for Newton, GD and the control (left), approximate Gauss–Newton per s/d
    (middle), and the linear rate against s with 2ε̂₀ and the fits (right)."""
    d = v["details"]
    fig, (ax, bx, cx) = panels("E02.C2: local rates (left: n = 60, d = 5; middle, right: approximate Gauss–Newton, "
                               f"n = {d['agn_n']}, d = {d['agn_d']})", 3, 16.5)
    _local_panel(ax, d)
    _sketch_runs_panel(bx, d)
    _rate_panel(cx, d)
    style.save(fig, path)


def _local_panel(ax, d: dict) -> None:
    for i, r in enumerate(d["newton"]):
        ax.plot(range(len(r["distance"])), [num(e) for e in r["distance"]], "o-", ms=3, color="#4c72b0",
                label="Newton" if i == 0 else None)
    for i, r in enumerate(d["gd"]):
        ax.plot(range(len(r["distance"])), [num(e) for e in r["distance"]], "-", lw=1, color="#55a868",
                label=f"GD, η = 1/L̂ (factor {r['max_factor']:.3f} ≤ 1 − l̂/L̂ = {r['bound']:.3f})" if i == 0 else None)
    for i, r in enumerate(d["gauss_newton_noisy"]):
        ax.plot(range(len(r["distance"])), [num(e) for e in r["distance"]], "s--", ms=3, color="#c44e52",
                label="control: Gauss–Newton, noisy target (linear)" if i == 0 else None)
    ref = d["newton_reference"]
    ax.plot(range(len(ref)), ref, "kx", ms=7, label="reference Newton run")
    ax.set_yscale("log")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlim(-0.5, max(len(r["distance"]) for r in d["gd"]) * 1.2)
    ax.set_ylim(1e-17, 1)
    ax.set_xlabel("iteration (linear to 10, log beyond)")
    ax.set_ylabel("‖x_t − x*‖")
    ax.legend(fontsize=6.5, loc="lower left")


def _sketch_runs_panel(bx, d: dict) -> None:
    import matplotlib

    seed = d["exact_gauss_newton"][0]["seed"]
    runs = [r for r in d["sketch_runs"] if r["seed"] == seed]
    factors = sorted({r["factor"] for r in runs})
    cmap = matplotlib.colormaps["viridis"]
    for j, f in enumerate(factors):
        lev = next(r for r in runs if r["factor"] == f and r["scores"] == "leverage")
        bx.plot(range(len(lev["distance"])), [num(e) for e in lev["distance"]], "o-", ms=2.5,
                color=cmap(j / max(1, len(factors) - 1)), label=f"leverage, s = {f:g}d")
    for f in (factors[len(factors) // 2], factors[-1]):
        uni = next(r for r in runs if r["factor"] == f and r["scores"] == "uniform")
        bx.plot(range(len(uni["distance"])), [num(e) for e in uni["distance"]], ":", lw=1.5, color="#c44e52",
                label=f"control: uniform, s = {f:g}d" if f == factors[-1] else f"uniform, s = {f:g}d")
    gn = d["exact_gauss_newton"][0]["distance"]
    bx.plot(range(len(gn)), [num(e) for e in gn], "k^-", ms=4, label="exact Gauss–Newton (all rows)")
    bx.set_yscale("log")
    bx.set_ylim(1e-17, 10)
    bx.set_xlabel("iteration")
    bx.set_ylabel("‖x_t − x*‖")
    bx.set_title(f"one instance (data seed {seed}); sampled rows of G = 2ΛA(x)", fontsize=9)
    bx.legend(fontsize=6, loc="lower left", ncol=2)


def _rate_panel(cx, d: dict) -> None:
    lev = [r for r in d["sketch"] if r["scores"] == "leverage"]
    uni = [r for r in d["sketch"] if r["scores"] == "uniform"]
    s = [r["s"] for r in lev]
    fr, fe = d["fits"]["rate"], d["fits"]["eps0"]
    lab_r = f"median rate (fit s ≥ 4d: slope {fr['slope']:.2f} [{fr['ci_low']:.2f}, {fr['ci_high']:.2f}])" if fr else "median rate"
    lab_e = (f"2ε̂₀ (ε̂₀ slope {fe['slope']:.2f} [{fe['ci_low']:.2f}, {fe['ci_high']:.2f}], theory −0.5)"
             if fe else "2ε̂₀")
    cx.plot(s, [r["rate"] for r in lev], "o-", color="#4c72b0", label=lab_r)
    cx.plot(s, [2 * r["eps0"] for r in lev], "s--", color="#dd8452", label=lab_e)
    cx.plot([r["s"] for r in uni], [r["rate"] for r in uni], "v:", color="#c44e52", label="control: uniform sampling, rate")
    ss = np.array([r["s"] for r in lev if r["factor"] >= 4], float)
    if fr and len(ss):
        centre = np.log10(np.median([r["rate"] for r in lev if r["factor"] >= 4]))
        cx.plot(ss, 10 ** (fr["slope"] * (np.log10(ss) - np.mean(np.log10(ss))) + centre), color="#4c72b0", lw=0.8,
                alpha=0.6)
    cx.axhline(1.0, color="gray", lw=1, ls="--", label="rate 1 (no contraction)")
    cx.set_xscale("log")
    cx.set_yscale("log")
    style.plain_ticks(cx, s)
    cx.tick_params(axis="x", labelsize=7)
    y_ticks(cx, [r["rate"] for r in lev + uni] + [2 * r["eps0"] for r in lev])
    cx.set_title("medians over the instances, leverage against uniform sampling", fontsize=9)
    cx.set_xlabel("s (rows sampled per iteration)")
    cx.set_ylabel("linear rate: geometric mean of e_(t+1)/e_t")
    cx.legend(fontsize=6.5, loc="lower left")


@figure("E02.C3")
def c3(v: dict, path: Path) -> None:
    """Success rate against r0 per s_min (left), λ_min against κ(A) with the fit and the slope −2 (middle), λ_min
    against min|s| in both families (right)."""
    d = v["details"]
    fig, (ax, bx, cx) = panels(f"E02.C3: basin and conditioning of the optimum (n = {d['n']}, d = {d['d']}, Newton)",
                               3, 16.5)
    radii = d["radii"]
    for r in d["basin"]:
        ax.plot(radii, [r[f"success_{r0:g}"] for r0 in radii], "o-", ms=4,
                label=f"|s| ~ U[{r['s_min']:g}, 3]: r_½ = {r['r_half']:g}, nearest pole {r['pole_distance']:.2g}")
    ax.axhline(0.5, color="gray", lw=1, ls=":")
    ax.set_xscale("log")
    style.plain_ticks(ax, radii)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("r0 = ‖x0 − x*‖")
    ax.set_ylabel("fraction of starts that reach x* (Newton)")
    ax.legend(fontsize=6.5, loc="lower left")
    ks = [r["kappa"] for r in d["kappas"]]
    bx.plot(ks, [r["lambda_min"] for r in d["kappas"]], "o", color="#4c72b0", label="λ_min(∇²L(x*)), median")
    bx.plot(ks, [r["lambda_max"] for r in d["kappas"]], "s", color="#8172b2", label="λ_max(∇²L(x*)), median")
    f = d["kappa_fit"]
    if f:
        grid = np.geomspace(10.0, max(ks), 20)
        bx.plot(grid, 10 ** (f["intercept"] + f["slope"] * np.log10(grid)), color="#4c72b0", lw=1.2,
                label=f"fit κ ≥ 10: slope {f['slope']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}]")
        bx.plot(grid, 10 ** (f["intercept"] + f["slope"] * np.log10(10.0)) * (grid / 10.0) ** -2.0, "k--", lw=1,
                label=f"theory slope −2 (band {d['kappa_band']})")
    bx.set_xscale("log")
    bx.set_yscale("log")
    style.plain_ticks(bx, ks)
    bx.set_xlabel("κ(A) (same Gaussian draw, singular values σ_1 … σ_1/κ)")
    bx.set_ylabel("eigenvalue of ∇²L(x*)")
    bx.set_title(f"A_κ = A₀M: ‖M⁻ᵀ∇²L_κM⁻¹ − ∇²L₀‖/‖∇²L₀‖ ≤ {d['reparametrisation_error']:.0e}", fontsize=8.5)
    bx.legend(fontsize=6.5, loc="lower left")
    cx.plot([r["min_abs_s"] for r in d["poles"]], [r["lambda_min"] for r in d["poles"]], "o-", color="#4c72b0",
            label="two rows near their poles, bulk |s| ~ U[1, 3] (judged)")
    cx.plot([r["min_abs_s"] for r in d["basin"]], [r["lambda_min"] for r in d["basin"]], "s--", color="#dd8452",
            label="|s| ~ U[s_min, 3]: raw λ_min follows the scale of |s|")
    noisy = [r for r in d["noisy"] if r["w"] > 0]
    cx.set_xscale("log")
    cx.set_yscale("log")
    y_ticks(cx, [r["lambda_min"] for r in d["poles"] + d["basin"]])
    cx.set_xlabel("min_i |s_i(x*)|")
    cx.set_ylabel("λ_min(∇²L(x*)), median over instances")
    lam, gn = [r["lambda_min"] for r in noisy], [r["lambda_min_gauss_newton"] for r in noisy]
    cx.set_title(f"noisy targets, w > 0: λ_min {min(lam):.2g}–{max(lam):.2g} > 0 "
                 f"(Gauss–Newton part alone: {min(gn):.2g}–{max(gn):.2g})", fontsize=8.5)
    cx.legend(fontsize=6.5, loc="upper right")
    style.save(fig, path)
