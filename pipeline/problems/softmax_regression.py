"""Regularised softmax regression (P1, Def. 1.2): min_x ½‖f(x) - b‖² + ½‖diag(w) A x‖²."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from kernels import softmax as K
from kernels.backend import ops
from kernels.matrix import matvec, scaled_gram, to_torch
from kernels.sketch import DenseFactor
from kernels.spectrum import spectral_stats
from pipeline.problems.base import GaussNewtonParts


@dataclass
class SoftmaxRegression:
    """P1 instance on a device and dtype; formulas in kernels/softmax.py (docs/theory/p1.md §P1.2), computed by
    the resolved kernel ``backend`` (``torch`` or ``triton``, kernels/backend.py)."""

    A: Tensor
    b: Tensor
    w: Tensor
    backend: str = "torch"
    name: str = "softmax_regression"
    paper: str = "P1"
    #: the data kinds (config group ``data``) that build this problem's instances
    data_kinds: ClassVar[tuple[str, ...]] = ("synthetic", "file")

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend="torch"):
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("b", "w")}
        return cls(A=to_torch(arrays["A"], dtype, device), **t, backend=backend)

    @property
    def ops(self):
        """The P1 kernels (kernels.softmax's functions) of this instance's backend."""
        return ops("softmax", self.backend)

    @property
    def dim(self) -> int:
        return self.A.shape[1]

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def device(self):
        return self.A.device

    def loss(self, x: Tensor) -> Tensor:
        return self.ops.loss(self.A, self.b, self.w, x)

    def grad(self, x: Tensor) -> Tensor:
        return self.ops.gradient(self.A, self.b, self.w, x)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.ops.loss_and_gradient(self.A, self.b, self.w, x)

    def hess(self, x: Tensor) -> Tensor:
        return self.ops.hessian(self.A, self.b, self.w, x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        return self.ops.hessian_vector_product(self.A, self.b, self.w, x, v)

    def column_losses(self, X: Tensor, batch=None) -> Tensor:
        """L at every column of X (d×k) in one product (dense A) or column by column (sparse A)."""
        if self.A.layout == torch.strided:
            return ops("finite_sum", self.backend).column_losses(self.A[None], self.b[None], self.w[None], X)
        return torch.stack([self.ops.loss(self.A, self.b, self.w, X[:, j]) for j in range(X.shape[1])])

    def hessian_parts(self, x: Tensor) -> K.HessianParts:
        """Diagonal plus rank-2 structure of the Hessian (docs/theory/p1.md §P1.2)."""
        return self.ops.hessian_parts(self.A, self.b, self.w, x)

    def gauss_newton(self, x: Tensor) -> GaussNewtonParts:
        """∇²L = JᵀJ + curvature + AᵀW²A with J = (diag(f) − ffᵀ)A (n×d): the split that the approximate
        Gauss–Newton solver samples (rows of J), docs/theory/p1.md §P1.2."""
        J = K.jacobian(self.A, x)
        reg = scaled_gram(self.A, self.w * self.w)
        return GaussNewtonParts(DenseFactor(J), reg, self.hess(x) - J.T @ J - reg)

    def smoothness_bound(self) -> float:
        """ℓ ≤ ‖A‖²(0.3082 + max w²) for ‖b‖₁ ≤ 1 (docs/theory/p1.md §P1.4)."""
        A = self.A.to_dense() if self.A.layout != torch.strided else self.A
        return K.smoothness_bound(float(torch.linalg.matrix_norm(A, ord=2)), self.w)

    def hessian_split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(∇²L(x), AᵀW²A): the Hessian and its regulariser part (docs/theory/p1.md §P1.2; pipeline/reference/regime.py)."""
        return self.hess(x), scaled_gram(self.A, self.w * self.w)

    def logits(self, x: Tensor) -> Tensor:
        """The logits Ax, as one row."""
        return matvec(self.A, x)[None]

    def pd_rule(self, x: Tensor) -> bool:
        """A3 with some l > 0 and the tight C_w: min w_i² > 0.2405 (docs/theory/p1.md §P1.3-P1.4)."""
        return float((self.w * self.w).min()) > -K.B_LOWER_L1

    def stats(self, x: Tensor) -> dict[str, float]:
        """Measured constants at x: ℓ, μ, κ and effective rank of ∇²L(x)."""
        return spectral_stats(self.hess(x))
