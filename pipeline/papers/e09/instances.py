"""What E09's checks share: the planted instances of docs/theory/e09.md §E09.4, their regularised minimiser x*,
start points on the sphere around it, runs of the approximate Gauss–Newton solver recorded as distances to x*,
and the measured constants of the approximate-Newton framework (l = λ_min(∇²L(x*)), the Hessian's
Lipschitz constant M along the runs)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from omegaconf import OmegaConf
from torch import Tensor

from pipeline.data.two_layer import TwoLayerData, synthesize_e09
from pipeline.papers import Context
from pipeline.problems import CountingOracle, TwoLayerRegression
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.newton import Newton

#: distances below this are round-off (‖x*‖ ≈ 1, float64): no step ratio is read there
FLOOR = 1e-13
#: a step longer than this ends a run as diverged
MAX_STEP = 10.0


def planted(ctx: Context, seed: int, **data) -> TwoLayerRegression:
    """The planted instance of seed ``seed`` (n, d, m from ``ctx``'s sizes, other data keys as given)."""
    s = ctx.sizes
    cfg = OmegaConf.structured(TwoLayerData(**{"n": s.e09_n, "d": s.e09_d, "m": s.e09_m, **data}))
    return TwoLayerRegression.from_arrays(synthesize_e09(cfg, seed), dtype=ctx.dtype, device=ctx.device)


def instance(ctx: Context, seed: int, **data) -> tuple[TwoLayerRegression, Tensor]:
    """The planted instance and its regularised minimiser x*: exact Newton from x_true until ‖∇L‖ ≤ 1e-12
    (or its round-off floor)."""
    problem = planted(ctx, seed, **data)
    trace = Newton().run(CountingOracle(problem), problem.x_true.clone(), StopRule(eps=None, gtol=1e-12, max_iter=60))
    return problem, trace.x


def direction(ctx: Context, stream: int, d: int) -> Tensor:
    """A unit vector drawn from stream ``stream`` of the check's seed."""
    v = torch.randn(d, generator=ctx.generator(stream), dtype=torch.float64)
    return (v / torch.linalg.vector_norm(v)).to(ctx.device, ctx.dtype)


def solver(scores: str, factor: float = 8.0, seed: int = 0, measure: bool = True) -> dict:
    """Parameters of approx_gauss_newton: s = ⌈factor·d⌉ rows (``scores`` leverage | uniform), or ``full``
    (exact Newton, unit steps); the curvature part exact."""
    return {"name": "approx_gauss_newton", "label": scores, "scores": scores, "sample_factor": float(factor),
            "curvature": "exact", "measure_eps": measure, "seed": int(seed)}


def run(problem, x_star: Tensor, x0: Tensor, params: dict, tol: float, max_iter: int) -> dict:
    """One run from x0 until ‖x_t − x*‖ ≤ tol (or max_iter, or a step > MAX_STEP): its distances, its
    per-iteration ε̂₀ against the exact Hessian (NaN without measuring), its status and the iterations to tol."""
    stop = StopRule(eps=None, gtol=0.0, max_iter=max_iter, max_step=MAX_STEP)
    trace = make_solver(params).run(CountingOracle(problem), x0, stop, observe=lambda r: r.distance <= tol,
                                    x_star=x_star)
    dist = np.asarray(trace.columns["distance"], dtype=float)
    measured = trace.extra.get("eps_hessian_hat", {})
    eps = np.asarray([measured.get(int(i), math.nan) for i in trace.columns["iteration"]], dtype=float)
    hit = np.flatnonzero(dist <= tol)
    return {"distance": dist, "eps": eps, "status": trace.status, "iterations": int(hit[0]) if hit.size else None}


def lambda_min(problem, x: Tensor) -> float:
    return float(torch.linalg.eigvalsh(problem.hess(x))[0])


def lipschitz(problem, x_star: Tensor, points: list[Tensor], taus=(0.0, 0.25, 0.5, 0.75)) -> float:
    """M̂: the largest ‖∇²L(x) − ∇²L(x* + τ(x − x*))‖₂ / ((1 − τ)‖x − x*‖) over the points and τ: the Hessian's
    Lipschitz constant on the segments [x*, x] that the framework's one-step bounds integrate over."""
    best = 0.0
    for x in points:
        e = x - x_star
        r = float(torch.linalg.vector_norm(e))
        if r <= 1e-6:  # the difference of two Hessians is round-off there
            continue
        H = problem.hess(x)
        for tau in taus:
            gap = float(torch.linalg.matrix_norm(H - problem.hess(x_star + tau * e), ord=2))
            best = max(best, gap / ((1 - tau) * r))
    return best


def predicted_iterations(r0: float, tol: float, ratio: float) -> Optional[float]:
    """log(r0/tol)/log(1/ratio): the iterations of a linear method with constant per-step ratio."""
    return math.log(r0 / tol) / math.log(1.0 / ratio) if 0 < ratio < 1 else None
