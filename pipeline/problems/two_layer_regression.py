"""Two-layer regression with a softmax first layer (E09, docs/theory/e09.md §E09.1):
min_x ½‖v(x) − b‖² + ½‖diag(w)Cx‖², v = φ(A softmax(Cx)) (``reading: composed``, the ledger's reading) or
v = A φ(softmax(Cx)) (``reading: readout``), φ ∈ {relu, identity, exp} (``activation``).

The formulas are kernels/two_layer.py's. For the approximate Gauss–Newton solver the problem splits its
Hessian (:meth:`TwoLayerRegression.gauss_newton`) as MᵀM + CᵀW²C + curvature with M = GC, G the m×n
Jacobian of v with respect to the logits. The reference optimum x* (pipeline/reference) is the
regularised minimiser that Newton reaches from the planted x_true; it differs from x_true by the
regulariser's pull (``x_star_offset`` among the instance constants).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from omegaconf import MISSING
from torch import Tensor

from kernels import two_layer as K
from kernels.sketch import DenseFactor
from kernels.spectrum import spectral_stats
from pipeline.core.errors import ConfigError
from pipeline.core.spec import spec
from pipeline.problems.base import GaussNewtonParts

NAME = "two_layer_regression"


@dataclass
class TwoLayerRegressionConfig:
    """The E09 problem (``problem=two_layer_regression``): the activation φ and the reading of the two
    layers (``composed``: v = φ(A softmax(Cx)); ``readout``: v = A φ(softmax(Cx))), docs/theory/e09.md §E09.1.
    The data kind follows these keys (conf/data/two_layer.yaml), so that the target b is made by the
    same model."""

    name: str = spec(NAME, choices=(NAME,))
    paper: str = MISSING
    activation: str = spec("relu", choices=K.ACTIVATIONS)
    reading: str = spec("composed", choices=K.READINGS)


def _text(arrays: dict[str, np.ndarray], key: str, default: str) -> str:
    return str(arrays[key]) if key in arrays else default


@dataclass
class TwoLayerRegression:
    """E09 instance on a device and dtype: C (n×d), A (m×n), b (m), w (n), the planted x_true (d), and the
    model of :class:`TwoLayerRegressionConfig`."""

    C: Tensor
    A: Tensor
    b: Tensor
    w: Tensor
    x_true: Optional[Tensor] = None
    activation: str = "relu"
    reading: str = "composed"
    backend: str = "torch"
    name: str = NAME
    paper: str = "E09"
    data_kinds: ClassVar[tuple[str, ...]] = ("two_layer",)
    Params: ClassVar[type] = TwoLayerRegressionConfig

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch",
                    params: Optional[TwoLayerRegressionConfig] = None):
        """The problem of an instance; without ``params`` the model is the instance's own (the one that made
        b, as the reference optimum is computed), with ``params`` it must be that model."""
        act, reading = _text(arrays, "activation", "relu"), _text(arrays, "reading", "composed")
        if params is not None:
            for key, mine, theirs in (("activation", params.activation, act), ("reading", params.reading, reading)):
                if mine != theirs:
                    raise ConfigError(f"problem.{key}", f"is {mine!r} but the instance's target b was made with "
                                                        f"data.{key} = {theirs!r}; set both alike")
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("C", "A", "b", "w")}
        x_true = torch.as_tensor(arrays["x_true"], dtype=dtype, device=device) if "x_true" in arrays else None
        return cls(**t, x_true=x_true, activation=act, reading=reading, backend=backend)

    # ------------------------------------------------------------------ shape
    @property
    def n(self) -> int:
        return self.C.shape[0]

    @property
    def m(self) -> int:
        return self.A.shape[0]

    @property
    def dim(self) -> int:
        return self.C.shape[1]

    @property
    def dtype(self):
        return self.C.dtype

    @property
    def device(self):
        return self.C.device

    def _args(self, x: Tensor):
        return (self.C, self.A, self.b, self.w, x, self.activation, self.reading)

    # ------------------------------------------------------------------ oracle
    def forward(self, x: Tensor) -> K.Forward:
        """z, u, pre-activations y, v, r and L at x (kernels/two_layer.py)."""
        return K.forward(*self._args(x))

    def loss(self, x: Tensor) -> Tensor:
        return K.loss(*self._args(x))

    def grad(self, x: Tensor) -> Tensor:
        return K.gradient(*self._args(x))

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return K.loss_and_gradient(*self._args(x))

    def hess(self, x: Tensor) -> Tensor:
        return K.hessian(*self._args(x))

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        C, A, b, w, x, act, reading = self._args(x)
        return K.hessian_vector_product(C, A, b, w, x, v, act, reading)

    def jacobian(self, x: Tensor) -> Tensor:
        """∂v/∂x (m×d), the Gauss–Newton matrix M = GC."""
        return K.jacobian(*self._args(x))

    def gauss_newton(self, x: Tensor) -> GaussNewtonParts:
        """∇²L(x) = MᵀM + CᵀW²C + curvature, M = GC (docs/theory/e09.md §E09.3)."""
        return GaussNewtonParts(DenseFactor(K.gauss_newton_matrix(*self._args(x))), K.regulariser(self.C, self.w),
                                K.curvature(*self._args(x)))

    def stats(self, x: Tensor) -> dict[str, float]:
        """ℓ, μ, κ and effective rank of ∇²L(x)."""
        return spectral_stats(self.hess(x))

    # ------------------------------------------------------------------ reference and constants
    @staticmethod
    def reference_starts(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Where the reference Newton run starts: the planted x_true (L is not convex; x* is the regularised
        minimiser next to it, docs/theory/e09.md §E09.4)."""
        return [np.asarray(arrays["x_true"], dtype=np.float64)]

    def pre_activations(self, x: Tensor) -> Tensor:
        """What φ is applied to: A u(x) (composed, m entries) or u(x) (readout, n entries)."""
        return self.forward(x).y

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """At x*: the spectrum of ∇²L (λ_max ``ell``, λ_min ``mu``, κ), the share of the data term in it, κ(C),
        the logit scale ‖Cx*‖_∞, the smallest pre-activation, ‖x* − x_true‖ (the regulariser's offset),
        the residual ‖v(x*) − b‖, L(x*) and the sizes."""
        H = self.hess(x_star)
        out = dict(spectral_stats(H))
        reg = K.regulariser(self.C, self.w)
        sv = torch.linalg.svdvals(self.C)
        f = self.forward(x_star)
        top = float(torch.linalg.matrix_norm(H, ord=2))
        out.update(n=float(self.n), d=float(self.dim), m=float(self.m), kappa_C=float(sv[0] / sv[-1]),
                   C_norm=float(sv[0]), logit_scale_star=float(f.z.abs().max()),
                   logit_spread_star=float(f.z.max() - f.z.min()), u_max_star=float(f.u.max()),
                   min_pre_activation=float(f.y.min()),
                   data_share=float(torch.linalg.matrix_norm(H - reg, ord=2)) / top if top > 0 else math.nan,
                   residual_star=float(torch.linalg.vector_norm(f.r)), loss_star=float(f.loss),
                   x_star_offset=float(torch.linalg.vector_norm(x_star - self.x_true)) if self.x_true is not None
                   else math.nan)
        return out
