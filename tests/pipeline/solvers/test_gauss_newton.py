"""Approximate Gauss–Newton (pipeline/solvers/gauss_newton.py): its matrix, its measured ε̂₀, its sampling and its
domain safeguard, on small problems whose answers are known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernels.sketch import DenseFactor
from pipeline.problems import CountingOracle
from pipeline.problems.base import GaussNewtonParts
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers import gauss_newton as gn
from pipeline.solvers.base import DIVERGED, FINISHED
from tests.pipeline.solvers.test_battery import p1_problem


class LeastSquares:
    """½‖Mx − b‖² + ½λ‖x‖² with a coherent M (its first rows scaled up): the curvature part is 0 and MᵀM + λI is
    the exact Hessian, so ε̂₀ measures the sketch alone."""

    name = "least_squares"
    paper = "test"

    def __init__(self, m=400, d=6, coherence=30.0, lam=1e-3, seed=0, domain=None):
        g = torch.Generator().manual_seed(seed)
        M = torch.randn(m, d, generator=g, dtype=torch.float64)
        M[:d] *= coherence
        self.M, self.lam, self.domain = M, lam, domain
        self.b = M @ torch.ones(d, dtype=torch.float64) + 0.1 * torch.randn(m, generator=g, dtype=torch.float64)
        self.dim, self.dtype, self.device = d, torch.float64, torch.device("cpu")

    def loss(self, x):
        r = self.M @ x - self.b
        return 0.5 * (r @ r) + 0.5 * self.lam * (x @ x)

    def grad(self, x):
        return self.M.T @ (self.M @ x - self.b) + self.lam * x

    def loss_grad(self, x):
        return self.loss(x), self.grad(x)

    def hess(self, x):
        return self.M.T @ self.M + self.lam * torch.eye(self.dim, dtype=torch.float64)

    def gauss_newton(self, x):
        return GaussNewtonParts(DenseFactor(self.M), self.lam * torch.eye(self.dim, dtype=torch.float64), None)

    def minimiser(self):
        return torch.linalg.solve(self.hess(None), self.M.T @ self.b)


def run(problem, x0=None, max_iter=30, eps=None, **params):
    x_star = problem.minimiser() if hasattr(problem, "minimiser") else None
    f_star = float(problem.loss(x_star)) if x_star is not None else None
    x0 = torch.zeros(problem.dim, dtype=torch.float64) if x0 is None else x0
    solver = make_solver({"name": "approx_gauss_newton", **params})
    return solver.run(CountingOracle(problem), x0, StopRule(eps=eps, f_star=f_star, gtol=0.0, max_iter=max_iter),
                      x_star=x_star)


def test_full_scores_with_exact_curvature_is_newton():
    """scores=full, curvature=exact: H̃ = ∇²L, so the first step is the Newton step (P1's instance)."""
    prob, x_star, f_star, x0 = p1_problem()
    tr = run(prob, x0=x0, max_iter=1, scores="full", curvature="exact")
    H = prob.hess(x0)
    newton = x0 - torch.linalg.solve(H, prob.grad(x0))
    assert torch.allclose(tr.x, newton, atol=1e-12)
    assert tr.to_frame()["eps0_hat"].iloc[0] < 1e-12


def test_dropping_the_curvature_is_gauss_newton():
    """curvature=drop with all rows: H̃ = JᵀJ + AᵀW²A, which differs from ∇²L by the measured ε̂ (P1's instance)."""
    prob, _, _, x0 = p1_problem()
    parts = prob.gauss_newton(x0)
    tr = run(prob, x0=x0, max_iter=1, scores="full", curvature="drop")
    H_gn = parts.factor.gram() + parts.rest
    assert torch.allclose(tr.x, x0 - torch.linalg.solve(H_gn, prob.grad(x0)), atol=1e-12)
    frame = tr.to_frame()
    assert frame["eps0_hat"].iloc[0] < 1e-12
    assert frame["eps_hessian_hat"].iloc[0] == pytest.approx(gn.relative_deviation(prob.hess(x0), H_gn), rel=1e-9)


def test_eps0_columns_and_info():
    tr = run(LeastSquares(), max_iter=5, sample_size=60)
    frame = tr.to_frame()
    assert {"eps0_hat", "eps_hessian_hat"} <= set(frame.columns)
    assert frame["eps0_hat"].iloc[:5].notna().all() and math.isnan(frame["eps0_hat"].iloc[-1])  # none after the last step
    assert tr.info["eps0_hat_max"] == pytest.approx(frame["eps0_hat"].max())
    assert tr.info["sample_size"] == 60
    # least squares: the curvature part is 0, so both measurements agree
    np.testing.assert_allclose(frame["eps0_hat"].iloc[:5], frame["eps_hessian_hat"].iloc[:5], rtol=1e-10)


def test_measure_eps_off_leaves_no_columns():
    tr = run(LeastSquares(), max_iter=3, sample_size=60, measure_eps=False)
    assert "eps0_hat" not in tr.to_frame().columns


def test_sample_factor_sets_s():
    assert gn.sample_count(gn.ApproxGaussNewtonParams(sample_factor=4.0), 6) == 24
    assert gn.sample_count(gn.ApproxGaussNewtonParams(sample_size=7, sample_factor=4.0), 6) == 7


def test_leverage_sampling_beats_uniform_on_coherent_rows():
    """On a factor whose first d rows carry most of the spectrum, uniform sampling misses them (ε̂₀ ≫ 1 and the
    iteration does not contract), leverage sampling does not (ε̂₀ < 1, linear convergence at rate about ε̂₀)."""
    prob = LeastSquares()
    lev = run(prob, max_iter=25, sample_size=120, scores="leverage", eps=1e-12)
    uni = run(prob, max_iter=25, sample_size=120, scores="uniform", eps=1e-12)
    assert lev.status == FINISHED
    assert lev.info["eps0_hat_median"] < 0.7
    assert uni.info["eps0_hat_median"] > 1.0  # the sample misses a coherent row: no (1 ± ε₀) bound
    assert uni.status != FINISHED


def test_rate_follows_eps0():
    """Iterative sketching on a quadratic: ‖e_{t+1}‖_H ≤ ε̂₀,t ‖e_t‖_H/(1 − ε̂₀,t) at every step."""
    prob = LeastSquares(coherence=1.0)
    tr = run(prob, max_iter=8, sample_size=200, scores="leverage")
    H = prob.hess(None)
    frame = tr.to_frame()
    # the H-norm error from the loss gap: L(x) − L* = ½‖x − x*‖²_H
    gap = frame["loss"].to_numpy() - float(prob.loss(prob.minimiser()))
    err = np.sqrt(2 * np.maximum(gap, 0))
    eps = frame["eps0_hat"].to_numpy()
    ok = err[:-1] > 1e-10 * err[0]
    ratio = err[1:][ok] / err[:-1][ok]
    assert (ratio <= eps[:-1][ok] / (1 - eps[:-1][ok]) + 1e-12).all()
    assert H.shape == (prob.dim, prob.dim)


def test_wrong_weights_are_caught_by_eps0(monkeypatch):
    """Sampled rows without their 1/(s p_i) reweighting: H̃ is off by a factor of order s/m and ε̂₀ says so."""
    prob = LeastSquares(coherence=1.0)
    good = run(prob, max_iter=2, sample_size=200)
    real = gn.sketch.sampled_gram
    monkeypatch.setattr(gn.sketch, "sampled_gram",
                        lambda f, smp: real(f, smp._replace(weights=torch.ones_like(smp.weights))))
    bad = run(prob, max_iter=2, sample_size=200)
    assert good.info["eps0_hat_max"] < 0.5 < bad.info["eps0_hat_max"]


def test_domain_halving_and_failure():
    """A step that leaves the problem's domain is halved until it is inside; a problem with no reachable
    domain point ends the run as diverged, naming the halvings."""
    prob = LeastSquares(d=2)
    prob.in_domain = lambda x: float(x.abs().max()) <= 0.3  # the minimiser (≈ 1) lies outside
    tr = run(prob, max_iter=3, scores="full")
    assert float(tr.x.abs().max()) <= 0.3 and tr.oracle_calls.get("domain_halvings", 0) > 0
    prob.in_domain = lambda x: False
    tr = run(prob, max_iter=3, scores="full", max_halvings=4)
    assert tr.status == DIVERGED and "4 halvings" in tr.message
