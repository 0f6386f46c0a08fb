"""One battery for every solver: add a YAML file in conf/solver/ and it is tested here."""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from pipeline.data.attention import synthesize_p3
from pipeline.data.synthetic import synthesize_p1
from pipeline.core.paths import CONF_DIR
from pipeline.problems import AttentionRegression, CountingOracle, SoftmaxRegression
from pipeline.data import AttentionData, SyntheticData
from pipeline.solvers import SOLVERS as SOLVER_CLASSES, StopRule, make_solver
from pipeline.solvers.base import DIVERGED, FINISHED, MAX_ITER, log_schedule
from tests.conftest import compose

# ng_spsa_e2 is ng_spsa with a fixed budget (the zo_kappa study's reference line): the same code path
SOLVERS = sorted(p.stem for p in (CONF_DIR / "solver").glob("*.yaml") if p.stem != "ng_spsa_e2")
# option values that take a different code path of a solver run the battery too
SOLVERS += ["approx_newton_sketched solver.rescore=false", "approx_newton solver.rescore=false",
            "zo_sgd solver.mode=seeded solver.n=4", "zo_sgd solver.perturbation=sphere solver.n=3",
            "alternating_sketched solver.scores=uniform"]


def p1_problem():
    arr = synthesize_p1(OmegaConf.structured(SyntheticData(n=120, d=6, kappa=5.0, R=1.5, b="simplex")), seed=11)
    prob = SoftmaxRegression.from_arrays(arr)
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.zeros(6, dtype=torch.float64),
                                              StopRule(eps=1e-300, gtol=1e-12, max_iter=100))
    x0 = torch.linspace(-0.5, 0.5, 6, dtype=torch.float64)
    return prob, ref.x, float(prob.loss(ref.x)), x0


def p3_problem():
    """A small planted attention regression (n = 8, d = 2); x* by Newton from the planted point and a
    start at distance 0.05 (P3's claim is local, docs/theory/p3.md §P3.7 item 4)."""
    arr = synthesize_p3(OmegaConf.structured(AttentionData(n=8, d=2, w2=1e-2, lam_y=1e-2)), seed=5)
    prob = AttentionRegression.from_arrays(arr)
    ref = make_solver({"name": "newton"}).run(CountingOracle(prob), torch.as_tensor(arr["x_true"]),
                                              StopRule(eps=1e-300, gtol=1e-12, max_iter=100))
    v = torch.linspace(-1.0, 1.0, prob.dim, dtype=torch.float64)
    return prob, ref.x, float(prob.loss(ref.x)), ref.x + 0.05 * v / torch.linalg.vector_norm(v)


def zo_softmax_problem():
    """A small interpolating finite sum of P2 (m = 30 instances of 6 rows, d = 4, centred regulariser): every
    component is minimised at x_true, so mini-batch methods with a constant step converge linearly (E08's
    framework_sgd); x* by Newton, start at distance ≈ 0.5."""
    from pipeline.data.zo import FiniteSumData, finite_sum
    from pipeline.problems import ZOSoftmax

    arr = finite_sum(OmegaConf.structured(FiniteSumData(m=30, rows=6, d=4, heterogeneity=0.5, w2=1.0)), seed=13)
    prob = ZOSoftmax.from_arrays(arr)
    ref = make_solver({"name": "newton", "solve": "pinv"}).run(CountingOracle(prob), torch.zeros(4, dtype=torch.float64),
                                                               StopRule(eps=1e-300, gtol=1e-13, max_iter=100))
    return prob, ref.x, float(prob.loss(ref.x)), ref.x + 0.5 * torch.linspace(-1.0, 1.0, 4, dtype=torch.float64)


BATTERY_PROBLEMS = {"softmax_regression": p1_problem, "attention_regression": p3_problem,
                    "zo_softmax": zo_softmax_problem}
_built: dict = {}


def battery_problem(name: str):
    """The battery's problem for a solver config: P1's, or the first problem a specific solver names."""
    solver = SOLVER_CLASSES[compose([f"solver={name.split()[0]}"]).solver.name]
    kind = (getattr(solver, "problems", None) or ("softmax_regression",))[0]
    if kind not in _built:
        _built[kind] = BATTERY_PROBLEMS[kind]()
    return _built[kind]


@pytest.fixture(scope="module")
def problem():
    return battery_problem("newton")


def solver_from_config(name: str):
    name, *overrides = name.split()
    return make_solver(OmegaConf.to_object(compose([f"solver={name}", *overrides]).solver))


@pytest.mark.parametrize("name", SOLVERS)
def test_reaches_the_reference_optimum(name):
    prob, x_star, f_star, x0 = battery_problem(name)
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
def test_respects_max_iter_and_the_observer(name):
    prob, x_star, f_star, x0 = battery_problem(name)
    tr = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-300, f_star=f_star, max_iter=2))
    assert tr.iterations <= 2 and tr.status in (MAX_ITER, FINISHED)
    seen = []

    def observe(rec):
        seen.append(rec.iteration)
        return rec.iteration >= 1

    tr = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-300, f_star=f_star, max_iter=100), observe)
    assert seen[0] == 0 and tr.iterations == 1 and "observer" in tr.message


@pytest.mark.parametrize("name", SOLVERS)
def test_is_deterministic(name):
    prob, _, f_star, x0 = battery_problem(name)
    runs = [solver_from_config(name).run(CountingOracle(prob), x0, StopRule(eps=1e-8, f_star=f_star, max_iter=2000))
            for _ in range(2)]
    assert torch.equal(runs[0].x, runs[1].x)
    assert runs[0].column("loss").tolist() == runs[1].column("loss").tolist()


def test_too_large_a_step_is_reported_as_divergence(problem):
    prob, _, f_star, x0 = problem
    tr = make_solver({"name": "gd", "ell_scale": 0.02}).run(CountingOracle(prob), x0, StopRule(f_star=f_star))
    assert tr.status == DIVERGED
    assert "blew up" in tr.message or "non-finite" in tr.message


@pytest.mark.parametrize("name", ["gd", "gd_armijo", "torch_lbfgs"])
def test_a_step_longer_than_max_step_ends_the_run_as_diverged(name):
    """stop.max_step catches a runaway step before the loss shows it: every solver's first step is
    longer than 1e-9 here, and none is longer than 1e6 (the default)."""
    prob, _, f_star, x0 = battery_problem(name)
    tight = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(f_star=f_star, max_step=1e-9))
    assert tight.status == DIVERGED and "stop.max_step" in tight.message and tight.iterations <= 2
    loose = solver_from_config(name).run(CountingOracle(prob), x0, StopRule(f_star=f_star, max_step=1e6))
    assert loose.status == FINISHED


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


@pytest.mark.parametrize("name", ["newton", "gd_armijo", "adam", "torch_lbfgs", "lbfgsb"])
def test_joint_baselines_solve_the_attention_problem_near_its_optimum(name):
    """The baselines act on z = [vec_r(X); vec_r(Y)] through the same oracle as on P1."""
    prob, x_star, f_star, x0 = battery_problem("alternating")
    solver = solver_from_config(name)
    eps = getattr(solver, "battery_eps", 1e-10)
    tr = solver.run(CountingOracle(prob), x0, StopRule(eps=eps, f_star=f_star, max_iter=20_000), x_star=x_star)
    assert tr.status == FINISHED and tr.relative_gap()[-1] <= eps, tr.message


def test_a_problem_specific_solver_is_refused_on_another_problem():
    from pipeline.core.errors import ConfigError
    from pipeline.cli.precheck import check_config as validate

    with pytest.raises(ConfigError) as err:
        validate(compose(["solver=alternating"]))
    assert err.value.key == "solver" and "attention_regression" in str(err.value)


def test_alternating_counts_its_block_oracles():
    prob, x_star, f_star, x0 = battery_problem("alternating")
    oracle = CountingOracle(prob)
    tr = solver_from_config("alternating").run(oracle, x0, StopRule(eps=None, gtol=0.0, max_iter=3))
    c = tr.oracle_calls
    assert tr.iterations == 3 and c["y_step"] == c["grad_x"] == c["hess_x"] == 3
    assert c["loss_xy"] >= 6 and "hess" not in c  # the joint Hessian is never formed
    assert set(tr.info) >= {"forward_time_s", "hessian_time_s", "solve_time_s"}
