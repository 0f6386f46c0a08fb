"""The E01 problem: the oracle against the kernels and autograd, its initial point and constants at W(0), the
lazy-training monitor, the gd solver's step on it, and a job that trains it from its own W(0) without a
reference optimum."""
from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf

from kernels import ntk as K
from pipeline.cli.precheck import check_job
from pipeline.core.errors import ConfigError
from pipeline.core.schema import validate
from pipeline.data import SphereData
from pipeline.data.sphere import synthesize_e01
from pipeline.job.prepare import prepare
from pipeline.problems import PROBLEMS, CountingOracle, SoftmaxNetwork
from pipeline.problems.softmax_network import SoftmaxNetworkConfig
from pipeline.solvers.gd import top_eigenvalue
from tests.conftest import compose

RUN = ["problem=softmax_network", "data=sphere_regression", "solver=gd", "x0=problem", "reference.method=none",
       "tracking=off", "stop.eps=null", "stop.gtol=0"]


def problem(n=8, d=3, m=32, seed=0, **params):
    arrays = synthesize_e01(OmegaConf.structured(SphereData(n=n, d=d, m=m)), seed)
    return SoftmaxNetwork.from_arrays(arrays, params=SoftmaxNetworkConfig(paper="E01", **params))


def test_the_oracle_agrees_with_the_kernels_and_autograd():
    p = problem()
    assert PROBLEMS["softmax_network"] is SoftmaxNetwork and p.dim == 3 * 32 and (p.n, p.d, p.m) == (8, 3, 32)
    x = p.initial_point()
    assert torch.equal(p.weights(x), p.W0) and p.kappa == math.sqrt(32)
    x = x + 0.1 * torch.linspace(-1, 1, p.dim, dtype=torch.float64)
    L, g = p.loss_grad(x)
    assert torch.allclose(L, K.loss(p.weights(x), p.X, p.Y, p.a, p.kappa))
    assert torch.allclose(g, torch.func.grad(p.loss)(x), rtol=1e-11, atol=1e-12) and torch.equal(p.grad(x), g)
    H = p.hess(x)
    v = torch.cos(torch.arange(p.dim, dtype=torch.float64))
    assert torch.allclose(p.hvp(x, v), H @ v, rtol=1e-9, atol=1e-10)
    batch = torch.tensor([1, 4, 6])
    Lb, gb = p.batch_loss_grad(x, batch)
    sub = SoftmaxNetwork(p.X[batch], p.Y[batch], p.W0, p.a)
    assert torch.allclose(Lb, sub.loss(x) / 3) and torch.allclose(gb, sub.grad(x) / 3)


def test_the_ntk_statistics_and_the_gauss_newton_part_of_the_hessian():
    """stats(x) is H(W)'s spectrum; H's nonzero eigenvalues are JᵀJ's, and ∇²L = JᵀJ + Σ r ∇²F."""
    p = problem(n=6, d=2, m=40)
    x = p.initial_point()
    H = p.ntk(x)
    st = p.stats(x)
    ev = torch.linalg.eigvalsh(H)
    assert math.isclose(st["ell"], float(ev[-1]), rel_tol=1e-12) and math.isclose(st["mu"], float(ev[0]), rel_tol=1e-9)
    J = torch.func.jacrev(lambda z: p.output(z).reshape(-1))(x)
    assert torch.allclose(J @ J.T, H, rtol=1e-10, atol=1e-12)
    assert torch.allclose(p.limit_kernel(), K.limit_kernel(p.X, 1.0))


def test_gd_measures_lambda_max_of_the_ntk_at_a_large_width():
    p = problem(n=8, d=3, m=4096)
    lam = top_eigenvalue(CountingOracle(p), p.initial_point())
    assert abs(lam / float(torch.linalg.eigvalsh(p.ntk(p.initial_point()))[-1]) - 1) < 0.05


def test_prefactor_m_scales_the_kernel_by_m():
    p, q = problem(m=64), problem(m=64, prefactor="m")
    x = p.initial_point()
    assert q.kappa == 64.0 and torch.allclose(q.ntk(x), 64 * p.ntk(x))
    with pytest.raises(ConfigError, match="problem.prefactor"):
        problem(prefactor="log")


def test_constants_at_initialisation_and_the_monitor():
    p = problem(n=8, d=3, m=256)
    c = p.size_constants()
    assert c["m"] == 256 and c["kappa_m"] == 16.0 and c["ntk_lambda_min"] > 0 and c["limit_lambda_min"] > 0
    assert 0 < c["block_error"] < 1 and c["loss0"] == pytest.approx(float(p.loss(p.initial_point())))
    assert p.observed() == {}
    x = p.initial_point()
    mon = p.monitor(x)
    assert mon["weight_drift"] == 0.0 and mon["weight_drift_rms"] == 0.0 and "ntk_drift" not in mon
    W = p.W0.clone()
    W[:, 5] += torch.tensor([0.0, 0.3, 0.4], dtype=torch.float64)
    mon = p.monitor(W.reshape(-1))
    assert mon["weight_drift"] == pytest.approx(0.5) and mon["weight_drift_rms"] == pytest.approx(0.5 / 16)
    obs = p.observed()
    assert obs["weight_drift_sqrt_m"] == pytest.approx(8.0) and obs["ntk_drift"] > 0
    assert "ntk_drift" in problem(n=8, d=3, m=256, monitor_ntk=True).monitor(x)
    with pytest.raises(ConfigError, match="data.m"):
        problem(m=4096).hess(x)


def test_a_job_trains_the_network_from_its_own_initialisation(lab_root):
    cfg = compose([*RUN, "data.n=8", "data.d=3", "data.m=64", "stop.max_iter=30"])
    validate(cfg)
    check_job(cfg)
    job = prepare(cfg, lab_root / "cache")
    assert torch.equal(job.x0, job.problem.initial_point()) and job.f_star is None
    assert job.instance.constants["m"] == 64.0 and "ntk_lambda_max" in job.instance.constants

    def observe(rec):
        return None

    observe.monitor = job.problem.monitor
    trace = job.solver.run(CountingOracle(job.problem), job.x0, job.stop, observe)
    losses = trace.column("loss")
    assert trace.iterations == 30 and losses[-1] < 0.5 * losses[0]
    frame = trace.to_frame()
    assert frame["weight_drift"].dropna().iloc[-1] > 0 and job.problem.observed()["weight_drift"] > 0
    with pytest.raises(ConfigError, match="sphere_regression"):
        check_job(compose(["problem=softmax_network", "data=synthetic", "tracking=off"]))
    with pytest.raises(ConfigError, match="x0"):
        check_job(compose(["problem=softmax_regression", "x0=problem", "tracking=off"]))
