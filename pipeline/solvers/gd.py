"""Gradient descent: fixed step 1/ℓ from the measured smoothness, or Armijo backtracking."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace
from pipeline.solvers.linesearch import armijo


def top_eigenvalue(oracle, x: Tensor, iters: int = 100, tol: float = 1e-10, seed: int = 0) -> float:
    """λ_max(∇²L(x)) by power iteration on Hessian-vector products (each one counted)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(oracle.dim, generator=g, dtype=x.dtype).to(x.device)
    v /= torch.linalg.vector_norm(v)
    lam = 0.0
    for _ in range(iters):
        hv = oracle.hvp(x, v)
        new = float(v @ hv)
        nrm = torch.linalg.vector_norm(hv)
        if nrm == 0:
            return 0.0
        v = hv / nrm
        if abs(new - lam) <= tol * abs(new):
            return new
        lam = new
    return lam


@dataclass
class GDParams:
    name: str = "gd"
    label: str = "gd"
    step: str = spec("inverse_ell", choices=("inverse_ell", "armijo"))
    ell: str = spec("measured", choices=("measured", "bound"))  # bound: ‖A‖²(0.3082 + max w²), docs/theory/p1.md §P1.4
    ell_scale: float = spec(1.0, gt=0.0)
    c1: float = spec(1e-4, gt=0.0, lt=1.0)
    shrink: float = spec(0.5, gt=0.0, lt=1.0)
    grow: float = spec(2.0, ge=1.0)


class GradientDescent:
    """x_{t+1} = x_t - η_t ∇L(x_t).

    ``step=inverse_ell``: η = 1/ℓ with ℓ = λ_max(∇²L(x0)) measured by power
    iteration (``ell=measured``) or the global bound ‖A‖²(0.3082 + max w²) of
    docs/theory/p1.md §P1.4 (``ell=bound``), times ``ell_scale``. ``step=armijo``: backtracking
    from the previous accepted step times ``grow``.
    """

    name: ClassVar[str] = "gd"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = GDParams

    def __init__(self, params: Optional[GDParams] = None, **kw):
        self.params = params or GDParams(**kw)

    def step_size(self, oracle, x0: Tensor) -> float:
        p = self.params
        ell = top_eigenvalue(oracle, x0) if p.ell == "measured" else oracle.smoothness_bound()
        return 1.0 / (p.ell_scale * ell)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        x = x0.clone()
        eta = self.step_size(oracle, x) if p.step == "inverse_ell" else None
        t = eta if eta is not None else 1.0
        loss, g = oracle.loss_grad(x)
        if eta is not None:  # the step as run (solver_info, MLflow info_step): checks read it back
            rec.trace.info.update(step=float(eta), ell=float(1.0 / (p.ell_scale * eta)))
        k = 0
        while not rec.step(k, x, float(loss), g):
            if p.step == "inverse_ell":
                x = x - eta * g
            else:
                s = armijo(oracle, x, float(loss), -float(g @ g), -g, t * p.grow, p.c1, p.shrink)
                if not s.accepted:
                    return rec.fail(x, DIVERGED, f"Armijo line search failed at iteration {k}")
                x, t = s.x, s.t
            loss, g = oracle.loss_grad(x)
            k += 1
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
