"""Regularised softmax regression (P1, Def. 1.2): min_x ½‖f(x) - b‖² + ½‖diag(w) A x‖²."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kernels import finite_sum as F
from kernels import softmax as K
from pipeline.problems.base import spectral_stats


@dataclass
class SoftmaxRegression:
    """P1 instance on a device and dtype; formulas in kernels/softmax.py (theory P1.2)."""

    A: Tensor
    b: Tensor
    w: Tensor
    name: str = "softmax_regression"
    paper: str = "P1"

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu"):
        from pipeline.data.matrix import to_torch

        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("b", "w")}
        return cls(A=to_torch(arrays["A"], dtype, device), **t)

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
        return K.loss(self.A, self.b, self.w, x)

    def grad(self, x: Tensor) -> Tensor:
        return K.gradient(self.A, self.b, self.w, x)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return K.loss_and_gradient(self.A, self.b, self.w, x)

    def hess(self, x: Tensor) -> Tensor:
        return K.hessian(self.A, self.b, self.w, x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        return K.hessian_vector_product(self.A, self.b, self.w, x, v)

    def column_losses(self, X: Tensor, batch=None) -> Tensor:
        """L at every column of X (d×k) in one product (dense A) or column by column (sparse A)."""
        if self.A.layout == torch.strided:
            return F.column_losses(self.A[None], self.b[None], self.w[None], X)
        return torch.stack([K.loss(self.A, self.b, self.w, X[:, j]) for j in range(X.shape[1])])

    def hessian_parts(self, x: Tensor) -> K.HessianParts:
        """Diagonal plus rank-2 structure of the Hessian (theory P1.2)."""
        return K.hessian_parts(self.A, self.b, self.w, x)

    def smoothness_bound(self) -> float:
        """ℓ ≤ ‖A‖²(0.3082 + max w²) for ‖b‖₁ ≤ 1 (theory P1.4)."""
        A = self.A.to_dense() if self.A.layout != torch.strided else self.A
        return K.smoothness_bound(float(torch.linalg.matrix_norm(A, ord=2)), self.w)

    def stats(self, x: Tensor) -> dict[str, float]:
        """Measured constants at x: ℓ, μ, κ and effective rank of ∇²L(x)."""
        return spectral_stats(self.hess(x))
