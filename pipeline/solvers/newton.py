"""Newton's method with the exact Hessian and Armijo backtracking (docs/theory/README.md, defaults of the checks)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from torch import Tensor

from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace
from pipeline.solvers.linesearch import armijo


@dataclass
class NewtonParams:
    name: str = "newton"
    label: str = "newton"
    c1: float = spec(1e-4, gt=0.0, lt=0.5)
    shrink: float = spec(0.5, gt=0.0, lt=1.0)
    #: cholesky (eigen-fallback if not PD) | pinv (least-squares step, singular Hessians)
    solve: str = spec("cholesky", choices=("cholesky", "pinv"))


def newton_direction(H: Tensor, g: Tensor) -> Tensor:
    """Solve H p = -g by Cholesky; if H is not positive definite, by least squares on |H|.

    The fallback flips negative curvature (eigenvalues replaced by their absolute
    values, tiny ones floored), which keeps p a descent direction.
    """
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) == 0:
        return -torch.cholesky_solve(g.unsqueeze(1), L).squeeze(1)
    ev, V = torch.linalg.eigh(0.5 * (H + H.T))
    floor = torch.finfo(H.dtype).eps * float(ev.abs().max())
    return -V @ ((V.T @ g) / ev.abs().clamp_min(floor))


def pinv_direction(H: Tensor, g: Tensor, rcond: float = 1e-9) -> Tensor:
    """p = -H⁺g on the eigenvalues above rcond·max|λ| (a least-squares step for a singular Hessian).

    For a low-rank instance (docs/theory/p2.md §P2.6) the loss is flat along the null space,
    the gradient lies in the range, and the step leaves the null space alone.
    """
    ev, V = torch.linalg.eigh(0.5 * (H + H.T))
    keep = ev.abs() > rcond * float(ev.abs().max())
    Vk = V[:, keep]
    return -Vk @ ((Vk.T @ g) / ev[keep].abs())


class Newton:
    """x_{t+1} = x_t + t·p, with ∇²L(x_t) p = -∇L(x_t) and t from Armijo backtracking.

    ``solve=pinv`` takes the least-squares (pseudo-inverse) step, for Hessians that are singular.
    """

    name: ClassVar[str] = "newton"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = NewtonParams

    def __init__(self, params: Optional[NewtonParams] = None, **kw):
        self.params = params or NewtonParams(**kw)

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        x = x0.clone()
        loss, g = oracle.loss_grad(x)
        k = 0
        while not rec.step(k, x, float(loss), g):
            H = oracle.hess(x)
            direction = pinv_direction(H, g) if p.solve == "pinv" else newton_direction(H, g)
            s = armijo(oracle, x, float(loss), float(g @ direction), direction, 1.0, p.c1, p.shrink)
            if not s.accepted:
                if float(torch.linalg.vector_norm(g)) <= 1e3 * torch.finfo(x.dtype).eps * max(1.0, abs(float(loss))):
                    rec.trace.message = "stalled at the round-off level of the gradient"
                    rec.trace.x = x.clone()
                    break
                return rec.fail(x, DIVERGED, f"Armijo line search failed at iteration {k}")
            x = s.x
            loss, g = oracle.loss_grad(x)
            k += 1
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
