"""Armijo backtracking shared by gradient descent and Newton (Nocedal & Wright, Alg. 3.1)."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Step(NamedTuple):
    t: float
    x: Tensor
    loss: float
    accepted: bool


def armijo(oracle, x: Tensor, loss: float, slope: float, direction: Tensor, t0: float,
           c1: float = 1e-4, shrink: float = 0.5, max_backtracks: int = 60) -> Step:
    """Largest t = t0·shrinkᵏ with L(x + t·dir) ≤ L(x) + c1·t·slope, slope = ∇L(x)ᵀdir < 0.

    When |slope| is at the level of round-off in L, the comparison carries no
    information; the full step is then accepted (the quadratic-convergence regime).
    """
    tiny = 64.0 * torch.finfo(x.dtype).eps * max(1.0, abs(loss))
    t = t0
    for _ in range(max_backtracks + 1):
        x_new = x + t * direction
        f_new = float(oracle.loss(x_new))
        if f_new <= loss + c1 * t * slope or (t == t0 and -slope <= tiny and f_new <= loss + tiny):
            return Step(t, x_new, f_new, True)
        t *= shrink
    return Step(t, x, loss, False)
