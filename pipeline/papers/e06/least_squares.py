"""E06.C2: Kronecker least squares from a sketch (docs/theory/e06.md §E06.5, check E06.C2).

The instance of data kind ``kronecker`` (n = 400, d = 4, coherent ×30, b = vec_r(A1 X_true A2ᵀ) + noise with
X_true of rank 2) is solved directly, X* = A1⁺ B (A2⁺)ᵀ through (A1ᵀA1)⁻¹ ⊗ (A2ᵀA2)⁻¹ applied to
𝖠ᵀb = vec_r(A1ᵀ B A2), and from s leverage-sampled rows of 𝖠 = A1 ⊗ A2 (the sketched normal equations). The
relative excess residual (‖𝖠x̃ − b‖² − ‖𝖠x* − b‖²)/‖𝖠x* − b‖² is compared with the sample's measured spectral
error ε̂ (the claim: O(ε)) and fitted against s. The direct solve is checked against a dense least-squares
solve of the formed 𝖠; the controls are uniform sampling at the same s and the column-major reading of b.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from omegaconf import OmegaConf

from kernels.kronecker import direct_solve, sketched_solve, spectral_error
from pipeline.core.fits import fit_power_law
from pipeline.data.kronecker import KroneckerData, synthesize_e06
from pipeline.papers import Context, Measurement, at_least, at_most, claim, holds, inside, slack
from pipeline.problems import KroneckerLeastSquares

PAPER = "E06"
RANK, NOISE = 2, 0.1
EXCESS_SLOPE_BAND = (-1.3, -0.7)  # the excess against s: ≈ d²/s for exact leverage sampling (slope −1, i.e. O(ε²))
DIRECT_TOL = 1e-9                 # the three direct solves agree to this (relative)
UNIFORM_FACTOR = 5.0              # control: uniform sampling's median excess at the smallest s ≥ this × leverage's
UNIFORM_FLOOR = 0.8               # control: uniform sampling's median ε̂ at least this at every s (not an embedding)
CONVENTION_FACTOR = 10.0          # control: reading b column-major raises the residual² by at least this factor


def instance(ctx: Context, n: int, d: int, coherence: float) -> KroneckerLeastSquares:
    """The problem on the ``kronecker`` instance of the check (seeded by the check's seed)."""
    cfg = OmegaConf.structured(KroneckerData(n=n, d=d, coherence=coherence, rank=RANK, noise=NOISE))
    return KroneckerLeastSquares.from_arrays(synthesize_e06(cfg, ctx.seed * 1_000_003 + 2), dtype=ctx.dtype,
                                             device=ctx.device)


def residual2(prob: KroneckerLeastSquares, x: torch.Tensor) -> float:
    """‖𝖠x − b‖² = ‖A1 X A2ᵀ − B‖_F² (tensor trick)."""
    return float((prob.residual(x) ** 2).sum())


def direct(prob: KroneckerLeastSquares) -> dict:
    """x* three ways: the paper's formula (A1ᵀA1)⁻¹ ⊗ (A2ᵀA2)⁻¹ applied to vec_r(A1ᵀ B A2), the kernel's
    eigendecomposition solve, and a dense least-squares solve of the formed 𝖠 (column-pivoted QR); with the
    column-major reading of b as the convention control."""
    A1, A2, B = prob.A1, prob.A2, prob.B
    G1, G2 = prob.grams()
    paper = (torch.linalg.solve(G1, A1.T @ B @ A2) @ torch.linalg.inv(G2)).reshape(-1)
    kernel = direct_solve(A1, A2, B)
    A = torch.kron(A1, A2)
    dense = torch.linalg.lstsq(A, B.reshape(-1).unsqueeze(1), driver="gelsd").solution.squeeze(1)
    colmajor = torch.linalg.lstsq(A, B.T.reshape(-1).unsqueeze(1), driver="gelsd").solution.squeeze(1)  # b read as vec_c(B)
    scale = float(kernel.norm())
    return {"x": kernel, "paper_vs_kernel": float((paper - kernel).norm()) / scale,
            "dense_vs_kernel": float((dense - kernel).norm()) / scale,
            "residual2": residual2(prob, kernel), "residual2_colmajor": residual2(prob, colmajor),
            "pinv_vs_kernel": float(((torch.linalg.pinv(A1) @ B @ torch.linalg.pinv(A2).T).reshape(-1) - kernel).norm())
            / scale}


def sweep(ctx: Context, prob: KroneckerLeastSquares, r_star: float, samples: list[int], repeats: int) -> list[dict]:
    """Sketched solves from leverage and uniform samples, ``repeats`` per s: relative excess residual and ε̂."""
    F = prob.factor()
    g = ctx.generator(3)
    runs = []
    for s in samples:
        for r in range(repeats):
            row = {"s": s, "repeat": r}
            for scores in ("leverage", "uniform"):
                S = F.sample(s, g, scores)
                x = sketched_solve(F, prob.B, S)
                row[f"{scores}_excess"] = (residual2(prob, x) - r_star) / r_star
                row[f"{scores}_eps"] = spectral_error(F, S)
            runs.append(row)
    return runs


def summary(runs: list[dict], d: int) -> list[dict]:
    rows = []
    for s in sorted({r["s"] for r in runs}):
        at = [r for r in runs if r["s"] == s]
        med = {k: float(np.median([r[k] for r in at])) for k in at[0] if k not in ("s", "repeat")}
        mean = float(np.mean([r["leverage_excess"] for r in at]))
        rows.append({"s": s, **med, "leverage_excess_mean": mean, "theory_excess": d * d / s,
                     "excess_over_eps": med["leverage_excess"] / med["leverage_eps"],
                     "excess_over_eps_max": max(r["leverage_excess"] / r["leverage_eps"] for r in at),
                     "uniform_over_leverage": med["uniform_excess"] / med["leverage_excess"]})
    return rows


@claim("E06.C2", PAPER, "Kronecker least squares min ‖(A1 ⊗ A2)x − b‖ solved from a (1 ± ε) leverage-score sketch "
       "of A1 ⊗ A2 has relative excess residual O(ε), against the direct solve X* = A1⁺ B (A2⁺)ᵀ",
       f"n = 400, d = 4, first d rows ×30, b = vec_r(A1 X_true A2ᵀ) + noise (rank X_true = {RANK}): the paper's direct "
       f"formula (A1ᵀA1)⁻¹ ⊗ (A2ᵀA2)⁻¹ applied to vec_r(A1ᵀ B A2), the eigendecomposition solve, A1⁺ B (A2⁺)ᵀ and a "
       f"dense solve of the formed product agree to {DIRECT_TOL:g}; at every s the median relative excess residual of "
       f"the sketched solve is at most the median measured ε̂ (constant 1); the mean excess fitted against s, slope in "
       f"[{EXCESS_SLOPE_BAND[0]}, {EXCESS_SLOPE_BAND[1]}] (≈ d²/s, i.e. O(ε²)); controls: uniform sampling at the same "
       f"s is no spectral approximation (median ε̂ ≥ {UNIFORM_FLOOR}) and its median excess exceeds leverage's at every "
       f"s, by ≥ {UNIFORM_FACTOR:g}× at the smallest; reading b column-major raises the residual² ≥ {CONVENTION_FACTOR:g}×")
def least_squares(ctx: Context) -> Measurement:
    sz = ctx.sizes
    n, d, coh = int(sz.e06_n), int(sz.e06_d), float(sz.e06_coherence)
    prob = instance(ctx, n, d, coh)
    ref = direct(prob)
    r_star = ref["residual2"]
    runs = sweep(ctx, prob, r_star, [int(s) for s in sz.e06_c2_samples], int(sz.e06_c2_repeats))
    rows = summary(runs, d)
    f = fit_power_law([r["s"] for r in rows], [r["leverage_excess_mean"] for r in rows])
    fit = {"slope": f.slope, "ci": [f.ci_low, f.ci_high], "intercept": f.intercept} if f else \
        {"slope": math.nan, "ci": None, "intercept": math.nan}
    convention = ref["residual2_colmajor"] / r_star
    m = [at_most(max(ref["paper_vs_kernel"], ref["dense_vs_kernel"], ref["pinv_vs_kernel"]), DIRECT_TOL),
         holds(len(rows) >= 5), inside(fit["slope"], *EXCESS_SLOPE_BAND), at_least(convention, CONVENTION_FACTOR)]
    m += [at_most(r["excess_over_eps"], 1.0) for r in rows]
    m += [at_least(r["uniform_eps"], UNIFORM_FLOOR) for r in rows]
    m += [at_least(r["uniform_over_leverage"], 1.0, strict=True) for r in rows]
    m += [at_least(rows[0]["uniform_over_leverage"], UNIFORM_FACTOR)]
    s = slack(*m)
    consts = prob.instance_constants(ref["x"])
    worst = max(r["excess_over_eps"] for r in rows)
    return Measurement(
        measured=worst, measured_label="largest median relative excess residual / median ε̂ over s (leverage sketch)",
        bound=None, bound_label="paper: relative excess residual O(ε) (constant unknown; checked with constant 1)",
        tight=None, passed=s >= 1, slack=s,
        details={"n": n, "d": d, "coherence": coh, "rank": RANK, "noise": NOISE,
                 "repeats": int(sz.e06_c2_repeats), "runs": runs, "table": rows, "fit_excess": fit,
                 "slope_band": list(EXCESS_SLOPE_BAND), "residual2_star": r_star,
                 "relative_residual_star": consts["relative_residual_star"],
                 "direct": {k: v for k, v in ref.items() if k != "x"}, "convention_factor": convention,
                 "excess_over_eps_run_max": max(r["excess_over_eps_max"] for r in rows),
                 "regime": (f"coherent factors (first {d} rows ×{coh:g}): coherence max τ·n/d = "
                            f"{consts['coherence_A1']:.1f} and {consts['coherence_A2']:.1f}, κ(A1 ⊗ A2) = "
                            f"{consts['kappa_A']:.3g}; ‖𝖠x* − b‖/‖b‖ = {consts['relative_residual_star']:.3g} "
                            f"(noise {NOISE:g} of the light entries' scale)"),
                 "control": (f"uniform sampling at the same s: median ε̂ {min(r['uniform_eps'] for r in rows):.3g} to "
                             f"{max(r['uniform_eps'] for r in rows):.3g}, median excess "
                             f"{min(r['uniform_excess'] for r in rows):.3g} to {max(r['uniform_excess'] for r in rows):.3g} "
                             f"({rows[0]['uniform_over_leverage']:.3g}× leverage's at s = {rows[0]['s']}, "
                             f"{rows[-1]['uniform_over_leverage']:.3g}× at s = {rows[-1]['s']}: the residual is incoherent "
                             f"noise, so the gap narrows as the mixed pairs get sampled); b read column-major "
                             f"(vec_c(B) in place of vec_r(B)): residual² ×{convention:.3g} of the optimum's")})
