"""The P2 softmax loss: an average of P1 losses over m instances, with a batch oracle (docs/theory/p2.md §P2.1)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from kernels.backend import ops
from kernels.softmax import B_LOWER_L1, B_UPPER_L1
from kernels.spectrum import NULL_FRACTION, kept_spectrum, spectral_stats


def noise_alpha(hessians: Tensor) -> float:
    """α = 2 λ_max(H̄^{-1/2} ((1/m)Σ H_k² - H̄²) H̄^{-1/2}) on range(H̄): the quadratic model of
    tr Σ(x)/(L(x) - L*) near an interpolating x* (docs/theory/p2.md §P2.6, B-sweep)."""
    if hessians.shape[0] == 1:
        return 0.0
    Hbar = hessians.mean(0)
    ev, V = torch.linalg.eigh(0.5 * (Hbar + Hbar.T))
    keep = ev > NULL_FRACTION * ev[-1]
    Vk, isq = V[:, keep], ev[keep].rsqrt()
    second = (hessians @ hessians).mean(0) - Hbar @ Hbar
    M = isq[:, None] * (Vk.T @ second @ Vk) * isq[None, :]
    return 2.0 * float(torch.linalg.eigvalsh(0.5 * (M + M.T))[-1])


@dataclass
class ZOSoftmax:
    """L(x) = (1/m) Σ_k ½‖softmax(A_k x) - b_k‖² + ½‖diag(w_k) A_k (x - x_c)‖² (kernels/finite_sum.py).

    ``column_losses(X, batch)`` is the forward pass of zeroth-order solvers: the
    batch loss L(·; 𝓑) at every column of X. ``constants`` holds the instance's
    constants at x* once measured (ℓ, μ, r, κ, α; docs/theory/p2.md §P2.6).
    """

    A: Tensor
    b: Tensor
    w: Tensor
    centre: Tensor
    constants: dict = field(default_factory=dict)
    backend: str = "torch"
    name: str = "zo_softmax"
    paper: str = "P2"
    data_kinds: ClassVar[tuple[str, ...]] = ("lowrank", "finite_sum")
    reference_solve: str = "pinv"  # x* by Newton with least-squares steps: the Hessian is singular off range(V)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu",
                    constants: Optional[dict] = None, backend: str = "torch"):
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("A", "b", "w", "centre")}
        return cls(**t, constants=dict(constants or {}), backend=backend)

    @property
    def ops(self):
        """The P2 kernels (kernels.finite_sum's functions) of this instance's backend (kernels/backend.py)."""
        return ops("finite_sum", self.backend)

    @property
    def dim(self) -> int:
        return self.A.shape[-1]

    @property
    def m(self) -> int:
        return self.A.shape[0]

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def device(self):
        return self.A.device

    def _centre(self) -> Optional[Tensor]:
        return self.centre if bool(torch.any(self.centre != 0)) else None

    def column_losses(self, X: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        """L(x_j; 𝓑) for every column of X (d×k); 𝓑 = ``batch`` (instance indices, repeats allowed) or all."""
        if batch is None:
            return self.ops.column_losses(self.A, self.b, self.w, X, self._centre())
        return self.ops.column_losses(self.A[batch], self.b[batch], self.w[batch], X, self._centre())

    def loss(self, x: Tensor) -> Tensor:
        return self.ops.loss(self.A, self.b, self.w, x, self._centre())

    def grad(self, x: Tensor) -> Tensor:
        return self.loss_grad(x)[1]

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.ops.loss_and_gradient(self.A, self.b, self.w, x, self._centre())

    def instance_gradients(self, x: Tensor) -> Tensor:
        """∇L_k(x), m×d."""
        return self.ops.instance_gradients(self.A, self.b, self.w, x, self._centre())

    def hess(self, x: Tensor) -> Tensor:
        return self.ops.hessian(self.A, self.b, self.w, x)

    def hessians(self, x: Tensor) -> Tensor:
        return self.ops.hessians(self.A, self.b, self.w, x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        return self.ops.hessian_vector_product(self.A, self.b, self.w, x, v)

    def smoothness_bound(self) -> float:
        """ℓ ≤ max_k ‖A_k‖²(0.3082 + max w²) for ‖b_k‖₁ ≤ 1 (docs/theory/p2.md §P2.3, B1)."""
        norm = float(torch.linalg.matrix_norm(self.A, ord=2).max())
        return norm**2 * (B_UPPER_L1 + float((self.w * self.w).max()))

    def hessian_split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(∇²L(x), (1/m)Σ_k A_kᵀW_k²A_k): the Hessian and its regulariser part (pipeline/reference/regime.py)."""
        reg = torch.einsum("kni,kn,knj->ij", self.A, self.w * self.w, self.A) / self.m
        return self.hess(x), reg

    def logits(self, x: Tensor) -> Tensor:
        """The logits A_k x, one row per instance (m×N)."""
        return self.A @ x

    def pd_rule(self, x: Tensor) -> bool:
        """The one-instance bound of P2.3 (B2): μ ≥ σ_min(A)²(min w² − 0.2405) > 0 needs min w² > 0.2405."""
        return float((self.w * self.w).min()) > -B_LOWER_L1

    def noise_at_optimum(self, x: Tensor) -> float:
        """tr Σ(x) = (1/m)Σ_k ‖∇L_k(x) − ∇L(x)‖², 0 at an interpolating x* (assumption B4)."""
        G = self.instance_gradients(x)
        return float(((G - G.mean(0)) ** 2).sum(1).mean())

    def stats(self, x: Tensor) -> dict[str, float]:
        """ℓ, μ, κ and r of ∇²L(x) over the whole space (μ = 0 on a low-rank instance)."""
        return spectral_stats(self.hess(x))

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """ℓ, μ, r, κ on the kept spectrum of ∇²L(x*) and α of assumption B4 (docs/theory/p2.md §P2.6)."""
        Hk = self.hessians(x_star)
        ev = kept_spectrum(Hk.mean(0))
        ell, mu = float(ev[-1]), float(ev[0])
        alpha = noise_alpha(Hk)
        return {"ell": ell, "mu": mu, "kappa": ell / mu, "effective_rank": float(ev.sum()) / ell,
                "rank": float(ev.numel()), "alpha": alpha, "alpha_over_mu": alpha / mu, "m": float(self.m),
                "rows": float(self.A.shape[1]), "d": float(self.dim), "w2_min": float((self.w * self.w).min()),
                "noise_at_optimum": self.noise_at_optimum(x_star)}

    def batch_loss_grad(self, x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """L(x; 𝓑) and ∇L(x; 𝓑): the mean over the instances ``batch`` (indices, repeats allowed) of L_k and ∇L_k,
        the stochastic gradient ∇f_t of first-order stochastic methods (docs/theory/e08.md §4)."""
        return self.ops.loss_and_gradient(self.A[batch], self.b[batch], self.w[batch], x, self._centre())
