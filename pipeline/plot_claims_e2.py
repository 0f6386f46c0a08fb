"""Figures of the P2 claims judged on the studies (C2.7, C2.8, C2.11), from their verdicts' details only."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pipeline.plot_claims import _axes, _save

STUDY_STYLE = {"zo_rank": ("o", "r varied"), "zo_kappa": ("s", "κ varied"), "zo_dim": ("D", "d varied"),
               "zo_nperturb": ("^", "n varied")}


def c27(v: dict, path: Path) -> None:
    """T_dec/(κγ) of every configuration against κγ, with the bound ln(10)·1.1 and the theory's [V] range."""
    rows = v["details"]["configurations"]
    fig, ax = _axes("C2.7 / C2.9: T_dec/(κγ) for every ZO-SGD configuration (median over seeds)",
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
    _save(fig, path)


def c28(v: dict, path: Path) -> None:
    """Measured T_dec against the joint power-law fit, with the fitted exponents and their bands."""
    d = v["details"]
    rows = d["configurations"]
    fig, ax = _axes("C2.8: joint fit log T_dec = a + b_κ log κ + b_γ log γ + b_d log d",
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
    _save(fig, path)


def c211(v: dict, path: Path) -> None:
    """T_dec against B with the fitted c0(1 + B0/B), the prediction κγ(1 + α/(μB)) and the bound."""
    d = v["details"]
    B, T = np.array(d["B"]), np.array(d["T_dec"])
    fig, ax = _axes("C2.11: B-sweep, iterations per decade against the batch size",
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
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(B), [f"{b:g}" for b in B])
    ax.minorticks_off()
    ax.legend(fontsize=7, loc="upper right")
    _save(fig, path)


FIGURES = {"C2.7": c27, "C2.8": c28, "C2.11": c211}
