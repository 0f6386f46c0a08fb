"""Approximate Gauss–Newton with leverage-score row sampling of the Gauss–Newton factor
(docs/theory/p1.md §P1.5 for the sampling; docs/theory/e09.md, e02.md and e06.md for the problems).

A problem that supports it splits its Hessian as ∇²L(x) = MᵀM + R + C (``gauss_newton(x)``, a
:class:`pipeline.problems.base.GaussNewtonParts`): M the m×d Gauss–Newton factor, R the regulariser, C the
second-order remainder. Each iteration draws s rows of M i.i.d. with p_i ∝ τ_i(M) (``scores: leverage``)
or p_i = 1/m (``uniform``, the control), reweights them by 1/(s p_i), and steps

    x_{t+1} = x_t − H̃⁻¹∇L(x_t),   H̃ = Σ_k m_{i_k}m_{i_k}ᵀ/(s p_{i_k}) + R (+ C with ``curvature: exact``).

``scores: full`` uses all of M: exact Gauss–Newton (``curvature: drop``) or exact Newton (``exact``). The unit
step is the framework's (no line search); a problem with a domain (``in_domain(x)``, E02's poles) has the step
halved until the new point lies in it.

With ``measure_eps`` (the default) the solver measures at every iteration how good its matrix was,
outside its timed work: ``eps0_hat`` = max|eig(H^{-1/2}H̃H^{-1/2}) − 1| against the unsampled H = MᵀM + R
(+ C) (the sketch's ε₀), and ``eps_hessian_hat``, the same against the exact ∇²L(x_t) (the ε₀ of the
approximate-Newton framework's one-step bound r_{t+1} ≤ 2(ε₀ + Mr_t/(l − Mr_t))r_t). They are trace
columns, and their largest and median values are in the trace info.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np
import torch
from torch import Tensor

from kernels import sketch
from pipeline.core.spec import spec
from pipeline.solvers.base import DIVERGED, Observer, Recorder, StopRule, Trace
from pipeline.solvers.newton import newton_direction

SCORES = ("leverage", "uniform", "full")


@dataclass
class ApproxGaussNewtonParams:
    name: str = "approx_gauss_newton"
    label: str = "approx_gauss_newton"
    #: s, the rows of the factor drawn per iteration; null: ⌈sample_factor·d⌉
    sample_size: Optional[int] = spec(None, ge=1)
    sample_factor: float = spec(8.0, gt=0.0)
    #: leverage (p ∝ τ(M)) | uniform (the control) | full (no sampling: exact Gauss–Newton or Newton)
    scores: str = spec("leverage", choices=SCORES)
    #: exact: add the second-order remainder C exactly | drop: Gauss–Newton (H̃ ≈ MᵀM + R)
    curvature: str = spec("exact", choices=("exact", "drop"))
    measure_eps: bool = True
    #: halvings of a step that leaves the problem's domain before the run ends as diverged
    max_halvings: int = spec(30, ge=0)
    seed: int = spec(0, ge=0)


def sample_count(p: ApproxGaussNewtonParams, d: int) -> int:
    """s: ``sample_size``, or ⌈sample_factor·d⌉."""
    return int(p.sample_size) if p.sample_size is not None else math.ceil(p.sample_factor * d)


def approximate_matrix(parts, p: ApproxGaussNewtonParams, s: int, rng: torch.Generator) -> tuple[Tensor, Tensor, int]:
    """(H̃, H, rows touched): the sampled matrix and the unsampled one it estimates, with the same
    curvature choice. H is formed only when it is needed (``scores: full`` or ``measure_eps``)."""
    curvature = parts.curvature if (p.curvature == "exact" and parts.curvature is not None) else None
    exact = None
    if p.scores == "full" or p.measure_eps:
        exact = parts.factor.gram() + parts.rest + (curvature if curvature is not None else 0.0)
    if p.scores == "full":
        return exact, exact, int(parts.factor.shape[0])
    sample = parts.factor.sample(s, rng, p.scores)  # the factor draws: E06's never forms its m = n² scores
    weights = sample.weights.to(parts.rest.dtype).to(parts.rest.device)
    gram = sketch.sampled_gram(parts.factor, sketch.RowSample(sample.rows.to(parts.rest.device), weights))
    approx = gram + parts.rest + (curvature if curvature is not None else 0.0)
    return approx, exact, int(sample.rows.numel())


def relative_deviation(exact: Tensor, approx: Tensor) -> float:
    """max|eig(H^{-1/2}H̃H^{-1/2}) − 1|; inf when H is not positive definite (then ε₀ is not defined)."""
    try:
        ev = torch.linalg.eigvalsh(0.5 * (exact + exact.T))
        if float(ev.min()) <= 0:
            return math.inf
        return sketch.spectral_deviation(exact, approx)
    except RuntimeError:
        return math.inf


class ApproxGaussNewton:
    """x ← x − H̃⁻¹∇L with H̃ from s leverage-sampled rows of the Gauss–Newton factor (plus the exact
    regulariser, and the exact curvature part unless dropped)."""

    name: ClassVar[str] = "approx_gauss_newton"
    paper: ClassVar[str] = "baseline"
    Params: ClassVar[type] = ApproxGaussNewtonParams
    #: the problems that split their Hessian (``gauss_newton(x)``); the battery runs on the first
    problems: ClassVar[tuple[str, ...]] = ("softmax_regression", "two_layer_regression", "leverage_inversion",
                                           "kronecker_least_squares")

    def __init__(self, params: Optional[ApproxGaussNewtonParams] = None, **kw):
        self.params = params or ApproxGaussNewtonParams(**kw)

    def _measure(self, rec: Recorder, oracle, k: int, x: Tensor, approx: Tensor, exact: Optional[Tensor]) -> None:
        """ε̂₀ against the unsampled matrix and against the exact Hessian, outside the solver's time."""
        with rec.excluded():
            eps0 = relative_deviation(exact, approx) if exact is not None else math.nan
            eps_h = relative_deviation(oracle.problem.hess(x), approx)
            rec.trace.annotate(k, eps0_hat=eps0, eps_hessian_hat=eps_h)

    def _step(self, oracle, x: Tensor, direction: Tensor):
        """x + t·direction with t = 1, halved while the new point is outside the problem's domain."""
        inside = getattr(oracle.problem, "in_domain", None)
        t = 1.0
        for _ in range(self.params.max_halvings + 1):
            x_new = x + t * direction
            if inside is None or inside(x_new):
                if t < 1.0:
                    oracle.calls["domain_halvings"] += int(round(-math.log2(t)))
                return x_new
            t *= 0.5
        return None

    def run(self, oracle, x0: Tensor, stop: StopRule, observe: Optional[Observer] = None,
            x_star: Optional[Tensor] = None) -> Trace:
        p = self.params
        s = sample_count(p, oracle.dim)
        rng = torch.Generator(device="cpu").manual_seed(p.seed)
        rec = Recorder(p.label, stop, observe, x_star)
        rec.trace.info.update(sample_size=float(s))
        x = x0.clone()
        loss, g = oracle.loss_grad(x)
        k = 0
        while not rec.step(k, x, float(loss), g):
            parts = oracle.gauss_newton(x)
            approx, exact, touched = approximate_matrix(parts, p, s, rng)
            oracle.calls["rows_touched"] += touched
            if p.measure_eps:
                self._measure(rec, oracle, k, x, approx, exact)
            x_new = self._step(oracle, x, newton_direction(approx, g))
            if x_new is None:
                return self._end(rec.fail(x, DIVERGED, f"no step inside the problem's domain after "
                                                       f"{p.max_halvings} halvings at iteration {k}"), oracle)
            x = x_new
            loss, g = oracle.loss_grad(x)
            if not math.isfinite(float(loss)):
                return self._end(rec.fail(x, DIVERGED, f"non-finite loss after iteration {k}"), oracle)
            k += 1
        return self._end(rec.trace, oracle)

    @staticmethod
    def _end(trace: Trace, oracle) -> Trace:
        trace.oracle_calls = dict(oracle.calls)
        for name in ("eps0_hat", "eps_hessian_hat"):
            values = np.asarray(list(trace.extra.get(name, {}).values()), dtype=float)
            values = values[np.isfinite(values)]
            if values.size:
                trace.info[f"{name}_max"] = float(values.max())
                trace.info[f"{name}_median"] = float(np.median(values))
        return trace
