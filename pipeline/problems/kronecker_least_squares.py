"""Kronecker least squares of E06 (docs/theory/e06.md §E06.5): min over x ∈ ℝ^{d1·d2} of

    L(x) = ½‖(A1 ⊗ A2)x − b‖² + ½λ‖x‖²,   b = vec_r(B),  B n1×n2,

with every oracle through the tensor trick (A1 ⊗ A2)vec_r(X) = vec_r(A1 X A2ᵀ), so that the n1n2×d1d2 matrix
A1 ⊗ A2 is never formed: the loss and gradient cost O(n1n2·min(d1, d2) + n1d1d2), the Hessian
(A1ᵀA1) ⊗ (A2ᵀA2) + λI is built from the two d×d Grams. λ (``problem.lam``) may be 0 (A1, A2 of full column
rank). The approximate Gauss–Newton solver samples rows of the factor A1 ⊗ A2 (:meth:`gauss_newton`,
a :class:`kernels.kronecker.KroneckerFactor`); since L is quadratic, the curvature part is zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from omegaconf import MISSING
from torch import Tensor

from kernels.kronecker import KroneckerFactor, direct_solve, kron_matvec, kron_rmatvec
from kernels.spectrum import spectral_stats
from pipeline.core.spec import spec
from pipeline.problems.base import GaussNewtonParts

NAME = "kronecker_least_squares"


@dataclass
class KroneckerLeastSquaresConfig:
    """The E06 problem (``problem=kronecker_least_squares``): the ridge λ ≥ 0 of ½λ‖x‖² (0: plain least squares)."""

    name: str = spec(NAME, choices=(NAME,))
    paper: str = MISSING
    lam: float = spec(0.0, ge=0.0)


@dataclass
class KroneckerLeastSquares:
    """E06 instance on a device and dtype: the factors A1 (n1×d1), A2 (n2×d2), the target B (n1×n2, b = vec_r(B))
    and the ridge λ."""

    A1: Tensor
    A2: Tensor
    B: Tensor
    lam: float = 0.0
    backend: str = "torch"
    name: str = NAME
    paper: str = "E06"
    data_kinds: ClassVar[tuple[str, ...]] = ("kronecker",)
    Params: ClassVar[type] = KroneckerLeastSquaresConfig

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch",
                    params: Optional[KroneckerLeastSquaresConfig] = None):
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("A1", "A2", "B")}
        p = params or KroneckerLeastSquaresConfig()
        return cls(**t, lam=float(p.lam), backend=backend)

    # ------------------------------------------------------------------ shape
    @property
    def dim(self) -> int:
        return self.A1.shape[1] * self.A2.shape[1]

    @property
    def dtype(self):
        return self.A1.dtype

    @property
    def device(self):
        return self.A1.device

    def X(self, x: Tensor) -> Tensor:
        """x = vec_r(X) → X (d1×d2)."""
        return x.reshape(self.A1.shape[1], self.A2.shape[1])

    def factor(self) -> KroneckerFactor:
        """A1 ⊗ A2 as a row factor (never formed)."""
        return KroneckerFactor(self.A1, self.A2)

    def grams(self) -> tuple[Tensor, Tensor]:
        """(A1ᵀA1, A2ᵀA2)."""
        return self.A1.T @ self.A1, self.A2.T @ self.A2

    # ------------------------------------------------------------------ oracle
    def residual(self, x: Tensor) -> Tensor:
        """R = A1 X A2ᵀ − B (n1×n2), i.e. (A1 ⊗ A2)x − b as a matrix."""
        return kron_matvec(self.A1, self.A2, x).reshape(self.B.shape) - self.B

    def loss(self, x: Tensor) -> Tensor:
        R = self.residual(x)
        return 0.5 * (R * R).sum() + 0.5 * self.lam * (x @ x)

    def grad(self, x: Tensor) -> Tensor:
        """(A1 ⊗ A2)ᵀ((A1 ⊗ A2)x − b) + λx = vec_r(A1ᵀ R A2) + λx."""
        return kron_rmatvec(self.A1, self.A2, self.residual(x).reshape(-1)) + self.lam * x

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        R = self.residual(x)
        loss = 0.5 * (R * R).sum() + 0.5 * self.lam * (x @ x)
        return loss, kron_rmatvec(self.A1, self.A2, R.reshape(-1)) + self.lam * x

    def hess(self, x: Tensor) -> Tensor:
        """(A1ᵀA1) ⊗ (A2ᵀA2) + λI, the same at every x."""
        G1, G2 = self.grams()
        return torch.kron(G1, G2) + self.lam * torch.eye(self.dim, dtype=self.dtype, device=self.device)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        """((A1ᵀA1) ⊗ (A2ᵀA2))v + λv = vec_r(G1 V G2) + λv."""
        G1, G2 = self.grams()
        return (G1 @ self.X(v) @ G2).reshape(-1) + self.lam * v

    def stats(self, x: Tensor) -> dict[str, float]:
        return spectral_stats(self.hess(x))

    def gauss_newton(self, x: Tensor) -> GaussNewtonParts:
        """∇²L = (A1 ⊗ A2)ᵀ(A1 ⊗ A2) + λI: the factor A1 ⊗ A2 (never formed), the ridge exact, no curvature part."""
        return GaussNewtonParts(self.factor(), self.lam * torch.eye(self.dim, dtype=self.dtype, device=self.device), None)

    # ------------------------------------------------------------------ reference and constants
    def solve(self) -> Tensor:
        """The exact minimiser through the two small eigendecompositions (kernels.kronecker.direct_solve)."""
        return direct_solve(self.A1, self.A2, self.B, self.lam)

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """Spectrum of ∇²L (ℓ, μ, κ, effective rank), the sizes, κ(A1), κ(A2), the coherence max τ·n/d of each
        factor and of the product (max τ(A1 ⊗ A2)·n1n2/(d1d2), their product), the largest scores, ‖b‖, the
        loss and the relative residual ‖(A1 ⊗ A2)x* − b‖/‖b‖ at x*."""
        out = dict(self.stats(x_star))
        (n1, d1), (n2, d2) = self.A1.shape, self.A2.shape
        t1, t2 = self.factor().factor_scores()
        s1, s2 = torch.linalg.svdvals(self.A1), torch.linalg.svdvals(self.A2)
        c1, c2 = float(t1.max()) * n1 / d1, float(t2.max()) * n2 / d2
        b_norm = float(torch.linalg.matrix_norm(self.B))
        out.update(n=float(n1), d=float(d1), n2=float(n2), d2=float(d2), rows=float(n1 * n2), lam=self.lam,
                   kappa_A1=float(s1[0] / s1[-1]), kappa_A2=float(s2[0] / s2[-1]),
                   kappa_A=float(s1[0] * s2[0] / (s1[-1] * s2[-1])),
                   coherence_A1=c1, coherence_A2=c2, coherence=c1 * c2,
                   tau_max_A1=float(t1.max()), tau_max_A2=float(t2.max()), b_norm=b_norm,
                   loss_star=float(self.loss(x_star)),
                   relative_residual_star=float(torch.linalg.matrix_norm(self.residual(x_star))) / b_norm
                   if b_norm > 0 else 0.0)
        return out
