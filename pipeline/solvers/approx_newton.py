"""Approximate Newton with a leverage-score sparsified Hessian (P1, theory P1.5; LSZ23 framework).

Each iteration samples the diagonal part D = B_diag + w∘w of the Hessian by
leverage scores of √D·A, adds the rank-2 part βppᵀ − spᵀ − psᵀ exactly, and
takes the step x ← x − H̃⁻¹∇L(x) (P1-L8). Sampling with ``scores=uniform`` is
the control of C1.6.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from kernels import sketch
from pipeline.schema import spec
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
    scores: str = spec("exact", choices=("exact", "approximate", "uniform"))
    seed: int = spec(0, ge=0)


def sparsified_hessian(A: Tensor, parts, sample: sketch.RowSample) -> Tensor:
    """H̃ = Aᵀ diag(D̃) A + β p pᵀ − s pᵀ − p sᵀ, touching only the sampled rows of A (theory P1.5)."""
    rows = A.index_select(0, sample.rows)
    rows = rows.to_dense() if rows.layout != torch.strided else rows
    sp = torch.outer(parts.s, parts.p)
    return rows.T @ (sample.weights.unsqueeze(1) * rows) + parts.beta * torch.outer(parts.p, parts.p) - sp - sp.T


def sampling_probabilities(A: Tensor, D: Tensor, scores: str, generator: torch.Generator, delta: float) -> Tensor:
    """p_i ∝ τ_i(√D·A) (exact or sketched), or uniform."""
    n = A.shape[0]
    if scores == "uniform":
        return torch.full((n,), 1.0 / n, dtype=A.dtype, device=A.device)
    root = D.sqrt()
    M = A * root.unsqueeze(1) if A.layout == torch.strided else (A * root.unsqueeze(1)).coalesce()
    tau = sketch.leverage_scores(M) if scores == "exact" else sketch.approximate_leverage_scores(M, generator, delta=delta)
    return tau / tau.sum()


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
        loss, g = oracle.loss_grad(x)
        k = 0
        while not rec.step(k, x, float(loss), g):
            parts = oracle.hessian_parts(x)
            oracle.calls["hessian_parts"] += 1
            if float(parts.D.min()) <= 0:
                return rec.fail(x, DIVERGED, f"diagonal part D has a non-positive entry at iteration {k} "
                                             "(needs min w² > 0.22, theory P1.5)")
            prob = sampling_probabilities(A, parts.D, p.scores, g_rng, p.delta)
            oracle.calls["sketch"] += p.scores != "uniform"
            sample = sketch.sampled_diagonal(parts.D, prob, s, g_rng)
            oracle.calls["rows_touched"] += int(sample.rows.numel())
            x = x + newton_direction(sparsified_hessian(A, parts, sample), g)
            loss, g = oracle.loss_grad(x)
            if not math.isfinite(float(loss)):
                return rec.fail(x, DIVERGED, f"non-finite loss after iteration {k}")
            k += 1
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
