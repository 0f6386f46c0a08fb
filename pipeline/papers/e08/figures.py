"""Figures of E08's claims (E08.C1–E08.C3), each drawn from its verdict record alone."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure

#: one colour per method of C2 (the base methods' own steps dotted)
COLORS = {"sgd": "#4c72b0", "sgd+rva(sign)": "#8172b2", "sgdm": "#937860", "sgdm+framework": "#dd8452",
          "sgdm+ra": "#55a868", "sgdm+rva(mix)": "#64b5cd", "adam": "#8c8c8c", "adam+framework": "#c44e52",
          "adam+ra": "#da8bc3", "adam+rva(mix)": "#ccb974"}
FIT, CTRL, FAR = "#4c72b0", "#c44e52", "#8c8c8c"


def _fit_label(name: str, fit: dict) -> str:
    ci = fit.get("ci")
    return f"{name}: slope {fit['slope']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _fit_line(ax, xs, fit: dict, color: str, ls: str = "--") -> None:
    if fit.get("ci") is None or fit["slope"] is None or not math.isfinite(fit["slope"]):
        return
    grid = np.geomspace(min(xs), max(xs), 20)
    ax.plot(grid, 10.0 ** (fit["intercept"] + fit["slope"] * np.log10(grid)), color=color, lw=1, ls=ls, alpha=0.8)


@figure("E08.C1")
def c1(v: dict, path: Path) -> None:
    """Largest residual of the identities against c² for each random pair (log y), with the two wrong coefficients."""
    d = v["details"]
    pts = d["scatter"]
    fig, ax = style.axes("E08.C1: the framework's identities on random pairs (∇f, v)", "c² = cos²∠(v, ∇f)",
                         "largest relative residual of the identities", size=(7.4, 4.8))
    floor = 1e-18
    for key, name, color, mk in (("residual", "g = ∇f + 2|⟨v,∇f⟩|/‖v‖² v (the framework)", FIT, "o"),
                                 ("factor_1", "control: coefficient 1 instead of 2", CTRL, "^"),
                                 ("no_absolute_value", "control: no absolute value", FAR, "s")):
        ax.scatter([p["c2"] for p in pts], [max(p[key], floor) for p in pts], s=10, color=color, marker=mk, alpha=0.6,
                   label=name)
    ax.axhline(d["tol"], color="k", ls=":", lw=1, label=f"tolerance {d['tol']:g}")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 10)
    ax.legend(fontsize=7, loc="center right")
    steps = "; ".join(f"{r['base']}: {r['accelerating']} acc. / {r['decelerating']} dec. steps, residual ≤ "
                      f"{r['identity']:.0e}, move ≤ {r['move']:.0e}" for r in d["optimizer_steps"])
    style.caption(fig, f"Dimensions {', '.join(str(r['d']) for r in d['table'])} ({d['table'][0]['draws']} pairs each; "
                       f"residuals of exactly 0 drawn at {floor:g}). Residuals relative to ‖∇f‖², decade ceilings. "
                       f"Steps of the framework optimizer on the finite sum — {steps}. Verdict: {v['verdict']}.")
    style.save(fig, path)


@figure("E08.C2")
def c2(v: dict, path: Path) -> None:
    """Per batch size: the running minimum of the seeds' mean ‖∇f(x_t)‖² against t for each method (the theorem's
    min_t E‖∇f(x_t)‖² up to t) and its pooled bound (dashed); last panel: every run's min_t ‖∇f(x_t)‖² / bound, with
    the control's ratio to the noiseless rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = v["details"]
    groups = d["groups"]
    batches = sorted({g["batch"] for g in groups})
    fig, axes = plt.subplots(1, len(batches) + 1, figsize=(4.6 * (len(batches) + 1), 4.8), dpi=120)
    fig.suptitle(f"E08.C2: the bound against mini-batch runs (m = {d['m']}, d = {d['d']}, T = {d['T']}, "
                 f"{d['seeds']} seeds, one step η per batch)", fontsize=10.5)
    for ax, B in zip(axes, batches):
        at = [g for g in groups if g["batch"] == B]
        for g in at:
            c = COLORS.get(g["method"], "k")
            it = np.asarray(g["iterations"], float)
            y = np.minimum.accumulate(np.asarray(g["mean_g2"], float))   # min_{s ≤ t} of the seeds' mean
            keep = it > 0
            ax.plot(it[keep], y[keep], color=c, lw=1.2, ls="-" if g["framework_form"] else ":", label=g["method"])
            if g["pooled_bound"] is not None:
                ax.axhline(g["pooled_bound"], color=c, lw=0.9, ls="--", alpha=0.8)
        ax.axhline(d["instance"]["grad_norm2_x0"], color="k", lw=0.8, ls="-.")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"batch {B}, η = {at[0]['eta']:.3g}", fontsize=9.5)
        ax.set_xlabel("iteration t")
        ax.set_ylabel("min over s ≤ t of the seeds' mean ‖∇f(x_s)‖²")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=6, loc="lower left", ncol=2)
    bx = axes[-1]
    names = list(dict.fromkeys(r["method"] for r in d["runs"] if r["framework_form"]))
    for i, name in enumerate(names):
        rs = [r for r in d["runs"] if r["method"] == name and r["ratio"] is not None]
        for r in rs:
            bx.scatter(i + 0.15 * (batches.index(r["batch"]) - 1), r["ratio"], color=COLORS.get(name, "k"), s=14,
                       marker="osD"[batches.index(r["batch"]) % 3], alpha=0.8)
        inf = [r for r in d["runs"] if r["method"] == name and r["framework_form"] and r["bound"] is None]
        if inf:
            bx.text(i, 2.0, f"∞×{len(inf)}", ha="center", fontsize=6.5, color=COLORS.get(name, "k"), rotation=90)
    ctrl = d["control_runs"]
    bx.scatter([len(names)] * len(ctrl), [c["min_g2"] / c["noiseless"] for c in ctrl], color=CTRL, marker="x", s=30)
    bx.axhline(1.0, color="k", lw=1)
    bx.set_yscale("log")
    bx.set_xticks(range(len(names) + 1), names + ["control:\nmin/(Δ/ηT)"], rotation=70, fontsize=6.5)
    bx.set_ylabel("min_t ‖∇f(x_t)‖² / bound (per run)")
    bx.set_title("runs of the framework's form (o/s/D: batch " + "/".join(str(b) for b in batches) + ")", fontsize=9)
    bx.grid(True, which="both", alpha=0.25)
    vac = d["vacuous"]
    style.caption(fig, f"Solid: steps of the framework's form; dotted: the base methods' own SGDm/Adam steps (no bound). "
                       f"Dashed: the bound with the step used and the seeds' pooled k, l, u_a, u_b, B, σ², L, Δ; dash-dot: "
                       f"‖∇f(x0)‖². Of {vac['framework_form_runs']} runs of the framework's form, {vac['infinite']} have "
                       f"T + 2ku_a − 2lu_b ≤ 0 (bound +∞) and {vac['at_or_above_grad_norm2_x0']} a bound ≥ ‖∇f(x0)‖² (vacuous: "
                       f"x0 meets it); min_t ‖∇f(x_t)‖² sits a median {vac['median_decades_below_bound']:.1f} decades below "
                       f"the bound. Control (×): SGD at η = 1/L, batch 1, min_t ‖∇f(x_t)‖² over the noiseless rate Δ/(ηT). "
                       f"Verdict: {v['verdict']}.")
    style.save(fig, path)


@figure("E08.C3")
def c3(v: dict, path: Path) -> None:
    """σ², the bound and min ‖∇f‖² against the batch size (log-log) with their fits; the control and the far start."""
    d = v["details"]
    fig, (ax, bx) = style.axes_pair("E08.C3: the bound's batch-size law (SGD, theorem's step per batch, T = "
                                    f"{d['T']}, {d['seeds']} seeds)", width=12.0)
    rows, tab, f = d["runs"], d["table"], d["fits"]
    bs = [r["batch"] for r in tab]
    ax.scatter([r["batch"] for r in rows], [r["sigma2"] for r in rows], color=FIT, s=14, alpha=0.6)
    ax.plot(bs, [r["sigma2"] for r in tab], color=FIT, marker="o", label=_fit_label("σ² (x0 near x*)", f["sigma2"]))
    _fit_line(ax, bs, f["sigma2"], FIT)
    ct = d["control_table"]
    ax.plot([r["batch"] for r in ct], [r["sigma2"] for r in ct], color=CTRL, marker="^",
            label=_fit_label("control: B copies of one draw", d["control_fits"]["sigma2"]))
    ft = d["far_table"]
    ax.plot([r["batch"] for r in ft], [r["sigma2"] for r in ft], color=FAR, marker="s",
            label=_fit_label("x0 = 0 (mean gradient dominates)", d["far_fits"]["sigma2"]))
    ref = tab[0]["sigma2"]
    ax.plot(bs, [ref / b for b in bs], "k:", lw=1, label="∝ 1/batch")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, bs)
    ax.set_xlabel("batch size")
    ax.set_ylabel("σ² = max over checkpoints of E‖∇f_t‖²")
    ax.legend(fontsize=7, loc="lower left")
    bx.scatter([r["batch"] for r in rows], [r["bound"] for r in rows], color=FIT, s=14, alpha=0.6)
    bx.plot(bs, [r["bound"] for r in tab], color=FIT, marker="o",
            label=_fit_label("bound with the step used", f["bound"]))
    _fit_line(bx, bs, f["bound"], FIT)
    bx.plot(bs, [r["min_g2"] for r in tab], color="#55a868", marker="D",
            label=_fit_label("min_t ‖∇f(x_t)‖² (mean over seeds)", f["min_g2"]))
    _fit_line(bx, bs, f["min_g2"], "#55a868")
    bx.plot([r["batch"] for r in ct], [r["bound"] for r in ct], color=CTRL, marker="^",
            label=_fit_label("control: bound, B copies of one draw", d["control_fits"]["bound"]))
    bx.plot([r["batch"] for r in ft], [r["bound"] for r in ft], color=FAR, marker="s",
            label=_fit_label("bound from x0 = 0", d["far_fits"]["bound"]))
    bx.plot(bs, [tab[0]["bound"] / math.sqrt(b) for b in bs], "k:", lw=1, label="∝ batch^(−1/2)")
    bx.axhline(rows[0]["grad_norm2_x0"], color="k", lw=0.8, ls="-.", label="‖∇f(x0)‖² (x0 near x*)")
    bx.set_xscale("log")
    bx.set_yscale("log")
    style.plain_ticks(bx, bs)
    bx.set_xlabel("batch size")
    bx.set_ylabel("bound, and min_t ‖∇f(x_t)‖²")
    bx.legend(fontsize=6.5, loc="lower left")
    style.caption(fig, f"{d['regime']}. Bands: σ² slope {d['bands']['sigma2']}, bound slope {d['bands']['bound']}. "
                       f"Faint points: each run. Verdict: {v['verdict']}.")
    style.save(fig, path)
