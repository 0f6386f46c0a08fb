"""The attention loss of E07 (docs/theory/e07.md §E07.1): min over X (d×d) of ½‖D(X)⁻¹exp(A1XA2ᵀ/scale)A3Y − E‖_F².

The solvers' variable is x = vec_r(X) ∈ ℝ^{d²} (row-major). The loss is always the exact L; the gradient
the solvers receive is the problem's choice (config ``problem.gradient``): ``exact`` (O(n²d),
§E07.2) or ``lowrank``, the chain of §E07.3 with a polynomial of degree ``problem.degree``
(``problem.coefficients``: Taylor, or Chebyshev on the current logit interval) and the index
conventions ``problem.indices``. Hessians and Hessian-vector products are those of the exact L (automatic
differentiation of the loss), so that a step size measured at x0 is the same for both gradients.

Along a run the problem records what the claim about inexact gradients needs (:meth:`observed`):
‖A1X‖_∞ and the logit radius at every gradient call (largest and last), and, for the low-rank
gradient, its error against the exact gradient at the calls 1, 2, 4, 8, ….
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Optional

import numpy as np
import torch
from omegaconf import MISSING
from torch import Tensor

from kernels import attention_gradient as K
from kernels.polynomial import COEFFICIENTS, coefficients
from kernels.spectrum import spectral_stats
from pipeline.core.spec import spec

NAME = "attention_gradient"


@dataclass
class AttentionGradientConfig:
    """The E07 problem (``problem=attention_gradient``): which gradient the solvers receive (``exact`` or the
    ``lowrank`` chain of docs/theory/e07.md §E07.3), the polynomial's degree g and coefficients, and the
    chain's index conventions (``fixed``; ``paper``, ``paper_D3``, ``paper_D5``: the printed lemmas)."""

    name: str = spec(NAME, choices=(NAME,))
    paper: str = MISSING
    gradient: str = spec("exact", choices=("exact", "lowrank"))
    degree: int = spec(4, ge=0, le=24)
    coefficients: str = spec("taylor", choices=COEFFICIENTS)
    indices: str = spec("fixed", choices=K.INDICES)


def _vec_r(X: Tensor) -> Tensor:
    return X.reshape(-1)


@dataclass
class AttentionGradient:
    """E07 instance on a device and dtype: A1, A2, A3, E (n×d), Y (d×d), the scale inside the exponential,
    and the gradient settings of :class:`AttentionGradientConfig`."""

    A1: Tensor
    A2: Tensor
    A3: Tensor
    E: Tensor
    Y: Tensor
    scale: float
    B: float = math.nan
    gradient: str = "exact"
    degree: int = 4
    coefficients: str = "taylor"
    indices: str = "fixed"
    backend: str = "torch"
    name: str = NAME
    paper: str = "E07"
    log: dict = field(default_factory=dict)
    data_kinds: ClassVar[tuple[str, ...]] = ("bounded_attention",)
    Params: ClassVar[type] = AttentionGradientConfig

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch",
                    params: Optional[AttentionGradientConfig] = None):
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("A1", "A2", "A3", "E", "Y")}
        p = params or AttentionGradientConfig()
        return cls(**t, scale=float(arrays["scale"]), B=float(arrays.get("B", math.nan)), gradient=p.gradient,
                   degree=int(p.degree), coefficients=p.coefficients, indices=p.indices, backend=backend)

    # ------------------------------------------------------------------ shape
    @property
    def n(self) -> int:
        return self.A1.shape[0]

    @property
    def d(self) -> int:
        return self.A1.shape[1]

    @property
    def dim(self) -> int:
        return self.d * self.d

    @property
    def dtype(self):
        return self.A1.dtype

    @property
    def device(self):
        return self.A1.device

    def X(self, x: Tensor) -> Tensor:
        """x = vec_r(X) → X (d×d)."""
        return x.reshape(self.d, self.d)

    def _data(self):
        return self.A1, self.A2, self.A3, self.E, self.Y

    # ------------------------------------------------------------------ oracle
    def loss(self, x: Tensor) -> Tensor:
        """The exact L(X) (the low-rank choice changes the gradient only)."""
        return K.loss(*self._data(), self.X(x), self.scale)

    def coef(self, X: Tensor) -> Tensor:
        """The polynomial's coefficients: Taylor, or Chebyshev on the current logit interval [−ρ, ρ]."""
        radius = K.logit_radius(self.A1, self.A2, X, self.scale)
        return coefficients(self.degree, self.coefficients, radius).to(X.device, X.dtype)

    def lowrank(self, X: Tensor) -> Tensor:
        """The chain's gradient g̃ (d×d) at X with this problem's degree, coefficients and indices."""
        return K.lowrank_gradient(*self._data(), X, self.degree, self.scale, self.coef(X), self.indices)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        X = self.X(x)
        if self.gradient == "lowrank":
            return K.loss(*self._data(), X, self.scale), self.grad(x)
        L, g = K.loss_and_gradient(*self._data(), X, self.scale)
        self._observe(X, g, lambda: g)
        return L, _vec_r(g)

    def grad(self, x: Tensor) -> Tensor:
        X = self.X(x)
        if self.gradient == "lowrank":
            g = self.lowrank(X)
            self._observe(X, g, lambda: K.gradient(*self._data(), X, self.scale))
            return _vec_r(g)
        g = K.gradient(*self._data(), X, self.scale)
        self._observe(X, g, lambda: g)
        return _vec_r(g)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        """∇²L(x)v of the exact L, by reverse-mode differentiation of ⟨∇L(x), v⟩."""
        with torch.enable_grad():
            z = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss(z), z, create_graph=True)
            return torch.autograd.grad(g @ v, z)[0]

    def hess(self, x: Tensor) -> Tensor:
        """∇²L(x) (d²×d²) of the exact L (reverse mode over the loss)."""
        H = torch.autograd.functional.hessian(self.loss, x.detach())
        return 0.5 * (H + H.T)

    def stats(self, x: Tensor) -> dict[str, float]:
        return spectral_stats(self.hess(x))

    # ------------------------------------------------------------------ along the run
    def _observe(self, X: Tensor, g: Tensor, exact: Callable[[], Tensor]) -> None:
        """Record ‖A1X‖_∞ and the logit radius (largest, last) and, at the gradient calls 1, 2, 4, 8, …, the
        error max|g − ∇L| of the gradient handed out (0 for the exact one; ``exact`` computes ∇L) relative to
        max|∇L| there (``gradient_error_*``) and to max|∇L| at the first call (``gradient_error_x0_max``), and the
        ‖A1X‖_∞ at which the latter first passes 10 % (``a1x_inf_at_error_0.1``)."""
        log = self.log
        calls = log["gradient_calls"] = log.get("gradient_calls", 0) + 1
        a1x = K.a1x_norm(self.A1, X)
        radius = K.logit_radius(self.A1, self.A2, X, self.scale)
        log["a1x_inf_last"], log["logit_radius_last"] = a1x, radius
        log["a1x_inf_max"] = max(log.get("a1x_inf_max", 0.0), a1x)
        log["logit_radius_max"] = max(log.get("logit_radius_max", 0.0), radius)
        if calls & (calls - 1) == 0:
            exact = exact()
            top = float(exact.abs().max())
            log.setdefault("gradient_scale_x0", top)
            gap = float((g - exact).abs().max())
            err = gap / top if top > 0 else math.inf
            err0 = gap / log["gradient_scale_x0"] if log["gradient_scale_x0"] > 0 else math.inf
            err, err0 = (e if math.isfinite(e) else math.inf for e in (err, err0))
            log["gradient_error_last"] = err
            log["gradient_error_max"] = max(log.get("gradient_error_max", 0.0), err)
            log["gradient_error_x0_max"] = max(log.get("gradient_error_x0_max", 0.0), err0)
            if err0 > 0.1 and "a1x_inf_at_error_0.1" not in log:  # where the gradient handed out stops being usable
                log["a1x_inf_at_error_0.1"] = a1x

    def observed(self) -> dict[str, float]:
        """What the problem saw along the run (summary.json's ``observed``): ‖A1X‖_∞ and the logit radius
        (largest over the gradient calls, and last), the sampled error of the gradient handed out, the
        ‖A1X‖_∞ at which that error first passed 10 %, the entry bound B and B²/ln n, and for the low-rank
        gradient the chain's settings and ranks k1, k2, k3."""
        chain = {**K.ranks(self.d, self.degree), "degree": self.degree, "coefficients": self.coefficients,
                 "indices": self.indices} if self.gradient == "lowrank" else {}
        return {**{k: float(v) for k, v in self.log.items()}, **chain, "B": self.B,
                "B2_over_ln_n": self.B * self.B / math.log(self.n)}

    # ------------------------------------------------------------------ reference and constants
    @staticmethod
    def reference_starts(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Where the reference Newton run starts: the planted X_true. Without noise L(X_true) = 0 = min L (L ≥ 0),
        so x* = X_true is a global minimiser and L* = 0; with noise x* is the stationary point Newton reaches
        from X_true (a local minimiser; L is not convex, docs/theory/e07.md §E07.5)."""
        return [np.asarray(arrays["x_true"], dtype=np.float64)]

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """Spectrum of ∇²L at x*, the sizes, the entry bound B, B²/ln n, ‖A1X*‖_∞, ‖A2‖_∞ and the logit radius at x*."""
        X = self.X(x_star)
        out = dict(self.stats(x_star))
        out.update(n=float(self.n), d=float(self.d), scale=self.scale, B=self.B,
                   B2_over_ln_n=self.B * self.B / math.log(self.n), a1x_inf_star=K.a1x_norm(self.A1, X),
                   a2_inf=float(self.A2.abs().max()), logit_radius_star=K.logit_radius(self.A1, self.A2, X, self.scale),
                   loss_star=float(self.loss(x_star)))
        return out
