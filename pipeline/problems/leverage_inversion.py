"""The leverage-score inversion problem of E02 (docs/theory/e02.md §E02.1–E02.2):

    min over x ∈ ℝᵈ of L(x) = ½‖σ_*(x) − σ‖² + ½‖diag(w)Ax‖²,   σ_*(x) = diag(A(x)(A(x)ᵀA(x))⁻¹A(x)ᵀ),

A(x) = S(x)⁻¹A, s(x) = Ax − b. The oracle is that of kernels/leverage_inversion.py, with the exact Hessian
(Gauss–Newton term, curvature term and regulariser, all analytic). For the approximate Gauss–Newton solver the
Hessian splits as GᵀG + AᵀW²A + C with G = 2ΛA(x) (:meth:`gauss_newton`). L is not convex and has a pole at
every s_i = 0: the problem's domain is the cell of the planted residual's signs (:meth:`in_domain`), and the
solvers that respect it halve a step that would cross a pole.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from kernels import leverage_inversion as K
from kernels.sketch import DenseFactor
from kernels.spectrum import spectral_stats
from pipeline.problems.base import GaussNewtonParts


@dataclass
class LeverageInversion:
    """E02 instance on a device and dtype: A (n×d), b, the target σ, the weights w and the signs of the planted
    residual s_true (the domain's cell; None: any point off the poles)."""

    A: Tensor
    b: Tensor
    sigma: Tensor
    w: Tensor
    signs: Optional[Tensor] = None
    backend: str = "torch"
    log: dict = field(default_factory=dict)
    name: ClassVar[str] = "leverage_inversion"
    paper: ClassVar[str] = "E02"
    data_kinds: ClassVar[tuple[str, ...]] = ("leverage_target",)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch"):
        t = {k: torch.as_tensor(np.asarray(arrays[k]), dtype=dtype, device=device) for k in ("A", "b", "sigma", "w")}
        signs = None
        if "s_true" in arrays:
            signs = torch.sign(torch.as_tensor(np.asarray(arrays["s_true"]), dtype=dtype, device=device))
        return cls(**t, signs=signs, backend=backend)

    # ------------------------------------------------------------------ shape
    @property
    def n(self) -> int:
        return self.A.shape[0]

    @property
    def d(self) -> int:
        return self.A.shape[1]

    @property
    def dim(self) -> int:
        return self.d

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def device(self):
        return self.A.device

    def _data(self):
        return self.A, self.b, self.sigma, self.w

    # ------------------------------------------------------------------ oracle
    def residual(self, x: Tensor) -> Tensor:
        """s(x) = Ax − b."""
        return K.residual(self.A, self.b, x)

    def scores(self, x: Tensor) -> Tensor:
        """σ_*(x), the leverage scores of S(x)⁻¹A."""
        return K.leverage(self.A, self.residual(x))

    def loss(self, x: Tensor) -> Tensor:
        return K.loss(*self._data(), x)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return K.loss_and_gradient(*self._data(), x)

    def grad(self, x: Tensor) -> Tensor:
        return K.gradient(*self._data(), x)

    def hess(self, x: Tensor) -> Tensor:
        """The exact ∇²L = 4A(x)ᵀΛ²A(x) + C + AᵀW²A (analytic, docs/theory/e02.md §E02.2)."""
        return K.hessian(*self._data(), x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        return K.hvp(*self._data(), x, v)

    def stats(self, x: Tensor) -> dict[str, float]:
        return spectral_stats(self.hess(x))

    def gauss_newton(self, x: Tensor) -> GaussNewtonParts:
        """∇²L = GᵀG + AᵀW²A + C with G = 2ΛA(x) (n×d), the regulariser's Hessian and the curvature remainder
        C = Σ r_i∇²σ_{*,i} (zero at a zero-residual point), docs/theory/e02.md §E02.2."""
        A, b, sigma, w = self._data()
        return GaussNewtonParts(DenseFactor(K.gauss_newton_factor(A, b, x)), K.regulariser_hessian(A, w),
                                K.curvature(A, b, sigma, x))

    def in_domain(self, x: Tensor) -> bool:
        """No s_i(x) is zero or has changed sign from the planted residual's: x lies in the planted cell between
        the poles (docs/theory/e02.md §E02.4, safeguard)."""
        s = self.residual(x)
        if self.signs is None:
            return bool(torch.all(s != 0))
        return K.same_signs(s, self.signs)

    # ------------------------------------------------------------------ reference and constants
    @staticmethod
    def reference_starts(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Where the reference Newton run starts: the planted x_true. For a realisable target L(x_true) = 0 = min L,
        so x* = x_true; with a noisy target x* is the stationary point Newton reaches from x_true (a local
        minimiser in the planted cell; L is not convex, docs/theory/e02.md §E02.2)."""
        return [np.asarray(arrays["x_true"], dtype=np.float64)]

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """The spectrum of ∇²L(x*) (``ell``, ``mu`` = λ_min, ``kappa``, ``effective_rank``), λ_min of its Gauss–Newton
        part GᵀG + AᵀW²A, min_i |s_i(x*)|, κ(A), the residual ‖σ_*(x*) − σ‖, L(x*), whether x* lies in the planted
        cell, n and d."""
        out = dict(self.stats(x_star))
        A, b, sigma, w = self._data()
        G = K.gauss_newton_factor(A, b, x_star)
        gn = torch.linalg.eigvalsh(G.T @ G + K.regulariser_hessian(A, w))
        sv = torch.linalg.svdvals(A)
        s = self.residual(x_star)
        out.update(lambda_min=out["mu"], lambda_min_gauss_newton=float(gn[0]), s_abs_min=float(s.abs().min()),
                   kappa_A=float(sv[0] / sv[-1]) if float(sv[-1]) > 0 else math.inf,
                   residual=float(torch.linalg.vector_norm(self.scores(x_star) - sigma)),
                   loss_star=float(self.loss(x_star)), in_planted_cell=float(self.in_domain(x_star)),
                   w_max=float(w.abs().max()), n=float(self.n), d=float(self.d))
        return out
