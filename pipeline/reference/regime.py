"""Where an instance sits between a quadratic and the softmax loss: constants measured at x*.

A law verified on an instance whose loss is, to a few per cent, the quadratic ½(x − x*)ᵀH(x − x*)
says nothing about the softmax. Every instance therefore reports, next to ℓ, μ, κ and r:

- ``softmax_share`` = ‖∇²L(x*) − ∇²L_reg‖₂ / ‖∇²L(x*)‖₂, the part of the curvature at x* that the
  softmax fit term carries (P1, P2: ‖AᵀB(x*)A‖/‖Aᵀ(B(x*) + W²)A‖; P3: the same split of ∇²ₓL at (X*, Y*));
- ``quadratic_error`` = |L(x0) − L* − ½(x0 − x*)ᵀ∇²L(x*)(x0 − x*)| / (L(x0) − L*), from the studies'
  start x0 = 0: 0 for a quadratic;
- ``logit_spread`` = max − min of the logits at x* (A x* for P1; the largest over instances A_k x* for
  P2, over the score rows of A1 X* A2ᵀ for P3);
- ``curvature_variation`` = max over t ∈ [0, 1] of ‖∇²L(x0 + t(x* − x0)) − ∇²L(x*)‖₂ / ‖∇²L(x*)‖₂ on
  nine points of the segment (left out above ``CURVATURE_MAX_DIM`` unknowns);
- ``ell_segment``, ``mu_segment``, ``kappa_segment``: the largest λ_max and smallest λ_min of ∇²L on the
  same nine points (off the null space of a low-rank instance; μ < 0: not convex on the path), and their ratio — the constants a global theorem (ℓ over a region, μ everywhere) sees
  on the path from x0 to x*, beside κ at x*;
- ``pd_rule_holds`` (1 or 0): whether the paper's sufficient condition for a positive definite
  Hessian everywhere holds — P1's A3 and P2's one-instance bound: min w² > 0.2405 (the tight C_w);
  P3: w² ≥ 0.3849·max_j osc(g_j) at x* (docs/theory/p3.md §P3.4, l → 0).

A problem provides ``hessian_split(x) -> (H, H_reg)``, ``logits(x)`` (rows) and ``pd_rule(x)``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from kernels.spectrum import NULL_FRACTION

#: curvature variation is measured up to this many unknowns (nine Hessians on the segment)
CURVATURE_MAX_DIM = 2048
#: points of the segment [x0, x*] at which the curvature variation is measured
SEGMENT_POINTS = 9


def _norm2(H: Tensor) -> float:
    return float(torch.linalg.matrix_norm(0.5 * (H + H.T), ord=2))


def softmax_share(problem, x: Tensor) -> float:
    """‖H − H_reg‖₂/‖H‖₂ at x."""
    H, H_reg = problem.hessian_split(x)
    top = _norm2(H)
    return _norm2(H - H_reg) / top if top > 0 else math.nan


def quadratic_error(problem, x_star: Tensor, x0: Tensor) -> float:
    """|L(x0) − L* − ½ΔᵀHΔ|/(L(x0) − L*), Δ = x0 − x*, H = ∇²L(x*)."""
    gap = float(problem.loss(x0) - problem.loss(x_star))
    if not gap > 0:
        return math.nan
    dx = x0 - x_star
    model = 0.5 * float(dx @ problem.hvp(x_star, dx))
    return abs(gap - model) / gap


def logit_spread(problem, x: Tensor) -> float:
    """Largest max − min over the rows of the logits at x."""
    U = problem.logits(x)
    return float((U.max(dim=-1).values - U.min(dim=-1).values).max())


def segment(problem, x_star: Tensor, x0: Tensor) -> dict[str, float]:
    """On nine points of [x0, x*]: max ‖∇²L(x) − ∇²L(x*)‖₂/‖∇²L(x*)‖₂ (``curvature_variation``), the largest
    λ_max and the smallest λ_min (``ell_segment``, ``mu_segment``) and their ratio (``kappa_segment``)."""
    H = problem.hess(x_star)
    top = _norm2(H)
    var, ell, mu = 0.0, -math.inf, math.inf
    for t in np.linspace(0.0, 1.0, SEGMENT_POINTS):
        Ht = problem.hess(x0 + float(t) * (x_star - x0))
        var = max(var, _norm2(Ht - H))
        ev = torch.linalg.eigvalsh(0.5 * (Ht + Ht.T))
        ev = ev[ev.abs() > NULL_FRACTION * ev.abs().max()]  # a low-rank instance's null space is not curvature
        ell, mu = max(ell, float(ev[-1])), min(mu, float(ev[0]))
    return {"curvature_variation": var / top, "ell_segment": ell, "mu_segment": mu,
            "kappa_segment": ell / mu if mu > 0 else math.inf}


def measure_regime(problem, x_star: Tensor) -> dict[str, float]:
    """The regime constants of an instance at its reference optimum (start x0 = 0); {} for a problem
    that does not split its Hessian."""
    if not hasattr(problem, "hessian_split") or not torch.all(torch.isfinite(x_star)):
        return {}
    x0 = torch.zeros_like(x_star)
    out = {"softmax_share": softmax_share(problem, x_star), "quadratic_error": quadratic_error(problem, x_star, x0),
           "logit_spread": logit_spread(problem, x_star), "pd_rule_holds": float(bool(problem.pd_rule(x_star)))}
    if problem.dim <= CURVATURE_MAX_DIM:
        out.update(segment(problem, x_star, x0))
    return out
