"""Approximate Newton with a leverage-score sparsified Hessian (P1, docs/theory/p1.md §P1.5; LSZ23 framework).

Each iteration samples the diagonal part D = B_diag + w∘w of the Hessian by
leverage scores of √D·A, adds the rank-2 part βppᵀ − spᵀ − psᵀ exactly, and
takes the step x ← x − H̃⁻¹∇L(x) (P1-L8). Sampling with ``scores=uniform`` is
the control of C1.6.

``rescore=false`` is a cheaper variant (not the paper's): the leverage scores
τ(A) are computed once, and each iteration samples with p_i ∝ D_i τ_i(A). Since
τ_i(√D A) ≤ (D_i / min D) τ_i(A), these probabilities underestimate the true
ones by at most min D / max D, so the sample size is multiplied by max D / min D
to keep the guarantee of P1-L7.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from kernels import sketch
from kernels.matrix import row_block
from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace
from pipeline.solvers.newton import newton_direction


@dataclass
class ApproxNewtonParams:
    name: str = "approx_newton"
    label: str = "approx_newton"
    eps0: float = spec(0.05, gt=0.0, lt=1.0)
    sample_size: Optional[int] = spec(None, ge=1)
    delta: float = spec(0.01, gt=0.0, lt=1.0)
    c_s: float = spec(1.0, gt=0.0)
    #: exact (thin QR) | approximate (CountSketch + QR + Gaussian) | uniform (control)
    scores: str = spec("exact", choices=("exact", "approximate", "uniform"))
    jl_cols: Optional[int] = spec(None, ge=1)  # Gaussian columns of the sketched scores; null: ⌈8 ln(n/δ)⌉
    rescore: bool = True  # false: τ(A) once, p ∝ D∘τ(A), s × max D/min D (cheaper; not the paper's)
    seed: int = spec(0, ge=0)


def sparsified_hessian(A: Tensor, parts, sample: sketch.RowSample) -> Tensor:
    """H̃ = Aᵀ diag(D̃) A + β p pᵀ − s pᵀ − p sᵀ, touching only the sampled rows of A (docs/theory/p1.md §P1.5)."""
    rows = row_block(A, sample.rows)
    sp = torch.outer(parts.s, parts.p)
    return rows.T @ (sample.weights.unsqueeze(1) * rows) + parts.beta * torch.outer(parts.p, parts.p) - sp - sp.T


def leverage(A: Tensor, D: Optional[Tensor], scores: str, generator: torch.Generator, delta: float,
             jl_cols: Optional[int] = None) -> Tensor:
    """τ_i(√D·A) (or τ_i(A) for D = None), exact by QR or sketched in O(nnz(A)) (docs/theory/p1.md §P1.5)."""
    root = None if D is None else D.sqrt()
    if scores == "exact":
        M = A if root is None else (A * root.unsqueeze(1) if A.layout == torch.strided
                                    else (A * root.unsqueeze(1)).coalesce())
        return sketch.leverage_scores(M)
    return sketch.approximate_leverage_scores(A, generator, jl_cols=jl_cols, delta=delta, row_scale=root)


def sampling_probabilities(A: Tensor, D: Tensor, scores: str, generator: torch.Generator, delta: float,
                           jl_cols: Optional[int] = None) -> Tensor:
    """p_i ∝ τ_i(√D·A) (exact or sketched), or uniform."""
    n = A.shape[0]
    if scores == "uniform":
        return torch.full((n,), 1.0 / n, dtype=A.dtype, device=A.device)
    tau = leverage(A, D, scores, generator, delta, jl_cols)
    return tau / tau.sum()


def approx_newton_direction(A: Tensor, parts, g: Tensor, p: ApproxNewtonParams, s: int,
                            rng: torch.Generator, cache: dict) -> tuple[Tensor, int, int]:
    """−H̃⁻¹∇L for one iteration of docs/theory/p1.md §P1.5, from the Hessian parts at the current point.

    Returns the direction, the number of distinct rows of A touched by H̃, and the number of
    leverage-score sketches computed. ``cache`` keeps τ(A) between iterations when
    ``p.rescore`` is false.
    """
    sketches = 0
    if p.rescore or p.scores == "uniform":
        prob, size = sampling_probabilities(A, parts.D, p.scores, rng, p.delta, p.jl_cols), s
        sketches = int(p.scores != "uniform")
    else:
        if "tau_A" not in cache:
            cache["tau_A"] = leverage(A, None, p.scores, rng, p.delta, p.jl_cols)
            sketches = 1
        prob = parts.D * cache["tau_A"]
        prob = prob / prob.sum()
        size = math.ceil(s * float(parts.D.max() / parts.D.min()))
    sample = sketch.sampled_diagonal(parts.D, prob, size, rng)
    return newton_direction(sparsified_hessian(A, parts, sample), g), int(sample.rows.numel()), sketches


class ApproxNewton:
    """The approximate Newton method of P1 with leverage-score sampling of the diagonal part."""

    name: ClassVar[str] = "approx_newton"
    paper: ClassVar[str] = "P1"
    Params: ClassVar[type] = ApproxNewtonParams

    def __init__(self, params: Optional[ApproxNewtonParams] = None, **kw):
        self.params = params or ApproxNewtonParams(**kw)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        A = oracle.A
        d = oracle.dim
        s = p.sample_size or sketch.sample_size(d, p.eps0, p.delta, p.c_s)
        g_rng = torch.Generator(device="cpu").manual_seed(p.seed)
        rec = Recorder(p.label, stop, observe, x_star)
        x = x0.clone()
        cache: dict = {}
        loss, g = oracle.loss_grad(x)
        k = 0
        while not rec.step(k, x, float(loss), g):
            parts = oracle.hessian_parts(x)
            oracle.calls["hessian_parts"] += 1
            if float(parts.D.min()) <= 0:
                return rec.fail(x, DIVERGED, f"diagonal part D has a non-positive entry at iteration {k} "
                                             "(needs min w² > 0.22, docs/theory/p1.md §P1.5)")
            direction, touched, sketches = approx_newton_direction(A, parts, g, p, s, g_rng, cache)
            oracle.calls["sketch"] += sketches
            oracle.calls["rows_touched"] += touched
            x = x + direction
            loss, g = oracle.loss_grad(x)
            if not math.isfinite(float(loss)):
                return rec.fail(x, DIVERGED, f"non-finite loss after iteration {k}")
            k += 1
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
