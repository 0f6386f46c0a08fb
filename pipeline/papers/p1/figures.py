"""Figures of P1's claims (C1.3–C1.7, C1.9), drawn from each claim's verdict record alone.

Each function is registered with :func:`~pipeline.papers.figure` for its claim and writes
the PNG it is given (``results/figures/<claim>.png``; ``<claim>_timing.png`` for the wall-clock
claim C1.9) in the lab's figure style (:mod:`pipeline.core.style`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core import style
from pipeline.papers import figure


@figure("C1.3")
def c13(v: dict, path: Path) -> None:
    """Optimum of -λ_min(B) found against n, with the tight constants 0.2405 (ℓ1) and 5/16 (ℓ2)."""
    d = v["details"]
    fig, ax = style.axes("C1.3: worst lower eigenvalue of B(x) over f and b", "n (length of f and b)", "max −λ_min(B) found")
    for name, key, tight, m in (("‖b‖₁ ≤ 1", "l1_by_n", 0.2405, "o"), ("‖b‖₂ ≤ 1", "l2_by_n", 0.3125, "s")):
        ns = sorted(d[key], key=int)
        line = ax.plot([int(n) for n in ns], [d[key][n] for n in ns], marker=m, label=f"found, {name}")[0]
        ax.axhline(tight, color=line.get_color(), ls="--", lw=1, label=f"tight reference {tight:g}")
    ax.set_xscale("log")
    style.plain_ticks(ax, sorted({int(n) for n in d["l1_by_n"]} | {int(n) for n in d["l2_by_n"]}))
    ax.set_ylim(0, 0.4)
    ax.legend(fontsize=8, loc="lower right")
    style.save(fig, path)


@figure("C1.4")
def c14(v: dict, path: Path) -> None:
    """Smallest Hessian eigenvalue found per case against the lemma's bound l, and the w = 0 control."""
    d = v["details"]
    cases = sorted(d["min_lambda_by_case"])
    vals = [d["min_lambda_by_case"][c] for c in cases]
    fig, ax = style.axes("C1.4: PD lemma, min λ_min(∇²L(x)) over the points tried (l = 1)", "", "min λ_min(∇²L)")
    ax.bar(range(len(cases)), vals, color="#4c72b0", label="C_w = 0.25, weights from the PD rule")
    ax.bar([len(cases)], [d["control_min_lambda"]], color="#c44e52", label="control: w = 0, b = e₁, A = I₄")
    ax.axhline(1.0, color="k", ls="--", lw=1, label="lemma's bound l = 1")
    ax.axhline(0.0, color="gray", lw=0.8)
    ax.set_xticks(range(len(cases) + 1), [c.replace(",", "\n") for c in cases] + ["control"], fontsize=7)
    ax.legend(fontsize=8, loc="upper left")
    style.save(fig, path)


@figure("C1.5")
def c15(v: dict, path: Path) -> None:
    """Measured Hessian-Lipschitz M̂ against R for each n, with the tight bound 0.572R³."""
    d = v["details"]["M_hat"]
    rows = [(style.parse_key(k), val) for k, val in d.items()]
    ns = sorted({int(r["n"]) for r, _ in rows})
    fig, ax = style.axes("C1.5: Hessian-Lipschitz constant M̂ (‖A‖ = R)", "R (radius of the ball, = ‖A‖)", "M̂ (measured)")
    Rs = sorted({float(r["R"]) for r, _ in rows})
    for n in ns:
        pts = sorted((float(r["R"]), val) for r, val in rows if int(r["n"]) == n)
        ax.plot(*zip(*pts), marker="o", label=f"measured, n = {n}")
    grid = np.geomspace(min(Rs), max(Rs), 50)
    ax.plot(grid, 0.572 * grid**3, "k--", lw=1, label="tight bound 0.572 R³")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, Rs)
    ax.legend(fontsize=8, loc="lower right")
    ax.text(0.02, 0.97, "paper: M = exp(O(R² + log n)), constants unknown", transform=ax.transAxes, fontsize=8,
            va="top")
    style.save(fig, path)


@figure("C1.6")
def c16(v: dict, path: Path) -> None:
    """Worst spectral deviation of the sparsified Hessian against ε0, leverage vs uniform sampling."""
    cases = v["details"]["by_case"]
    fig, ax = style.axes("C1.6: sparsifier, max |eig(H^-1/2 H̃ H^-1/2) − 1| over the trials", "ε0 (s = ⌈d ln(d/δ)/ε0²⌉ rows)",
                    "max spectral deviation")
    for scores, marker in (("exact", "o"), ("uniform", "s")):
        pts = sorted((float(style.parse_key(k)["eps0"]), c["max_deviation"]) for k, c in cases.items() if k.endswith(scores))
        label = "leverage-score sampling" if scores == "exact" else "uniform sampling (control)"
        ax.plot(*zip(*pts), marker=marker, label=label)
    eps = sorted({float(style.parse_key(k)["eps0"]) for k in cases})
    ax.plot(eps, eps, "k--", lw=1, label="deviation = ε0 (pass line)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_ticks(ax, eps)
    ax.legend(fontsize=8, loc="upper left")
    style.save(fig, path)


@figure("C1.7")
def c17(v: dict, path: Path) -> None:
    """Distance to x* per step with the one-step bound of P1-L8 evaluated at the measured ε̂0(t) and M̂."""
    fig, ax = style.axes("C1.7: one-step shrinking, r_{t+1} against 2(ε̂0 + M̂r/(l − M̂r))·r", "iteration t",
                    "‖x_t − x*‖")
    for (name, rows), color in zip(v["details"]["runs"].items(), ("#4c72b0", "#dd8452")):
        r = [rows[0]["r"]] + [row["r_next"] for row in rows]
        ax.plot(range(len(r)), r, marker="o", color=color, label=f"r_t, start {name.replace('_', ' ')}")
        bt = [(t + 1, row["bound"]) for t, row in enumerate(rows) if row["applicable"]]
        if bt:
            ax.plot(*zip(*bt), ls="--", marker="x", color=color, alpha=0.7, label=f"bound on r_t, {name.replace('_', ' ')}")
    ax.set_yscale("log")
    ax.legend(fontsize=8, loc="upper right")
    style.save(fig, path)


@figure("C1.9")
def c19(v: dict, path: Path) -> None:
    """Time of one iteration against nnz(A), approximate vs exact Newton, with the fit and slope 1."""
    d = v["details"]
    pts = d["points"]
    fig, ax = style.axes("C1.9: time of one iteration against nnz(A) (sparse A, d = 20)", "nnz(A)",
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
    style.save(fig, path)
