"""Shared pieces of E01's checks: the sphere data and network initialisations (the data kind's own draws,
pipeline/data/sphere.py), gradient descent through the lab's ``gd`` solver with the lazy-training quantities
monitored, the kernel-regime (linearised) prediction of a run, and the fits (docs/theory/e01.md §E01.2,
§E01.5)."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from pipeline.core.fits import fit_power_law
from pipeline.data.sphere import initial_weights, sphere_points, tanh_targets
from pipeline.papers import Context
from pipeline.problems import CountingOracle
from pipeline.problems.softmax_network import SoftmaxNetwork, SoftmaxNetworkConfig
from pipeline.solvers import StopRule
from pipeline.solvers.gd import GDParams, GradientDescent


def rng(ctx: Context, *stream: int) -> np.random.Generator:
    """A numpy generator for one stream of one check, from the context's seed (the data layer draws with numpy)."""
    return np.random.default_rng([ctx.seed, 2401, *stream])


def sphere_data(ctx: Context, n: int, d: int, stream: int) -> dict[str, np.ndarray]:
    """Inputs uniform on S^{d−1} and targets tanh(Gx) (the data kind ``sphere_regression``'s draws)."""
    g = rng(ctx, stream)
    X = sphere_points(g, n, d)
    G, Y = tanh_targets(g, X)
    return {"X": X, "Y": Y, "G": G}


def initialisation(ctx: Context, d: int, m: int, sigma: float, stream: int, d_out: Optional[int] = None):
    """(W0, a) as tensors: W(0) (d×m) ~ N(0, σ²) and signs a (d_out×m)."""
    g = rng(ctx, 7, stream, m)
    W0, _ = initial_weights(g, d, m, sigma)
    _, a = initial_weights(g, d if d_out is None else d_out, m, sigma)
    return (torch.as_tensor(W0, dtype=ctx.dtype, device=ctx.device), torch.as_tensor(a, dtype=ctx.dtype, device=ctx.device))


def network(ctx: Context, data: dict[str, np.ndarray], m: int, sigma: float, stream: int,
            prefactor: str = "sqrt_m") -> SoftmaxNetwork:
    """The E01 problem on ``data`` with a width-m initialisation of stream ``stream``."""
    W0, a = initialisation(ctx, data["X"].shape[1], m, sigma, stream)
    arrays = {**data, "W0": W0.cpu().numpy(), "a": a.cpu().numpy(), "sigma": np.array(sigma)}
    return SoftmaxNetwork.from_arrays(arrays, dtype=ctx.dtype, device=ctx.device,
                                      params=SoftmaxNetworkConfig(paper="E01", prefactor=prefactor))


def tensor(ctx: Context, a: np.ndarray) -> Tensor:
    return torch.as_tensor(a, dtype=ctx.dtype, device=ctx.device)


def decade_ceiling(v: float) -> float:
    """A round-off-level quantity as its decade ceiling (1e-15 for 3.2e-16), so that reruns give identical records."""
    if not math.isfinite(v) or v <= 0:
        return float(v)
    return float(10.0 ** math.ceil(math.log10(v)))


def fit(xs, ys) -> dict:
    """A power-law fit y ∝ x^slope with its 95% interval (``ci``), or NaNs with fewer than 3 usable points."""
    f = fit_power_law(xs, ys)
    return {"slope": f.slope, "ci": [f.ci_low, f.ci_high], "intercept": f.intercept, "points": f.points} if f else \
        {"slope": math.nan, "ci": None, "intercept": math.nan, "points": 0}


def tail_slope(t, values) -> float:
    """Least-squares slope of log(values) against t (per step)."""
    t, v = np.asarray(t, float), np.asarray(values, float)
    ok = np.isfinite(v) & (v > 0)
    return float(np.polyfit(t[ok], np.log(v[ok]), 1)[0]) if ok.sum() >= 2 else math.nan


def linearised_residual(eigvals: Tensor, coeffs: Tensor, eta: float, t) -> np.ndarray:
    """‖F(t) − Y‖ of the kernel-regime dynamics F(t+1) − Y = (I − ηH(0))(F(t) − Y): √(Σ_k (1 − ηλ_k)^{2t} c_k²)."""
    t = torch.as_tensor(np.asarray(t, float), dtype=eigvals.dtype)
    f = (1 - eta * eigvals).abs().log().unsqueeze(0) * (2 * t.unsqueeze(1))
    return torch.sqrt((torch.exp(f) * (coeffs**2).unsqueeze(0)).sum(1)).cpu().numpy()


def linearised_steps(eigvals: Tensor, coeffs: Tensor, eta: float, eps: float, cap: int = 10**8) -> Optional[int]:
    """The first t at which the kernel-regime loss ½Σ_k (1 − ηλ_k)^{2t} c_k² is ≤ eps (bisection; None beyond cap)."""
    def loss(t: int) -> float:
        return 0.5 * float(linearised_residual(eigvals, coeffs, eta, [t])[0] ** 2)

    if loss(cap) > eps:
        return None
    lo, hi = 0, cap
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if loss(mid) <= eps else (mid + 1, hi)
    return lo


def gd_run(problem: SoftmaxNetwork, steps: int, c: float) -> dict:
    """Gradient descent with the lab's ``gd`` solver, step η = c/λ_max(∇²L(W(0))) (``ell_scale`` = 1/c; the solver
    measures λ_max by power iteration on Hessian-vector products), for ``steps`` iterations.
    On the solver's observation schedule the problem's monitor (weight drift, residual) is recorded. Returns the
    loss at every iteration, the observed rows, η (read off the first step) and the last point."""
    rows: list[dict] = []
    first: dict[int, Tensor] = {}

    def observe(rec) -> None:
        rows.append({"t": rec.iteration, "loss": rec.loss, **rec.extra})

    def remember(x: Tensor) -> dict[str, float]:  # x(0) and x(1): η = ‖x(1) − x(0)‖/‖∇L(x(0))‖
        if len(first) < 2:
            first[len(first)] = x.clone()
        return problem.monitor(x)

    observe.monitor = remember
    stop = StopRule(eps=None, gtol=0.0, max_iter=int(steps), blowup=1e12)
    solver = GradientDescent(GDParams(ell_scale=1.0 / c))
    x0 = problem.initial_point()
    trace = solver.run(CountingOracle(problem), x0, stop, observe)
    g0 = problem.grad(x0)
    eta = float(torch.linalg.vector_norm(first[1] - first[0]) / torch.linalg.vector_norm(g0)) if 1 in first else math.nan
    return {"loss": np.asarray(trace.column("loss")), "rows": rows, "eta": eta, "x": trace.x, "status": trace.status,
            "iterations": trace.iterations}
