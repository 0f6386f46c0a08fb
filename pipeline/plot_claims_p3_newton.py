"""Figures of P3's convergence claims (C3.9, C3.10) from their verdicts' details only."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.plot_claims import _axes, _axes_pair, _save


def c39(v: dict, path: Path) -> None:
    """‖x_t − x*‖ against the Newton step, exact and row-sampled Hessian, one line per start."""
    det = v["details"]
    fig, ax = _axes(f"C3.9: Newton in x with Y fixed (n = {det['n']}, d = {det['d']})", "Newton step t",
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
    _save(fig, path)


def c310(v: dict, path: Path) -> None:
    """Relative loss gap of the alternating method against iteration, (b) near z* and (a) from zero."""
    det = v["details"]
    fig, axes = _axes_pair("C3.10: alternating method on planted instances (n = 16, d = 3): local vs from zero")
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
    _save(fig, path)


FIGURES = {"C3.9": c39, "C3.10": c310}
