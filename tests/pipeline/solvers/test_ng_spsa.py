"""nevergrad's SPSA baseline (pipeline/solvers/ng_spsa.py): counting, budget, seeding, what is recorded."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.zo import lowrank
from pipeline.problems import CountingOracle, ZOSoftmax
from pipeline.data.zo import LowRankData
from pipeline.solvers import SOLVERS, StopRule, make_solver
from pipeline.solvers.base import DIVERGED, MAX_ITER, STOPPED
from pipeline.solvers.ng_spsa import GAIN_ALPHA, GAIN_GAMMA, NevergradSPSA
from tests.conftest import compose


@pytest.fixture(scope="module")
def p2():
    """A small P2 low-rank instance (docs/theory/p2.md §P2.6, E2) with L* from Newton with least-squares steps."""
    prob = ZOSoftmax.from_arrays(lowrank(OmegaConf.structured(LowRankData(d=20, rows=100)), 0))
    x0 = torch.zeros(20, dtype=torch.float64)
    ref = make_solver({"name": "newton", "solve": "pinv"}).run(CountingOracle(prob), x0,
                                                               StopRule(eps=1e-300, gtol=1e-13, max_iter=100))
    return prob, x0, float(prob.loss(ref.x))


def run(prob, x0, f_star, max_iter, **params):
    oracle = CountingOracle(prob)
    stop = StopRule(eps=1e-300, f_star=f_star, max_iter=max_iter)
    tr = make_solver({"name": "ng_spsa", **params}).run(oracle, x0, stop)
    return tr, oracle


def test_registered_and_composed_from_its_yaml():
    assert SOLVERS["ng_spsa"] is NevergradSPSA and NevergradSPSA.zeroth_order
    cfg = compose(["solver=ng_spsa", "seed=7"]).solver
    solver = make_solver(OmegaConf.to_object(cfg))
    assert isinstance(solver, NevergradSPSA)
    assert solver.params.seed == 7 and solver.params.budget is None and solver.params.point == "recommendation"


@pytest.mark.parametrize("point", ["recommendation", "current"])
def test_two_forward_passes_per_step_and_no_gradients(p2, point):
    prob, x0, f_star = p2
    tr, oracle = run(prob, x0, f_star, 30, point=point)
    assert tr.status == MAX_ITER and tr.iterations == 30
    assert dict(oracle.calls) == {"forward": 60} == tr.oracle_calls  # no initial evaluation, no gradient
    assert tr.info["evaluations"] == 60 and tr.info["budget"] == 60  # default budget: 2·max_iter
    assert all(isinstance(v, float) for v in tr.info.values())


def test_gains_are_nevergrads_classical_ones(p2):
    prob, x0, f_star = p2
    tr, _ = run(prob, x0, f_star, 500)
    assert tr.info["gain_a"] == 1e-5 and tr.info["gain_c"] == 0.1 and tr.info["gain_A"] == 1000 // 20
    assert tr.info["step_a_x"] == 1e-5 and tr.info["perturbation_c_x"] == 0.1
    tr, _ = run(prob, x0, f_star, 5, scale=2.0)
    assert tr.info["gain_A"] == 10 and tr.info["step_a_x"] == 4e-5 and tr.info["perturbation_c_x"] == 0.2
    # the exponents the info reports are those of the installed nevergrad
    import nevergrad as ng

    opt = ng.optimizers.SPSA(parametrization=3, budget=400)
    for j in (0, 1, 7):
        assert opt._ak(2 * j) == pytest.approx(opt.a / (j + 1 + opt.A) ** GAIN_ALPHA, rel=1e-15)
        assert opt._ck(2 * j) == pytest.approx(opt.c / (j + 1) ** GAIN_GAMMA, rel=1e-15)


def test_budget_is_respected(p2):
    prob, x0, f_star = p2
    for budget, steps in ((10, 5), (11, 5)):
        tr, oracle = run(prob, x0, f_star, 100, budget=budget)
        assert tr.status == STOPPED and "budget" in tr.message
        assert tr.iterations == steps and oracle.calls["forward"] == 2 * steps <= budget
        assert tr.x is not None and tr.info["budget"] == budget
    tr, oracle = run(prob, x0, f_star, 4, budget=1000)  # a larger budget: max_iter ends it
    assert tr.status == MAX_ITER and oracle.calls["forward"] == 8 and tr.info["gain_A"] == 50


def test_seeded(p2):
    prob, x0, f_star = p2
    a, b, c = (run(prob, x0, f_star, 40, seed=s)[0] for s in (3, 3, 4))
    assert torch.equal(a.x, b.x) and a.column("loss").tolist() == b.column("loss").tolist()
    assert not torch.equal(a.x, c.x) and a.column("loss").tolist() != c.column("loss").tolist()


def test_recommendation_is_the_average_of_the_iterates(p2):
    """What the docstring says nevergrad recommends: the mean of θ_0 = x0, θ_1, …, θ_k."""
    prob, x0, f_star = p2
    iterates = [x0] + [run(prob, x0, f_star, k, point="current")[0].x for k in range(1, 6)]
    rec = run(prob, x0, f_star, 5)[0].x
    assert not torch.equal(iterates[5], rec)
    torch.testing.assert_close(rec, torch.stack(iterates).mean(0), rtol=0, atol=1e-15)


@pytest.mark.parametrize("point", ["recommendation", "current"])
def test_makes_progress_on_a_p2_lowrank_instance(p2, point):
    prob, x0, f_star = p2
    tr, _ = run(prob, x0, f_star, 300, point=point)
    gap = tr.relative_gap()
    assert gap[0] == 1.0 and 0.0 < gap[-1] < 0.998  # slow (a = 1e-5), but it goes down
    if point == "recommendation":  # an average of iterates that move downhill: monotone here
        assert (np.diff(gap) <= 0).all()
    # the time of the uncounted monitoring is excluded; the rest is nevergrad and the forward passes
    assert (np.diff(tr.column("time_s")) >= 0).all()


class _NaNLoss:
    """A problem whose forward pass is NaN: the solver must not tell nevergrad (it would warn)."""

    name, paper, dim = "nan", "test", 3

    def loss_grad(self, x):
        return (x * x).sum(), 2 * x

    def column_losses(self, X, batch=None):
        return torch.full((X.shape[1],), math.nan, dtype=X.dtype)


def test_non_finite_loss_is_divergence_without_warnings():
    oracle = CountingOracle(_NaNLoss())
    tr = make_solver({"name": "ng_spsa"}).run(oracle, torch.ones(3, dtype=torch.float64), StopRule(max_iter=10))
    assert tr.status == DIVERGED and "non-finite" in tr.message
    assert oracle.calls["forward"] == 1 and tr.x is not None
