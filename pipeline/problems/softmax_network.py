"""Training a two-layer softmax network by gradient descent (E01, docs/theory/e01.md §E01.1–§E01.3):
min over W (d×m) of L(W) = ½ Σ_i ‖F(W, x_i, a) − y_i‖², F(W, x, a)_l = κ_m ⟨a_l, softmax(Wᵀx)⟩, with the
output signs a fixed and x = vec_r(W) (row-major, d·m unknowns).

The formulas are kernels/ntk.py's. The model is the paper's network, so a run starts from the network's
own initialisation W(0), drawn with the instance (``x0: problem``, :meth:`SoftmaxNetwork.initial_point`),
and there is no reference optimum to compute (``reference.method: none``: an over-parameterised network
interpolates the data, L* = 0 at a whole manifold of W). The instance's constants are therefore measured at
W(0) (:meth:`SoftmaxNetwork.size_constants`: the spectrum of the empirical NTK H(W(0)) and of its limit K).
Along a run the problem reports the lazy-training quantities (:meth:`SoftmaxNetwork.monitor`): the weight
drift max_r ‖w_r − w_r(0)‖ (the radius R of the perturbation lemma), its root mean square over the neurons,
the residual ‖F − Y‖ and, with ``monitor_ntk``, the NTK drift ‖H(W) − H(W(0))‖₂/‖H(W(0))‖₂; at the end of a
run :meth:`SoftmaxNetwork.observed` gives their final values.

``stats(x)`` is the spectrum of the NTK H(W) (nd×nd), whose nonzero eigenvalues are those of the
Gauss–Newton part JᵀJ of ∇²L: ℓ = λ_max(H) sets gradient descent's step (the lab's ``gd`` measures
λ_max(∇²L(W(0))) by power iteration, which is λ_max(H) up to the O(m^{-1/2}) curvature of the residual),
μ = λ_min(H) its rate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from omegaconf import MISSING
from torch import Tensor

from kernels import ntk as K
from kernels.spectrum import spectral_stats
from pipeline.core.errors import ConfigError
from pipeline.core.spec import spec

NAME = "softmax_network"
#: the dense Hessian (d·m)² is built up to this many unknowns (tests; a run needs only gradients and hvps)
MAX_DENSE_DIM = 4096


@dataclass
class SoftmaxNetworkConfig:
    """The E01 problem (``problem=softmax_network``, data ``sphere_regression``): the reading of the output
    prefactor κ_m (docs/theory/e01.md §E01.1, [R?]: ``sqrt_m``, the NTK-consistent reading the ledger uses,
    or ``m``) and whether the NTK drift is monitored along a run (an nd×nd kernel at every observation)."""

    name: str = spec(NAME, choices=(NAME,))
    paper: str = MISSING
    prefactor: str = spec("sqrt_m", choices=K.PREFACTORS)
    monitor_ntk: bool = False


@dataclass
class SoftmaxNetwork:
    """E01 instance on a device and dtype: inputs X (n×d), targets Y (n×d), the initialisation W0 (d×m), the
    output signs a (d×m), σ of the initialisation, and the prefactor reading of :class:`SoftmaxNetworkConfig`."""

    X: Tensor
    Y: Tensor
    W0: Tensor
    a: Tensor
    sigma: float = 1.0
    prefactor: str = "sqrt_m"
    monitor_ntk: bool = False
    backend: str = "torch"
    name: str = NAME
    paper: str = "E01"
    data_kinds: ClassVar[tuple[str, ...]] = ("sphere_regression",)
    Params: ClassVar[type] = SoftmaxNetworkConfig
    #: no reference optimum: runs use ``reference.method=none`` (a network interpolates on a manifold)
    has_reference: ClassVar[bool] = False

    def __post_init__(self):
        self._last: Optional[Tensor] = None  # the last monitored point (the run's end, for :meth:`observed`)
        self._ntk0: Optional[Tensor] = None

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch",
                    params: Optional[SoftmaxNetworkConfig] = None):
        p = params or SoftmaxNetworkConfig(paper="E01")
        if p.prefactor not in K.PREFACTORS:
            raise ConfigError("problem.prefactor", f"must be one of {list(K.PREFACTORS)}, got {p.prefactor!r}")
        t = {k: torch.as_tensor(arrays[k], dtype=dtype, device=device) for k in ("X", "Y", "W0", "a")}
        if t["X"].shape[1] != t["W0"].shape[0] or t["Y"].shape[1] != t["a"].shape[0] or t["W0"].shape[1] != t["a"].shape[1]:
            raise ConfigError("data", f"inconsistent E01 instance: X {tuple(t['X'].shape)}, Y {tuple(t['Y'].shape)}, "
                                      f"W0 {tuple(t['W0'].shape)}, a {tuple(t['a'].shape)}")
        return cls(**t, sigma=float(arrays.get("sigma", 1.0)), prefactor=p.prefactor, monitor_ntk=bool(p.monitor_ntk),
                   backend=backend)

    # ------------------------------------------------------------------ shape
    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]

    @property
    def m(self) -> int:
        return self.W0.shape[1]

    @property
    def dim(self) -> int:
        return self.W0.numel()

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def device(self):
        return self.X.device

    @property
    def kappa(self) -> float:
        """κ_m of the prefactor reading (√m or m)."""
        return K.prefactor(self.m, self.prefactor)

    def weights(self, x: Tensor) -> Tensor:
        """W (d×m) from x = vec_r(W)."""
        return x.reshape(self.W0.shape)

    def initial_point(self) -> Tensor:
        """x0 = vec_r(W(0)), the network's initialisation drawn with the instance (``x0: problem``)."""
        return self.W0.reshape(-1).clone()

    # ------------------------------------------------------------------ oracle
    def output(self, x: Tensor) -> Tensor:
        """F(W, X) (n×d)."""
        return K.network_output(self.weights(x), self.X, self.a, self.kappa)

    def loss(self, x: Tensor) -> Tensor:
        return K.loss(self.weights(x), self.X, self.Y, self.a, self.kappa)

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        L, G = K.loss_and_gradient(self.weights(x), self.X, self.Y, self.a, self.kappa)
        return L, G.reshape(-1)

    def grad(self, x: Tensor) -> Tensor:
        return self.loss_grad(x)[1]

    def batch_loss_grad(self, x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Loss and gradient of the mean over the samples ``batch`` of ½‖F(W, x_i) − y_i‖²."""
        L, G = K.loss_and_gradient(self.weights(x), self.X[batch], self.Y[batch], self.a, self.kappa)
        k = float(batch.numel())
        return L / k, G.reshape(-1) / k

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        """∇²L(x) v by forward-mode differentiation of the closed-form gradient."""
        return torch.func.jvp(self.grad, (x,), (v,))[1]

    def hess(self, x: Tensor) -> Tensor:
        """The dense Hessian (d·m)×(d·m), up to :data:`MAX_DENSE_DIM` unknowns."""
        if self.dim > MAX_DENSE_DIM:
            raise ConfigError("data.m", f"the dense Hessian of {self.dim} unknowns (d·m) is not built (at most "
                                        f"{MAX_DENSE_DIM}); gradient methods need only gradients and hvps, and "
                                        f"runs of this problem use reference.method=none")
        return torch.func.hessian(self.loss)(x)

    # ------------------------------------------------------------------ kernels
    def ntk(self, x: Tensor, centred: bool = True) -> Tensor:
        """The empirical NTK H(W) (nd×nd, rows (i, l) ↦ i·d + l) in closed form."""
        return K.ntk(self.weights(x), self.X, self.a, self.kappa, centred)

    def limit_kernel(self) -> Tensor:
        """K_ij = (x_i·x_j) exp(σ² x_i·x_j), the infinite-width NTK block (κ_m = √m)."""
        return K.limit_kernel(self.X, self.sigma**2)

    def stats(self, x: Tensor) -> dict[str, float]:
        """ℓ, μ, κ and effective rank of the NTK H(W) at x (docs/theory/e01.md §E01.2)."""
        return spectral_stats(self.ntk(x))

    def size_constants(self) -> dict[str, float]:
        """The instance's constants at W(0) (a run without a reference optimum): sizes, κ_m, L(W(0)), the spectrum
        of H(W(0)) and of the limit kernel K, and the relative error of H's diagonal blocks against K."""
        x0 = self.initial_point()
        H0 = self.ntk(x0)
        Kl = self.limit_kernel()
        h, k = spectral_stats(H0), spectral_stats(Kl)
        blocks = K.diagonal_blocks(H0, self.d)
        err = float(torch.linalg.vector_norm(blocks - Kl) / (math.sqrt(self.d) * torch.linalg.vector_norm(Kl)))
        return {"n": float(self.n), "d": float(self.d), "m": float(self.m), "sigma": self.sigma,
                "kappa_m": self.kappa, "loss0": float(self.loss(x0)), "ntk_lambda_max": h["ell"],
                "ntk_lambda_min": h["mu"], "ntk_kappa": h["kappa"], "limit_lambda_max": k["ell"],
                "limit_lambda_min": k["mu"], "limit_kappa": k["kappa"], "block_error": err,
                "init_entry_bound": float((self.X @ self.W0).abs().max())}

    # ------------------------------------------------------------------ along a run
    def ntk_drift(self, x: Tensor) -> float:
        """‖H(W) − H(W(0))‖₂/‖H(W(0))‖₂ (the perturbation lemma's kernel change)."""
        if self._ntk0 is None:
            self._ntk0 = self.ntk(self.initial_point())
        H0 = self._ntk0
        return float(torch.linalg.matrix_norm(self.ntk(x) - H0, ord=2) / torch.linalg.matrix_norm(H0, ord=2))

    def monitor(self, x: Tensor) -> dict[str, float]:
        """At an observed iterate: the weight drift max_r ‖w_r − w_r(0)‖, its root mean square over the m
        neurons ‖W − W(0)‖_F/√m, the residual ‖F − Y‖ and (``monitor_ntk``) the NTK drift."""
        self._last = x.detach()
        D = self.weights(self._last) - self.W0
        out = {"weight_drift": float(torch.linalg.vector_norm(D, dim=0).max()),
               "weight_drift_rms": float(torch.linalg.vector_norm(D) / math.sqrt(self.m)),
               "residual_norm": float(torch.linalg.vector_norm(self.output(self._last) - self.Y))}
        if self.monitor_ntk:
            out["ntk_drift"] = self.ntk_drift(self._last)
        return out

    def observed(self) -> dict[str, float]:
        """At the last monitored iterate (the run's end): weight drift (max and rms over the neurons), the NTK
        drift, and the same drifts scaled by √m (flat in m in the lazy regime); {} when nothing was monitored."""
        if self._last is None:
            return {}
        out = {k: v for k, v in self.monitor(self._last).items() if k != "residual_norm"}
        out.setdefault("ntk_drift", self.ntk_drift(self._last))
        root = math.sqrt(self.m)
        out.update(weight_drift_sqrt_m=out["weight_drift"] * root, weight_drift_rms_sqrt_m=out["weight_drift_rms"] * root)
        return out
