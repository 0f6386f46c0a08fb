"""ZO-SGD with the n-SPSA gradient estimate (docs/theory/p2.md §P2.5): forward passes only.

    x_{t+1} = x_t - η ĝ_n(x_t; 𝓑_t),   𝓑_t: B instance indices drawn with replacement (m = 1: full)

Theory step (P2.4, explicit constants): η = min(1, μB/α)/(ℓγ), with γ = 1 + (r+1)/n for Gaussian
and γ = (dr + d - 2)/(n(d + 2)) + 1 for spherical perturbations, and ℓ, μ, r, α measured at x*
(the problem's ``constants``; on a problem without them, at x0 from ∇²L(x0) with α = 0).

The solver itself calls only the batch loss (counted as forward passes, 2n per
iteration). The full loss and gradient at every iterate are monitoring for
the trace (the loss gap Δ_t of docs/theory/p2.md §P2.6); they are not counted and their
time is excluded from the solver's time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from kernels import spsa
from pipeline.core.errors import ConfigError
from kernels.spectrum import kept_spectrum
from pipeline.core.spec import spec
from pipeline.solvers.base import Observer, Recorder, StopRule, Trace


@dataclass
class ZOSGDParams:
    name: str = "zo_sgd"
    label: str = "zo_sgd"
    n: int = spec(1, ge=1)                      # perturbations per step (n-SPSA)
    perturbation: str = spec("gaussian", choices=spsa.KINDS)  # gaussian: z ~ N(0, I) | sphere: radius √d
    eps_sp: float = spec(1e-5, gt=0.0)           # perturbation scale ε (not the accuracy ε); 1e-3 in float32
    batch: Optional[int] = spec(None, ge=1)      # B, instances per step with replacement; null: full batch
    #: theory: η = step_scale·min(1, μB/α)/(ℓγ) | constant: η = step_scale/(ℓγ) whatever B (the control of the
    #: B-sweep: a step not forced to scale with B) | fixed: η = step_scale·eta
    step: str = spec("theory", choices=("theory", "constant", "fixed"))
    eta: Optional[float] = spec(None, gt=0.0)    # the step when step=fixed
    step_scale: float = spec(1.0, gt=0.0)        # multiplies the theory step
    #: batched: all 2n losses in one product | seeded: z regenerated from seeds, O(d) memory
    mode: str = spec("batched", choices=("batched", "seeded"))
    seed: int = spec(0, ge=0)

    @staticmethod
    def check(node: DictConfig, prefix: str) -> None:
        if node.step == "fixed" and node.eta is None:
            raise ConfigError(f"{prefix}.eta", "is required when step=fixed")


def theory_constants(oracle, x0: Tensor) -> dict[str, float]:
    """ℓ, μ, r, α of the instance: measured at x* if the problem holds them, else at x0 (α = 0)."""
    have = getattr(oracle, "constants", None) or {}
    if all(k in have for k in ("ell", "mu", "effective_rank", "alpha")):
        return {k: float(have[k]) for k in ("ell", "mu", "effective_rank", "alpha")}
    if getattr(oracle, "m", 1) > 1:
        raise ConfigError("solver.step", "the theory step of a finite sum needs α measured at x*; "
                                         "give step=fixed with eta, or build the instance through the pipeline")
    ev = kept_spectrum(oracle.hess(x0))
    ell = float(ev[-1])
    return {"ell": ell, "mu": float(ev[0]), "effective_rank": float(ev.sum()) / ell, "alpha": 0.0}


class ZOSGD:
    """ZO-SGD with n-SPSA (docs/theory/p2.md §P2.5); batched or memory-light (seeded) estimator."""

    name: ClassVar[str] = "zo_sgd"
    paper: ClassVar[str] = "P2"
    Params: ClassVar[type] = ZOSGDParams
    zeroth_order: ClassVar[bool] = True  # asks only for losses (forward passes)

    def __init__(self, params: Optional[ZOSGDParams] = None, **kw):
        self.params = params or ZOSGDParams(**kw)

    def settings(self, oracle, x0: Tensor) -> dict[str, float]:
        """The step η and the constants behind it (docs/theory/p2.md §P2.4), as recorded in the trace."""
        p = self.params
        m = int(getattr(oracle, "m", 1))
        stochastic = p.batch is not None and m > 1
        B = p.batch if stochastic else 0
        info: dict[str, float] = {"n": p.n, "batch": B, "eps_sp": p.eps_sp, "m": m}
        try:
            c = theory_constants(oracle, x0)
        except ConfigError:
            if p.step != "fixed":
                raise
            return info | {"eta": p.step_scale * float(p.eta)}  # a given step needs no constants
        g = spsa.gamma(p.perturbation, c["effective_rank"], p.n, oracle.dim)
        noise = c["alpha"] / (c["mu"] * B) if stochastic else 0.0
        kappa = c["ell"] / c["mu"]
        gammas = {f"gamma_{k}": spsa.gamma(k, c["effective_rank"], p.n, oracle.dim) for k in spsa.KINDS}
        info.update(c, **gammas, gamma=g, kappa=kappa, noise_ratio=noise,
                    prediction_per_decade=kappa * g * (1.0 + noise),
                    bound_per_decade=math.log(10) * kappa * g * (2.0 * max(1.0, noise) if stochastic else 1.0))
        if p.step == "theory":
            info["eta"] = p.step_scale * min(1.0, 1.0 / noise if noise > 0 else 1.0) / (c["ell"] * g)
        elif p.step == "constant":
            info["eta"] = p.step_scale / (c["ell"] * g)
        else:
            info["eta"] = p.step_scale * float(p.eta)
        return info

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        rec = Recorder(p.label, stop, observe, x_star)
        info = self.settings(oracle, x0)
        eta, m, B = info["eta"], int(info["m"]), int(info["batch"])
        gen = torch.Generator(device="cpu").manual_seed(p.seed)
        monitor = getattr(oracle, "problem", oracle)
        x = x0.clone()
        with rec.excluded():
            loss, grad = monitor.loss_grad(x)
        k = 0
        while not rec.step(k, x, float(loss), grad):
            batch = torch.randint(m, (B,), generator=gen).to(x.device) if B else None

            def losses(P: Tensor) -> Tensor:
                return oracle.column_losses(P, batch)

            if p.mode == "batched":
                Z = spsa.perturbations(oracle.dim, p.n, p.perturbation, gen, x.dtype, x.device)
                est, _ = spsa.spsa_gradient(losses, x, Z, p.eps_sp)
            else:
                seeds = torch.randint(2**62, (p.n,), generator=gen).tolist()
                est, _ = spsa.spsa_gradient_seeded(losses, x, seeds, p.eps_sp, p.perturbation)
            x = x - eta * est
            with rec.excluded():
                loss, grad = monitor.loss_grad(x)
            k += 1
        rec.trace.info = {k: v for k, v in info.items()}
        rec.trace.oracle_calls = dict(oracle.calls)
        return rec.trace
