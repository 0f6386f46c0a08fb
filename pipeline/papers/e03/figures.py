"""Figures of E03's claims (E03.C1–E03.C4), drawn from each claim's verdict record alone.

Each function is registered with :func:`~pipeline.papers.figure` for its claim and writes the PNG it is
given (``results/figures/E03.C1.png`` … ``E03.C4.png``) in the lab's figure style (:mod:`pipeline.core.style`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure

SIDE_STYLE = {"vanishing": "-", "dense": "--", "boundary": ":"}


def _grid(title: str, panels: int):
    """A figure with ``panels`` panels on a 2-column grid, in the lab's style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (panels + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(11.0, 4.0 * rows), dpi=120, squeeze=False)
    fig.suptitle(title, fontsize=10.5)
    axes = axes.ravel()
    for ax in axes[panels:]:
        ax.remove()
    for ax in axes[:panels]:
        ax.grid(True, which="both", alpha=0.25)
    return fig, list(axes[:panels])


@figure("E03.C1")
def e03_c1(v: dict, path: Path) -> None:
    """Tail outside the top ⌈n^C⌉ against n, one panel per C (line style: side of the threshold), and the
    tail outside the top ⌊ln n⌋."""
    d = v["details"]
    cells = d["cells"]
    side = {(t["C"], t["c"]): t["side"] for t in d["table"]}
    Cs = sorted({t["C"] for t in d["table"]})
    cs = sorted({t["c"] for t in d["table"]})
    fig, axes = _grid("E03.C1: mass outside the top k of a row of Gaussian logits, σ = c√(2 ln n)", len(Cs) + 1)
    colors = {c: f"C{i}" for i, c in enumerate(cs)}
    ns = d["ns"]
    for ax, C in zip(axes, Cs):
        for c in cs:
            pts = cells[f"C={C:g},c={c:g}"]
            ax.plot([p["n"] for p in pts], [p["tail"] for p in pts], marker="o", ms=3, color=colors[c],
                    ls=SIDE_STYLE[side[(C, c)]], label=f"c = {c:g} ({side[(C, c)]})")
        if C == 0.5:
            ctrl = d["control_rows"]
            ax.plot([p["n"] for p in ctrl], [p["tail"] for p in ctrl], marker="x", color="k", ls="-.",
                    label="control σ = 1 (k = ⌈√n⌉)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(f"k = ⌈n^{C:g}⌉, threshold c = √(1 − C) = {np.sqrt(1 - C):.3g}", fontsize=9)
        ax.set_xlabel("n (row length)")
        ax.set_ylabel("mean tail mass τ")
        ax.legend(fontsize=6.5, loc="lower left")
    ax = axes[-1]
    for c in cs:
        pts = d["ln_n_tails"][f"c={c:g}"]
        ax.plot([p["n"] for p in pts], [p["tail"] for p in pts], marker="o", ms=3, color=colors[c], label=f"c = {c:g}")
    ax.axhline(0.2, color="k", ls="--", lw=1, label="floor 0.2 (judged for c ≤ 1)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_title("k = ⌊ln n⌋ (claim (ii): the tail stays away from 0)", fontsize=9)
    ax.set_xlabel("n (row length)")
    ax.set_ylabel("mean tail mass τ")
    ax.legend(fontsize=6.5, loc="lower left")
    for a in axes:
        a.set_xticks(ns, [f"{n:g}" for n in ns], fontsize=7)
        a.minorticks_off()
    style.caption(fig, f"Line style: solid c > √(1 − C) (tail should vanish), dashed c < √(1 − C), dotted within "
                       f"{d['margin']:g} of the threshold (not judged). {d['rows']} rows per point. {d['control']}.")
    style.save(fig, path)


@figure("E03.C2")
def e03_c2(v: dict, path: Path) -> None:
    """Output error against the tail mass, with the bound 2τ max‖v‖ and the wrong bound τ max‖v‖."""
    d = v["details"]
    pts = d["points"]
    fig, ax = style.axes(f"E03.C2: output error of top-k truncation (n = {d['n']}, V ~ N(0, I_64))",
                         "tail mass τ", "‖pᵀV − p̃ᵀV‖₂")
    t = np.array([p["tau"] for p in pts])
    e = np.array([p["err"] for p in pts])
    ax.plot(t, e, ls="none", marker=".", ms=3, alpha=0.5, label="rows (c ∈ {0.5, 1, 1.5}, k ∈ e03_error_ks)")
    grid = np.geomspace(t.min(), t.max(), 50)
    ax.plot(grid, 2 * grid * d["vmax"], "k-", lw=1.2, label=f"bound 2τ max‖v‖ (max ratio {v['measured']:.2f})")
    wrong = d["wrong_bound_tau_max_ratio_gaussian"]
    ax.plot(grid, grid * d["vmax"], "k:", lw=1,
            label=f"wrong bound τ max‖v‖ ({'violated' if wrong > 1 else 'not violated'} on Gaussian V: "
                  f"max ratio {wrong:.3f})")
    if d["slope_ci"]:
        c0 = np.exp(np.mean(np.log(e)) - d["slope_err_vs_tau"] * np.mean(np.log(t)))
        ax.plot(grid, c0 * grid ** d["slope_err_vs_tau"], color="C3", lw=1.2,
                label=f"fit: slope {d['slope_err_vs_tau']:.2f}, 95% CI [{d['slope_ci'][0]:.2f}, {d['slope_ci'][1]:.2f}]")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.legend(fontsize=7, loc="upper left")
    style.caption(fig, d["control"] + ".")
    style.save(fig, path)


@figure("E03.C3")
def e03_c3(v: dict, path: Path) -> None:
    """Worst-length mean ℓ1 error of the adaptive, fixed and inverted windows per logit model."""
    d = v["details"]
    rows = d["table"]
    fig, ax = style.axes(f"E03.C3: adaptive k = ⌈n^{d['C']:g}⌉ against a fixed k, same mean budget",
                         "logit model", "worst length's mean ‖p − p̃‖₁")
    x = np.arange(len(rows))
    for j, (rule, color) in enumerate((("adaptive", "#4c72b0"), ("fixed", "#dd8452"), ("inverted", "#8c8c8c"))):
        ax.bar(x + (j - 1) * 0.27, [r[f"{rule}_worst_mean_l1"] for r in rows], width=0.27, color=color,
               label=f"{rule} window" + (" (control)" if rule == "inverted" else ""))
    labels = [r["model"].replace("c=", "c = ").replace("sigma=", "σ = ") + ("\n(judged)" if r["judged"] else "")
              for r in rows]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    style.caption(fig, f"Lengths {', '.join(str(n) for n in d['ns'])}. Models 'c = x': σ = x√(2 ln n); 'σ = x': "
                       f"a fixed spread x. Adaptive wins (ℓ1) in: "
                       f"{', '.join(d['adaptive_wins_in'])}; on V ~ N(0, I_64) in: "
                       f"{', '.join(d['adaptive_wins_in_gaussian_v']) or 'none'}.")
    style.save(fig, path)


@figure("E03.C4")
def e03_c4(v: dict, path: Path) -> None:
    """Mean diagonal mass against n per (d, g), with the prediction [D] and the tr W ≈ 0 control."""
    d = v["details"]
    rows = d["table"]
    fig, ax = style.axes("E03.C4: self-attention collapse, x_i ~ N(0, I_d), W = g I", "n (sequence length)",
                         "mean diagonal mass p_ii")
    keys = sorted({(r["d"], r["g"]) for r in rows})
    for i, (dd, g) in enumerate(keys):
        pts = sorted((r["n"], r["diag_mass"], r["predicted"]) for r in rows if r["d"] == dd and r["g"] == g)
        color = f"C{i % 10}"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if dd == min(k[0] for k in keys) else "s",
                color=color, label=f"d = {dd}, g = {g:g}")
        ax.plot([p[0] for p in pts], [p[2] for p in pts], color=color, ls=":", lw=1)
    c = d["control_cell"]
    low = max(min(c["diag_mass"], 1e-3) * 0.5, 1e-12)
    ax.plot([c["n"]], [max(c["diag_mass"], low)], marker="X", color="k", ls="none", ms=9,
            label=f"control W = W_Q W_Kᵀ (d = {c['d']}): {c['diag_mass']:.1e}")
    ax.plot([], [], color="gray", ls=":", label="prediction [D] (dotted)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(low * 0.7, 1.4)
    ax.legend(fontsize=6.5, loc="lower left", ncol=2)
    style.caption(fig, d["regime"] + ". " + d["control"] + ".")
    style.save(fig, path)
