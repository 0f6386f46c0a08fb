"""ZO-SGD (docs/theory/p2.md §P2.5): the theory step, forward-pass accounting, batches, and the rate of P2-Thm."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from kernels import spsa
from pipeline.data.zo import finite_sum, lowrank
from pipeline.core.errors import ConfigError
from pipeline.problems import CountingOracle, ZOSoftmax
from pipeline.data.zo import FiniteSumData, LowRankData
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.base import FINISHED


def instance(arrays):
    prob = ZOSoftmax.from_arrays(arrays)
    ref = make_solver({"name": "newton", "solve": "pinv"}).run(
        CountingOracle(prob), torch.zeros(prob.dim, dtype=torch.float64), StopRule(eps=None, gtol=1e-14, max_iter=50))
    prob.constants = prob.instance_constants(ref.x)
    return prob, ref.x, float(prob.loss(ref.x))


@pytest.fixture(scope="module")
def small():
    return instance(lowrank(OmegaConf.structured(LowRankData(rows=100, d=30, fast=4, slow=4, kappa=10.0)), seed=0))


@pytest.fixture(scope="module")
def fsum():
    return instance(finite_sum(OmegaConf.structured(FiniteSumData(m=40, heterogeneity=0.5)), seed=0))


def solve(prob, x_star, f_star, eps=1e-6, **params):
    o = CountingOracle(prob)
    tr = make_solver({"name": "zo_sgd", **params}).run(o, torch.zeros(prob.dim, dtype=torch.float64),
                                                       StopRule(eps=eps, gtol=0.0, f_star=f_star, max_iter=100_000), x_star=x_star)
    return tr, o


@pytest.mark.parametrize("kind", spsa.KINDS)
@pytest.mark.parametrize("n", [1, 4])
def test_theory_step_and_deterministic_rate(small, kind, n):
    """η = 1/(ℓγ) and T_dec ≤ ln(10)κγ (P2.4, deterministic case), with γ of the perturbation kind."""
    prob, x_star, f_star = small
    tr, o = solve(prob, x_star, f_star, n=n, perturbation=kind)
    c = prob.constants
    gamma = spsa.gamma(kind, c["effective_rank"], n, prob.dim)
    assert tr.info["gamma"] == pytest.approx(gamma) and tr.info["eta"] == pytest.approx(1 / (c["ell"] * gamma))
    assert tr.info[f"gamma_{kind}"] == tr.info["gamma"]  # both kinds' γ are recorded (docs/theory/p2.md §P2.7, item 1)
    assert tr.info["gamma_gaussian"] == pytest.approx(1 + (c["effective_rank"] + 1) / n)
    assert tr.status == FINISHED and o.calls["forward"] == 2 * n * tr.iterations and o.calls["grad"] == 0
    T = tr.iterations_per_decade()
    assert T <= math.log(10) * c["kappa"] * gamma  # the bound of P2-Thm
    assert T >= 0.3 * c["kappa"] * gamma           # and not far below it: the κγ scaling is real
    assert tr.log_linearity() >= 0.98


def test_seeded_mode_follows_the_same_law_with_o_d_memory(small):
    prob, x_star, f_star = small
    tr, o = solve(prob, x_star, f_star, n=4, mode="seeded")
    assert tr.status == FINISHED and o.calls["forward"] == 8 * tr.iterations
    assert tr.iterations_per_decade() <= math.log(10) * tr.info["kappa"] * tr.info["gamma"]


def test_larger_steps_than_theory_diverge_or_slow_down(small):
    prob, x_star, f_star = small
    tr, _ = solve(prob, x_star, f_star, step_scale=40.0)
    assert tr.status != FINISHED or tr.iterations_per_decade() > 1e3


def test_batches_are_drawn_with_replacement_and_the_step_has_the_noise_term(fsum):
    prob, x_star, f_star = fsum
    c = prob.constants
    seen = []
    real = prob.column_losses

    def spy(X, batch=None):
        seen.append(batch)
        return real(X, batch)

    prob.column_losses = spy
    try:
        tr, o = solve(prob, x_star, f_star, batch=4, eps=1e-3)
    finally:
        del prob.column_losses
    gamma = tr.info["gamma"]
    assert tr.info["eta"] == pytest.approx(min(1, c["mu"] * 4 / c["alpha"]) / (c["ell"] * gamma))
    assert all(b is not None and b.shape == (4,) for b in seen)
    draws = torch.cat(seen)
    assert int(draws.min()) >= 0 and int(draws.max()) < 40
    assert any(len(set(b.tolist())) < 4 for b in seen)  # repeats happen: with replacement
    assert tr.status == FINISHED


def test_more_batch_means_fewer_iterations(fsum):
    prob, x_star, f_star = fsum
    T = {B: solve(prob, x_star, f_star, batch=B)[0].iterations_per_decade() for B in (1, 32)}
    assert T[1] > 2 * T[32]


def test_finite_sum_theory_step_needs_alpha():
    prob = ZOSoftmax.from_arrays(finite_sum(OmegaConf.structured(FiniteSumData(m=5)), seed=0))
    with pytest.raises(ConfigError) as err:
        make_solver({"name": "zo_sgd", "batch": 2}).run(CountingOracle(prob), torch.zeros(10, dtype=torch.float64),
                                                        StopRule(max_iter=3))
    assert err.value.key == "solver.step"
    tr = make_solver({"name": "zo_sgd", "batch": 2, "step": "fixed", "eta": 0.01}).run(
        CountingOracle(prob), torch.zeros(10, dtype=torch.float64), StopRule(eps=None, max_iter=3))
    assert tr.info["eta"] == 0.01 and tr.iterations == 3
