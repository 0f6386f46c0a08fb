"""One battery for every solver: add a YAML file in conf/solver/ and it is tested here."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.synthetic import synthesize_p1
from pipeline.paths import CONF_DIR
from pipeline.problems import CountingOracle, SoftmaxRegression
from pipeline.schema import SyntheticData
from pipeline.solvers import StopRule, make_solver
from pipeline.solvers.base import DIVERGED, FINISHED, MAX_ITER, log_schedule
from tests.conftest import compose

# ng_spsa_e2 is ng_spsa with a fixed budget (the zo_kappa study's reference line): the same code path
SOLVERS = sorted(p.stem for p in (CONF_DIR / "solver").glob("*.yaml") if p.stem != "ng_spsa_e2")
# option values that take a different code path of a solver run the battery too
SOLVERS += ["approx_newton_sketched solver.rescore=false", "approx_newton solver.rescore=false",
            "zo_sgd solver.mode=seeded solver.n=4", "zo_sgd solver.perturbation=sphere solver.n=3"]


@pytest.fixture(scope="module")
def problem():
    arr = synthesize_p1(OmegaConf.structured(SyntheticData(n=120, d=6, kappa=5.0, R=1.5, b="simplex")), seed=11)
    prob = SoftmaxRegression.from_arrays(arr)
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.zeros(6, dtype=torch.float64),
                                              StopRule(eps=1e-300, gtol=1e-12, max_iter=100))
    x0 = torch.linspace(-0.5, 0.5, 6, dtype=torch.float64)
    return prob, ref.x, float(prob.loss(ref.x)), x0


def solver_from_config(name: str):
    name, *overrides = name.split()
    return make_solver(OmegaConf.to_object(compose([f"solver={name}", *overrides]).solver))


@pytest.mark.parametrize("name", SOLVERS)
def test_reaches_the_reference_optimum(problem, name):
    prob, x_star, f_star, x0 = problem
    oracle = CountingOracle(prob)
    solver = solver_from_config(name)
    eps = getattr(solver, "battery_eps", 1e-10)  # a sublinear method states the accuracy it reaches here
    tr = solver.run(oracle, x0, StopRule(eps=eps, f_star=f_star, max_iter=50_000), x_star=x_star)
    assert tr.status == FINISHED, tr.message
    assert tr.iterations_to_eps([eps])[f"{eps:g}"] is not None
    assert float(torch.linalg.vector_norm(tr.x - x_star)) <= (1e-4 if eps <= 1e-10 else 1e3 * eps ** 0.5)
    it = tr.column("iteration")
    assert it[0] == 0 and (it[1:] > it[:-1]).all()
    assert (tr.column("time_s")[1:] >= tr.column("time_s")[:-1]).all()
    assert tr.records[0].loss == pytest.approx(float(prob.loss(x0)), rel=1e-14)
    assert tr.oracle_calls == dict(oracle.calls)
    if getattr(solver, "zeroth_order", False):  # forward passes only: no gradient is ever asked for
        assert tr.oracle_calls.get("forward", 0) >= 2 and tr.oracle_calls.get("grad", 0) == 0
    else:
        assert tr.oracle_calls.get("grad", 0) >= 1
    gaps = tr.relative_gap()
    assert gaps[0] == 1.0 and gaps[-1] <= eps


@pytest.mark.parametrize("name", SOLVERS)
def test_respects_max_iter_and_the_observer(problem, name):
    prob, x_star, f_star, x0 = problem
    tr = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-300, f_star=f_star, max_iter=2))
    assert tr.iterations <= 2 and tr.status in (MAX_ITER, FINISHED)
    seen = []

    def observe(rec):
        seen.append(rec.iteration)
        return rec.iteration >= 1

    tr = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-300, f_star=f_star, max_iter=100), observe)
    assert seen[0] == 0 and tr.iterations == 1 and "observer" in tr.message


@pytest.mark.parametrize("name", SOLVERS)
def test_is_deterministic(problem, name):
    prob, _, f_star, x0 = problem
    runs = [solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-8, f_star=f_star, max_iter=2000))
            for _ in range(2)]
    assert torch.equal(runs[0].x, runs[1].x)
    assert runs[0].column("loss").tolist() == runs[1].column("loss").tolist()


def test_too_large_a_step_is_reported_as_divergence(problem):
    prob, _, f_star, x0 = problem
    tr = make_solver({"name": "gd", "ell_scale": 0.02}).run(CountingOracle(prob), x0, StopRule(f_star=f_star))
    assert tr.status == DIVERGED
    assert "blew up" in tr.message or "non-finite" in tr.message


def test_log_schedule_is_log_spaced_and_complete_for_short_runs():
    assert log_schedule(10) == set(range(11))
    s = sorted(log_schedule(100_000, 50))
    assert s[0] == 0 and s[-1] == 100_000 and len(s) <= 51


def test_scores_computed_once_when_not_rescoring(problem):
    prob, x_star, f_star, x0 = problem
    oracle = CountingOracle(prob)
    tr = solver_from_config("approx_newton_sketched solver.rescore=false").run(
        oracle, x0, StopRule(eps=1e-10, f_star=f_star, max_iter=100), x_star=x_star)
    assert tr.status == FINISHED and tr.iterations >= 2
    assert tr.oracle_calls["sketch"] == 1 and tr.oracle_calls["hessian_parts"] == tr.iterations


@pytest.mark.parametrize("name", ["newton", "approx_newton_sketched", "approx_newton_sketched solver.rescore=false"])
def test_sparse_instance_is_solved(name):
    cfg = SyntheticData(n=3000, d=8, density=0.05, R=1.0, b="simplex", heavy_fraction=0.002)
    prob = SoftmaxRegression.from_arrays(synthesize_p1(OmegaConf.structured(cfg), seed=3))
    assert prob.A.layout == torch.sparse_coo
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.zeros(8, dtype=torch.float64),
                                              StopRule(eps=1e-300, gtol=1e-12, max_iter=100))
    tr = solver_from_config(name).run(CountingOracle(prob), torch.full((8,), 0.2, dtype=torch.float64),
                                      StopRule(eps=1e-10, f_star=float(prob.loss(ref.x)), max_iter=100), x_star=ref.x)
    assert tr.status == FINISHED, tr.message
    assert float(torch.linalg.vector_norm(tr.x - ref.x)) <= 1e-4
