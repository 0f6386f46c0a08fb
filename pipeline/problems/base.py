"""The problem contract and oracle counting (DESIGN.md §3).

A problem holds its instance tensors and exposes ``loss``, ``grad``,
``loss_grad``, ``hess``, ``hvp`` and ``stats``. Solvers see it through
:class:`CountingOracle`, so that every loss, gradient, Hessian build and
Hessian-vector product they ask for is counted.
"""
from __future__ import annotations

from collections import Counter
from typing import NamedTuple, Optional, Protocol

import torch
from torch import Tensor

from kernels.sketch import RowFactor


class Problem(Protocol):
    name: str
    paper: str
    dim: int

    def loss(self, x: Tensor) -> Tensor: ...
    def grad(self, x: Tensor) -> Tensor: ...
    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]: ...
    def hess(self, x: Tensor) -> Tensor: ...
    def hvp(self, x: Tensor, v: Tensor) -> Tensor: ...
    def stats(self, x: Tensor) -> dict[str, float]: ...


class GaussNewtonParts(NamedTuple):
    """∇²L(x) = MᵀM + rest + curvature, split for the approximate Gauss–Newton solver
    (pipeline/solvers/gauss_newton.py; docs/theory/p1.md §P1.5 and the E02, E06, E09 write-ups).

    ``factor`` is M, the Gauss–Newton factor (m×d, a :class:`kernels.sketch.RowFactor`) whose rows are
    sampled; ``rest`` is the PSD part always added exactly (a regulariser, d×d); ``curvature`` is the
    second-order part Σ_k r_k ∇²r_k (d×d, symmetric, possibly indefinite; None when it is 0, as for least
    squares), added exactly or dropped as the solver says."""

    factor: RowFactor
    rest: Tensor
    curvature: Optional[Tensor] = None


class CountingOracle:
    """Wraps a problem and counts oracle calls by kind: loss, grad, hess, hvp, forward (per column)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.calls: Counter[str] = Counter()
        self.dim = problem.dim
        self.dtype = getattr(problem, "dtype", torch.float64)
        self.device = getattr(problem, "device", torch.device("cpu"))

    def loss(self, x: Tensor) -> Tensor:
        self.calls["loss"] += 1
        return self.problem.loss(x)

    def grad(self, x: Tensor) -> Tensor:
        self.calls["grad"] += 1
        return self.problem.grad(x)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        self.calls["loss"] += 1
        self.calls["grad"] += 1
        return self.problem.loss_grad(x)

    def hess(self, x: Tensor) -> Tensor:
        self.calls["hess"] += 1
        return self.problem.hess(x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        self.calls["hvp"] += 1
        return self.problem.hvp(x, v)

    def batch_loss_grad(self, x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Loss and gradient of the mean over the components ``batch`` (indices) of a finite-sum problem
        (a stochastic gradient ∇f_t of SGD-type methods): one call, ``len(batch)`` component gradients."""
        self.calls["batch_grad"] += 1
        self.calls["component_grad"] += int(batch.numel())
        return self.problem.batch_loss_grad(x, batch)

    def column_losses(self, X: Tensor, batch=None) -> Tensor:
        """Losses at the columns of X (on a batch of instances): one forward pass per column."""
        self.calls["forward"] += int(X.shape[1])
        return self.problem.column_losses(X, batch)

    def __getattr__(self, name):
        """The problem's block oracles named in its ``COUNTED`` are counted under their own name;
        other structured pieces and constants pass through, uncounted."""
        attr = getattr(self.problem, name)
        if name in getattr(self.problem, "COUNTED", ()):
            def counted(*args, **kwargs):
                self.calls[name] += 1
                return attr(*args, **kwargs)
            return counted
        return attr
