"""Instance diagnostics: constants of a problem measured numerically, by a claim or inside a job.

``hessian_lipschitz``: M̂ = max ‖d/dt ∇²L(x + te)‖ over random (x, e) with ‖x‖ ≤ R and ‖e‖ = 1,
refined by a local search from the best sample (docs/theory/p1.md §P1.6, check C1.5; P1-L4).
A job asks for it with ``diagnostics.measure=[hessian_lipschitz]``; the radius is ‖A‖ (= R for
the synthetic instances), as in C1.5.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.optimize
import torch
from torch import Tensor

from kernels import softmax as K


def point_in_ball(g: torch.Generator, d: int, R: float) -> Tensor:
    """A point uniform in the ball of radius R."""
    v = torch.randn(d, generator=g, dtype=torch.float64)
    r = R * float(torch.rand(1, generator=g, dtype=torch.float64)) ** (1.0 / d)
    return r * v / torch.linalg.vector_norm(v)


def hessian_derivative_norm(A: Tensor, b: Tensor, w: Tensor, x: Tensor, e: Tensor) -> float:
    """‖d/dt ∇²L(x + t e)‖₂ at t = 0, by forward-mode differentiation of the Hessian."""
    _, dH = torch.func.jvp(lambda z: K.hessian(A, b, w, z), (x,), (e,))
    return float(torch.linalg.matrix_norm(dH, ord=2))


def _local_search(A, b, w, start, R: float, iters: int) -> float:
    """Nelder–Mead on (x, e), x projected into the R-ball and e normalised, from the best sample."""
    x0, e0 = start
    d = x0.numel()

    def unpack(z):
        x = torch.from_numpy(z[:d]).to(A)
        nx = float(torch.linalg.vector_norm(x))
        if nx > R:
            x = x * (R / nx)
        e = torch.from_numpy(z[d:]).to(A)
        return x, e / torch.linalg.vector_norm(e).clamp_min(1e-300)

    res = scipy.optimize.minimize(lambda z: -hessian_derivative_norm(A, b, w, *unpack(z)),
                                  np.concatenate([x0.cpu().numpy(), e0.cpu().numpy()]), method="Nelder-Mead",
                                  options={"maxfev": iters})
    return float(-res.fun)


def hessian_lipschitz(A: Tensor, b: Tensor, w: Tensor, R: float, g: torch.Generator, points: int,
                      local_iters: int = 200) -> float:
    """M̂ on the ball ‖x‖ ≤ R: the best of ``points`` random (x, e), then a local search (C1.5)."""
    d = A.shape[1]
    best, arg = 0.0, None
    for _ in range(points):
        x = point_in_ball(g, d, R).to(A.dtype)
        e = torch.randn(d, generator=g, dtype=torch.float64)
        e = (e / torch.linalg.vector_norm(e)).to(A.dtype)
        v = hessian_derivative_norm(A, b, w, x.to(A.device), e.to(A.device))
        if v > best:
            best, arg = v, (x.to(A.device), e.to(A.device))
    if arg is not None and local_iters > 0:
        best = max(best, _local_search(A, b, w, arg, R, local_iters))
    return best


def _job_hessian_lipschitz(problem, cfg, g: torch.Generator) -> dict[str, float]:
    A = problem.A.to_dense() if problem.A.layout != torch.strided else problem.A
    R = float(torch.linalg.matrix_norm(A, ord=2))
    M = hessian_lipschitz(A, problem.b, problem.w, R, g, int(cfg.diagnostics.points), int(cfg.diagnostics.local_iters))
    return {"hessian_lipschitz": M, "hessian_lipschitz_radius": R,
            "hessian_lipschitz_over_0572R3": M / (0.572 * R**3)}


#: name → function(problem, cfg, generator) -> {metric: value}
DIAGNOSTICS: dict[str, Callable] = {"hessian_lipschitz": _job_hessian_lipschitz}


def measure(problem, cfg) -> dict[str, float]:
    """The diagnostics a job asked for (``diagnostics.measure``), seeded from the job's seed."""
    out: dict[str, float] = {}
    for k, name in enumerate(cfg.diagnostics.measure):
        g = torch.Generator(device="cpu").manual_seed(int(cfg.seed) * 1_000_003 + 4409 + k)
        out.update(DIAGNOSTICS[name](problem, cfg, g))
    return out
