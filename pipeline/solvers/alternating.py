"""The alternating ("iterative greedy") method of P3 (docs/theory/p3.md §P3.5) for attention regression.

One outer iteration, with z = [vec_r(X); vec_r(Y)]:

1. Y-step, exact: Y ← Y*(X) = (MᵀM + (λ_Y/2)I)⁻¹MᵀB, M = S(X)A3 (a convex quadratic in Y);
2. X-step: one damped Newton step on x = vec_r(X) with Y fixed, x ← x + t·p, ∇²_x p = -∇_x,
   t from Armijo backtracking on L(·, Y) (away from the optimum the Hessian need not be PD, and
   docs/theory/p3.md §P3.5 leaves the safeguard open; a non-PD Hessian is handled as in
   pipeline/solvers/newton.py).

``hessian=sketched`` replaces ∇²_x = Σ_j (a_j a_jᵀ) ⊗ K_j by the row sample
Σ_{j∈𝒮} (a_j a_jᵀ) ⊗ K_j/(s p_j) with p_j = τ_j(A1)/d, the marginal over p of the product
leverage scores τ_(j,p)(A1 ⊗ A2) = τ_j(A1)τ_p(A2) (docs/theory/p3.md §P3.5); s = ⌈d² ln(d²/δ)/ε0²⌉ as in P1.5.
``scores=uniform`` samples rows uniformly (a control).

The order of the two steps is our reading of the paper ([R?], docs/theory/p3.md §P3.5). The solver records the joint
loss and gradient after every outer iteration, and in ``Trace.info`` the mean time per outer
iteration of the forward work (S, the Y-step and ∇_x), of the Hessian build and of the d²×d² solve.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from kernels import attention as K
from kernels import sketch
from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace
from pipeline.solvers.linesearch import armijo
from pipeline.solvers.newton import newton_direction


@dataclass
class AlternatingParams:
    name: str = "alternating"
    label: str = "alternating"
    #: exact: Σ_j (a_j a_jᵀ) ⊗ K_j | sketched: rows j of A1 sampled by leverage scores
    hessian: str = spec("exact", choices=("exact", "sketched"))
    scores: str = spec("leverage", choices=("leverage", "uniform"))  # sketched only: uniform is a control
    eps0: float = spec(0.5, gt=0.0, lt=1.0)  # sketched only: s = ⌈d² ln(d²/δ)/ε0²⌉ rows unless sample_size
    delta: float = spec(0.01, gt=0.0, lt=1.0)
    sample_size: Optional[int] = spec(None, ge=1)
    c1: float = spec(1e-4, gt=0.0, lt=0.5)
    shrink: float = spec(0.5, gt=0.0, lt=1.0)
    seed: int = spec(0, ge=0)


class XBlock:
    """L(·, Y) as a function of x = vec_r(X), for the line search (counted as ``loss_xy``)."""

    def __init__(self, oracle, Y: Tensor, d: int):
        self.oracle, self.Y, self.d = oracle, Y, d

    def loss(self, x: Tensor) -> Tensor:
        return self.oracle.loss_xy(K.unvec_r(x, self.d), self.Y)


class Alternating:
    """Exact Y-step, then a damped Newton step in x = vec_r(X) (docs/theory/p3.md §P3.5); attention regression only."""

    name: ClassVar[str] = "alternating"
    paper: ClassVar[str] = "P3"
    Params: ClassVar[type] = AlternatingParams
    problems: ClassVar[tuple[str, ...]] = ("attention_regression",)

    def __init__(self, params: Optional[AlternatingParams] = None, **kw):
        self.params = params or AlternatingParams(**kw)

    def sample_size(self, d: int) -> int:
        p = self.params
        return p.sample_size or sketch.sample_size(d * d, p.eps0, p.delta)

    def sketched_hessian(self, oracle, X: Tensor, Y: Tensor, prob: Tensor, s: int, g: torch.Generator) -> Tensor:
        """Σ_{j∈𝒮} (a_j a_jᵀ) ⊗ K_j/(s p_j) over s rows drawn i.i.d. from ``prob`` (repeats aggregated)."""
        Kb = oracle.hess_x_blocks(X, Y)
        sample = sketch.sample_rows(prob, s, g)
        return K.kron_sum(oracle.A1[sample.rows], Kb[sample.rows], sample.weights)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        d = oracle.d
        X, Y = oracle.split(x0)
        prob, s, g = None, 0, None
        if p.hessian == "sketched":
            A1 = oracle.A1
            prob = (sketch.leverage_scores(A1) / d if p.scores == "leverage"
                    else torch.full((A1.shape[0],), 1.0 / A1.shape[0], dtype=A1.dtype, device=A1.device))
            s = self.sample_size(d)
            g = torch.Generator(device="cpu").manual_seed(p.seed)
        times = {"forward": 0.0, "hessian": 0.0, "solve": 0.0}
        loss, grad = oracle.loss_grad(x0)
        k = 0
        z = x0
        while not rec.step(k, z, float(loss), grad):
            t0 = time.perf_counter()
            Y = oracle.y_step(X)
            gx = K.vec_r(oracle.grad_x(X, Y))
            t1 = time.perf_counter()
            H = oracle.hess_x(X, Y) if prob is None else self.sketched_hessian(oracle, X, Y, prob, s, g)
            t2 = time.perf_counter()
            direction = newton_direction(H, gx)
            t3 = time.perf_counter()
            times["forward"] += t1 - t0
            times["hessian"] += t2 - t1
            times["solve"] += t3 - t2
            block = XBlock(oracle, Y, d)
            x = K.vec_r(X)
            fx = float(block.loss(x))
            step = armijo(block, x, fx, float(gx @ direction), direction, 1.0, p.c1, p.shrink)
            if not step.accepted:
                if float(torch.linalg.vector_norm(grad)) <= 1e3 * torch.finfo(x.dtype).eps * max(1.0, abs(float(loss))):
                    rec.trace.message = "stalled at the round-off level of the gradient"
                    rec.trace.x = z.clone()
                    break
                return self._end(rec.fail(z, DIVERGED, f"Armijo line search in x failed at iteration {k}"),
                                 oracle, times, k, s)
            X = K.unvec_r(step.x, d)
            z = oracle.join(X, Y)
            loss, grad = oracle.loss_grad(z)
            k += 1
        return self._end(rec.trace, oracle, times, k, s)

    def _end(self, trace: Trace, oracle, times: dict, iters: int, s: int) -> Trace:
        trace.oracle_calls = dict(oracle.calls)
        per = max(iters, 1)
        trace.info = {"forward_time_s": times["forward"] / per, "hessian_time_s": times["hessian"] / per,
                      "solve_time_s": times["solve"] / per, "sample_size": float(s),
                      "hessian": self.params.hessian}
        return trace
