"""k-input modular addition with a degree-k polynomial network (E05, docs/theory/e05.md §E05.1, §E05.5):
x = θ flattened from (m, k+1, p) (kernels/modular.py's layout), and

    L(θ) = (1/p^k) Σ_{a ∈ ℤ_p^k} CE(softmax f(θ; a), (a_1 + … + a_k) mod p) + R(θ),

R = (λ/(k+1))‖θ‖_{2,k+1}^{k+1} (``regulariser: margin_norm``, the ledger's reading: the norm the normalised
margin γ is measured in) or (λ/2)‖θ‖² (``regulariser: l2``, plain weight decay), λ = ``weight_decay``.
Full batch; :meth:`ModularAddition.batch_loss_grad` gives the mean over a mini-batch of the p^k inputs.

The network has no reference optimum (run it with ``reference.method=none`` and ``x0=problem``: the start
θ(0) is part of the instance, pipeline/data/modular.py). Along a run :meth:`ModularAddition.monitor` gives
the normalised margin over the paper's optimum, γ(θ)/γ* (``margin_ratio``), and the median over the neurons of
their largest normalised Fourier power (``power_median``); :meth:`ModularAddition.observed` the last and the best
of them and the number of frequencies that single-frequency neurons cover.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np
import torch
from omegaconf import MISSING
from torch import Tensor

from kernels import modular as K
from kernels.spectrum import spectral_stats
from pipeline.core.errors import ConfigError
from pipeline.core.spec import check_memory, spec

NAME = "modular_addition"
#: the largest dimension for which the dense Hessian is built (m(k+1)p; 160 neurons at p = 11, k = 3 are 7040)
HESS_MAX_DIM = 3000
#: a neuron counts as single-frequency when its largest normalised Fourier power is at least this
SINGLE_FREQUENCY = 0.9


@dataclass
class ModularAdditionConfig:
    """The E05 problem (``problem=modular_addition``, data kind ``modular``): the regulariser R and its weight
    λ (``weight_decay``), and how many of the p^k inputs one pass takes at a time (``chunk``: null = all)."""

    name: str = spec(NAME, choices=(NAME,))
    paper: str = MISSING
    regulariser: str = spec("margin_norm", choices=K.REGULARISERS)
    weight_decay: float = spec(1e-4, ge=0.0)
    chunk: Optional[int] = spec(None, ge=1)


@dataclass
class ModularAddition:
    """E05 instance on a device and dtype: the start θ(0) (m, k+1, p), the sizes p, k and the loss's settings."""

    theta0: Tensor
    p: int
    k: int
    weight_decay: float = 1e-4
    regulariser: str = "margin_norm"
    chunk: Optional[int] = None
    backend: str = "torch"
    name: str = NAME
    paper: str = "E05"
    data_kinds: ClassVar[tuple[str, ...]] = ("modular",)
    Params: ClassVar[type] = ModularAdditionConfig
    has_reference: ClassVar[bool] = False  # a network trained from its own θ(0): no reference optimum (reference.method=none)
    _seen: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], dtype=torch.float64, device="cpu", backend: str = "torch",
                    params: Optional[ModularAdditionConfig] = None):
        p, k = int(arrays["p"]), int(arrays["k"])
        theta0 = torch.as_tensor(arrays["theta0"], dtype=dtype, device=device)
        if theta0.shape[1:] != (k + 1, p):
            raise ConfigError("data", f"theta0 has shape {tuple(theta0.shape)}, expected (m, {k + 1}, {p})")
        params = params or ModularAdditionConfig(paper="E05")
        block = p ** k if params.chunk is None else max(p ** (k - 1), params.chunk)
        check_memory("problem.chunk", int(torch.finfo(dtype).bits // 8 * 4 * theta0.shape[0] * block))
        return cls(theta0, p, k, float(params.weight_decay), str(params.regulariser), params.chunk, backend)

    # ------------------------------------------------------------------ shape
    @property
    def m(self) -> int:
        return self.theta0.shape[0]

    @property
    def dim(self) -> int:
        return self.theta0.numel()

    @property
    def dtype(self):
        return self.theta0.dtype

    @property
    def device(self):
        return self.theta0.device

    @property
    def gamma_star(self) -> float:
        """γ* = 2·k!/((2k+2)^{(k+1)/2}(p−1)p^{(k−1)/2}) (Thm 4.1)."""
        return K.optimal_margin(self.p, self.k)

    def theta(self, x: Tensor) -> Tensor:
        """θ of shape (m, k+1, p) from the flat x."""
        return x.reshape(self.theta0.shape)

    # ------------------------------------------------------------------ oracle
    def loss(self, x: Tensor) -> Tensor:
        return self.loss_grad(x)[0]

    def grad(self, x: Tensor) -> Tensor:
        return self.loss_grad(x)[1]

    def loss_grad(self, x: Tensor) -> tuple[Tensor, Tensor]:
        value, g = K.loss_and_gradient(self.theta(x), self.weight_decay, self.regulariser, chunk=self.chunk)
        return value, g.reshape(-1)

    def batch_loss_grad(self, x: Tensor, batch: Tensor) -> tuple[Tensor, Tensor]:
        """Mean cross-entropy over the inputs with indices ``batch`` (of the p^k, lexicographic) plus R, and its
        gradient."""
        a = K.digits(batch.to(self.device), self.p, self.k)
        value, g = K.loss_and_gradient(self.theta(x), self.weight_decay, self.regulariser, a=a)
        return value, g.reshape(-1)

    def _autograd_loss(self, x: Tensor) -> Tensor:
        return K.loss(self.theta(x), self.weight_decay, self.regulariser)

    def hess(self, x: Tensor) -> Tensor:
        if self.dim > HESS_MAX_DIM:
            raise ValueError(f"the dense Hessian of the modular-addition network has dimension m(k+1)p = {self.dim} "
                             f"> {HESS_MAX_DIM}; use hvp")
        return torch.func.hessian(self._autograd_loss)(x)

    def hvp(self, x: Tensor, v: Tensor) -> Tensor:
        return torch.func.jvp(torch.func.grad(self._autograd_loss), (x,), (v,))[1]

    def stats(self, x: Tensor) -> dict[str, float]:
        """ℓ, μ, κ and effective rank of ∇²L(x) where the Hessian is small enough to build; the margin and the
        Fourier power there (:meth:`measure`) in any case."""
        out = dict(spectral_stats(self.hess(x))) if self.dim <= HESS_MAX_DIM else {}
        out.update(self.measure(x))
        return out

    # ------------------------------------------------------------------ what a run records
    def measure(self, x: Tensor) -> dict[str, float]:
        """At x: γ(θ)/γ* (``margin_ratio``), the median and the smallest largest-power share of the neurons
        (``power_median``, ``power_min``), and how many of the (p−1)/2 frequencies are the dominant frequency of a
        single-frequency neuron (largest share ≥ 0.9; ``frequencies_present``)."""
        th = self.theta(x.detach())
        fp = K.fourier_power(th)
        single = fp.dominant[fp.max_power >= SINGLE_FREQUENCY]
        present = int(torch.unique(single[single > 0]).numel())
        return {"margin_ratio": float(K.normalised_margin(th, self.chunk)) / self.gamma_star,
                "power_median": float(fp.max_power.median()), "power_min": float(fp.max_power.min()),
                "frequencies_present": float(present)}

    def monitor(self, x: Tensor) -> dict[str, float]:
        """γ/γ* and the median largest Fourier power at x (curves of a run; the rest is kept for :meth:`observed`)."""
        values = self.measure(x)
        self._seen["last"] = values
        self._seen["best_margin_ratio"] = max(self._seen.get("best_margin_ratio", -math.inf), values["margin_ratio"])
        return {"margin_ratio": values["margin_ratio"], "power_median": values["power_median"]}

    def observed(self) -> dict[str, float]:
        """At the last monitored point: γ/γ*, the power shares, the frequencies present (out of (p−1)/2); the best
        γ/γ* along the run."""
        if "last" not in self._seen:
            return {}
        return {**self._seen["last"], "margin_ratio_best": self._seen["best_margin_ratio"],
                "frequencies": float((self.p - 1) // 2)}

    # ------------------------------------------------------------------ start and constants
    def initial_point(self) -> Tensor:
        """θ(0), flattened (``x0=problem``)."""
        return self.theta0.reshape(-1).clone()

    def size_constants(self) -> dict[str, float]:
        """The sizes and the theorem's numbers: p, k, m, p^k inputs, the width 2^{2k−2}(p−1), m over it, γ*."""
        width = K.optimal_width(self.p, self.k)
        return {"p": float(self.p), "k": float(self.k), "m": float(self.m), "points": float(self.p ** self.k),
                "dim": float(self.dim), "optimal_width": float(width), "width_ratio": self.m / width,
                "gamma_star": self.gamma_star, "init_norm_2k": float(K.norm_2k(self.theta0))}

    def instance_constants(self, x_star: Tensor) -> dict[str, float]:
        """The size constants and the loss at the reference point (the network has no reference optimum: with
        ``reference.method=newton`` x* is the stationary point θ = 0 where Newton stops at once)."""
        out = self.size_constants()
        out["loss_star"] = float(self.loss(x_star))
        return out
