"""One-layer attention regression (P3.1): min over X, Y of ‖S(X)A3Y - B‖_F² + L_reg(X) + (λ_Y/2)‖Y‖_F².

The solvers' variable is z = [vec_r(X); vec_r(Y)] ∈ R^{2d²} (row-major, kernels/attention.py), so
that the joint baselines (gradient descent, Adam, L-BFGS) see a plain vector. The alternating
method of P3.5 uses the blocks: ``y_step`` (exact), ``grad_x``/``hess_x``/``hess_x_blocks`` in x
with Y fixed. Every block call is counted by :class:`pipeline.problems.CountingOracle`
(``COUNTED``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from kernels import attention as K
from kernels.backend import ops
from kernels.spectrum import spectral_stats


@dataclass
class AttentionRegression:
    """P3 instance on a device and dtype: data A1, A2, A3, B (n×d), weights w (n×n), ridge λ_Y."""

    A1: Tensor
    A2: Tensor
    A3: Tensor
    B: Tensor
    w: Tensor
    lam_y: float = 0.0
    constants: dict = field(default_factory=dict)
    backend: str = "torch"
    name: str = "attention_regression"
    paper: str = "P3"
    data_kinds: ClassVar[tuple[str, ...]] = ("attention", "attention_file")
    #: block oracles that CountingOracle counts by name (besides loss, grad, hess, hvp)
    COUNTED: ClassVar[tuple[str, ...]] = ("y_step", "grad_x", "hess_x", "hess_x_blocks", "loss_xy")

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu",
                    constants: Optional[dict] = None, backend: str = "torch"):
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("A1", "A2", "A3", "B", "w")}
        return cls(**t, lam_y=float(arrays["lam_y"]), constants=dict(constants or {}), backend=backend)

    @property
    def ops(self):
        """The P3 kernels (kernels.attention's functions) of this instance's backend (kernels/backend.py)."""
        return ops("attention", self.backend)

    # ------------------------------------------------------------------ shape
    @property
    def d(self) -> int:
        return self.A1.shape[1]

    @property
    def n(self) -> int:
        return self.A1.shape[0]

    @property
    def dim(self) -> int:
        return 2 * self.d * self.d

    @property
    def dtype(self):
        return self.A1.dtype

    @property
    def device(self):
        return self.A1.device

    def split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z = [vec_r(X); vec_r(Y)] → (X, Y)."""
        k = self.d * self.d
        return K.unvec_r(z[:k], self.d), K.unvec_r(z[k:], self.d)

    def join(self, X: Tensor, Y: Tensor) -> Tensor:
        return torch.cat([K.vec_r(X), K.vec_r(Y)])

    def _data(self):
        return self.A1, self.A2, self.A3, self.B

    # ------------------------------------------------------------------ joint oracle (z)
    def loss(self, z: Tensor) -> Tensor:
        return self.ops.loss(*self._data(), *self.split(z), self.w, self.lam_y)

    def loss_grad(self, z: Tensor) -> tuple[Tensor, Tensor]:
        L, gX, gY = self.ops.loss_and_gradients(*self._data(), *self.split(z), self.w, self.lam_y)
        return L, self.join(gX, gY)

    def grad(self, z: Tensor) -> Tensor:
        return self.loss_grad(z)[1]

    def _reference_grad(self, z: Tensor) -> Tensor:
        """The analytic gradient in torch (kernels/attention.py), which forward mode can differentiate."""
        _, gX, gY = K.loss_and_gradients(*self._data(), *self.split(z), self.w, self.lam_y)
        return self.join(gX, gY)

    def hvp(self, z: Tensor, v: Tensor) -> Tensor:
        """Joint Hessian-vector product, by forward-mode differentiation of the analytic gradient."""
        return torch.func.jvp(self._reference_grad, (z,), (v,))[1]

    def hess(self, z: Tensor) -> Tensor:
        """Joint 2d²×2d² Hessian (forward mode over the analytic gradient); its x-block is ``hess_x``."""
        H = torch.func.jacfwd(self._reference_grad)(z)
        return 0.5 * (H + H.T)

    def stats(self, z: Tensor) -> dict[str, float]:
        """ℓ, μ, κ and effective rank of the joint Hessian at z (μ < 0 away from a local minimum)."""
        return spectral_stats(self.hess(z))

    # ------------------------------------------------------------------ blocks (X, Y)
    def loss_xy(self, X: Tensor, Y: Tensor) -> Tensor:
        return self.ops.loss(*self._data(), X, Y, self.w, self.lam_y)

    def y_step(self, X: Tensor) -> Tensor:
        """Y*(X) = (MᵀM + (λ_Y/2)I)⁻¹MᵀB (P3.2, In Y): the exact minimiser in Y."""
        return K.y_step(*self._data(), X, self.lam_y)

    def grad_x(self, X: Tensor, Y: Tensor) -> Tensor:
        """∇_X (L + L_reg) as a d×d matrix (P3.2)."""
        return self.ops.gradient_x(*self._data(), X, Y, self.w, self.lam_y)

    def hess_x(self, X: Tensor, Y: Tensor) -> Tensor:
        """∇²_x (L + L_reg), d²×d², in Kronecker form (P3.2)."""
        return K.hessian_x(*self._data(), X, Y, self.w)

    def hess_x_blocks(self, X: Tensor, Y: Tensor) -> Tensor:
        """The n blocks K_j (n×d×d) of ∇²_x = Σ_j (a_j a_jᵀ) ⊗ K_j, for a row-sampled Hessian (P3.5)."""
        return K.hessian_x_blocks(*self._data(), X, Y, self.w)

    # ------------------------------------------------------------------ reference and constants
    @staticmethod
    def reference_starts(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Where the reference Newton runs start: the planted (X_true, Y_true) when known, and 0.

        L is not jointly convex (P3.7 item 4); x* is the stationary point of lowest loss found
        from these starts (pipeline.reference.compute_reference), a local minimiser in general.
        """
        x = np.asarray(arrays["x_true"], dtype=np.float64)
        zero = np.zeros_like(x)
        return [x, zero] if np.all(np.isfinite(x)) else [zero]

    def hessian_split(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(∇²ₓ(L + L_reg), ∇²ₓL_reg) at z, the x-block with Y fixed (P3.2; pipeline/reference/regime.py)."""
        X, Y = self.split(z)
        H = self.hess_x(X, Y)
        return H, H - K.hessian_x(*self._data(), X, Y, None)

    def logits(self, z: Tensor) -> Tensor:
        """The scores A1 X A2ᵀ (one softmax per row)."""
        return K.scores(self.A1, self.A2, self.split(z)[0])

    def pd_rule(self, z: Tensor) -> bool:
        """The sufficient condition of P3.4 with l → 0: w_{j0,p}² ≥ 0.3849·osc(g_{j0}) for every j0, p,
        g_{j0} the rows of G = (S V − B)Vᵀ at z."""
        X, Y = self.split(z)
        V = self.A3 @ Y
        G = (K.attention(self.A1, self.A2, X) @ V - self.B) @ V.T
        osc = G.max(dim=1).values - G.min(dim=1).values
        return bool(torch.all((self.w * self.w) >= 0.3849 * osc[:, None]))

    def size_constants(self) -> dict[str, float]:
        """The sizes only (an instance without a reference optimum)."""
        return {"n": float(self.n), "d": float(self.d), "w2_min": float((self.w * self.w).min()), "lam_y": self.lam_y}

    def instance_constants(self, z_star: Tensor) -> dict[str, float]:
        """Constants at the reference optimum: spectrum of the joint and x-block Hessians, σ_min(M)²
        (the Y-block is 2σ_min(M)²-strongly convex), σ_min(A1)σ_min(A2) of the PD rule (P3-L3)."""
        X, Y = self.split(z_star)
        joint = spectral_stats(self.hess(z_star))
        ex = torch.linalg.eigvalsh(self.hess_x(X, Y))
        M = K.attention(self.A1, self.A2, X) @ self.A3
        sM = torch.linalg.svdvals(M)
        s1, s2 = torch.linalg.svdvals(self.A1), torch.linalg.svdvals(self.A2)
        return {"ell": joint["ell"], "mu": joint["mu"], "kappa": joint["kappa"],
                "effective_rank": joint["effective_rank"],
                "ell_x": float(ex[-1]), "mu_x": float(ex[0]), "sigma_min_M2": float(sM[-1]) ** 2,
                "sigma_min_A1A2": float(s1[-1] * s2[-1]), "n": float(self.n), "d": float(self.d),
                "w2_min": float((self.w * self.w).min()), "lam_y": self.lam_y,
                "loss_star": float(self.loss(z_star))}
